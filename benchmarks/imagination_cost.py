"""Cost of one MAMBA update for different imagination shapes: horizon × start states (issue #3).

The authors imagine 2 steps from many start states on PointRobot and Rooms; a longer horizon from
fewer starts imagines as many states per update but lets the critic's targets look further ahead
(docs/notes/imagination_horizon.md: Rooms-1 and PointRobot). Equal imagined states is
not equal time: the imagination is a sequential loop, so a longer one pays more per-step overhead.
This script times whole updates (stored-state context, cpu sizes, synthetic PointRobot-sized replay
with meta-episodes of ``--length`` steps) for each ``HORIZON:STARTS`` shape, interleaved rep by rep
so every shape sees the same machine load; ratios are to the first shape.

Usage:  python benchmarks/imagination_cost.py --shapes 2:64 8:16 15:16 --reps 10 --threads 1
        (STARTS = imagination start states per training sequence, ``imag_starts``; 16 sequences)
"""
from __future__ import annotations

import argparse
import time

import torch
from synthetic_replay import make


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", nargs="+", default=["2:64", "8:16"], help="HORIZON:STARTS pairs")
    p.add_argument("--length", type=int, default=300, help="meta-episode length H (PointRobot: 300)")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = []
    for item in args.shapes:
        try:
            h, s = (int(x) for x in item.split(":"))
        except ValueError:
            raise SystemExit(f"error: --shapes expects HORIZON:STARTS pairs such as 2:64, got {item!r}") from None
        if h < 1 or s < 1:
            raise SystemExit(f"error: horizon and starts must be >= 1, got {item!r}")
        shapes.append((h, s))
    torch.manual_seed(0)
    agents = [make("mamba", args.length, ["cpu", "stored-state"], h, overrides={"imag_starts": s})
              for h, s in shapes]
    times = [[] for _ in shapes]
    for agent, rp in agents:
        agent.train_step(rp, 10**9)          # warm-up
    for _ in range(args.reps):
        for i, (agent, rp) in enumerate(agents):
            t = time.perf_counter()
            agent.train_step(rp, 10**9)
            times[i].append(time.perf_counter() - t)
    print(f"stored-state, cpu sizes, H = {args.length}, batch 16, threads={torch.get_num_threads()}, "
          f"torch={torch.__version__}, {args.reps} interleaved reps (median)\n")
    print("| imagination horizon × starts per sequence | imagined states per update | ms per update | ratio |")
    print("|---|---|---|---|")
    base = sorted(times[0])[len(times[0]) // 2]
    for (h, s), ts in zip(shapes, times):
        med = sorted(ts)[len(ts) // 2]
        print(f"| {h} × {s} | {h * s * 16:,} | {med * 1e3:.0f} | {med / base:.2f}× |")


if __name__ == "__main__":
    main()
