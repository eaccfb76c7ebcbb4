"""Our world model trained on the authors' own PointRobot data: is the reward head's delay the model or the data?

docs/notes/pointrobot_paper.md found that, at the authors' configuration, the authors' released code's reward
head starts to tell rewarded steps apart after about 1,600 updates and ours only after about 2,800, with the
two world models otherwise learning at the same pace. Each run trains on its own data, so the difference can be
in the model (its layers, losses, initialisation, sampling) or in the data (the envs and the policies that
collected it). This script removes the second: it trains **our** world model (``--preset paper``, PointRobot)
on the meta-episodes **their** run collected, in the order and at the rate their run used them, and records
the same reward-recall scalars.

Their run's folder holds every meta-episode it collected (``train_eps/*.npz``, named by collection time): 25
random ones (of which their replay keeps one, see the parity table in docs/mamba.md), then 10 per collection,
each collection followed by 10 updates (1 per 300 real steps). Here: the replay starts with the last random
meta-episode; then, per round, the next 10 meta-episodes go in and 10 world-model updates follow. Only the world
model trains (the data's policy is theirs, so our actor and critic would change nothing here). Their
meta-episodes are converted to our layout: observation (position, reward just received, time), previous
action clipped to [-1, 1] (their files keep the policy's unclipped samples; their RSSM clips them as it reads
them, and our policy stores them clipped), reward, terminal. Their run had the multi-step heads
(``reconstruction_window: 3``); ``--set recon_window=3`` gives ours the same.

If our reward head separates on their data when theirs did (~1,600-2,400 updates), the model is not what
delays ours; if it does not, the difference is in the model.

Usage::

    python experiments/wm_on_authors_data.py /work/authors_ref/logdir_pr/RUN --updates 2400 \\
        --out ../exp/wm_on_authors_data --threads 1 [--set recon_window=3]

Writes ``--out/updates.csv`` (one row per update, appended as it goes) and prints, every ``--bin`` updates, a
Markdown row beside the authors' own values at the same updates (their ``diag_updates.jsonl``).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from authors_code_export import last_per_update, read_jsonl  # noqa: E402

from mamba_edu.agents.dreamer.agent import DreamerAgent  # noqa: E402
from mamba_edu.agents.dreamer.config import resolve_config  # noqa: E402
from mamba_edu.agents.dreamer.replay import Replay  # noqa: E402
from mamba_edu.cli import _parse_set  # noqa: E402
from mamba_edu.envs import make_batched  # noqa: E402

PREFILL, PER_ROUND = 25, 10          # their prefill meta-episodes; meta-episodes (and updates) per collection
TAGS = ["wm/rewarded_frac", "wm/reward_pred_rewarded", "wm/reward_pred_other", "wm/reward", "wm/decoder",
        "wm/kl"]


def their_episodes(run: Path) -> list[Path]:
    files = sorted((run / "train_eps").glob("*.npz"))
    if len(files) <= PREFILL:
        sys.exit(f"error: {run / 'train_eps'} holds {len(files)} meta-episodes; expected more than {PREFILL}")
    return files


def to_our_layout(files: list[Path]) -> dict[str, np.ndarray]:
    """Their meta-episodes as one batch-major dict in our replay layout."""
    eps = [np.load(f) for f in files]
    obs = np.stack([np.concatenate([e["state"], e["reward"][:, None], e["time_step"][:, None]], 1) for e in eps])
    return {"obs": obs.astype(np.float32),
            "prev_action": np.clip(np.stack([e["action"] for e in eps]), -1.0, 1.0).astype(np.float32),
            "reward": np.stack([e["reward"] for e in eps]).astype(np.float32),
            "terminal": np.stack([e["is_terminal"] for e in eps]).astype(np.float32)}


def world_model_update(agent: DreamerAgent, replay: Replay) -> dict[str, float]:
    """One update of the world model alone (:meth:`DreamerAgent.train_world_model`), counted as an update."""
    _, _, _, metrics = agent.train_world_model(replay, 10**9)
    agent.updates += 1
    return {k: float(metrics[k]) for k in TAGS if k in metrics}


def theirs_in_bin(diag: list[dict], lo: int, hi: int) -> str:
    rows = [r for r in diag if lo <= r["update"] < hi]
    if not rows:
        return "– | –"
    def mean(k):          # their logging writes null where a group (rewarded / not) is empty
        vals = [r[k] for r in rows if r.get(k) is not None]
        return float(np.mean(vals)) if vals else float("nan")

    m = {k: mean(k) for k in ("rew_idx_pos_frac", "pred_rew_on_pos", "pred_rew_on_zero")}
    return f"{100 * m['rew_idx_pos_frac']:.2f} % | {m['pred_rew_on_pos']:.4f} / {m['pred_rew_on_zero']:.4f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the authors' run folder (train_eps/, diag_updates.jsonl)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--updates", type=int, default=2400)
    p.add_argument("--bin", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides on top of --preset paper, as in `train --set` (e.g. recon_window=3: their "
                        "run had the multi-step heads)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    files = their_episodes(args.run)
    diag_path = args.run / "diag_updates.jsonl"
    diag = last_per_update(read_jsonl(diag_path)) if diag_path.exists() else []

    try:
        sets = _parse_set(args.set, "mamba")
    except ValueError as e:
        p.error(str(e))
    cfg = resolve_config("mamba", "PointRobot", ["paper"], {"seed": args.seed, "device": "cpu", **sets})
    env = make_batched("PointRobot", 1, reward_in_obs=True, time_in_obs=True)
    H = env.H
    agent = DreamerAgent(cfg, env.single_observation_space, env.single_action_space, H)
    env.close()
    replay = Replay(len(files) * (H + 1), H + 1, agent.replay_layout, agent.action_dim, args.seed)
    agent.prepare_replay(replay)
    queue = [files[PREFILL - 1]] + files[PREFILL:]

    def add(n: int) -> None:
        batch, queue[:n] = queue[:n], []
        if batch:
            agent.episodes_added(replay, replay.add(to_our_layout(batch)))

    add(1)
    args.out.mkdir(parents=True, exist_ok=True)
    print("| updates | rewarded share (ours on their data) | prediction rewarded / elsewhere (ours on their data) "
          "| rewarded share (their run) | prediction rewarded / elsewhere (their run) |")
    print("|---|---|---|---|---|", flush=True)
    started, rows = time.perf_counter(), []
    with open(args.out / "updates.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["update", "meta_episodes", "wall_s", *TAGS])
        writer.writeheader()
        for u in range(args.updates):
            if u % PER_ROUND == 0:
                add(PER_ROUND)
            m = world_model_update(agent, replay)
            row = {"update": u, "meta_episodes": len(replay), "wall_s": round(time.perf_counter() - started, 1), **m}
            writer.writerow(row)
            fh.flush()
            rows.append(row)
            if (u + 1) % args.bin == 0:
                lo = u + 1 - args.bin
                b = rows[lo:]
                mean = {k: np.mean([r[k] for r in b]) for k in TAGS[:3]}
                print(f"| {lo}–{u} | {100 * mean['wm/rewarded_frac']:.2f} % | {mean['wm/reward_pred_rewarded']:.4f} / "
                      f"{mean['wm/reward_pred_other']:.4f} | {theirs_in_bin(diag, lo, u + 1)} |", flush=True)


if __name__ == "__main__":
    main()
