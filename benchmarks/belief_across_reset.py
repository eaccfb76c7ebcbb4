"""Does a PointRobot agent remember the goal across a sub-episode reset? (paper Sec. 3.3: the point of
full-context training is a belief that survives the reset, so later sub-episodes go straight to the goal.)

Rolls a Dreamer/MAMBA checkpoint out on held-out PointRobot tasks with the policy's mode, keeping its belief
at every step, and reports:

* how many tasks were paid in the first sub-episode (the goal was found);
* on those tasks, the world model's predicted reward on arrival at the **true goal**, imagined from the
  belief just before the first reset (t = T − 1) and just after it (t = T, T + 1, T + 10), with
  :func:`mamba_edu.agents.dreamer.probe.point_robot_reward_arc` (a belief that kept the goal predicts
  about the goal's reward at t = T; one that lost it predicts about 0);
* the steps to the first reward in each sub-episode (an agent that remembers needs about 10 in the
  later ones, the straight drive from the origin; one that searches again needs as many as in the first);
* the return of each sub-episode.

Usage (one torch thread, about a minute for 50 tasks at ``cpu`` sizes)::

    python benchmarks/belief_across_reset.py --run DIR [--tasks 50] [--seed 123]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from mamba_edu.agents.dreamer.probe import point_robot_reward_arc
from mamba_edu.envs import make_batched, short_name
from mamba_edu.training.loop import load_learner


def goal_reward_after(learner, beliefs, positions: np.ndarray, theta: np.ndarray, t: int) -> np.ndarray:
    """(B,) predicted reward on arrival at each task's true goal, imagined from the belief at step ``t``."""
    state = {k: v[t] for k, v in beliefs.items()}
    return np.array([point_robot_reward_arc(learner.agent, {k: v[b:b + 1] for k, v in state.items()},
                                            positions[t, b:b + 1], theta[b:b + 1])[0, 0]
                     for b in range(len(theta))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a Dreamer/MAMBA run directory on PointRobot")
    ap.add_argument("--which", default="best", choices=("best", "latest"))
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--seed", type=int, default=123, help="task and rollout seed")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg, learner, saved = load_learner(args.run, args.which)
    if short_name(saved["env"]) not in ("PointRobot", "PointRobotWind"):
        raise SystemExit(f"error: --run must be a PointRobot run, {args.run} is on {saved['env']}")
    env = make_batched(saved["env"], args.tasks, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    T, K = env.T, env.K
    tasks = env.sample_tasks(args.tasks, args.seed)
    torch.manual_seed(args.seed)
    ro, beliefs = learner.rollout_with_beliefs(env, tasks=tasks, seed=args.seed, greedy=True)
    env.close()
    positions = np.asarray(ro.obs)[:, :, :2].astype(np.float64)
    paid = np.asarray(ro.rewards) > 0                      # (H, B): the action at t was paid on arrival
    theta = np.array([float(t[0]) for t in tasks])
    found = paid[:T].any(0)
    print(f"{saved['algo']} on {saved['env']} ({args.run}, {args.which}): {args.tasks} tasks, seed {args.seed}")
    print(f"goal found in sub-episode 1: {found.sum()} of {args.tasks}")
    if found.any():
        for t in (T - 1, T, T + 1, T + 10):
            r = goal_reward_after(learner, beliefs, positions, theta, t)[found]
            print(f"  predicted reward at the true goal from the belief at t = {t:3d}: mean {r.mean():.3f}, "
                  f"median {np.median(r):.3f}")
    for k in range(K):
        seg = paid[k * T:(k + 1) * T]
        first = np.where(seg.any(0), seg.argmax(0) + 1, T)
        ret = np.asarray(ro.sub_episode_returns)[:, k]
        print(f"sub-episode {k + 1}: return {ret.mean():6.1f}; steps to the first reward (tasks found in "
              f"sub-episode 1) median {np.median(first[found]) if found.any() else float('nan'):.0f}")


if __name__ == "__main__":
    main()
