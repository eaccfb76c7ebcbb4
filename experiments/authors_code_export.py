"""The small results of a run of the authors' released code, as CSV files beside our own runs' results.

The authors' code (GitHub zoharri/mamba) is never part of this repository. docs/notes/pointrobot_paper.md
("The authors' code on this CPU") says how it was run on this CPU and which logging was added to it; that
logging writes, in the run's folder, one JSON object per line:

* ``eval.jsonl`` — every evaluation: ``real_env_steps``, ``updates``, ``eval_return_sum`` (mean return of a
  meta-episode over ``eval_episodes`` fixed tasks, the policy's mode), ``eval_return_per_episode`` (per
  sub-episode);
* ``diag_updates.jsonl`` — every update: ``update`` (its count), ``rew_idx_pos_frac`` (share of the loss
  steps with a positive reward), ``pred_rew_on_pos`` / ``pred_rew_on_zero`` (the reward head's mean mode
  there and elsewhere), ``value_mean`` (the critic at the imagination starts), ``actor_start_mean`` /
  ``actor_start_std`` (the policy's mean and std at the imagination starts, per action dimension);
* ``rounds.jsonl`` — every collection of 10 meta-episodes: ``real_env_steps``, ``updates_total``,
  ``collect_s``, ``update_s``.

A resumed run repeats the updates after its last checkpoint; the last record of each update count wins.
Writes ``eval.csv`` and ``updates.csv`` (means per bin of ``--bin`` updates) to ``--dest``. With ``--ours RUN``
(one of our run folders, whose TensorBoard logs hold the world model's reward-recall scalars ``wm/rewarded_frac``,
``wm/reward_pred_rewarded``, ``wm/reward_pred_other``) it also prints both side by side per bin of updates, as a
Markdown table (docs/notes/pointrobot_paper.md).

Usage::

    python experiments/authors_code_export.py /work/authors_ref/logdir_pr/RUN \\
        --dest experiments/results/pointrobot_authors-code_s0 --bin 200 --ours ../exp/pr_paper_mamba_s1
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def last_per_update(rows: list[dict]) -> list[dict]:
    """One record per update count (a resumed run repeats the updates after its last checkpoint)."""
    by_update = {r["update"]: r for r in rows}
    return [by_update[u] for u in sorted(by_update)]


def steps_at_update(rounds: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(updates_total, real_env_steps) after each collection (the prefill: 0 updates), to interpolate an update's env steps."""
    pairs = sorted({r.get("updates_total", 0): r["real_env_steps"] for r in rounds}.items())   # prefill: 0
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


def update_bins(updates: list[dict], rounds: list[dict], width: int) -> list[dict]:
    u_axis, s_axis = steps_at_update(rounds)
    out = []
    for start in range(0, updates[-1]["update"] + 1, width):
        rows = [r for r in updates if start <= r["update"] < start + width]
        if not rows:
            continue
        on_pos = [r["pred_rew_on_pos"] for r in rows if r.get("pred_rew_on_pos") is not None]
        mean, std = np.mean([r["actor_start_mean"] for r in rows], 0), np.mean([r["actor_start_std"] for r in rows], 0)
        out.append({"updates_from": start, "updates_to": rows[-1]["update"],
                    "real_env_steps": int(np.interp(rows[-1]["update"], u_axis, s_axis)),
                    "rewarded_frac": float(np.mean([r["rew_idx_pos_frac"] for r in rows])),
                    "reward_pred_rewarded": float(np.mean(on_pos)) if on_pos else float("nan"),
                    "reward_pred_other": float(np.mean([r["pred_rew_on_zero"] for r in rows])),
                    "value_mean": float(np.mean([r["value_mean"] for r in rows])),
                    **{f"actor_mean_{i}": float(m) for i, m in enumerate(mean)},
                    **{f"actor_std_{i}": float(s) for i, s in enumerate(std)}})
    return out


RECALL_TAGS = ("charts/updates", "wm/rewarded_frac", "wm/reward_pred_rewarded", "wm/reward_pred_other")


def our_recall(run: Path) -> list[dict]:
    """Our run's reward-recall scalars per logged batch (env step → tag → value), from its TensorBoard logs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    by_step: dict[int, dict] = {}
    for events in sorted(run.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in set(RECALL_TAGS) & set(acc.Tags()["scalars"]):
            for e in acc.Scalars(tag):
                by_step.setdefault(e.step, {"env_steps": e.step})[tag] = e.value
    return [r for _, r in sorted(by_step.items()) if all(t in r for t in RECALL_TAGS)]


def side_by_side(bins: list[dict], ours: list[dict], width: int) -> str:
    """Markdown: per bin of ``width`` updates, the authors' and our rewarded share and reward-head predictions."""
    lines = ["| updates | authors: real env steps | authors: rewarded share | authors: prediction rewarded / elsewhere "
             "| ours: env steps | ours: rewarded share | ours: prediction rewarded / elsewhere |", "|---" * 7 + "|"]
    top = max([b["updates_to"] for b in bins] + [int(r["charts/updates"]) for r in ours])
    for start in range(0, top + 1, width):
        theirs = [b for b in bins if start <= b["updates_from"] < start + width]
        mine = [r for r in ours if start <= r["charts/updates"] < start + width]
        a = "– | – | –"
        if theirs:
            share = np.mean([b["rewarded_frac"] for b in theirs])
            a = (f"{theirs[-1]['real_env_steps'] / 1000:.0f}k | {100 * share:.2f} % | "
                 f"{np.nanmean([b['reward_pred_rewarded'] for b in theirs]):.4f} / "
                 f"{np.mean([b['reward_pred_other'] for b in theirs]):.4f}")
        c = "– | – | –"
        if mine:
            hit = [r["wm/reward_pred_rewarded"] for r in mine if r["wm/rewarded_frac"] > 0]
            c = (f"{mine[-1]['env_steps'] / 1000:.0f}k | {100 * np.mean([r['wm/rewarded_frac'] for r in mine]):.2f} % | "
                 f"{np.mean(hit) if hit else float('nan'):.4f} / {np.mean([r['wm/reward_pred_other'] for r in mine]):.4f}")
        lines.append(f"| {start}–{start + width - 1} | {a} | {c} |")
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="the authors' run folder (with eval.jsonl, diag_updates.jsonl, rounds.jsonl)")
    p.add_argument("--dest", type=Path, required=True)
    p.add_argument("--bin", type=int, default=100, help="updates per row of updates.csv (and of the table)")
    p.add_argument("--ours", type=Path, help="one of our run folders to print beside the authors' run")
    args = p.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    evals = read_jsonl(args.run / "eval.jsonl")
    write_csv(args.dest / "eval.csv", [
        {"real_env_steps": e["real_env_steps"], "updates": e["updates"], "return_mean": e["eval_return_sum"],
         "tasks": e["eval_episodes"], **{f"return_sub{k}": v for k, v in enumerate(e["eval_return_per_episode"])}}
        for e in evals])
    updates = last_per_update(read_jsonl(args.run / "diag_updates.jsonl"))
    bins = update_bins(updates, read_jsonl(args.run / "rounds.jsonl"), args.bin)
    write_csv(args.dest / "updates.csv", bins)
    print(f"{len(evals)} evaluations, {len(updates)} updates -> {args.dest}")
    if args.ours:
        print(side_by_side(bins, our_recall(args.ours), args.bin))


if __name__ == "__main__":
    main()
