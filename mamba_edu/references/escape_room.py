"""Scripted explore-then-exploit reference for EscapeRoom.

The policy sees only [x, y, previous reward, time]:

* sub-episode 1: walk to the wall at the nearer end of the upper half (angle 0 or π), then sweep
  along the wall towards the other end while pushing outward; the wall blocks everywhere except
  at the door, so the first step outside (reward 1) marks the door's near edge. Stay outside;
* sub-episode 2: from the random start, walk to a point just inside the remembered door (its
  edge moved half a door width inwards), then straight out, and stay outside.

Not provably Bayes-optimal; its measured return is the reference we report
(``python -m mamba_edu bayes-optimal --env EscapeRoom``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mamba_edu.envs.escape_room import DOOR_ARC

PUSH = 0.3  # outward component of the sliding action (tangential component 1)


def _toward(pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.clip((target - pos) / 0.1, -1.0, 1.0)


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], 1)


class EscapeRoomScriptedPolicy:
    def __init__(self, K: int = 2) -> None:
        self.K = K

    def reset(self, num_envs: int) -> None:
        self.door = np.full(num_envs, np.nan)
        self.direction = np.zeros(num_envs)       # +1 sweeping counter-clockwise, −1 clockwise
        self.at_wall = np.zeros(num_envs, dtype=bool)
        self.sub = np.zeros(num_envs)
        self.inside_door = np.zeros(num_envs, dtype=bool)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        pos = obs[:, :2]
        sub = np.floor(obs[:, 3] * self.K + 1e-9)
        new_sub = sub != self.sub
        self.sub = sub
        self.inside_door[new_sub] = False
        rho = np.linalg.norm(pos, axis=1)
        phi = np.arctan2(pos[:, 1], pos[:, 0])
        outside = rho > 1.0
        # remember where the door gave way (sub-episode 1)
        first_exit = outside & np.isnan(self.door)
        self.door[first_exit] = phi[first_exit] + self.direction[first_exit] * DOOR_ARC / 2 * 0.8
        # choose the sweep start in sub-episode 1
        unset = self.direction == 0
        self.direction[unset] = np.where(np.cos(phi[unset]) >= 0, 1.0, -1.0)
        start_angle = np.where(self.direction > 0, 0.0, np.pi)
        self.at_wall |= (rho > 0.95) & (np.abs(np.angle(np.exp(1j * (phi - start_angle)))) < 0.15)
        # searching: reach the sweep start, then slide along the wall: mostly tangential, pushing out
        radial = _unit(phi)
        tangent = self.direction[:, None] * np.stack([-radial[:, 1], radial[:, 0]], 1)
        slide = np.clip(tangent + PUSH * radial, -1.0, 1.0)
        at_end = self.at_wall & (((self.direction > 0) & (phi > np.pi)) | ((self.direction < 0) & (phi < 0) & (phi > -np.pi / 2)))
        self.direction[at_end] *= -1  # missed the door (should not happen): sweep back
        search = np.where(self.at_wall[:, None], slide, _toward(pos, 0.97 * _unit(start_angle)))
        # exploiting: go just inside the door, then out
        known = ~np.isnan(self.door)
        door_xy = _unit(np.nan_to_num(self.door))
        self.inside_door |= known & (np.linalg.norm(pos - 0.9 * door_xy, axis=1) < 0.08)
        exploit_target = np.where(self.inside_door[:, None], 1.4 * door_xy, 0.9 * door_xy)
        action = np.where(known[:, None], _toward(pos, exploit_target), search)
        return np.where(outside[:, None], 0.0, action)


def scripted_policy(name: str) -> EscapeRoomScriptedPolicy:
    return EscapeRoomScriptedPolicy()


def reference(name: str, n_tasks: int = 1000, seed: int = 12345) -> dict[str, Any]:
    from mamba_edu.rollout import evaluate

    measured = evaluate(EscapeRoomScriptedPolicy(), name, n_tasks=n_tasks, seed=seed)
    return {"env": name, **measured, "exact": False, "bayes_optimal_return": None,
            "method": f"scripted wall sweep then straight to the remembered door, measured on {n_tasks} held-out tasks"}
