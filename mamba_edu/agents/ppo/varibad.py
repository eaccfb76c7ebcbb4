"""VariBAD (Zintgraf et al., 2019): a VAE whose latent is the belief, and a policy on (state, belief).

Paper Sec. 3.1: "a recurrent neural network (RNN) encoder encodes τ_t into the latent space of
the VAE which is interpreted as b_t ... VariBAD reconstructs the full trajectory τ_T from b_t.
Meanwhile, a policy is trained on the augmented state (s_t, z_t) ... the gradients do not flow
from the RL objective through z_t into the encoder". Sec. 3.2 / App. E: a variant that
reconstructs "only a small window of 10 transitions around the current time step" (local
reconstruction) does better on decomposable tasks such as Rooms-N.

The pieces:

* :class:`BeliefEncoder` — GRU over embeddings of (a_{t−1}, s_t, r_{t−1}) → q(m | τ_{:t}) =
  N(μ_t, diag σ_t²); the belief before any data (zero hidden state) is b_0 (whole sequences go through
  :func:`mamba_edu.agents.ppo.gru.gru_sequence`, whose backward pass is batched over time);
* :class:`RewardDecoder` — p(r | s', z) (MSE or Bernoulli), or one Bernoulli logit per grid cell
  (``bernoulli-cells``, the original grid-world decoder); :class:`StateDecoder` — optional
  p(s' | s, a, z);
* :func:`local_window` / :func:`decode_plan` — which transitions each belief decodes: all of
  them (global), a window around t (local), optionally subsampled;
* :func:`kl_to_previous` and :meth:`VariBADVAE.elbo` — the ELBO summed over t = 0..H:
  ``Σ_t E_{z~q_t}[Σ_{j∈W(t)} −log p(r_j | s_{j+1}, z)] + w_KL·KL(q_t ‖ q_{t−1})``, q_{−1} = N(0, I)
  (:func:`cell_nll_by_counts`: the cell decoder's global reconstruction term, summed cell by cell);
* :class:`BeliefPolicy` — the actor-critic on the normalised state and the detached (μ_t, log σ_t²);
* :class:`EpisodeBuffer` — the stored meta-episodes the VAE trains on (off-policy, as the original).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from mamba_edu.agents.ppo.gru import gru_sequence
from mamba_edu.agents.ppo.ppo import PolicyHead, mlp


def _embed(in_dim: int, out_dim: int) -> nn.Module | None:
    """The original ``FeatureExtractor``: Linear + ReLU (None when the width is 0 = input unused)."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU()) if out_dim > 0 else None


def sample_gaussian(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Reparameterised sample z = μ + σ·ε."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


class BeliefEncoder(nn.Module):
    """q(m | τ_{:t}): a GRU over (action, next state, reward) embeddings with Gaussian heads."""

    def __init__(self, state_dim: int, action_dim: int, latent_dim: int, hidden: int, action_embed: int,
                 state_embed: int, reward_embed: int) -> None:
        super().__init__()
        self.hidden, self.latent_dim = hidden, latent_dim
        self.embed_a = _embed(action_dim, action_embed)
        self.embed_s = _embed(state_dim, state_embed)
        self.embed_r = _embed(1, reward_embed)
        self.gru = nn.GRU(action_embed + state_embed + reward_embed, hidden)
        for name, p in self.gru.named_parameters():  # as the original: orthogonal weights, zero biases
            nn.init.orthogonal_(p) if "weight" in name else nn.init.zeros_(p)
        self.fc_mu = nn.Linear(hidden, latent_dim)
        self.fc_logvar = nn.Linear(hidden, latent_dim)

    def heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fc_mu(h), self.fc_logvar(h)

    def embed(self, action: torch.Tensor, state: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
        parts = [m(x) for m, x in ((self.embed_a, action), (self.embed_s, state), (self.embed_r, reward[..., None]))
                 if m is not None]
        return torch.cat(parts, -1)

    def prior(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """b_0 = heads(0): the belief before any transition; returns (μ_0, log σ_0², h_0)."""
        h = torch.zeros(batch, self.hidden, device=device)
        return (*self.heads(h), h)

    def step(self, action: torch.Tensor, state: torch.Tensor, reward: torch.Tensor,
             h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One transition (a_{t−1}, s_t, r_{t−1}) for B envs → (μ_t, log σ_t², h_t): a one-step
        :func:`~mamba_edu.agents.ppo.gru.gru_sequence` (acting, without autograd: ``torch.gru_cell``, the
        kernel ``nn.GRU`` runs per step, bit-identical, without its sequence set-up)."""
        _, h = gru_sequence(self.gru, self.embed(action, state, reward)[None], h)
        return (*self.heads(h), h)

    def forward(self, actions: torch.Tensor, next_states: torch.Tensor,
                rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Whole sequences, time-major (H, B, ·) → (μ, log σ², h) of shape (H+1, B, ·), b_0 included."""
        mu0, lv0, h0 = self.prior(actions.shape[1], actions.device)
        out, _ = gru_sequence(self.gru, self.embed(actions, next_states, rewards), h0)
        mu, lv = self.heads(out)
        return torch.cat([mu0[None], mu]), torch.cat([lv0[None], lv]), torch.cat([h0[None], out])


class RewardDecoder(nn.Module):
    """p(r | s', [a,] z). ``kind``: 'deterministic' (predicts r, MSE), 'bernoulli' (logit of r = 1),
    'bernoulli-cells' (one logit of r = 1 per grid cell from z alone; the original multi-head decoder).

    The state-conditioned decoders compute the first layer as W_z z + W_s e(s') (+ W_a e(a)) — the
    same as a Linear on the concatenation — so one z can be broadcast over many decoded transitions.
    """

    def __init__(self, kind: str, latent_dim: int, layers: tuple[int, ...], state_dim: int, state_embed: int,
                 action_dim: int = 0, action_embed: int = 0, n_cells: int = 0) -> None:
        super().__init__()
        self.kind = kind
        if kind == "bernoulli-cells":
            if n_cells < 1:
                raise ValueError("reward_decoder='bernoulli-cells' needs a grid environment (Rooms-N)")
            self.net = nn.Sequential(mlp(latent_dim, layers, nn.ReLU, init="default"), nn.Linear(layers[-1], n_cells))
            return
        self.embed_s = _embed(state_dim, state_embed) or nn.Identity()
        s_dim = state_embed or state_dim
        self.embed_a = (_embed(action_dim, action_embed) or nn.Identity()) if action_dim else None
        a_dim = (action_embed or action_dim) if action_dim else 0
        self.fc_z = nn.Linear(latent_dim, layers[0])
        self.fc_s = nn.Linear(s_dim, layers[0], bias=False)
        self.fc_a = nn.Linear(a_dim, layers[0], bias=False) if action_dim else None
        self.rest = nn.Sequential(nn.ReLU(), mlp(layers[0], layers[1:], nn.ReLU, init="default"),
                                  nn.Linear(layers[-1], 1))

    def forward(self, z: torch.Tensor, next_state: torch.Tensor | None = None, action: torch.Tensor | None = None,
                cell: torch.Tensor | None = None) -> torch.Tensor:
        """Prediction (value or logit) broadcast over the leading dims of z and the inputs."""
        if self.kind == "bernoulli-cells":
            logits = self.net(z)
            return logits if cell is None else _pick(logits, cell)
        return self.rest(self.fc_z(z) + self.transition_features(next_state, action))[..., 0]

    def transition_features(self, next_state: torch.Tensor, action: torch.Tensor | None = None) -> torch.Tensor:
        """The transition's part of the first layer, W_s e(s') (+ W_a e(a)): computed once per transition
        and gathered for every belief that decodes it (global reconstruction decodes each one H+1 times)."""
        h = self.fc_s(self.embed_s(next_state))
        return h + self.fc_a(self.embed_a(action)) if self.fc_a is not None else h

    def nll(self, z: torch.Tensor, reward: torch.Tensor, next_state: torch.Tensor | None = None,
            action: torch.Tensor | None = None, cell: torch.Tensor | None = None,
            features: torch.Tensor | None = None) -> torch.Tensor:
        """Per-transition reconstruction loss: squared error, or Bernoulli NLL of [r == 1] (the original
        target for grid worlds). ``features`` = precomputed :meth:`transition_features`."""
        if features is not None:
            pred = self.rest(self.fc_z(z) + features)[..., 0]
        else:
            pred = self(z, next_state, action, cell)
        if self.kind == "deterministic":
            return (pred - reward).pow(2)
        target = (reward == 1).float().expand_as(pred)
        return F.binary_cross_entropy_with_logits(pred, target, reduction="none")

    @torch.no_grad()
    def expected_reward(self, z: torch.Tensor, next_state: torch.Tensor | None = None,
                        action: torch.Tensor | None = None, cell: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's prediction as a number: r̂ (deterministic) or p(r = 1) (Bernoulli kinds)."""
        pred = self(z, next_state, action, cell)
        return pred if self.kind == "deterministic" else torch.sigmoid(pred)


def _pick(logits: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """``logits[..., cell]`` broadcast over the leading dims (advanced indexing rather than gather on an
    expanded view, so the backward pass allocates only the logits' size, not (elbos × decodes × cells))."""
    shape = torch.broadcast_shapes(logits.shape[:-1], cell.shape)
    logits = logits.reshape((1,) * (len(shape) - logits.dim() + 1) + logits.shape)
    idx = []
    for i, s in enumerate(logits.shape[:-1]):
        view = [1] * len(shape)
        view[i] = s
        idx.append(torch.arange(s).view(view))
    return logits[(*idx, cell.expand(shape))]


def cell_nll_by_counts(logits: torch.Tensor, cell: torch.Tensor, reward: torch.Tensor,
                       weight: torch.Tensor) -> torch.Tensor:
    """Σ_e Σ_j weight_j·BCE(logits[e, b, cell_j], [r_j = 1]) per trajectory b → (B,), for logits (Ne, B, C)
    and transitions (H, B), when every ELBO term e decodes the same transitions (global reconstruction).

    The same sum as decoding transition by transition (the original ``bernoulli-cells`` loss,
    ``lmzintgraf/varibad: vae.py, compute_rew_reconstruction_loss`` with ``rew_pred_type='bernoulli'``),
    grouped by cell: with BCE(x, y) = (1 − y)·x − log σ(x), the transitions of one cell c contribute
    n⁰_c·x_c − n_c·log σ(x_c), n_c their summed weight and n⁰_c that of those with r ≠ 1. Work
    Ne·B·C instead of Ne·H·B (plus the gathers), e.g. 63 cells instead of 200 transitions on Rooms-4.
    """
    n_all = logits.new_zeros(logits.shape[-2:]).scatter_add_(1, cell.t(), weight.t())
    n_neg = logits.new_zeros(logits.shape[-2:]).scatter_add_(1, cell.t(), (weight * (reward != 1)).t())
    return (n_neg * logits - n_all * F.logsigmoid(logits)).sum((0, -1))


class StateDecoder(nn.Module):
    """p(s_{t+1} | s_t, a_t, z) (deterministic, MSE averaged over state dimensions)."""

    def __init__(self, latent_dim: int, layers: tuple[int, ...], state_dim: int, state_embed: int,
                 action_dim: int, action_embed: int) -> None:
        super().__init__()
        self.embed_s = _embed(state_dim, state_embed) or nn.Identity()
        self.embed_a = _embed(action_dim, action_embed) or nn.Identity()
        self.fc_z = nn.Linear(latent_dim, layers[0])
        self.fc_s = nn.Linear(state_embed or state_dim, layers[0], bias=False)
        self.fc_a = nn.Linear(action_embed or action_dim, layers[0], bias=False)
        self.rest = nn.Sequential(nn.ReLU(), mlp(layers[0], layers[1:], nn.ReLU, init="default"),
                                  nn.Linear(layers[-1], state_dim))

    def nll(self, z: torch.Tensor, prev_state: torch.Tensor, action: torch.Tensor,
            next_state: torch.Tensor) -> torch.Tensor:
        pred = self.rest(self.fc_z(z) + self.fc_s(self.embed_s(prev_state)) + self.fc_a(self.embed_a(action)))
        return (pred - next_state).pow(2).mean(-1)


# ----- which transitions each belief reconstructs ---------------------------------------------------

def local_window(H: int, window: int) -> torch.Tensor:
    """(H+1, min(window, H)) transition indices decoded by the beliefs b_0..b_H under local reconstruction.

    Transition j = (s_j, a_j, r_j, s_{j+1}), j = 0..H−1; b_t has encoded transitions 0..t−1. Its window
    is the ``window`` transitions centred on t — j ∈ [t − w/2, t + w/2), half already seen, half to come
    — shifted inwards at the meta-episode's edges so that every belief decodes exactly ``window``
    transitions (b_0 decodes 0..w−1, b_H decodes H−w..H−1).
    """
    w = min(window, H)
    starts = (torch.arange(H + 1) - window // 2).clamp(0, H - w)
    return starts[:, None] + torch.arange(w)[None]


def decode_plan(H: int, B: int, reconstruction: str, window: int, decodable: torch.Tensor,
                n_elbos: int = 0, n_decodes: int = 0, rng: np.random.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index sets of one ELBO: (elbo_idx (Ne, B), decode_idx (Ne, Nd, B), weight (Ne, Nd, B)).

    ``elbo_idx[e, b]`` is the belief index t of ELBO term e of trajectory b; ``decode_idx[e, :, b]`` the
    transitions it reconstructs; ``weight`` = ``decodable`` of those transitions (0 for the pseudo
    transitions at sub-episode boundaries and after an early end). ``n_elbos``/``n_decodes`` > 0
    subsample uniformly (per trajectory, with replacement, as the original code); a local window is
    subsampled only if it is longer than ``n_decodes``.
    """
    rng = rng or np.random.default_rng()
    if n_elbos:
        elbo_idx = torch.as_tensor(rng.integers(0, H + 1, size=(n_elbos, B)))
    else:
        elbo_idx = torch.arange(H + 1)[:, None].expand(H + 1, B)
    if reconstruction == "global":
        if n_decodes:
            decode_idx = torch.as_tensor(rng.integers(0, H, size=(elbo_idx.shape[0], n_decodes, B)))
        else:
            decode_idx = torch.arange(H)[None, :, None].expand(elbo_idx.shape[0], H, B)
    elif reconstruction == "local":
        win = local_window(H, window)[elbo_idx]                      # (Ne, B, w)
        if n_decodes and n_decodes < win.shape[-1]:                  # a window smaller than n_decodes: all of it
            cols = torch.as_tensor(rng.integers(0, win.shape[-1], size=(elbo_idx.shape[0], B, n_decodes)))
            win = win.gather(-1, cols)
        decode_idx = win.permute(0, 2, 1)
    else:
        raise ValueError(f"reconstruction must be 'global' or 'local', got {reconstruction!r}")
    if reconstruction == "global" and not n_decodes:                 # every belief decodes all H: a view
        weight = decodable.float()[None].expand(elbo_idx.shape[0], H, B)
    else:
        weight = decodable[decode_idx, torch.arange(B)].float()
    return elbo_idx, decode_idx, weight


def kl_to_previous(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q_t ‖ q_{t−1}) for t = 0..H on (H+1, B, L) beliefs, with q_{−1} = N(0, I) → (H+1, B)."""
    prev_mean = torch.cat([torch.zeros_like(mean[:1]), mean[:-1]])
    prev_logvar = torch.cat([torch.zeros_like(logvar[:1]), logvar[:-1]])
    q = Normal(mean, torch.exp(0.5 * logvar))
    p = Normal(prev_mean, torch.exp(0.5 * prev_logvar))
    return kl_divergence(q, p).sum(-1)


class VariBADVAE(nn.Module):
    """Encoder + decoders, and the ELBO of a batch of meta-episodes."""

    def __init__(self, cfg, state_dim: int, action_dim: int, n_cells: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = BeliefEncoder(state_dim, action_dim, cfg.latent_dim, cfg.gru_hidden, cfg.action_embed,
                                     cfg.state_embed, cfg.reward_embed)
        self.reward_decoder = RewardDecoder(
            cfg.reward_decoder, cfg.latent_dim, cfg.reward_decoder_layers, state_dim, cfg.state_embed,
            action_dim if cfg.decoder_input_action else 0, cfg.action_embed, n_cells)
        self.state_decoder = (StateDecoder(cfg.latent_dim, cfg.state_decoder_layers, state_dim, cfg.state_embed,
                                           action_dim, cfg.action_embed) if cfg.decode_state else None)

    def reward_nll(self, z: torch.Tensor, batch: dict[str, torch.Tensor], idx: tuple | None) -> torch.Tensor:
        """Reward loss of the transitions at advanced index ``idx`` (into (H, B)) under latents ``z``;
        ``idx=None``: all H transitions, broadcast as (1, H, B) (global reconstruction without subsampling)."""
        pick = (lambda x: x[None]) if idx is None else (lambda x: x[idx])
        dec = self.reward_decoder
        if dec.kind == "bernoulli-cells":
            return dec.nll(z, pick(batch["rewards"]), cell=pick(batch["cells"][1:]))
        feats = dec.transition_features(batch["states"][1:],
                                        batch["actions"] if self.cfg.decoder_input_action else None)
        return dec.nll(z, pick(batch["rewards"]), features=pick(feats))

    def reward_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor], plan: tuple, every: bool) -> torch.Tensor:
        """Reconstruction term of the ELBO: Σ over ELBO terms and decoded transitions of the weighted reward
        loss, averaged over trajectories, for latents z (Ne, B, L) of ``plan``. ``every``: each term decodes
        all H transitions (global, no subsampling of decodes); the cell decoder then sums by cell."""
        _, decode_idx, weight = plan
        if every and self.reward_decoder.kind == "bernoulli-cells":
            return cell_nll_by_counts(self.reward_decoder.net(z), batch["cells"][1:], batch["rewards"],
                                      batch["decodable"].float()).mean()
        rec = self.reward_nll(z[:, None], batch, None if every else (decode_idx, torch.arange(z.shape[1])))
        return (rec * weight).sum((0, 1)).mean()                                  # rec: (Ne, Nd, B)

    def elbo(self, batch: dict[str, torch.Tensor], rng: np.random.Generator | None = None,
             plan: tuple | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Negative ELBO of B meta-episodes (time-major: states (H+1, B, S), actions (H, B, A),
        rewards (H, B), decodable (H, B), optionally cells (H+1, B)).

        Reduction as the original code: reconstruction summed over ELBO terms and decoded
        transitions, averaged over trajectories; KL summed over ELBO terms, then summed
        (``kl_batch_reduction='sum'``, the original) or averaged over trajectories.
        """
        cfg = self.cfg
        H, B = batch["rewards"].shape
        mean, logvar, _ = self.encoder(batch["actions"], batch["states"][1:], batch["rewards"])
        every = plan is None and cfg.reconstruction == "global" and not cfg.subsample_decodes
        if plan is None:
            plan = decode_plan(H, B, cfg.reconstruction, cfg.local_window, batch["decodable"],
                               cfg.subsample_elbos, cfg.subsample_decodes, rng)
        elbo_idx, decode_idx, weight = plan
        b = torch.arange(B)
        z = sample_gaussian(mean[elbo_idx, b], logvar[elbo_idx, b])            # (Ne, B, L)
        reward_loss = self.reward_loss(z, batch, plan, every)
        state_loss = torch.zeros(())
        if self.state_decoder is not None:
            s_rec = self.state_decoder.nll(z[:, None], batch["states"][:-1][decode_idx, b],
                                           batch["actions"][decode_idx, b], batch["states"][1:][decode_idx, b])
            state_loss = (s_rec * weight).sum((0, 1)).mean()
        kl = kl_to_previous(mean, logvar)[elbo_idx, b].sum(0)                   # (B,)
        kl = kl.sum() if cfg.kl_batch_reduction == "sum" else kl.mean()
        loss = cfg.reward_loss_coef * reward_loss + cfg.state_loss_coef * state_loss + cfg.kl_weight * kl
        return loss, {"losses/vae_reward": reward_loss.detach(), "losses/vae_state": state_loss.detach(),
                      "losses/vae_kl": kl.detach(), "losses/vae": loss.detach()}


class BeliefPolicy(nn.Module):
    """VariBAD's actor-critic: separate tanh MLPs on [e_s(norm(s)), e_b(norm(μ, log σ²))]."""

    def __init__(self, obs_dim: int, belief_dim: int, action_space, layers: tuple[int, ...], state_embed: int,
                 latent_embed: int, init_std: float = 1.0) -> None:
        super().__init__()
        self.embed_s = nn.Sequential(nn.Linear(obs_dim, state_embed), nn.Tanh()) if state_embed else nn.Identity()
        self.embed_b = nn.Sequential(nn.Linear(belief_dim, latent_embed), nn.Tanh()) if latent_embed else nn.Identity()
        in_dim = (state_embed or obs_dim) + (latent_embed or belief_dim)
        self.actor = mlp(in_dim, layers)
        self.critic = mlp(in_dim, layers)
        self.value = nn.Linear(layers[-1], 1)
        self.head = PolicyHead(layers[-1], action_space, init_std)

    def forward(self, obs: torch.Tensor, belief: torch.Tensor) -> tuple[torch.distributions.Distribution, torch.Tensor]:
        x = torch.cat([self.embed_s(obs), self.embed_b(belief)], -1)
        return self.head(self.actor(x)), self.value(self.critic(x))[..., 0]


class EpisodeBuffer:
    """First-in first-out store of whole meta-episodes for the VAE (batch-major numpy arrays)."""

    def __init__(self, capacity: int, H: int, state_dim: int, action_shape: tuple[int, ...], action_dtype) -> None:
        self.capacity, self.H = capacity, H
        self.data = {"states": np.zeros((capacity, H + 1, state_dim), np.float32),
                     "actions": np.zeros((capacity, H, *action_shape), action_dtype),
                     "rewards": np.zeros((capacity, H), np.float32),
                     "decodable": np.zeros((capacity, H), bool),
                     "valid": np.zeros((capacity, H), bool)}
        self.next, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, episodes: dict[str, np.ndarray]) -> None:
        n = len(episodes["rewards"])
        slots = (self.next + np.arange(n)) % self.capacity
        for k, v in self.data.items():
            v[slots] = episodes[k]
        self.next = int((self.next + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` meta-episodes drawn uniformly (with replacement only if the buffer holds fewer)."""
        idx = rng.choice(self.size, size=n, replace=self.size < n)
        return {k: v[idx] for k, v in self.data.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"data": {k: v[:self.size].copy() for k, v in self.data.items()}, "next": self.next, "size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size, self.next = int(state["size"]), int(state["next"])
        for k, v in state["data"].items():
            self.data[k][:self.size] = v


def cells_fn(env: Any) -> tuple[int, Callable[[torch.Tensor], torch.Tensor]] | None:
    """(number of cells, states → cell index) for grid envs (Rooms-N), else None."""
    layout = getattr(getattr(env, "proto", None), "layout", None)
    if layout is None:
        return None
    width, height = layout.width, layout.height

    def to_cell(states: torch.Tensor) -> torch.Tensor:
        x = torch.round((states[..., 0] + 1.0) / 2.0 * max(width - 1, 1)).long()
        y = torch.round(states[..., 1] + 1.0).long()
        return (x * height + y).clamp(0, layout.n_cells - 1)

    return layout.n_cells, to_cell
