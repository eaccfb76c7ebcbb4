"""Assignment 05_lambda_returns: λ-returns and return normalisation (DreamerV3's actor-critic).

Questions (notebook ``exercises/05_lambda_returns.ipynb``; book ``book/03_world_models.ipynb``
§5; code ``mamba_edu/agents/dreamer/actor_critic.py``):

* ``lambda_returns`` — ``lambda_returns(rewards, conts, values, gamma, lam)``, compared with
  closed forms for λ = 0 (one-step targets) and λ = 1 (discounted Monte Carlo return plus a
  bootstrap), with :func:`mamba_edu.agents.dreamer.actor_critic.lambda_returns` on random
  inputs, and in its gradients (the actor backpropagates through it for continuous actions);
* ``return_scale`` — a ``ReturnScale(decay)`` class whose ``update(returns)`` gives
  max(1, EMA of the 95th − 5th percentile range), compared with
  :class:`~mamba_edu.agents.dreamer.actor_critic.ReturnNormalizer`;
* ``lambda_targets`` (behaviour) — on a small Markov reward process with termination, the
  student's λ-returns computed with the exact value function as critic are unbiased estimates of
  the value for every λ, and with a biased critic their bias shrinks as λ grows.
"""
from __future__ import annotations

import numpy as np

from mamba_edu.exercises.feedback import Fail, as_array, expect, expect_close, fmt
from mamba_edu.exercises.questions import Case, Context, Question

ASSIGNMENT = "05_lambda_returns"
TITLE = "λ-returns and return normalisation"


def _forbidden_returns():
    from mamba_edu.agents.dreamer import actor_critic

    return [(actor_critic.lambda_returns, "mamba_edu.agents.dreamer.actor_critic.lambda_returns")]


def _forbidden_scale():
    from mamba_edu.agents.dreamer.actor_critic import ReturnNormalizer

    return [(ReturnNormalizer.update, "ReturnNormalizer.update"), (ReturnNormalizer.scale, "ReturnNormalizer.scale")]


# ----- question 1: λ-returns ---------------------------------------------------------------------------
def _inputs(ctx: Context, H: int, shape: tuple, offset: int, terminal_at: int | None = None):
    import torch

    g = ctx.torch_generator(offset)
    rewards = torch.randn(H + 1, *shape, generator=g)
    conts = (torch.rand(H + 1, *shape, generator=g) > 0.1).float()
    conts[0] = 1.0
    conts.view(H + 1, -1)[min(2, H), 0] = 0.0     # at least one episode end in every random case
    if terminal_at is not None:
        conts[:] = 1.0
        conts[terminal_at] = 0.0
    values = torch.randn(H + 1, *shape, generator=g)
    return rewards, conts, values


def _return_gradients(lambda_returns, r, c, v, w, hint: str):
    """Gradients of Σ w·lambda_returns(r, c, v, 0.95, 0.9) with respect to r and v (runs with the student's code)."""
    import torch

    rr, vv = r.clone().requires_grad_(True), v.clone().requires_grad_(True)
    out = lambda_returns(rr, c.clone(), vv, 0.95, 0.9)
    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        raise Fail("lambda_returns must return a tensor that is differentiable in the rewards and values "
                   "(the actor backpropagates through it); use torch operations, no .item() or numpy", hint)
    (out * w).sum().backward()
    return (rr.grad if rr.grad is not None else torch.zeros_like(r),
            vv.grad if vv.grad is not None else torch.zeros_like(v))


def _returns_cases(ctx: Context, lambda_returns) -> list[Case]:
    import torch

    hint = ("work backwards from R_H = v_H: R_t = r_{t+1} + γ·c_{t+1}·((1 − λ)·v_{t+1} + λ·R_{t+1}) for t = H−1..0; "
            "return the H values R_0..R_{H−1} (index 0 = the start state)")

    def call(r, c, v, gamma, lam):
        out = ctx.call(lambda_returns, r.clone(), c.clone(), v.clone(), gamma, lam, what="lambda_returns")
        arr = as_array(out, "lambda_returns")
        if arr.shape and arr.shape[0] == r.shape[0]:
            raise Fail(f"lambda_returns returned {arr.shape[0]} steps for inputs of H + 1 = {r.shape[0]} entries; "
                       f"return only R_0..R_(H−1) (H = {r.shape[0] - 1} values)", hint)
        return out

    def lam0():
        r, c, v = _inputs(ctx, 6, (3,), 1)
        gamma = 0.9
        expected = r[1:] + gamma * c[1:] * v[1:]           # by hand: one-step bootstrapped targets
        expect_close("λ = 0 (one-step targets r_{t+1} + γ c_{t+1} v_{t+1})", call(r, c, v, gamma, 0.0), expected,
                     atol=1e-5, hint=hint)

    def lam1():
        r, _, v = _inputs(ctx, 5, (2,), 2)
        c = torch.ones_like(r)
        gamma, H = 0.8, 5
        expected = torch.zeros(H, 2)
        for t in range(H):                                  # by hand: discounted sum of rewards + bootstrap at H
            expected[t] = sum(gamma ** (k - 1) * r[t + k] for k in range(1, H - t + 1)) + gamma ** (H - t) * v[H]
        expect_close("λ = 1, no termination (discounted return bootstrapped with v_H)", call(r, c, v, gamma, 1.0),
                     expected, atol=1e-5, hint=hint)

    def one_step():
        r, c, v = _inputs(ctx, 1, (4,), 3)
        expected = (r[1] + 0.99 * c[1] * v[1])[None]
        expect_close("H = 1 (a single imagined step)", call(r, c, v, 0.99, 0.95), expected, atol=1e-5, hint=hint)

    def termination():
        r, c, v = _inputs(ctx, 6, (2,), 4, terminal_at=3)
        got = as_array(call(r, c, v, 0.97, 0.95), "lambda_returns")
        expect_close("R_2 when the episode ends on arriving at step 3 (c_3 = 0: nothing after it counts)",
                     got[2] if got.ndim and got.shape[0] > 2 else got, r[3], atol=1e-5, hint=hint)

    def random_case(H, shape, gamma, lam, offset):
        def run():
            from mamba_edu.agents.dreamer.actor_critic import lambda_returns as reference

            r, c, v = _inputs(ctx, H, shape, offset)
            expect_close(f"random inputs, H = {H}, batch {shape}, γ = {gamma:g}, λ = {lam:g}",
                         call(r, c, v, gamma, lam), reference(r, c, v, gamma, lam), atol=1e-4, rtol=1e-5, hint=hint)
        return run

    def gradients():
        from mamba_edu.agents.dreamer.actor_critic import lambda_returns as reference

        r, c, v = _inputs(ctx, 8, (3,), 6)
        w = torch.rand(8, 3, generator=ctx.torch_generator(60))
        mr, mv = ctx.call(_return_gradients, lambda_returns, r, c, v, w, hint, what="lambda_returns")
        tr, tv = _return_gradients(reference, r, c, v, w, hint)
        expect_close("gradient of the returns with respect to the rewards", mr, tr, atol=1e-5, hint=hint)
        expect_close("gradient of the returns with respect to the values", mv, tv, atol=1e-5, hint=hint)

    return [Case("λ = 0: one-step targets (by hand)", lam0),
            Case("λ = 1: discounted return plus bootstrap (by hand)", lam1),
            Case("H = 1 (by hand)", one_step),
            Case("termination cuts the return (by hand)", termination),
            Case("random (H+1, B) inputs vs the package", random_case(15, (4,), 0.997, 0.95, 7)),
            Case("random (H+1, B, N) inputs vs the package", random_case(10, (2, 3), 0.9, 0.5, 8)),
            Case("a single trajectory, inputs of shape (H+1,)", random_case(12, (), 0.99, 0.95, 9)),
            Case("gradients flow as in the package", gradients)]


# ----- question 2: the return scale ---------------------------------------------------------------------
def _scale_cases(ctx: Context, ReturnScale) -> list[Case]:  # noqa: N803 - a class
    import torch

    hint = ("S = EMA of (95th − 5th percentile) of the returns: on the first update set low/high to this batch's "
            "percentiles (torch.quantile), afterwards low ← decay·low + (1 − decay)·q05 (same for high); "
            "return max(1, high − low)")

    def make(decay):
        return ctx.call(ReturnScale, decay, what="ReturnScale(decay)")

    def update(obj, returns):
        out = ctx.call(obj.update, returns.clone(), what="ReturnScale.update")
        try:
            return float(out)
        except (TypeError, ValueError):
            raise Fail(f"ReturnScale.update must return the scale (a number or 0-d tensor), got {fmt(out)}") from None

    def first_batch():
        obj = make(0.99)
        got = update(obj, torch.linspace(0.0, 10.0, 101))
        # by hand: the 5th and 95th percentiles of 0, 0.1, ..., 10 are 0.5 and 9.5
        expect_close("scale after one batch 0, 0.1, ..., 10", got, 9.0, atol=1e-4, hint=hint)

    def small_spread():
        obj = make(0.99)
        got = update(obj, torch.linspace(0.0, 0.5, 51))
        expect_close("scale of returns that spread less than 1 (never amplify: max(1, S))", got, 1.0, atol=1e-6,
                     hint=hint)

    def sequence(decay, offset, shape):
        def run():
            from mamba_edu.agents.dreamer.actor_critic import ReturnNormalizer

            g = ctx.torch_generator(offset)
            obj, ref = make(decay), ReturnNormalizer(decay)
            got, expected = [], []
            for i in range(6):
                batch = (1.0 + 3.0 * i) * torch.randn(*shape, generator=g) + 2.0 * i
                got.append(update(obj, batch))
                expected.append(float(ref.update(batch)))
            expect_close(f"scales after each of 6 batches of shape {shape} (decay {decay:g})", np.array(got),
                         np.array(expected), atol=1e-4, rtol=1e-4, hint=hint)
        return run

    def outliers():
        from mamba_edu.agents.dreamer.actor_critic import ReturnNormalizer

        batch = torch.randn(1000, generator=ctx.torch_generator(20))
        batch[0] = 1e4
        got = update(make(0.99), batch)
        expected = float(ReturnNormalizer(0.99).update(batch))
        expect_close("scale of a batch with one huge outlier (percentiles, not min/max)", got, expected, atol=1e-4,
                     rtol=1e-4, hint=hint)

    return [Case("first batch sets the scale to its 5-95 % spread (by hand)", first_batch),
            Case("small returns are not amplified (by hand)", small_spread),
            Case("EMA over 6 batches vs ReturnNormalizer (decay 0.99)", sequence(0.99, 21, (64,))),
            Case("EMA over 6 batches of shape (H, B) vs ReturnNormalizer (decay 0.5)", sequence(0.5, 22, (15, 16))),
            Case("robust to outliers (vs ReturnNormalizer)", outliers)]


# ----- question 3: behaviour, unbiased targets on a Markov reward process -------------------------------
#: a 3-state Markov reward process with an absorbing terminal state 3; reward on arrival
MRP_P = np.array([[0.1, 0.6, 0.2, 0.1],
                  [0.3, 0.1, 0.5, 0.1],
                  [0.2, 0.3, 0.2, 0.3]])
MRP_R = np.array([0.5, -1.0, 2.0, 1.0])
MRP_GAMMA = 0.9


def mrp_values(P: np.ndarray = MRP_P, R: np.ndarray = MRP_R, gamma: float = MRP_GAMMA) -> np.ndarray:
    """Exact V(s) = Σ_s' P(s, s')·(R(s') + γ·c(s')·V(s')), c = 0 on arriving at the terminal state."""
    n = P.shape[0]
    return np.linalg.solve(np.eye(n) - gamma * P[:, :n], P @ R)


def mrp_batch(n: int, H: int, rng: np.random.Generator, value_offset: float = 0.0):
    """n trajectories of H steps from state 0 as (rewards, conts, values) tensors of shape (H+1, n).

    As in imagination, a trajectory goes on after its episode ended: from the step that arrives
    in the terminal state on, its continue flag is 0 and its value estimates (and later rewards)
    are meaningless numbers that a correct λ-return must ignore.
    """
    import torch

    V = mrp_values()
    rewards, conts, values = np.zeros((H + 1, n)), np.ones((H + 1, n)), np.zeros((H + 1, n))
    state = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    values[0] = V[0] + value_offset
    for t in range(1, H + 1):
        u = rng.random(n)
        nxt = np.minimum((u[:, None] > np.cumsum(MRP_P[state], 1)).sum(1), 3)
        junk = rng.integers(0, 3, size=n)                       # what the model "imagines" after the end
        rewards[t] = np.where(alive, MRP_R[nxt], MRP_R[junk])
        still = alive & (nxt != 3)
        conts[t] = still.astype(float)
        values[t] = np.where(still, V[np.minimum(nxt, 2)], V[junk]) + value_offset
        alive = still
        state = np.where(still, nxt, junk)
    as_t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    return as_t(rewards), as_t(conts), as_t(values)


def _target_cases(ctx: Context, lambda_returns) -> list[Case]:
    n = 4000 if ctx.quick else 12000
    H = 12
    V0 = float(mrp_values()[0])
    hint = "check question lambda_returns first: termination (c = 0) and the bootstrap from v_{t+1} must be right"

    def batch(offset=0.0):
        return mrp_batch(n, H, np.random.default_rng(ctx.seed + 1234), offset)

    def unbiased(lam):
        def run():
            r, c, v = batch()
            R = as_array(ctx.call(lambda_returns, r, c, v, MRP_GAMMA, lam, what="lambda_returns"), "lambda_returns")
            if R.ndim != 2 or R.shape != (H, n):
                raise Fail(f"lambda_returns returned shape {R.shape} for inputs of shape {tuple(r.shape)}; expected "
                           f"{(H, n)}", hint)
            mean, se = float(R[0].mean()), float(R[0].std(ddof=1) / np.sqrt(n))
            expect(abs(mean - V0) <= 4 * se + 1e-3,
                   f"λ = {lam:g}: the mean of R_0 over {n} trajectories is {mean:.4f} ± {se:.4f}, the true value of the "
                   f"start state is {V0:.4f}: with an exact critic every λ-return is an unbiased target", hint)
        return run

    def bias_shrinks():
        lams = [0.0, 0.5, 0.95, 1.0]
        r, c, v = batch()
        _, _, v_off = batch(1.0)   # the same trajectories, a critic that is 1 too high everywhere
        biases = []
        for lam in lams:
            good = as_array(ctx.call(lambda_returns, r, c, v, MRP_GAMMA, lam, what="lambda_returns"), "lambda_returns")
            bad = as_array(ctx.call(lambda_returns, r, c, v_off, MRP_GAMMA, lam, what="lambda_returns"),
                           "lambda_returns")
            biases.append(float((bad[0] - good[0]).mean()))
        ok = all(b1 >= b2 - 1e-6 for b1, b2 in zip(biases, biases[1:])) and biases[0] > biases[-1] + 0.1
        expect(ok, f"with a critic that is off by +1, the bias of R_0 for λ = {lams} is {fmt(np.array(biases))}: it "
               f"should shrink as λ grows (λ = 1 trusts the critic only at the horizon)", hint)

    return [Case("λ = 0: unbiased with an exact critic", unbiased(0.0)),
            Case("λ = 0.5: unbiased with an exact critic", unbiased(0.5)),
            Case("λ = 0.95: unbiased with an exact critic", unbiased(0.95)),
            Case("λ = 1: unbiased with an exact critic", unbiased(1.0)),
            Case("a biased critic matters less as λ grows", bias_shrinks)]


QUESTIONS = [
    Question("lambda_returns", ASSIGNMENT, "λ-returns", 3, ("lambda_returns",), _returns_cases, _forbidden_returns),
    Question("return_scale", ASSIGNMENT, "return normalisation", 2, ("ReturnScale",), _scale_cases, _forbidden_scale),
    Question("lambda_targets", ASSIGNMENT, "behaviour: λ-returns as value targets", 2, ("lambda_returns",),
             _target_cases, _forbidden_returns, behaviour=True),
]
