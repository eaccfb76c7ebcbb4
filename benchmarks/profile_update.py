"""Where a MAMBA update's time goes, by phase, as the meta-episode grows (issue #10 item 1).

Runs ``torch.profiler`` over a few updates of each variant and sums the ``update/...`` ranges
that :meth:`DreamerAgent.train_step` marks (sample, world-model forward/backward/optimizer,
context bookkeeping, imagination, actor-critic backward/optimizer), plus the RSSM's sequential
loop inside the world-model forward (``rssm/observe_loop``). Synthetic PointRobot-sized data.

Usage::

    python benchmarks/profile_update.py --preset cpu --lengths 200 300 600 1200 --variants full stored-state

Prints one Markdown table per variant: milliseconds per update in each phase and its share of the
total. The RSSM loop runs inside the world-model forward (and, for ``nograd-prefix``, inside
``sample``), so its column is part of those, not added to the total. Times include the profiler's
own overhead (about +30–50 % at cpu sizes): read the shares, and take absolute costs from
``agent_throughput.py``.
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from synthetic_replay import make
from torch.profiler import ProfilerActivity, profile

PHASES = ["update/sample", "update/wm_forward", "rssm/observe_loop", "update/wm_backward", "update/wm_optimizer",
          "update/context_bookkeeping", "update/imagination", "update/ac_backward", "update/ac_optimizer"]


def profile_updates(variant: str, H: int, presets: list[str], imag_horizon: int, reps: int) -> dict[str, float]:
    extra = [] if variant == "full" else [variant]
    agent, rp = make("dreamer-tune" if variant == "dreamer-tune" else "mamba", H,
                     presets + ([] if variant == "dreamer-tune" else extra), imag_horizon)
    agent.train_step(rp, 10**9)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        for _ in range(reps):
            agent.train_step(rp, 10**9)
    totals: dict[str, float] = defaultdict(float)
    for evt in prof.key_averages():
        if evt.key in PHASES:
            totals[evt.key] += evt.cpu_time_total / 1e3 / reps  # ms per update (wall time of the range)
    return totals


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lengths", type=int, nargs="+", default=[200, 300, 600, 1200])
    p.add_argument("--preset", choices=["paper", "cpu"], default="cpu")
    p.add_argument("--variants", nargs="+", default=["dreamer-tune", "full", "nograd-prefix", "stored-state"],
                   choices=["dreamer-tune", "full", "nograd-prefix", "stored-state"])
    p.add_argument("--imag-horizon", type=int, default=None, help="imagined steps (default: the preset's)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    presets = [args.preset]
    print(f"preset={args.preset} imag_horizon={args.imag_horizon} threads={torch.get_num_threads()} "
          f"torch={torch.__version__}; ms per update (share of the update)")
    for variant in args.variants:
        print(f"\n### {variant}\n")
        names = [ph.split("/")[1] if ph != "rssm/observe_loop" else "of which RSSM loop" for ph in PHASES]
        print("| H | " + " | ".join(names) + " | total |")
        print("|---|" + "---|" * (len(PHASES) + 1))
        for H in ([args.lengths[0]] if variant == "dreamer-tune" else args.lengths):
            t = profile_updates(variant, H, presets, args.imag_horizon, args.reps)
            total = sum(v for k, v in t.items() if k.startswith("update/"))
            cells = [f"{t.get(ph, 0.0):.0f} ({100 * t.get(ph, 0.0) / total:.0f}%)" for ph in PHASES]
            print(f"| {H if variant != 'dreamer-tune' else 'any'} | " + " | ".join(cells) + f" | {total:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
