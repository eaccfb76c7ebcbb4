"""Scripted explore-then-exploit reference for PointRobot and PointRobotWind.

The policy sees only the batched observation [x, y, previous reward, t/(K·T)] — never the task.
Every action moves at full speed: with component-wise clipping a step can be 0.1·√2 long, so
directions are scaled to have their largest component equal to 1.

* **Search** (sub-episode 1): walk to the point at angle ``START`` (0.15 rad) on the circle of
  radius ``SWEEP_RADIUS`` (0.9), then follow that circle counter-clockwise. From radius 0.9
  the goal disc (radius 0.2 around a point of the unit circle) is seen ±0.18 rad ahead, so the
  whole semicircle is covered by a path 10 % shorter than the unit arc.
* **Locate**: a reward r > 0 at position p says the goal is at distance d = 1 − r from p; on
  the unit circle that leaves two angles, φ_p ± arccos((1 + ‖p‖² − d²) / (2‖p‖)). The one
  ahead of the sweep is taken; the next rewarded step (at another position) triangulates:
  the candidate whose predicted reward disagrees (by > 10⁻³) is dropped.
* **Exploit**: walk straight to the estimated goal g and stay there (the action (g − p)/0.1,
  clipped). With wind the robot is pushed off each step and the same rule pulls it back.

New sub-episodes are recognised by the position reset to exactly (0, 0); the reward feature
of that first observation belongs to the previous sub-episode and is ignored.

It is not provably Bayes-optimal (the continuous problem has no exact solution here), but it is
the behaviour the paper describes as Bayes-optimal (App. C) and its measured return is the
reference we report; ``python -m mamba_edu bayes-optimal --env PointRobot`` prints it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

SWEEP_RADIUS = 0.9
START = 0.15         # rad: the sweep starts here (goals in [0, 0.33] are already visible from it)
LOOKAHEAD = 0.25     # rad ahead on the sweep circle that the robot heads for while sweeping
TRIANGULATION_TOL = 1e-3


def full_speed(v: np.ndarray) -> np.ndarray:
    """Action moving along v at full speed (largest component ±1), or exactly by v if |v|∞ ≤ 0.1."""
    m = np.abs(v).max(axis=1, keepdims=True)
    return v / np.maximum(m, 0.1)


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], 1)


def goal_candidates(pos: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two angles θ with ‖(cos θ, sin θ) − p‖ = d (ahead: larger angle, behind: smaller)."""
    rho = np.maximum(np.linalg.norm(pos, axis=1), 1e-9)
    phi = np.arctan2(pos[:, 1], pos[:, 0])
    delta = np.arccos(np.clip((1.0 + rho ** 2 - dist ** 2) / (2.0 * rho), -1.0, 1.0))
    return phi + delta, phi - delta


class PointRobotScriptedPolicy:
    """Sweep the arc from radius 0.9, triangulate the goal from the rewards, then go to it and stay."""

    def __init__(self) -> None:
        self.reset(1)

    def reset(self, num_envs: int) -> None:
        self.goal = np.full(num_envs, np.nan)   # estimated goal angle
        self.alt = np.full(num_envs, np.nan)    # the other candidate, until triangulated
        self.sweeping = np.zeros(num_envs, dtype=bool)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        pos, reward = obs[:, :2], obs[:, 2]
        new_sub = (pos[:, 0] == 0.0) & (pos[:, 1] == 0.0)  # every sub-episode starts at the origin
        self.sweeping &= ~new_sub
        self._locate(pos, reward, ~new_sub)
        # search: go to the sweep start, then follow the sweep circle counter-clockwise
        start_xy = SWEEP_RADIUS * np.array([np.cos(START), np.sin(START)])
        self.sweeping |= np.linalg.norm(pos - start_xy, axis=1) < 0.05
        phi = np.arctan2(pos[:, 1], pos[:, 0])
        ahead = np.clip(np.where(phi < -np.pi / 2, phi + 2 * np.pi, phi), START, np.pi) + LOOKAHEAD
        target = np.where(self.sweeping[:, None], SWEEP_RADIUS * _unit(ahead), start_xy)
        action = full_speed(target - pos)
        known = ~np.isnan(self.goal)
        if known.any():
            g = _unit(self.goal[known])
            action[known] = np.clip((g - pos[known]) / 0.1, -1.0, 1.0)
        return action

    def _locate(self, pos: np.ndarray, reward: np.ndarray, valid: np.ndarray) -> None:
        """Update the goal estimate with the observation (p, r) of the envs in ``valid``."""
        # 1. drop the candidates this observation contradicts (a reward of 0 too says d > 0.2)
        has = valid & ~np.isnan(self.goal)
        if has.any():
            p, r = pos[has], reward[has]
            ok_goal = _consistent(p, r, self.goal[has])
            ok_alt = _consistent(p, r, self.alt[has])  # False where there is no alternative
            g, a = self.goal[has], self.alt[has]
            self.goal[has] = np.where(ok_goal, g, np.where(ok_alt, a, np.nan))
            self.alt[has] = np.where(ok_goal & ok_alt, a, np.nan)
        # 2. a reward and no (surviving) estimate: the two candidates on the circle, ahead first
        first = valid & (reward > 0) & np.isnan(self.goal)
        if first.any():
            ahead, behind = goal_candidates(pos[first], 1.0 - reward[first])
            ahead_ok = ahead <= np.pi + 0.01
            behind_ok = behind >= -0.01
            self.goal[first] = np.where(ahead_ok, ahead, behind)
            self.alt[first] = np.where(ahead_ok & behind_ok, behind, np.nan)


def _consistent(pos: np.ndarray, reward: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Whether a goal at ``angle`` explains reward r at p: d = 1 − r if r > 0, d > 0.2 if r = 0."""
    d = np.linalg.norm(pos - _unit(np.nan_to_num(angle)), axis=1)
    ok = np.where(reward > 0, np.abs(d - (1.0 - reward)) <= TRIANGULATION_TOL, d > 0.2 - TRIANGULATION_TOL)
    return ok & ~np.isnan(angle)


def scripted_policy(name: str = "PointRobot") -> PointRobotScriptedPolicy:
    """The scripted reference policy (the same for PointRobot and PointRobotWind)."""
    return PointRobotScriptedPolicy()


def reference(name: str, n_tasks: int = 1000, seed: int = 12345) -> dict[str, Any]:
    """Measured return of the scripted policy on ``n_tasks`` held-out tasks (see the package docs)."""
    from mamba_edu.rollout import evaluate

    measured = evaluate(PointRobotScriptedPolicy(), name, n_tasks=n_tasks, seed=seed)
    return {"env": name, **measured, "exact": False, "bayes_optimal_return": None,
            "method": "scripted explore-then-exploit policy (sweep the semicircle at radius 0.9, triangulate "
                      f"the goal from the rewards, then go straight to it), measured on {n_tasks} held-out tasks"}
