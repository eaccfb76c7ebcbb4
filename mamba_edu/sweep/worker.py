"""What runs inside a Ray worker: one attempt at one trial.

An attempt looks at the trial's run directory and does the one right thing:

* ``final.json`` present → nothing to do (the trial finished in an earlier launch);
* ``checkpoints/latest.pt`` present → ``train(..., resume=True)``: continue exactly from the
  checkpoint (``metrics.csv`` loses any rows newer than it, so no row is duplicated);
* otherwise → remove whatever a crash before the first checkpoint left and train from scratch.

This module imports neither Ray nor the driver; the driver wraps :func:`run_trial` with
``ray.remote``. Python-level output of the attempt goes to ``SWEEP/logs/TRIAL.log``.

Fault injection (testing the fault tolerance, also on a real cluster): the driver passes
``fault = {"steps": N, "mode": "kill" | "raise"}`` to the attempts of trials matching
``MAMBA_EDU_SWEEP_FAULT=PATTERN@N[:MODE]``. Such an attempt stops right after the checkpoint taken at
the first batch boundary past N env steps (``train(stop_after_steps=N)``), then either ends its
worker process abruptly (``kill``: ``os._exit``, what an OOM kill or a lost node looks like to Ray)
or raises :class:`InjectedFault`. A marker file makes it fire once per trial and sweep directory.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import Any


class InjectedFault(RuntimeError):
    """Raised by a trial attempt that MAMBA_EDU_SWEEP_FAULT told to fail."""


def checkpoint_steps(latest: Path) -> int | None:
    """Env steps of a ``latest.pt`` without reading its tensors (memory-mapped; None if unreadable)."""
    import torch

    try:
        payload = torch.load(latest, map_location="cpu", weights_only=True, mmap=True)
        return int(payload["state"]["counters"]["env_steps"])
    except Exception:
        return None


def _notify(tracker: Any, event: dict[str, Any]) -> None:
    if tracker is None:
        return
    try:
        tracker.push.remote(event)
    except Exception:  # progress is best effort; never fail a trial over it
        pass


def run_trial(payload: dict[str, Any], tracker: Any = None) -> dict[str, Any]:
    """One attempt at one trial (see the module docstring); returns a small JSON-able summary."""
    import torch

    t0 = time.time()
    name = payload["name"]
    run = Path(payload["dir"])
    sweep_dir = Path(payload["sweep_dir"])
    threads = max(1, int(payload.get("cpus", 1)))
    torch.set_num_threads(threads)
    if not payload.get("gpus"):
        # a CPU trial must not grab a GPU that the scheduler gave to another trial
        if not torch.cuda.is_initialized():
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
    final = run / "final.json"
    info = {"trial": name, "pid": os.getpid(), "host": socket.gethostname(), "attempt": payload["attempt"]}
    if final.is_file():
        return {**info, "status": "done", "skipped": True, "final": json.loads(final.read_text()), "wall_s": 0.0}
    latest = run / "checkpoints" / "latest.pt"
    resume = latest.is_file()
    resumed_from = checkpoint_steps(latest) if resume else None
    if not resume and run.exists():
        shutil.rmtree(run)  # no checkpoint: nothing worth keeping, and stale rows must not survive
    _notify(tracker, {**info, "kind": "start", "resume": resume, "resumed_from": resumed_from, "time": time.time()})

    fault = payload.get("fault")
    marker = sweep_dir / "logs" / f"{name}.fault-fired"
    stop = fault["steps"] if fault and not marker.exists() else None

    def on_eval(row: dict[str, Any]) -> None:
        _notify(tracker, {"trial": name, "kind": "eval", "env_steps": row["env_steps"],
                          "return_mean": row["return_mean"], "time": time.time()})

    from mamba_edu.training.loop import train

    log = sweep_dir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        print(f"=== attempt {payload['attempt']} on {info['host']} pid {info['pid']} at {time.ctime()}: "
              f"{'resume from ' + str(latest) if resume else 'fresh start'}", flush=True)
        try:
            train(payload["algo"], payload["env"], list(payload["presets"]), dict(payload["overrides"]), out=run,
                  resume=resume, progress=False, callback=on_eval, stop_after_steps=stop)
        except BaseException:
            traceback.print_exc(file=fh)
            fh.flush()
            raise
        if stop is not None and not final.is_file():
            marker.write_text(f"fired at {time.ctime()}\n")
            print(f"=== injected fault ({fault['mode']}) after the checkpoint past {stop} env steps", flush=True)
            fh.flush()
            if fault["mode"] == "kill":
                os._exit(137)
            raise InjectedFault(f"injected fault after the checkpoint past {stop} env steps (MAMBA_EDU_SWEEP_FAULT)")
        print(f"=== finished in {time.time() - t0:.1f} s", flush=True)
    return {**info, "status": "done", "skipped": False, "final": json.loads(final.read_text()),
            "wall_s": time.time() - t0, "resumed": resume, "resumed_from": resumed_from}


class Tracker:
    """A tiny Ray actor: trial attempts push events (start, evaluation rows); the driver drains them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def push(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def drain(self) -> list[dict[str, Any]]:
        out, self.events = self.events, []
        return out
