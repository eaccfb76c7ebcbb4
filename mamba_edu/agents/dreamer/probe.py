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
