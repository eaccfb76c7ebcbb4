"""PAC bounds of Theorems 2 and 3 (mamba_edu.theory.pac) and the joint vs per-sub-task KDE experiment."""
import math

import numpy as np
import pytest
from scipy import stats

from mamba_edu.theory.pac import (
    BetaProductPrior,
    fit_kde_by_cross_validation,
    format_table,
    joint_kde_regret_bound,
    kde_experiment,
    kde_rate,
    l1_distance_monte_carlo,
    log10_samples_needed,
    per_subtask_kde_regret_bound,
    regret_bound,
    samples_needed,
)

NS = np.unique(np.geomspace(3, 1e9, 200).round())


@pytest.mark.parametrize("estimator", ["joint", "per_subtask"])
@pytest.mark.parametrize("D,K,alpha", [(1, 1, 1.0), (2, 3, 0.5), (3, 8, 1.0), (1, 20, 0.1)])
def test_bounds_decrease_in_n(estimator, D, K, alpha):
    b = regret_bound(estimator, NS, D, K, alpha, r_max=2.0, steps_per_subtask=10, subtask_volume=1.5)
    assert b.shape == NS.shape
    assert (np.diff(b) < 0).all()
    # how much a billion tasks help: a lot for a small exponent's denominator, little for a large one
    exponent = alpha / (2 * alpha + (D * K if estimator == "joint" else D))
    assert b[0] / b[-1] == pytest.approx(((np.log(3) / 3) / (np.log(NS[-1]) / NS[-1])) ** exponent)


def test_union_bound_variant_also_decreases_and_is_larger():
    plain = per_subtask_kde_regret_bound(NS, 2, 5)
    union = per_subtask_kde_regret_bound(NS, 2, 5, union_bound=True)
    assert (np.diff(union) < 0).all() and (union > plain).all()


@pytest.mark.parametrize("D,alpha", [(1, 1.0), (2, 0.5), (5, 0.8)])
def test_bounds_coincide_at_one_subtask(D, alpha):
    kw = dict(r_max=3.0, steps_per_subtask=7.0, subtask_volume=2.0, kde_constant=lambda d: 1.0 + d ** 2)
    joint = joint_kde_regret_bound(NS, D, 1, alpha, **kw)
    np.testing.assert_allclose(per_subtask_kde_regret_bound(NS, D, 1, alpha, **kw), joint, rtol=1e-12)
    np.testing.assert_allclose(per_subtask_kde_regret_bound(NS, D, 1, alpha, union_bound=True, **kw), joint, rtol=1e-12)
    np.testing.assert_allclose(per_subtask_kde_regret_bound(NS, D, 1, alpha, decoupled_returns=False, **kw), joint,
                               rtol=1e-12)
    # and equal the formula of Theorem 2: 2 R H |Θ| C_d (log N / N)^(α/(2α+d))
    rate = (np.log(NS) / NS) ** (alpha / (2 * alpha + D))
    np.testing.assert_allclose(joint, 2 * 3.0 * 7.0 * 2.0 * (1 + D ** 2) * rate)


def test_per_subtask_bound_is_linear_in_k_and_joint_degrades_faster():
    n = 10_000
    base = per_subtask_kde_regret_bound(n, 2, 1)
    for K in (2, 4, 8):
        assert per_subtask_kde_regret_bound(n, 2, K) == pytest.approx(K * base)  # Theorem 1: K · O(rate_D)
        # the joint bound's rate has exponent α/(2α + D·K): per unit of horizon it is larger
        assert joint_kde_regret_bound(n, 2, K) / K > per_subtask_kde_regret_bound(n, 2, K) / K
        # without the decoupling assumption: one more factor K, the same exponent
        assert per_subtask_kde_regret_bound(n, 2, K, decoupled_returns=False) == pytest.approx(K * K * base)
    ratios = [joint_kde_regret_bound(n, 2, K) / per_subtask_kde_regret_bound(n, 2, K) for K in (1, 2, 4, 8)]
    assert ratios[0] == pytest.approx(1.0) and (np.diff(ratios) > 0).all()


def test_kde_rate_formula_and_input_errors():
    assert kde_rate(100, 3, 0.5) == pytest.approx((math.log(100) / 100) ** (0.5 / 4))
    with pytest.raises(ValueError, match="n_samples must be >= 3"):
        kde_rate(2, 1)
    with pytest.raises(ValueError, match=r"alpha .* must lie in \(0, 1\]"):
        joint_kde_regret_bound(100, 1, 1, alpha=1.5)
    with pytest.raises(ValueError, match="n_subtasks must be an integer >= 1"):
        per_subtask_kde_regret_bound(100, 1, 0)
    with pytest.raises(ValueError, match="estimator must be one of"):
        regret_bound("both", 100, 1, 1)
    with pytest.raises(ValueError, match="target_regret must be a finite number > 0"):
        samples_needed(0.0, "joint", 1, 1)


@pytest.mark.parametrize("estimator", ["joint", "per_subtask"])
def test_samples_needed_is_the_smallest_sufficient_n(estimator):
    for target in (5.0, 1.0, 0.5):
        n = samples_needed(target, estimator, 1, 3)
        assert regret_bound(estimator, n, 1, 3) <= target
        if n > 3:
            assert regret_bound(estimator, n - 1, 1, 3) > target
    assert samples_needed(1e6, estimator, 1, 3) == 3  # any N will do


def test_samples_needed_grows_exponentially_only_for_the_joint_estimator():
    # target regret per step of horizon fixed: ε = 0.5 · K (the bound grows with H = K anyway)
    joint = [log10_samples_needed(0.5 * K, "joint", 2, K) for K in (1, 2, 4, 8)]
    per = [log10_samples_needed(0.5 * K, "per_subtask", 2, K) for K in (1, 2, 4, 8)]
    assert joint[0] == pytest.approx(per[0])
    assert per == pytest.approx([per[0]] * 4)            # same per-step target → same N, whatever K
    assert (np.diff(joint) > 0).all() and joint[-1] > 3 * joint[0]
    # a tight target for 32 sub-tasks: beyond 1e300 tasks jointly, about 1e27 per sub-task
    assert log10_samples_needed(1e-6 * 32, "joint", 2, 32) > 300
    assert math.isinf(samples_needed(1e-6 * 32, "joint", 2, 32))
    assert math.isfinite(samples_needed(1e-6 * 32, "per_subtask", 2, 32))


def test_l1_monte_carlo_on_two_gaussians():
    rng = np.random.default_rng(0)
    est, se = l1_distance_monte_carlo(stats.norm(0, 1).logpdf, lambda m: rng.normal(0, 1, m),
                                      stats.norm(1, 1).logpdf, lambda m: rng.normal(1, 1, m), 4000)
    exact = 2 * (2 * stats.norm.cdf(0.5) - 1)
    assert abs(est - exact) < 4 * se and se < 0.02
    same, _ = l1_distance_monte_carlo(stats.norm.logpdf, lambda m: rng.normal(size=m), stats.norm.logpdf,
                                      lambda m: rng.normal(size=m), 100)
    assert same == 0.0


def test_l1_monte_carlo_counts_mass_outside_the_support():
    # KDE mass leaking outside [0, 1] must count: q uniform on [-1, 1] vs p uniform on [0, 1] → L1 = 1
    rng = np.random.default_rng(1)
    est, se = l1_distance_monte_carlo(stats.uniform(0, 1).logpdf, lambda m: rng.uniform(0, 1, m),
                                      stats.uniform(-1, 2).logpdf, lambda m: rng.uniform(-1, 1, m), 4000)
    assert abs(est - 1.0) < 4 * se and se < 0.02


def test_cross_validated_kde_picks_a_sensible_bandwidth():
    x = np.random.default_rng(0).beta(2, 2, size=(300, 1))
    kde = fit_kde_by_cross_validation(x, np.geomspace(0.005, 2.0, 20))
    assert 0.01 < kde.bandwidth < 0.3


def test_kde_experiment_joint_error_grows_with_k_per_subtask_stays_flat():
    rows = kde_experiment(n_samples_grid=(200,), n_subtasks_grid=(1, 4), subtask_dim=1, n_mc=1000, seed=0)
    one, four = rows
    assert (one.n_subtasks, four.n_subtasks) == (1, 4)
    assert one.bandwidth_joint == one.bandwidth_per_subtask          # K = 1: the same estimator
    assert four.l1_joint > one.l1_joint + 0.2                        # joint: worse with more sub-tasks
    assert abs(four.l1_per_subtask - one.l1_per_subtask) < 0.1       # per sub-task: flat
    assert four.l1_per_subtask < four.l1_joint / 2.5
    assert four.l1_product < four.l1_joint                           # even as one density over the full space
    # product lemma: ‖Π f_i − Π f̂_i‖₁ ≤ Σ_i ‖f_i − f̂_i‖₁ (up to Monte Carlo noise)
    assert four.l1_product <= 4 * four.l1_per_subtask + 4 * four.l1_per_subtask_stderr * 4
    assert four.gap_bound_per_subtask < four.gap_bound_joint
    assert four.gap_bound_joint == pytest.approx(2 * 4 * four.l1_joint)
    assert "| 200 | 4 | 4 |" in format_table(rows)


def test_kde_experiment_input_errors():
    with pytest.raises(ValueError, match="must be >= 2·cv_folds"):
        kde_experiment(n_samples_grid=(5,))
    with pytest.raises(ValueError, match="subtask_dim must be an integer >= 1"):
        kde_experiment(subtask_dim=0)
    with pytest.raises(ValueError, match="Beta parameters must be >= 1"):
        BetaProductPrior(2, 1, a=0.5)
