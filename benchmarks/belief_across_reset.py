"""Does a PointRobot agent remember the goal across a sub-episode reset? (paper Sec. 3.3: the point of
full-context training is a belief that survives the reset, so later sub-episodes go straight to the goal.)

Rolls a Dreamer/MAMBA checkpoint out on held-out PointRobot tasks with the policy's mode, keeping its belief
at every step, and reports:

* how many tasks were paid in the first sub-episode (the goal was found);
* on those tasks, the world model's predicted reward on arrival at the **true goal**, imagined from the
  belief just before the first reset (t = T − 1) and just after it (t = T, T + 1, T + 10), with
  :func:`mamba_edu.agents.dreamer.probe.point_robot_reward_arc` (a belief whose reward prediction reads
  the goal predicts about the goal's reward at t = T; one that does not predicts about 0 — whether the state
  still holds the goal is what ``--probe`` tells);
* the steps to the first reward in each sub-episode (an agent that remembers needs about 10 in the
  later ones, the straight drive from the origin; one that searches again needs as many as in the first);
* the return of each sub-episode;
* with ``--probe``, two controls that tell *what* is lost. (a) The detour: from the belief at t = T − 1, on the
  tasks where the robot is being paid there, imagine k steps towards the origin and k steps back to the same
  point, and read the reward head on arrival (k = 1, 2, 4, 8). A model that knows where the goal is predicts the
  reward again on return; one that has learned "the reward continues while I stay" does not, reset or no reset.
  (b) Whether the goal is still *in* the belief, read or not: a ridge regression from the
  RSSM state (deterministic and stochastic parts) at step t to the goal's direction (cos θ, sin θ), fitted and
  scored by 5-fold cross-validation over the tasks, at t = T − 1, T, T + 1, T + 10 (median angle error; about
  45° is what guessing the mean direction gives). A state that keeps the goal but whose heads no longer read it
  decodes well after the reset; a state that dropped it does not.

Usage (one torch thread, about a minute for 50 tasks at ``cpu`` sizes)::

    python benchmarks/belief_across_reset.py --run DIR [--tasks 50] [--seed 123] [--probe]

(``--probe`` wants a few hundred tasks, e.g. ``--tasks 300``.)
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from mamba_edu.agents.dreamer.probe import point_robot_reward_arc, reward_on_arrival, straight_path_actions
from mamba_edu.envs import make_batched, short_name
from mamba_edu.training.loop import load_learner


def goal_reward_after(learner, beliefs, positions: np.ndarray, theta: np.ndarray, t: int) -> np.ndarray:
    """(B,) predicted reward on arrival at each task's true goal, imagined from the belief at step ``t``."""
    state = {k: v[t] for k, v in beliefs.items()}
    return np.array([point_robot_reward_arc(learner.agent, {k: v[b:b + 1] for k, v in state.items()},
                                            positions[t, b:b + 1], theta[b:b + 1])[0, 0]
                     for b in range(len(theta))])


def detour_reward(learner, beliefs, positions: np.ndarray, t: int, k: int) -> np.ndarray:
    """(B,) predicted reward on returning to ``positions[t]`` after an imagined detour of k steps towards the
    origin and back, imagined from the belief at step ``t``; read on each task's own arrival. Each leg takes as
    many steps as its larger coordinate needs (at most k): a task whose leg is shorter waits at the turn."""
    from mamba_edu.envs.point_robot import STEP_SIZE

    here = positions[t]
    radius = np.linalg.norm(here, axis=1, keepdims=True)
    away = here * np.clip(1.0 - k * STEP_SIZE / np.maximum(radius, 1e-9), 0.0, None)
    actions = straight_path_actions(here, away, STEP_SIZE) + straight_path_actions(away, here, STEP_SIZE)
    return reward_on_arrival(learner.agent, {key: v[t] for key, v in beliefs.items()},
                             actions or [np.zeros_like(here)])


def goal_direction_probe(beliefs: dict, theta: np.ndarray, t: int, folds: int = 5) -> tuple[float, float]:
    """(cross-validated R², median angle error in degrees) of a ridge regression from the RSSM state at step
    ``t`` of each task to its goal direction (cos θ, sin θ)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict

    x = np.concatenate([np.asarray(v[t], dtype=np.float64).reshape(len(theta), -1) for v in beliefs.values()], 1)
    y = np.stack([np.cos(theta), np.sin(theta)], 1)
    pred = cross_val_predict(RidgeCV(alphas=np.logspace(-2, 4, 13)), x, y,
                             cv=KFold(folds, shuffle=True, random_state=0))
    r2 = 1.0 - ((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()
    err = np.degrees(np.abs(np.arctan2(pred[:, 1], pred[:, 0]) - theta))
    return float(r2), float(np.median(np.minimum(err, 360.0 - err)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a Dreamer/MAMBA run directory on PointRobot")
    ap.add_argument("--which", default="best", choices=("best", "latest"))
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--seed", type=int, default=123, help="task and rollout seed")
    ap.add_argument("--probe", action="store_true", help="also decode the goal direction from the RSSM state")
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
    if args.probe:
        at_goal = paid[T - 1]
        for k in (1, 2, 4, 8):
            r = detour_reward(learner, beliefs, positions, T - 1, k)[at_goal]
            print(f"  detour from the belief at t = {T - 1} ({at_goal.sum()} tasks paid there): {k} steps towards "
                  f"the origin and back, predicted reward on return: mean {r.mean():.3f}")
        beliefs_np = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
                      for k, v in beliefs.items()}
        for t in (T - 1, T, T + 1, T + 10):
            r2, err = goal_direction_probe(beliefs_np, theta, t)
            print(f"  goal direction decoded from the state at t = {t:3d} (ridge, 5-fold CV over all tasks): "
                  f"R² {r2:.2f}, median angle error {err:.0f}°")
    for k in range(K):
        seg = paid[k * T:(k + 1) * T]
        first = np.where(seg.any(0), seg.argmax(0) + 1, T)
        ret = np.asarray(ro.sub_episode_returns)[:, k]
        print(f"sub-episode {k + 1}: return {ret.mean():6.1f}; steps to the first reward (tasks found in "
              f"sub-episode 1) median {np.median(first[found]) if found.any() else float('nan'):.0f}")


if __name__ == "__main__":
    main()
