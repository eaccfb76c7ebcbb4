"""The run directory contract (DESIGN.md): config.json, metrics.csv, TensorBoard, checkpoints.

``DIR/config.json``   resolved config incl. algorithm, env, versions and git commit
``DIR/metrics.csv``   one row per evaluation: env_steps, wall_s, return_mean, return_std,
                      return_sub0..K-1
``DIR/events.*``      TensorBoard scalars (``charts/``, ``losses/``, ``wm/``, ``ac/``)
``DIR/checkpoints/latest.pt``, ``best.pt``   (atomic)
``DIR/final.json``    the final test on held-out tasks
"""
from __future__ import annotations

import csv
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np


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
    (run / "config.json").write_text(json.dumps(payload, indent=2, default=str))


def read_config(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run} is not a run directory: {path} is missing")
    return json.loads(path.read_text())


class MetricsCSV:
    """Appends evaluation rows; on resume drops rows newer than the checkpoint."""

    def __init__(self, path: Path, K: int) -> None:
        self.path = path
        self.columns = ["env_steps", "wall_s", "return_mean", "return_std"] + [f"return_sub{k}" for k in range(K)]

    def truncate_after(self, env_steps: int) -> None:
        if not self.path.exists():
            return
        with open(self.path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(float(r["env_steps"])) <= env_steps]
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, self.columns)
            w.writeheader()
            w.writerows(rows)

    def append(self, row: dict[str, Any]) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, self.columns)
            if new:
                w.writeheader()
            w.writerow({k: row[k] for k in self.columns})


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
