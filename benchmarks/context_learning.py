"""Learning quality of the context strategies at equal env steps, over seeds (issue #10 item 3).

MetaBandit (K = 4 sub-episodes of T = 5 pulls, meta-episode H = 20): the arm that pays stays the same
for the whole meta-episode, so a world model can only predict the reward of a pull late in the
meta-episode if its state carries what happened in earlier sub-episodes. Training windows are made
*shorter than the meta-episode* (``seq_len`` = 8, burn-in 4, states stored every 4 steps), so a
window usually starts mid-meta-episode and each strategy must bring in the context its own way:

* ``full``          — MAMBA as published: the RSSM runs from step 0 (losses at 8 sampled steps);
* ``nograd-prefix`` — from step 0 without autograd up to the window;
* ``stored-state``  — from a stored state, 4 no-grad burn-in steps, then the window;
* ``no-context``    — the control: Dreamer-style windows from a blank state (``full_context=False``),
  the same MAMBA agent otherwise (reward and time in the observation).

Every variant makes the same number of updates (train ratio / (batch · seq_len)). Bayes-optimal
return 19.5, chance 10.

Usage:  python benchmarks/context_learning.py --seeds 0 1 2 --steps 4000
        (prints a Markdown table: final return over 200 held-out tasks, mean ± std over seeds)
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

#: Small model and budget (as in the CI learning test), with windows shorter than the meta-episode.
BASE = dict(deter=64, hidden=32, stoch=8, classes=8, units=64, batch_size=16, seq_len=8, train_ratio=32,
            num_envs=8, imag_horizon=5, imag_starts=16, actor_lr=1e-3, critic_lr=1e-3, model_lr=1e-3,
            prefill=480, eval_tasks=50, final_tasks=200, threads=1, burn_in=4, state_stride=4)

VARIANTS = {
    "full": dict(context="full"),
    "nograd-prefix": dict(context="nograd-prefix"),
    "stored-state": dict(context="stored-state"),
    "no-context": dict(full_context=False, burn_in=16, state_stride=16),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    from mamba_edu.training.loop import train

    print(f"MetaBandit, {args.steps} env steps, seeds {args.seeds}; overrides {BASE}")
    print("\n| variant | final return per seed | mean ± std | last sub-episode (mean) | wall per run (s) |")
    print("|---|---|---|---|---|")
    for v in args.variants:
        finals, lasts, walls = [], [], []
        for seed in args.seeds:
            over = {**BASE, **VARIANTS[v], "steps": args.steps, "eval_every": args.steps, "seed": seed}
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.time()
                run = train("mamba", "MetaBandit", overrides=over, out=Path(tmp) / "run", progress=False)
                walls.append(time.time() - t0)
                final = json.loads((run / "final.json").read_text())
            finals.append(final["return_mean"])
            lasts.append(final["sub_episode_returns_mean"][-1])
        print(f"| {v} | {' / '.join(f'{x:.2f}' for x in finals)} | {np.mean(finals):.2f} ± {np.std(finals):.2f} | "
              f"{np.mean(lasts):.2f} | {np.mean(walls):.0f} |", flush=True)


if __name__ == "__main__":
    main()
