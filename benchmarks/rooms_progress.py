"""How far into Rooms-N does an agent get? (paper Sec. 4, Rooms-N: goals collected in order, room after room.)

The meta-episode return of Rooms-N says little while an agent learns: −19 is random play, and one goal found
early in a sub-episode adds only 1.1. This script counts what the return hides: in each sub-episode, how many
goals were collected in order. Goals 1..N−1 pay +1 once per sub-episode and goal N pays on every step spent on
it, so the count is ``min(N, number of positive rewards)``. It also reports the first step at which the last
goal paid (a Bayes-optimal agent reaches it in about 10 steps per room in sub-episode 1 and walks straight
there in sub-episode 2).

Works for any run directory on a Rooms-N env (MAMBA/Dreamer or a PPO baseline), with the policy's mode and
with sampled actions. Usage (one torch thread, a few seconds for 100 tasks at ``cpu`` sizes)::

    python benchmarks/rooms_progress.py --run DIR [--which latest] [--tasks 100] [--seed 123]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from mamba_edu.envs import make_batched, short_name
from mamba_edu.rollout import rollout
from mamba_edu.training.loop import load_learner


def goals_collected(rewards: np.ndarray, sub_episode: np.ndarray, n_goals: int, K: int) -> np.ndarray:
    """(B, K) goals collected in order in each sub-episode, from the (H, B) rewards and the (H + 1, B)
    sub-episode index of each observation (a reward belongs to the sub-episode of the step it ends)."""
    sub_of_reward = sub_episode[:-1]
    counts = np.stack([((rewards > 0) & (sub_of_reward == k)).sum(0) for k in range(K)], axis=1)
    return np.minimum(counts, n_goals)


def first_last_goal_step(rewards: np.ndarray, T: int, K: int, n_collected: np.ndarray, n_goals: int) -> np.ndarray:
    """(B, K) step within the sub-episode at which goal N first paid (NaN where it never did)."""
    out = np.full(n_collected.shape, np.nan)
    for k in range(K):
        r = rewards[k * T:(k + 1) * T]
        paid = np.cumsum(r > 0, axis=0) >= n_goals   # the N-th positive reward is goal N's first
        for b in np.flatnonzero(n_collected[:, k] == n_goals):
            out[b, k] = int(np.argmax(paid[:, b])) + 1
    return out


def report(name: str, ro, n_goals: int, T: int, K: int) -> None:
    got = goals_collected(np.asarray(ro.rewards), np.asarray(ro.sub_episode), n_goals, K)
    steps = first_last_goal_step(np.asarray(ro.rewards), T, K, got, n_goals)
    print(f"{name}: return {ro.returns.mean():.1f} (sub-episodes "
          + " / ".join(f"{v:.1f}" for v in ro.sub_episode_returns.mean(0)) + ")")
    for k in range(K):
        hist = np.bincount(got[:, k], minlength=n_goals + 1) / len(got)
        reach = [f"≥{i}: {(got[:, k] >= i).mean():.0%}" for i in range(1, n_goals + 1)]
        med = np.nanmedian(steps[:, k]) if np.isfinite(steps[:, k]).any() else float("nan")
        print(f"  sub-episode {k + 1}: goals collected " + ", ".join(reach)
              + f"  (histogram 0..{n_goals}: " + " ".join(f"{h:.2f}" for h in hist) + ")"
              + f"; median step of goal {n_goals}: {med:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a run directory on a Rooms-N env")
    ap.add_argument("--which", default="latest", choices=("best", "latest"))
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--seed", type=int, default=123, help="task and rollout seed")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg, learner, saved = load_learner(args.run, args.which)
    name = short_name(saved["env"])
    if not name.startswith("Rooms-"):
        raise SystemExit(f"error: --run must be a Rooms-N run, {args.run} is on {saved['env']}")
    n_goals = int(name.split("-")[1])
    env = make_batched(saved["env"], args.tasks, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    tasks = env.sample_tasks(args.tasks, args.seed)
    for greedy in (True, False):
        torch.manual_seed(args.seed)
        ro = rollout(learner.actor(greedy), env, tasks=tasks, seed=args.seed)
        report("mode" if greedy else "sampled", ro, n_goals, env.T, env.K)
    env.close()
    print(f"({args.which} checkpoint of {args.run}, {args.tasks} tasks, seed {args.seed})")


if __name__ == "__main__":
    main()
