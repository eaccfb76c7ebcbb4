"""Replay of whole meta-episodes, with Dreamer's and MAMBA's samplers (paper Sec. 3.3).

A stored meta-episode has H+1 steps (the first observation, then one per transition) in the
DreamerV3 convention: at step t we keep the observation o_t, the action a_{t−1} that led to it
(zeros at t = 0), the reward r_t received on arriving and whether o_t is terminal.

Samplers (each returns batch-major numpy arrays; each draws its meta-episodes with
:meth:`Replay.pick` unless given ``slots``, so a caller that wants to know which meta-episodes a
batch holds draws them first and passes them in):

* :meth:`Replay.sample_windows` — Dreamer: B random windows of L consecutive steps starting
  anywhere; the RSSM starts each window from its initial state, so what happened before the
  window is lost (the paper's *encoding context* problem, Sec. 3.1).
* :meth:`Replay.sample_full_context` — MAMBA: B meta-episodes from step 0, cut to the
  horizon-schedule prefix H', plus L loss indices per sequence drawn uniformly from [0, H').
* :meth:`Replay.sample_prefix_windows` — no-gradient prefix: like the full-context sampler, plus
  one window start per sequence; the prefix before it is encoded without autograd.
* :meth:`Replay.sample_burn_in_windows` — stored-state burn-in (R2D2-style): windows of L steps
  that weight every step of the meta-episode equally, each preceded by the steps of a
  no-gradient burn-in from a checkpoint step (a multiple of the stride), where the context
  strategy keeps a stored posterior state (:class:`mamba_edu.agents.dreamer.context.StoredStates`).
* :func:`wm_horizon` — the horizon schedule: H' grows linearly from ``initial`` to H over N_WM
  env steps.

The replay holds only episodes. Per-episode data that others keep beside them (the stored
posterior states) is *attached* (:meth:`Replay.attach`): the replay tells it when a slot gets a new
meta-episode and saves and restores it with its own state, under the attachment's name.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np


def wm_horizon(env_steps: int, full_length: int, initial: int, schedule_steps: int) -> int:
    """World-model prefix length H' after ``env_steps`` (paper Sec. 3.3, "Scheduling...")."""
    if schedule_steps <= 0 or initial >= full_length:
        return full_length
    frac = min(1.0, env_steps / schedule_steps)
    return int(min(full_length, round(initial + frac * (full_length - initial))))


class EpisodeAttachment(Protocol):
    """Per-slot data kept beside the replay's episodes (see :meth:`Replay.attach`)."""

    def episodes_replaced(self, slots: np.ndarray) -> None:
        """Slots ``slots`` now hold new meta-episodes: what was kept for the old ones is void."""

    def state_dict(self, size: int) -> dict[str, Any]:
        """The data of slots [0, size) for a checkpoint."""

    def load_state_dict(self, state: dict[str, Any], size: int) -> None:
        """Restore :meth:`state_dict`'s output into slots [0, size)."""


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
        self.rng = np.random.default_rng(seed)   # every sampler draws from it; saved with the replay
        self.attached: dict[str, EpisodeAttachment] = {}

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
            slots.append(self.next)
            self.next = (self.next + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
            self.episodes_added += 1
        slots = np.asarray(slots, dtype=np.int64)
        for attachment in self.attached.values():
            attachment.episodes_replaced(slots)
        return slots

    def attach(self, name: str, attachment: EpisodeAttachment) -> None:
        """Keep ``attachment`` beside the episodes: it hears of every slot :meth:`add` overwrites, and
        :meth:`state_dict` saves it under ``name`` (replacing any attachment of that name)."""
        self.attached[name] = attachment

    def pick(self, batch: int) -> np.ndarray:
        """Draw ``batch`` stored meta-episodes uniformly, with replacement, from :attr:`rng`: their slots (B,)."""
        if self.size == 0:
            raise RuntimeError("replay is empty: collect data before sampling")
        return self.rng.integers(0, self.size, size=batch)

    def _slots(self, batch: int, slots: np.ndarray | None) -> np.ndarray:
        return self.pick(batch) if slots is None else np.asarray(slots, dtype=np.int64)

    def sample_windows(self, batch: int, length: int, slots: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Dreamer: B windows of ``length`` consecutive steps (batch-major), from meta-episodes ``slots``
        (default: :meth:`pick`)."""
        length = min(length, self.length)
        eps = self._slots(batch, slots)
        starts = self.rng.integers(0, self.length - length + 1, size=len(eps))
        idx = starts[:, None] + np.arange(length)[None]
        return {k: v[eps[:, None], idx] for k, v in self.data.items()}

    def sample_full_context(self, batch: int, n_indices: int, prefix: int,
                            slots: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """MAMBA: B episodes from step 0 cut to ``prefix`` steps, and (B, L) loss indices in [0, prefix)."""
        prefix = int(min(max(prefix, 1), self.length))
        eps = self._slots(batch, slots)
        seqs = {k: v[eps, :prefix] for k, v in self.data.items()}
        indices = self.rng.integers(0, prefix, size=(len(eps), n_indices))
        return seqs, indices

    def sample_prefix_windows(self, batch: int, length: int, prefix: int,
                              slots: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """No-gradient prefix: B episodes from step 0 cut to ``prefix``, and (B,) window starts s uniform
        in [0, prefix − length] (the window is [s, s + length))."""
        prefix = int(min(max(prefix, 1), self.length))
        length = min(length, prefix)
        eps = self._slots(batch, slots)
        seqs = {k: v[eps, :prefix] for k, v in self.data.items()}
        return seqs, self.rng.integers(0, prefix - length + 1, size=len(eps))

    def sample_burn_in_windows(self, batch: int, length: int, burn_in: int, stride: int, prefix: int,
                               slots: np.ndarray | None = None) -> dict[str, Any]:
        """Stored-state burn-in: B windows of ``length`` steps, each after a burn-in from a checkpoint step.

        Every step of the prefix H' (``prefix``) is trained on equally often: a start s is drawn
        uniformly from [−(L−1), H'−1], the window [s, s+L) is shifted into the prefix
        (w = clip(s, 0, H'−L)) and only its steps inside [s, s+L) carry loss (``weights``), so each
        step t lies in the weighted part for exactly L of the H'+L−1 draws.

        The burn-in starts at the last checkpoint step at least ``burn_in`` steps before w
        (c = stride·⌊(w − burn_in)/stride⌋; c ≤ 0: the initial state at step 0), so it is
        b = w − max(c, 0) ∈ [0, burn_in + stride − 1] steps long. Rows are aligned on the longest
        possible burn-in: the data covers steps [w − B_max, w + L) (steps before 0 repeat step 0),
        and ``insert`` = B_max − b is the burn-in step at which the row's start state enters.

        Returns ``seqs`` (B, B_max + L, ...), ``slots`` (B,), ``window_start`` w, ``start`` c,
        ``insert``, ``burn_in`` B_max and ``weights`` (B, L).
        """
        prefix = int(min(max(prefix, 1), self.length))
        length = min(length, prefix)
        eps = self._slots(batch, slots)
        s = self.rng.integers(-(length - 1), prefix, size=len(eps))
        w = np.clip(s, 0, prefix - length)
        offsets = w[:, None] + np.arange(length)[None]
        weights = ((offsets >= s[:, None]) & (offsets < s[:, None] + length)).astype(np.float32)
        c = (w - burn_in) // stride * stride
        b_max = burn_in + stride - 1
        idx = np.clip(w[:, None] + np.arange(-b_max, length)[None], 0, None)
        seqs = {k: v[eps[:, None], idx] for k, v in self.data.items()}
        return {"seqs": seqs, "slots": eps, "window_start": w, "start": c, "insert": b_max - (w - np.maximum(c, 0)),
                "burn_in": b_max, "weights": weights}

    # ----- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"data": {k: v[: self.size] for k, v in self.data.items()}, "size": self.size, "next": self.next,
                 "episodes_added": self.episodes_added, "rng": self.rng.bit_generator.state}
        for name, attachment in self.attached.items():
            state[name] = attachment.state_dict(self.size)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"replay checkpoint holds {size} episodes but capacity is {self.capacity}")
        for k, v in state["data"].items():
            if k not in self.data:
                raise ValueError(f"replay checkpoint has unknown key {k!r}")
            self.data[k][:size] = np.asarray(v)
        for name, attachment in self.attached.items():
            if name in state:
                attachment.load_state_dict(state[name], size)
        self.size, self.next, self.episodes_added = size, int(state["next"]), int(state["episodes_added"])
        self.rng.bit_generator.state = state["rng"]
