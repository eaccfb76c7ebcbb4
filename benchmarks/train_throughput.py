"""End-to-end training throughput: real env steps per second of `train()` (issue #10, README speed goal).

Unlike ``agent_throughput.py`` (one update on synthetic replay), this runs the real loop — vector
envs, acting, replay, updates, checkpoints — and measures the steady state after prefill: the env
steps and wall-clock between two evaluation rows of ``metrics.csv`` (evaluation uses 4 tasks, so
it costs well under 1 % of the interval). Each variant runs in its own process, so its peak
resident memory (``ru_maxrss``) is its own.

The authors' released code trains point-robot MAMBA at about 88 real env steps/s (3.1 s per update,
7.8 GB with its environment processes) on these machines; ``--variants paper-full`` is the same
configuration (paper sizes, full context, train ratio 16).

Usage:  python benchmarks/train_throughput.py --env PointRobot --interval 4800 --threads 1
        (prints a Markdown table; add --variants NAME ... to choose rows)
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "paper-full": [],
    "paper-stored-state": ["stored-state"],
    "cpu-full": ["cpu"],
    "cpu-nograd-prefix": ["cpu", "nograd-prefix"],
    "cpu-stored-state": ["cpu", "stored-state"],
}


def run_one(variant: str, env: str, interval: int, threads: int, algo: str) -> dict:
    """Train one variant for prefill + 2 intervals; return steady-state steps/s and peak memory."""
    from mamba_edu.agents.dreamer.config import resolve_config
    from mamba_edu.training.loop import train

    presets = VARIANTS[variant]
    prefill = resolve_config(algo, env, presets, {}).prefill
    start = -(-prefill // interval) * interval  # first evaluation row after prefill
    over = {"steps": start + 2 * interval, "eval_every": interval, "eval_tasks": 4, "final_tasks": 4,
            "threads": threads, "seed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        train(algo, env, presets, over, out=Path(tmp) / "run", progress=False)
        total = time.time() - t0
        rows = list(csv.DictReader(open(Path(tmp) / "run" / "metrics.csv")))
        upd = json.loads((Path(tmp) / "run" / "final.json").read_text())
    steps = [int(r["env_steps"]) for r in rows]
    walls = [float(r["wall_s"]) for r in rows]
    i = next(k for k, s in enumerate(steps) if s >= start)
    if steps[-1] == steps[i]:
        raise SystemExit(f"--interval {interval} is shorter than one batch of meta-episodes; use a larger one")
    sps = (steps[-1] - steps[i]) / (walls[-1] - walls[i])
    return {"variant": variant, "steps_per_s": sps, "interval_steps": steps[-1] - steps[i],
            "total_s": total, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "final_return": upd.get("return_mean")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env", default="PointRobot")
    ap.add_argument("--algo", default="mamba")
    ap.add_argument("--interval", type=int, default=4800,
                    help="env steps per timed interval (two are timed; at least one batch of meta-episodes)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run a single variant, print JSON
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.env, args.interval, args.threads, args.algo)))
        return
    import torch

    print(f"env={args.env} algo={args.algo} threads={args.threads} interval={args.interval} torch={torch.__version__}")
    print("\n| variant | presets | env steps/s (steady state) | peak RSS (GB) | wall (s) |")
    print("|---|---|---|---|---|")
    for v in args.variants:
        out = subprocess.run([sys.executable, __file__, "--one", v, "--env", args.env, "--algo", args.algo,
                              "--interval", str(args.interval), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {v} | {' '.join(VARIANTS[v]) or '(paper sizes)'} | {r['steps_per_s']:.0f} | "
              f"{r['peak_rss_gb']:.2f} | {r['total_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
