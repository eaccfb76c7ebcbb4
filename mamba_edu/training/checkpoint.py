"""Atomic, weights-only checkpoints.

* :func:`save` writes to a temporary file in the same directory, flushes and fsyncs it, then
  ``os.replace``-s it over the target (:func:`mamba_edu.training.files.atomic_write`), so a crash
  never leaves a half-written checkpoint;
* :func:`load` uses ``torch.load(weights_only=True)`` (no arbitrary code runs) and turns any
  failure into one :class:`CheckpointError` naming the file and what was wrong.

numpy arrays are stored as tensors (weights-only loading refuses numpy objects); numpy RNG
states are plain dicts of ints and strings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mamba_edu.training.files import atomic_write

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    pass


def _to_torch(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj)), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_torch(v) for v in obj)
    return obj


def _to_numpy(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return obj["__ndarray__"].numpy().astype(obj["dtype"], copy=False)
        return {k: _to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy(v) for v in obj)
    return obj


def save(state: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, "state": _to_torch(state)}
    with atomic_write(path, "wb") as f:
        torch.save(payload, f)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated, or not a weights-only checkpoint
        raise CheckpointError(f"cannot read checkpoint {path}: corrupt or not a mamba-edu checkpoint "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION or "state" not in payload:
        raise CheckpointError(f"cannot read checkpoint {path}: not a mamba-edu checkpoint "
                              f"(format_version {payload.get('format_version') if isinstance(payload, dict) else None}, "
                              f"expected {FORMAT_VERSION})")
    return _to_numpy(payload["state"])
