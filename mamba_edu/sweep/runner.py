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

from mamba_edu.sweep.progress import Progress
from mamba_edu.sweep.spec import SweepSpec, SweepSpecError, Trial, load_spec

FAULT_ENV = "MAMBA_EDU_SWEEP_FAULT"
INSTALL_HINT = "pip install -e '.[sweep]' (or: pip install 'ray>=2.40')"


class SweepError(RuntimeError):
    """A sweep could not run (no Ray, a busy sweep directory, impossible resources, interruption)."""


class MissingRayError(SweepError):
    pass


class SweepInterrupted(SweepError):
    pass


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
    sweep_dir: Path
    trials: dict[str, dict[str, Any]]
    table: str | None
    wall_s: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(t["status"] == "done" for t in self.trials.values())


def _group(trial: Trial) -> str:
    return trial.algo + (f" [{trial.variant}]" if trial.variant else "")


def _read_best(run: Path) -> float | None:
    import csv

    try:
        with open(run / "metrics.csv", newline="") as f:
            vals = [float(r["return_mean"]) for r in csv.DictReader(f)]
        return max(vals) if vals else None
    except (OSError, KeyError, ValueError):
        return None


def _read_final(run: Path) -> float | None:
    try:
        return float(json.loads((run / "final.json").read_text())["return_mean"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def initial_state(trial: Trial, trials_dir: Path) -> dict[str, Any]:
    """What the run directory says about a trial before this launch: done, resume or new."""
    run = trials_dir / trial.name
    st: dict[str, Any] = {"name": trial.name, "algo": trial.algo, "env": trial.env, "seed": trial.seed,
                          "variant": trial.variant, "group": _group(trial), "presets": list(trial.presets),
                          "overrides": trial.overrides, "cpus": trial.cpus, "gpus": trial.gpus, "dir": str(run),
                          "attempts": 0, "errors": [], "wall_s": None, "best_eval": _read_best(run),
                          "final_return": None, "resumed_from": None, "skipped": False}
    cfg_path = run / "config.json"
    if cfg_path.is_file():
        try:
            saved = json.loads(cfg_path.read_text())
        except ValueError:
            saved = None
        if saved is not None and (saved.get("algo"), saved.get("env"), list(saved.get("presets") or []),
                                  saved.get("overrides")) != (trial.algo, trial.env, list(trial.presets),
                                                              json.loads(json.dumps(trial.overrides))):
            raise SweepError(f"{run} holds a run with another configuration than trial {trial.label()} "
                             "(edited by hand?); move it away and re-launch")
    if (run / "final.json").is_file():
        st.update(status="done", skipped=True, final_return=_read_final(run), start="done")
    elif (run / "checkpoints" / "latest.pt").is_file():
        st.update(status="pending", start="resume")
    else:
        st.update(status="pending", start="new")
    return st


def plan(spec: SweepSpec, sweep_dir: Path) -> list[dict[str, Any]]:
    trials_dir = sweep_dir / "trials"
    return [initial_state(t, trials_dir) for t in spec.trials]


def describe_plan(spec: SweepSpec, sweep_dir: Path, stream: TextIO | None = None) -> list[dict[str, Any]]:
    """Print what a launch would do (no Ray needed): every trial with its start mode and resources."""
    stream = stream or sys.stdout
    states = plan(spec, sweep_dir)
    counts = collections.Counter(s["start"] for s in states)
    print(f"sweep {spec.name}: {len(states)} trials in {sweep_dir} — {counts['done']} finished (skipped), "
          f"{counts['resume']} to resume from their checkpoint, {counts['new']} to start", file=stream)
    for s in states:
        res = f"cpus {s['cpus']:g}" + (f", gpus {s['gpus']:g}" if s["gpus"] else "")
        extra = f" presets {','.join(s['presets'])}" if s["presets"] else ""
        print(f"  {s['start']:6s}  {s['name']}  ({res}){extra}", file=stream)
    return states


class _Lock:
    """An exclusive lock on the sweep directory, so two drivers never run the same trials."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = None

    def __enter__(self) -> "_Lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no fcntl (Windows): no protection against two drivers
            pass
        except OSError:
            self.fh.close()
            raise SweepError(f"another sweep is running in {self.path.parent} (lock {self.path} is held); "
                             "wait for it or use another --out") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fh is not None:
            self.fh.close()


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)


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


def write_table(sweep_dir: Path, states: list[dict[str, Any]]) -> str | None:
    """Table-1-style table of the finished trials → table.md and table.tex; returns the Markdown."""
    from mamba_edu.viz.tables import results_table

    done = [s["dir"] for s in states if s["status"] == "done"]
    missing = [s for s in states if s["status"] != "done"]
    note = ""
    if missing:
        note = ("\nNot in the table (not finished; re-launch the same command to resume them):\n\n" +
                "\n".join(f"- {s['name']} ({s['status']})" for s in missing) + "\n")
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
        states = describe_plan(spec, sweep_dir, stream)
        return SweepResult(sweep_dir, {s["name"]: s for s in states}, None, 0.0)
    ray = import_ray()
    cap = max_concurrent or spec.max_concurrent
    t_start = time.time()
    with _Lock(sweep_dir / ".lock"):
        trials_dir = sweep_dir / "trials"
        trials_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "logs").mkdir(exist_ok=True)
        states = {s["name"]: s for s in plan(spec, sweep_dir)}
        by_name = {t.name: t for t in spec.trials}
        state_path = sweep_dir / "sweep.json"
        previous = {}
        if state_path.is_file():
            try:
                previous = json.loads(state_path.read_text())
            except ValueError:
                previous = {}
        created = float(previous.get("created", t_start))
        launches = list(previous.get("launches", [])) + [{"started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                          "address": address or "local"}]
        if spec.source is not None:
            (sweep_dir / "spec.yaml").write_text(Path(spec.source).read_text())

        def save() -> None:
            _write_json(state_path, {"name": spec.name, "spec": str(spec.source) if spec.source else None,
                                     "created": created, "updated": time.time(), "launches": launches,
                                     "trials": list(states.values())})

        save()
        progress = Progress(sweep_dir, spec.name, states, created, stream, report_every)
        todo = [n for n, s in states.items() if s["status"] != "done"]
        todo.sort(key=lambda n: states[n]["start"] != "resume")  # finish what was started first
        n_done = len(states) - len(todo)
        progress.say(f"sweep {spec.name}: {len(states)} trials in {sweep_dir} — {n_done} finished (skipped), "
                     f"{sum(states[n]['start'] == 'resume' for n in todo)} to resume, "
                     f"{sum(states[n]['start'] == 'new' for n in todo)} to start")
        owned = False
        inflight: dict[Any, str] = {}
        try:
            if todo:
                if not ray.is_initialized():
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
                    owned = True
                _check_resources(ray, [by_name[n] for n in todo], local=owned and not address, say=progress.say)
                from mamba_edu.sweep.worker import Tracker, run_trial

                tracker = ray.remote(num_cpus=0)(Tracker).remote()
                remote_trial = ray.remote(max_retries=0)(run_trial)
                queue = collections.deque(todo)
                failures: dict[str, int] = collections.Counter()

                def submit(name: str) -> None:
                    t, st = by_name[name], states[name]
                    st["attempts"] += 1
                    st["status"] = "queued" if st["status"] != "retrying" else "retrying"
                    payload = {"name": name, "dir": st["dir"], "sweep_dir": str(sweep_dir), "algo": t.algo,
                               "env": t.env, "presets": list(t.presets), "overrides": t.overrides, "cpus": t.cpus,
                               "gpus": t.gpus, "attempt": st["attempts"], "fault": None}
                    if fault and fnmatch.fnmatch(name, fault[0]):
                        payload["fault"] = fault[1]
                    opts: dict[str, Any] = {"num_cpus": t.cpus, "name": f"trial:{name}"}
                    if t.gpus:
                        opts["num_gpus"] = t.gpus
                    inflight[remote_trial.options(**opts).remote(payload, tracker)] = name

                while queue or inflight:
                    while queue and (cap is None or len(inflight) < cap):
                        submit(queue.popleft())
                    ready, rest = ray.wait(list(inflight), num_returns=1, timeout=poll_s)
                    if ready and rest:
                        more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                        ready += more
                    changed = _apply_events(ray, tracker, states, progress)
                    for ref in ready:
                        name = inflight.pop(ref)
                        st = states[name]
                        try:
                            res = ray.get(ref)
                        except Exception as e:  # the attempt failed: its worker died or train() raised
                            failures[name] += 1
                            line, full = _short_error(ray, e)
                            st["errors"].append({"attempt": st["attempts"], "error": line, "time": time.time()})
                            with open(sweep_dir / "logs" / f"{name}.err", "a") as fh:
                                fh.write(f"=== attempt {st['attempts']} at {time.ctime()}\n{full}\n")
                            if failures[name] <= spec.max_retries:
                                st["status"] = "retrying"
                                queue.appendleft(name)
                                progress.say(f"failed  {name} (attempt {st['attempts']}): {line} — retrying from its "
                                             f"last checkpoint ({failures[name]}/{spec.max_retries})")
                            else:
                                st["status"] = "failed"
                                progress.say(f"FAILED  {name} after {st['attempts']} attempt(s): {line} "
                                             f"(traceback: {sweep_dir / 'logs' / (name + '.err')})")
                        else:
                            _finish(st, res, sweep_dir, progress)
                        changed = True
                    if changed:
                        save()
                    progress.tick()
        except KeyboardInterrupt:
            for ref, name in inflight.items():
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
                states[name]["status"] = "pending"
            save()
            progress.close()
            raise SweepInterrupted(f"interrupted with {len(inflight)} trial(s) running; re-run the same command to "
                                   "resume them from their checkpoints") from None
        except BaseException:
            save()
            progress.close()
            raise
        finally:
            if owned:
                ray.shutdown()
        launches[-1]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        progress.tick(force=True)
        table = write_table(sweep_dir, list(states.values()))
        save()
        progress.close()
        wall = time.time() - t_start
        counts = progress.counts()
        if table is not None:
            print(table, file=stream, end="")
        progress.say(f"sweep {spec.name} {'finished' if counts['done'] == len(states) else 'ended'} in "
                     f"{wall:.1f} s: {counts['done']}/{len(states)} done, {counts['failed']} failed; "
                     f"table: {sweep_dir / 'table.md'}")
        if counts["failed"]:
            progress.say("re-launch the same command to resume the failed trials from their last checkpoints")
        return SweepResult(sweep_dir, states, table, wall, counts)


def _finish(st: dict[str, Any], res: dict[str, Any], sweep_dir: Path, progress: Any) -> None:
    run = Path(st["dir"])
    if not (run / "final.json").is_file():
        st["status"] = "failed"
        st["errors"].append({"attempt": st["attempts"], "time": time.time(),
                             "error": f"the trial finished on {res.get('host')} but {run / 'final.json'} is not "
                                      "visible here: on a cluster the sweep directory must be on a file system "
                                      "shared by all nodes"})
        progress.say(f"FAILED  {st['name']}: {st['errors'][-1]['error']}")
        return
    st.update(status="done", final_return=_read_final(run), wall_s=res.get("wall_s"),
              resumed_from=res.get("resumed_from"))
    best = _read_best(run)
    if best is not None:
        st["best_eval"] = best
    how = f", resumed from its checkpoint at {res['resumed_from']} env steps" if res.get("resumed") else ""
    progress.say(f"done    {st['name']}: final return {st['final_return']:.2f} in {res.get('wall_s', 0):.1f} s"
                 f"{how}")


def _apply_events(ray: Any, tracker: Any, states: dict[str, dict[str, Any]], progress: Any) -> bool:
    try:
        events = ray.get(tracker.drain.remote(), timeout=30)
    except Exception:
        return False
    for ev in events:
        st = states.get(ev.get("trial"))
        if st is None:
            continue
        if ev["kind"] == "start" and st["status"] in ("queued", "retrying", "pending"):
            st["status"] = "running"
            st["pid"], st["host"] = ev.get("pid"), ev.get("host")
            how = (f"resuming from its checkpoint at {ev['resumed_from']} env steps" if ev.get("resume")
                   else "from scratch")
            progress.say(f"start   {st['name']} (attempt {ev.get('attempt')}, pid {ev.get('pid')} on "
                         f"{ev.get('host')}) {how}")
        elif ev["kind"] == "eval":
            r = float(ev["return_mean"])
            st["best_eval"] = r if st.get("best_eval") is None else max(st["best_eval"], r)
            st["last_eval_steps"] = ev["env_steps"]
    return bool(events)


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
