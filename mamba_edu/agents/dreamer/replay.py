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
* :meth:`Replay.sample_prefix_windows` — no-grad prefix (issue #10): like the full-context
  sampler, plus one window start per sequence; the prefix before it is encoded without autograd.
* :meth:`Replay.sample_stored_windows` — stored-state burn-in (R2D2-style): windows of L steps
  that weight every step of the meta-episode equally, each preceded by a no-gradient burn-in
  that starts from the posterior state stored for that meta-episode
  (:meth:`Replay.enable_state_store`), so the window still sees the meta-episode's whole past.
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
        self.states: dict[str, np.ndarray] = {}
        self.stride = 0

    def __len__(self) -> int:
        return self.size

    @property
    def steps(self) -> int:
        return self.size * self.length

    def add(self, episodes: dict[str, np.ndarray]) -> np.ndarray:
        """Add a batch of complete episodes (arrays shaped (n, H+1, ...)); returns their slots."""
        n = len(episodes["reward"])
        slots = []
        for i in range(n):
            for k in self.data:
                self.data[k][self.next] = episodes[k][i]
            if self.states:
                self.states["version"][self.next] = -1
            slots.append(self.next)
            self.next = (self.next + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
            self.episodes_added += 1
        return np.asarray(slots, dtype=np.int64)

    def sample_prefix_windows(self, batch: int, length: int, prefix: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """No-grad prefix (issue #10): B episodes from step 0 cut to ``prefix``, and (B,) window starts
        s uniform in [0, prefix − length] (the window is [s, s + length))."""
        prefix = int(min(max(prefix, 1), self.length))
        length = min(length, prefix)
        eps = self._pick(batch)
        seqs = {k: v[eps, :prefix] for k, v in self.data.items()}
        return seqs, self.rng.integers(0, prefix - length + 1, size=batch)

    # ----- stored posterior states (issue #10) ------------------------------------------------
    def enable_state_store(self, stride: int, deter: int, stoch: int) -> None:
        """Keep, per stored meta-episode, the posterior state entering every ``stride``-th step.

        Checkpoint j holds the RSSM state after observing step j·stride − 1 (deterministic part
        and the sampled class of each categorical), and the update count that wrote it
        (``version``; −1 = never written). Checkpoint 0 is the learned initial state and is
        not stored.
        """
        self.stride = int(stride)
        n_ckpt = (self.length + self.stride - 1) // self.stride
        self.states = {
            "deter": np.zeros((self.capacity, n_ckpt, deter), np.float32),
            "stoch": np.zeros((self.capacity, n_ckpt, stoch), np.uint8),
            "version": np.full((self.capacity, n_ckpt), -1, np.int64),
        }

    def write_states(self, slots: np.ndarray, ckpt: np.ndarray, deter: np.ndarray, stoch_idx: np.ndarray,
                     version: int) -> None:
        """Store checkpoint states: ``slots``, ``ckpt`` (n,), ``deter`` (n, D), ``stoch_idx`` (n, S)."""
        self.states["deter"][slots, ckpt] = deter
        self.states["stoch"][slots, ckpt] = stoch_idx
        self.states["version"][slots, ckpt] = version

    def sample_stored_windows(self, batch: int, length: int, burn_in: int, prefix: int) -> dict[str, Any]:
        """Stored-state burn-in: B windows of ``length`` steps, each after a burn-in from a stored state.

        Every step of the prefix H' (``prefix``) is trained on equally often: a start s is drawn
        uniformly from [−(L−1), H'−1], the window [s, s+L) is shifted into the prefix
        (w = clip(s, 0, H'−L)) and only its steps inside [s, s+L) carry loss (``weights``), so each
        step t lies in the weighted part for exactly L of the H'+L−1 draws.

        The burn-in starts at the last checkpoint at least ``burn_in`` steps before w
        (c = stride·⌊(w − burn_in)/stride⌋; c ≤ 0: the initial state at step 0), so it is
        b = w − max(c, 0) ∈ [0, burn_in + stride − 1] steps long. Rows are aligned on the longest
        possible burn-in: the data covers steps [w − B_max, w + L) (steps before 0 repeat step 0),
        and ``insert`` = B_max − b is the burn-in step at which the row's start state enters.
        """
        prefix = int(min(max(prefix, 1), self.length))
        length = min(length, prefix)
        eps = self._pick(batch)
        s = self.rng.integers(-(length - 1), prefix, size=batch)
        w = np.clip(s, 0, prefix - length)
        offsets = w[:, None] + np.arange(length)[None]
        weights = ((offsets >= s[:, None]) & (offsets < s[:, None] + length)).astype(np.float32)
        c = (w - burn_in) // self.stride * self.stride
        b_max = burn_in + self.stride - 1
        idx = np.clip(w[:, None] + np.arange(-b_max, length)[None], 0, None)
        seqs = {k: v[eps[:, None], idx] for k, v in self.data.items()}
        j = np.clip(c // self.stride, 0, None)
        return {"seqs": seqs, "window_start": w, "start": c, "insert": b_max - (w - np.maximum(c, 0)),
                "burn_in": b_max, "weights": weights, "slots": eps,
                "deter": self.states["deter"][eps, j], "stoch": self.states["stoch"][eps, j],
                "version": np.where(c > 0, self.states["version"][eps, j], -2)}

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
        state = {"data": {k: v[: self.size] for k, v in self.data.items()}, "size": self.size, "next": self.next,
                 "episodes_added": self.episodes_added, "rng": self.rng.bit_generator.state}
        if self.states:
            state["states"] = {k: v[: self.size] for k, v in self.states.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"replay checkpoint holds {size} episodes but capacity is {self.capacity}")
        for k, v in state["data"].items():
            if k not in self.data:
                raise ValueError(f"replay checkpoint has unknown key {k!r}")
            self.data[k][:size] = np.asarray(v)
        if self.states and "states" in state:
            for k, v in state["states"].items():
                self.states[k][:size] = np.asarray(v)
        self.size, self.next, self.episodes_added = size, int(state["next"]), int(state["episodes_added"])
        self.rng.bit_generator.state = state["rng"]
