"""The run directory contract (DESIGN.md): config.json, metrics.csv, TensorBoard, checkpoints.

``DIR/config.json``   resolved config incl. algorithm, env, versions and git commit
``DIR/metrics.csv``   one row per evaluation: env_steps, wall_s, return_mean, return_std,
                      return_sub0..K-1
``DIR/events.*``      TensorBoard scalars (``charts/``, ``losses/``, ``wm/``, ``ac/``)
``DIR/checkpoints/latest.pt``, ``best.pt``   (atomic)
``DIR/final.json``    the final test on held-out tasks
``DIR/.lock``         held by the process that trains the run (:class:`~mamba_edu.training.files.FolderLock`)

config.json, metrics.csv, final.json and the checkpoints are written atomically (a temporary file,
then ``os.replace``), so a killed process never leaves half a file.
"""
from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from mamba_edu.training.files import write_text_atomic

#: the files of a run besides TensorBoard's (what another run must not find in its --out)
RUN_FILES = ("config.json", "metrics.csv", "final.json")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except Exception:
        return None


def versions() -> dict[str, str]:
    import gymnasium
    import torch

    import mamba_edu

    return {"mamba_edu": mamba_edu.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "gymnasium": gymnasium.__version__}


def write_config(run: Path, config: dict[str, Any]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    payload = {**config, "versions": versions(), "git_commit": git_commit()}
    write_text_atomic(run / "config.json", json.dumps(payload, indent=2, default=str))


#: the keys of config.json that reading a run needs, with their JSON types (presets, overrides: optional)
_CONFIG_KEYS = {"algo": str, "env": str, "config": dict, "presets": list, "overrides": dict}
_JSON_NAMES = {str: "a string", dict: "an object", list: "a list", int: "a number", float: "a number",
               bool: "true/false", type(None): "null"}


def read_config(run: str | Path, required: tuple[str, ...] = ("algo", "env")) -> dict[str, Any]:
    """``DIR/config.json`` as written by ``train``. Anything else (not JSON, not an object, a missing
    ``required`` key, a key of the wrong type) raises one ``ValueError`` naming the file and what is
    wrong; the field values inside ``"config"`` are checked when the config is rebuilt
    (``config_from_saved``)."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run} is not a run directory: {path} is missing")
    try:
        saved = json.loads(path.read_text())
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path} is not valid JSON ({e}); a run's config.json is the one `train` wrote") from None
    expected = f"a run's config.json is an object with keys {', '.join(_CONFIG_KEYS)}"
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds {_JSON_NAMES.get(type(saved), type(saved).__name__)}; {expected}")
    missing = [k for k in required if k not in saved]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)}; {expected}")
    for key, kind in _CONFIG_KEYS.items():
        if key in saved and not isinstance(saved[key], kind):
            raise ValueError(f"{path}: {key} must be {_JSON_NAMES[kind]}, got "
                             f"{_JSON_NAMES.get(type(saved[key]), type(saved[key]).__name__)} {saved[key]!r}")
    if not all(isinstance(p, str) for p in saved.get("presets", [])):
        raise ValueError(f"{path}: presets must be a list of preset names, got {saved['presets']!r}")
    return saved


class MetricsCSV:
    """Appends evaluation rows; on resume drops rows newer than the checkpoint."""

    def __init__(self, path: Path, K: int) -> None:
        self.path = path
        self.columns = ["env_steps", "wall_s", "return_mean", "return_std"] + [f"return_sub{k}" for k in range(K)]

    def _rows_text(self, rows: list[dict[str, Any]], header: bool) -> str:
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, self.columns)
        if header:
            w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def truncate_after(self, env_steps: int) -> None:
        if not self.path.exists():
            return
        with open(self.path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(float(r["env_steps"])) <= env_steps]
        write_text_atomic(self.path, self._rows_text(rows, header=True))

    def append(self, row: dict[str, Any]) -> None:
        """Add one row: the file is rewritten atomically (it holds one row per evaluation, so it stays small)."""
        old = ""
        if self.path.exists():
            with open(self.path, newline="") as f:
                old = f.read()
        write_text_atomic(self.path, old + self._rows_text([{k: row[k] for k in self.columns}], header=not old))


def read_metrics(run: str | Path) -> list[dict[str, float]]:
    path = Path(run) / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{run} is not a run directory: {path} is missing")
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def export_run(src: str | Path, dest: str | Path, which: str = "best") -> int:
    """Copy run ``src`` to ``dest`` as a shippable run directory: ``config.json``, ``metrics.csv``,
    ``final.json`` and ``checkpoints/best.pt`` holding the ``which`` checkpoint's weights without the
    optimiser states (what evaluation, figures and notebooks need; not enough to ``--resume``).
    Returns the checkpoint's size in bytes."""
    import shutil

    from mamba_edu.agents.dreamer.agent import OPTIMISER_KEYS
    from mamba_edu.training import checkpoint

    src, dest = Path(src), Path(dest)
    for name in ("config.json", "metrics.csv", "final.json"):
        if not (src / name).is_file():
            raise FileNotFoundError(f"{src} has no {name}: finish the run (or write its final test) first")
    (dest / "checkpoints").mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "metrics.csv", "final.json"):
        shutil.copyfile(src / name, dest / name)
    state = checkpoint.load(src / "checkpoints" / f"{which}.pt")
    learner = state["learner"]
    learner.pop("optim", None)                              # PPO learners
    for key in OPTIMISER_KEYS:                              # Dreamer/MAMBA agent
        learner.get("agent", {}).pop(key, None)
    checkpoint.save({"learner": learner, "counters": state.get("counters", {})}, dest / "checkpoints" / "best.pt")
    return (dest / "checkpoints" / "best.pt").stat().st_size
