"""The authors' own world model retrained on their own PointRobot data, with another seed.

docs/notes/pointrobot_paper.md found that the authors' run's reward head tells rewarded steps apart from about
1,600-2,000 updates on, while ours, trained on the very same meta-episodes at the same rate
(``experiments/wm_on_authors_data.py``), had not by 2,400. Is that a property of their model, or of that one
training run? This script retrains **their** ``WorldModel`` (their code, imported from a checkout of GitHub
zoharri/mamba that you pass, built from their run's own saved configuration) on that run's meta-episodes, on the
schedule of ``wm_on_authors_data.py`` (the last random meta-episode first, then per round 10 meta-episodes in and
10 updates), with batches of 16 meta-episodes drawn uniformly from those in, their first 300 of 301 entries (their
``sample_first`` sampler), and ``--seed`` for the initialisation and the draws. Each update is their
``WorldModel._train`` (their losses and optimiser). It records the reward head's mean prediction where the real
reward is positive and elsewhere at the loss steps, which their code exposes only with the logging added for these
notes (``self._diag_reward`` in ``_compute_prediction_losses``; see "The authors' code on this CPU" in the notes).

Usage (our venv; their code needs no other package for the world model, and its unused ``wandb`` import is stubbed)::

    python experiments/authors_wm_on_authors_data.py --code /work/authors_ref \\
        --run /work/authors_ref/logdir_pr/RUN --seed 1 --updates 2400 --out ../exp/their_wm_on_their_data_s1

Writes ``--out/updates.csv`` (one row per update) and prints a Markdown row every ``--bin`` updates.
"""
from __future__ import annotations

import argparse
import copy
import csv
import pickle
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wm_on_authors_data import PER_ROUND, PREFILL, their_episodes  # noqa: E402  (the same schedule)

T, B = 300, 16                       # their sampler: batches of 16 meta-episodes, the first 300 of 301 entries
KEYS = ("state", "reward", "time_step", "action", "is_first", "is_terminal", "discount")


def build_their_world_model(code: Path, run: Path, seed: int, reconstruction_window: int | None):
    """Their WorldModel, built by their code from the run's saved configuration (``config.txt``)."""
    sys.modules.setdefault("wandb", types.ModuleType("wandb"))
    sys.path.insert(0, str(code))
    import models  # noqa: PLC0415  (their module, from --code)

    with open(run / "config.txt", "rb") as fh:
        cfg = copy.deepcopy(pickle.load(fh))
    if reconstruction_window is not None:
        cfg.reconstruction_window = reconstruction_window
    cfg.num_actions, cfg.device, cfg.compile = 2, "cpu", False
    box = lambda n: types.SimpleNamespace(shape=(n,))       # noqa: E731
    spaces = types.SimpleNamespace(spaces={"state": box(2), "reward": box(1), "time_step": box(1)})
    torch.manual_seed(seed)
    return models.WorldModel(spaces, None, 0, cfg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--code", type=Path, required=True, help="a checkout of GitHub zoharri/mamba")
    p.add_argument("--run", type=Path, required=True, help="their run folder (config.txt, train_eps/)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--updates", type=int, default=2400)
    p.add_argument("--bin", type=int, default=200)
    p.add_argument("--reconstruction-window", type=int, default=None,
                   help="override their run's reconstruction_window (default: the run's own, 3)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    for path, what in ((args.code / "models.py", "their models.py"), (args.run / "config.txt", "the run's config.txt")):
        if not path.exists():
            p.error(f"{what} not found at {path}")
    files = their_episodes(args.run)
    torch.set_num_threads(args.threads)
    wm = build_their_world_model(args.code, args.run, args.seed, args.reconstruction_window)
    np.random.seed(args.seed)                # their loss-index draws use the global numpy generator
    rng = np.random.default_rng(args.seed)
    replay: list[dict[str, np.ndarray]] = []
    queue = [files[PREFILL - 1]] + files[PREFILL:]

    def add(n: int) -> None:
        for f in queue[:n]:
            episode = np.load(f)
            replay.append({k: episode[k][:T] for k in KEYS})
        del queue[:n]

    add(1)

    args.out.mkdir(parents=True, exist_ok=True)
    started, rows = time.perf_counter(), []
    print("| updates | rewarded share | prediction rewarded / elsewhere | reward loss | KL |")
    print("|---|---|---|---|---|", flush=True)
    with open(args.out / "updates.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["update", "meta_episodes", "wall_s", "rewarded_frac", "pred_rewarded",
                                     "pred_other", "reward_loss", "kl"])
        writer.writeheader()
        for u in range(args.updates):
            if u % PER_ROUND == 0:
                add(PER_ROUND)
            pick = rng.integers(0, len(replay), B)
            data = {k: np.stack([replay[i][k] for i in pick]).copy() for k in KEYS}
            data["is_first"][:, 0] = True
            _, _, metrics = wm._train(data)
            true_r, pred_r = (x.reshape(-1) for x in wm._diag_reward)
            pos = true_r > 0
            row = {"update": u, "meta_episodes": len(replay), "wall_s": round(time.perf_counter() - started, 1),
                   "rewarded_frac": float(pos.float().mean()),
                   "pred_rewarded": float(pred_r[pos].mean()) if pos.any() else float("nan"),
                   "pred_other": float(pred_r[~pos].mean()),
                   "reward_loss": float(metrics["reward_loss"]), "kl": float(metrics["kl"])}
            writer.writerow(row)
            fh.flush()
            rows.append(row)
            if (u + 1) % args.bin == 0:
                b = rows[u + 1 - args.bin:]
                mean = lambda k: np.nanmean([r[k] for r in b])      # noqa: E731
                print(f"| {u + 1 - args.bin}–{u} | {100 * mean('rewarded_frac'):.2f} % | {mean('pred_rewarded'):.4f} / "
                      f"{mean('pred_other'):.4f} | {mean('reward_loss'):.4f} | {mean('kl'):.3f} |", flush=True)


if __name__ == "__main__":
    main()
