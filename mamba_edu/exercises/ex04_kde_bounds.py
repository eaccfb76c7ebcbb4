"""Assignment 04_kde_bounds: PAC regret bounds and the KDE experiment for decomposable tasks.

Questions (notebook ``exercises/04_kde_bounds.ipynb``; book ``book/04_decomposable_tasks.ipynb``;
code ``mamba_edu/theory/pac.py``):

* ``regret_bound`` — the joint (Theorem 2 on the product space) and per-sub-task (Theorem 3)
  regret bounds, compared with :func:`mamba_edu.theory.pac.regret_bound`;
* ``log10_tasks_needed`` — how many tasks N each bound needs for a target regret (in log10, so
  astronomically large N stay finite), compared with :func:`~mamba_edu.theory.pac.log10_samples_needed`;
* ``l1_distance`` — a Monte Carlo estimate of ∫|p − q|, compared with values computed by hand or by
  numerical integration (Gaussians, disjoint uniforms, Beta vs uniform);
* ``kde_errors`` (behaviour) — the student's experiment on N tasks from a decomposable prior:
  L1 errors of one joint KDE and of per-sub-task KDEs, compared with the same computation done
  with the package's functions, and the qualitative result: the joint error grows markedly with
  K, the per-sub-task error does not.
"""
from __future__ import annotations

import math

import numpy as np

from mamba_edu.exercises.feedback import Fail, expect, expect_close, fmt
from mamba_edu.exercises.questions import Case, Context, Question

ASSIGNMENT = "04_kde_bounds"
TITLE = "PAC bounds and the KDE experiment"

#: bandwidth grid of the behaviour check (smaller than the package default, for speed)
BANDWIDTHS = np.geomspace(0.02, 1.0, 10)


def _forbidden_bound():
    from mamba_edu.theory import pac

    return [(pac.regret_bound, "mamba_edu.theory.pac.regret_bound"),
            (pac.joint_kde_regret_bound, "mamba_edu.theory.pac.joint_kde_regret_bound"),
            (pac.per_subtask_kde_regret_bound, "mamba_edu.theory.pac.per_subtask_kde_regret_bound"),
            (pac.kde_rate, "mamba_edu.theory.pac.kde_rate"),
            (pac._bound_terms, "mamba_edu.theory.pac._bound_terms")]


def _forbidden_needed():
    from mamba_edu.theory import pac

    return [(pac.log10_samples_needed, "mamba_edu.theory.pac.log10_samples_needed"),
            (pac.samples_needed, "mamba_edu.theory.pac.samples_needed"),
            (pac._bound_terms, "mamba_edu.theory.pac._bound_terms")]


def _forbidden_l1():
    from mamba_edu.theory import pac

    return [(pac.l1_distance_monte_carlo, "mamba_edu.theory.pac.l1_distance_monte_carlo"),
            (pac.kde_experiment, "mamba_edu.theory.pac.kde_experiment"),
            (pac._kde_cell, "mamba_edu.theory.pac._kde_cell")]


# ----- question 1: the bounds ----------------------------------------------------------------------
def _bound_cases(ctx: Context, regret_bound) -> list[Case]:
    hint = ("bound = 2·R_max·H·C·(log N / N)^(α/(2α + d)) with H = K·steps_per_subtask and C = 1; joint: d = D·K; "
            "per sub-task: d = D")

    def call(*args, **kwargs):
        return ctx.call(regret_bound, *args, what="regret_bound", **kwargs)

    def vs_package(estimator, n, D, K, alpha=1.0, r_max=1.0, T=1.0):
        def run():
            from mamba_edu.theory.pac import regret_bound as reference

            got = call(estimator, n, D, K, alpha, r_max=r_max, steps_per_subtask=T)
            expected = reference(estimator, n, D, K, alpha, r_max=r_max, steps_per_subtask=T)
            expect_close(f"{estimator} bound at N = {fmt(np.asarray(n))}, D = {D}, K = {K}, α = {alpha:g}, "
                         f"R_max = {r_max:g}, T = {T:g}", got, expected, rtol=1e-6, atol=0, hint=hint)
        return run

    def by_hand():
        got = call("per_subtask", 100, 1, 1, 1.0, r_max=1.0, steps_per_subtask=1.0)
        # by hand: 2·1·1·(ln 100 / 100)^(1/3)
        expected = 2.0 * (math.log(100) / 100) ** (1.0 / 3.0)
        expect_close("per-sub-task bound at N = 100, D = K = 1", got, expected, rtol=1e-6, atol=0, hint=hint)

    def k1_equal():
        joint = call("joint", 500, 2, 1, 1.0, r_max=1.0, steps_per_subtask=5.0)
        per = call("per_subtask", 500, 2, 1, 1.0, r_max=1.0, steps_per_subtask=5.0)
        expect_close("joint bound at K = 1 (must equal the per-sub-task bound)", joint, per, rtol=1e-9, atol=0,
                     hint=hint)

    return [Case("per-sub-task bound, N = 100, D = K = 1 (by hand)", by_hand),
            Case("with a single sub-task the two bounds agree", k1_equal),
            Case("joint, D = 1, K = 4", vs_package("joint", 1000, 1, 4)),
            Case("per sub-task, D = 2, K = 4, R_max = 1, T = 10", vs_package("per_subtask", 1000, 2, 4, T=10.0)),
            Case("joint, D = 2, K = 3, α = 0.5, R_max = 2", vs_package("joint", 5000, 2, 3, 0.5, r_max=2.0)),
            Case("vectorised over an array of N", vs_package("per_subtask", np.array([10.0, 100.0, 1e4]), 1, 8))]


# ----- question 2: tasks needed ------------------------------------------------------------------------
def _needed_cases(ctx: Context, log10_tasks_needed) -> list[Case]:
    hint = ("solve log(bound(N)) = log(target) for u = log N (bisection or scipy.optimize.brentq on u): the bound "
            "decreases in N >= 3; return log10(3) when the bound at N = 3 is already below the target")

    def run_case(target, estimator, D, K, alpha=1.0):
        def run():
            from mamba_edu.theory.pac import log10_samples_needed

            got = ctx.call(log10_tasks_needed, target, estimator, D, K, alpha, what="log10_tasks_needed")
            try:
                got_f = float(got)
            except (TypeError, ValueError):
                raise Fail(f"log10_tasks_needed must return a number, got {fmt(got)}") from None
            expected = log10_samples_needed(target, estimator, D, K, alpha)
            expect_close(f"log10 N for target regret {target:g} ({estimator}, D = {D}, K = {K}, α = {alpha:g})",
                         got_f, expected, atol=2e-3, rtol=1e-4, hint=hint)
        return run

    return [Case("per sub-task, D = 1, K = 4, target 1", run_case(1.0, "per_subtask", 1, 4)),
            Case("joint, D = 1, K = 4, target 1", run_case(1.0, "joint", 1, 4)),
            Case("joint, D = 2, K = 8, target 1 (N far beyond floating point: work in logs)",
                 run_case(1.0, "joint", 2, 8)),
            Case("per sub-task, D = 2, K = 8, α = 0.5, target 2", run_case(2.0, "per_subtask", 2, 8, 0.5)),
            Case("a target the bound meets already at N = 3", run_case(1e6, "per_subtask", 1, 1))]


# ----- question 3: the L1 distance by Monte Carlo ----------------------------------------------------
class _Density:
    """A density the student's ``l1_distance`` gets: ``logpdf(x)`` and, via :meth:`sampler`, ``sample(m)``.

    Plain objects (not closures) so that they can be sent to the kernel the student's code runs in.
    """

    def logpdf(self, x):
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, m: int) -> np.ndarray:
        raise NotImplementedError

    def sampler(self, rng: np.random.Generator) -> _Sampler:
        return _Sampler(self, rng)


class _Sampler:
    """``sample(m)``: m points of ``density`` drawn with ``rng``."""

    def __init__(self, density: _Density, rng: np.random.Generator) -> None:
        self.density, self.rng = density, rng

    def __call__(self, m) -> np.ndarray:
        return self.density.draw(self.rng, int(m))


class _Gauss(_Density):
    def __init__(self, mu: float, dim: int = 1) -> None:
        self.center = np.zeros(dim)
        self.center[0] = mu

    def logpdf(self, x):
        from scipy import stats

        return stats.norm.logpdf(np.asarray(x) - self.center).sum(-1)

    def draw(self, rng, m):
        return rng.normal(size=(m, len(self.center))) + self.center


class _Uniform(_Density):
    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def logpdf(self, x):
        x = np.asarray(x)[..., 0]
        return np.where((x >= self.lo) & (x <= self.hi), -np.log(self.hi - self.lo), -np.inf)

    def draw(self, rng, m):
        return rng.uniform(self.lo, self.hi, size=(m, 1))


class _Beta22(_Density):
    def logpdf(self, x):
        from scipy import stats

        with np.errstate(divide="ignore"):
            return stats.beta.logpdf(np.asarray(x)[..., 0], 2, 2)

    def draw(self, rng, m):
        return rng.beta(2, 2, size=(m, 1))


def _l1_cases(ctx: Context, l1_distance) -> list[Case]:
    from scipy import integrate, stats

    n = 6000 if ctx.quick else 20000
    hint = ("sample half the points from p and half from q (the mixture m = (p + q)/2) and average |p − q|/m "
            "= 2·|tanh((log p − log q)/2)|; treat log p = log q = −inf (outside both supports) as 0")

    def run_case(name, p, q, exact, tol):
        def run():
            rng = np.random.default_rng(ctx.rng.integers(2**31))
            got = ctx.call(l1_distance, p.logpdf, p.sampler(rng), q.logpdf, q.sampler(rng), n, what="l1_distance")
            try:
                got_f = float(got[0] if isinstance(got, tuple) else got)
            except (TypeError, ValueError, IndexError):
                raise Fail(f"l1_distance must return a number, got {fmt(got)}") from None
            if not math.isfinite(got_f):
                raise Fail(f"{name}: your estimate is {got_f} (nan/inf: log densities of −inf outside a support?)",
                           hint)
            expect(abs(got_f - exact) <= tol, f"{name}: expected {exact:.4f} (± {tol:g} for Monte Carlo noise with "
                   f"n = {n}), got {got_f:.4f}", hint)
        return run

    gauss_exact = 2.0 * (2.0 * stats.norm.cdf(0.5) - 1.0)     # by hand: ∫|φ(x) − φ(x − 1)| = 2(2Φ(½) − 1)
    beta_exact = integrate.quad(lambda x: abs(6 * x * (1 - x) - 1.0), 0, 1, points=[0.5 - math.sqrt(3) / 6,
                                                                                   0.5 + math.sqrt(3) / 6])[0]
    return [Case("identical densities: 0", run_case("N(0, 1) vs N(0, 1)", _Gauss(0.0), _Gauss(0.0), 0.0, 0.03)),
            Case("N(0, 1) vs N(1, 1): 2(2Φ(½) − 1) (by hand)",
                 run_case("N(0, 1) vs N(1, 1)", _Gauss(0.0), _Gauss(1.0), gauss_exact, 0.04)),
            Case("disjoint supports U(0, 1) vs U(2, 3): 2 (by hand)",
                 run_case("U(0, 1) vs U(2, 3)", _Uniform(0, 1), _Uniform(2, 3), 2.0, 0.02)),
            Case("Beta(2, 2) vs U(0, 1) (numerical integration)",
                 run_case("Beta(2, 2) vs U(0, 1)", _Beta22(), _Uniform(0, 1), beta_exact, 0.04)),
            Case("2-D Gaussians one unit apart (same value as in 1-D)",
                 run_case("N(0, I₂) vs N((1, 0), I₂)", _Gauss(0.0, 2), _Gauss(1.0, 2), gauss_exact, 0.04))]


# ----- question 4: behaviour, the KDE experiment ------------------------------------------------------
def reference_kde_errors(data: np.ndarray, bandwidths, n_mc: int, rng: np.random.Generator) -> dict[str, float]:
    """The same experiment with the package's functions (one joint KDE, one KDE per sub-task)."""
    from scipy import stats

    from mamba_edu.theory.pac import fit_kde_by_cross_validation, l1_distance_monte_carlo

    N, K, D = data.shape

    def truth(x):
        return stats.beta.logpdf(x, 2, 2).sum(-1)

    def draw(d):
        return lambda m: rng.beta(2, 2, size=(m, d))

    def kde_draw(kde):
        return lambda m: kde.sample(m, random_state=int(rng.integers(2**31)))

    joint = fit_kde_by_cross_validation(data.reshape(N, K * D), bandwidths)
    l1_joint = l1_distance_monte_carlo(truth, draw(K * D), joint.score_samples, kde_draw(joint), n_mc)[0]
    per = []
    for i in range(K):
        kde = fit_kde_by_cross_validation(data[:, i], bandwidths)
        per.append(l1_distance_monte_carlo(truth, draw(D), kde.score_samples, kde_draw(kde), n_mc)[0])
    return {"joint": float(l1_joint), "per_subtask": float(np.mean(per))}


def _kde_cases(ctx: Context, l1_distance, kde_errors) -> list[Case]:
    from mamba_edu.theory.pac import BetaProductPrior

    n_mc = 2000
    N = 200
    hint = ("joint: one KDE on the (N, K·D) data; per sub-task: one KDE per sub-task on data[:, i] and the mean of "
            "their L1 errors to the Beta(2, 2)^D density; fit with fit_kde_by_cross_validation(x, bandwidths) and "
            "measure with your l1_distance")
    results: dict[int, dict[str, float]] = {}

    def run_student(K: int) -> dict[str, float]:
        if K not in results:
            rng = np.random.default_rng(ctx.seed * 100 + K)
            data = BetaProductPrior(K, 1).sample(N, rng)
            out = ctx.call(kde_errors, data.copy(), BANDWIDTHS.copy(), n_mc, np.random.default_rng(K),
                           what="kde_errors")
            if not isinstance(out, dict) or not {"joint", "per_subtask"} <= set(out):
                raise Fail(f"kde_errors must return a dict with keys 'joint' and 'per_subtask', got {fmt(out)}")
            try:
                results[K] = {k: float(out[k]) for k in ("joint", "per_subtask")}
            except (TypeError, ValueError):
                raise Fail(f"kde_errors must return numbers, got {fmt(out)}") from None
            results[K]["data"] = data  # type: ignore[assignment]
        return results[K]

    def agrees(K: int):
        def run():
            mine = run_student(K)
            ref = reference_kde_errors(mine["data"], BANDWIDTHS, n_mc, np.random.default_rng(ctx.seed + 7))
            for key in ("joint", "per_subtask"):
                expect(abs(mine[key] - ref[key]) <= 0.06,
                       f"N = {N}, K = {K}: your {key} L1 error is {mine[key]:.3f}, the package's functions give "
                       f"{ref[key]:.3f} on the same data (they must agree within 0.06, Monte Carlo noise)", hint)
        return run

    def joint_explodes():
        one, four = run_student(1), run_student(4)
        expect(four["joint"] >= 2.5 * four["per_subtask"] and four["joint"] > one["joint"] + 0.2,
               f"N = {N}: joint L1 error {one['joint']:.3f} at K = 1 and {four['joint']:.3f} at K = 4, per-sub-task "
               f"error {four['per_subtask']:.3f} at K = 4: the joint KDE in K = 4 dimensions should be far worse "
               f"(at least 2.5 times the per-sub-task error)", hint)

    def per_subtask_flat():
        one, four = run_student(1), run_student(4)
        expect(four["per_subtask"] <= one["per_subtask"] + 0.06,
               f"N = {N}: per-sub-task L1 error {one['per_subtask']:.3f} at K = 1 but {four['per_subtask']:.3f} at "
               f"K = 4: each sub-task's KDE sees the same N samples in D = 1 dimension, so it should not grow with K",
               hint)

    return [Case(f"K = 1: your errors agree with the package's functions (N = {N})", agrees(1)),
            Case(f"K = 4: your errors agree with the package's functions (N = {N})", agrees(4)),
            Case("behaviour: the joint KDE's error grows with K", joint_explodes),
            Case("behaviour: the per-sub-task error does not grow with K", per_subtask_flat)]


QUESTIONS = [
    Question("regret_bound", ASSIGNMENT, "the joint and per-sub-task regret bounds", 2, ("regret_bound",),
             _bound_cases, _forbidden_bound),
    Question("log10_tasks_needed", ASSIGNMENT, "tasks needed for a target regret", 2, ("log10_tasks_needed",),
             _needed_cases, _forbidden_needed),
    Question("l1_distance", ASSIGNMENT, "∫|p − q| by Monte Carlo", 2, ("l1_distance",), _l1_cases, _forbidden_l1),
    Question("kde_errors", ASSIGNMENT, "behaviour: joint vs per-sub-task KDE errors", 2, ("l1_distance", "kde_errors"),
             _kde_cases, _forbidden_l1, behaviour=True),
]
