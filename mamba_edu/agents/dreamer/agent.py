"""DreamerAgent: the world model and actor-critic, one training update, and acting.

Dreamer and MAMBA are the same class; the config decides (paper Sec. 3.3):

* ``full_context=False`` (Dreamer): windows of L steps, loss on every step, imagination from
  every posterior state of the batch;
* ``full_context=True`` (MAMBA): whole meta-episode prefixes of length H' (horizon schedule),
  loss on L sampled indices per sequence, imagination from ``imag_starts`` sampled posterior
  states per sequence; ``context`` picks a cheaper way to the same context (a no-gradient prefix
  or stored states with a burn-in, :mod:`mamba_edu.agents.dreamer.context`).

The agent is a :class:`mamba_edu.rollout.BatchPolicy` (``reset``/``act``) and exposes its latent
state during rollouts (``self.state``) for figures and notebooks.
"""
from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.profiler import record_function

from mamba_edu.agents.dreamer.actor_critic import ActorCritic
from mamba_edu.agents.dreamer.config import DreamerConfig
from mamba_edu.agents.dreamer.context import ContextBatch, State, make_context
from mamba_edu.agents.dreamer.replay import Replay
from mamba_edu.agents.dreamer.time_major import gather_time
from mamba_edu.agents.dreamer.update_metrics import UpdateMetrics
from mamba_edu.agents.dreamer.world_model import WorldModel
from mamba_edu.training.device import pick_device
from mamba_edu.training.errors import NonFiniteLossError, check_finite  # noqa: F401 (re-exported)


#: the optimiser states in :meth:`DreamerAgent.state_dict` (only needed to continue training)
OPTIMISER_KEYS = ("wm_opt", "actor_opt", "critic_opt")


def space_layout(obs_space: gym.Space) -> tuple[int, tuple | None, dict[str, tuple]]:
    """(vector obs dim, image shape or None, replay layout {key: (shape, dtype)})."""
    if isinstance(obs_space, gym.spaces.Dict):
        img, vec = obs_space["image"], obs_space["vector"]
        return vec.shape[0], img.shape, {"image": (img.shape, np.uint8), "vector": (vec.shape, np.float32)}
    return obs_space.shape[0], None, {"obs": (obs_space.shape, np.float32)}


class DreamerAgent:
    def __init__(self, cfg: DreamerConfig, obs_space: gym.Space, action_space: gym.Space, H: int) -> None:
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.obs_space, self.action_space, self.H = obs_space, action_space, H
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        self.action_dim = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        obs_dim, image_shape, self.replay_layout = space_layout(obs_space)
        self.image = image_shape is not None
        self.wm = WorldModel(cfg, obs_dim, self.action_dim, image_shape).to(self.device)
        self.ac = ActorCritic(cfg, self.wm.rssm.feat_dim, self.action_dim, self.discrete).to(self.device)
        self.wm_opt = torch.optim.Adam(self.wm.parameters(), lr=cfg.model_lr, eps=1e-8)
        self.actor_opt = torch.optim.Adam(self.ac.actor.parameters(), lr=cfg.actor_lr, eps=1e-5)
        self.critic_opt = torch.optim.Adam(self.ac.critic.parameters(), lr=cfg.critic_lr, eps=1e-5)
        self.context = make_context(cfg, self.wm, self._batch_to_torch, self.device)
        # fp16 scales the losses so small gradients do not underflow (bf16 has float32's range: no scaler)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        if cfg.compile:
            self.wm.rssm.compile_steps()
        self.updates = 0
        self.state: dict[str, torch.Tensor] | None = None
        self.prev_action: torch.Tensor | None = None
        self.greedy = False

    # ----- acting (BatchPolicy) ----------------------------------------------------------------
    def _to_tensor(self, obs: Any) -> Any:
        if isinstance(obs, dict):
            return {k: torch.as_tensor(np.asarray(v), device=self.device) if k == "image"
                    else torch.as_tensor(np.asarray(v), dtype=torch.float32, device=self.device) for k, v in obs.items()}
        return torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)

    def reset(self, num_envs: int) -> None:
        self.state = self.wm.rssm.initial(num_envs)
        self.prev_action = torch.zeros(num_envs, self.action_dim, device=self.device)

    @torch.no_grad()
    def act(self, obs: Any, greedy: bool | None = None) -> np.ndarray:
        """One action per env; updates the posterior ``self.state`` (the agent's belief).

        ``greedy``: take the policy's mode (True) or sample (False); ``None`` uses ``self.greedy``.
        """
        embed = self.wm.encoder(self._to_tensor(obs))
        self.state = self.wm.rssm.obs_step(self.state, self.prev_action, embed)
        dist = self.ac.policy(self.wm.rssm.features(self.state))
        greedy = self.greedy if greedy is None else greedy
        action = dist.mode() if greedy else dist.sample()
        self.prev_action = action
        if self.discrete:
            return action.argmax(-1).cpu().numpy()
        return action.cpu().numpy().astype(np.float64)

    def actor(self, greedy: bool) -> "DreamerActor":
        """The agent as a policy that samples (``greedy=False``) or takes the mode, leaving the
        agent's own acting during training untouched."""
        return DreamerActor(self, greedy)

    def encode_action(self, actions: np.ndarray) -> np.ndarray:
        """Env actions → the agent's action vectors (one-hot for discrete)."""
        if self.discrete:
            return np.eye(self.action_dim, dtype=np.float32)[np.asarray(actions, dtype=np.int64)]
        return np.asarray(actions, dtype=np.float32).reshape(len(actions), -1)

    # ----- training --------------------------------------------------------------------------
    def _batch_to_torch(self, seqs: dict[str, np.ndarray]) -> dict[str, Any]:
        """Batch-major numpy → time-major torch."""
        def tm(x, dtype=torch.float32):
            return torch.as_tensor(np.swapaxes(x, 0, 1), dtype=dtype, device=self.device)

        if self.image:
            obs = {"image": tm(seqs["image"], torch.uint8), "vector": tm(seqs["vector"])}
        else:
            obs = tm(seqs["obs"])
        return {"obs": obs, "prev_action": tm(seqs["prev_action"]), "reward": tm(seqs["reward"]),
                "terminal": tm(seqs["terminal"])}

    def prepare_replay(self, replay: Replay) -> None:
        """Give the replay what the context strategy needs (stored states for 'stored-state')."""
        self.context.prepare_replay(replay)

    def episodes_added(self, replay: Replay, slots: np.ndarray) -> None:
        """Called after new meta-episodes entered ``replay`` at ``slots``."""
        self.context.episodes_added(replay, slots, self.updates)

    def _imagination_starts(self, post: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        T, B = post["deter"].shape[:2]
        if self.cfg.full_context and T > self.cfg.imag_starts:
            gen = torch.Generator(device="cpu").manual_seed(int(self.updates) * 7919 + self.cfg.seed)
            idx = torch.randint(0, T, (self.cfg.imag_starts, B), generator=gen).to(self.device, non_blocking=True)
            post = gather_time(post, idx)
        return {k: v.reshape(-1, *v.shape[2:]) for k, v in post.items()}

    def _autocast(self):
        """Mixed precision for the forward passes of an update (``cfg.precision``, on the agent's device type;
        weights and optimiser states stay float32, the backward pass follows the forward's dtypes)."""
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.cfg.precision)
        return torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def _check_finite(self, checked: dict[str, torch.Tensor]) -> None:
        """The update's one host synchronisation: copy the values of ``checked`` ({what: one-element tensor},
        the losses and gradient norms) to the host in one transfer and raise :class:`NonFiniteError
        <mamba_edu.training.errors.NonFiniteError>` naming the first that is NaN or infinite. Checking every
        value where it is computed would wait for the device six times per update instead."""
        values = torch.stack([v.detach().reshape(()).float() for v in checked.values()]).tolist()
        for what, value in zip(checked, values):
            if not math.isfinite(value):
                raise NonFiniteLossError(f"non-finite {what} ({value}) at update {self.updates}; training stopped")

    def _step(self, opt: torch.optim.Optimizer, params, clip: float) -> torch.Tensor:
        """Clip the gradients and step without waiting for the device; returns the gradient norm.

        Non-finite gradients never reach the weights: where the norm is NaN or infinite every gradient is
        zeroed first (the optimiser then writes finite values), and the update's :meth:`_check_finite` stops
        training, so the last good checkpoint stays the latest. With fp16 the gradient scaler unscales the
        gradients first and skips the step on an overflow (the scaler reads its flag on the host)."""
        params = list(params)
        if self.scaler.is_enabled():
            self.scaler.unscale_(opt)
        norm = nn.utils.clip_grad_norm_(params, clip)
        if self.scaler.is_enabled():
            self.scaler.step(opt)
            return norm
        bad = ~torch.isfinite(norm)
        for p in params:
            if p.grad is not None:
                p.grad.masked_fill_(bad, 0.0)
        opt.step()
        return norm

    def train_step(self, replay: Replay, env_steps: int) -> UpdateMetrics:
        """One update of the world model, then of actor and critic in imagination; returns its metrics
        (name → float, copied from the device only when first read: :class:`UpdateMetrics`).

        The update reads one thing on the host: after the three optimiser steps, whether its losses and
        gradient norms are finite (:meth:`_check_finite`; :meth:`_step` keeps non-finite gradients from the
        weights until then). Each phase is a ``torch.profiler`` range named ``update/...`` (free when no
        profiler runs; ``benchmarks/profile_update.py`` reads them).
        """
        cfg, scaler = self.cfg, self.scaler
        cb, wm_loss, post, metrics = self.train_world_model(replay, env_steps)
        with record_function("update/imagination"), self._autocast():
            start = self._imagination_starts({k: v.detach() for k, v in post.items()})
            actor_loss, critic_loss, ac_metrics = self.ac.losses(self.wm, start)
        with record_function("update/ac_backward"):
            self.actor_opt.zero_grad(set_to_none=True)
            self.critic_opt.zero_grad(set_to_none=True)
            actor_params = list(self.ac.actor.parameters())
            critic_params = list(self.ac.critic.parameters())
            scaler.scale(actor_loss).backward(inputs=actor_params, retain_graph=True)
            scaler.scale(critic_loss).backward(inputs=critic_params)
        with record_function("update/ac_optimizer"):
            metrics["grad/actor"] = self._step(self.actor_opt, actor_params, cfg.ac_grad_clip)
            metrics["grad/critic"] = self._step(self.critic_opt, critic_params, cfg.ac_grad_clip)
            scaler.update()
            self.ac.update_slow_critic()
        with record_function("update/finite_check"):
            checked = {"loss 'world_model'": wm_loss, "gradient norm of 'world_model'": metrics["grad/world_model"],
                       "loss 'actor'": actor_loss, "loss 'critic'": critic_loss,
                       "gradient norm of 'actor'": metrics["grad/actor"],
                       "gradient norm of 'critic'": metrics["grad/critic"]}
            if scaler.is_enabled():     # fp16: an overflowing gradient is the scaler's (a skipped step), not an error
                checked = {k: v for k, v in checked.items() if not k.startswith("gradient")}
            self._check_finite(checked)
        self.updates += 1
        metrics.update(ac_metrics)
        metrics["charts/wm_prefix"] = cb.prefix
        metrics.update(cb.metrics)
        metrics["losses/world_model"] = metrics.pop("wm/total")
        return UpdateMetrics(metrics)

    def train_world_model(self, replay: Replay, env_steps: int
                          ) -> tuple[ContextBatch, torch.Tensor, State, dict[str, Any]]:
        """The world-model half of :meth:`train_step`: sample a batch, take the loss, one optimiser step, the
        context's bookkeeping; returns (the sampled batch, the loss, the posterior states, the metrics). Does not
        count an update (``train_step`` does, after the actor and critic)."""
        with record_function("update/sample"):
            cb = self.context.sample(replay, env_steps, self.updates)
        with record_function("update/wm_forward"), self._autocast():
            wm_loss, post, metrics = self.wm.loss(cb.batch, cb.indices, cb.start, cb.weights)
        with record_function("update/wm_backward"):
            self.wm_opt.zero_grad(set_to_none=True)
            self.scaler.scale(wm_loss).backward()
        with record_function("update/wm_optimizer"):
            metrics["grad/world_model"] = self._step(self.wm_opt, self.wm.parameters(), self.cfg.model_grad_clip)
        with record_function("update/context_bookkeeping"):
            self.context.after_update(replay, cb, post, self.updates)
        return cb, wm_loss, post, metrics

    # ----- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"wm": self.wm.state_dict(), "ac": self.ac.state_dict(), "wm_opt": self.wm_opt.state_dict(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "updates": self.updates, "context": self.context.state_dict(), "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wm.load_state_dict(state["wm"])
        self.ac.load_state_dict(state["ac"])
        for name in OPTIMISER_KEYS:     # absent from a weights-only export (shipped runs)
            if name in state:
                getattr(self, name).load_state_dict(state[name])
        self.updates = int(state["updates"])
        self.context.load_state_dict(state.get("context", {}))
        if self.scaler.is_enabled() and state.get("scaler"):   # fp16 only; older checkpoints have none
            self.scaler.load_state_dict(state["scaler"])

    def updates_per_step(self) -> float:
        """Updates per real env step: ``cfg.updates_per_step``, else DreamerV3's train ratio / (B·L)."""
        cfg = self.cfg
        return cfg.updates_per_step or cfg.train_ratio / (cfg.batch_size * cfg.seq_len)

    def updates_due(self, env_steps: int) -> int:
        """Total updates that should have happened after ``env_steps``."""
        if env_steps < self.cfg.prefill:
            return 0
        return int(math.floor((env_steps - self.cfg.prefill) * self.updates_per_step())) + 1


class DreamerActor:
    """A :class:`mamba_edu.rollout.BatchPolicy` view of a :class:`DreamerAgent` with a fixed choice of
    sampled or greedy actions (evaluation uses it; it never changes ``agent.greedy``)."""

    def __init__(self, agent: DreamerAgent, greedy: bool) -> None:
        self.agent, self.greedy = agent, bool(greedy)

    def reset(self, num_envs: int) -> None:
        self.agent.reset(num_envs)

    def act(self, obs: Any) -> np.ndarray:
        return self.agent.act(obs, greedy=self.greedy)
