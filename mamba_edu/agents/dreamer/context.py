"""How a training batch gets the context from the start of its meta-episode (paper Sec. 3.1-3.3).

The world model's latent state is MAMBA's belief: to infer the task it must have encoded the
meta-episode from its first step. Dreamer trains on windows of L steps that each start from the
RSSM's initial state, so a window that starts after the first sub-episode never learns to carry
what was seen there (the paper's *encoding context* problem, Sec. 3.1). MAMBA (Sec. 3.3) instead
unrolls the RSSM over the whole meta-episode from step 0 (up to the horizon-schedule prefix H'),
which costs a backpropagated pass over up to H = K·T steps per update (the paper's "runtime
limitation", Sec. 4). Each way of building a batch is a :class:`ContextStrategy`:

* :class:`WindowContext` (``full_context=False``) — Dreamer: windows of L steps anywhere in the
  meta-episode, from the initial state; the context before a window is lost.
* :class:`FullContext` (``context="full"``) — MAMBA as published: the full meta-episode unroll,
  backpropagated through the prefix H', with the losses at L sampled indices per sequence and
  imagination from ``imag_starts`` sampled states.
* :class:`NoGradPrefixContext` (``context="nograd-prefix"``) — the same full unroll, but only a
  window [s, s+L) anywhere in the prefix is run with autograd; the RSSM encodes [0, s) without it.
  The window's states have seen the whole meta-episode; gradients stop at its start (truncated
  backpropagation through time). Losses on the L window steps.
* :class:`StoredStateContext` (``context="stored-state"``) — R2D2-style (Kapturowski et al.,
  2019): keep, per stored meta-episode, the posterior state entering every ``state_stride``-th step
  (:class:`StoredStates`); a window [s, s+L) starts from the state stored at s − ``burn_in``,
  refreshed by a ``burn_in``-step no-gradient pass under the current model, so the window still
  sees the meta-episode from step 0 without re-encoding it. Stored states are written when a
  meta-episode enters the replay, rewritten from every training window's fresh posteriors, and
  refreshed round-robin (``batch_size`` meta-episodes every ``state_refresh_every`` updates),
  which bounds their age by ``state_refresh_every · ⌈episodes / batch_size⌉`` updates. Staleness
  is measured (``ctx/state_age``, ``ctx/stale_deter_err``).

The last three give the world-model loss states that have seen the meta-episode from step 0; they
differ in how that past is computed and what gradients flow through it. :func:`make_context` picks
the strategy from the config, once; the agent then only talks to the :class:`ContextStrategy`
interface. A :class:`ContextBatch` carries the time-major batch, the state the RSSM starts from,
the loss indices (``full`` only) or per-step loss weights (``stored-state`` only), and which
meta-episodes and steps it holds (``episodes``, ``window_start``).

Every RSSM pass a strategy runs itself (a no-gradient prefix, a burn-in, refreshing stored states,
the staleness check) draws its latent samples' noise from the strategy's ``noise`` source
(:data:`~mamba_edu.agents.dreamer.world_model.NoiseFn`; default fresh Gumbel noise,
:func:`~mamba_edu.agents.dreamer.world_model.zero_noise` for deterministic passes in tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from mamba_edu.agents.dreamer.distributions import gumbel_noise
from mamba_edu.agents.dreamer.replay import Replay, wm_horizon
from mamba_edu.agents.dreamer.time_major import gather_time, slice_time, where_rows
from mamba_edu.agents.dreamer.world_model import NoiseFn, WorldModel

#: the values of ``cfg.context`` (with ``full_context=True``); ``full_context=False`` is Dreamer's windows
STRATEGIES = ("full", "nograd-prefix", "stored-state")

State = dict[str, torch.Tensor]

#: :attr:`StoredStates.version` of a checkpoint not computed since its meta-episode entered the replay
NEVER_WRITTEN = -1
#: the version :meth:`StoredStates.lookup` reports for a burn-in that starts at step 0 from the RSSM's
#: learned initial state (no stored state is involved)
FROM_INITIAL = -2

# Kept for the exercises, which compare a student's gather against the package's.
_take_time = gather_time


@dataclass
class ContextBatch:
    """One update's world-model batch, as a :class:`ContextStrategy` built it."""
    batch: dict[str, Any]                    #: time-major tensors the loss runs on
    indices: torch.Tensor | None = None      #: (L, B) loss indices (``full``), else all steps
    start: State | None = None               #: RSSM state entering the batch's first step (None: initial)
    prefix: int = 0                          #: world-model horizon H' used
    metrics: dict[str, float] = field(default_factory=dict)
    weights: torch.Tensor | None = None      #: (T, B) per-step loss weights (stored-state), else all 1
    episodes: np.ndarray | None = None       #: (B,) replay slots of the meta-episodes the columns come from
    #: (B,) the meta-episode step each column's first time step holds (None: Dreamer's windows, not recorded)
    window_start: np.ndarray | None = None


def stored_state(deter: np.ndarray, stoch: np.ndarray, classes: int, device: torch.device | str = "cpu") -> State:
    """The RSSM state a stored checkpoint stands for: deterministic state ``deter`` (..., deter) and
    the sampled class index of each latent ``stoch`` (..., stoch) as one-hot vectors. The logits are
    not stored (a state's successor depends only on deter and the sample); they are zeros."""
    one_hot = torch.nn.functional.one_hot(torch.as_tensor(stoch, device=device).long(), classes).float()
    return {"deter": torch.as_tensor(deter, device=device), "stoch": one_hot, "logits": torch.zeros_like(one_hot)}


class StoredStates:
    """The stored-state strategy's memory: per replay slot, the posterior state entering every
    ``stride``-th step of the meta-episode stored there.

    Checkpoint j holds the RSSM state after observing step j·stride − 1: its deterministic part
    (``deter``, float32) and the sampled class of each categorical latent (``stoch``, uint8), with
    the update count that wrote it (``version``; :data:`NEVER_WRITTEN` until computed for the
    slot's current meta-episode). Checkpoint 0 would be the learned initial state; it is never
    stored. The store is attached to the replay (:meth:`Replay.attach`), which voids a slot's
    checkpoints when the slot gets a new meta-episode and saves the arrays with its checkpoint
    (key ``"states"``: ``deter``, ``stoch``, ``version`` of the stored slots).
    """

    def __init__(self, capacity: int, length: int, stride: int, deter: int, stoch: int) -> None:
        self.stride = int(stride)
        self.n_ckpt = (int(length) + self.stride - 1) // self.stride
        self.deter = np.zeros((capacity, self.n_ckpt, deter), np.float32)
        self.stoch = np.zeros((capacity, self.n_ckpt, stoch), np.uint8)
        self.version = np.full((capacity, self.n_ckpt), NEVER_WRITTEN, np.int64)

    def episodes_replaced(self, slots: np.ndarray) -> None:
        self.version[slots] = NEVER_WRITTEN

    def write(self, slots: np.ndarray, ckpt: np.ndarray, deter: np.ndarray, stoch_idx: np.ndarray,
              version: int) -> None:
        """Store checkpoint states: ``slots``, ``ckpt`` (n,), ``deter`` (n, D), ``stoch_idx`` (n, S)."""
        self.deter[slots, ckpt] = deter
        self.stoch[slots, ckpt] = stoch_idx
        self.version[slots, ckpt] = version

    def lookup(self, slots: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The checkpoints at steps ``start`` (B,) (multiples of the stride; ≤ 0: the initial state) of
        meta-episodes ``slots``: (deter, stoch, version), version :data:`FROM_INITIAL` where start ≤ 0."""
        j = np.clip(start // self.stride, 0, None)
        return self.deter[slots, j], self.stoch[slots, j], np.where(start > 0, self.version[slots, j], FROM_INITIAL)

    def state_dict(self, size: int) -> dict[str, np.ndarray]:
        return {"deter": self.deter[:size], "stoch": self.stoch[:size], "version": self.version[:size]}

    def load_state_dict(self, state: dict[str, Any], size: int) -> None:
        arrays = self.state_dict(len(self.version))
        for k, v in state.items():
            arrays[k][:size] = np.asarray(v)


class ContextStrategy:
    """One way of building the world model's training batch (see the module docstring).

    The agent calls, in this order: :meth:`prepare_replay` once for its replay, :meth:`episodes_added`
    after meta-episodes enter it, then per update :meth:`sample` → world-model loss and step →
    :meth:`after_update`; :meth:`state_dict`/:meth:`load_state_dict` with its checkpoint.
    ``to_torch`` turns batch-major numpy sequences into time-major tensors; ``noise`` is the noise
    source of the RSSM passes the strategy runs itself (default: fresh Gumbel noise). Which
    meta-episodes and steps a batch holds is drawn from the replay's RNG (``replay.rng``, saved with
    the replay) and reported in the batch (:attr:`ContextBatch.episodes`, :attr:`ContextBatch.window_start`).
    """

    name: ClassVar[str]

    def __init__(self, cfg, wm: WorldModel, to_torch: Callable[[dict[str, np.ndarray]], dict[str, Any]],
                 device: torch.device, noise: NoiseFn | None = None) -> None:
        self.cfg, self.wm, self.to_torch, self.device, self.noise = cfg, wm, to_torch, device, noise

    def prepare_replay(self, replay: Replay) -> None:
        """Attach what the strategy keeps beside ``replay``'s episodes (nothing by default)."""

    def episodes_added(self, replay: Replay, slots: np.ndarray, version: int) -> None:
        """Meta-episodes entered ``replay`` at ``slots``; ``version`` is the current update count."""

    def sample(self, replay: Replay, env_steps: int, updates: int) -> ContextBatch:
        """The batch of one update after ``env_steps`` env steps and ``updates`` updates."""
        raise NotImplementedError

    def after_update(self, replay: Replay, cb: ContextBatch, post: State, updates: int) -> None:
        """Called after the world model's step with the batch and its posterior states (time-major)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (keys another strategy saved are ignored)."""

    # ----- shared pieces -------------------------------------------------------------------------
    def horizon(self, replay: Replay, env_steps: int) -> int:
        """The world-model prefix H' of the horizon schedule (paper Sec. 3.3)."""
        cfg = self.cfg
        return wm_horizon(env_steps, replay.length, cfg.wm_horizon_initial, cfg.wm_horizon_steps)

    def _initial_where(self, state: State, mask: torch.Tensor) -> State:
        """Replace the rows of ``state`` where ``mask`` holds by the RSSM's initial state."""
        return where_rows(mask, self.wm.rssm.initial(mask.shape[0]), state)


class WindowContext(ContextStrategy):
    """Dreamer: B windows of L consecutive steps starting anywhere in their meta-episodes, each
    encoded from the RSSM's initial state; loss on every step. What came before a window is not
    encoded (the encoding-context problem, paper Sec. 3.1)."""

    name = "window"

    def sample(self, replay: Replay, env_steps: int, updates: int) -> ContextBatch:
        cfg = self.cfg
        slots = replay.pick(cfg.batch_size)
        seqs = replay.sample_windows(cfg.batch_size, cfg.seq_len, slots=slots)
        return ContextBatch(self.to_torch(seqs), prefix=seqs["reward"].shape[1], episodes=slots)


class FullContext(ContextStrategy):
    """MAMBA (paper Sec. 3.3): the full meta-episode unroll. B meta-episodes from step 0, cut to the
    horizon-schedule prefix H', encoded with autograd over every step; the prediction losses are taken
    at L indices per sequence drawn uniformly from [0, H')."""

    name = "full"

    def sample(self, replay: Replay, env_steps: int, updates: int) -> ContextBatch:
        cfg = self.cfg
        prefix = self.horizon(replay, env_steps)
        slots = replay.pick(cfg.batch_size)
        seqs, idx = replay.sample_full_context(cfg.batch_size, cfg.seq_len, prefix, slots=slots)
        return ContextBatch(self.to_torch(seqs), torch.as_tensor(idx.T, device=self.device), prefix=prefix,
                            episodes=slots, window_start=np.zeros(len(slots), np.int64))


class NoGradPrefixContext(ContextStrategy):
    """The full meta-episode unroll with gradients only in a window: the RSSM encodes the prefix
    [0, s) without autograd and the window [s, s+L) (s uniform in [0, H' − L]) with it, starting from
    the prefix's last posterior state. The window's states equal the full unroll's; the loss covers
    its L steps; gradients stop at its start (truncated backpropagation through time)."""

    name = "nograd-prefix"

    def sample(self, replay: Replay, env_steps: int, updates: int) -> ContextBatch:
        cfg = self.cfg
        prefix = self.horizon(replay, env_steps)
        slots = replay.pick(cfg.batch_size)
        seqs, s = replay.sample_prefix_windows(cfg.batch_size, cfg.seq_len, prefix, slots=slots)
        batch = self.to_torch(seqs)
        L = min(cfg.seq_len, prefix)
        s_t = torch.as_tensor(s, device=self.device)
        max_s = int(s.max())
        start = self.wm.rssm.initial(len(s))
        if max_s > 0:
            with torch.no_grad():
                post = self.wm.observe(slice_time(batch, 0, max_s), noise=self.noise)
            state = gather_time(post, (s_t - 1).clamp(min=0).view(1, -1))
            start = self._initial_where({k: v[0] for k, v in state.items()}, s_t == 0)
        window = gather_time(batch, s_t.view(1, -1) + torch.arange(L, device=self.device).view(-1, 1))
        return ContextBatch(window, start=start, prefix=prefix, metrics={"ctx/nograd_steps": float(s.mean())},
                            episodes=slots, window_start=s)


class StoredStateContext(ContextStrategy):
    """R2D2-style stored states with a burn-in: windows of L steps (every step of the prefix H' weighted
    equally, :meth:`Replay.sample_burn_in_windows`), each entered from the posterior state stored for
    its meta-episode at the last checkpoint at least ``burn_in`` steps before it (:class:`StoredStates`),
    advanced to the window by a no-gradient burn-in under the current model. The window's states thus
    carry the meta-episode's context from step 0, up to the staleness of the stored state."""

    name = "stored-state"
    #: the name the store is attached to the replay under (its key in the replay's checkpoint)
    STORE = "states"

    def __init__(self, cfg, wm: WorldModel, to_torch, device: torch.device, noise: NoiseFn | None = None) -> None:
        super().__init__(cfg, wm, to_torch, device, noise)
        self._refresh_cursor = 0
        self._last_staleness: dict[str, float] = {}

    # ----- the store -------------------------------------------------------------------------------
    def prepare_replay(self, replay: Replay) -> None:
        cfg = self.cfg
        replay.attach(self.STORE, StoredStates(replay.capacity, replay.length, cfg.state_stride, cfg.deter, cfg.stoch))

    def store(self, replay: Replay) -> StoredStates:
        """The stored states kept beside ``replay`` (attached on first use if :meth:`prepare_replay` was not called)."""
        if self.STORE not in replay.attached:
            self.prepare_replay(replay)
        return replay.attached[self.STORE]

    def episodes_added(self, replay: Replay, slots: np.ndarray, version: int) -> None:
        if len(slots):
            self.refresh(replay, slots, version)

    @torch.no_grad()
    def refresh(self, replay: Replay, slots: np.ndarray, version: int, chunk: int = 64) -> None:
        """Recompute the stored checkpoints of meta-episodes ``slots`` with the current model."""
        store = self.store(replay)
        pos = np.arange(1, store.n_ckpt) * store.stride - 1   # checkpoint j holds the state after step j·stride − 1
        if len(pos) == 0:
            return
        for lo in range(0, len(slots), chunk):
            part = np.asarray(slots[lo:lo + chunk])
            seqs = {k: v[part, : pos[-1] + 1] for k, v in replay.data.items()}
            post = self.wm.observe(self.to_torch(seqs), noise=self.noise)
            self._write(store, part, pos, post, version)

    def _write(self, store: StoredStates, slots: np.ndarray, pos: np.ndarray | None, post: State, version: int,
               offset: np.ndarray | None = None) -> None:
        """Write posterior states to checkpoints. ``post`` is time-major over a window starting at
        absolute step ``offset`` (B,) (default 0); ``pos`` picks its time positions (default: every
        position whose state enters a checkpoint step, i.e. absolute step + 1 a multiple of the stride)."""
        B = len(slots)
        T = post["deter"].shape[0]
        offset = np.zeros(B, np.int64) if offset is None else np.asarray(offset)
        if pos is None:
            rows, t = np.nonzero((offset[:, None] + np.arange(T)[None] + 1) % store.stride == 0)
        else:
            rows, t = np.repeat(np.arange(B), len(pos)), np.tile(pos, B)
        ckpt = (t + offset[rows] + 1) // store.stride
        keep = (ckpt >= 1) & (ckpt < store.n_ckpt)
        rows, t, ckpt = rows[keep], t[keep], ckpt[keep]
        ti, ri = torch.as_tensor(t, device=self.device), torch.as_tensor(rows, device=self.device)
        deter = post["deter"][ti, ri].float().cpu().numpy()
        stoch = post["stoch"][ti, ri].argmax(-1).to(torch.uint8).cpu().numpy()
        store.write(slots[rows], ckpt, deter, stoch, version)

    # ----- one batch -------------------------------------------------------------------------------
    def sample(self, replay: Replay, env_steps: int, updates: int) -> ContextBatch:
        cfg = self.cfg
        store = self.store(replay)
        prefix = self.horizon(replay, env_steps)
        got = replay.sample_burn_in_windows(cfg.batch_size, cfg.seq_len, cfg.burn_in, store.stride, prefix)
        slots = got["slots"]
        deter, stoch, version = store.lookup(slots, got["start"])
        missing = version == NEVER_WRITTEN
        if missing.any():  # a checkpoint never written (e.g. replay filled by hand): compute it now
            self.refresh(replay, np.unique(slots[missing]), updates)
            deter, stoch, version = store.lookup(slots, got["start"])
        batch = self.to_torch(got["seqs"])
        n_burn = got["burn_in"]
        rssm = self.wm.rssm
        B = len(slots)
        from_initial = torch.as_tensor(got["start"] <= 0, device=self.device)
        entry = self._initial_where(stored_state(deter, stoch, cfg.classes, self.device), from_initial)
        insert = torch.as_tensor(got["insert"], device=self.device)
        state = entry
        with torch.no_grad():
            burn = slice_time(batch, 0, n_burn)
            embed = self.wm.encoder(burn["obs"])
            noise = (self.noise or gumbel_noise)((n_burn, B, cfg.stoch, cfg.classes), self.device)
            for k in range(n_burn):
                state = where_rows(insert == k, entry, state)
                state = rssm.obs_step(state, burn["prev_action"][k], embed[k], noise=noise[k])
            state = where_rows(insert == n_burn, entry, state)
        window = slice_time(batch, n_burn, None)
        stored = version >= 0
        metrics = {"ctx/state_age": float((updates - version[stored]).mean()) if stored.any() else 0.0}
        if cfg.stale_check_every and updates % cfg.stale_check_every == 0 and stored.any():
            self._last_staleness = self._staleness(replay, slots, got["window_start"], state, stored)
        metrics.update(self._last_staleness)  # the latest measurement, so every logged update carries it
        weights = torch.as_tensor(got["weights"].T, device=self.device)
        return ContextBatch(window, start=state, prefix=prefix, metrics=metrics, weights=weights, episodes=slots,
                            window_start=got["window_start"])

    @torch.no_grad()
    def _staleness(self, replay: Replay, slots: np.ndarray, window_start: np.ndarray, burned: State,
                   stored: np.ndarray) -> dict[str, float]:
        """Relative L2 gap of the deterministic state entering the window: burned-in start vs a fresh
        full-context pass (``ctx/stale_deter_err``), beside the gap between two fresh passes that
        differ only in their latent samples (``ctx/resample_deter_err``, the noise floor)."""
        rows = np.nonzero(stored)[0]
        s = window_start[rows]
        seqs = self.to_torch({k: v[slots[rows], : int(s.max())] for k, v in replay.data.items()})
        before = torch.as_tensor(s - 1, device=self.device).view(1, -1)
        fresh = gather_time(self.wm.observe(seqs, noise=self.noise)["deter"], before)[0]
        again = gather_time(self.wm.observe(seqs, noise=self.noise)["deter"], before)[0]
        burned_rows = burned["deter"][torch.as_tensor(rows, device=self.device)]
        norm = fresh.norm(dim=-1).clamp(min=1e-8)
        return {"ctx/stale_deter_err": float(((burned_rows - fresh).norm(dim=-1) / norm).mean()),
                "ctx/resample_deter_err": float(((again - fresh).norm(dim=-1) / norm).mean())}

    def after_update(self, replay: Replay, cb: ContextBatch, post: State, updates: int) -> None:
        """Write the window's posteriors back to the checkpoints it passed; refresh round-robin."""
        store = self.store(replay)
        self._write(store, cb.episodes, None, {k: v.detach() for k, v in post.items()}, updates,
                    offset=cb.window_start)
        every = self.cfg.state_refresh_every
        if every and updates % every == 0 and len(replay):
            n = min(self.cfg.batch_size, len(replay))
            slots = (self._refresh_cursor + np.arange(n)) % len(replay)
            self._refresh_cursor = int((self._refresh_cursor + n) % len(replay))
            self.refresh(replay, slots, updates)

    def state_dict(self) -> dict[str, Any]:
        return {"refresh_cursor": self._refresh_cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._refresh_cursor = int(state.get("refresh_cursor", 0))


#: strategy name → class; ``full_context=False`` always means ``"window"``
CONTEXTS: dict[str, type[ContextStrategy]] = {
    cls.name: cls for cls in (WindowContext, FullContext, NoGradPrefixContext, StoredStateContext)}


def make_context(cfg, wm: WorldModel, to_torch: Callable[[dict[str, np.ndarray]], dict[str, Any]],
                 device: torch.device, noise: NoiseFn | None = None) -> ContextStrategy:
    """The strategy the config asks for: Dreamer's windows unless ``cfg.full_context``, else ``cfg.context``
    (one of :data:`STRATEGIES`). ``noise``: see :class:`ContextStrategy`."""
    name = cfg.context if cfg.full_context else WindowContext.name
    if name not in CONTEXTS:
        raise ValueError(f"unknown context strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    return CONTEXTS[name](cfg, wm, to_torch, device, noise)
