"""Update and acting throughput of dreamer-tune vs MAMBA vs meta-episode length (issue #3 item 8).

Synthetic replay (vector obs of the PointRobot's size, continuous actions) so only the agent is
timed. For each length H the script times, side by side in one run:

* ``dreamer-tune``: one update on 16 windows of 64 steps (independent of H);
* ``mamba``: one update on 16 whole meta-episodes of H+1 steps, losses at 64 sampled indices,
  imagination from ``imag_starts`` states per sequence;
* ``mamba+nograd-prefix`` and ``mamba+stored-state`` (issue #10, ``--variants``): the same
  full-context batches made cheaper (see :mod:`mamba_edu.agents.dreamer.context`);
* acting: one batched ``act`` call for ``--envs`` environments.

Usage:  python benchmarks/agent_throughput.py --lengths 120 200 300 600 1200 --preset paper
        (--preset cpu uses the 'cpu' preset sizes). Prints a Markdown table; dreamer-tune is timed
        again before every row so each ratio comes from back-to-back timings.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from synthetic_replay import make

from mamba_edu.agents.dreamer.agent import DreamerAgent
from mamba_edu.agents.dreamer.replay import Replay


def time_updates(agent: DreamerAgent, rp: Replay, reps: int) -> float:
    agent.train_step(rp, 10**9)  # warm-up
    t = time.perf_counter()
    for _ in range(reps):
        agent.train_step(rp, 10**9)
    return (time.perf_counter() - t) / reps


def time_act(agent: DreamerAgent, envs: int, reps: int = 200) -> float:
    agent.reset(envs)
    obs = np.zeros((envs, 4), np.float32)
    agent.act(obs)
    t = time.perf_counter()
    for _ in range(reps):
        agent.act(obs)
    return (time.perf_counter() - t) / reps


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lengths", type=int, nargs="+", default=[120, 200, 300, 600, 1200])
    p.add_argument("--preset", choices=["paper", "cpu"], default="paper")
    p.add_argument("--imag-horizon", type=int, default=None, help="imagined steps (default: the preset's)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--envs", type=int, default=16)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--variants", nargs="*", default=["nograd-prefix", "stored-state"],
                   choices=["nograd-prefix", "stored-state"], help="issue #10 context strategies to time too")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    presets = [args.preset]
    torch.manual_seed(0)
    tune, rp_tune = make("dreamer-tune", max(args.lengths), presets, args.imag_horizon)
    t_tune = time_updates(tune, rp_tune, args.reps)
    act_ms = time_act(tune, args.envs) * 1e3
    print(f"preset={args.preset} imag_horizon={args.imag_horizon} threads={torch.get_num_threads()} "
          f"torch={torch.__version__}")
    print(f"acting: {act_ms:.2f} ms per batched act() of {args.envs} envs "
          f"({args.envs / act_ms * 1e3:.0f} env steps/s for the policy alone)")
    print()
    names = ["mamba"] + [f"mamba+{v}" for v in args.variants]
    print("| H (meta-episode) | dreamer-tune (ms) | " + " | ".join(f"{n} (ms, ratio)" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for H in args.lengths:
        t_tune = time_updates(tune, rp_tune, args.reps)
        cells = []
        for name in names:
            agent, rp = make("mamba", H, presets + name.split("+")[1:], args.imag_horizon)
            t = time_updates(agent, rp, args.reps)
            cells.append(f"{t * 1e3:.0f} ({t / t_tune:.2f}×)")
        print(f"| {H} | {t_tune * 1e3:.0f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
