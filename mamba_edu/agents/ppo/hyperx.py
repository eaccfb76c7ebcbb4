"""HyperX (Zintgraf et al., 2021): VariBAD plus two exploration bonuses for meta-training.

The paper compares MAMBA with HyperX as a state-of-the-art context-based method (Sec. 4,
Tables 1 and 5). HyperX adds to the task reward, at step t,

* a **hyper-state novelty** bonus: random network distillation (RND, Burda et al., 2019) on the
  hyper-state s⁺_{t+1} = (s_{t+1}, b_{t+1}), with b = (μ, log σ²) the VariBAD belief —
  ``‖f(s⁺) − f̂(s⁺)‖²`` averaged over output dimensions, f a fixed random network (weights
  scaled ×10), f̂ a predictor trained to imitate it on stored hyper-states, so states and beliefs
  visited often stop paying;
* a **VAE reconstruction error** bonus: the error of the reward decoder on r_t given b_{t+1}
  (which has already seen r_t) — large where the model is still wrong.

Each bonus is divided by the running std of its own discounted return and clipped
(:func:`~mamba_edu.agents.ppo.ppo.normalise_bonus`), multiplied by its weight, and the sum is
multiplied by 1 − env_steps/steps (annealed linearly to zero), so the final policy is trained on
the task reward alone.
"""
from __future__ import annotations

import torch
from torch import nn

from mamba_edu.agents.ppo.ppo import RunningMeanStd, normalise_bonus


class RNDPrior(nn.Module):
    """The fixed random target f: each input embedded separately (Linear → 64), ReLU, MLP; weights ×scale."""

    def __init__(self, input_dims: list[int], layers: tuple[int, ...], out_dim: int, weight_scale: float) -> None:
        super().__init__()
        self.embedders = nn.ModuleList(nn.Linear(d, 64) for d in input_dims)
        mods: list[nn.Module] = []
        d = 64 * len(input_dims)
        for w in layers:
            mods += [nn.Linear(d, w), nn.ReLU()]
            d = w
        self.net = nn.Sequential(*mods, nn.Linear(d, out_dim))
        with torch.no_grad():
            for p in self.parameters():
                p.mul_(weight_scale)
        self.requires_grad_(False)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.net(torch.relu(torch.cat([e(x) for e, x in zip(self.embedders, inputs)], -1)))


class RNDBonus(nn.Module):
    """Random network distillation: bonus(x) = mean_k (f(x)_k − f̂(x)_k)², f̂ trained by MSE on stored x."""

    def __init__(self, input_dims: list[int], layers: tuple[int, ...] = (256, 256), out_dim: int = 128,
                 weight_scale: float = 10.0, lr: float = 1e-4) -> None:
        super().__init__()
        self.prior = RNDPrior(input_dims, layers, out_dim, weight_scale)
        mods: list[nn.Module] = []
        d = sum(input_dims)
        for w in layers:
            mods += [nn.Linear(d, w), nn.ReLU()]
            d = w
        self.predictor = nn.Sequential(*mods, nn.Linear(d, out_dim))
        self.optimiser = torch.optim.Adam(self.predictor.parameters(), lr=lr)

    def error(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return (self.prior(inputs) - self.predictor(torch.cat(inputs, -1))).pow(2).mean(-1)

    @torch.no_grad()
    def bonus(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Novelty of each input (leading dims kept)."""
        return self.error(inputs)

    def update(self, inputs: list[torch.Tensor]) -> float:
        """One Adam step of the predictor on a batch of inputs; returns the loss."""
        loss = self.error(inputs).mean()
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()
        return loss.item()


class HyperXBonus(nn.Module):
    """The two HyperX bonuses, normalised, weighted and annealed."""

    def __init__(self, cfg, state_dim: int, belief_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.rnd = (RNDBonus([state_dim, belief_dim], cfg.rnd_layers, cfg.rnd_output, cfg.rnd_weight_scale, cfg.rnd_lr)
                    if cfg.bonus_hyperstate > 0 else None)
        self.rms_hyperstate = RunningMeanStd(())
        self.rms_vae = RunningMeanStd(())

    def weight(self, env_steps: int) -> float:
        """Annealing factor 1 − env_steps/steps (1 when annealing is off)."""
        if not self.cfg.bonus_anneal:
            return 1.0
        return max(0.0, 1.0 - env_steps / max(self.cfg.steps, 1))

    @torch.no_grad()
    def forward(self, next_states: torch.Tensor, beliefs: torch.Tensor, vae_error: torch.Tensor | None,
                 valid: torch.Tensor, env_steps: int) -> tuple[torch.Tensor, dict[str, float]]:
        """(H, B) bonus for s⁺_{t+1} = (``next_states[t]``, ``beliefs[t]``) and the VAE error of r_t."""
        cfg = self.cfg
        total = torch.zeros(valid.shape)
        metrics: dict[str, float] = {}
        if self.rnd is not None:
            raw = self.rnd.bonus([next_states, beliefs])
            norm = normalise_bonus(raw, valid, self.rms_hyperstate, cfg.gamma, cfg.bonus_clip)
            total = total + cfg.bonus_hyperstate * norm
            metrics["charts/bonus_hyperstate_raw"] = float(raw[valid.bool()].mean())
        if cfg.bonus_vae_error > 0 and vae_error is not None:
            norm = normalise_bonus(vae_error, valid, self.rms_vae, cfg.gamma, cfg.bonus_clip)
            total = total + cfg.bonus_vae_error * norm
            metrics["charts/bonus_vae_error_raw"] = float(vae_error[valid.bool()].mean())
        w = self.weight(env_steps)
        metrics["charts/bonus_weight"] = w
        total = w * total * valid
        metrics["charts/bonus_mean"] = float(total.sum() / valid.sum().clamp_min(1))
        return total, metrics
