"""The numbers quoted in the PAC-bound notes, computed (paper Sec. 3.2.1, App. A.1–A.2, App. E).

Every number that ``theory/03_pac_bounds.md``, ``theory/04_local_reconstruction.md``,
``book/04_decomposable_tasks.ipynb`` and exercise 04 quote about the bounds comes from a function
here or in :mod:`mamba_edu.theory.pac`; ``python -m mamba_edu.theory.claims`` prints them all
(about 10 s on one core), and ``tests/test_theory_claims.py`` asserts them.

* :func:`history_dependent_example` — a two-window task with a reset in which a policy that acts
  in window 2 on what it saw in window 1 breaks the per-policy inequality of the paper's
  Theorem 3 proof, while the product-lemma bound of Theorem 3′ holds;
* :func:`boundary_sup_errors` — the sup error of the theorems' KDE (bandwidth
  (log N / N)^(1/3)) for a uniform prior on [0, 1], which does not vanish at the boundary
  (stays at about 0.5), next to Beta(2, 2), which does (the error shrinks);
* :func:`samples_needed_rows` — the table "log10 N needed" of the notes, and
  :func:`tight_target_log10` (K = 32, D = 2, regret 1e-6 per step);
* :func:`exercise04_demo_errors` — the joint and per-sub-task L1 errors of exercise 04's demo
  (N = 200, seed 0), with the package's functions.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, stats

from mamba_edu.theory import pac


# ----- 1. a history-dependent policy couples the windows ----------------------------------------------
@dataclass(frozen=True)
class CoupledExample:
    """Return differences of one policy under a prior f and an estimate f̂ (see :func:`history_dependent_example`)."""

    return_gap: float          #: |J_f(π) − J_f̂(π)|, computed by enumerating the tasks
    paper_bound: float         #: Σ_i R_max · T_i · ‖f_i − f̂_i‖₁ (the per-policy step of the paper's proof)
    general_bound: float       #: R_max · H · Σ_i ‖f_i − f̂_i‖₁ (Lemma 1 with the product lemma: Theorem 3′)
    l1_errors: tuple[float, float]


def history_dependent_example(p1: float = 0.5, p1_hat: float = 0.6, q: float = 1.0,
                              steps: int = 3) -> CoupledExample:
    """Two sub-tasks, one window each, the state reset at the window boundary (paper App. A.2).

    θ_1, θ_2 ∈ {0, 1} independent, P(θ_1 = 1) = ``p1``, P(θ_2 = 1) = ``q``. Window 1 is one step
    that pays 0 and shows θ_1. Window 2 is ``steps`` steps; each pays 1 if the action equals θ_2,
    else 0 (R_max = 1). The policy plays a = θ_1 in window 2 (it copies what it saw): a legal,
    history-dependent policy, and window 2's expected return, steps · 1[θ_1 = θ_2], depends on θ_1.
    The estimate changes only sub-task 1's prior, to P(θ_1 = 1) = ``p1_hat``. Everything is computed
    by enumerating the four tasks. (The same numbers come out with densities on [0, 1] and the events
    θ_i > 1/2 in place of θ_i = 1.)
    """
    for name, v in (("p1", p1), ("p1_hat", p1_hat), ("q", q)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be a probability, got {v!r}")
    steps = pac._check_positive_int("steps", steps)

    def value(prior_1: float) -> float:
        total = 0.0
        for t1 in (0, 1):
            for t2 in (0, 1):
                prob = (prior_1 if t1 else 1 - prior_1) * (q if t2 else 1 - q)
                window_1 = 0.0                                   # one step, reward 0, θ_1 observed
                window_2 = sum(1.0 if t1 == t2 else 0.0 for _ in range(steps))   # action a = θ_1
                total += prob * (window_1 + window_2)
        return total

    l1 = (2.0 * abs(p1 - p1_hat), 0.0)                           # ‖f_1 − f̂_1‖₁, ‖f_2 − f̂_2‖₁
    windows = (1, steps)
    return CoupledExample(return_gap=abs(value(p1) - value(p1_hat)),
                          paper_bound=sum(1.0 * t * e for t, e in zip(windows, l1)),
                          general_bound=1.0 * sum(windows) * sum(l1), l1_errors=l1)


# ----- 2. (A3) needs the density to vanish at the boundary -------------------------------------------
def _kde_on_grid(samples: np.ndarray, grid: np.ndarray, h: float, chunk: int = 64) -> np.ndarray:
    """Exact 1-D Gaussian KDE of ``samples`` at ``grid`` points (chunked, no approximation)."""
    out = np.empty(len(grid))
    norm = 1.0 / (len(samples) * h * math.sqrt(2.0 * math.pi))
    for i in range(0, len(grid), chunk):
        z = (grid[i:i + chunk, None] - samples[None, :]) / h
        out[i:i + chunk] = np.exp(-0.5 * z * z).sum(1) * norm
    return out


def _truth(prior: str):
    if prior == "uniform":
        return (lambda x: np.where((x >= 0) & (x <= 1), 1.0, 0.0)), (lambda rng, n: rng.uniform(0.0, 1.0, n))
    if prior == "beta22":
        return (lambda x: np.where((x >= 0) & (x <= 1), 6.0 * x * (1.0 - x), 0.0)), (lambda rng, n: rng.beta(2, 2, n))
    raise ValueError(f"prior must be 'uniform' or 'beta22', got {prior!r}")


def kde_sup_error(prior: str, n: int, seed: int = 0, grid_points: int = 1001) -> float:
    """sup_x |f(x) − f̂(x)| over the real line for one data set of ``n`` tasks (1-D, f = 0 outside [0, 1]).

    f̂ is a Gaussian KDE with the theorems' bandwidth h = (log N / N)^(1/3)
    (:func:`mamba_edu.theory.pac.rate_bandwidth`, α = 1, d = 1). The sup is taken over ``grid_points``
    points of [0, 1] (where f is the prior's density, including both end points) and 200 points on
    each side of it (where f = 0). ``prior``: ``"uniform"`` (a jump at 0 and 1) or ``"beta22"``
    (6x(1 − x): continuous on the whole line).
    """
    f, draw = _truth(prior)
    rng = np.random.default_rng(np.random.SeedSequence([seed, int(n)]))
    x = draw(rng, int(n))
    h = pac.rate_bandwidth(n, 1)
    inside = np.linspace(0.0, 1.0, int(grid_points))
    outside = np.concatenate([np.linspace(-5 * h, -1e-9, 200), np.linspace(1 + 1e-9, 1 + 5 * h, 200)])
    grid = np.concatenate([inside, outside])
    return float(np.max(np.abs(f(grid) - _kde_on_grid(x, grid, h))))


def kde_l1_inside_outside(prior: str, n: int, seed: int = 0, grid_points: int = 2001) -> tuple[float, float]:
    """(∫_Θ |f − f̂|, ∫ outside Θ of f̂) for Θ = [0, 1], the same data set and KDE as :func:`kde_sup_error`.

    Trapezoid rule on ``grid_points`` points of [0, 1] and on [−8h, 0] ∪ [1, 1 + 8h] (the kernel
    mass beyond 8h is below 1e-15). Since both densities integrate to one, the second number is
    at most the first: the whole-line L1 distance is at most twice the distance over Θ.
    """
    f, draw = _truth(prior)
    rng = np.random.default_rng(np.random.SeedSequence([seed, int(n)]))
    x = draw(rng, int(n))
    h = pac.rate_bandwidth(n, 1)
    inside = np.linspace(0.0, 1.0, int(grid_points))
    left, right = np.linspace(-8 * h, 0.0, 801), np.linspace(1.0, 1 + 8 * h, 801)
    l1_in = float(integrate.trapezoid(np.abs(f(inside) - _kde_on_grid(x, inside, h)), inside))
    out = sum(float(integrate.trapezoid(_kde_on_grid(x, g, h), g)) for g in (left, right))
    return l1_in, out


def uniform_bias_sup_error(n: float) -> float:
    """sup |f − E f̂| for the uniform prior on [0, 1] and h = (log N / N)^(1/3): exactly 1/2 + Φ(−1/h).

    E f̂(x) = Φ((1 − x)/h) − Φ(−x/h); at x = 0 (inside [0, 1], f = 1) it is Φ(1/h) − 1/2, so the
    error there is 1/2 + Φ(−1/h) ≥ 1/2 whatever N is, and nowhere larger. The smoothing bias alone,
    no sampling noise.
    """
    h = pac.rate_bandwidth(n, 1)
    return 0.5 + float(stats.norm.cdf(-1.0 / h))


@dataclass(frozen=True)
class BoundaryRow:
    n_samples: int
    bandwidth: float
    uniform_sup_error: float       #: one data set (seed), :func:`kde_sup_error`
    uniform_bias_sup_error: float  #: :func:`uniform_bias_sup_error`
    uniform_l1_on_theta: float     #: ∫_[0,1] |f − f̂| for the same data set, :func:`kde_l1_inside_outside`
    beta22_sup_error: float        #: one data set (seed), :func:`kde_sup_error`


def boundary_sup_errors(ns: Sequence[int] = (1_000, 10_000, 100_000), seed: int = 0) -> list[BoundaryRow]:
    """The sup error of the theorems' KDE for a uniform and a Beta(2, 2) prior, N in ``ns`` (about 5 s)."""
    return [BoundaryRow(int(n), float(pac.rate_bandwidth(n, 1)), kde_sup_error("uniform", n, seed),
                        uniform_bias_sup_error(n), kde_l1_inside_outside("uniform", n, seed)[0],
                        kde_sup_error("beta22", n, seed)) for n in ns]


# ----- 3. the samples-needed table --------------------------------------------------------------------
@dataclass(frozen=True)
class SamplesNeededRow:
    """log10 N needed for regret ``per_step`` · H (T = 1, R_max = 1, unit volumes, C_d = 1, α = 1)."""

    subtask_dim: int
    n_subtasks: int
    joint: float               #: Theorem 2 on the product space
    per_subtask: float         #: Theorem 3 (window-local structure, (A7))
    per_subtask_union: float   #: Theorem 3 with log(KN) in place of log N (the union-bound remark)
    general: float             #: Theorem 3′ (no (A7))


def samples_needed_rows(dims: Sequence[int] = (1, 2), ks: Sequence[int] = (1, 2, 4, 8),
                        per_step: float = 0.5) -> list[SamplesNeededRow]:
    """The table of ``theory/03_pac_bounds.md`` Section 7, from :func:`mamba_edu.theory.pac.log10_samples_needed`."""
    rows = []
    for d in dims:
        for k in ks:
            target = per_step * k

            def need(estimator: str, **kw) -> float:
                return pac.log10_samples_needed(target, estimator, int(d), int(k), **kw)

            rows.append(SamplesNeededRow(int(d), int(k), need("joint"), need("per_subtask"),
                                         need("per_subtask", union_bound=True),
                                         need("per_subtask", decoupled_returns=False)))
    return rows


def format_samples_needed(rows: Sequence[SamplesNeededRow]) -> str:
    lines = ["| D | K | joint KDE (Thm. 2 on the product space) | per sub-task (Thm. 3) | Thm. 3 with log(KN) "
             "| Thm. 3′ (no A7) |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.subtask_dim} | {r.n_subtasks} | {r.joint:.2f} | {r.per_subtask:.2f} | {r.per_subtask_union:.2f} "
              f"| {r.general:.2f} |" for r in rows]
    return "\n".join(lines)


def general_growth(subtask_dim: int, n_subtasks: int, per_step: float = 0.5, alpha: float = 1.0) -> tuple[float, float]:
    """Theorem 3′'s column from K = 1 to K: (increase of log10 N, (2 + D/α) · log10 K).

    Per step of horizon the 3′ bound is 2·K·rate, so N / log N must grow by K^((2α + D)/α): the
    second number exactly; log10 N itself grows a little more (the log N factor).
    """
    one = pac.log10_samples_needed(per_step, "per_subtask", subtask_dim, 1, alpha, decoupled_returns=False)
    k = pac.log10_samples_needed(per_step * n_subtasks, "per_subtask", subtask_dim, n_subtasks, alpha,
                                 decoupled_returns=False)
    return k - one, (2.0 + subtask_dim / alpha) * math.log10(n_subtasks)


def tight_target_log10(n_subtasks: int = 32, subtask_dim: int = 2, per_step: float = 1e-6) -> tuple[float, float]:
    """log10 N needed for regret ``per_step`` · K: (joint, per sub-task (Theorem 3))."""
    target = per_step * n_subtasks
    return (pac.log10_samples_needed(target, "joint", subtask_dim, n_subtasks),
            pac.log10_samples_needed(target, "per_subtask", subtask_dim, n_subtasks))


# ----- 4. exercise 04's demo ------------------------------------------------------------------------------
#: the demo's bandwidth grid (``exercises/04_kde_bounds.ipynb``, "the experiment")
EXERCISE04_BANDWIDTHS = np.geomspace(0.02, 1.0, 10)


def exercise04_demo_errors(ks: Sequence[int] = (1, 4), n: int = 200, seed: int = 0,
                           n_mc: int = 2000) -> dict[int, dict[str, float]]:
    """The demo of exercise 04 with the package's functions: {K: {"joint": L1, "per_subtask": mean L1}}.

    Same random stream as the demo (one generator, seeded ``seed``, draws the data of each K in turn
    and the Monte Carlo points), same bandwidth grid (cross-validated), N = ``n``. Quick mode runs
    K = (1, 4), the full demo K = (1, 2, 4, 6).
    """
    rng = np.random.default_rng(seed)

    def truth(x: np.ndarray) -> np.ndarray:
        return stats.beta.logpdf(x, 2, 2).sum(-1)

    def draw_truth(d: int):
        return lambda m: rng.beta(2, 2, size=(m, d))

    def draw_kde(kde):
        return lambda m: kde.sample(m, random_state=int(rng.integers(2**31)))

    out = {}
    for k in ks:
        data = pac.BetaProductPrior(int(k), 1).sample(n, rng)
        N, K, D = data.shape
        joint = pac.fit_kde_by_cross_validation(data.reshape(N, K * D), EXERCISE04_BANDWIDTHS)
        l1_joint = pac.l1_distance_monte_carlo(truth, draw_truth(K * D), joint.score_samples, draw_kde(joint), n_mc)[0]
        per = []
        for i in range(K):
            kde = pac.fit_kde_by_cross_validation(data[:, i], EXERCISE04_BANDWIDTHS)
            per.append(pac.l1_distance_monte_carlo(truth, draw_truth(D), kde.score_samples, draw_kde(kde), n_mc)[0])
        out[int(k)] = {"joint": float(l1_joint), "per_subtask": float(np.mean(per))}
    return out


# ----- everything ---------------------------------------------------------------------------------------
def main() -> None:  # pragma: no cover - command-line helper
    """Print every number the notes quote (``python -m mamba_edu.theory.claims``, about 10 s)."""
    start = time.perf_counter()
    ex = history_dependent_example()
    print("1. history-dependent policy, two windows with a reset (p1 = 0.5, p1_hat = 0.6, q = 1, T_2 = 3):")
    print(f"   |J_f - J_fhat| = {ex.return_gap:.2f}  >  paper's per-policy bound {ex.paper_bound:.2f};"
          f"  Theorem 3' bound {ex.general_bound:.2f}")
    print("\n2. sup error of the KDE with h = (log N / N)^(1/3):")
    print("   N | h | uniform on [0, 1] (seed 0) | uniform, bias alone | uniform, L1 over [0, 1] | Beta(2, 2) (seed 0)")
    for r in boundary_sup_errors():
        print(f"   {r.n_samples} | {r.bandwidth:.4f} | {r.uniform_sup_error:.3f} | {r.uniform_bias_sup_error:.4f} "
              f"| {r.uniform_l1_on_theta:.3f} | {r.beta22_sup_error:.3f}")
    print("\n3. log10 N needed for regret 0.5 per step:")
    print(format_samples_needed(samples_needed_rows()))
    for d in (1, 2):
        up, rule = general_growth(d, 8)
        print(f"   Theorem 3' column, D = {d}, K = 1 -> 8: +{up:.2f} decades ((2 + D) log10 8 = {rule:.2f})")
    joint, per = tight_target_log10()
    print(f"   K = 32, D = 2, regret 1e-6 per step: joint 10^{joint:.1f}, per sub-task 10^{per:.1f}")
    print("\n4. exercise 04 demo (N = 200, seed 0), L1 errors:")
    for label, ks in (("quick mode", (1, 4)), ("full run", (1, 2, 4, 6))):
        for k, e in exercise04_demo_errors(ks).items():
            print(f"   {label}, K = {k}: joint {e['joint']:.3f}, per sub-task {e['per_subtask']:.3f}")
    print("\n5. the KDE experiment with the theorems' bandwidth (log N / N)^(1/(2 + d)), seed 0:")
    print(pac.format_table(pac.kde_experiment(bandwidth_rule="rate"), bandwidths=True))
    print(f"\nall in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
