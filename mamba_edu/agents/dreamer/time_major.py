"""Indexing helpers for time-major batches: tensors shaped (T, B, ...) and (nested) dicts of them.

The world model runs on time-major sequences; several places need "step ``idx[l, b]`` of sequence
``b``" (MAMBA's loss indices, a window's start, imagination starts, Sec. 3.3). :func:`gather_time`
is the one implementation of that gather.
"""
from __future__ import annotations

from typing import Any

import torch

State = dict[str, torch.Tensor]


def gather_time(x: Any, idx: torch.Tensor) -> Any:
    """``out[l, b] = x[idx[l, b], b]``: gather time-major ``x`` (T, B, ...) at per-column time indices
    ``idx`` (T', B); dicts (e.g. a state or an image+vector observation) are gathered key by key.
    Differentiable with respect to ``x`` (repeated indices add their gradients)."""
    if isinstance(x, dict):
        return {k: gather_time(v, idx) for k, v in x.items()}
    cols = torch.arange(idx.shape[1], device=idx.device).expand_as(idx)
    return x[idx, cols]


def slice_time(x: Any, lo: int | None, hi: int | None) -> Any:
    """Steps [lo, hi) of time-major ``x`` (dicts key by key)."""
    if isinstance(x, dict):
        return {k: slice_time(v, lo, hi) for k, v in x.items()}
    return x[lo:hi]


def where_rows(mask: torch.Tensor, new: State, old: State) -> State:
    """Batch-major states: ``new``'s rows where ``mask`` (B,) holds, else ``old``'s."""
    return {k: torch.where(mask.view(-1, *([1] * (v.dim() - 1))), new[k], v) for k, v in old.items()}
