"""Actor-critic trained in imagination (DreamerV3; paper Sec. 2.2).

From start states s_0 (posterior states from replay) the actor imagines N_IMG steps in the
world model. With predicted rewards r̂, continue probabilities ĉ and critic values v:

    λ-return  R_t = r̂_{t+1} + γ ĉ_{t+1} ((1−λ) v_{t+1} + λ R_{t+1}),   R_H = v_H.

* critic: two-hot cross-entropy towards sg(R_t), plus a regulariser towards an EMA ("slow")
  copy of itself;
* actor: advantages (R_t − v_t) / max(1, S), with S an EMA of the 95th−5th percentile range of
  returns (return normalisation); REINFORCE for discrete actions (−log π · sg(adv)),
  backpropagation through the model for continuous ones (−adv, gradients through R_t only: the
  baseline v_t is a stop-gradient); entropy bonus η = 3e-4;
* every term is weighted by the imagined probability of still being alive, ∏ ĉ.

Under ``paper`` two details follow the authors' code instead (``baseline_grad``: the baseline keeps
its gradient; ``imag_weights_discounted``: the weights are ∏ γ·ĉ over the states before t). Both are
the same as ours with one imagined step (PointRobot, Rooms).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from mamba_edu.agents.dreamer.distributions import BoundedNormal, OneHotPolicy, TwoHot
from mamba_edu.agents.dreamer.networks import dreamerv3_init, mlp, set_layer_norm_eps, zero_init_last


def lambda_returns(rewards: torch.Tensor, conts: torch.Tensor, values: torch.Tensor, gamma: float,
                   lam: float) -> torch.Tensor:
    """λ-returns R_0..R_{H−1} (time-major).

    ``rewards``/``conts``/``values`` have H+1 entries along time (index 0 = start state);
    rewards[t] and conts[t] are those predicted on *arriving* at state t.
    """
    H = values.shape[0] - 1
    ret = values[H]
    out = []
    for t in reversed(range(H)):
        ret = rewards[t + 1] + gamma * conts[t + 1] * ((1 - lam) * values[t + 1] + lam * ret)
        out.append(ret)
    return torch.stack(out[::-1])


class ReturnNormalizer(nn.Module):
    """EMA of the 5th–95th percentile range of λ-returns; advantages are divided by max(1, S)."""

    def __init__(self, decay: float = 0.99, from_zero: bool = False) -> None:
        """``from_zero``: the EMA starts at 0 (the authors' code); else the first batch's percentiles."""
        super().__init__()
        self.decay = decay
        self.register_buffer("low", torch.zeros(()))
        self.register_buffer("high", torch.zeros(()))
        self.register_buffer("initialised", torch.full((), from_zero, dtype=torch.bool))

    def update(self, returns: torch.Tensor) -> torch.Tensor:
        flat = returns.detach().flatten().float()
        lo, hi = torch.quantile(flat, 0.05), torch.quantile(flat, 0.95)
        # torch.where on the flag rather than an `if`: reading it on the host would synchronise with the device
        d = self.decay
        self.low.copy_(torch.where(self.initialised, self.low * d + (1 - d) * lo, lo))
        self.high.copy_(torch.where(self.initialised, self.high * d + (1 - d) * hi, hi))
        self.initialised.fill_(True)
        return self.scale()

    def scale(self) -> torch.Tensor:
        return torch.clamp(self.high - self.low, min=1.0)


class ActorCritic(nn.Module):
    def __init__(self, cfg, feat_dim: int, action_dim: int, discrete: bool) -> None:
        super().__init__()
        self.cfg = cfg
        self.discrete = discrete
        self.action_dim = action_dim
        self.actor = mlp(feat_dim, cfg.units, cfg.layers, action_dim if discrete else 2 * action_dim)
        self.critic = zero_init_last(mlp(feat_dim, cfg.units, cfg.layers, cfg.bins))
        set_layer_norm_eps(self, cfg.norm_eps)
        if cfg.weight_init == "dreamerv3":
            dreamerv3_init(self, {self.actor[-1]: 1.0, self.critic[-1]: 0.0})
        self.slow_critic = copy.deepcopy(self.critic)
        for p in self.slow_critic.parameters():
            p.requires_grad_(False)
        self.retnorm = ReturnNormalizer(cfg.retnorm_decay, cfg.retnorm_from_zero)
        grad = cfg.actor_grad
        self.actor_grad = ("reinforce" if discrete else "dynamics") if grad == "auto" else grad

    def policy(self, feat: torch.Tensor):
        if self.discrete:
            return OneHotPolicy(self.actor(feat), self.cfg.unimix)
        if not self.cfg.std_head_detached:
            mean, std = self.actor(feat).chunk(2, -1)
            return BoundedNormal(mean, std)
        # The std reads the hidden features through a stop-gradient: its gradients (the entropy
        # bonus's above all) train only the std's rows of the output layer and cannot move the mean
        # through the shared layers. Same parameters as the shared head, so checkpoints interchange.
        hidden = self.actor[:-1](feat)
        out_layer = self.actor[-1]
        a = self.action_dim
        mean = nn.functional.linear(hidden, out_layer.weight[:a], out_layer.bias[:a])
        std = nn.functional.linear(hidden.detach(), out_layer.weight[a:], out_layer.bias[a:])
        return BoundedNormal(mean, std)

    def value(self, feat: torch.Tensor, slow: bool = False) -> torch.Tensor:
        return TwoHot((self.slow_critic if slow else self.critic)(feat)).mean()

    @torch.no_grad()
    def update_slow_critic(self) -> None:
        f = self.cfg.slow_critic_fraction
        for p_slow, p in zip(self.slow_critic.parameters(), self.critic.parameters()):
            p_slow.mul_(1 - f).add_(f * p)

    def losses(self, world_model, start: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Imagine from ``start`` (flat batch of states) and return (actor loss, critic loss, metrics)."""
        cfg = self.cfg
        rssm = world_model.rssm
        start = {k: v.detach() for k, v in start.items()}
        wm_params = list(world_model.parameters())
        for p in wm_params:  # the actor's gradients never update the world model
            p.requires_grad_(False)
        try:
            if self.actor_grad == "reinforce":
                with torch.no_grad():
                    states, actions = rssm.imagine(start, lambda f: self.policy(f).sample(), cfg.imag_horizon)
            else:
                states, actions = rssm.imagine(start, lambda f: self.policy(f.detach()).sample(), cfg.imag_horizon)
            feats = rssm.features(states)
            # Reward and continue are predicted on *arriving* at a state: the start state's are never
            # used (its continue is 1 by definition), so the heads run on the imagined states only.
            rewards = world_model.reward(feats[1:])
            conts = world_model.cont(feats[1:])
            if cfg.imag_weights_discounted:
                with torch.no_grad():
                    start_cont = world_model.cont(feats[:1])
        finally:
            for p in wm_params:
                p.requires_grad_(True)
        rewards = torch.cat([torch.zeros_like(rewards[:1]), rewards])
        conts = torch.cat([torch.ones_like(conts[:1]), conts])
        if feats.requires_grad:
            # "dynamics": the actor's gradient flows through v(s_1..H); the critic's own loss gets a
            # separate pass on detached features, so it can never reach the actor.
            values = self.value(feats)
            critic_logits = self.critic(feats[:-1].detach())
        else:
            # "reinforce": the imagined features carry no graph, so one critic pass serves both.
            all_logits = self.critic(feats)
            values = TwoHot(all_logits.detach()).mean()
            critic_logits = all_logits[:-1]
        returns = lambda_returns(rewards, conts, values, cfg.gamma, cfg.lam)  # (H, N)
        if cfg.imag_weights_discounted:
            # the authors' weights: prod over the states before t of γ·ĉ, ĉ read at each state (s_0's too)
            state_conts = torch.cat([start_cont, conts[1:]]).detach()
            weights = torch.cumprod(torch.cat([torch.ones_like(state_conts[:1]), cfg.gamma * state_conts[:-2]]), 0)
        else:
            weights = torch.cumprod(conts, 0).detach()[:-1]
        scale = self.retnorm.update(returns)
        # The baseline v_t carries no gradient unless ``baseline_grad`` (the authors' code): in "dynamics"
        # mode the imagined states after the first depend on the actor's actions, and a differentiable −v_t
        # would push the policy towards states the critic values LOW (it drove a point robot away from a
        # fixed goal).
        baseline = values[:-1] if cfg.baseline_grad else values[:-1].detach()
        adv = (returns - baseline) / scale
        dist = self.policy(feats[:-1].detach())
        entropy = dist.entropy()
        if self.actor_grad == "reinforce":
            actor_obj = dist.log_prob(actions.detach()) * adv.detach()
        else:
            actor_obj = adv
        actor_loss = -(weights * (actor_obj + cfg.entropy * entropy)).mean()
        critic_dist = TwoHot(critic_logits)
        slow_target = self.value(feats[:-1].detach(), slow=True).detach()
        critic_loss = -(weights * (critic_dist.log_prob(returns.detach())
                                   + cfg.slow_critic_reg * critic_dist.log_prob(slow_target))).mean()
        metrics = {
            "ac/imag_reward": rewards[1:].mean().detach(),
            "ac/return": returns.mean().detach(),
            "ac/value": values.mean().detach(),
            "ac/entropy": entropy.mean().detach(),
            "ac/return_scale": scale.detach(),
            "losses/actor": actor_loss.detach(),
            "losses/critic": critic_loss.detach(),
        }
        return actor_loss, critic_loss, metrics
