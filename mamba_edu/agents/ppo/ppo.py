"""PPO (Schulman et al., 2017), the one policy optimiser of VariBAD, HyperX and RL².

The pieces, in the order one PPO iteration uses them (paper Sec. 3.1: VariBAD trains its
policy "using a model-free RL algorithm (specifically PPO)"; App. B lists this as a difference
to Dreamer):

1. :class:`ReturnNormaliser` — rewards are divided by the running std of the discounted return
   and clipped (OpenAI baselines' ``VecNormalize``, used by the original code);
2. :func:`gae` — generalised advantage estimation over a batch of whole meta-episodes
   (time-major ``(H, B)``); a meta-episode's end is terminal (its return is what meta-RL maximises);
3. :class:`RunningMeanStd` — input normalisation of the policy (updated before the update);
4. :func:`ppo_loss` — clipped surrogate, clipped (Huber) value loss, entropy bonus;
5. :func:`minibatches` — random minibatches of time steps (feed-forward policies) or of whole
   meta-episodes (recurrent policies, RL²).

Everything is written for time-major tensors and a ``valid`` mask (steps after an early end
of a meta-episode, e.g. a Humanoid fall in the last sub-episode, carry no loss).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class RunningMeanStd(nn.Module):
    """Running mean and (population) variance, combined exactly over batches (Chan et al.).

    Lives in a module's ``state_dict`` (buffers), so checkpoints carry it.
    """

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.detach().to(torch.float64).reshape(-1, *self.mean.shape)
        if x.shape[0] == 0:
            return
        b_mean, b_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + n
        m2 = self.var * self.count + b_var * n + delta.pow(2) * self.count * n / total
        self.mean.copy_(self.mean + delta * n / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def normalise(self, x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / torch.sqrt(self.var.to(x.dtype) + eps)


class ReturnNormaliser(nn.Module):
    """``r / sqrt(Var[R] + ε)``, clipped, with R the running discounted return of each env.

    Call :meth:`reset` at the start of a batch of meta-episodes and :meth:`__call__` once per
    step with the B rewards (as ``VecNormalize``: the statistics include the current step).
    """

    def __init__(self, gamma: float, clip: float = 10.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.rms = RunningMeanStd(())
        self.ret: torch.Tensor | None = None

    def reset(self, num_envs: int) -> None:
        self.ret = torch.zeros(num_envs, dtype=torch.float64)

    def forward(self, reward: torch.Tensor, update: bool = True) -> torch.Tensor:
        self.ret = self.ret * self.gamma + reward.to(torch.float64)
        if update:
            self.rms.update(self.ret)
        out = reward / torch.sqrt(self.rms.var.to(reward.dtype) + self.eps)
        return out.clamp(-self.clip, self.clip) if self.clip > 0 else out


def normalise_bonus(bonus: torch.Tensor, valid: torch.Tensor, rms: RunningMeanStd, gamma: float,
                    clip: float, eps: float = 1e-8) -> torch.Tensor:
    """HyperX's bonus normalisation: divide (H, B) bonuses by the std of their discounted return
    (updated with this batch first), then clip (``clip`` = 0: no clip)."""
    ret = torch.zeros(bonus.shape[1], dtype=torch.float64)
    rets = []
    for t in range(bonus.shape[0]):
        ret = ret * gamma + bonus[t].to(torch.float64)
        rets.append(ret)
    rms.update(torch.stack(rets)[valid.bool()])
    out = bonus / torch.sqrt(rms.var.to(bonus.dtype) + eps)
    return out.clamp(-clip, clip) if clip > 0 else out


@torch.no_grad()
def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, gamma: float, lam: float,
        last_value: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation on time-major (H, B) tensors.

    ``dones[t] = 1`` when the meta-episode ends after step t (no bootstrap from step t+1);
    ``last_value`` bootstraps after the last step (default 0: the batch holds whole meta-episodes).
    Returns (advantages, returns = advantages + values).
    """
    H = rewards.shape[0]
    next_value = torch.zeros_like(values[0]) if last_value is None else last_value
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(values[0])
    for t in reversed(range(H)):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        running = delta + gamma * lam * not_done * running
        adv[t] = running
        next_value = values[t]
    return adv, adv + values


def ppo_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor,
             old_values: torch.Tensor, returns: torch.Tensor, entropy: torch.Tensor, clip: float,
             value_clip: bool = True, huber: bool = True, value_coef: float = 0.5, entropy_coef: float = 0.01,
             weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The PPO objective on flat tensors (``weight`` masks invalid steps; default all valid).

    * policy: ``−min(ρA, clip(ρ, 1−ε, 1+ε)A)``, ρ = exp(log π − log π_old);
    * value: ``½·max(ℓ(V), ℓ(V_old + clip(V − V_old, −ε, ε)))`` with ℓ the Huber (smooth-L1) or
      squared error to the return — the original code clips the value with the policy's ε;
    * entropy bonus ``−c_H·H[π]``.
    """
    w = torch.ones_like(advantages) if weight is None else weight
    n = w.sum().clamp_min(1.0)
    ratio = torch.exp(new_logp - old_logp)
    surr = torch.min(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages)
    policy_loss = -(surr * w).sum() / n

    def err(v: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(v, returns, reduction="none") if huber else (v - returns).pow(2)

    if value_clip:
        clipped = old_values + (values - old_values).clamp(-clip, clip)
        v_err = 0.5 * torch.max(err(values), err(clipped))
    else:
        v_err = 0.5 * err(values)
    value_loss = (v_err * w).sum() / n
    ent = (entropy * w).sum() / n
    loss = policy_loss + value_coef * value_loss - entropy_coef * ent
    with torch.no_grad():
        log_ratio = new_logp - old_logp
        approx_kl = (((ratio - 1) - log_ratio) * w).sum() / n
        clipfrac = (((ratio - 1.0).abs() > clip).float() * w).sum() / n
    return loss, {"losses/policy": policy_loss.detach(), "losses/value": value_loss.detach(),
                  "losses/entropy": ent.detach(), "charts/approx_kl": approx_kl, "charts/clipfrac": clipfrac}


def minibatches(n: int, num_minibatches: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Random disjoint index sets covering ``n`` items in ``num_minibatches`` parts (drops the remainder,
    as PyTorch's BatchSampler(drop_last=True) in the original code)."""
    size = max(n // num_minibatches, 1)
    perm = rng.permutation(n)
    for i in range(min(num_minibatches, n)):
        yield perm[i * size:(i + 1) * size]


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    var = target.var()
    return float("nan") if var == 0 else float(1 - (target - pred).var() / var)


def normc_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """OpenAI baselines' 'normc' initialisation (rows of unit norm times ``gain``), as in the original policy."""
    with torch.no_grad():
        weight.normal_(0, 1)
        weight *= gain / weight.pow(2).sum(1, keepdim=True).sqrt()
    return weight


def mlp(in_dim: int, layers: tuple[int, ...], activation: type[nn.Module] = nn.Tanh,
        init: str = "normc") -> nn.Sequential:
    """Hidden layers only (Linear + activation); ``normc`` init with the activation's gain, zero bias."""
    mods: list[nn.Module] = []
    gain = nn.init.calculate_gain("tanh" if activation is nn.Tanh else "relu")
    for width in layers:
        lin = nn.Linear(in_dim, width)
        if init == "normc":
            normc_(lin.weight, gain)
            nn.init.zeros_(lin.bias)
        mods += [lin, activation()]
        in_dim = width
    return nn.Sequential(*mods)


class PolicyHead(nn.Module):
    """Action distribution from features: Categorical (Discrete) or diagonal Gaussian (Box) with a
    state-independent log-std, as the original ``Categorical``/``DiagGaussian`` heads."""

    def __init__(self, in_dim: int, action_space, init_std: float = 1.0) -> None:
        super().__init__()
        import gymnasium as gym

        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if self.discrete:
            self.out = nn.Linear(in_dim, int(action_space.n))
            nn.init.orthogonal_(self.out.weight, gain=0.01)
        else:
            self.out = nn.Linear(in_dim, int(np.prod(action_space.shape)))
            normc_(self.out.weight, 1.0)
            self.logstd = nn.Parameter(torch.full((self.out.out_features,), float(np.log(init_std))))
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor) -> torch.distributions.Distribution:
        """The distribution without ``torch.distributions``' argument checks (a few tensor reductions per
        call, per env step while acting; the numbers are the same): a NaN policy output is still caught,
        by the env's action check or the loss and gradient checks of the update."""
        if self.discrete:
            return torch.distributions.Categorical(logits=self.out(h), validate_args=False)
        mean = self.out(h)
        std = self.logstd.exp().clamp_min(1e-6).expand_as(mean)
        return torch.distributions.Independent(torch.distributions.Normal(mean, std, validate_args=False), 1,
                                               validate_args=False)

    @staticmethod
    def mode(dist: torch.distributions.Distribution) -> torch.Tensor:
        if isinstance(dist, torch.distributions.Categorical):
            return dist.probs.argmax(-1)
        return dist.mean


def encode_action(action: torch.Tensor, action_space) -> torch.Tensor:
    """Actions as encoder inputs: one-hot for Discrete, clipped to the bounds for Box."""
    import gymnasium as gym

    if isinstance(action_space, gym.spaces.Discrete):
        return F.one_hot(action.long(), int(action_space.n)).float()
    low = torch.as_tensor(action_space.low, dtype=torch.float32)
    high = torch.as_tensor(action_space.high, dtype=torch.float32)
    return torch.max(torch.min(action.float(), high), low)


def action_dim(action_space) -> int:
    import gymnasium as gym

    return int(action_space.n) if isinstance(action_space, gym.spaces.Discrete) else int(np.prod(action_space.shape))
