"""PAC bounds for decomposable task distributions, and the KDE experiment behind them.

Paper Sec. 3.2.1 and App. A.2. Following Rimon et al. (2022), the agent sees N tasks drawn from
the prior f, fits a Gaussian kernel density estimate (KDE) f̂ to them, and plays the policy that
is Bayes-optimal for f̂ restricted to the task space Θ and renormalised (renormalising does not
change the maximiser). Its regret under the true prior is at most 2·R_max·H·∫_Θ|f − f̂| (the
return of any policy changes by at most R_max·H·∫_Θ|f − f̂| when the prior changes from f to f̂,
and the factor 2 pays for using f̂'s optimum instead of f's). Jiang's (2017) uniform KDE rate
then bounds ∫_Θ|f − f̂| ≤ |Θ|·sup|f − f̂| with probability ≥ 1 − 1/N, for a prior that is Hölder
on the whole space (so it vanishes at the boundary of Θ).

For a *decomposable* prior -- K independent sub-tasks of D dimensions each, one after the other
(App. A.1, Definition 1) -- there are two ways to estimate f:

* **joint** (Theorem 2 applied to the product space, App. A.2): one KDE in D·K dimensions;
  the rate (log N / N)^(α/(2α + D·K)) degrades with every sub-task added;
* **per sub-task**: one KDE per sub-task, each in D dimensions; the rate keeps the exponent
  α/(2α + D) whatever K is. In general (Theorem 3′ of the notes) the bound carries a factor K
  beyond the horizon H = K·T; with a reset between sub-tasks and window-local optimal policies
  (the paper's Theorem 3) K enters only through H (linearly, Theorem 1).

This module gives both bounds as functions of N, D, K, α and the constants, the number of tasks
needed for a target regret, and an experiment (:func:`kde_experiment`) that fits scikit-learn
``KernelDensity`` both ways to samples of a product-of-Beta prior and measures the L1 errors
by Monte Carlo. Derivations: ``theory/03_pac_bounds.md``; notebook:
``book/04_decomposable_tasks.ipynb``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import optimize, stats

Estimator = Literal["joint", "per_subtask"]
ESTIMATORS: tuple[str, ...] = ("joint", "per_subtask")
BandwidthRule = Literal["cv", "rate"]
BANDWIDTH_RULES: tuple[str, ...] = ("cv", "rate")

#: smallest N for which the bounds are stated: log N / N decreases only for N > e
MIN_SAMPLES = 3


# ----- the bounds -----------------------------------------------------------------------------------
def _check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha (Hölder exponent) must lie in (0, 1], got {alpha!r} "
                         f"(an alpha > 1 Hölder function on a connected set is constant)")
    return float(alpha)


def _check_samples(n_samples: float | np.ndarray) -> np.ndarray:
    n = np.asarray(n_samples, dtype=np.float64)
    if (n < MIN_SAMPLES).any() or not np.isfinite(n).all():
        raise ValueError(f"n_samples must be >= {MIN_SAMPLES} (log N / N decreases only for N > e), "
                         f"got {n_samples!r}")
    return n


def kde_rate(n_samples: float | np.ndarray, dim: int, alpha: float = 1.0) -> float | np.ndarray:
    """(log N / N)^(α / (2α + d)): Jiang's (2017) uniform error rate of a Gaussian KDE in d dimensions."""
    n = _check_samples(n_samples)
    d = _check_positive_int("dim", dim)
    a = _check_alpha(alpha)
    out = (np.log(n) / n) ** (a / (2 * a + d))
    return float(out) if out.ndim == 0 else out


def rate_bandwidth(n_samples: float | np.ndarray, dim: int, alpha: float = 1.0,
                   constant: float = 1.0) -> float | np.ndarray:
    """The bandwidth of the theorems' estimator (paper App. A.2; (A4) in ``theory/03_pac_bounds.md``).

    h = constant · (log N / N)^(1 / (2α + d)): the width that balances the kernel's bias (of order
    h^α) against its fluctuation (of order sqrt(log N / (N h^d))). The rule fixes only the exponent;
    ``constant`` (default 1) is a free choice.
    """
    n = _check_samples(n_samples)
    d = _check_positive_int("dim", dim)
    a = _check_alpha(alpha)
    out = _positive("constant", constant) * (np.log(n) / n) ** (1.0 / (2 * a + d))
    return float(out) if out.ndim == 0 else out


def _constant(kde_constant: float | Callable[[int], float], dim: int) -> float:
    c = float(kde_constant(dim)) if callable(kde_constant) else float(kde_constant)
    if not c > 0:
        raise ValueError(f"kde_constant C_d must be > 0, got {c!r} for d = {dim}")
    return c


def _positive(name: str, value: float) -> float:
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _BoundTerms:
    """bound(N) = exp(log_prefactor) · ((log N + log_shift) / N) ** exponent."""

    log_prefactor: float
    exponent: float
    log_shift: float

    def log_bound(self, log_n: float | np.ndarray) -> float | np.ndarray:
        return self.log_prefactor + self.exponent * (np.log(log_n + self.log_shift) - log_n)


def _bound_terms(estimator: Estimator, subtask_dim: int, n_subtasks: int, alpha: float, *, r_max: float = 1.0,
                 steps_per_subtask: float = 1.0, subtask_volume: float = 1.0,
                 kde_constant: float | Callable[[int], float] = 1.0, union_bound: bool = False,
                 decoupled_returns: bool = True) -> _BoundTerms:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    d = _check_positive_int("subtask_dim", subtask_dim)
    k = _check_positive_int("n_subtasks", n_subtasks)
    a = _check_alpha(alpha)
    horizon = k * _positive("steps_per_subtask", steps_per_subtask)
    volume = _positive("subtask_volume", subtask_volume)
    log_common = math.log(2.0 * _positive("r_max", r_max) * horizon)
    if estimator == "joint":  # Theorem 2 on Θ_1 × … × Θ_K: volume |Θ_i|^K, dimension D·K
        return _BoundTerms(log_common + k * math.log(volume) + math.log(_constant(kde_constant, d * k)),
                           a / (2 * a + d * k), 0.0)
    # Theorem 3: Σ_i 2·R_max·T·|Θ_i|·C_D·rate_D = 2·R_max·H·|Θ_i|·C_D·rate_D; Theorem 3′ (no window-local
    # structure): the product lemma ‖Πf_i − Πf̂_i‖₁ ≤ Σ_i ‖f_i − f̂_i‖₁ costs one more factor K
    coupling = 0.0 if decoupled_returns else math.log(k)
    return _BoundTerms(log_common + coupling + math.log(volume) + math.log(_constant(kde_constant, d)),
                       a / (2 * a + d), math.log(k) if union_bound else 0.0)


def _evaluate(terms: _BoundTerms, n_samples: float | np.ndarray) -> float | np.ndarray:
    n = _check_samples(n_samples)
    out = np.exp(terms.log_bound(np.log(n)))
    return float(out) if out.ndim == 0 else out


def joint_kde_regret_bound(n_samples: float | np.ndarray, subtask_dim: int, n_subtasks: int, alpha: float = 1.0, *,
                           r_max: float = 1.0, steps_per_subtask: float = 1.0, subtask_volume: float = 1.0,
                           kde_constant: float | Callable[[int], float] = 1.0) -> float | np.ndarray:
    """Theorem 2 on the product space Θ_1 × … × Θ_K (paper App. A.2, the bound after Theorem 2).

    2 · R_max · H · |Θ_i|^K · C_{D·K} · (log N / N)^(α / (2α + D·K)), with H = K · steps_per_subtask
    and |Θ_i| = ``subtask_volume``. ``kde_constant`` is C_d (a number, or a function of d); the
    paper only says it is polynomial in d, so the default 1 isolates what the exponent does.
    Vectorised over ``n_samples``.
    """
    terms = _bound_terms("joint", subtask_dim, n_subtasks, alpha, r_max=r_max, steps_per_subtask=steps_per_subtask,
                         subtask_volume=subtask_volume, kde_constant=kde_constant)
    return _evaluate(terms, n_samples)


def per_subtask_kde_regret_bound(n_samples: float | np.ndarray, subtask_dim: int, n_subtasks: int,
                                 alpha: float = 1.0, *, r_max: float = 1.0, steps_per_subtask: float = 1.0,
                                 subtask_volume: float = 1.0, kde_constant: float | Callable[[int], float] = 1.0,
                                 union_bound: bool = False, decoupled_returns: bool = True) -> float | np.ndarray:
    """Theorem 3 (paper App. A.2): one KDE per sub-task.

    Σ_i 2 · R_max · T · |Θ_i| · C_D · rate = 2 · R_max · H · |Θ_i| · C_D · (log N / N)^(α / (2α + D)),
    with H = K · steps_per_subtask (linear in K: Theorem 1). The paper states it with probability
    ≥ 1 − 1/N; each of the K KDE bounds holds with that probability, so a union bound gives only
    1 − K/N. ``union_bound=True`` asks each KDE for 1 − 1/(K·N), which replaces log N by log(K·N)
    (a remark, not derived: it assumes Jiang's bound at confidence 1 − δ with log(1/δ) in place of
    log N). ``decoupled_returns=True`` is the paper's Theorem 3, which holds when every sub-task
    starts from a state that does not depend on the history (a reset) so that optimal policies can
    be taken window-local; ``decoupled_returns=False`` is Theorem 3′, the general result (any
    policy, no reset), with one more factor K and the same exponent. See
    ``theory/03_pac_bounds.md``. Equal to the joint bound at K = 1.
    """
    terms = _bound_terms("per_subtask", subtask_dim, n_subtasks, alpha, r_max=r_max,
                         steps_per_subtask=steps_per_subtask, subtask_volume=subtask_volume,
                         kde_constant=kde_constant, union_bound=union_bound, decoupled_returns=decoupled_returns)
    return _evaluate(terms, n_samples)


def regret_bound(estimator: Estimator, n_samples: float | np.ndarray, subtask_dim: int, n_subtasks: int,
                 alpha: float = 1.0, **constants) -> float | np.ndarray:
    """:func:`joint_kde_regret_bound` (``"joint"``) or :func:`per_subtask_kde_regret_bound` (``"per_subtask"``)."""
    return _evaluate(_bound_terms(estimator, subtask_dim, n_subtasks, alpha, **constants), n_samples)


def log10_samples_needed(target_regret: float, estimator: Estimator, subtask_dim: int, n_subtasks: int,
                         alpha: float = 1.0, **constants) -> float:
    """log10 of the smallest N (≥ 3) whose regret bound is ≤ ``target_regret``.

    The bound decreases in N ≥ 3, so the root of log bound(N) = log target is unique; it is found
    in log space (``scipy.optimize.brentq``), so astronomically large N (a joint KDE in many
    dimensions) come back without overflow.
    """
    eps = _positive("target_regret", target_regret)
    terms = _bound_terms(estimator, subtask_dim, n_subtasks, alpha, **constants)

    def gap(log_n: float) -> float:
        return float(terms.log_bound(log_n)) - math.log(eps)

    lo = math.log(MIN_SAMPLES)
    if gap(lo) <= 0:
        return math.log10(MIN_SAMPLES)
    hi = 2.0 * lo
    while gap(hi) > 0:
        hi *= 2.0
    return optimize.brentq(gap, lo, hi, xtol=1e-12, rtol=1e-14) / math.log(10.0)


def samples_needed(target_regret: float, estimator: Estimator, subtask_dim: int, n_subtasks: int,
                   alpha: float = 1.0, **constants) -> float:
    """Smallest whole N (≥ 3) whose regret bound is ≤ ``target_regret`` (``math.inf`` beyond 1e300)."""
    lg = log10_samples_needed(target_regret, estimator, subtask_dim, n_subtasks, alpha, **constants)
    return float(math.ceil(10.0 ** lg * (1 - 1e-12))) if lg < 300 else math.inf


# ----- the empirical experiment -------------------------------------------------------------------
@dataclass(frozen=True)
class BetaProductPrior:
    """A decomposable prior: K independent sub-tasks, each D i.i.d. Beta(a, b) coordinates on [0, 1].

    Bounded support, bounded density; for a, b ≥ 2 the density vanishes at 0 and 1 and, extended by
    zero, is Lipschitz (α = 1) on the whole line: the assumptions of Theorems 2 and 3 (a = b = 1,
    the uniform prior, is not). Samples have shape (n, K, D).
    """

    n_subtasks: int
    subtask_dim: int
    a: float = 2.0
    b: float = 2.0

    def __post_init__(self) -> None:
        _check_positive_int("n_subtasks", self.n_subtasks)
        _check_positive_int("subtask_dim", self.subtask_dim)
        if self.a < 1 or self.b < 1:
            raise ValueError(f"Beta parameters must be >= 1 for a bounded density, got a={self.a}, b={self.b}")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.beta(self.a, self.b, size=(int(n), self.n_subtasks, self.subtask_dim))

    def subtask_logpdf(self, x: np.ndarray) -> np.ndarray:
        """log f_i at points (m, D) (the same for every sub-task)."""
        return stats.beta.logpdf(np.asarray(x), self.a, self.b).sum(-1)


def fit_kde(samples: np.ndarray, bandwidth: float, rtol: float = 1e-4):
    """Gaussian ``KernelDensity`` with a fixed bandwidth (``rtol`` as in :func:`fit_kde_by_cross_validation`)."""
    from sklearn.neighbors import KernelDensity

    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or len(x) < 1:
        raise ValueError(f"samples must be (n >= 1, d), got shape {x.shape}")
    return KernelDensity(kernel="gaussian", bandwidth=_positive("bandwidth", bandwidth), rtol=rtol).fit(x)


def fit_kde_by_cross_validation(samples: np.ndarray, bandwidths: Sequence[float] | np.ndarray, cv_folds: int = 5,
                                seed: int = 0, rtol: float = 1e-4):
    """Gaussian ``KernelDensity`` with the bandwidth of highest held-out log-likelihood (``GridSearchCV``).

    Single-threaded (``n_jobs=1``). ``rtol`` is scikit-learn's relative tolerance of the tree-based
    density sums (1e-4: several times faster, far below the Monte Carlo noise). Returns the
    refitted estimator.
    """
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neighbors import KernelDensity

    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or len(x) < cv_folds:
        raise ValueError(f"samples must be (n >= cv_folds={cv_folds}, d), got shape {x.shape}")
    search = GridSearchCV(KernelDensity(kernel="gaussian", rtol=rtol),
                          {"bandwidth": np.asarray(bandwidths, dtype=np.float64)},
                          cv=KFold(cv_folds, shuffle=True, random_state=seed), n_jobs=1)
    search.fit(x)
    return search.best_estimator_


def l1_distance_monte_carlo(logpdf_p: Callable[[np.ndarray], np.ndarray], sample_p: Callable[[int], np.ndarray],
                            logpdf_q: Callable[[np.ndarray], np.ndarray], sample_q: Callable[[int], np.ndarray],
                            n_mc: int) -> tuple[float, float]:
    """∫|p − q| by importance sampling from the mixture m = (p + q)/2, half the points from each.

    |p − q| / m = 2·|tanh((log p − log q)/2)| ∈ [0, 2], so the estimate is bounded and stable even
    where one density is 0 (outside the prior's support). Returns (estimate, standard error).
    """
    half = max(int(n_mc) // 2, 2)
    parts = []
    for sampler in (sample_p, sample_q):
        x = sampler(half)
        with np.errstate(invalid="ignore"):
            delta = logpdf_p(x) - logpdf_q(x)
        parts.append(2.0 * np.abs(np.tanh(np.nan_to_num(delta, nan=0.0) / 2.0)))
    estimate = 0.5 * (parts[0].mean() + parts[1].mean())
    stderr = 0.5 * math.sqrt(parts[0].var(ddof=1) / half + parts[1].var(ddof=1) / half)
    return float(estimate), float(stderr)


@dataclass(frozen=True)
class KdeExperimentRow:
    """One (N, K) cell of :func:`kde_experiment` (means over ``n_repeats`` independent data sets).

    ``l1_joint``: ∫|f − f̂_joint| over the D·K-dim space; ``l1_per_subtask``: the mean over the K
    sub-tasks of ∫|f_i − f̂_i| (``_max``: the worst sub-task); ``l1_product``: ∫|f − Π_i f̂_i| over
    the full space, for reference. All are whole-space distances: KDE mass outside [0, 1]^d counts.
    ``bandwidth_rule``: ``"cv"`` (cross-validated) or ``"rate"`` (the theorems' (log N / N)^(1/(2α+d))).
    Standard errors: over the repeats when ``n_repeats > 1`` (data and Monte Carlo noise), else of
    the Monte Carlo estimate alone. ``gap_bound_*``: the regret
    bound these errors imply (paper App. A.2, 2 · max_π |J_f(π) − J_f̂(π)|) with R_max = ``r_max`` and
    T = ``steps_per_subtask`` steps per sub-task: 2·R_max·H·l1_joint and 2·R_max·T·Σ_i L1_i.
    """

    n_samples: int
    n_subtasks: int
    subtask_dim: int
    n_repeats: int
    l1_joint: float
    l1_joint_stderr: float
    l1_per_subtask: float
    l1_per_subtask_stderr: float
    l1_per_subtask_max: float
    l1_product: float
    bandwidth_joint: float
    bandwidth_per_subtask: float
    gap_bound_joint: float
    gap_bound_per_subtask: float
    seconds: float
    bandwidth_rule: str = "cv"


DEFAULT_BANDWIDTHS = np.geomspace(0.01, 1.0, 14)


def _kde_cell(n: int, prior: BetaProductPrior, rng: np.random.Generator, bandwidths: np.ndarray, cv_folds: int,
              n_mc: int, cv_seed: int, bandwidth_rule: BandwidthRule = "cv", alpha: float = 1.0,
              rate_constant: float = 1.0) -> dict[str, float]:
    """Fit both estimators to one data set of N tasks and measure their L1 errors."""
    K, D = prior.n_subtasks, prior.subtask_dim
    data = prior.sample(n, rng).reshape(n, K * D)          # sub-task i occupies columns i·D … (i+1)·D − 1

    def fit(x: np.ndarray):
        if bandwidth_rule == "rate":
            return fit_kde(x, rate_bandwidth(len(x), x.shape[1], alpha, rate_constant))
        return fit_kde_by_cross_validation(x, bandwidths, cv_folds, cv_seed)

    def true_logpdf(x: np.ndarray) -> np.ndarray:          # f at (m, d) points, any d (product of Betas)
        return stats.beta.logpdf(x, prior.a, prior.b).sum(-1)

    def draw_truth(d: int) -> Callable[[int], np.ndarray]:
        return lambda m: rng.beta(prior.a, prior.b, size=(m, d))

    def draw_kde(kde) -> Callable[[int], np.ndarray]:
        return lambda m: kde.sample(m, random_state=int(rng.integers(2**31)))

    joint = fit(data)
    l1_joint, se_joint = l1_distance_monte_carlo(true_logpdf, draw_truth(K * D), joint.score_samples,
                                                 draw_kde(joint), n_mc)
    kdes, per, per_se = [], [], []
    for i in range(K):
        kde_i = fit(data[:, i * D:(i + 1) * D])
        l1_i, se_i = l1_distance_monte_carlo(true_logpdf, draw_truth(D), kde_i.score_samples, draw_kde(kde_i), n_mc)
        kdes.append(kde_i)
        per.append(l1_i)
        per_se.append(se_i)

    def product_logpdf(x: np.ndarray) -> np.ndarray:
        return sum(kde.score_samples(x[:, i * D:(i + 1) * D]) for i, kde in enumerate(kdes))

    def product_sample(m: int) -> np.ndarray:
        return np.concatenate([draw_kde(kde)(m) for kde in kdes], 1)

    l1_product, _ = l1_distance_monte_carlo(true_logpdf, draw_truth(K * D), product_logpdf, product_sample, n_mc)
    return {"l1_joint": l1_joint, "l1_joint_mc_se": se_joint, "l1_per_subtask": float(np.mean(per)),
            "l1_per_subtask_mc_se": float(np.sqrt(np.sum(np.square(per_se))) / K),
            "l1_per_subtask_max": float(np.max(per)), "l1_per_subtask_sum": float(np.sum(per)),
            "l1_product": l1_product, "bandwidth_joint": float(joint.bandwidth),
            "bandwidth_per_subtask": float(np.mean([kde.bandwidth for kde in kdes]))}


def kde_experiment(n_samples_grid: Sequence[int] = (100, 300, 1000), n_subtasks_grid: Sequence[int] = (1, 2, 4, 8),
                   subtask_dim: int = 1, n_mc: int = 2000, seed: int = 0, n_repeats: int = 1,
                   bandwidths: Sequence[float] | np.ndarray | None = None, cv_folds: int = 5,
                   prior_a: float = 2.0, prior_b: float = 2.0, r_max: float = 1.0,
                   steps_per_subtask: float = 1.0, bandwidth_rule: BandwidthRule = "cv", alpha: float = 1.0,
                   rate_constant: float = 1.0) -> list[KdeExperimentRow]:
    """Joint vs per-sub-task KDE on a decomposable prior, over a grid of N and K (paper Sec. 3.2.1).

    For every (N, K) and each of ``n_repeats`` data sets: draw N tasks from
    :class:`BetaProductPrior` (K sub-tasks of ``subtask_dim`` dimensions), fit one KDE to the
    whole D·K-dim vectors and one KDE per sub-task (bandwidth by ``cv_folds``-fold cross-validated
    log-likelihood over ``bandwidths``, default 14 values from 0.01 to 1), and measure the L1
    errors by Monte Carlo (:func:`l1_distance_monte_carlo`, ``n_mc`` points each). Every data set has
    its own random stream, derived from (``seed``, N, K, repeat). Expected outcome: at fixed N the
    joint error grows with K, the per-sub-task error does not.

    ``bandwidth_rule="rate"`` replaces cross-validation by the bandwidth the theorems assume,
    :func:`rate_bandwidth` (``rate_constant`` · (log N / N)^(1/(2·``alpha`` + d)) in d = D·K
    dimensions for the joint KDE and d = D per sub-task; α = 1 suits Beta(a, b) with a, b ≥ 2). It
    needs no search and runs in a few seconds; the same data sets are drawn as with ``"cv"``.

    Cost: about 25 s single-threaded for the default grid (D = 1, one repeat), measured on a shared
    2-core machine.
    """
    repeats, grid = _check_kde_experiment_inputs(n_samples_grid, n_subtasks_grid, subtask_dim, n_mc, n_repeats,
                                                 bandwidths, cv_folds, bandwidth_rule, alpha, rate_constant)
    rows = []
    for n in n_samples_grid:
        for k in n_subtasks_grid:
            start = time.perf_counter()
            prior = BetaProductPrior(int(k), int(subtask_dim), prior_a, prior_b)
            cells = [_kde_cell(int(n), prior, np.random.default_rng(np.random.SeedSequence([seed, n, k, r])), grid,
                               cv_folds, int(n_mc), seed, bandwidth_rule, alpha, rate_constant)
                     for r in range(repeats)]
            rows.append(_kde_row(cells, n, k, subtask_dim, r_max, steps_per_subtask, bandwidth_rule, start))
    return rows


def _check_kde_experiment_inputs(n_samples_grid: Sequence[int], n_subtasks_grid: Sequence[int], subtask_dim: int,
                                 n_mc: int, n_repeats: int, bandwidths: Sequence[float] | np.ndarray | None,
                                 cv_folds: int, bandwidth_rule: str, alpha: float,
                                 rate_constant: float) -> tuple[int, np.ndarray]:
    """Reject bad :func:`kde_experiment` arguments with one clear message each; (repeats, bandwidth grid)."""
    _check_positive_int("subtask_dim", subtask_dim)
    repeats = _check_positive_int("n_repeats", n_repeats)
    if int(n_mc) < 4:
        raise ValueError(f"n_mc must be >= 4, got {n_mc}")
    for n in n_samples_grid:
        if int(n) < 2 * cv_folds:
            raise ValueError(f"every N in n_samples_grid must be >= 2·cv_folds = {2 * cv_folds}, got {n}")
    for k in n_subtasks_grid:
        _check_positive_int("every K in n_subtasks_grid", k)
    if bandwidth_rule not in BANDWIDTH_RULES:
        raise ValueError(f"bandwidth_rule must be one of {BANDWIDTH_RULES}, got {bandwidth_rule!r}")
    _check_alpha(alpha)
    _positive("rate_constant", rate_constant)
    grid = DEFAULT_BANDWIDTHS if bandwidths is None else np.asarray(bandwidths, dtype=np.float64)
    if grid.ndim != 1 or len(grid) == 0 or (grid <= 0).any():
        raise ValueError(f"bandwidths must be a non-empty list of positive numbers, got {bandwidths!r}")
    return repeats, grid


def _kde_row(cells: list[dict[str, float]], n: int, k: int, subtask_dim: int, r_max: float,
             steps_per_subtask: float, bandwidth_rule: str, start: float) -> KdeExperimentRow:
    """The (N, K) row of :func:`kde_experiment` from its repeats' :func:`_kde_cell` results: means, standard
    errors (over the repeats, or the Monte Carlo one of a single repeat) and the regret bounds they imply
    (paper App. A.2: 2·R_max·H·L1 for the joint KDE, 2·R_max·T·Σ_i L1_i per sub-task)."""
    repeats = len(cells)

    def mean(key: str) -> float:
        return float(np.mean([c[key] for c in cells]))

    def stderr(key: str) -> float:
        if repeats > 1:
            return float(np.std([c[key] for c in cells], ddof=1) / np.sqrt(repeats))
        return cells[0][key + "_mc_se"]

    return KdeExperimentRow(
        n_samples=int(n), n_subtasks=int(k), subtask_dim=int(subtask_dim), n_repeats=repeats,
        l1_joint=mean("l1_joint"), l1_joint_stderr=stderr("l1_joint"),
        l1_per_subtask=mean("l1_per_subtask"), l1_per_subtask_stderr=stderr("l1_per_subtask"),
        l1_per_subtask_max=mean("l1_per_subtask_max"), l1_product=mean("l1_product"),
        bandwidth_joint=mean("bandwidth_joint"), bandwidth_per_subtask=mean("bandwidth_per_subtask"),
        gap_bound_joint=2.0 * r_max * k * steps_per_subtask * mean("l1_joint"),
        gap_bound_per_subtask=2.0 * r_max * steps_per_subtask * mean("l1_per_subtask_sum"),
        seconds=time.perf_counter() - start, bandwidth_rule=bandwidth_rule)


def format_table(rows: Sequence[KdeExperimentRow], bandwidths: bool = False) -> str:
    """Markdown table of :func:`kde_experiment` rows (L1 errors ± standard error).

    ``bandwidths=True`` adds two columns: the joint KDE's bandwidth and the mean per-sub-task bandwidth.
    """
    lines = ["| N | K | D·K | L1 joint | L1 per sub-task (mean) | L1 per sub-task (max) | L1 product of sub-task KDEs "
             "| gap bound / (R_max·H): joint | per sub-task |" + (" h joint | h per sub-task |" if bandwidths else ""),
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if bandwidths else "")]
    for r in rows:
        h = r.gap_bound_joint / (2 * r.l1_joint) if r.l1_joint > 0 else float("nan")  # R_max·H
        lines.append(f"| {r.n_samples} | {r.n_subtasks} | {r.n_subtasks * r.subtask_dim} "
                     f"| {r.l1_joint:.3f} ± {r.l1_joint_stderr:.3f} "
                     f"| {r.l1_per_subtask:.3f} ± {r.l1_per_subtask_stderr:.3f} "
                     f"| {r.l1_per_subtask_max:.3f} | {r.l1_product:.3f} "
                     f"| {r.gap_bound_joint / h:.3f} | {r.gap_bound_per_subtask / h:.3f} |"
                     + (f" {r.bandwidth_joint:.3f} | {r.bandwidth_per_subtask:.3f} |" if bandwidths else ""))
    return "\n".join(lines)


def rows_as_dicts(rows: Sequence[KdeExperimentRow]) -> list[dict]:
    return [asdict(r) for r in rows]


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - command-line helper
    """Print the joint vs per-sub-task KDE table.

    ``python -m mamba_edu.theory.pac [--dim D] [--seed S] [--n N ...] [--k K ...] [--repeats R]
    [--bandwidth {cv,rate}]``
    """
    import argparse

    p = argparse.ArgumentParser(prog="python -m mamba_edu.theory.pac", description=main.__doc__)
    p.add_argument("--dim", type=int, default=1, help="dimensions per sub-task (D)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, nargs="+", default=[100, 300, 1000], help="numbers of tasks N")
    p.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8], help="numbers of sub-tasks K")
    p.add_argument("--repeats", type=int, default=1, help="independent data sets per (N, K)")
    p.add_argument("--bandwidth", choices=BANDWIDTH_RULES, default="cv",
                   help="cv: cross-validated (default); rate: the theorems' (log N / N)^(1/(2 + d))")
    args = p.parse_args(argv)
    start = time.perf_counter()
    rows = kde_experiment(args.n, args.k, subtask_dim=args.dim, seed=args.seed, n_repeats=args.repeats,
                          bandwidth_rule=args.bandwidth)
    print(format_table(rows, bandwidths=args.bandwidth == "rate"))
    print(f"\n{len(rows)} cells in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
