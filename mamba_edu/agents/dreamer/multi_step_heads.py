"""The authors' multi-step reconstruction heads (their ``reconstruction_window``; not in the paper).

The released MAMBA code (GitHub zoharri/mamba, ``models.py`` and ``tools.window_data_repeat``) trains
three extra heads beside the decoder, reward and continue heads when ``reconstruction_window`` W > 0
(their default is 3). Each reads the concatenation [latent feature, encoder embedding of a step s] and
predicts the *next* step's data: the observation o_{s+1} (symlog MSE), the reward r_{s+1} (two-hot) and
the continue flag c_{s+1} (Bernoulli). For each of the L sampled loss steps t_l the embeddings come from
the W steps s = t_l − (W−1)/2, …, t_l + (W−1)/2 around it; a pair whose s or s+1 falls outside the
sequence is masked out (its loss is 0 but it still counts in the mean, as in their code).

Which feature goes with which embedding follows their code exactly. They tile the L sampled features W
times (``feat.repeat(1, W, 1)``) but lay the windows out step by step, so the k-th embedding of the l-th
window is paired with the feature of sampled step (l·W + k) mod L — usually another step of the same
sequence, not t_l. Both the features and the embeddings receive these heads' gradients (their
``grad_heads`` gains ``multi_decoder``, ``multi_reward`` and ``multi_cont``), so the heads ask the latent
state of one step to carry what, together with another step's embedding, predicts that step's successor:
for a task-dependent reward, the task.

``recon_window`` (0: off) turns them on; see docs/mamba.md (parity table) and
docs/notes/pointrobot_paper.md for why we measure them.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mamba_edu.agents.dreamer.distributions import TwoHot, symlog
from mamba_edu.agents.dreamer.networks import mlp, zero_init_last
from mamba_edu.agents.dreamer.time_major import gather_time


def window_pairs(rows: torch.Tensor, window: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors of the multi-step heads' (feature, embedding → next step) pairs.

    ``rows`` (L, B): the sampled loss steps. Returns, each (L·W, B) in the authors' order (window l,
    offset k at l·W + k): ``feat_row`` — which of the L sampled features is paired (their tiling:
    (l·W + k) mod L); ``embed_step`` — the embedded step s = t_l − (W−1)/2 + k (clamped into the sequence);
    ``valid`` — 1.0 where 0 ≤ s and s + 1 < ``seq_len``, else 0.0.
    """
    L, B = rows.shape
    half = (window - 1) // 2
    offsets = torch.arange(window, device=rows.device) - half
    steps = (rows[:, None, :] + offsets[None, :, None]).reshape(L * window, B)
    valid = ((steps >= 0) & (steps + 1 < seq_len)).float()
    flat = torch.arange(L * window, device=rows.device) % L
    feat_row = flat[:, None].expand(L * window, B)
    return feat_row, steps.clamp(0, seq_len - 1), valid


class MultiStepHeads(nn.Module):
    """Decoder, reward and continue heads on [feature, embedding of a nearby step] → the step after it."""

    def __init__(self, feat_dim: int, embed_dim: int, obs_dim: int, window: int, units: int, layers: int,
                 enc_units: int, enc_layers: int, bins: int) -> None:
        super().__init__()
        if window % 2 != 1:
            raise ValueError(f"recon_window must be odd (1, 3, 5, ...) or 0 (off), got {window}")
        self.window = window
        inp = feat_dim + embed_dim
        self.decoder = mlp(inp, enc_units, enc_layers, obs_dim)
        self.reward = zero_init_last(mlp(inp, units, layers, bins))
        self.cont = mlp(inp, units, layers, 1)

    def output_scales(self) -> dict[nn.Module, float]:
        """DreamerV3 initialisation scales of the output layers (as the authors' heads: reward 0)."""
        return {self.decoder[-1]: 1.0, self.reward[-1]: 0.0, self.cont[-1]: 1.0}

    def losses(self, feat: torch.Tensor, embed: torch.Tensor, batch: dict[str, Any],
               rows: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-pair losses, each (L·W, B), already multiplied by the validity mask, and the row (0..L−1)
        of the sampled step each pair belongs to (for per-step weights).

        ``feat`` (L, B, F): features at the sampled steps ``rows`` (L, B); ``embed`` (T, B, E): the
        embeddings of every step; ``batch``: the time-major batch (``obs``, ``reward``, ``terminal``).
        """
        feat_row, steps, valid = window_pairs(rows, self.window, embed.shape[0])
        nxt = (steps + 1).clamp(max=embed.shape[0] - 1)
        inp = torch.cat([gather_time(feat, feat_row), gather_time(embed, steps)], -1)
        obs, reward = gather_time(batch["obs"], nxt), gather_time(batch["reward"], nxt)
        term = gather_time(batch["terminal"], nxt)
        losses = {
            "multi_decoder": ((self.decoder(inp) - symlog(obs)) ** 2).sum(-1),
            "multi_reward": -TwoHot(self.reward(inp)).log_prob(reward),
            "multi_cont": nn.functional.binary_cross_entropy_with_logits(
                self.cont(inp).squeeze(-1), 1.0 - term, reduction="none"),
        }
        owner = (torch.arange(steps.shape[0], device=steps.device) // self.window)[:, None].expand_as(steps)
        return {k: v * valid for k, v in losses.items()}, owner
