"""Looking inside a trained Dreamer/MAMBA agent (for notebooks and the Fig. 2 heatmaps).

* :func:`rollout_with_latents` — roll out the agent and keep its posterior state (its belief,
  paper Sec. 3.1) at every step.
* :func:`rooms_reward_map` — the world model's predicted reward at every grid cell of Rooms-N for
  a given belief state: from the agent's current cell, the prior imagines the shortest path of
  actions to each cell and the reward head is read on arrival. This is how a model-based agent
  "decodes" its belief into a reward map, the counterpart of VariBAD's reward decoder (Fig. 2).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mamba_edu.rollout import Rollout, rollout


class _Recorder:
    def __init__(self, agent) -> None:
        self.agent = agent
        self.states: list[dict[str, torch.Tensor]] = []

    def reset(self, n: int) -> None:
        self.agent.reset(n)
        self.states = []

    def act(self, obs):
        action = self.agent.act(obs)
        self.states.append({k: v.clone() for k, v in self.agent.state.items()})
        return action


def rollout_with_latents(agent, env, tasks=None, seed=None) -> tuple[Rollout, dict[str, torch.Tensor]]:
    """(rollout, latents) with ``latents[k]`` of shape (H, B, ...): the belief before each action."""
    rec = _Recorder(agent)
    ro = rollout(rec, env, tasks=tasks, seed=seed)
    latents = {k: torch.stack([s[k] for s in rec.states]) for k in rec.states[0]}
    return ro, latents


@torch.no_grad()
def rooms_reward_map(agent, state: dict[str, torch.Tensor], layout, from_cell: int, max_steps: int = 60
                     ) -> np.ndarray:
    """Predicted reward on arrival at every free cell, imagined from ``state`` at ``from_cell``.

    ``state``: one posterior state (tensors with a leading batch dim of 1). Returns an array of
    shape (width, height) with NaN at walls.
    """
    from mamba_edu.references.rooms import RoomsScriptedPolicy

    toward = RoomsScriptedPolicy(layout.n_rooms).toward
    free = [c for c in range(layout.n_cells) if layout.free[tuple(layout.xy(c))]]
    n = len(free)
    s = {k: v.expand(n, *v.shape[1:]).clone() for k, v in state.items()}
    cur = np.full(n, from_cell)
    targets = np.array(free)
    out = np.full(n, np.nan)
    arrived = cur == targets
    rssm, eye = agent.wm.rssm, torch.eye(agent.action_dim, device=agent.device)
    # a cell equal to the current one: imagine a no-op step
    for _ in range(max_steps):
        act = np.where(arrived, 0, toward[cur, targets])
        s = rssm.img_step(s, eye[torch.as_tensor(act, device=agent.device)], sample=False)
        cur = np.where(arrived, cur, layout.next_cell[cur, act])
        reward = agent.wm.reward(rssm.features(s)).cpu().numpy()
        now = (cur == targets) & np.isnan(out)
        out[now] = reward[now]
        arrived = cur == targets
        if not np.isnan(out).any():
            break
    grid = np.full((layout.width, layout.height), np.nan)
    for c, v in zip(free, out):
        grid[tuple(layout.xy(c))] = v
    return grid


def straight_path_actions(start: np.ndarray, goal: np.ndarray, step_size: float) -> list[np.ndarray]:
    """Actions that drive a point from ``start`` to ``goal`` (arrays of shape (..., 2)) under the
    PointRobot rule p ← p + step_size·clip(a, −1, 1): each component moves at full speed until it is
    within one step of its target, then lands on it. Returns one (..., 2) action array per step, as many
    as the farthest point needs; a component that has landed gets exactly zero actions from then on
    (no rounding residue), so a point's arrival is the step after its last nonzero action."""
    pos = np.asarray(start, dtype=np.float64).copy()
    goal = np.broadcast_to(np.asarray(goal, dtype=np.float64), pos.shape)
    n = int(np.ceil(np.max(np.abs(goal - pos), initial=0.0) / step_size - 1e-9))
    actions = []
    for _ in range(n):
        gap = goal - pos
        actions.append(np.where(gap == 0.0, 0.0, np.clip(gap / step_size, -1.0, 1.0)))
        pos = np.where(np.abs(gap) <= step_size, goal, pos + step_size * actions[-1])   # landing is exact
    return actions


@torch.no_grad()
def reward_on_arrival(agent, states: dict[str, torch.Tensor], actions: list[np.ndarray]) -> np.ndarray:
    """Imagine each of N states forward under its row of ``actions`` (a non-empty list of (N, action_dim) arrays,
    one per step) with the prior's mode, and read the reward head on each row's arrival: the step of its last
    nonzero action (the first step where a row has none). Returns (N,) predicted rewards."""
    arrival = np.ones(len(actions[0]), dtype=np.int64)
    for i, a in enumerate(actions):
        arrival[np.any(a != 0.0, axis=-1)] = i + 1
    rssm = agent.wm.rssm
    reward = np.empty(len(arrival))
    for i, a in enumerate(actions):
        states = rssm.img_step(states, torch.as_tensor(a, dtype=torch.float32, device=agent.device), sample=False)
        now = arrival == i + 1
        if now.any():
            reward[now] = agent.wm.reward(rssm.features(states)).cpu().numpy()[now]
    return reward


@torch.no_grad()
def point_robot_reward_arc(agent, states: dict[str, torch.Tensor], positions: np.ndarray, angles: np.ndarray,
                           chunk: int = 4096) -> np.ndarray:
    """Predicted reward on arrival at every goal candidate g(θ) = (cos θ, sin θ) of PointRobot, imagined
    from each of B beliefs.

    ``states``: posterior states with a leading batch dim B; ``positions``: (B, 2), where the robot is
    in each; ``angles``: (A,). From belief b at position p_b the prior imagines the straight path of
    :func:`straight_path_actions` to g(θ) and the reward head is read on arrival (a candidate at the
    robot's own position: one imagined zero-action step). Returns an array of shape (B, A): the
    world model's belief about where on the arc the reward is (the PointRobot counterpart of
    :func:`rooms_reward_map`).
    """
    from mamba_edu.envs.point_robot import STEP_SIZE

    positions = np.asarray(positions, dtype=np.float64)
    angles = np.asarray(angles, dtype=np.float64)
    B, A = len(positions), len(angles)
    goals = np.stack([np.cos(angles), np.sin(angles)], -1)                    # (A, 2)
    start = np.repeat(positions, A, axis=0)                                   # (B·A, 2), belief-major
    target = np.tile(goals, (B, 1))
    which = np.repeat(np.arange(B), A)
    out = np.empty(B * A)
    for lo in range(0, B * A, chunk):
        sl = slice(lo, min(lo + chunk, B * A))
        idx = torch.as_tensor(which[sl], device=agent.device)
        actions = straight_path_actions(start[sl], target[sl], STEP_SIZE) or [np.zeros_like(start[sl])]
        out[sl] = reward_on_arrival(agent, {k: v[idx] for k, v in states.items()}, actions)
    return out.reshape(B, A)
