"""Assignment 03_rssm_step: one RSSM posterior step; KL balancing with free bits.

Questions (notebook ``exercises/03_rssm_step.ipynb``; book ``book/03_world_models.ipynb``; code
``mamba_edu/agents/dreamer/rssm.py``):

* ``posterior_step`` — ``posterior_step(rssm, state, prev_action, embed, noise)`` built from the
  RSSM's layers, compared with :meth:`RSSM.obs_step` (values and gradients) and, chained over a
  sequence, with :meth:`RSSM.observe`;
* ``kl_categorical`` — KL between factorised categoricals, hand-computed cases and
  :func:`~mamba_edu.agents.dreamer.rssm.kl_categorical`;
* ``kl_balance`` — DreamerV3's balanced KL with free bits: values *and* gradients (where the stop
  gradients go) compared with :func:`~mamba_edu.agents.dreamer.rssm.kl_balance`;
* ``kl_balance_training`` (behaviour) — gradient descent on the student's loss: the dynamics term
  moves only the prior, the representation term only the posterior, and free bits stop both.
"""
from __future__ import annotations

import threading

import numpy as np

from mamba_edu.exercises.feedback import Fail, expect, expect_close, fmt
from mamba_edu.exercises.questions import Case, Context, Question

ASSIGNMENT = "03_rssm_step"
TITLE = "An RSSM step and KL balancing"

SIZES = dict(embed=6, action_dim=3, deter=8, hidden=10, stoch=3, classes=4, unimix=0.01)

#: the grader scores several submissions in threads of one process; building an RSSM seeds torch's global RNG
_GLOBAL_RNG = threading.Lock()


def _forbidden_step():
    from mamba_edu.agents.dreamer.rssm import RSSM

    return [(RSSM.obs_step, "RSSM.obs_step"), (RSSM._gru_step, "RSSM._gru_step"),
            (RSSM.observe, "RSSM.observe"), (RSSM.img_step, "RSSM.img_step")]


def _forbidden_kl():
    from mamba_edu.agents.dreamer import rssm

    return [(rssm.kl_categorical, "mamba_edu.agents.dreamer.rssm.kl_categorical"),
            (rssm.kl_balance, "mamba_edu.agents.dreamer.rssm.kl_balance")]


def _forbidden_balance():
    from mamba_edu.agents.dreamer import rssm

    return [(rssm.kl_balance, "mamba_edu.agents.dreamer.rssm.kl_balance")]


def make_rssm(seed: int):
    """A small randomly initialised RSSM and a batch of inputs for one step."""
    import torch
    import torch.nn.functional as F

    from mamba_edu.agents.dreamer.distributions import gumbel_noise
    from mamba_edu.agents.dreamer.rssm import RSSM

    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rssm = RSSM(SIZES["embed"], SIZES["action_dim"], SIZES["deter"], SIZES["hidden"], SIZES["stoch"],
                    SIZES["classes"], SIZES["unimix"])
        with torch.no_grad():  # move the zero-initialised parts away from 0 so that mistakes show
            rssm.init_deter.normal_()
        B, S, C = 5, SIZES["stoch"], SIZES["classes"]
        logits = torch.randn(B, S, C)
        state = {"deter": torch.tanh(torch.randn(B, SIZES["deter"])),
                 "stoch": F.one_hot(logits.argmax(-1), C).float(), "logits": logits}
        prev_action = F.one_hot(torch.randint(0, SIZES["action_dim"], (B,)), SIZES["action_dim"]).float()
        embed = torch.randn(B, SIZES["embed"])
        noise = gumbel_noise((B, S, C))
        seq_embed = torch.randn(6, B, SIZES["embed"])
        seq_action = F.one_hot(torch.randint(0, SIZES["action_dim"], (6, B)), SIZES["action_dim"]).float()
        seq_noise = gumbel_noise((6, B, S, C))
    return rssm, state, prev_action, embed, noise, (seq_embed, seq_action, seq_noise)


def _state_parts(out, what: str):
    if not isinstance(out, dict) or not {"deter", "stoch", "logits"} <= set(out):
        raise Fail(f"{what} must return a dict with keys 'deter', 'stoch' and 'logits', got {fmt(out)}")
    return out


# ----- question 1: the posterior step -----------------------------------------------------------------
def _reference_step(rssm, state, prev_action, embed, noise):
    return rssm.obs_step(state, prev_action, embed, noise=noise)


def _layer_gradients(posterior_step, rssm, state, prev_action, embed, noise, w_s, w_d):
    """Gradients of Σ w_s·z_t + Σ w_d·h_t with respect to every RSSM parameter (runs with the student's code)."""
    import torch

    rssm.zero_grad(set_to_none=True)
    out = _state_parts(posterior_step(rssm, dict(state), prev_action, embed, noise), "posterior_step")
    loss = (out["stoch"] * w_s).sum() + (out["deter"] * w_d).sum()
    if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
        raise Fail("your posterior_step's outputs carry no gradient; use the RSSM's layers and torch "
                   "operations (no torch.no_grad(), .detach() or .item())")
    loss.backward()
    return {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for n, p in rssm.named_parameters()}


def _step_cases(ctx: Context, posterior_step) -> list[Case]:
    import torch

    hint = ("h_t = gru(silu(img_in_norm(img_in_z(flat z_{t−1}) + img_in_a(a_{t−1}))), h_{t−1}); "
            "logits = unimix(post_out(silu(post_norm(post_h(h_t) + post_e(e_t)))) reshaped to (stoch, classes)); "
            "z_t = one-hot of argmax(logits + noise), with straight-through gradients")

    def setup(offset: int = 0):
        return make_rssm(ctx.seed * 7 + offset)

    def compare_key(key: str):
        def run():
            rssm, state, a, e, noise, _ = setup()
            with torch.no_grad():
                got = _state_parts(ctx.call(posterior_step, rssm, dict(state), a.clone(), e.clone(), noise.clone(),
                                            what="posterior_step"), "posterior_step")
                expected = rssm.obs_step(state, a, e, noise=noise)
            expect_close(f"{key} (batch of 5)", got[key], expected[key], atol=1e-5, rtol=1e-4, hint=hint)
        return run

    def gradients():
        rssm, state, a, e, noise, _ = setup(1)
        g = ctx.torch_generator(3)
        w_s = torch.randn(5, SIZES["stoch"], SIZES["classes"], generator=g)
        w_d = torch.randn(5, SIZES["deter"], generator=g)
        mine = ctx.call(_layer_gradients, posterior_step, rssm, state, a, e, noise, w_s, w_d, what="posterior_step")
        theirs = _layer_gradients(_reference_step, rssm, state, a, e, noise, w_s, w_d)
        for name, g_exp in theirs.items():
            try:
                expect_close(f"gradient of (w·z_t + v·h_t) with respect to rssm.{name}", mine[name], g_exp,
                             atol=1e-5, rtol=1e-4)
            except Fail as f:
                raise Fail(f.message, "z_t must be one_hot + probs − probs.detach() (straight-through), so the "
                           "gradient reaches the posterior's layers") from None

    def sequence():
        rssm, state, _, _, _, (emb, act, noise) = setup(2)
        with torch.no_grad():
            expected = rssm.observe(emb, act, state, noise=noise)
            s = dict(state)
            for t in range(emb.shape[0]):
                s = _state_parts(ctx.call(posterior_step, rssm, s, act[t], emb[t], noise[t], what="posterior_step"),
                                 "posterior_step")
                for key in ("deter", "logits", "stoch"):
                    try:
                        expect_close(f"{key} at step {t} of a 6-step sequence", s[key], expected[key][t], atol=1e-4,
                                     rtol=1e-3)
                    except Fail as f:
                        raise Fail(f.message + "\n (each step must feed its own z_t and h_t into the next one)",
                                   hint) from None

    return [Case("deterministic state h_t matches RSSM.obs_step", compare_key("deter")),
            Case("posterior logits match RSSM.obs_step (unimix included)", compare_key("logits")),
            Case("sampled z_t (one-hot, with the given Gumbel noise) matches RSSM.obs_step", compare_key("stoch")),
            Case("gradients reach every layer as in RSSM.obs_step (straight-through z_t)", gradients),
            Case("behaviour: chained over 6 steps, your step reproduces RSSM.observe", sequence)]


# ----- question 2: KL between categoricals ------------------------------------------------------------
def _kl_cases(ctx: Context, kl_categorical) -> list[Case]:
    import torch

    hint = "KL(q ‖ p) = Σ_variables Σ_classes q·(log q − log p), with log-probabilities from log_softmax of the logits"

    def call(q, p):
        return ctx.call(kl_categorical, q.clone(), p.clone(), what="kl_categorical")

    def identical():
        logits = torch.randn(3, 2, 4, generator=ctx.torch_generator(1))
        expect_close("KL of a distribution with itself", call(logits, logits), torch.zeros(3), atol=1e-6, hint=hint)

    def two_classes():
        q = torch.zeros(1, 1, 2)                                       # q = (1/2, 1/2)
        p = torch.log(torch.tensor([0.25, 0.75])).view(1, 1, 2)         # p = (1/4, 3/4)
        # by hand: ½·log(½ / ¼) + ½·log(½ / ¾) = ½·log 2 + ½·log(2/3)
        expected = torch.tensor([0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0)])
        expect_close("KL((½, ½) ‖ (¼, ¾)), one variable", call(q, p), expected, atol=1e-6, hint=hint)

    def sums_variables():
        q = torch.zeros(1, 3, 2)
        p = torch.log(torch.tensor([0.25, 0.75])).view(1, 1, 2).expand(1, 3, 2).contiguous()
        expected = torch.tensor([3 * (0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0))])
        expect_close("three independent variables (the KLs add up)", call(q, p), expected, atol=1e-6, hint=hint)

    def unnormalised():
        g = ctx.torch_generator(2)
        q, p = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, 5, generator=g)
        expect_close("logits shifted by a constant describe the same distribution", call(q + 3.0, p - 2.0),
                     call(q, p), atol=1e-5, hint=hint)

    def random_case(shape, offset):
        def run():
            from mamba_edu.agents.dreamer.rssm import kl_categorical as reference

            g = ctx.torch_generator(offset)
            q, p = 2 * torch.randn(*shape, generator=g), 2 * torch.randn(*shape, generator=g)
            expect_close(f"random logits of shape {shape}", call(q, p), reference(q, p), atol=1e-5, rtol=1e-4,
                         hint=hint)
        return run

    return [Case("identical distributions: KL = 0", identical),
            Case("one variable, two classes (by hand)", two_classes),
            Case("several variables: KL summed over them (by hand)", sums_variables),
            Case("unnormalised logits", unnormalised),
            Case("random (B, S, C) logits vs the package", random_case((6, 3, 4), 3)),
            Case("random (T, B, S, C) logits vs the package", random_case((5, 2, 4, 3), 4))]


# ----- question 3: KL balancing with free bits ----------------------------------------------------------
def _logit_pair(ctx: Context, offset: int, scale: float = 1.5, shape=(8, 3, 4)):
    import torch

    g = ctx.torch_generator(offset)
    post = scale * torch.randn(*shape, generator=g)
    prior = scale * torch.randn(*shape, generator=g)
    post[:2] = prior[:2] + 0.05 * torch.randn(2, *shape[1:], generator=g)   # two steps with a small KL
    return post, prior


def _logit_gradients(kl_balance, post, prior, w, dyn, rep, free):
    """Gradients of Σ w·kl_balance(...) with respect to both logits (runs with the student's code)."""
    import torch

    q, p = post.clone().requires_grad_(True), prior.clone().requires_grad_(True)
    out = kl_balance(q, p, dyn, rep, free)
    if isinstance(out, tuple):
        raise Fail("kl_balance must return only the loss tensor (one value per step), not a tuple")
    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        raise Fail("kl_balance must return a tensor that is differentiable in the logits")
    (out * w).sum().backward()
    return (q.grad if q.grad is not None else torch.zeros_like(q),
            p.grad if p.grad is not None else torch.zeros_like(p))


def _balance_cases(ctx: Context, kl_balance) -> list[Case]:
    import torch

    hint = ("dyn part: max(free, KL(sg(q) ‖ p)) trains the prior; rep part: max(free, KL(q ‖ sg(p))) trains the "
            "posterior; loss = dyn·dyn_part + rep·rep_part per step (sg = .detach())")

    def call(post, prior, dyn, rep, free):
        out = ctx.call(kl_balance, post, prior, dyn, rep, free, what="kl_balance")
        if isinstance(out, tuple):
            raise Fail("kl_balance must return only the loss tensor (one value per step), not a tuple")
        return out

    def value(dyn, rep, free, offset):
        def run():
            from mamba_edu.agents.dreamer.rssm import kl_balance as reference

            post, prior = _logit_pair(ctx, offset)
            got = call(post.clone(), prior.clone(), dyn, rep, free)
            expected = reference(post, prior, dyn, rep, free)[0]
            expect_close(f"loss per step (dyn {dyn:g}, rep {rep:g}, free_nats {free:g})", got, expected, atol=1e-5,
                         rtol=1e-4, hint=hint)
        return run

    def gradient(dyn, rep, free, offset):
        def run():
            from mamba_edu.agents.dreamer.rssm import kl_balance as reference

            post, prior = _logit_pair(ctx, offset)
            w = torch.rand(post.shape[0], generator=ctx.torch_generator(offset + 50))
            mq, mp = ctx.call(_logit_gradients, kl_balance, post, prior, w, dyn, rep, free, what="kl_balance")
            tq, tp = _logit_gradients(lambda *args: reference(*args)[0], post, prior, w, dyn, rep, free)
            expect_close(f"gradient with respect to the posterior logits (dyn {dyn:g}, rep {rep:g}, free {free:g})",
                         mq, tq, atol=1e-5, rtol=1e-4, hint=hint)
            expect_close(f"gradient with respect to the prior logits (dyn {dyn:g}, rep {rep:g}, free {free:g})",
                         mp, tp, atol=1e-5, rtol=1e-4, hint=hint)
        return run

    def free_bits_floor():
        post, prior = _logit_pair(ctx, 21)
        got = call(post[:2].clone(), prior[:2].clone(), 0.5, 0.1, 1.0)
        # by hand: the first two steps have KL far below 1 nat, so both parts sit at the floor: (0.5 + 0.1)·1
        expect_close("loss of steps whose KL is below free_nats = 1", got, torch.full((2,), 0.6), atol=1e-6, hint=hint)

    return [Case("values, DreamerV3 weights (0.5, 0.1), free bits 1", value(0.5, 0.1, 1.0, 11)),
            Case("values without free bits", value(0.5, 0.1, 0.0, 12)),
            Case("steps below the free-bits floor give (dyn + rep)·free (by hand)", free_bits_floor),
            Case("gradients: dyn part only (where the stop-gradient goes)", gradient(1.0, 0.0, 0.0, 13)),
            Case("gradients: rep part only", gradient(0.0, 1.0, 0.0, 14)),
            Case("gradients: both parts with free bits (no gradient below the floor)", gradient(0.5, 0.1, 1.0, 15))]


# ----- question 4: behaviour under gradient descent ---------------------------------------------------
def _descend(kl_balance, post0, prior0, dyn, rep, free, steps: int):
    """Plain gradient descent on the sum over steps of the student's loss; returns (KL, moves)."""
    import torch

    from mamba_edu.agents.dreamer.rssm import kl_categorical

    post = post0.clone().requires_grad_(True)
    prior = prior0.clone().requires_grad_(True)
    for _ in range(steps):
        post.grad = prior.grad = None
        loss = kl_balance(post, prior, dyn, rep, free)
        if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
            if isinstance(loss, torch.Tensor) and free >= 100:
                break  # a constant loss: nothing can move (which is right here)
            raise Fail(f"kl_balance returned {fmt(loss)}, not a differentiable tensor")
        loss.sum().backward()
        with torch.no_grad():
            for p in (post, prior):
                if p.grad is not None:
                    p -= 1.0 * p.grad
    with torch.no_grad():
        kl = float(kl_categorical(post, prior).mean())
        moved_post = float((torch.softmax(post, -1) - torch.softmax(post0, -1)).abs().max())
        moved_prior = float((torch.softmax(prior, -1) - torch.softmax(prior0, -1)).abs().max())
    return kl, moved_post, moved_prior


def _training_cases(ctx: Context, kl_balance) -> list[Case]:
    import torch

    from mamba_edu.agents.dreamer.rssm import kl_categorical

    steps = 60
    hint = ("only KL(sg(q) ‖ p) may send gradient to the prior and only KL(q ‖ sg(p)) to the posterior; "
            "clamping at free_nats must stop the gradient when the KL is below it")

    def pair():
        g = ctx.torch_generator(31)
        return 1.5 * torch.randn(6, 3, 4, generator=g), 1.5 * torch.randn(6, 3, 4, generator=g)

    def run_case(dyn, rep, free, must_move: str | None, description: str):
        def run():
            post0, prior0 = pair()
            kl0 = float(kl_categorical(post0, prior0).mean())
            kl, mq, mp = ctx.call(_descend, kl_balance, post0, prior0, dyn, rep, free, steps, what="kl_balance")
            report = (f"{description}: after {steps} gradient steps on your loss the mean KL went from {kl0:.3f} to "
                      f"{kl:.3f} nats; the posterior moved by {mq:.3f} and the prior by {mp:.3f} (max change of a "
                      f"probability)")
            if must_move is None:
                expect(mq < 1e-4 and mp < 1e-4, report + "; neither should move", hint)
                return
            moved, still = (mq, mp) if must_move == "posterior" else (mp, mq)
            other = "prior" if must_move == "posterior" else "posterior"
            expect(still < 1e-4, report + f"; the {other} should not move", hint)
            expect(moved > 1e-3 and kl < 0.25 * kl0, report + f"; the {must_move} should move towards the "
                   f"{other} and the KL shrink below a quarter of its start", hint)
        return run

    return [Case("dyn = 1, rep = 0: only the prior learns (it moves towards the posterior)",
                 run_case(1.0, 0.0, 0.0, "prior", "dyn 1, rep 0, free 0")),
            Case("dyn = 0, rep = 1: only the posterior learns",
                 run_case(0.0, 1.0, 0.0, "posterior", "dyn 0, rep 1, free 0")),
            Case("free bits above the KL: nothing learns", run_case(0.5, 0.1, 100.0, None, "dyn 0.5, rep 0.1, free 100"))]


QUESTIONS = [
    Question("posterior_step", ASSIGNMENT, "one posterior step of the RSSM", 3, ("posterior_step",), _step_cases,
             _forbidden_step),
    Question("kl_categorical", ASSIGNMENT, "KL between factorised categoricals", 1, ("kl_categorical",), _kl_cases,
             _forbidden_kl),
    Question("kl_balance", ASSIGNMENT, "KL balancing with free bits", 2, ("kl_balance",), _balance_cases,
             _forbidden_balance),
    Question("kl_balance_training", ASSIGNMENT, "behaviour: what each KL term trains", 2, ("kl_balance",),
             _training_cases, _forbidden_balance, behaviour=True),
]
