"""Single-environment steps per second for the MuJoCo families (zero actions, full meta-episodes).

Usage:  python benchmarks/env_steps.py --envs Reacher-1 HumanoidDir ReacherPixels --steps 2000
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mamba_edu.envs import make


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", nargs="+", default=["Reacher-1", "HumanoidDir"])
    p.add_argument("--steps", type=int, default=2000)
    args = p.parse_args()
    print("| env | meta-episode steps/s (single env, zero actions) |")
    print("|---|---|")
    for name in args.envs:
        env = make(name)
        env.reset(seed=0)
        a = np.zeros(env.action_space.shape, np.float32)
        start = time.perf_counter()
        for _ in range(args.steps):
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        print(f"| {name} | {args.steps / (time.perf_counter() - start):,.0f} |", flush=True)
        env.close()


if __name__ == "__main__":
    main()
