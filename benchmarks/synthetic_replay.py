"""A Dreamer/MAMBA agent with a replay of synthetic PointRobot-sized meta-episodes (for timing only).

Vector observations of 4 numbers (position, previous reward, time), 2-D continuous actions; the
data is random because only the cost of an update is measured. Used by ``agent_throughput.py``
and ``profile_update.py``.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from mamba_edu.agents.dreamer.agent import DreamerAgent
from mamba_edu.agents.dreamer.config import resolve_config
from mamba_edu.agents.dreamer.replay import Replay


def make(algo: str, H: int, presets: list[str], imag_horizon: int | None, episodes: int = 32,
         overrides: dict | None = None) -> tuple[DreamerAgent, Replay]:
    """(agent, replay holding ``episodes`` meta-episodes of H transitions); ``overrides``: more config fields;
    ``imag_horizon`` None: the presets' value."""
    horizon = {} if imag_horizon is None else {"imag_horizon": imag_horizon}
    cfg = resolve_config(algo, "PointRobot", presets, {**horizon, "stale_check_every": 0, **(overrides or {})})
    obs = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    act = gym.spaces.Box(-1, 1, (2,), np.float32)
    agent = DreamerAgent(cfg, obs, act, H)
    rp = Replay(2 * episodes * (H + 1), H + 1, agent.replay_layout, 2, 0)
    agent.prepare_replay(rp)
    rng = np.random.default_rng(0)
    slots = rp.add({"obs": rng.normal(size=(episodes, H + 1, 4)).astype(np.float32),
                    "prev_action": rng.uniform(-1, 1, (episodes, H + 1, 2)).astype(np.float32),
                    "reward": rng.random((episodes, H + 1)).astype(np.float32),
                    "terminal": np.zeros((episodes, H + 1), np.float32)})
    agent.episodes_added(rp, slots)
    return agent, rp
