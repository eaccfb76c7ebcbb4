"""Native numpy batched environments vs stepping single gymnasium environments.

For each family, in one run, with uniformly random actions and whole meta-episodes:

* **native** — ``make_batched(name, B, native=True)``: the family's numpy class
  (:class:`~mamba_edu.envs.batched.BatchedMetaEnv` subclass), one vectorised step for B envs;
* **vector** — ``make_batched(name, B, native=False)``: :class:`~mamba_edu.envs.batched.VectorMetaEnv`,
  B ``gym.make`` environments stepped in a Python loop;
* **single** — one ``gym.make`` environment stepping B× as many steps (no batching at all).

Env-steps/s (one env-step = one transition of one environment) are the best of ``--repeats``
timings. By default the clock is the process's CPU time (``time.process_time``), so time spent
waiting for a core shared with other processes is not counted; ``--clock wall`` uses
``time.perf_counter``. Prints a Markdown table.

Usage::

    python benchmarks/batched_envs.py --B 16 --steps 2000 --envs PointRobot PointRobotWind EscapeRoom Rooms-3
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mamba_edu.envs import make, make_batched


def _random_actions(space, n: int, rng: np.random.Generator, batch: int | None):
    shape = () if batch is None else (batch,)
    if hasattr(space, "n"):
        return rng.integers(0, space.n, (n, *shape))
    return rng.uniform(-1.0, 1.0, (n, *shape, *space.shape))


CLOCK = time.process_time


def batched_steps_per_second(env, steps: int, repeats: int, seed: int = 0) -> float:
    """Env-steps/s of a batched env over ``steps`` batched steps (resetting at meta-episode ends)."""
    rng = np.random.default_rng(seed)
    best = 0.0
    for rep in range(repeats):
        actions = _random_actions(env.single_action_space, steps, rng, env.num_envs)
        env.reset(seed=seed + 1000 * rep)
        t0 = CLOCK()
        for k in range(steps):
            _, _, term, trunc, _ = env.step(actions[k])
            if trunc.all() or term.all():
                env.reset()
        best = max(best, steps * env.num_envs / (CLOCK() - t0))
    return best


def single_steps_per_second(env, steps: int, repeats: int, seed: int = 0) -> float:
    """Env-steps/s of one gymnasium env over ``steps`` steps."""
    rng = np.random.default_rng(seed)
    best = 0.0
    for rep in range(repeats):
        actions = _random_actions(env.action_space, steps, rng, None)
        env.reset(seed=seed + 1000 * rep)
        t0 = CLOCK()
        for k in range(steps):
            _, _, term, trunc, _ = env.step(actions[k])
            if term or trunc:
                env.reset()
        best = max(best, steps / (CLOCK() - t0))
    return best


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--B", type=int, default=16, help="number of environments in a batch")
    p.add_argument("--steps", type=int, default=1200, help="batched steps per timing (vector/native)")
    p.add_argument("--repeats", type=int, default=3, help="timings per measurement (the best is kept)")
    p.add_argument("--envs", nargs="+", default=["PointRobot", "PointRobotWind", "EscapeRoom", "Rooms-3"])
    p.add_argument("--clock", choices=["process", "wall"], default="process",
                   help="process CPU time (robust to a busy machine) or wall-clock time")
    args = p.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "process" else time.perf_counter
    print(f"B = {args.B}, {args.steps} batched steps per timing, best of {args.repeats}, random actions, "
          f"{args.clock} clock\n")
    print("| env | native batched (env-steps/s) | VectorMetaEnv (env-steps/s) | single env (env-steps/s) "
          "| native / vector | native / single |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.envs:
        try:
            native_env = make_batched(name, args.B, native=True)
        except ImportError as e:  # e.g. a family still being written
            print(f"| {name} | skipped: {e} | | | | |", flush=True)
            continue
        if type(native_env).__name__ == "VectorMetaEnv":
            print(f"| {name} | (no native batched class) | | | | |", flush=True)
            continue
        native = batched_steps_per_second(native_env, args.steps, args.repeats)
        vector = batched_steps_per_second(make_batched(name, args.B, native=False), max(args.steps // 4, 50),
                                          args.repeats)
        single = single_steps_per_second(make(name), max(args.steps // 2, 100), args.repeats)
        print(f"| {name} | {native:,.0f} | {vector:,.0f} | {single:,.0f} | {native / vector:.1f}× "
              f"| {native / single:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
