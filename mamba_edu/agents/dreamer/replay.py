"""Replay of whole meta-episodes, with Dreamer's and MAMBA's samplers (paper Sec. 3.3).

A stored meta-episode has H+1 steps (the first observation, then one per transition) in the
DreamerV3 convention: at step t we keep the observation o_t, the action a_{t−1} that led to it
(zeros at t = 0), the reward r_t received on arriving and whether o_t is terminal.

Samplers (each returns batch-major numpy arrays):

* :meth:`Replay.sample_windows` — Dreamer: B random windows of L consecutive steps starting
  anywhere; the RSSM starts each window from its initial state, so what happened before the
  window is lost (the paper's *encoding context* problem, Sec. 3.1).
* :meth:`Replay.sample_full_context` — MAMBA: B meta-episodes from step 0, cut to the
  horizon-schedule prefix H', plus L loss indices per sequence drawn uniformly from [0, H').
* :func:`wm_horizon` — the horizon schedule: H' grows linearly from ``initial`` to H over N_WM
  env steps.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def wm_horizon(env_steps: int, full_length: int, initial: int, schedule_steps: int) -> int:
    """World-model prefix length H' after ``env_steps`` (paper Sec. 3.3, "Scheduling...")."""
    if schedule_steps <= 0 or initial >= full_length:
        return full_length
    frac = min(1.0, env_steps / schedule_steps)
    return int(min(full_length, round(initial + frac * (full_length - initial))))


class Replay:
    """First-in first-out store of complete meta-episodes of equal length H+1."""

    def __init__(self, capacity_steps: int, length: int, obs_space: dict[str, tuple], action_dim: int,
                 seed: int = 0) -> None:
        """``obs_space`` maps observation keys to (shape, dtype); key ``"obs"`` for vector envs."""
        self.length = int(length)
        self.capacity = max(1, int(capacity_steps) // self.length)
        self.obs_keys = list(obs_space)
        self.data: dict[str, np.ndarray] = {
            k: np.zeros((self.capacity, self.length, *shape), dtype=dtype) for k, (shape, dtype) in obs_space.items()
        }
        self.data["prev_action"] = np.zeros((self.capacity, self.length, action_dim), np.float32)
        self.data["reward"] = np.zeros((self.capacity, self.length), np.float32)
        self.data["terminal"] = np.zeros((self.capacity, self.length), np.float32)
        self.size = 0      # stored episodes
        self.next = 0      # slot of the next insert
        self.episodes_added = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    @property
    def steps(self) -> int:
        return self.size * self.length

    def add(self, episodes: dict[str, np.ndarray]) -> None:
        """Add a batch of complete episodes (arrays shaped (n, H+1, ...))."""
        n = len(episodes["reward"])
        for i in range(n):
            for k in self.data:
                self.data[k][self.next] = episodes[k][i]
            self.next = (self.next + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
            self.episodes_added += 1

    def _pick(self, batch: int) -> np.ndarray:
        if self.size == 0:
            raise RuntimeError("replay is empty: collect data before sampling")
        return self.rng.integers(0, self.size, size=batch)

    def sample_windows(self, batch: int, length: int) -> dict[str, np.ndarray]:
        """Dreamer: B windows of ``length`` consecutive steps (batch-major)."""
        length = min(length, self.length)
        eps = self._pick(batch)
        starts = self.rng.integers(0, self.length - length + 1, size=batch)
        idx = starts[:, None] + np.arange(length)[None]
        return {k: v[eps[:, None], idx] for k, v in self.data.items()}

    def sample_full_context(self, batch: int, n_indices: int, prefix: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """MAMBA: B episodes from step 0 cut to ``prefix`` steps, and (B, L) loss indices in [0, prefix)."""
        prefix = int(min(max(prefix, 1), self.length))
        eps = self._pick(batch)
        seqs = {k: v[eps, :prefix] for k, v in self.data.items()}
        indices = self.rng.integers(0, prefix, size=(batch, n_indices))
        return seqs, indices

    # ----- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"data": {k: v[: self.size] for k, v in self.data.items()}, "size": self.size, "next": self.next,
                "episodes_added": self.episodes_added, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"replay checkpoint holds {size} episodes but capacity is {self.capacity}")
        for k, v in state["data"].items():
            if k not in self.data:
                raise ValueError(f"replay checkpoint has unknown key {k!r}")
            self.data[k][:size] = np.asarray(v)
        self.size, self.next, self.episodes_added = size, int(state["next"]), int(state["episodes_added"])
        self.rng.bit_generator.state = state["rng"]
