"""Scripted explore-then-exploit reference for EscapeRoom.

The policy sees only the batched observation [x, y, previous reward, t/(K·T)] — never the task.
Moves are at full speed (directions scaled so that their largest component is 1).

* **Search** (while the door is unknown): walk towards the end of the upper half nearer to the
  start (angle 0 if the start has x ≥ 0, then sweep counter-clockwise; else π, clockwise),
  aiming 5 % beyond the wall, then slide along the wall: mostly tangentially, pushing
  slightly outward (the wall blocks and puts the robot back at radius 0.999).
* **Locate**: the policy replays the wall geometry on its own moves (it knows its previous
  position and action): the blocked attempt before the exit crossed the circle at angle b
  (not in the door), the exit at angle e (in the door), so the door's near edge lies in
  (b, e] and its centre is estimated as (b + e)/2 ± π/16 (error ≤ half a step ≈ 0.07 rad,
  well inside the door's ±π/16 ≈ ±0.2). If the very first push at the end of the half-circle
  exits, the door (centre in [0, π]) must contain [e, π/16] (or [π − π/16, e]): its middle is
  taken. The policy also keeps the half-width of the arc that is surely door.
* **Exploit**: once outside, stay (reward 1 every step); in the next sub-episode walk from the
  random start along a straight line through the nearest point u of that sure arc (aiming 0.3
  beyond it), so the wall is crossed exactly at u, then stay outside.

Sub-episodes are recognised from the time feature (t/(K·T) · K crosses an integer), with the
env's K = 2 by default.

Not provably Bayes-optimal; its measured return is the reference we report
(``python -m mamba_edu bayes-optimal --env EscapeRoom``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mamba_edu.envs.escape_room import DOOR_ARC, EscapeRoomEnv

PUSH = 0.05             # outward component of the sliding direction (tangential component 1)
SAFETY = 0.02           # rad kept between the aimed crossing point and the door's possible edges
OVERSHOOT = 1.05        # the first walk aims this far beyond the wall at the sweep's start
HALF_DOOR = DOOR_ARC / 2


def full_speed(v: np.ndarray) -> np.ndarray:
    """Action moving along v at full speed (largest component ±1), or exactly by v if |v|∞ ≤ 0.1."""
    m = np.abs(v).max(axis=1, keepdims=True)
    return v / np.maximum(m, 0.1)


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], 1)


def _angle(xy: np.ndarray) -> np.ndarray:
    """Angle in [−π/2, 3π/2): continuous across the upper half and both of its ends."""
    a = np.arctan2(xy[:, 1], xy[:, 0])
    return np.where(a < -np.pi / 2, a + 2 * np.pi, a)


def crossing_point(pos: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Where the segment pos → pos + step leaves the unit disc (pos inside, pos + step outside)."""
    a = np.maximum((step * step).sum(1), 1e-12)
    b = (pos * step).sum(1)
    c = (pos * pos).sum(1) - 1.0
    s = (-b + np.sqrt(np.maximum(b * b - a * c, 0.0))) / a
    return pos + s[:, None] * step


class EscapeRoomScriptedPolicy:
    """Slide along the upper wall until the door gives way, remember it, go straight through it next time."""

    def __init__(self, K: int = EscapeRoomEnv.K) -> None:
        self.K = int(K)
        self.reset(1)

    def reset(self, num_envs: int) -> None:
        self.door = np.full(num_envs, np.nan)      # estimated door-centre angle
        self.door_sure = np.zeros(num_envs)        # door ⊇ [door − door_sure, door + door_sure]
        self.sub = np.full(num_envs, -1)
        self.direction = np.zeros(num_envs)        # +1 counter-clockwise, −1 clockwise, 0 not chosen
        self.sliding = np.zeros(num_envs, dtype=bool)  # the wall was hit in this sub-episode
        self.blocked_angle = np.full(num_envs, np.nan)  # crossing angle of the last blocked attempt
        self.prev_pos = np.zeros((num_envs, 2))
        self.prev_step = np.zeros((num_envs, 2))

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        pos = obs[:, :2]
        sub = np.floor(obs[:, 3] * self.K + 1e-6).astype(int)
        new_sub = sub != self.sub
        self.sub = sub
        outside = (pos * pos).sum(1) > 1.0
        prev_in = (self.prev_pos * self.prev_pos).sum(1) <= 1.0
        attempt = self.prev_pos + self.prev_step
        tried_out = ~new_sub & prev_in & ((attempt * attempt).sum(1) > 1.0)
        cross = _angle(crossing_point(self.prev_pos, self.prev_step))

        # the door gave way. If a blocked attempt came first, the door's near edge lies between
        # its crossing b and this one; else (the very first contact, at the end of the upper
        # half) the door contains [e, π/16] (ccw) or [π − π/16, e] (cw) since its centre is in [0, π]
        found = tried_out & outside & np.isnan(self.door) & (self.direction != 0)
        if found.any():
            b, e, s = self.blocked_angle[found], cross[found], self.direction[found]
            first_end = np.where(s > 0, HALF_DOOR, np.pi - HALF_DOOR)
            first_contact = np.where((s * (first_end - e)) >= 0, 0.5 * (e + first_end), e)
            self.door[found] = np.where(np.isnan(b), first_contact, 0.5 * (b + e) + s * HALF_DOOR)
            # half-width of the arc around the estimate that is surely in the door
            sure = np.where(np.isnan(b), np.abs(first_contact - e), HALF_DOOR - 0.5 * np.abs(e - np.nan_to_num(b)))
            self.door_sure[found] = np.maximum(sure - SAFETY, 0.0)
        blocked = tried_out & ~outside & np.isnan(self.door) & (self.direction != 0)
        self.blocked_angle[blocked] = cross[blocked]
        self.sliding |= blocked

        # search: pick the nearer end of the upper half, push into the wall there, then slide along it
        self.sliding &= ~new_sub
        self.blocked_angle[new_sub] = np.nan
        choose = new_sub & np.isnan(self.door)
        self.direction[choose] = np.where(pos[choose, 0] >= 0, 1.0, -1.0)
        start_xy = _unit(np.where(self.direction > 0, 0.0, np.pi))
        radial = _unit(_angle(pos))
        tangent = self.direction[:, None] * np.stack([-radial[:, 1], radial[:, 0]], 1)
        search = np.where(self.sliding[:, None], full_speed(tangent + PUSH * radial),
                          full_speed(OVERSHOOT * start_xy - pos))

        # exploit: straight through the nearest point of the sure part of the door, aiming 0.3 beyond it
        known = ~np.isnan(self.door)
        door = np.nan_to_num(self.door)
        u = _unit(np.clip(_angle(pos), door - self.door_sure, door + self.door_sure))
        to_door = u - pos
        dist = np.maximum(np.linalg.norm(to_door, axis=1, keepdims=True), 1e-9)
        exploit = full_speed(to_door + 0.3 * to_door / dist)

        action = np.where(known[:, None], exploit, search)
        action[outside] = 0.0  # outside: stay and collect the reward
        self.prev_pos = pos
        self.prev_step = 0.1 * np.clip(action, -1.0, 1.0)
        return action


def scripted_policy(name: str = "EscapeRoom") -> EscapeRoomScriptedPolicy:
    """The scripted reference policy (for the env's default K = 2)."""
    return EscapeRoomScriptedPolicy()


def reference(name: str, n_tasks: int = 1000, seed: int = 12345) -> dict[str, Any]:
    """Measured return of the scripted policy on ``n_tasks`` held-out tasks (see the package docs)."""
    from mamba_edu.rollout import evaluate

    measured = evaluate(EscapeRoomScriptedPolicy(), name, n_tasks=n_tasks, seed=seed)
    return {"env": name, **measured, "exact": False, "bayes_optimal_return": None,
            "method": "scripted policy: slide along the upper wall until the door gives way, then go straight "
                      f"through the remembered door, measured on {n_tasks} held-out tasks"}
