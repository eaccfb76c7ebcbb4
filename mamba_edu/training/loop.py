"""The one training loop shared by every algorithm.

It owns what is not the algorithm: batched collection of whole meta-episodes, evaluation on
held-out tasks, logging (TensorBoard, metrics.csv, a tqdm bar), atomic checkpoints every few
minutes, ``--resume``, the best checkpoint, and the final 1000-task test (``final.json``).

A *learner* (e.g. :class:`mamba_edu.agents.dreamer.learner.DreamerLearner`) provides
``begin(obs, n)``, ``act(obs, env_steps)``, ``observe(actions, reward, next_obs, terminated)``,
``end()``, ``update(env_steps)``, ``eval_policy()``, ``state_dict()``/``load_state_dict()``.

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
import math
import os
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

from mamba_edu.rollout import evaluate
from mamba_edu.training import checkpoint
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


@contextlib.contextmanager
def _without_env_quick():
    """Ignore ``MAMBA_EDU_QUICK`` while rebuilding a saved run: its record says whether it was quick."""
    saved = os.environ.pop("MAMBA_EDU_QUICK", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MAMBA_EDU_QUICK"] = saved


def build(algo: str, env_name: str, presets: list[str] | None = None, overrides: dict[str, Any] | None = None,
          quick_from_env: bool = True):
    """Resolve the config and build (cfg, learner, batched env) for ``algo`` on ``env_name``.

    Seeds torch and numpy from ``cfg.seed`` first, so the same seed gives the same initial weights.
    ``quick_from_env=False`` ignores ``MAMBA_EDU_QUICK``.
    """
    from mamba_edu.agents import registry
    from mamba_edu.envs import short_name

    name = short_name(env_name)
    with contextlib.nullcontext() if quick_from_env else _without_env_quick():
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
    from mamba_edu.envs import short_name

    if resume:
        if out is None:
            raise TrainingError("resume needs the run directory (--out DIR)")
        out = Path(out)
        if not (out / "checkpoints" / "latest.pt").exists():
            raise TrainingError(f"--resume: no checkpoint at {out / 'checkpoints' / 'latest.pt'}")
        built = None
    elif extend_steps is not None:
        raise TrainingError("extend_steps extends a saved run: use it with resume=True")
    else:
        from mamba_edu.agents.presets import with_quick

        name = short_name(env_name)
        out = Path(out) if out is not None else Path("runs") / (
            f"{algo}_{name}_s{(overrides or {}).get('seed', 0)}_{time.strftime('%Y%m%d-%H%M%S')}")
        if (out / LOCK_NAME).exists():     # a live owner is named first (the lock is free again at once)
            with FolderLock(out, "run folder", BUSY_HINT):
                pass
        _check_fresh_folder(out)           # fail fast; checked again once this process owns the folder
        presets = with_quick(presets)      # record ``quick`` when MAMBA_EDU_QUICK=1 adds it
        built = build(algo, name, presets, overrides, quick_from_env=False)   # presets say it all
    started = False
    try:
        with FolderLock(out, "run folder", BUSY_HINT):
            if resume:
                algo, name, presets, overrides, built, state = _load_for_resume(out, extend_steps)
            else:
                _check_fresh_folder(out)
                state = None
            started = True                 # from here on the loop closes the env
            return _train_owned(out, algo, name, presets, overrides, built, state, progress, callback,
                                stop_after_steps)
    finally:
        if built is not None and not started:
            built[2].close()


def _load_for_resume(out: Path, extend_steps: int | None):
    """Everything ``--resume`` needs, read and checked before anything in ``out`` is written: config.json
    (with ``extend_steps`` applied), the learner and env it builds, the latest checkpoint loaded into it."""
    latest = out / "checkpoints" / "latest.pt"
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
        state = checkpoint.load(latest)
        _load_learner_state(built[1], state, latest, out)
        counters = state.get("counters")
        if not isinstance(counters, dict) or not {"env_steps", "batches", "wall_s", "next_eval",
                                                  "best_return"} <= set(counters) or "torch_rng" not in state:
            raise checkpoint.CheckpointError(f"{latest} is not a latest checkpoint of a training run (no counters "
                                             "or RNG state; a best.pt or an exported run cannot be resumed)")
        try:
            torch.set_rng_state(state["torch_rng"])   # after building, which seeded torch
        except (TypeError, RuntimeError) as e:
            raise checkpoint.CheckpointError(f"{latest}: unusable torch RNG state ({e})") from None
    except BaseException:
        built[2].close()
        raise
    return algo, name, presets, overrides, built, state


def _train_owned(out: Path, algo: str, name: str, presets: list[str], overrides: dict[str, Any], built: tuple,
                 state: dict[str, Any] | None, progress: bool, callback: Callable[[dict[str, Any]], None] | None,
                 stop_after_steps: int | None) -> Path:
    """The loop of :func:`train`, once this process owns ``out`` and, on resume, the checkpoint has loaded."""
    cfg, learner, env = built
    latest = out / "checkpoints" / "latest.pt"
    warn_unfinished_schedule(cfg, env.K * env.T)
    _remove_stale_temps(out)
    write_config(out, {"algo": algo, "env": name, "presets": list(presets or []), "overrides": dict(overrides or {}),
                       "config": asdict(cfg), "K": env.K, "T": env.T})
    metrics_csv = MetricsCSV(out / "metrics.csv", env.K)
    from torch.utils.tensorboard import SummaryWriter

    counters = {"env_steps": 0, "batches": 0, "wall_s": 0.0, "next_eval": 0, "best_return": -math.inf}
    if state is not None:              # the learner and torch's RNG were restored by _load_for_resume
        counters = state["counters"]
        metrics_csv.truncate_after(counters["env_steps"])
    writer = SummaryWriter(str(out))
    env_kwargs = {"reward_in_obs": cfg.reward_in_obs, "time_in_obs": cfg.time_in_obs}

    good = {"env_steps": counters["env_steps"] if state is not None else None}   # what latest.pt holds
    modules = agent_modules(learner)

    def check_parameters() -> None:
        """Before every evaluation and checkpoint: no NaN or infinity in the learner's parameters."""
        updates = getattr(getattr(learner, "agent", None), "updates", "?")
        check_modules_finite(modules, f"update {updates} ({counters['env_steps']} env steps)")

    def save_latest() -> None:
        check_parameters()
        checkpoint.save({"learner": learner.state_dict(), "counters": dict(counters),
                         "torch_rng": torch.get_rng_state()}, latest)
        good["env_steps"] = counters["env_steps"]

    def run_eval() -> dict[str, Any]:
        rng_state = torch.get_rng_state()
        torch.manual_seed(EVAL_SEED + counters["batches"])
        result = evaluate(learner.eval_policy(), name, n_tasks=cfg.eval_tasks, seed=EVAL_SEED,
                          batch_size=min(cfg.eval_tasks, 100), **env_kwargs)
        torch.set_rng_state(rng_state)
        return result

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=min(counters["env_steps"], cfg.steps), unit="step",
                   desc=f"{algo} {name}", dynamic_ncols=True)
    last_ckpt = time.time()
    t_start = time.time() - counters["wall_s"]
    last_metrics: dict[str, float] | None = None
    stop = _StopRequests()
    try:
        while counters["env_steps"] < cfg.steps:
            seeds = [cfg.seed * 1_000_000_007 % 2**31 + counters["batches"] * env.num_envs + i
                     for i in range(env.num_envs)]
            obs, _ = env.reset(seed=seeds)
            learner.begin(obs, env.num_envs)
            done = np.zeros(env.num_envs, dtype=bool)
            while not done.all():
                actions = learner.act(obs, counters["env_steps"])
                obs, reward, term, trunc, info = env.step(actions)
                learner.observe(actions, reward, obs, term)
                counters["env_steps"] += env.num_envs
                done = np.asarray(term) | np.asarray(trunc)
                m = learner.update(counters["env_steps"])
                if m is not None:
                    last_metrics = m
                if bar is not None:
                    bar.update(env.num_envs)
            learner.end()
            m = learner.update(counters["env_steps"])       # learners that train between batches
            if m is not None:
                last_metrics = m
            counters["batches"] += 1
            counters["wall_s"] = time.time() - t_start
            writer.add_scalar("charts/train_return", float(info["sub_episode_returns"].sum(1).mean()),
                              counters["env_steps"])
            if last_metrics is not None:
                for k, v in last_metrics.items():
                    writer.add_scalar(k, v, counters["env_steps"])
                writer.add_scalar("charts/updates", getattr(getattr(learner, "agent", None), "updates", 0),
                                  counters["env_steps"])
            writer.add_scalar("charts/sps", counters["env_steps"] / max(counters["wall_s"], 1e-9), counters["env_steps"])
            final_batch = counters["env_steps"] >= cfg.steps
            if counters["env_steps"] >= counters["next_eval"] or final_batch:
                check_parameters()
                result = run_eval()
                row = {"env_steps": counters["env_steps"], "wall_s": round(counters["wall_s"], 3),
                       "return_mean": result["return_mean"], "return_std": result["return_std"],
                       **{f"return_sub{k}": v for k, v in enumerate(result["sub_episode_returns_mean"])}}
                metrics_csv.append(row)
                writer.add_scalar("charts/eval_return", result["return_mean"], counters["env_steps"])
                if bar is not None:
                    bar.set_postfix(eval_return=f"{result['return_mean']:.1f}")
                if callback is not None:
                    callback(row)
                counters["next_eval"] = counters["env_steps"] + cfg.eval_every
                if result["return_mean"] > counters["best_return"]:
                    counters["best_return"] = result["return_mean"]
                    checkpoint.save({"learner": learner.state_dict(with_replay=False), "counters": dict(counters)},
                                    out / "checkpoints" / "best.pt")
                save_latest()
                last_ckpt = time.time()
            elif time.time() - last_ckpt > cfg.checkpoint_every_s:
                save_latest()
                last_ckpt = time.time()
            if stop_after_steps is not None and counters["env_steps"] >= stop_after_steps and not final_batch:
                save_latest()
                return out
            if stop.signal is not None:
                save_latest()
                raise TrainingInterrupted(out, counters["env_steps"], stop.signal)
        writer.flush()
    except Exception as e:
        # a NaN weight can also surface as another error first (e.g. a distribution refusing NaN logits
        # while acting): then the parameters say what went wrong
        cause = e if isinstance(e, NonFiniteError) else _non_finite_parameters(check_parameters)
        if cause is None:
            raise
        kept = (f"{latest} keeps the last good state ({good['env_steps']} env steps)" if good["env_steps"] is not None
                else "no checkpoint had been written yet")
        raise NonFiniteError(f"{cause}; {kept}") from None
    finally:
        stop.restore()
        if bar is not None:
            bar.close()
        writer.close()
        env.close()
    final_test(out, n_tasks=cfg.final_tasks)
    return out


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
    result = evaluate(learner.agent.actor(greedy), saved["env"], n_tasks=n_tasks, seed=FINAL_SEED,
                      batch_size=min(n_tasks, 100), reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    result.update(algo=saved["algo"], env=saved["env"], checkpoint=which, actions="mode" if greedy else "sample")
    if write:
        write_text_atomic(run / "final.json", json.dumps(result, indent=2))
    return result
