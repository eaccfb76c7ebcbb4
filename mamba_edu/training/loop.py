"""The one training loop shared by every algorithm.

It owns what is not the algorithm: batched collection of whole meta-episodes, evaluation on
held-out tasks, logging (TensorBoard, metrics.csv, a tqdm bar), atomic checkpoints every few
minutes, ``--resume``, the best checkpoint, and the final 1000-task test (``final.json``).

The algorithm is a *learner* (:class:`mamba_edu.training.learner.Learner`, e.g.
:class:`mamba_edu.agents.dreamer.learner.DreamerLearner`); one batch of meta-episodes is collected by
:func:`mamba_edu.training.collect.collect_batch`, and where the run stands is a
:class:`mamba_edu.training.counters.Counters`. :func:`train` reads as its steps: open (or resume) the
run folder, build, then per batch collect (the learner updates as it goes, prefill included), log,
evaluate and checkpoint when due, and honour stop signals; at the end the final test.

Determinism: training meta-episodes are reset with seeds derived from (seed, batch index), the
replay and torch RNG states are checkpointed, and checkpoints are taken only between
meta-episode batches, so a resumed run reproduces the uninterrupted one exactly (tested).

Stopping: the first Ctrl-C (SIGINT, also a Jupyter "interrupt kernel") or SIGTERM asks the loop to
stop at the end of the current batch of meta-episodes; it then writes the latest checkpoint and
raises :class:`TrainingInterrupted`, and ``--resume`` continues exactly as if nothing had
happened. A second Ctrl-C aborts at once (losing what came after the last periodic checkpoint).

Ownership: a run folder belongs to one process at a time (:class:`~mamba_edu.training.files.FolderLock`
on ``DIR/.lock``); a second ``train`` or ``--resume`` into it is refused, naming the owner's PID.
A fresh run never writes into a folder that holds another run's files. ``--resume`` writes nothing
until the checkpoint and config.json have been read and the checkpoint has loaded into the learner
the config builds.

Non-finite values: the learners check their losses and gradient norms, and the loop checks every
parameter before each checkpoint; a NaN or infinity raises :class:`~mamba_edu.training.errors.NonFiniteError`
before it can reach a checkpoint, so ``checkpoints/latest.pt`` keeps the last good state.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mamba_edu.quick import without_quick_mode
from mamba_edu.rollout import evaluate
from mamba_edu.training import checkpoint
from mamba_edu.training.collect import CollectedBatch, collect_batch, training_seeds
from mamba_edu.training.counters import Counters
from mamba_edu.training.errors import NonFiniteError, TrainingError, check_modules_finite
from mamba_edu.training.files import LOCK_NAME, FolderLock, remove_stale_temps, write_text_atomic
from mamba_edu.training.threads import agent_modules, apply_threads
from mamba_edu.training.run_dir import RUN_FILES, MetricsCSV, read_config, write_config

EVAL_SEED = 1_000_003      # held-out evaluation tasks (same tasks at every evaluation)
FINAL_SEED = 2_000_029     # the final test's tasks, disjoint stream from training and evaluation

#: what a second process told that a run folder is busy should do
BUSY_HINT = ("a run folder is trained by one process at a time: wait for that one to end (or stop it), or choose "
             "another --out")
#: the checkpoints in DIR/checkpoints
CHECKPOINT_FILES = ("latest.pt", "best.pt")


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :func:`train` after a requested stop, once the latest checkpoint holds the state."""

    def __init__(self, out: Path, env_steps: int, signal_name: str) -> None:
        super().__init__(f"{signal_name}: training stopped at {env_steps} env steps; the state is saved in "
                         f"{out / 'checkpoints' / 'latest.pt'}; continue with: "
                         f"python -m mamba_edu train --resume --out {out}")
        self.out, self.env_steps, self.signal_name = out, env_steps, signal_name


class _StopRequests:
    """While training, turn SIGINT/SIGTERM into a request to stop at the next batch boundary.

    ``signal`` becomes the signal's name once one arrives; a second SIGINT raises
    ``KeyboardInterrupt`` at once. ``restore()`` puts the previous handlers back. Outside the main
    thread (where signals cannot be caught) nothing is installed.
    """

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
            for s in self._previous:
                signal.signal(s, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        print(f"\n{self.signal}: stopping after this batch of meta-episodes and saving a checkpoint "
              "(Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    def restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)  # None: a handler set outside Python
        self._previous = {}


def build(algo: str, env_name: str, presets: list[str] | None = None, overrides: dict[str, Any] | None = None,
          quick_from_env: bool = True):
    """Resolve the config and build (cfg, learner, batched env) for ``algo`` on ``env_name``.

    Seeds torch and numpy from ``cfg.seed`` first, so the same seed gives the same initial weights.
    ``quick_from_env=False`` ignores ``MAMBA_EDU_QUICK``.
    """
    from mamba_edu.agents import registry
    from mamba_edu.envs import short_name

    name = short_name(env_name)
    with contextlib.nullcontext() if quick_from_env else without_quick_mode():
        cfg = registry.resolve_config(algo, name, presets, overrides)
    return build_from_config(algo, name, cfg)


def build_from_config(algo: str, env_name: str, cfg: Any):
    """(cfg, learner, batched env) for a resolved ``cfg``; seeds torch and numpy from ``cfg.seed`` first."""
    from mamba_edu.agents import registry
    from mamba_edu.envs import make_batched, short_name

    _set_seeds(cfg.seed)
    env = make_batched(short_name(env_name), cfg.num_envs, reward_in_obs=cfg.reward_in_obs,
                       time_in_obs=cfg.time_in_obs)
    learner = registry.build_learner(algo, cfg, env)
    apply_threads(cfg.threads, learner)
    return cfg, learner, env


def saved_config(run: str | Path) -> tuple[dict[str, Any], Any]:
    """(``DIR/config.json``, the run's config dataclass rebuilt from it). Anything wrong in it (an unknown
    algorithm, env or field, a value of the wrong type or out of range) raises one ``ValueError``
    naming the file, the field and the valid choices."""
    from mamba_edu.agents import registry
    from mamba_edu.envs import short_name

    run = Path(run)
    saved = read_config(run, required=("algo", "env", "config"))
    try:
        short_name(saved["env"])
        cfg = registry.config_from_saved(saved["algo"], saved["config"])
    except ValueError as e:
        raise ValueError(f"{run / 'config.json'}: {e}") from None
    return saved, cfg


def _load_learner_state(learner: Any, state: dict[str, Any], path: Path, run: Path) -> None:
    """``learner.load_state_dict(state["learner"])``; a checkpoint that does not fit the learner that
    config.json builds (other sizes, env or algorithm) raises one ``CheckpointError`` naming both files."""
    try:
        learner.load_state_dict(state["learner"])
    except Exception as e:
        detail = " ".join(str(e).split())[:300]
        raise checkpoint.CheckpointError(f"{path} does not fit the run that {run / 'config.json'} describes "
                                         f"({type(e).__name__}: {detail})") from None


def _check_fresh_folder(out: Path) -> None:
    """A new run starts only in a folder without another run's checkpoint or files."""
    if (out / "checkpoints" / "latest.pt").exists():
        raise TrainingError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    found = [n for n in RUN_FILES if (out / n).exists()]
    found += [f"checkpoints/{n}" for n in CHECKPOINT_FILES if (out / "checkpoints" / n).exists()]
    if found:
        raise TrainingError(f"{out} holds files of another run ({', '.join(found)}) but no checkpoint to resume "
                            "from; choose another --out (or delete them to start afresh there)")


def _non_finite_parameters(check: Callable[[], None]) -> NonFiniteError | None:
    """The error ``check()`` raises if a parameter is NaN or infinite, else None."""
    try:
        check()
    except NonFiniteError as e:
        return e
    return None


def _remove_stale_temps(out: Path) -> None:
    """Temporary files (``NAME.XXXX.tmp``) left by a write that was killed (only the folder's owner calls this)."""
    remove_stale_temps(out, RUN_FILES)
    remove_stale_temps(out / "checkpoints", CHECKPOINT_FILES)


def _set_seeds(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def warn_unfinished_schedule(cfg: Any, full_length: int) -> None:
    """Warn when MAMBA's world-model horizon schedule (paper Sec. 3.3) cannot finish within the run.

    The per-env N_WM values are the paper's, for its full budgets; a shorter run would train the
    world model on a prefix of each meta-episode only, never on its later sub-episodes.
    """
    n_wm = getattr(cfg, "wm_horizon_steps", 0)
    if not getattr(cfg, "full_context", False) or not n_wm or n_wm <= cfg.steps:
        return
    from mamba_edu.agents.dreamer.replay import wm_horizon

    reached = wm_horizon(cfg.steps, full_length, cfg.wm_horizon_initial, n_wm)
    warnings.warn(f"the world-model horizon schedule runs over wm_horizon_steps={n_wm} env steps but this run "
                  f"trains for steps={cfg.steps}: the world model will only see the first {reached} of the "
                  f"{full_length} steps of each meta-episode. Scale it to the budget (e.g. --set "
                  f"wm_horizon_steps={int(0.8 * cfg.steps)}, the paper's Rooms ratio) or --preset no-schedule.",
                  stacklevel=2)


def train(algo: str, env_name: str, presets: list[str] | None = None, overrides: dict[str, Any] | None = None,
          out: str | Path | None = None, resume: bool = False, progress: bool = True,
          callback: Callable[[dict[str, Any]], None] | None = None, stop_after_steps: int | None = None,
          extend_steps: int | None = None) -> Path:
    """Train ``algo`` on ``env_name``; returns the run directory.

    ``resume=True`` continues ``out`` from its latest checkpoint with its saved configuration;
    ``extend_steps`` (only with ``resume``) raises the run's budget to that many env steps first, so a
    finished run trains on (its final test is redone at the new end). Everything else stays as saved;
    budget-dependent schedules (HyperX's bonus annealing) follow the new budget from then on.

    ``callback(row)`` is called after every evaluation (notebooks draw live curves with it).
    ``stop_after_steps`` interrupts the run at the first batch boundary past that many env
    steps (after a checkpoint), simulating a crash for the resume test.
    """
    if resume:
        out, built = _resumable_folder(out), None
    elif extend_steps is not None:
        raise TrainingError("extend_steps extends a saved run: use it with resume=True")
    else:
        out, env_name, presets, built = _new_run(algo, env_name, presets, overrides, out)
    started = False
    try:
        with FolderLock(out, "run folder", BUSY_HINT):
            if resume:
                algo, env_name, presets, overrides, built, state = _load_for_resume(out, extend_steps)
            else:
                _check_fresh_folder(out)
                state = None
            started = True                 # from here on the session closes the env
            return _train_owned(out, algo, env_name, presets, overrides, built, state, progress, callback,
                                stop_after_steps)
    finally:
        if built is not None and not started:
            built[2].close()


# ----- opening the run folder: a new run, or a saved one to resume ------------------------------------

def _resumable_folder(out: str | Path | None) -> Path:
    """The folder ``--resume`` continues: it must be given and hold a latest checkpoint."""
    if out is None:
        raise TrainingError("resume needs the run directory (--out DIR)")
    out = Path(out)
    if not (out / "checkpoints" / "latest.pt").exists():
        raise TrainingError(f"--resume: no checkpoint at {out / 'checkpoints' / 'latest.pt'}")
    return out


def _new_run(algo: str, env_name: str, presets: list[str] | None, overrides: dict[str, Any] | None,
             out: str | Path | None) -> tuple[Path, str, list[str], tuple]:
    """(folder, env short name, presets as recorded, (cfg, learner, env)) of a fresh run. The folder is
    checked (free, no other run's files) before anything is built, but not yet owned."""
    from mamba_edu.agents.presets import with_quick
    from mamba_edu.envs import short_name

    name = short_name(env_name)
    out = Path(out) if out is not None else Path("runs") / (
        f"{algo}_{name}_s{(overrides or {}).get('seed', 0)}_{time.strftime('%Y%m%d-%H%M%S')}")
    if (out / LOCK_NAME).exists():     # a live owner is named first (the lock is free again at once)
        with FolderLock(out, "run folder", BUSY_HINT):
            pass
    _check_fresh_folder(out)           # fail fast; checked again once this process owns the folder
    presets = with_quick(presets)      # record ``quick`` when MAMBA_EDU_QUICK=1 adds it
    return out, name, presets, build(algo, name, presets, overrides, quick_from_env=False)   # presets say it all


def _load_for_resume(out: Path, extend_steps: int | None):
    """Everything ``--resume`` needs, read and checked before anything in ``out`` is written: config.json
    (with ``extend_steps`` applied), the learner and env it builds, the latest checkpoint loaded into it."""
    saved, cfg = saved_config(out)        # the recorded config, not today's presets, rebuilds the run
    algo, name = saved["algo"], saved["env"]
    presets, overrides = list(saved.get("presets") or []), dict(saved.get("overrides") or {})
    if extend_steps is not None:
        if extend_steps <= cfg.steps:
            raise TrainingError(f"--steps {extend_steps} with --resume must exceed the run's budget of {cfg.steps} "
                                f"env steps (it extends the run); omit --steps to just continue it")
        overrides = {**overrides, "steps": int(extend_steps)}
        cfg = dataclasses.replace(cfg, steps=int(extend_steps))
    built = build_from_config(algo, name, cfg)
    try:
        state = _restore_latest(built[1], out)
    except BaseException:
        built[2].close()
        raise
    return algo, name, presets, overrides, built, state


def _restore_latest(learner: Any, out: Path) -> dict[str, Any]:
    """Load ``out``'s latest checkpoint into ``learner`` and torch's RNG; returns the checkpoint. One
    that is not a latest checkpoint of a training run raises ``CheckpointError``."""
    latest = out / "checkpoints" / "latest.pt"
    state = checkpoint.load(latest)
    _load_learner_state(learner, state, latest, out)
    if Counters.from_checkpoint(state.get("counters")) is None or "torch_rng" not in state:
        raise checkpoint.CheckpointError(f"{latest} is not a latest checkpoint of a training run (no counters "
                                         "or RNG state; a best.pt or an exported run cannot be resumed)")
    try:
        torch.set_rng_state(state["torch_rng"])   # after building, which seeded torch
    except (TypeError, RuntimeError) as e:
        raise checkpoint.CheckpointError(f"{latest}: unusable torch RNG state ({e})") from None
    return state


def _write_run_record(out: Path, algo: str, name: str, presets: list[str], overrides: dict[str, Any],
                      cfg: Any, env: Any) -> None:
    """Once this process owns ``out``: warn about a schedule the budget cannot finish, remove what a killed
    write left, and (re)write config.json."""
    warn_unfinished_schedule(cfg, env.K * env.T)
    _remove_stale_temps(out)
    write_config(out, {"algo": algo, "env": name, "presets": list(presets or []), "overrides": dict(overrides or {}),
                       "config": asdict(cfg), "K": env.K, "T": env.T})


# ----- the training session: collect, log, evaluate, checkpoint, stop ---------------------------------

def _train_owned(out: Path, algo: str, name: str, presets: list[str], overrides: dict[str, Any], built: tuple,
                 state: dict[str, Any] | None, progress: bool, callback: Callable[[dict[str, Any]], None] | None,
                 stop_after_steps: int | None) -> Path:
    """The loop of :func:`train`, once this process owns ``out`` and, on resume, the checkpoint has loaded:
    batches of meta-episodes until the budget is spent, then the final test."""
    cfg, _, env = built
    _write_run_record(out, algo, name, presets, overrides, cfg, env)
    session = _Session(out, algo, name, built, state, progress, callback)
    stop = _StopRequests()
    try:
        with _non_finite_explained(session):
            while session.counters.env_steps < cfg.steps:
                _train_one_batch(session)
                if _stop_requested(session, stop, stop_after_steps):
                    return out
            session.writer.flush()
    finally:
        stop.restore()
        session.close()
    final_test(out, n_tasks=cfg.final_tasks)
    return out


class _Session:
    """One process training a run folder it owns: the learner and its envs, the :class:`Counters`, and
    where results go (metrics.csv, TensorBoard, the progress bar, the checkpoints)."""

    def __init__(self, out: Path, algo: str, name: str, built: tuple, state: dict[str, Any] | None,
                 progress: bool, callback: Callable[[dict[str, Any]], None] | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.out, self.name, self.callback = out, name, callback
        self.cfg, self.learner, self.env = built
        self.latest = out / "checkpoints" / "latest.pt"
        self.metrics_csv = MetricsCSV(out / "metrics.csv", self.env.K)
        self.counters = Counters()
        self.saved_env_steps: int | None = None      # what latest.pt holds (None: nothing saved yet)
        if state is not None:              # the learner and torch's RNG were restored by _load_for_resume
            self.counters = Counters.from_checkpoint(state["counters"])
            self.saved_env_steps = self.counters.env_steps
            self.metrics_csv.truncate_after(self.counters.env_steps)
        self.writer = SummaryWriter(str(out))
        self.modules = agent_modules(self.learner)
        self.bar = _progress_bar(algo, name, self.cfg.steps, self.counters.env_steps) if progress else None
        self.last_checkpoint = time.time()
        self.start_time = time.time() - self.counters.wall_s
        self.last_metrics: dict[str, float] | None = None    # the learner's latest update metrics

    def check_parameters(self) -> None:
        """Before every evaluation and checkpoint: no NaN or infinity in the learner's parameters."""
        check_modules_finite(self.modules, f"update {self.learner.updates} ({self.counters.env_steps} env steps)")

    def save_latest(self) -> None:
        self.check_parameters()
        checkpoint.save({"learner": self.learner.state_dict(), "counters": self.counters.to_checkpoint(),
                         "torch_rng": torch.get_rng_state()}, self.latest)
        self.saved_env_steps = self.counters.env_steps
        self.last_checkpoint = time.time()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.writer.close()
        self.env.close()


def _progress_bar(algo: str, name: str, steps: int, done: int):
    from tqdm.auto import tqdm

    return tqdm(total=steps, initial=min(done, steps), unit="step", desc=f"{algo} {name}", dynamic_ncols=True)


def _train_one_batch(session: _Session) -> None:
    """Collect one batch of meta-episodes (the learner updates as it goes), log it, and evaluate or
    checkpoint when due."""
    batch = _collect(session)
    _log_batch(session, batch)
    counters = session.counters
    if counters.env_steps >= counters.next_eval or counters.env_steps >= session.cfg.steps:
        _evaluate(session)
        session.save_latest()
    elif time.time() - session.last_checkpoint > session.cfg.checkpoint_every_s:
        session.save_latest()


def _collect(session: _Session) -> CollectedBatch:
    """One batch with its updates; the counters follow every env step (an error names where it happened)."""
    counters, env = session.counters, session.env

    def advance(env_steps: int) -> None:
        counters.env_steps = env_steps
        if session.bar is not None:
            session.bar.update(env.num_envs)

    batch = collect_batch(session.learner, env, counters.env_steps, after_env_step=advance,
                          seed=training_seeds(session.cfg.seed, counters.batches, env.num_envs))
    if batch.metrics is not None:
        session.last_metrics = batch.metrics
    counters.batches += 1
    counters.wall_s = time.time() - session.start_time
    return batch


def _log_batch(session: _Session, batch: CollectedBatch) -> None:
    """TensorBoard: the batch's return, the learner's latest metrics and update count, env steps/s."""
    writer, step = session.writer, session.counters.env_steps
    writer.add_scalar("charts/train_return", batch.train_return, step)
    if session.last_metrics is not None:
        for k, v in session.last_metrics.items():
            writer.add_scalar(k, v, step)
        writer.add_scalar("charts/updates", session.learner.updates, step)
    writer.add_scalar("charts/sps", step / max(session.counters.wall_s, 1e-9), step)


def _evaluate(session: _Session) -> None:
    """Evaluate on the held-out tasks (paper Sec. 4's protocol), record the row, keep the best learner."""
    session.check_parameters()
    cfg, counters = session.cfg, session.counters
    rng_state = torch.get_rng_state()      # evaluation draws its own randomness; training's stream goes on
    torch.manual_seed(EVAL_SEED + counters.batches)
    result = evaluate(session.learner.eval_policy(), session.name, n_tasks=cfg.eval_tasks, seed=EVAL_SEED,
                      batch_size=min(cfg.eval_tasks, 100), reward_in_obs=cfg.reward_in_obs,
                      time_in_obs=cfg.time_in_obs)
    torch.set_rng_state(rng_state)
    _record_evaluation(session, result)
    counters.next_eval = counters.env_steps + cfg.eval_every
    if result["return_mean"] > counters.best_return:
        counters.best_return = result["return_mean"]
        checkpoint.save({"learner": session.learner.state_dict(with_replay=False),
                         "counters": counters.to_checkpoint()}, session.out / "checkpoints" / "best.pt")


def _record_evaluation(session: _Session, result: dict[str, Any]) -> None:
    """One metrics.csv row, the TensorBoard scalar, the progress bar's postfix and the callback."""
    counters = session.counters
    row = {"env_steps": counters.env_steps, "wall_s": round(counters.wall_s, 3),
           "return_mean": result["return_mean"], "return_std": result["return_std"],
           **{f"return_sub{k}": v for k, v in enumerate(result["sub_episode_returns_mean"])}}
    session.metrics_csv.append(row)
    session.writer.add_scalar("charts/eval_return", result["return_mean"], counters.env_steps)
    if session.bar is not None:
        session.bar.set_postfix(eval_return=f"{result['return_mean']:.1f}")
    if session.callback is not None:
        session.callback(row)


def _stop_requested(session: _Session, stop: _StopRequests, stop_after_steps: int | None) -> bool:
    """At a batch boundary: save and return True once ``stop_after_steps`` is passed (before the budget's
    end); save and raise :class:`TrainingInterrupted` after SIGINT/SIGTERM."""
    env_steps = session.counters.env_steps
    if stop_after_steps is not None and stop_after_steps <= env_steps < session.cfg.steps:
        session.save_latest()
        return True
    if stop.signal is not None:
        session.save_latest()
        raise TrainingInterrupted(session.out, env_steps, stop.signal)
    return False


@contextlib.contextmanager
def _non_finite_explained(session: _Session):
    """Turn a failure caused by a NaN or infinity into one :class:`NonFiniteError` that says what
    latest.pt keeps. A NaN weight can also surface as another error first (e.g. a distribution refusing
    NaN logits while acting): then the parameters say what went wrong."""
    try:
        yield
    except Exception as e:
        cause = e if isinstance(e, NonFiniteError) else _non_finite_parameters(session.check_parameters)
        if cause is None:
            raise
        kept = (f"{session.latest} keeps the last good state ({session.saved_env_steps} env steps)"
                if session.saved_env_steps is not None else "no checkpoint had been written yet")
        raise NonFiniteError(f"{cause}; {kept}") from None


# ----- reading a run back -------------------------------------------------------------------------------

def load_learner(run: str | Path, which: str = "best"):
    """Rebuild the learner of a run directory from ``checkpoints/{which}.pt`` (cfg, learner)."""
    run = Path(run)
    saved, cfg = saved_config(run)
    cfg, learner, env = build_from_config(saved["algo"], saved["env"], cfg)
    env.close()
    path = run / "checkpoints" / f"{which}.pt"
    _load_learner_state(learner, checkpoint.load(path), path, run)
    return cfg, learner, saved


def final_test(run: str | Path, n_tasks: int = 1000, which: str = "best", write: bool = True,
               greedy: bool | None = None) -> dict[str, Any]:
    """Evaluate the best checkpoint on ``n_tasks`` held-out tasks; ``write``: save it as ``final.json``.

    ``greedy``: act with the policy's mode (True) or sample (False); ``None``: as the run evaluates
    (``cfg.eval_greedy``). The result says which (``"actions"``).
    """
    run = Path(run)
    cfg, learner, saved = load_learner(run, which)
    greedy = bool(cfg.eval_greedy) if greedy is None else bool(greedy)
    torch.manual_seed(FINAL_SEED)
    result = evaluate(learner.actor(greedy), saved["env"], n_tasks=n_tasks, seed=FINAL_SEED,
                      batch_size=min(n_tasks, 100), reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    result.update(algo=saved["algo"], env=saved["env"], checkpoint=which, actions="mode" if greedy else "sample")
    if write:
        write_text_atomic(run / "final.json", json.dumps(result, indent=2))
    return result
