"""Environment steps per second of the PPO baselines: VariBAD (global/local), HyperX, RL².

One PPO iteration = B meta-episodes of H steps collected in lock-step (acting: belief update +
policy for B envs per step, and the batched numpy env), then the update (PPO epochs, VAE
updates, RND step). For every (algorithm, env) the script runs one warm-up iteration and times
``--iters`` more with the training loop's own collection
(:func:`mamba_edu.training.collect.collect_batch`; no evaluation, no checkpoints), reporting acting
and update seconds per iteration and end-to-end env steps/s.
Each configuration is the algorithm's preset for that env (the authors' hyperparameters).

Usage:  python benchmarks/baselines_throughput.py --threads 1
        python benchmarks/baselines_throughput.py --envs Rooms-3 --algos varibad varibad-local --iters 5
Prints a Markdown table (results go in docs/baselines.md with the command that produced them).
"""
from __future__ import annotations

import argparse
import time

import torch

from mamba_edu.training.collect import collect_batch
from mamba_edu.training.loop import build


def time_iterations(algo: str, env_name: str, iters: int, threads: int, presets: list[str]) -> dict[str, float]:
    cfg, learner, env = build(algo, env_name, presets, {"precollect": 0, "threads": threads, "seed": 0})
    act_s = upd_s = 0.0
    steps = 0
    for it in range(iters + 1):
        t0 = time.perf_counter()
        batch = collect_batch(learner, env, steps, seed=it)
        total = time.perf_counter() - t0
        steps = batch.env_steps
        if it > 0:  # the first iteration is a warm-up
            act_s += total - batch.update_s
            upd_s += batch.update_s
    env.close()
    n = env.num_envs * env.H
    return {"B": env.num_envs, "H": env.H, "act": act_s / iters, "update": upd_s / iters,
            "sps": n * iters / (act_s + upd_s)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--algos", nargs="+", default=["varibad", "varibad-local", "hyperx", "rl2"])
    p.add_argument("--envs", nargs="+", default=["MetaBandit", "Rooms-3", "PointRobot"])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--preset", action="append", default=[], help="extra preset(s), e.g. no-subsample")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.iters} timed PPO iterations after 1 warm-up"
          + (f", presets {args.preset}" if args.preset else ""))
    print()
    print("| algo | env | B × H | acting s/iter | update s/iter | env steps/s |")
    print("|---|---|---|---|---|---|")
    for env_name in args.envs:
        for algo in args.algos:
            r = time_iterations(algo, env_name, args.iters, args.threads, args.preset)
            print(f"| {algo} | {env_name} | {r['B']} × {r['H']} | {r['act']:.2f} | {r['update']:.2f} | "
                  f"{r['sps']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
