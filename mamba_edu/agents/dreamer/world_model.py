"""The world model: encoder → RSSM → decoder, reward and continue heads (paper Sec. 2.2).

Loss at a step t (DreamerV3): prediction  −log p(o_t|s_t) − log p(r_t|s_t) − log p(c_t|s_t)
(symlog MSE for vector observations, MSE for images, two-hot cross-entropy for reward, Bernoulli
for continue) plus KL balancing (0.5·dyn + 0.1·rep, free bits 1 nat).

``loss(batch, indices)`` implements both samplers:

* Dreamer: a batch of windows, loss on every step of each window (``indices=None``);
* MAMBA (paper Sec. 3.3): whole meta-episode prefixes are encoded, but the loss is taken only at
  ``L`` sampled indices per sequence — the heads then run on B·L states, as in Dreamer.

With ``cfg.recon_window`` > 0 the authors' extra multi-step heads add their terms
(:mod:`mamba_edu.agents.dreamer.multi_step_heads`; not in the paper).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from mamba_edu.agents.dreamer.distributions import TwoHot, symlog
from mamba_edu.agents.dreamer.multi_step_heads import MultiStepHeads
from mamba_edu.agents.dreamer.networks import (ConvDecoder, ConvEncoder, dreamerv3_init, mlp, set_layer_norm_eps,
                                               zero_init_last)
from mamba_edu.agents.dreamer.rssm import RSSM, State, kl_balance
from mamba_edu.agents.dreamer.time_major import gather_time

#: Where the Gumbel noise behind the posterior's latent samples comes from: ``noise(shape, device, dtype)``
#: returns a tensor of that shape (default :func:`~mamba_edu.agents.dreamer.distributions.gumbel_noise`,
#: fresh samples from torch's global RNG).
NoiseFn = Callable[..., torch.Tensor]


def zero_noise(shape, device=None, dtype=torch.float32) -> torch.Tensor:
    """A :data:`NoiseFn` of zero noise: every latent takes its most likely class (the mode) instead
    of a sample, so two posterior passes over the same data agree exactly. For tests and analyses that
    compare passes (e.g. a window's states with a full unroll's)."""
    return torch.zeros(shape, device=device, dtype=dtype)


class Encoder(nn.Module):
    """Vector observations: symlog → MLP. Images: CNN, plus an MLP for the vector part."""

    def __init__(self, obs_dim: int, units: int, layers: int, image_shape: tuple | None, cnn_depth: int) -> None:
        super().__init__()
        self.image = image_shape is not None
        if self.image:
            self.cnn = ConvEncoder(image_shape[-1], cnn_depth)
            self.vec = mlp(obs_dim, units, 1) if obs_dim else None
            self.out_dim = self.cnn.out_dim + (units if obs_dim else 0)
        else:
            self.mlp = mlp(obs_dim, units, layers)
            self.out_dim = units

    def forward(self, obs: Any) -> torch.Tensor:
        if self.image:
            parts = [self.cnn(obs["image"])]
            if self.vec is not None:
                parts.append(self.vec(symlog(obs["vector"])))
            return torch.cat(parts, -1)
        return self.mlp(symlog(obs))


def reward_recall(predicted: torch.Tensor, reward: torch.Tensor) -> dict[str, torch.Tensor]:
    """Does the reward head see sparse rewards? Over the steps its loss is taken at: the fraction with a
    nonzero real reward, the mean prediction there and the mean prediction elsewhere.

    A head that has only learned the marginal predicts about the same small value at both; one that has
    learned the reward predicts near the real value where it was given (paper Sec. 3.3: MAMBA's reward
    comes from this head in imagination). Zero where a group is empty (``wm/rewarded_frac`` says so);
    nothing here synchronises with the host.
    """
    hit = (reward != 0).to(predicted.dtype)
    n_hit = hit.sum()
    n_other = hit.numel() - n_hit
    return {"wm/rewarded_frac": n_hit / hit.numel(),
            "wm/reward_pred_rewarded": (predicted * hit).sum() / n_hit.clamp(min=1),
            "wm/reward_pred_other": (predicted * (1 - hit)).sum() / n_other.clamp(min=1)}


class WorldModel(nn.Module):
    def __init__(self, cfg, obs_dim: int, action_dim: int, image_shape: tuple | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.image_shape = image_shape
        enc_units, enc_layers = cfg.enc_units or cfg.units, cfg.enc_layers or cfg.layers
        self.encoder = Encoder(obs_dim, enc_units, enc_layers, image_shape, cfg.cnn_depth)
        self.rssm = RSSM(self.encoder.out_dim, action_dim, cfg.deter, cfg.hidden, cfg.stoch, cfg.classes, cfg.unimix,
                         cfg.initial_latent_grad)
        feat = self.rssm.feat_dim
        if image_shape is not None:
            self.image_decoder = ConvDecoder(feat, image_shape[-1], cfg.cnn_depth)
        self.vec_decoder = mlp(feat, enc_units, enc_layers, obs_dim) if obs_dim else None
        self.reward_head = zero_init_last(mlp(feat, cfg.units, cfg.layers, cfg.bins))
        self.cont_head = mlp(feat, cfg.units, cfg.layers, 1)
        self.multi_step = self._multi_step_heads(cfg, obs_dim, enc_units, enc_layers)
        set_layer_norm_eps(self, cfg.norm_eps)
        if cfg.weight_init == "dreamerv3":
            # the latent logits layers (prior_net[-1], post_out) stay truncated-normal, as theirs
            # (the authors' networks.py: _ims_stat_layer / _obs_stat_layer take tools.weight_init)
            outputs = {self.reward_head[-1]: 0.0, self.cont_head[-1]: 1.0}
            if self.vec_decoder is not None:
                outputs[self.vec_decoder[-1]] = 1.0
            if self.multi_step is not None:
                outputs.update(self.multi_step.output_scales())
            dreamerv3_init(self, outputs, self.rssm.unsplit_fan_in())

    def _multi_step_heads(self, cfg, obs_dim: int, enc_units: int, enc_layers: int) -> MultiStepHeads | None:
        """The authors' extra multi-step heads when ``cfg.recon_window`` > 0 (vector observations only)."""
        if not cfg.recon_window:
            return None
        if self.image_shape is not None:
            raise ValueError("recon_window supports vector observations only (this env has images); use recon_window=0")
        return MultiStepHeads(self.rssm.feat_dim, self.encoder.out_dim, obs_dim, cfg.recon_window, cfg.units,
                              cfg.layers, enc_units, enc_layers, cfg.bins)

    # ------------------------------------------------------------------------------------------
    def reward(self, feat: torch.Tensor) -> torch.Tensor:
        """Predicted reward (mean of the two-hot distribution) at features ``feat``."""
        return TwoHot(self.reward_head(feat)).mean()

    def cont(self, feat: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.cont_head(feat).squeeze(-1))

    def observe(self, batch: dict[str, Any], start: State | None = None, noise: NoiseFn | None = None) -> State:
        """Posterior states of a batch of sequences (time-major tensors), from ``start`` (default: initial).

        ``noise`` draws the latent samples' Gumbel noise, (T, B, stoch, classes) in one call (default:
        fresh samples; :func:`zero_noise` takes every latent's mode)."""
        return self._posterior(self.encoder(batch["obs"]), batch, start, noise)

    def _posterior(self, embed: torch.Tensor, batch: dict[str, Any], start: State | None,
                   noise: NoiseFn | None) -> State:
        eps = None if noise is None else noise((*embed.shape[:2], self.rssm.stoch, self.rssm.classes),
                                               embed.device, embed.dtype)
        return self.rssm.observe(embed, batch["prev_action"], start, eps)

    def loss(self, batch: dict[str, Any], indices: torch.Tensor | None = None, start: State | None = None,
             weights: torch.Tensor | None = None,
             noise: NoiseFn | None = None) -> tuple[torch.Tensor, State, dict[str, torch.Tensor]]:
        """World-model loss of a time-major batch; returns (loss, posterior states, metrics).

        ``indices`` (L, B) selects the steps the prediction losses are taken at (MAMBA); ``None`` uses
        all. With ``cfg.kl_all_steps`` the KL terms still cover every unrolled step (the authors' code).
        ``start`` is the RSSM state entering the first step (a window's context), default initial.
        ``weights`` (T, B) weighs each step's terms (a weighted mean; stored-state windows), default 1.
        ``noise``: the latent samples' noise source (:meth:`observe`).
        """
        embed = self.encoder(batch["obs"])
        post = self._posterior(embed, batch, start, noise)
        if indices is not None:
            sel, obs = gather_time(post, indices), gather_time(batch["obs"], indices)
            reward, term = gather_time(batch["reward"], indices), gather_time(batch["terminal"], indices)
        else:
            sel, obs, reward, term = post, batch["obs"], batch["reward"], batch["terminal"]
        feat = self.rssm.features(sel)
        kl_states = post if indices is not None and self.cfg.kl_all_steps else sel
        prior_logits = self.rssm.prior_logits(kl_states["deter"])
        kl_loss, kl_metrics = kl_balance(kl_states["logits"], prior_logits, self.cfg.kl_dyn, self.cfg.kl_rep,
                                         self.cfg.free_nats)
        losses: dict[str, torch.Tensor] = {}
        if self.image_shape is not None:
            target = obs["image"].float() / 255.0 - 0.5
            losses["image"] = ((self.image_decoder(feat) - target) ** 2).sum((-1, -2, -3))
            vec = obs["vector"]
        else:
            vec = obs
        if self.vec_decoder is not None:
            losses["decoder"] = ((self.vec_decoder(feat) - symlog(vec)) ** 2).sum(-1)
        reward_dist = TwoHot(self.reward_head(feat))
        losses["reward"] = -reward_dist.log_prob(reward)
        losses["cont"] = nn.functional.binary_cross_entropy_with_logits(
            self.cont_head(feat).squeeze(-1), 1.0 - term, reduction="none")
        if weights is None:
            def mean(x):
                return x.mean()
        else:
            def mean(x):
                return (x * weights).sum() / weights.sum()
        total = sum(mean(v) for v in losses.values()) + mean(kl_loss)
        metrics = {f"wm/{k}": mean(v).detach() for k, v in losses.items()}
        if self.multi_step is not None:
            multi = self._multi_step_losses(feat, embed, batch, indices, weights)
            total = total + sum(multi.values())
            metrics.update({f"wm/{k}": v.detach() for k, v in multi.items()})
        metrics.update({f"wm/{k}": mean(v).detach() for k, v in kl_metrics.items()})
        metrics.update(reward_recall(reward_dist.mean().detach(), reward))
        metrics["wm/total"] = total.detach()
        return total, post, metrics

    def _multi_step_losses(self, feat: torch.Tensor, embed: torch.Tensor, batch: dict[str, Any],
                           indices: torch.Tensor | None, weights: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The multi-step heads' mean losses (masked pairs count in the mean, as in the authors' code);
        with ``weights`` each pair weighs as its sampled step."""
        T, B = embed.shape[:2]
        rows = indices if indices is not None else torch.arange(T, device=embed.device)[:, None].expand(T, B)
        per_pair, owner = self.multi_step.losses(feat, embed, batch, rows)
        if weights is None:
            return {k: v.mean() for k, v in per_pair.items()}
        w = gather_time(weights, owner)
        return {k: (v * w).sum() / w.sum() for k, v in per_pair.items()}
