"""Looking inside the baselines (for notebooks and the Fig. 2 reward-prediction heatmaps).

* :func:`rollout_with_beliefs` — roll out a learner's policy and return the belief at every
  step: VariBAD's (μ_t, log σ_t²) for t = 0..H (b_0 before any data), or RL²'s features after
  the GRU. Plot ``beliefs["mean"][:, b]`` against t for the belief trajectory of one episode.
* :func:`reward_map` — what the reward decoder predicts at every state for given beliefs:
  on Rooms-N a (W, 3) grid of p(r = 1 | cell, z) (NaN on walls), the picture of paper Fig. 2
  ("we visualized the reward prediction using the learned decoder in VariBAD in each state of
  the state space and for every encoded belief", Sec. 3.2); on 2-D continuous tasks a square
  grid of predicted rewards over positions.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mamba_edu.rollout import Rollout, rollout


def _learner_agent(learner_or_agent: Any):
    return getattr(learner_or_agent, "agent", learner_or_agent)


def rollout_with_beliefs(learner: Any, env: Any, tasks: list | None = None, seed: int | None = None,
                         greedy: bool = True) -> tuple[Rollout, dict[str, torch.Tensor]]:
    """(rollout, beliefs) for a batched env (``mamba_edu.envs.make_batched(name, B)``).

    VariBAD/HyperX: ``beliefs = {"mean": (H+1, B, L), "logvar": (H+1, B, L)}``, entry t after t
    transitions (what the policy saw before its t-th action; entry H after the last one).
    RL²: ``{"features": (H+1, B, latent_dim)}``.
    """
    agent = _learner_agent(learner)
    ro = rollout(agent.actor(greedy=greedy), env, tasks=tasks, seed=seed)
    obs = torch.as_tensor(np.asarray(ro.obs), dtype=torch.float32)
    acts = torch.as_tensor(np.asarray(ro.actions))
    acts = acts.long() if not torch.is_floating_point(acts) else acts.float()
    first, second = agent.beliefs(obs, acts)
    if second is None:
        return ro, {"features": first}
    return ro, {"mean": first, "logvar": second}


@torch.no_grad()
def reward_map(learner: Any, belief_mean: torch.Tensor, layout: Any = None, extent: float = 1.5,
               resolution: int = 61) -> np.ndarray:
    """The reward decoder's prediction at every state for beliefs z = μ of shape (..., L).

    * grid envs (the learner built on Rooms-N, or ``layout`` given): (..., W, 3) array indexed
      [x, y] (y = 0 the top row), p(r = 1) for the Bernoulli decoders or r̂, NaN on walls;
    * otherwise (2-D positions, e.g. PointRobot): (..., resolution, resolution) array over
      [−extent, extent]², indexed [ix, iy] with x = linspace(−extent, extent)[ix].

    Decoders that also condition on the action (MetaBandit) are not supported.
    """
    agent = _learner_agent(learner)
    decoder = agent.vae.reward_decoder
    if decoder.kind != "bernoulli-cells" and getattr(decoder, "fc_a", None) is not None:
        raise ValueError("reward_map: this reward decoder also conditions on the action; no state map exists")
    layout = layout if layout is not None else getattr(learner, "layout", None)
    z = torch.as_tensor(belief_mean, dtype=torch.float32)
    lead = z.shape[:-1]
    if layout is not None:
        if decoder.kind == "bernoulli-cells":
            pred = decoder.expected_reward(z)                                      # (..., n_cells)
        else:
            states = torch.as_tensor(layout.obs_table)                             # (n_cells, 2)
            pred = decoder.expected_reward(z[..., None, :], states)
        grid = pred.reshape(*lead, layout.width, layout.height).numpy().astype(np.float64)
        return np.where(layout.free, grid, np.nan)
    xs = torch.linspace(-extent, extent, resolution)
    pts = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)
    if agent.split.state_dim != 2:
        raise ValueError(f"reward_map: needs 2-D states or a grid layout, got state dim {agent.split.state_dim}")
    pred = decoder.expected_reward(z[..., None, :], pts)
    return pred.reshape(*lead, resolution, resolution).numpy()
