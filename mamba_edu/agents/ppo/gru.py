"""A GRU over whole sequences whose backward pass is batched over time (a speed-up, the same gradients).

VariBAD's encoder (Zintgraf et al., 2019; ``lmzintgraf/varibad: models/encoder.py``) is an ``nn.GRU``
run over whole meta-episodes in every VAE update, and RL²'s policy re-reads whole meta-episodes in every
PPO minibatch. On a CPU, PyTorch differentiates ``nn.GRU`` through its per-step operations: a dozen or
more small autograd nodes per time step, each with its own dispatch overhead, which made the backward
pass 2–3× the forward's and the largest single cost of a VariBAD update (``benchmarks/profile_baselines.py``).

:func:`gru_sequence` computes the forward pass with PyTorch's own GRU kernel (the same outputs as
``nn.GRU``) and the backward pass by hand. Since every hidden state h_{t−1} is known after the forward
pass, the gate activations of all steps are recomputed in two matrix products; what remains sequential
is only the gradient through h, one multiply-add with W_hh per step. The gradients of the weights, the
biases and the inputs are then a few matrix products over all (t, b) at once. The equations are
PyTorch's ``nn.GRU`` (gates r, z, n in that order)::

    r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h

and their derivatives, with g = ∂L/∂h' (everything elementwise but the products with W)::

    ∂L/∂(pre-activation of n) = g (1 − z)(1 − n²) =: g A
    ∂L/∂(pre-activation of z) = g (h − n) z (1 − z)
    ∂L/∂(pre-activation of r) = g A (W_hn h + b_hn) r (1 − r)
    ∂L/∂(W_hn h + b_hn)       = g A r
    ∂L/∂h = g z + [∂L/∂(pre r), ∂L/∂(pre z), ∂L/∂(W_hn h + b_hn)] W_hh

so each step's gradients are g times per-step coefficients known in advance. The result equals autograd
through ``nn.GRU`` up to float rounding (``tests/test_baselines.py`` checks every gradient).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def _gates(x: torch.Tensor, h_prev: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
           b_hh: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """r, z, n and W_hn h + b_hn of every step at once, from inputs (T, B, I) and previous states (T, B, H)."""
    hidden = h_prev.shape[-1]
    gi = torch.addmm(b_ih, x.reshape(-1, x.shape[-1]), w_ih.t()).view(*x.shape[:2], 3 * hidden)
    gh = torch.addmm(b_hh, h_prev.reshape(-1, hidden), w_hh.t()).view(*x.shape[:2], 3 * hidden)
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return r, z, torch.tanh(i_n + r * h_n), h_n


class _GRUSequence(torch.autograd.Function):
    """Forward: PyTorch's GRU kernel; backward: the recursion of the module docstring."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        out, h_last = torch.gru(x, h0[None], (w_ih, w_hh, b_ih, b_hh), True, 1, 0.0, False, False, False)
        ctx.save_for_backward(x, h0, out, w_ih, w_hh, b_ih, b_hh)
        return out, h_last[0]

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_last):
        x, h0, out, w_ih, w_hh, b_ih, b_hh = ctx.saved_tensors
        T, B, H = out.shape
        h_prev = torch.cat([h0[None], out[:-1]])
        r, z, n, h_n = _gates(x, h_prev, w_ih, w_hh, b_ih, b_hh)
        a = (1 - z) * (1 - n * n)
        c_r, c_z = a * h_n * r * (1 - r), (h_prev - n) * z * (1 - z)
        coef_h = torch.stack([c_r, c_z, a * r], 2)               # ∂(W_hh h + b_hh) = g ⊙ coef_h, (T, B, 3, H)
        d_h = _backward_through_time(d_out, d_last, z, coef_h, w_hh)
        d_gh = (d_h[:, :, None] * coef_h).view(T * B, 3 * H)
        d_gi = (d_h[:, :, None] * torch.stack([c_r, c_z, a], 2)).view(T * B, 3 * H)
        x_flat = x.reshape(T * B, -1)
        d_x = (d_gi @ w_ih).view_as(x) if ctx.needs_input_grad[0] else None
        d_h0 = d_h[0] * z[0] + d_gh[:B] @ w_hh
        return (d_x, d_h0, d_gi.t() @ x_flat, d_gh.t() @ h_prev.reshape(T * B, H), d_gi.sum(0), d_gh.sum(0))


def _backward_through_time(d_out: torch.Tensor | None, d_last: torch.Tensor | None, z: torch.Tensor,
                           coef_h: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
    """g_t = ∂L/∂h_t for t = T−1..0 (T, B, H): the gradient of output t plus what flows back from h_{t+1}."""
    T, B, _, H = coef_h.shape
    d_h = coef_h.new_zeros(T, B, H) if d_out is None else d_out.clone(memory_format=torch.contiguous_format)
    carry = d_last
    for t in range(T - 1, -1, -1):
        g = d_h[t]
        if carry is not None:
            g.add_(carry)
        if t > 0:
            carry = torch.addmm(g * z[t], (g[:, None] * coef_h[t]).view(B, 3 * H), w_hh)
    return d_h


def gru_sequence(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``gru(x, h0[None])`` for a one-layer, unidirectional, time-major ``nn.GRU`` with biases: (outputs
    (T, B, H), last state (B, H)). With autograd on, the backward pass is :class:`_GRUSequence`'s; without,
    a single step is ``torch.gru_cell`` (bit-identical to ``nn.GRU``, less set-up per call)."""
    if gru.num_layers != 1 or gru.bidirectional or gru.batch_first or not gru.bias:
        raise ValueError("gru_sequence: a one-layer, unidirectional, time-major nn.GRU with biases")
    weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    if torch.is_grad_enabled():
        return _GRUSequence.apply(x, h0, *weights)
    if x.shape[0] == 1:                 # acting (RL²): one step, the same kernel nn.GRU runs per step
        h = torch.gru_cell(x[0], h0, *weights)
        return h[None], h
    out, h = gru(x, h0[None])
    return out, h[0]
