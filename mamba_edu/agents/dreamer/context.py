"""Where a training batch gets its context from: MAMBA's full context and two cheaper ways (issue #10).

MAMBA (paper Sec. 3.3) encodes every training sequence from the first step of its meta-episode
so that the latent state at any step has seen the whole past; the price is a backpropagated RSSM
pass over up to H = K·T steps per update (the paper's "runtime limitation", Sec. 4). All three
strategies below give the world-model loss states that have seen the meta-episode from step 0;
they differ in how that past is computed and what gradients flow through it.

* ``full`` — MAMBA as published: backpropagate through the whole prefix H' (horizon schedule),
  take the losses at L sampled indices, imagine from ``imag_starts`` sampled states.
* ``nograd-prefix`` — run the RSSM *without autograd* over [0, s), then with autograd over a
  window [s, s+L) that starts anywhere in the prefix; losses on the L window steps. The window
  sees the full context; gradients stop at its start (truncated backpropagation through time).
* ``stored-state`` — R2D2-style (Kapturowski et al., 2019): keep, per stored meta-episode, the
  posterior state entering every ``state_stride``-th step; a window [s, s+L) starts from the
  state stored at s − ``burn_in``, refreshed by a ``burn_in``-step no-gradient pass under the
  current model. Stored states are written when a meta-episode enters the replay, rewritten
  from every training window's fresh posteriors, and refreshed round-robin (``batch_size``
  meta-episodes every ``state_refresh_every`` updates), which bounds their age by
  ``state_refresh_every · ⌈episodes / batch_size⌉`` updates. Staleness is measured
  (``ctx/state_age``, ``ctx/stale_deter_err``).

``ContextBatch`` carries the time-major batch, the state the RSSM starts from, and the loss
indices (``full`` only).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from mamba_edu.agents.dreamer import rssm as rssm_module
from mamba_edu.agents.dreamer.replay import Replay, wm_horizon
from mamba_edu.agents.dreamer.world_model import WorldModel

STRATEGIES = ("full", "nograd-prefix", "stored-state")

State = dict[str, torch.Tensor]


@dataclass
class ContextBatch:
    batch: dict[str, Any]                    #: time-major tensors the loss runs on
    indices: torch.Tensor | None = None      #: (L, B) loss indices (``full``), else all steps
    start: State | None = None               #: RSSM state entering the batch's first step
    prefix: int = 0                          #: world-model horizon H' used
    metrics: dict[str, float] = field(default_factory=dict)
    writeback: dict[str, np.ndarray] | None = None  #: stored-state: where the window's states go
    weights: torch.Tensor | None = None      #: (T, B) per-step loss weights (stored-state), else all 1


def _take_time(x: Any, idx: torch.Tensor) -> Any:
    """Gather time-major ``x`` at per-column time indices ``idx`` (T', B)."""
    if isinstance(x, dict):
        return {k: _take_time(v, idx) for k, v in x.items()}
    cols = torch.arange(idx.shape[1], device=idx.device).expand_as(idx)
    return x[idx, cols]


def _where_rows(mask: torch.Tensor, new: State, old: State) -> State:
    """``new``'s rows where ``mask`` (B,) holds, else ``old``'s."""
    return {k: torch.where(mask.view(-1, *([1] * (v.dim() - 1))), new[k], v) for k, v in old.items()}


def _slice_time(x: Any, lo: int, hi: int) -> Any:
    if isinstance(x, dict):
        return {k: _slice_time(v, lo, hi) for k, v in x.items()}
    return x[lo:hi]


def stored_state(deter: np.ndarray, stoch: np.ndarray, classes: int, device: torch.device | str = "cpu") -> State:
    """The RSSM state a stored checkpoint stands for: deterministic state ``deter`` (..., deter) and
    the sampled class index of each latent ``stoch`` (..., stoch) as one-hot vectors. The logits are
    not stored (a state's successor depends only on deter and the sample); they are zeros."""
    one_hot = torch.nn.functional.one_hot(torch.as_tensor(stoch, device=device).long(), classes).float()
    return {"deter": torch.as_tensor(deter, device=device), "stoch": one_hot, "logits": torch.zeros_like(one_hot)}


class ContextSampler:
    """Builds each update's :class:`ContextBatch` for the configured strategy."""

    def __init__(self, cfg, wm: WorldModel, to_torch: Callable[[dict[str, np.ndarray]], dict[str, Any]],
                 device: torch.device) -> None:
        self.cfg, self.wm, self.to_torch, self.device = cfg, wm, to_torch, device
        self.strategy = cfg.context if cfg.full_context else "window"
        self._refresh_cursor = 0
        self._last_staleness: dict[str, float] = {}

    # ----- replay set-up ------------------------------------------------------------------------
    def prepare_replay(self, replay: Replay) -> None:
        if self.strategy == "stored-state":
            replay.enable_state_store(self.cfg.state_stride, self.cfg.deter, self.cfg.stoch)

    def episodes_added(self, replay: Replay, slots: np.ndarray, version: int) -> None:
        if self.strategy == "stored-state" and len(slots):
            self.refresh(replay, slots, version)

    @torch.no_grad()
    def refresh(self, replay: Replay, slots: np.ndarray, version: int, chunk: int = 64) -> None:
        """Recompute the stored checkpoints of meta-episodes ``slots`` with the current model."""
        stride = replay.stride
        n_ckpt = replay.states["version"].shape[1]
        pos = np.arange(1, n_ckpt) * stride - 1          # checkpoint j holds the state after step j·stride − 1
        if len(pos) == 0:
            return
        for lo in range(0, len(slots), chunk):
            part = np.asarray(slots[lo:lo + chunk])
            seqs = {k: v[part, : pos[-1] + 1] for k, v in replay.data.items()}
            post = self.wm.observe(self.to_torch(seqs))
            self._write(replay, part, pos, post, version)

    def _write(self, replay: Replay, slots: np.ndarray, pos: np.ndarray | None, post: State, version: int,
               offset: np.ndarray | None = None) -> None:
        """Write posterior states to checkpoints. ``post`` is time-major over a window starting at
        absolute step ``offset`` (B,) (default 0); ``pos`` picks its time positions (default: every
        position whose state enters a checkpoint step, i.e. absolute step + 1 a multiple of the stride)."""
        B = len(slots)
        T = post["deter"].shape[0]
        offset = np.zeros(B, np.int64) if offset is None else np.asarray(offset)
        if pos is None:
            rows, t = np.nonzero((offset[:, None] + np.arange(T)[None] + 1) % replay.stride == 0)
        else:
            rows, t = np.repeat(np.arange(B), len(pos)), np.tile(pos, B)
        ckpt = (t + offset[rows] + 1) // replay.stride
        keep = (ckpt >= 1) & (ckpt < replay.states["version"].shape[1])
        rows, t, ckpt = rows[keep], t[keep], ckpt[keep]
        ti, ri = torch.as_tensor(t, device=self.device), torch.as_tensor(rows, device=self.device)
        deter = post["deter"][ti, ri].float().cpu().numpy()
        stoch = post["stoch"][ti, ri].argmax(-1).to(torch.uint8).cpu().numpy()
        replay.write_states(slots[rows], ckpt, deter, stoch, version)

    # ----- one batch ----------------------------------------------------------------------------
    def sample(self, replay: Replay, env_steps: int, updates: int) -> ContextBatch:
        cfg = self.cfg
        if self.strategy == "window":
            seqs = replay.sample_windows(cfg.batch_size, cfg.seq_len)
            return ContextBatch(self.to_torch(seqs), prefix=seqs["reward"].shape[1])
        prefix = wm_horizon(env_steps, replay.length, cfg.wm_horizon_initial, cfg.wm_horizon_steps)
        if self.strategy == "full":
            seqs, idx = replay.sample_full_context(cfg.batch_size, cfg.seq_len, prefix)
            return ContextBatch(self.to_torch(seqs), torch.as_tensor(idx.T, device=self.device), prefix=prefix)
        if self.strategy == "nograd-prefix":
            return self._nograd_prefix(replay, prefix)
        return self._stored_state(replay, prefix, updates)

    def _initial_where(self, state: State, mask: torch.Tensor) -> State:
        """Replace the rows of ``state`` where ``mask`` holds by the RSSM's initial state."""
        return _where_rows(mask, self.wm.rssm.initial(mask.shape[0]), state)

    def _nograd_prefix(self, replay: Replay, prefix: int) -> ContextBatch:
        cfg = self.cfg
        seqs, s = replay.sample_prefix_windows(cfg.batch_size, cfg.seq_len, prefix)
        batch = self.to_torch(seqs)
        L = min(cfg.seq_len, prefix)
        s_t = torch.as_tensor(s, device=self.device)
        max_s = int(s.max())
        B = len(s)
        start = self.wm.rssm.initial(B)
        if max_s > 0:
            with torch.no_grad():
                post = self.wm.observe(_slice_time(batch, 0, max_s))
            before = (s_t - 1).clamp(min=0).view(1, -1)
            state = {k: _take_time(v, before)[0] for k, v in post.items()}
            start = self._initial_where(state, s_t == 0)
        idx = s_t.view(1, -1) + torch.arange(L, device=self.device).view(-1, 1)
        window = {k: _take_time(v, idx) for k, v in batch.items()}
        return ContextBatch(window, start=start, prefix=prefix,
                            metrics={"ctx/nograd_steps": float(s.mean())})

    def _stored_state(self, replay: Replay, prefix: int, updates: int) -> ContextBatch:
        cfg = self.cfg
        got = replay.sample_stored_windows(cfg.batch_size, cfg.seq_len, cfg.burn_in, prefix)
        missing = got["version"] == -1
        if missing.any():  # a checkpoint never written (e.g. replay filled by hand): compute it now
            self.refresh(replay, np.unique(got["slots"][missing]), updates)
            j = np.clip(got["start"] // replay.stride, 0, None)
            got["deter"] = replay.states["deter"][got["slots"], j]
            got["stoch"] = replay.states["stoch"][got["slots"], j]
            got["version"] = np.where(got["start"] > 0, replay.states["version"][got["slots"], j], -2)
        batch = self.to_torch(got["seqs"])
        n_burn = got["burn_in"]
        rssm = self.wm.rssm
        B = len(got["start"])
        from_initial = torch.as_tensor(got["start"] <= 0, device=self.device)
        entry = self._initial_where(stored_state(got["deter"], got["stoch"], cfg.classes, self.device), from_initial)
        insert = torch.as_tensor(got["insert"], device=self.device)
        state = entry
        with torch.no_grad():
            burn = _slice_time(batch, 0, n_burn)
            embed = self.wm.encoder(burn["obs"])
            noise = rssm_module.gumbel_noise((n_burn, B, cfg.stoch, cfg.classes), self.device)
            for k in range(n_burn):
                state = _where_rows(insert == k, entry, state)
                state = rssm.obs_step(state, burn["prev_action"][k], embed[k], noise=noise[k])
            state = _where_rows(insert == n_burn, entry, state)
        window = _slice_time(batch, n_burn, None)
        stored = got["version"] >= 0
        metrics = {"ctx/state_age": float((updates - got["version"][stored]).mean()) if stored.any() else 0.0}
        if cfg.stale_check_every and updates % cfg.stale_check_every == 0 and stored.any():
            self._last_staleness = self._staleness(replay, got, state, stored)
        metrics.update(self._last_staleness)  # the latest measurement, so every logged update carries it
        weights = torch.as_tensor(got["weights"].T, device=self.device)
        writeback = {"slots": got["slots"], "offset": got["window_start"]}
        return ContextBatch(window, start=state, prefix=prefix, metrics=metrics, writeback=writeback,
                            weights=weights)

    @torch.no_grad()
    def _staleness(self, replay: Replay, got: dict[str, Any], burned: State, stored: np.ndarray) -> dict[str, float]:
        """Relative L2 gap of the deterministic state entering the window: burned-in start vs a fresh
        full-context pass (``ctx/stale_deter_err``), beside the gap between two fresh passes that
        differ only in their latent samples (``ctx/resample_deter_err``, the noise floor)."""
        s = got["window_start"]
        rows = np.nonzero(stored)[0]
        seqs = self.to_torch({k: v[got["slots"][rows], : int(s[rows].max())] for k, v in replay.data.items()})
        at = (torch.as_tensor(s[rows] - 1, device=self.device), torch.arange(len(rows), device=self.device))
        fresh = self.wm.observe(seqs)["deter"][at]
        again = self.wm.observe(seqs)["deter"][at]
        burned_rows = burned["deter"][torch.as_tensor(rows, device=self.device)]
        norm = fresh.norm(dim=-1).clamp(min=1e-8)
        return {"ctx/stale_deter_err": float(((burned_rows - fresh).norm(dim=-1) / norm).mean()),
                "ctx/resample_deter_err": float(((again - fresh).norm(dim=-1) / norm).mean())}

    def after_update(self, replay: Replay, cb: ContextBatch, post: State, updates: int) -> None:
        """Stored-state bookkeeping: write back the window's posteriors; round-robin refresh."""
        if self.strategy != "stored-state":
            return
        wb = cb.writeback
        self._write(replay, wb["slots"], None, {k: v.detach() for k, v in post.items()}, updates,
                    offset=wb["offset"])
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
