"""Distributions used by DreamerV3 (Hafner et al., 2023, Sec. 2 and App. B).

* ``symlog(x) = sign(x)·log(1+|x|)`` and its inverse ``symexp`` squash large targets.
* :class:`TwoHot` — a categorical over 255 bins spaced evenly in symlog space; a scalar
  target y is encoded as weights on the two bins around symlog(y) ("two-hot"), trained with
  cross-entropy; the prediction is symexp of the expected bin value. Used by the reward head
  and the critic, it makes the loss scale-free.
* :func:`onehot_straight_through` — sample a one-hot from a categorical, with the gradient of
  the probabilities passed straight through (Bengio et al., 2013).
* :func:`unimix_logits` — mix 1 % uniform into categorical probabilities so that no latent
  class becomes deterministic (keeps KL finite).
* :class:`BoundedNormal` — DreamerV3's continuous action distribution: tanh mean, std in
  [min_std, max_std], samples clipped to [-1, 1] with straight-through gradients.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import distributions as td


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


def unimix_logits(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """Logits of ``(1 - unimix) * softmax(logits) + unimix / classes``."""
    if unimix <= 0:
        return logits
    probs = torch.softmax(logits, -1)
    probs = (1 - unimix) * probs + unimix / logits.shape[-1]
    return torch.log(probs)


def gumbel_noise(shape, device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard Gumbel noise: argmax(logits + noise) is a sample of Categorical(softmax(logits))."""
    u = torch.rand(shape, device=device, dtype=dtype).clamp_(1e-20, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def onehot_straight_through(logits: torch.Tensor, sample: bool = True,
                            noise: torch.Tensor | None = None, through: str = "probs") -> torch.Tensor:
    """One-hot sample (or mode) of a categorical with straight-through gradients.

    Sampling uses the Gumbel-max trick (``noise`` may be pre-drawn for a whole sequence, which is
    several times cheaper per step on CPU than ``torch.multinomial``). The gradient passes through the
    probabilities (``through="probs"``) or, as the authors' ``OneHotDist.mode``, through the logits.
    """
    probs = torch.softmax(logits, -1)
    if sample:
        if noise is None:
            noise = gumbel_noise(logits.shape, logits.device, logits.dtype)
        idx = (logits.detach() + noise).argmax(-1)
    else:
        idx = logits.detach().argmax(-1)
    onehot = F.one_hot(idx, probs.shape[-1]).to(probs.dtype)
    grad_path = probs if through == "probs" else logits
    return onehot + grad_path - grad_path.detach()


class TwoHot:
    """Categorical over ``bins`` values evenly spaced in symlog space (symexp for outputs)."""

    def __init__(self, logits: torch.Tensor, low: float = -20.0, high: float = 20.0) -> None:
        self.logits = logits
        # at least float32 (float64 logits keep float64): in bfloat16 (autocast) the bins would be off by up
        # to 0.09 and spaced 0.125 to 0.25 apart instead of evenly 0.157
        dtype = torch.promote_types(logits.dtype, torch.float32)
        self.bins = torch.linspace(low, high, logits.shape[-1], device=logits.device, dtype=dtype)

    def mean(self) -> torch.Tensor:
        """Prediction in the original scale: symexp of the expected symlog value."""
        probs = torch.softmax(self.logits, -1)
        return symexp((probs * self.bins).sum(-1))

    def encode(self, target: torch.Tensor) -> torch.Tensor:
        """Two-hot weights of ``symlog(target)`` over the bins (shape ``target.shape + (bins,)``)."""
        x = symlog(target).clamp(self.bins[0], self.bins[-1])
        n = self.bins.shape[0]
        below = (torch.searchsorted(self.bins, x.contiguous(), right=True) - 1).clamp(0, n - 2)
        above = below + 1
        lo, hi = self.bins[below], self.bins[above]
        w_above = ((x - lo) / (hi - lo)).clamp(0, 1)
        return (F.one_hot(below, n) * (1 - w_above).unsqueeze(-1) + F.one_hot(above, n) * w_above.unsqueeze(-1))

    def log_prob(self, target: torch.Tensor) -> torch.Tensor:
        return (self.encode(target) * torch.log_softmax(self.logits, -1)).sum(-1)


class BoundedNormal:
    """DreamerV3's continuous policy: Normal(tanh(mu), std), std in [min_std, max_std]."""

    def __init__(self, mean_raw: torch.Tensor, std_raw: torch.Tensor, min_std: float = 0.1, max_std: float = 1.0):
        self.mean = torch.tanh(mean_raw)
        self.std = (max_std - min_std) * torch.sigmoid(std_raw + 2.0) + min_std
        # no argument validation: it reads a device value on the host (a synchronisation) at every construction
        self.dist = td.Independent(td.Normal(self.mean, self.std, validate_args=False), 1, validate_args=False)

    def sample(self) -> torch.Tensor:
        x = self.dist.rsample()
        return x + (x.clamp(-1, 1) - x).detach()  # clip with straight-through gradient

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(x)

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy()


class OneHotPolicy:
    """Categorical policy over discrete actions, samples as straight-through one-hots."""

    def __init__(self, logits: torch.Tensor, unimix: float = 0.01) -> None:
        self.logits = unimix_logits(logits, unimix)
        self.dist = td.Categorical(logits=self.logits, validate_args=False)   # no host synchronisation

    def sample(self) -> torch.Tensor:
        return onehot_straight_through(self.logits, sample=True)

    def mode(self) -> torch.Tensor:
        return onehot_straight_through(self.logits, sample=False)

    def log_prob(self, onehot: torch.Tensor) -> torch.Tensor:
        return (onehot * torch.log_softmax(self.logits, -1)).sum(-1)

    def entropy(self) -> torch.Tensor:
        return self.dist.entropy()
