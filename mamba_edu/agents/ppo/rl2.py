"""RL² (Duan et al., 2016; Wang et al., 2016): a recurrent policy whose memory is the belief.

The paper's App. H.1.1 compares MAMBA with RL² (Table 5). The policy is a GRU over
(observation o_t, previous action a_{t−1}, previous reward r_{t−1}); its hidden state is never
reset inside a meta-episode, so it can learn to explore in the first sub-episodes and exploit
later. There is no decoder: the recurrent core is trained by the RL loss alone, with PPO through
time — each PPO minibatch is a set of whole meta-episodes that the GRU re-reads from step 0
(``minibatches`` splits the environments).

Sizes follow the original code's RL² (the VariBAD code with the decoder off and the RL loss
through the encoder): embeddings (Linear + ReLU) of observation, action and reward, a GRU, a
ReLU layer of ``latent_dim`` units, then separate tanh MLPs for actor and critic.
"""
from __future__ import annotations

import torch
from torch import nn

from mamba_edu.agents.ppo.gru import gru_sequence
from mamba_edu.agents.ppo.ppo import PolicyHead, mlp
from mamba_edu.agents.ppo.varibad import _embed


class RL2ActorCritic(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int, action_space, cfg) -> None:
        super().__init__()
        self.hidden = cfg.gru_hidden
        self.embed_o = _embed(obs_dim, cfg.state_embed)
        self.embed_a = _embed(action_dim, cfg.action_embed)
        self.embed_r = _embed(1, cfg.reward_embed)
        self.gru = nn.GRU(cfg.state_embed + cfg.action_embed + cfg.reward_embed, cfg.gru_hidden)
        for name, p in self.gru.named_parameters():
            nn.init.orthogonal_(p) if "weight" in name else nn.init.zeros_(p)
        self.latent = nn.Sequential(nn.Linear(cfg.gru_hidden, cfg.latent_dim), nn.ReLU())
        self.actor = mlp(cfg.latent_dim, cfg.policy_layers)
        self.critic = mlp(cfg.latent_dim, cfg.policy_layers)
        self.value = nn.Linear(cfg.policy_layers[-1], 1)
        self.head = PolicyHead(cfg.policy_layers[-1], action_space, cfg.policy_init_std)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch, self.hidden, device=device)

    def forward(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
                h: torch.Tensor) -> tuple[torch.distributions.Distribution, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Time-major (T, B, ·) inputs from hidden state h (B, hidden) →
        (action distribution, values (T, B), features (T, B, latent_dim), last hidden state)."""
        inputs = ((self.embed_o, obs), (self.embed_a, prev_action), (self.embed_r, prev_reward[..., None]))
        parts = [m(x) for m, x in inputs if m is not None]
        out, h = gru_sequence(self.gru, torch.cat(parts, -1), h)
        feat = self.latent(out)
        return self.head(self.actor(feat)), self.value(self.critic(feat))[..., 0], feat, h
