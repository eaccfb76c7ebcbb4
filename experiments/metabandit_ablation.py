"""MAMBA and its ablations on the MetaBandit, 3 seeds each: the runs behind book notebook 05's curves.

Six variants (paper Sec. 3.3's changes switched off one at a time, and the two cheaper full-context
strategies), each trained with the same tiny model and budget as the notebook's live run, so the
notebook can draw the real result in quick mode too. The small results of each run (``config.json``,
``metrics.csv``, ``final.json``) are copied to ``experiments/results/metabandit_ablation/``; the run
folders themselves stay in ``--out``.

Usage (about 20 minutes on one core)::

    python experiments/metabandit_ablation.py --out ../exp/metabandit_ablation
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

#: The model and schedule of notebook 05 (sequence-length settings scaled to the 20-step meta-episode).
EXPERIMENT = dict(deter=64, hidden=32, stoch=8, classes=8, units=64, batch_size=16, seq_len=8, train_ratio=64,
                  num_envs=8, imag_horizon=5, imag_starts=8, actor_lr=1e-3, critic_lr=1e-3, model_lr=1e-3,
                  wm_horizon_initial=4, state_stride=4, burn_in=4, threads=1)
BUDGET = dict(steps=3200, prefill=160, eval_every=160, eval_tasks=100, final_tasks=500)
SEEDS = (0, 1, 2)

#: label: (algorithm, presets, extra overrides, folder name)
VARIANTS: dict[str, tuple[str, list[str], dict, str]] = {
    "MAMBA": ("mamba", [], {}, "mamba"),
    "(a) off: no-reward-obs": ("mamba", ["no-reward-obs"], {}, "no-reward-obs"),
    "(b) off: windows": ("mamba", [], {"full_context": False}, "windows"),
    "(d) off: no-schedule": ("mamba", ["no-schedule"], {}, "no-schedule"),
    "nograd-prefix": ("mamba", ["nograd-prefix"], {}, "nograd-prefix"),
    "stored-state": ("mamba", ["stored-state"], {"stale_check_every": 10}, "stored-state"),
}
RESULTS = Path(__file__).resolve().parent / "results" / "metabandit_ablation"


def overrides_for(presets: list[str], extra: dict, seed: int, budget: dict) -> dict:
    """The explicit overrides of one run (the schedule's N_WM is half the run unless switched off)."""
    overrides = {**EXPERIMENT, **budget, "seed": seed, **extra}
    if "no-schedule" not in presets:      # an override would undo the preset's wm_horizon_steps=0
        overrides["wm_horizon_steps"] = budget["steps"] // 2
    return overrides


def main() -> None:
    from mamba_edu.training.loop import train

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the run folders (outside the repository)")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for label, (algo, presets, extra, folder) in VARIANTS.items():
        for seed in SEEDS:
            run = train(algo, "MetaBandit", presets=presets, overrides=overrides_for(presets, extra, seed, BUDGET),
                        out=args.out / f"{folder}_s{seed}", progress=False)
            dest = RESULTS / f"{folder}_s{seed}"
            dest.mkdir(exist_ok=True)
            for name in ("config.json", "metrics.csv", "final.json"):
                shutil.copyfile(run / name, dest / name)
            final = json.loads((run / "final.json").read_text())
            print(f"{label:24s} seed {seed}: final test {final['return_mean']:5.2f} "
                  f"({time.perf_counter() - t0:4.0f} s so far)", flush=True)


if __name__ == "__main__":
    main()
