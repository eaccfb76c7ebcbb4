"""Batched numpy environments vs stepping single gymnasium environments (issue #2).

For each family, in one run: env steps/s of the native batched class (``make_batched(name, B)``)
vs ``VectorMetaEnv`` (B single ``gym.make`` environments stepped in a Python loop), with random
actions over whole meta-episodes. Prints a Markdown table with the ratio.

Usage:  python benchmarks/batched_envs.py --B 16 --episodes 5
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mamba_edu.envs import make_batched


def steps_per_second(env, episodes: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    space = env.single_action_space
    discrete = hasattr(space, "n")
    steps, t = 0, time.perf_counter()
    for ep in range(episodes):
        env.reset(seed=[seed + ep * env.num_envs + i for i in range(env.num_envs)])
        done = False
        while not done:
            a = rng.integers(0, space.n, env.num_envs) if discrete else rng.uniform(-1, 1, (env.num_envs, *space.shape))
            _, _, term, trunc, _ = env.step(a)
            steps += env.num_envs
            done = bool(np.all(term | trunc))
    return steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--B", type=int, default=16)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--envs", nargs="+", default=["PointRobot", "PointRobotWind", "EscapeRoom", "Rooms-3"])
    args = p.parse_args()
    print(f"B = {args.B}, {args.episodes} meta-episodes per measurement, random actions")
    print("| env | batched numpy (steps/s) | B single gym envs (steps/s) | ratio |")
    print("|---|---|---|---|")
    for name in args.envs:
        native = steps_per_second(make_batched(name, args.B, native=True), args.episodes)
        single = steps_per_second(make_batched(name, args.B, native=False), args.episodes)
        print(f"| {name} | {native:,.0f} | {single:,.0f} | {native / single:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
