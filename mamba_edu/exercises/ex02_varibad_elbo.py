"""Assignment 02_varibad_elbo: VariBAD's ELBO with global and local reconstruction.

Questions (notebook ``exercises/02_varibad_elbo.ipynb``; code ``mamba_edu/agents/ppo/varibad.py``):

* ``local_window`` — ``local_window(H, window)``: the transitions each belief b_0..b_H decodes
  under local reconstruction, compared with :func:`mamba_edu.agents.ppo.varibad.local_window`
  (including windows longer than the meta-episode);
* ``kl_to_previous`` — KL(q_t ‖ q_{t−1}) of diagonal Gaussians with q_{−1} = N(0, I), compared with
  hand-computed values and with :func:`~mamba_edu.agents.ppo.varibad.kl_to_previous`;
* ``negative_elbo`` — the negative ELBO of a batch given a table of reconstruction losses
  nll[t, j, b] (belief t decoding transition j), global or local, compared with the same sum built
  from the package's :func:`~mamba_edu.agents.ppo.varibad.decode_plan` and ``kl_to_previous``;
  its gradient shows which transitions each belief is asked to explain.
"""
from __future__ import annotations

import numpy as np

from mamba_edu.exercises.feedback import Fail, as_array, expect, expect_close, fmt
from mamba_edu.exercises.questions import Case, Context, Question

ASSIGNMENT = "02_varibad_elbo"
TITLE = "VariBAD's ELBO with a local window"


def _forbidden_window():
    from mamba_edu.agents.ppo import varibad

    return [(varibad.local_window, "mamba_edu.agents.ppo.varibad.local_window"),
            (varibad.decode_plan, "mamba_edu.agents.ppo.varibad.decode_plan")]


def _forbidden_kl():
    from mamba_edu.agents.ppo import varibad

    return [(varibad.kl_to_previous, "mamba_edu.agents.ppo.varibad.kl_to_previous")]


def _forbidden_elbo():
    from mamba_edu.agents.ppo import varibad

    return _forbidden_window() + _forbidden_kl() + [(varibad.VariBADVAE.elbo, "VariBADVAE.elbo")]


# ----- question 1: the local window ----------------------------------------------------------------
def _window_cases(ctx: Context, local_window) -> list[Case]:
    hint = ("row t holds the `window` transitions starting at t − window // 2, with the start clamped to "
            "[0, H − w] (w = min(window, H)) so that rows near the edges are shifted inwards")

    def run_case(H: int, window: int):
        def run():
            from mamba_edu.agents.ppo.varibad import local_window as reference

            got = ctx.call(local_window, H, window, what="local_window")
            arr = as_array(got, f"local_window({H}, {window})")
            expected = reference(H, window).numpy()
            if arr.shape == expected.shape and arr.size and (arr.min() < 0 or arr.max() > H - 1):
                raise Fail(f"local_window({H}, {window}) contains transition indices outside 0..{H - 1} "
                           f"(min {arr.min():g}, max {arr.max():g}): {fmt(arr)}", hint)
            expect_close(f"local_window({H}, {window})", arr, expected, atol=0, rtol=0, hint=hint)
        return run

    def integer_type():
        got = ctx.call(local_window, 6, 4, what="local_window")
        dtype = getattr(got, "dtype", None)
        ok = dtype is not None and ("int" in str(dtype))
        expect(ok, f"local_window must return integer indices (they index tensors), got dtype {dtype}",
               "e.g. torch.arange(...) gives int64")

    return [Case("H = 6, window = 4 (interior and both edges)", run_case(6, 4)),
            Case("H = 10, window = 3 (odd window)", run_case(10, 3)),
            Case("H = 5, window = 8 (window longer than the meta-episode)", run_case(5, 8)),
            Case("H = 1, window = 1", run_case(1, 1)),
            Case("H = 200, window = 10 (Rooms: K = 2 sub-episodes of T = 100)", run_case(200, 10)),
            Case("indices are integers", integer_type)]


# ----- question 2: KL to the previous belief --------------------------------------------------------
def _kl_cases(ctx: Context, kl_to_previous) -> list[Case]:
    import torch

    hint = ("for diagonal Gaussians KL(q ‖ p) = Σ_dims ½[log σ_p² − log σ_q² + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1]; "
            "the belief before b_0 is N(0, I)")

    def call(mean, logvar):
        return ctx.call(kl_to_previous, mean.clone(), logvar.clone(), what="kl_to_previous")

    def standard():
        mean, logvar = torch.zeros(4, 2, 3), torch.zeros(4, 2, 3)
        expect_close("KL of N(0, I) beliefs that never change", call(mean, logvar), torch.zeros(4, 2), hint=hint)

    def mean_shift():
        mean = torch.tensor([1.0, 1.0, -1.0]).view(3, 1, 1)
        logvar = torch.zeros(3, 1, 1)
        # by hand: equal variances 1, so KL = ½ (μ_t − μ_{t−1})²: ½·1², 0, ½·2²
        expected = torch.tensor([0.5, 0.0, 2.0]).view(3, 1)
        expect_close("KL for means 1, 1, −1 (unit variance)", call(mean, logvar), expected, hint=hint)

    def variance_only():
        lv = 0.7
        mean = torch.zeros(2, 1, 1)
        logvar = torch.tensor([lv, lv]).view(2, 1, 1)
        # by hand: KL(N(0, e^lv) ‖ N(0, 1)) = ½(e^lv − lv − 1); then identical beliefs: 0
        expected = torch.tensor([0.5 * (np.exp(lv) - lv - 1.0), 0.0]).view(2, 1)
        expect_close("KL for log-variances 0.7, 0.7 (zero means)", call(mean, logvar), expected, hint=hint)

    def random_case(H1: int, B: int, L: int, offset: int):
        def run():
            from mamba_edu.agents.ppo.varibad import kl_to_previous as reference

            g = ctx.torch_generator(offset)
            mean = torch.randn(H1, B, L, generator=g)
            logvar = 0.5 * torch.randn(H1, B, L, generator=g)
            expect_close(f"KL for random beliefs of shape {(H1, B, L)}", call(mean, logvar),
                         reference(mean, logvar), atol=1e-5, rtol=1e-4, hint=hint)
        return run

    return [Case("beliefs that stay N(0, I): KL = 0 (by hand)", standard),
            Case("means move, unit variances (by hand)", mean_shift),
            Case("variances differ from the N(0, I) prior (by hand)", variance_only),
            Case("random beliefs (H+1, B, L) = (6, 3, 2) vs the package", random_case(6, 3, 2, 1)),
            Case("random beliefs (H+1, B, L) = (21, 4, 5) vs the package", random_case(21, 4, 5, 2))]


# ----- question 3: the negative ELBO -----------------------------------------------------------------
def reference_negative_elbo(nll, mean, logvar, decodable, reconstruction: str, window: int, kl_weight: float):
    """The negative ELBO assembled from the package's pieces (as :meth:`VariBADVAE.elbo` does without
    subsampling, with the KL averaged over the batch)."""
    import torch

    from mamba_edu.agents.ppo.varibad import decode_plan, kl_to_previous

    H, B = nll.shape[1], nll.shape[2]
    elbo_idx, decode_idx, weight = decode_plan(H, B, reconstruction, window, decodable)
    b = torch.arange(B)
    rec = nll[elbo_idx[:, None, :], decode_idx, b]                       # (Ne, Nd, B)
    reconstruction_loss = (rec * weight).sum((0, 1)).mean()
    kl = kl_to_previous(mean, logvar)[elbo_idx, b].sum(0).mean()
    return reconstruction_loss + kl_weight * kl


def _nll_gradient(negative_elbo, nll, mean, logvar, decodable):
    """d loss / d nll of the local ELBO (window 4, kl_weight 0.1); runs with the student's code."""
    import torch

    mine = nll.clone().requires_grad_(True)
    out = negative_elbo(mine, mean.clone(), logvar.clone(), decodable.clone(), "local", 4, 0.1)
    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        raise Fail(f"negative_elbo must return a torch scalar that is differentiable in nll (got {fmt(out)})",
                   "use torch operations only (no .item(), .numpy() or float())")
    if out.numel() != 1:
        raise Fail(f"negative_elbo must return a scalar, got shape {tuple(out.shape)}")
    out.backward()
    return mine.grad if mine.grad is not None else torch.zeros_like(nll)


def _elbo_cases(ctx: Context, negative_elbo) -> list[Case]:
    import torch

    hint = ("sum over beliefs t = 0..H of [Σ_{j in W(t)} decodable[j]·nll[t, j] + kl_weight·KL(q_t ‖ q_{t−1})], "
            "averaged over the batch; W(t) = all transitions (global) or local_window(H, window)[t] (local)")

    def data(H: int, B: int, L: int, offset: int, mask: bool = False):
        g = ctx.torch_generator(offset)
        nll = torch.rand(H + 1, H, B, generator=g) * 2.0
        mean = torch.randn(H + 1, B, L, generator=g)
        logvar = 0.3 * torch.randn(H + 1, B, L, generator=g)
        decodable = torch.ones(H, B, dtype=torch.bool)
        if mask:
            decodable[H // 2 - 1] = False      # a pseudo transition at a sub-episode boundary
            decodable[-1, 0] = False
        return nll, mean, logvar, decodable

    def call(nll, mean, logvar, decodable, reconstruction, window, kl_weight):
        return ctx.call(negative_elbo, nll, mean, logvar, decodable, reconstruction, window, kl_weight,
                        what="negative_elbo")

    def value_case(reconstruction: str, window: int, kl_weight: float, mask: bool, H: int, offset: int):
        def run():
            args = data(H, 3, 2, offset, mask)
            got = call(*(a.clone() for a in args), reconstruction, window, kl_weight)
            expected = reference_negative_elbo(*args, reconstruction, window, kl_weight)
            expect_close(f"negative ELBO ({reconstruction}, window {window}, kl_weight {kl_weight:g}, H = {H})", got,
                         expected, atol=1e-4, rtol=1e-5, hint=hint)
        return run

    def long_window_is_global():
        args = data(6, 2, 2, 7)
        local = call(*(a.clone() for a in args), "local", 50, 0.1)
        global_ = reference_negative_elbo(*args, "global", 0, 0.1)
        expect_close("local reconstruction with a window longer than the meta-episode (must equal global)", local,
                     global_, atol=1e-4, rtol=1e-5, hint=hint)

    def gradient_case():
        H, B = 12, 2
        nll, mean, logvar, decodable = data(H, B, 2, 9, mask=True)
        got = ctx.call(_nll_gradient, negative_elbo, nll, mean, logvar, decodable, what="negative_elbo").numpy()
        expected = _nll_gradient(reference_negative_elbo, nll, mean, logvar, decodable).numpy()
        wrong = np.argwhere(~np.isclose(got, expected, atol=1e-6))
        if len(wrong):
            t, j, b = (int(v) for v in wrong[0])
            raise Fail(f"d loss / d nll[t={t}, j={j}, b={b}] is {got[t, j, b]:.4g}, expected {expected[t, j, b]:.4g}: "
                       f"belief {t} should {'decode' if expected[t, j, b] else 'not decode'} transition {j} "
                       f"(window of belief {t}: transitions with nonzero weight "
                       f"{np.flatnonzero(expected[t, :, b]).tolist()})", hint)

    return [Case("global reconstruction, H = 5", value_case("global", 0, 1.0, False, 5, 3)),
            Case("local reconstruction, window 4, H = 8", value_case("local", 4, 0.1, False, 8, 4)),
            Case("local reconstruction, odd window 3, pseudo transitions masked", value_case("local", 3, 0.5, True, 9, 5)),
            Case("global reconstruction with pseudo transitions masked", value_case("global", 0, 0.1, True, 8, 6)),
            Case("a window longer than the meta-episode gives global reconstruction", long_window_is_global),
            Case("behaviour: each belief is trained to explain only the transitions in its window (gradient)",
                 gradient_case)]


QUESTIONS = [
    Question("local_window", ASSIGNMENT, "which transitions each belief decodes", 1, ("local_window",),
             _window_cases, _forbidden_window),
    Question("kl_to_previous", ASSIGNMENT, "KL between consecutive beliefs", 2, ("kl_to_previous",), _kl_cases,
             _forbidden_kl),
    Question("negative_elbo", ASSIGNMENT, "the negative ELBO, global and local", 3, ("negative_elbo",), _elbo_cases,
             _forbidden_elbo),
]
