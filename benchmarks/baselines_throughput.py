"""Environment steps per second of the PPO baselines: VariBAD (global/local), HyperX, RL².

One PPO iteration = B meta-episodes of H steps collected in lock-step (acting: belief update +
policy for B envs per step, and the batched numpy env), then the update (PPO epochs, VAE
updates, RND step). For every (algorithm, env) the script runs one warm-up iteration and times
``--iters`` more with the training loop's own collection
(:func:`mamba_edu.training.collect.collect_batch`; no evaluation, no checkpoints), reporting acting
and update seconds per iteration and end-to-end env steps/s.
Each configuration is the algorithm's preset for that env (the authors' hyperparameters).

``--ab DIR`` compares this checkout with another one (e.g. the previous commit, made with
``git worktree add DIR HEAD``) on a loaded machine: every (algorithm, env) is timed in a fresh
process per side, the two sides interleaved (old, new, new, old, ...) for ``--rounds`` rounds, and
the table gives each side's median and the ratios old/new (> 1: this checkout is faster).

Usage:  python benchmarks/baselines_throughput.py --threads 1
        python benchmarks/baselines_throughput.py --envs Rooms-3 --algos varibad varibad-local --iters 5
        python benchmarks/baselines_throughput.py --envs Rooms-4 PointRobot --ab /tmp/ppo_base --rounds 3
Prints a Markdown table (results go in docs/baselines.md with the command that produced them).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from mamba_edu.training.collect import collect_batch
from mamba_edu.training.loop import build

ROOT = Path(__file__).resolve().parent.parent


def time_iterations(algo: str, env_name: str, iters: int, threads: int, presets: list[str]) -> dict[str, float]:
    cfg, learner, env = build(algo, env_name, presets, {"precollect": 0, "threads": threads, "seed": 0})
    acts, updates = [], []
    steps = 0
    for it in range(iters + 1):
        t0 = time.perf_counter()
        batch = collect_batch(learner, env, steps, seed=it)
        total = time.perf_counter() - t0
        steps = batch.env_steps
        if it > 0:  # the first iteration is a warm-up
            acts.append(total - batch.update_s)
            updates.append(batch.update_s)
    env.close()
    n = env.num_envs * env.H
    return {"B": env.num_envs, "H": env.H, "act": sum(acts) / iters, "update": sum(updates) / iters,
            "sps": n * iters / (sum(acts) + sum(updates)), "iterations": [a + u for a, u in zip(acts, updates)]}


def run_side(tree: Path, algo: str, env_name: str, args: argparse.Namespace) -> dict[str, float]:
    """One (algorithm, env) timed in a fresh process importing ``mamba_edu`` from ``tree``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--algos", algo, "--envs", env_name,
           "--iters", str(args.iters), "--threads", str(args.threads)]
    for p in args.preset:
        cmd += ["--preset", p]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ab_table(args: argparse.Namespace) -> None:
    """Interleaved A/B of the checkout ``args.ab`` (old) against this one (new): medians over the processes and
    old/new ratios; the last column compares each side's fastest single iteration (the least disturbed by
    other jobs)."""
    sides = {"old": Path(args.ab).resolve(), "new": ROOT}
    print("| algo | env | B × H | acting s/iter old → new | update s/iter old → new | env steps/s old → new "
          "| speed-up acting | update | end-to-end | fastest iteration |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for env_name in args.envs:
        for algo in args.algos:
            runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for r in range(args.rounds):
                for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                    runs[side].append(run_side(sides[side], algo, env_name, args))
            med = {s: {k: statistics.median(x[k] for x in runs[s]) for k in ("act", "update", "sps")} for s in runs}
            o, n = med["old"], med["new"]
            best = {s: min(t for x in runs[s] for t in x["iterations"]) for s in runs}
            print(f"| {algo} | {env_name} | {runs['new'][0]['B']} × {runs['new'][0]['H']} "
                  f"| {o['act']:.3f} → {n['act']:.3f} | {o['update']:.3f} → {n['update']:.3f} "
                  f"| {o['sps']:,.0f} → {n['sps']:,.0f} | {o['act'] / n['act']:.2f}× "
                  f"| {o['update'] / n['update']:.2f}× | {n['sps'] / o['sps']:.2f}× "
                  f"| {best['old'] / best['new']:.2f}× |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--algos", nargs="+", default=["varibad", "varibad-local", "hyperx", "rl2"])
    p.add_argument("--envs", nargs="+", default=["MetaBandit", "Rooms-3", "PointRobot"])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--preset", action="append", default=[], help="extra preset(s), e.g. no-subsample")
    p.add_argument("--ab", metavar="DIR", help="compare with the checkout in DIR (interleaved processes)")
    p.add_argument("--rounds", type=int, default=3, help="--ab: timed processes per side and configuration")
    p.add_argument("--json", action="store_true", help="print one JSON line per configuration (used by --ab)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.json:
        for env_name in args.envs:
            for algo in args.algos:
                print(json.dumps(time_iterations(algo, env_name, args.iters, args.threads, args.preset)), flush=True)
        return
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.iters} timed PPO iterations after 1 warm-up"
          + (f", presets {args.preset}" if args.preset else "")
          + (f"; A/B against {args.ab}, {args.rounds} interleaved processes per side, medians" if args.ab else ""))
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min)")
    print()
    if args.ab:
        ab_table(args)
    else:
        print("| algo | env | B × H | acting s/iter | update s/iter | env steps/s |")
        print("|---|---|---|---|---|---|")
        for env_name in args.envs:
            for algo in args.algos:
                r = time_iterations(algo, env_name, args.iters, args.threads, args.preset)
                print(f"| {algo} | {env_name} | {r['B']} × {r['H']} | {r['act']:.2f} | {r['update']:.2f} | "
                      f"{r['sps']:,.0f} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
