"""Exact beliefs: the posterior over tasks and Bayes' rule (paper Sec. 2.1).

The belief b(task) = p(task | history) is what turns the meta-RL POMDP into the Bayes-adaptive MDP.
A sub-episode reset carries no information and leaves it unchanged.

* :func:`belief_update` / :func:`belief_trajectory` -- Bayes' rule after each transition;
* :func:`predictive_outcome_probs` -- P(outcome | history), what a learned decoder approximates;
* :func:`subtask_marginals` and :func:`belief_is_product` -- for decomposable task
  distributions (paper Sec. 3.2, App. A.1): the exact belief stays a product of per-sub-task
  beliefs, which is what lets an agent reason about the current sub-task alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mamba_edu.theory.finite_problem import FiniteMetaProblem, Transition

#: beliefs are compared after rounding to this many decimals (float noise from different update orders)
BELIEF_DECIMALS = 12


def belief_update(problem: FiniteMetaProblem, belief: np.ndarray, state: int, action: int, reward: float,
                  next_state: int) -> np.ndarray:
    """Posterior over tasks after observing (state, action) → (reward, next_state) (Bayes' rule).

    b'(task) ∝ b(task) · P_task(next_state, reward | state, action). Raises ValueError if the
    observation has probability 0 under ``belief`` (it cannot have happened).
    """
    b = problem.check_belief(belief)
    j = problem.outcome_index(state, action, reward, next_state)
    joint = b * problem.outcome_probs[:, state, action, j]
    evidence = joint.sum()
    if evidence <= 0:
        raise ValueError(f"{problem.name}: outcome (next_state={next_state}, reward={reward}) of "
                         f"(state={state}, action={action}) has probability 0 under the given belief")
    return joint / evidence


def belief_trajectory(problem: FiniteMetaProblem, transitions: Sequence[Transition | tuple]) -> np.ndarray:
    """Beliefs before the first and after every transition: array (len(transitions) + 1, n_tasks).

    ``transitions`` may be :class:`Transition` tuples or plain (state, action, reward, next_state)
    tuples; sub-episode resets in between need no entry (they carry no information).
    """
    b = problem.prior.copy()
    out = [b]
    for tr in transitions:
        s, a, r, s2 = (tr.state, tr.action, tr.reward, tr.next_state) if isinstance(tr, Transition) else tr
        b = belief_update(problem, b, int(s), int(a), float(r), int(s2))
        out.append(b)
    return np.stack(out)


def predictive_outcome_probs(problem: FiniteMetaProblem, belief: np.ndarray, state: int, action: int) -> np.ndarray:
    """P(outcome j | history) = Σ_task b(task) · P_task(j | state, action), shape (n_outcomes,)."""
    b = problem.check_belief(belief)
    problem._check_state_action(state, action)
    return b @ problem.outcome_probs[:, state, action]


def subtask_marginals(problem: FiniteMetaProblem, belief: np.ndarray) -> list[dict[Any, float]]:
    """Marginal belief over each sub-task's parameter (needs ``problem.task_factors``).

    Entry i maps each value of sub-task i's parameter (e.g. the goal corner of room i) to its
    posterior probability.
    """
    if problem.task_factors is None:
        raise ValueError(f"{problem.name}: subtask_marginals needs a problem with task_factors "
                         f"(a decomposable task distribution)")
    b = problem.check_belief(belief)
    out = []
    for i in range(problem.task_factors.shape[1]):
        values, inverse = np.unique(problem.task_factors[:, i], return_inverse=True)
        mass = np.bincount(inverse, weights=b, minlength=len(values))
        out.append({v.item(): float(m) for v, m in zip(values, mass)})
    return out


def belief_is_product(problem: FiniteMetaProblem, belief: np.ndarray, atol: float = 1e-9) -> bool:
    """Whether the belief equals the product of its sub-task marginals (paper Sec. 3.2, App. A.1).

    Requires the tasks to be the full product of the sub-task parameter values (as in Rooms-N).
    """
    b = problem.check_belief(belief)
    marginals = subtask_marginals(problem, b)
    product = np.ones(problem.n_tasks)
    for i, m in enumerate(marginals):
        product *= np.array([m[v.item()] for v in problem.task_factors[:, i]])
    return bool(np.allclose(product, b, atol=atol))


def belief_key(b: np.ndarray) -> bytes:
    """Hashable key of a belief, equal for beliefs equal up to float noise (``BELIEF_DECIMALS``)."""
    return (np.round(b, BELIEF_DECIMALS) + 0.0).tobytes()


def posterior_after_outcome(problem: FiniteMetaProblem, belief: np.ndarray, state: int, action: int,
                            outcome: int) -> np.ndarray:
    """Bayes' rule for outcome index ``outcome`` of (state, action), without the checks of
    :func:`belief_update` (for callers that drew an outcome of positive probability)."""
    joint = belief * problem.outcome_probs[:, state, action, outcome]
    return joint / joint.sum()
