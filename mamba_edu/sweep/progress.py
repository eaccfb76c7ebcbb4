"""Live progress of a sweep: terminal lines and TensorBoard scalars in ``SWEEP/summary``.

Terminal: one line per event (a trial starts, finishes, fails, is retried), a status line
(done / running / failed / pending, elapsed time) every ``report_every`` seconds, and a table of the
best returns per (env, algorithm, variant) group every ten status lines and at the end.

TensorBoard (``tensorboard --logdir SWEEP`` shows these beside every trial's own curves):
``sweep/{done,running,failed,pending}`` trial counts, ``best_eval/ENV/GROUP`` the best evaluation
return of any seed so far and ``final/ENV/GROUP`` the mean final-test return of the finished seeds.
Steps are seconds since the sweep directory was created, so re-launches continue the same axes.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from mamba_edu.sweep.state import TrialState, TrialStatus

STATUSES = ("done", "running", "failed", "pending")


def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, sweep_dir: Path, name: str, trials: dict[str, TrialState], created: float,
                 stream: TextIO | None = None, report_every: float = 30.0, tensorboard: bool = True) -> None:
        self.name = name
        self.trials = trials            # name -> state (shared with the runner)
        self.created = created
        self.stream = stream if stream is not None else sys.stdout
        self.report_every = report_every
        self.t0 = time.time()
        self.last_report = 0.0
        self.reports = 0
        self.writer = None
        self._logged: dict[str, float] = {}
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(sweep_dir / "summary"))

    # ----- terminal ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        print(f"[{_hms(time.time() - self.t0)}] {text}", file=self.stream, flush=True)

    def counts(self) -> dict[str, int]:
        c = {s: 0 for s in STATUSES}
        for st in self.trials.values():
            c["pending" if st.status.waiting else st.status.value] += 1
        return c

    def status_line(self) -> str:
        c = self.counts()
        retrying = sum(1 for st in self.trials.values() if st.status is TrialStatus.RETRYING)
        return (f"{self.name}: {c['done']}/{len(self.trials)} done · {c['running']} running · {c['failed']} failed · "
                f"{c['pending']} pending{f' ({retrying} to retry)' if retrying else ''}")

    def groups(self) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for st in self.trials.values():
            g = out.setdefault((st.trial.env, st.group), {"seeds": 0, "done": 0, "best": -math.inf, "finals": []})
            g["seeds"] += 1
            if st.best_eval is not None:
                g["best"] = max(g["best"], st.best_eval)
            if st.status is TrialStatus.DONE and st.final_return is not None:
                g["done"] += 1
                g["finals"].append(st.final_return)
        return out

    def groups_table(self) -> str:
        rows = [("env", "group", "seeds done", "best eval", "mean final")]
        for (env, group), g in sorted(self.groups().items()):
            rows.append((env, group, f"{g['done']}/{g['seeds']}",
                         "—" if g["best"] == -math.inf else f"{g['best']:.2f}",
                         f"{sum(g['finals']) / len(g['finals']):.2f}" if g["finals"] else "—"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

    def tick(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_report < self.report_every:
            return
        self.last_report = now
        self.reports += 1
        self.say(self.status_line())
        if force or self.reports % 10 == 0:
            print(self.groups_table(), file=self.stream, flush=True)
        self.log_tensorboard()

    # ----- TensorBoard ---------------------------------------------------------------------------
    def log_tensorboard(self) -> None:
        if self.writer is None:
            return
        now = time.time()
        step = int(now - self.created)
        for k, v in self.counts().items():
            self.writer.add_scalar(f"sweep/{k}", v, step, walltime=now)
        for (env, group), g in self.groups().items():
            tag = f"{env}/{group}".replace(" ", "_")
            if g["best"] != -math.inf and self._logged.get("b" + tag) != g["best"]:
                self.writer.add_scalar(f"best_eval/{tag}", g["best"], step, walltime=now)
                self._logged["b" + tag] = g["best"]
            if g["finals"]:
                mean = sum(g["finals"]) / len(g["finals"])
                if self._logged.get("f" + tag) != mean:
                    self.writer.add_scalar(f"final/{tag}", mean, step, walltime=now)
                    self._logged["f" + tag] = mean
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
