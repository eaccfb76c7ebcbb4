"""The recurrent state-space model (RSSM; Hafner et al., 2019b; DreamerV3 variant).

State s_t = (h_t, z_t): a deterministic GRU state h_t (``deter``) and a stochastic state z_t of
``stoch`` categorical variables with ``classes`` classes each (one-hot, straight-through).

* prior (imagination) step:  h_t = GRU(h_{t-1}, MLP([z_{t-1}, a_{t-1}])),  ẑ_t ~ p(ẑ_t | h_t)
* posterior (observation) step:  z_t ~ q(z_t | h_t, e_t), with e_t the encoder's embedding.

This is the "belief encoder" of paper Sec. 3.1: h_t summarises the whole history.

Speed: the posterior loop precomputes everything that does not depend
on the recurrence — the action part of the GRU input and the embedding part of the posterior
MLP — as one batched matrix product over all time steps, and computes the prior logits for all
steps after the loop (the loop only needs the posterior). Only the GRU and the posterior head's
deter part run step by step. With ``cfg.compile`` that posterior step (:func:`posterior_step`) and
imagination's prior step (:func:`prior_step`) are ``torch.compile``-d (:meth:`RSSM.compile_steps`).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.profiler import record_function

from mamba_edu.agents.dreamer.distributions import gumbel_noise, onehot_straight_through, unimix_logits

State = dict[str, torch.Tensor]


class LayerNormGRUCell(nn.Module):
    """DreamerV3's GRU: one linear layer, LayerNorm, update gate biased towards keeping h."""

    def __init__(self, inp: int, size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(inp + size, 3 * size, bias=False)
        self.norm = nn.LayerNorm(3 * size)
        self.size = size

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        parts = self.norm(self.linear(torch.cat([x, h], -1)))
        reset, cand, update = parts.split(self.size, -1)
        reset = torch.sigmoid(reset)
        cand = torch.tanh(reset * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1 - update) * h


def posterior_step(rssm: "RSSM", deter: torch.Tensor, stoch: torch.Tensor, act_part: torch.Tensor,
                   emb_part: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the posterior pass (:meth:`RSSM.observe`'s loop body): (deter, stoch, logits) of step t from
    step t − 1's ``deter``/``stoch``, step t's precomputed action part ``act_part`` and embedding part
    ``emb_part``, and its Gumbel ``noise``. No randomness inside: the unit :meth:`RSSM.compile_steps` compiles."""
    deter = rssm._gru_step(stoch, act_part, deter)
    x = nn.functional.silu(rssm.post_norm(rssm.post_h(deter) + emb_part))
    logits = rssm._logits(rssm.post_out(x))
    return deter, onehot_straight_through(logits, True, noise), logits


def prior_step(rssm: "RSSM", stoch: torch.Tensor, action: torch.Tensor,
               deter: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The deterministic part of a prior (imagination) step: (deter, prior logits) from the previous
    state's ``stoch``/``deter`` and the ``action``; :meth:`RSSM.img_step` samples the latent outside it."""
    deter = rssm._gru_step(stoch, rssm.img_in_a(action), deter)
    return deter, rssm.prior_logits(deter)


class RSSM(nn.Module):
    #: the per-step functions the loops call as ``fn(self, ...)``; :meth:`compile_steps` replaces them on one
    #: module by compiled ones (plain attributes, so the module's ``state_dict`` keys never change)
    _posterior_fn = staticmethod(posterior_step)
    _prior_fn = staticmethod(prior_step)

    def __init__(self, embed: int, action_dim: int, deter: int, hidden: int, stoch: int, classes: int,
                 unimix: float = 0.01, initial_latent_grad: str = "probs") -> None:
        super().__init__()
        if initial_latent_grad not in ("probs", "logits"):
            raise ValueError(f"initial_latent_grad must be 'probs' or 'logits', not {initial_latent_grad!r}")
        self.deter, self.stoch, self.classes, self.unimix = deter, stoch, classes, unimix
        self.initial_latent_grad = initial_latent_grad
        self.action_dim = action_dim
        # GRU input: Linear([z, a]) -> LN -> SiLU, split so the action part can be precomputed
        self.img_in_z = nn.Linear(stoch * classes, hidden, bias=False)
        self.img_in_a = nn.Linear(action_dim, hidden, bias=False)
        self.img_in_norm = nn.LayerNorm(hidden)
        self.gru = LayerNormGRUCell(hidden, deter)
        self.prior_net = nn.Sequential(nn.Linear(deter, hidden, bias=False), nn.LayerNorm(hidden), nn.SiLU(),
                                       nn.Linear(hidden, stoch * classes))
        # posterior: Linear([h, e]) -> LN -> SiLU -> Linear, split for precomputing the e part
        self.post_h = nn.Linear(deter, hidden, bias=False)
        self.post_e = nn.Linear(embed, hidden, bias=False)
        self.post_norm = nn.LayerNorm(hidden)
        self.post_out = nn.Linear(hidden, stoch * classes)
        self.init_deter = nn.Parameter(torch.zeros(deter))

    def unsplit_fan_in(self) -> dict[nn.Module, int]:
        """Fan-in of the unsplit layer each split part stands for (Linear([z, a]) and Linear([h, e]))."""
        gru_in = self.img_in_z.in_features + self.img_in_a.in_features
        post_in = self.post_h.in_features + self.post_e.in_features
        return {self.img_in_z: gru_in, self.img_in_a: gru_in, self.post_h: post_in, self.post_e: post_in}

    # ----- helpers ---------------------------------------------------------------------------
    def _logits(self, flat: torch.Tensor) -> torch.Tensor:
        return unimix_logits(flat.reshape(*flat.shape[:-1], self.stoch, self.classes), self.unimix)

    def initial(self, batch: int) -> State:
        """Learned initial state: h_0 = tanh(w), z_0 = mode of the prior at h_0.

        z_0's straight-through gradient goes through the prior's probabilities ("probs", as every other
        latent here) or through its (unimixed) logits ("logits": the authors' ``OneHotDist.mode``)."""
        deter = torch.tanh(self.init_deter).expand(batch, -1)
        logits = self._logits(self.prior_net(deter))
        stoch = onehot_straight_through(logits, sample=False, through=self.initial_latent_grad)
        return {"deter": deter, "stoch": stoch, "logits": logits}

    @staticmethod
    def features(state: State) -> torch.Tensor:
        s = state["stoch"]
        return torch.cat([state["deter"], s.reshape(*s.shape[:-2], -1)], -1)

    @property
    def feat_dim(self) -> int:
        return self.deter + self.stoch * self.classes

    def prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        return self._logits(self.prior_net(deter))

    def compile_steps(self, **options) -> None:
        """``torch.compile`` (with ``options``, e.g. ``backend="aot_eager"``) the posterior and prior step
        functions for this module (``cfg.compile``); the loops around them, their noise and the policy's
        samples stay eager. Compiled functions are plain attributes: the ``state_dict`` is unchanged."""
        self._posterior_fn = torch.compile(posterior_step, **options)
        self._prior_fn = torch.compile(prior_step, **options)

    # ----- one step ------------------------------------------------------------------------------
    def _gru_step(self, stoch: torch.Tensor, action_part: torch.Tensor, deter: torch.Tensor) -> torch.Tensor:
        x = self.img_in_z(stoch.reshape(*stoch.shape[:-2], -1)) + action_part
        x = nn.functional.silu(self.img_in_norm(x))
        return self.gru(x, deter)

    def img_step(self, state: State, action: torch.Tensor, sample: bool = True) -> State:
        """Prior step: imagine the next state from the current state and an action."""
        deter, logits = self._prior_fn(self, state["stoch"], action, state["deter"])
        return {"deter": deter, "stoch": onehot_straight_through(logits, sample), "logits": logits}

    def obs_step(self, state: State, prev_action: torch.Tensor, embed: torch.Tensor, sample: bool = True,
                 noise: torch.Tensor | None = None) -> State:
        """Posterior step: advance with the previous action, then correct with the embedding."""
        deter = self._gru_step(state["stoch"], self.img_in_a(prev_action), state["deter"])
        x = nn.functional.silu(self.post_norm(self.post_h(deter) + self.post_e(embed)))
        logits = self._logits(self.post_out(x))
        return {"deter": deter, "stoch": onehot_straight_through(logits, sample, noise), "logits": logits}

    # ----- a whole sequence ------------------------------------------------------------------
    def observe(self, embed: torch.Tensor, prev_action: torch.Tensor, state: State | None = None,
                noise: torch.Tensor | None = None) -> State:
        """Posterior states for a sequence (time-major ``embed`` (T, B, E), ``prev_action`` (T, B, A)).

        Returns a state dict of time-major tensors: deter (T, B, D), stoch/logits (T, B, S, C).
        ``noise`` (T, B, S, C) is the Gumbel noise of the samples (drawn here in one call if None).
        """
        T, B = embed.shape[:2]
        if state is None:
            state = self.initial(B)
        if noise is None:
            noise = gumbel_noise((T, B, self.stoch, self.classes), embed.device, embed.dtype)
        act_part = self.img_in_a(prev_action)          # (T, B, hidden), precomputed
        emb_part = self.post_e(embed)                  # (T, B, hidden), precomputed
        # contiguous: the initial state is an expanded view, and compiled steps would compile once more for it
        deter, stoch = state["deter"].contiguous(), state["stoch"].contiguous()
        deters, stochs, logits_all = [], [], []
        with record_function("rssm/observe_loop"):
            step = self._posterior_fn
            for t in range(T):
                deter, stoch, logits = step(self, deter, stoch, act_part[t], emb_part[t], noise[t])
                deters.append(deter)
                stochs.append(stoch)
                logits_all.append(logits)
        return {"deter": torch.stack(deters), "stoch": torch.stack(stochs), "logits": torch.stack(logits_all)}

    def imagine(self, start: State, policy, horizon: int) -> tuple[State, torch.Tensor]:
        """Roll the prior forward ``horizon`` steps with actions from ``policy(features)``.

        Returns the states including the start (time-major, ``horizon + 1`` steps) and the actions.
        """
        states, actions = [start], []
        state = start
        for _ in range(horizon):
            action = policy(self.features(state))
            state = self.img_step(state, action)
            states.append(state)
            actions.append(action)
        stacked = {k: torch.stack([s[k] for s in states]) for k in ("deter", "stoch", "logits")}
        return stacked, torch.stack(actions)


def kl_categorical(post_logits: torch.Tensor, prior_logits: torch.Tensor) -> torch.Tensor:
    """KL(q ‖ p) between factorised categoricals, summed over the latent variables."""
    q = torch.softmax(post_logits, -1)
    return (q * (torch.log_softmax(post_logits, -1) - torch.log_softmax(prior_logits, -1))).sum((-1, -2))


def kl_balance(post_logits: torch.Tensor, prior_logits: torch.Tensor, dyn: float, rep: float,
               free_nats: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """DreamerV3's KL balancing with free bits (per step; caller averages).

    dyn loss = max(free, KL(sg(q) ‖ p)) trains the prior; rep loss = max(free, KL(q ‖ sg(p)))
    trains the encoder; total = dyn·dyn_loss + rep·rep_loss.
    """
    dyn_kl = kl_categorical(post_logits.detach(), prior_logits)
    rep_kl = kl_categorical(post_logits, prior_logits.detach())
    dyn_loss = torch.clamp(dyn_kl, min=free_nats)
    rep_loss = torch.clamp(rep_kl, min=free_nats)
    return dyn * dyn_loss + rep * rep_loss, {"kl": dyn_kl.detach(), "dyn_loss": dyn_loss, "rep_loss": rep_loss}
