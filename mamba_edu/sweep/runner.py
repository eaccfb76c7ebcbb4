"""Run a sweep's trials on Ray: locally (``ray.init()`` on this machine) or on a cluster (``address``).

Why plain Ray tasks and not Ray Tune: every trial already is an ordinary run directory with its own
atomic checkpoints and an exact ``--resume`` (``mamba_edu.training.loop``). Tune would add a second
layer of trial directories, checkpoint bookkeeping and experiment-state files (restored with
``Tuner.restore``) on top of that, with names Tune chooses. A sweep needs much less: one remote task
per trial attempt, placed by Ray according to its CPU/GPU request, and a driver loop that retries a
failed attempt (the next attempt resumes from the trial's ``latest.pt``). All state that matters
lives in the run directories, so a re-launch only has to look at them: a trial with ``final.json``
is skipped, one with ``latest.pt`` resumes, any other starts afresh. Plain tasks need only the
``ray`` package, and nothing depends on Tune's experiment format across Ray versions.

Layout of a sweep directory::

    SWEEP/spec.yaml             the spec as launched (the last launch)
    SWEEP/sweep.json            state of every trial: status, attempts, errors, returns, timings
    SWEEP/trials/NAME/          one run directory per trial (config.json, metrics.csv, checkpoints/, ...)
    SWEEP/logs/NAME.log|.err    output and tracebacks of the trial's attempts
    SWEEP/summary/              TensorBoard scalars of the sweep (see mamba_edu.sweep.progress)
    SWEEP/table.md, table.tex   the Table-1-style table of the finished trials (mamba_edu.viz.tables)
"""
from __future__ import annotations

import collections
import fnmatch
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mamba_edu.sweep.errors import MissingRayError, SweepError, SweepInterrupted
from mamba_edu.sweep.progress import Progress
from mamba_edu.sweep.spec import SweepSpec, SweepSpecError, Trial, load_spec
from mamba_edu.sweep.state import StartMode, TrialState, TrialStatus, plan, read_best, read_final
from mamba_edu.training.errors import RunFolderBusyError
from mamba_edu.training.files import FolderLock

FAULT_ENV = "MAMBA_EDU_SWEEP_FAULT"
INSTALL_HINT = "pip install -e '.[sweep]' (or: pip install 'ray>=2.40')"


def import_ray():
    """``import ray`` or one clear error naming the optional extra."""
    try:
        import ray
    except ImportError:
        raise MissingRayError("the sweep command needs Ray, which is the optional extra [sweep]: "
                              f"{INSTALL_HINT}") from None
    return ray


def parse_fault(text: str | None) -> tuple[str, dict[str, Any]] | None:
    """``PATTERN@STEPS[:kill|raise]`` → (glob on trial names, {"steps", "mode"})."""
    if not text:
        return None
    try:
        pattern, rest = text.rsplit("@", 1)
        steps, _, mode = rest.partition(":")
        mode = mode or "kill"
        if mode not in ("kill", "raise") or int(steps) < 1 or not pattern:
            raise ValueError
    except ValueError:
        raise SweepSpecError(f"{FAULT_ENV}={text!r}: expected PATTERN@STEPS[:kill|raise], e.g. '*mamba*s1*@320:kill'")
    return pattern, {"steps": int(steps), "mode": mode}


@dataclass
class SweepResult:
    """What a launch leaves: every trial's record as ``sweep.json`` keeps it (see
    :meth:`~mamba_edu.sweep.state.TrialState.record`), the table, the wall time and the status counts."""

    sweep_dir: Path
    trials: dict[str, dict[str, Any]]
    table: str | None
    wall_s: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(t["status"] == TrialStatus.DONE.value for t in self.trials.values())


def describe_plan(spec: SweepSpec, sweep_dir: Path, stream: TextIO | None = None) -> list[dict[str, Any]]:
    """Print what a launch would do (no Ray needed): every trial with its start mode and resources.

    Returns the trials' records as ``sweep.json`` would keep them.
    """
    stream = stream or sys.stdout
    states = plan(spec, sweep_dir)
    counts = collections.Counter(s.start for s in states)
    print(f"sweep {spec.name}: {len(states)} trials in {sweep_dir} — {counts[StartMode.DONE]} finished (skipped), "
          f"{counts[StartMode.RESUME]} to resume from their checkpoint, {counts[StartMode.NEW]} to start", file=stream)
    for s in states:
        t = s.trial
        res = f"cpus {t.cpus:g}" + (f", gpus {t.gpus:g}" if t.gpus else "")
        extra = f" presets {','.join(t.presets)}" if t.presets else ""
        print(f"  {s.start.value:6s}  {s.name}  ({res}){extra}", file=stream)
    return [s.record() for s in states]


class _Lock(FolderLock):
    """An exclusive lock on the sweep directory (``SWEEP/.lock``), so two drivers never run the same trials
    (the run folders' lock, :class:`~mamba_edu.training.files.FolderLock`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.parent, "sweep directory")

    def __enter__(self) -> "_Lock":
        try:
            super().__enter__()
        except RunFolderBusyError as e:
            who = f"PID {e.pid}" if e.pid is not None else "an unknown PID"
            raise SweepError(f"another sweep is running in {self.folder} ({who} holds the lock {self.path}); "
                             "wait for it or use another --out") from None
        return self


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)


class _SweepFile:
    """``SWEEP/sweep.json``: the launches so far and every trial's record, rewritten atomically on each change."""

    def __init__(self, spec: SweepSpec, sweep_dir: Path, states: dict[str, TrialState], address: str | None,
                 now: float) -> None:
        self.path = sweep_dir / "sweep.json"
        self.spec = spec
        self.states = states
        previous = self._previous()
        self.created = float(previous.get("created", now))
        self.launches = list(previous.get("launches", [])) + [{"started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                               "address": address or "local"}]

    def _previous(self) -> dict[str, Any]:
        """What an earlier launch wrote (empty if nothing readable)."""
        if not self.path.is_file():
            return {}
        try:
            return json.loads(self.path.read_text())
        except ValueError:
            return {}

    def records(self) -> dict[str, dict[str, Any]]:
        return {name: st.record() for name, st in self.states.items()}

    def save(self) -> None:
        _write_json(self.path, {"name": self.spec.name, "spec": str(self.spec.source) if self.spec.source else None,
                                "created": self.created, "updated": time.time(), "launches": self.launches,
                                "trials": list(self.records().values())})


def _short_error(ray: Any, e: BaseException) -> tuple[str, str]:
    """(one line for the terminal, the full text for the .err log)."""
    full = str(e)
    cause = getattr(e, "cause", None) if isinstance(e, ray.exceptions.RayTaskError) else None
    if cause is not None:
        line = f"{type(cause).__name__}: {cause}"
    else:
        line = f"{type(e).__name__}: {full}"
    line = " ".join(line.split())
    return (line[:240] + "…" if len(line) > 240 else line), full


def write_table(sweep_dir: Path, states: list[TrialState]) -> str | None:
    """Table-1-style table of the finished trials → table.md and table.tex; returns the Markdown."""
    from mamba_edu.viz.tables import results_table

    done = [str(s.run_dir) for s in states if s.status is TrialStatus.DONE]
    missing = [s for s in states if s.status is not TrialStatus.DONE]
    note = ""
    if missing:
        note = ("\nNot in the table (not finished; re-launch the same command to resume them):\n\n" +
                "\n".join(f"- {s.name} ({s.status.value})" for s in missing) + "\n")
    if not done:
        (sweep_dir / "table.md").write_text("No trial has finished yet.\n" + note)
        return None
    md = results_table(done, format="markdown")
    (sweep_dir / "table.md").write_text(md + note)
    (sweep_dir / "table.tex").write_text(results_table(done, format="latex"))
    return md


def run_sweep(spec: SweepSpec | str | Path, out: str | Path | None = None, address: str | None = None,
              max_concurrent: int | None = None, dry_run: bool = False, report_every: float = 30.0,
              stream: TextIO | None = None, poll_s: float = 1.0) -> SweepResult:
    """Validate ``spec``, then run its unfinished trials on Ray and write the table.

    ``out``: the sweep directory (default ``runs/sweeps/NAME``). ``address``: an existing Ray
    cluster (``ray.init(address=...)``); by default a local Ray instance on this machine, unless Ray
    is already initialised in this process (then that one is used and left running).
    ``max_concurrent`` caps the trials in flight (default: the spec's, else as many as Ray can place).
    ``dry_run`` prints the plan and returns without Ray.
    """
    stream = stream or sys.stdout
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if max_concurrent is not None and max_concurrent < 1:
        raise SweepSpecError(f"--max-concurrent must be >= 1, got {max_concurrent}")
    fault = parse_fault(os.environ.get(FAULT_ENV))
    sweep_dir = Path(out if out is not None else Path("runs") / "sweeps" / spec.name).resolve()
    if dry_run:
        records = describe_plan(spec, sweep_dir, stream)
        return SweepResult(sweep_dir, {r["name"]: r for r in records}, None, 0.0)
    ray = import_ray()
    t_start = time.time()
    with _Lock(sweep_dir / ".lock"):
        sweep_file = _prepare_sweep_dir(spec, sweep_dir, address, t_start)
        progress = Progress(sweep_dir, spec.name, sweep_file.states, sweep_file.created, stream, report_every)
        todo = _trials_to_run(spec, sweep_dir, sweep_file.states, progress)
        launch = _Launch(ray, spec, sweep_dir, sweep_file, progress, fault, poll_s)
        launch.execute(todo, address, max_concurrent or spec.max_concurrent)
        return _conclude(spec, sweep_dir, sweep_file, progress, stream, t_start)


def _prepare_sweep_dir(spec: SweepSpec, sweep_dir: Path, address: str | None, now: float) -> _SweepFile:
    """Create the layout, read every trial's state from its run directory, keep the spec, write sweep.json."""
    (sweep_dir / "trials").mkdir(parents=True, exist_ok=True)
    (sweep_dir / "logs").mkdir(exist_ok=True)
    sweep_file = _SweepFile(spec, sweep_dir, {s.name: s for s in plan(spec, sweep_dir)}, address, now)
    if spec.source is not None:
        (sweep_dir / "spec.yaml").write_text(Path(spec.source).read_text())
    sweep_file.save()
    return sweep_file


def _trials_to_run(spec: SweepSpec, sweep_dir: Path, states: dict[str, TrialState],
                   progress: Progress) -> list[TrialState]:
    """The unfinished trials, those with a checkpoint first (finish what was started), announced."""
    todo = [s for s in states.values() if s.status is not TrialStatus.DONE]
    todo.sort(key=lambda s: s.start is not StartMode.RESUME)
    progress.say(f"sweep {spec.name}: {len(states)} trials in {sweep_dir} — {len(states) - len(todo)} finished "
                 f"(skipped), {sum(s.start is StartMode.RESUME for s in todo)} to resume, "
                 f"{sum(s.start is StartMode.NEW for s in todo)} to start")
    return todo


def _connect(ray: Any, address: str | None) -> bool:
    """Start or reach Ray unless this process already has it; True if this sweep started it (and stops it)."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(include_dashboard=False, **kwargs)
    except Exception as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise SweepError(f"cannot start or reach {where}: {type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}") from None
    return True


class _Launch:
    """The Ray side of one launch: submit attempts, follow the workers' events, record results, retry."""

    def __init__(self, ray: Any, spec: SweepSpec, sweep_dir: Path, sweep_file: _SweepFile, progress: Progress,
                 fault: tuple[str, dict[str, Any]] | None, poll_s: float) -> None:
        self.ray, self.spec, self.sweep_dir = ray, spec, sweep_dir
        self.sweep_file, self.progress = sweep_file, progress
        self.fault, self.poll_s = fault, poll_s
        self.queue: collections.deque[TrialState] = collections.deque()
        self.inflight: dict[Any, TrialState] = {}      # Ray object ref of an attempt -> its trial
        self.failures: collections.Counter[str] = collections.Counter()
        self.tracker: Any = None
        self.remote_trial: Any = None

    def execute(self, todo: list[TrialState], address: str | None, cap: int | None) -> None:
        """Run ``todo`` on Ray, at most ``cap`` trials at once. sweep.json is saved however this ends;
        Ctrl-C cancels the attempts in flight (a re-launch resumes them from their checkpoints)."""
        owned = False
        try:
            if todo:
                owned = _connect(self.ray, address)
                _check_resources(self.ray, [s.trial for s in todo], local=owned and not address,
                                 say=self.progress.say)
                self._run(todo, cap)
        except KeyboardInterrupt:
            n = self._cancel()
            self._save_and_close()
            raise SweepInterrupted(f"interrupted with {n} trial(s) running; re-run the same command to "
                                   "resume them from their checkpoints") from None
        except BaseException:
            self._save_and_close()
            raise
        finally:
            if owned:
                self.ray.shutdown()

    def _run(self, todo: list[TrialState], cap: int | None) -> None:
        from mamba_edu.sweep.worker import Tracker, run_trial

        self.tracker = self.ray.remote(num_cpus=0)(Tracker).remote()
        self.remote_trial = self.ray.remote(max_retries=0)(run_trial)
        self.queue.extend(todo)
        while self.queue or self.inflight:
            while self.queue and (cap is None or len(self.inflight) < cap):
                self._submit(self.queue.popleft())
            ready = self._wait()
            changed = self._apply_events()
            for ref in ready:
                self._collect(ref)
                changed = True
            if changed:
                self.sweep_file.save()
            self.progress.tick()

    def _submit(self, st: TrialState) -> None:
        """Start one attempt at ``st``'s trial as a Ray task with the trial's resources."""
        t = st.trial
        st.attempts += 1
        if st.status is not TrialStatus.RETRYING:
            st.status = TrialStatus.QUEUED
        payload = {"name": t.name, "dir": str(st.run_dir), "sweep_dir": str(self.sweep_dir), "algo": t.algo,
                   "env": t.env, "presets": list(t.presets), "overrides": t.overrides, "cpus": t.cpus,
                   "gpus": t.gpus, "attempt": st.attempts, "fault": None}
        if self.fault and fnmatch.fnmatch(t.name, self.fault[0]):
            payload["fault"] = self.fault[1]
        opts: dict[str, Any] = {"num_cpus": t.cpus, "name": f"trial:{t.name}"}
        if t.gpus:
            opts["num_gpus"] = t.gpus
        self.inflight[self.remote_trial.options(**opts).remote(payload, self.tracker)] = st

    def _wait(self) -> list[Any]:
        """The attempts that ended: wait up to ``poll_s`` for one, then take all that are ready."""
        ready, rest = self.ray.wait(list(self.inflight), num_returns=1, timeout=self.poll_s)
        if ready and rest:
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return ready

    def _apply_events(self) -> bool:
        """Apply the workers' start and evaluation events to the trials; True if there were any."""
        try:
            events = self.ray.get(self.tracker.drain.remote(), timeout=30)
        except Exception:
            return False
        for ev in events:
            st = self.sweep_file.states.get(ev.get("trial"))
            if st is None:
                continue
            if ev["kind"] == "start" and st.status.waiting:
                st.status = TrialStatus.RUNNING
                st.pid, st.host = ev.get("pid"), ev.get("host")
                how = (f"resuming from its checkpoint at {ev['resumed_from']} env steps" if ev.get("resume")
                       else "from scratch")
                self.progress.say(f"start   {st.name} (attempt {ev.get('attempt')}, pid {ev.get('pid')} on "
                                  f"{ev.get('host')}) {how}")
            elif ev["kind"] == "eval":
                r = float(ev["return_mean"])
                st.best_eval = r if st.best_eval is None else max(st.best_eval, r)
                st.last_eval_steps = ev["env_steps"]
        return bool(events)

    def _collect(self, ref: Any) -> None:
        st = self.inflight.pop(ref)
        try:
            res = self.ray.get(ref)
        except Exception as e:  # the attempt failed: its worker died or train() raised
            self._attempt_failed(st, e)
        else:
            self._attempt_finished(st, res)

    def _attempt_failed(self, st: TrialState, e: Exception) -> None:
        """Log the failure; queue the trial again (first) while it has retries left, else mark it failed."""
        self.failures[st.name] += 1
        line, full = _short_error(self.ray, e)
        st.add_error(line, time.time())
        err_log = self.sweep_dir / "logs" / f"{st.name}.err"
        with open(err_log, "a") as fh:
            fh.write(f"=== attempt {st.attempts} at {time.ctime()}\n{full}\n")
        if self.failures[st.name] <= self.spec.max_retries:
            st.status = TrialStatus.RETRYING
            self.queue.appendleft(st)
            self.progress.say(f"failed  {st.name} (attempt {st.attempts}): {line} — retrying from its "
                              f"last checkpoint ({self.failures[st.name]}/{self.spec.max_retries})")
        else:
            st.status = TrialStatus.FAILED
            self.progress.say(f"FAILED  {st.name} after {st.attempts} attempt(s): {line} (traceback: {err_log})")

    def _attempt_finished(self, st: TrialState, res: dict[str, Any]) -> None:
        """Record a finished attempt, if its final.json is visible here (else the trial failed)."""
        run = st.run_dir
        if not (run / "final.json").is_file():
            st.status = TrialStatus.FAILED
            st.add_error(f"the trial finished on {res.get('host')} but {run / 'final.json'} is not visible here: "
                         "on a cluster the sweep directory must be on a file system shared by all nodes", time.time())
            self.progress.say(f"FAILED  {st.name}: {st.errors[-1].error}")
            return
        st.status, st.final_return = TrialStatus.DONE, read_final(run)
        st.wall_s, st.resumed_from = res.get("wall_s"), res.get("resumed_from")
        best = read_best(run)
        if best is not None:
            st.best_eval = best
        how = f", resumed from its checkpoint at {res['resumed_from']} env steps" if res.get("resumed") else ""
        self.progress.say(f"done    {st.name}: final return {st.final_return:.2f} in {res.get('wall_s', 0):.1f} s"
                          f"{how}")

    def _cancel(self) -> int:
        """Cancel the attempts in flight; their trials go back to pending. Returns how many there were."""
        for ref, st in self.inflight.items():
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                pass
            st.status = TrialStatus.PENDING
        return len(self.inflight)

    def _save_and_close(self) -> None:
        self.sweep_file.save()
        self.progress.close()


def _conclude(spec: SweepSpec, sweep_dir: Path, sweep_file: _SweepFile, progress: Progress, stream: TextIO,
              t_start: float) -> SweepResult:
    """After the launch: the last status report, the table, sweep.json and the closing lines."""
    sweep_file.launches[-1]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    progress.tick(force=True)
    table = write_table(sweep_dir, list(sweep_file.states.values()))
    sweep_file.save()
    progress.close()
    wall = time.time() - t_start
    counts = progress.counts()
    if table is not None:
        print(table, file=stream, end="")
    n = len(sweep_file.states)
    progress.say(f"sweep {spec.name} {'finished' if counts['done'] == n else 'ended'} in {wall:.1f} s: "
                 f"{counts['done']}/{n} done, {counts['failed']} failed; table: {sweep_dir / 'table.md'}")
    if counts["failed"]:
        progress.say("re-launch the same command to resume the failed trials from their last checkpoints")
    return SweepResult(sweep_dir, sweep_file.records(), table, wall, counts)


def _check_resources(ray: Any, trials: list[Trial], local: bool, say: Any) -> None:
    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
    need_c = max(t.cpus for t in trials)
    need_g = max(t.gpus for t in trials)
    problems = []
    if need_c > cpus:
        problems.append(f"a trial asks for {need_c:g} CPUs but the Ray cluster has {cpus:g}")
    if need_g > gpus:
        problems.append(f"a trial asks for {need_g:g} GPU(s) but the Ray cluster has {gpus:g}"
                        + ("; use a CPU spec (e.g. experiments/table1_cpu.yaml) or set resources.gpus: 0" if not gpus
                           else ""))
    if problems:
        msg = "; ".join(problems)
        if local:
            raise SweepError(msg)
        say(f"warning: {msg} (an autoscaling cluster may add nodes; otherwise these trials wait forever)")
    slots = int(cpus // min(t.cpus for t in trials)) if cpus else 0
    say(f"Ray: {cpus:g} CPUs, {gpus:g} GPUs — up to {slots} trials at once by CPU")


__all__ = ["FAULT_ENV", "MissingRayError", "SweepError", "SweepInterrupted", "SweepResult", "describe_plan",
           "import_ray", "parse_fault", "plan", "run_sweep", "write_table"]
