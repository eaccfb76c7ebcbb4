"""MetaBandit reference: exact value, a scripted policy that attains it, and the table shows it."""
import pytest

from mamba_edu.references import has_reference, reference
from mamba_edu.theory.bamdp import solve_bayes_optimal
from mamba_edu.theory.problems import meta_bandit


def test_metabandit_reference_is_exact_and_attained():
    ref = reference("MetaBandit", n_tasks=400)
    assert ref["exact"] and ref["bayes_optimal_return"] == 19.5
    assert abs(ref["return_mean"] - 19.5) <= 4 * ref["return_sem"]
    assert ref["sub_episode_returns_mean"][1:] == [5.0, 5.0, 5.0]       # sticks to the paying arm
    assert has_reference("mamba_edu/MetaBandit-v0")


def test_metabandit_reference_equals_backward_induction_and_reaches_the_tables():
    assert solve_bayes_optimal(meta_bandit(2, 4, 5)).value == pytest.approx(reference("MetaBandit", 10)[
        "bayes_optimal_return"])
    from mamba_edu.viz.curves import reference_line

    value, label, _ = reference_line("MetaBandit", 200)
    assert value == pytest.approx(19.5) and label == "exact Bayes-optimal"
