"""The state of each trial of a sweep: what its run directory says, and what happened in this launch.

A trial's run directory is the truth that survives launches: ``final.json`` means it finished,
``checkpoints/latest.pt`` that it can resume, anything else that it starts afresh
(:func:`initial_state`). During a launch the driver moves each :class:`TrialState` through the
:class:`TrialStatus` values: pending → queued (submitted to Ray) → running (a worker started it) →
done. An attempt that fails makes it retrying (submitted again, to resume from its last checkpoint)
while retries are left, failed otherwise; an interrupted launch puts its trials in flight back to
pending. :meth:`TrialState.record` is what ``SWEEP/sweep.json`` keeps of a trial.
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from mamba_edu.sweep.errors import SweepError
from mamba_edu.sweep.spec import SweepSpec, Trial


class TrialStatus(str, Enum):
    """Where a trial stands in the current launch (``status`` in ``sweep.json``)."""

    PENDING = "pending"    #: not submitted yet (or interrupted: the next launch resumes it)
    QUEUED = "queued"      #: submitted to Ray, not started by a worker yet
    RUNNING = "running"    #: a worker is training it
    RETRYING = "retrying"  #: an attempt failed; submitted again, to resume from its last checkpoint
    DONE = "done"          #: ``final.json`` is there
    FAILED = "failed"      #: out of retries in this launch (a re-launch resumes it)

    @property
    def waiting(self) -> bool:
        """Not started in this launch yet: counted as pending by the progress report."""
        return self in (TrialStatus.PENDING, TrialStatus.QUEUED, TrialStatus.RETRYING)


class StartMode(str, Enum):
    """What a launch does with a trial, judged from its run directory (``start`` in ``sweep.json``)."""

    DONE = "done"      #: ``final.json`` present: skipped
    RESUME = "resume"  #: ``checkpoints/latest.pt`` present: continue from it
    NEW = "new"        #: neither: start from scratch


@dataclass
class AttemptError:
    """Why one attempt at a trial failed (one line; the full traceback is in ``SWEEP/logs/NAME.err``)."""

    attempt: int
    error: str
    time: float


#: fields set by a worker's events, written to ``sweep.json`` only once known
_EVENT_FIELDS = ("pid", "host", "last_eval_steps")


@dataclass
class TrialState:
    """One trial of the spec and everything the driver knows about it."""

    trial: Trial
    run_dir: Path
    start: StartMode
    status: TrialStatus
    attempts: int = 0
    errors: list[AttemptError] = field(default_factory=list)
    wall_s: float | None = None
    best_eval: float | None = None      #: best evaluation return so far (from metrics.csv or live events)
    final_return: float | None = None   #: the final test return (final.json)
    resumed_from: int | None = None     #: env steps of the checkpoint the finishing attempt resumed from
    skipped: bool = False               #: finished in an earlier launch
    pid: int | None = None
    host: str | None = None
    last_eval_steps: int | None = None

    @property
    def name(self) -> str:
        return self.trial.name

    @property
    def group(self) -> str:
        """The trial's row in the progress table: its algorithm and variant."""
        return self.trial.algo + (f" [{self.trial.variant}]" if self.trial.variant else "")

    def add_error(self, error: str, when: float) -> None:
        self.errors.append(AttemptError(self.attempts, error, when))

    def record(self) -> dict[str, Any]:
        """The trial as ``sweep.json`` keeps it (plain JSON values; statuses as their strings)."""
        t = self.trial
        out = {"name": t.name, "algo": t.algo, "env": t.env, "seed": t.seed, "variant": t.variant,
               "group": self.group, "presets": list(t.presets), "overrides": t.overrides, "cpus": t.cpus,
               "gpus": t.gpus, "dir": str(self.run_dir), "attempts": self.attempts,
               "errors": [asdict(e) for e in self.errors], "wall_s": self.wall_s, "best_eval": self.best_eval,
               "final_return": self.final_return, "resumed_from": self.resumed_from, "skipped": self.skipped,
               "status": self.status.value, "start": self.start.value}
        out.update({k: getattr(self, k) for k in _EVENT_FIELDS if getattr(self, k) is not None})
        return out


def read_best(run: Path) -> float | None:
    """Best ``return_mean`` in the run's metrics.csv (None if there is none)."""
    try:
        with open(run / "metrics.csv", newline="") as f:
            vals = [float(r["return_mean"]) for r in csv.DictReader(f)]
        return max(vals) if vals else None
    except (OSError, KeyError, ValueError):
        return None


def read_final(run: Path) -> float | None:
    """The final test return in the run's final.json (None if it is missing or unreadable)."""
    try:
        return float(json.loads((run / "final.json").read_text())["return_mean"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _check_same_configuration(trial: Trial, run: Path) -> None:
    """SweepError if ``run`` holds a run of another configuration than ``trial`` (edited by hand?)."""
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        return
    try:
        saved = json.loads(cfg_path.read_text())
    except ValueError:
        return
    if (saved.get("algo"), saved.get("env"), list(saved.get("presets") or []), saved.get("overrides")) != \
            (trial.algo, trial.env, list(trial.presets), json.loads(json.dumps(trial.overrides))):
        raise SweepError(f"{run} holds a run with another configuration than trial {trial.label()} "
                         "(edited by hand?); move it away and re-launch")


def initial_state(trial: Trial, trials_dir: Path) -> TrialState:
    """What the run directory says about a trial before this launch: done, resume or new."""
    run = trials_dir / trial.name
    _check_same_configuration(trial, run)
    state = TrialState(trial, run, StartMode.NEW, TrialStatus.PENDING, best_eval=read_best(run))
    if (run / "final.json").is_file():
        state.start, state.status, state.skipped, state.final_return = \
            StartMode.DONE, TrialStatus.DONE, True, read_final(run)
    elif (run / "checkpoints" / "latest.pt").is_file():
        state.start = StartMode.RESUME
    return state


def plan(spec: SweepSpec, sweep_dir: Path) -> list[TrialState]:
    """The state of every trial of ``spec`` in ``sweep_dir`` before a launch."""
    trials_dir = sweep_dir / "trials"
    return [initial_state(t, trials_dir) for t in spec.trials]


__all__ = ["AttemptError", "StartMode", "TrialState", "TrialStatus", "initial_state", "plan", "read_best",
           "read_final"]
