"""Does bf16 autocast learn as fp32 does? The same MAMBA runs with ``precision`` fp32 and bf16, side by side.

``--set precision=bf16`` autocasts the forward passes to bfloat16 (weights, gradients and the optimisers
stay float32); it makes a paper-size update about 1.3x faster on a CPU with AVX-512 BF16
(docs/benchmarks.md). It is not the authors' arithmetic, so ``paper`` leaves it off; this script checks
the other half of the trade, learning at equal env steps, on tasks that our MAMBA learns on a CPU:

* ``metabandit`` — the MetaBandit with notebook 05's model and budget (``experiments/metabandit_ablation.py``),
  3 seeds per precision, a few minutes;
* ``rooms1`` — Rooms-1 with the shipped ``rooms1_mamba``'s command (``cpu`` sizes, ``stored-state``; its fp32
  run is ``experiments/results/rooms1_mamba_s0``), one seed per precision, about half an hour each on one core.

The small results of each run (``config.json``, ``metrics.csv``, ``final.json``) are copied to
``experiments/results/precision/``; the run folders stay in ``--out``. Prints one Markdown table.

Usage::

    python experiments/precision_learning.py --out ../exp/precision --tasks metabandit
    python experiments/precision_learning.py --out ../exp/precision --tasks rooms1 --precisions bf16
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metabandit_ablation import BUDGET, EXPERIMENT, overrides_for  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "precision"
PRECISIONS = ("fp32", "bf16")

#: task: (env, presets, overrides per seed, seeds)
TASKS = {
    "metabandit": ("MetaBandit", [], lambda seed: overrides_for([], {}, seed, BUDGET), (0, 1, 2)),
    "rooms1": ("Rooms-1", ["cpu", "stored-state"],
               lambda seed: dict(steps=50_000, seed=seed, wm_horizon_steps=50_000, eval_every=10_000, eval_tasks=50,
                                 final_tasks=1000, threads=1),
               (0,)),
}


def main() -> None:
    from mamba_edu.training.loop import train

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the run folders (outside the repository)")
    p.add_argument("--tasks", nargs="+", choices=list(TASKS), default=["metabandit"])
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                   help="e.g. only bf16 where the fp32 run of the same command exists")
    args = p.parse_args()
    rows = []
    for task in args.tasks:
        env, presets, overrides, seeds = TASKS[task]
        for precision in args.precisions:
            finals, walls = [], []
            for seed in seeds:
                name = f"{task}_{precision}_s{seed}"
                t0 = time.perf_counter()
                run = train("mamba", env, presets=presets, overrides={**overrides(seed), "precision": precision},
                            out=args.out / name, progress=False)
                walls.append(time.perf_counter() - t0)
                dest = RESULTS / name
                dest.mkdir(parents=True, exist_ok=True)
                for file in ("config.json", "metrics.csv", "final.json"):
                    shutil.copyfile(run / file, dest / file)
                finals.append(json.loads((run / "final.json").read_text())["return_mean"])
                print(f"{name}: final test {finals[-1]:.2f} ({walls[-1]:.0f} s)", flush=True)
            sem = statistics.stdev(finals) / len(finals) ** 0.5 if len(finals) > 1 else float("nan")
            rows.append((env, precision, len(seeds), statistics.mean(finals), sem, sum(walls)))
    print("\n| env | precision | seeds | final test (mean) | s.e.m. over seeds | wall s (all seeds) |")
    print("|---|---|---|---|---|---|")
    for env, precision, n, mean, sem, wall in rows:
        print(f"| {env} | {precision} | {n} | {mean:.2f} | {sem:.2f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
