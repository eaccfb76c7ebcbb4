"""Policy evaluation and regret (paper App. A.2).

J(π), the expected meta-episode return under the prior, exactly by enumerating every task and every
action/outcome branch (:func:`exact_policy_value`) or by Monte Carlo over rollouts
(:func:`estimate_policy_value`); the regret R(π) = J(π_BO) − J(π) of any history-dependent,
possibly stochastic policy (:func:`regret`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mamba_edu.theory.bayes_optimal import BayesOptimalSolution, solve_bayes_optimal
from mamba_edu.theory.beliefs import posterior_after_outcome
from mamba_edu.theory.finite_problem import FiniteMetaProblem, Transition
from mamba_edu.theory.policies import Policy, PolicyInput, action_distribution
from mamba_edu.theory.rollouts import rollout


def exact_policy_value(problem: FiniteMetaProblem, policy: Policy, max_nodes: int = 200_000) -> float:
    """J(π) exactly: enumerate every task and every action/outcome branch of ``policy``.

    The number of branches grows with the policy's and the problem's randomness; past
    ``max_nodes`` a ValueError suggests :func:`estimate_policy_value` instead.
    """
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode
    total, nodes = 0.0, 0
    for task in np.flatnonzero(problem.prior > 0):
        # stack entries: (probability of the branch, k, t, state, belief, history, return so far)
        stack = [(float(problem.prior[task]), 0, 0, problem.start_state, problem.prior.copy(), (), 0.0)]
        while stack:
            p, k, t, s, b, hist, ret = stack.pop()
            if t == T:
                k, t, s = k + 1, 0, problem.start_state
            if k == K:
                total += p * ret
                continue
            dist = action_distribution(problem, policy(PolicyInput(k, t, s, b, hist)))
            for a in np.flatnonzero(dist > 0):
                probs = problem.outcome_probs[task, s, a]
                for j in np.flatnonzero(probs > 0):
                    nodes += 1
                    if nodes > max_nodes:
                        raise ValueError(f"{problem.name}: exact evaluation needs more than max_nodes={max_nodes} "
                                         f"branches; use estimate_policy_value(...) (Monte Carlo) instead")
                    s2, r = int(problem.outcome_next_state[s, a, j]), float(problem.outcome_reward[s, a, j])
                    b2 = posterior_after_outcome(problem, b, s, a, j)
                    stack.append((p * dist[a] * probs[j], k, t + 1, s2, b2,
                                  hist + (Transition(k, t, s, int(a), r, s2),), ret + r))
    return float(total)


def estimate_policy_value(problem: FiniteMetaProblem, policy: Policy, n_rollouts: int = 1000,
                          seed: int = 0) -> tuple[float, float]:
    """Monte Carlo J(π): (mean return, its standard error) over ``n_rollouts`` tasks drawn from the prior."""
    if int(n_rollouts) < 2:
        raise ValueError(f"n_rollouts must be >= 2, got {n_rollouts}")
    rng = np.random.default_rng(seed)
    tasks = rng.choice(problem.n_tasks, size=int(n_rollouts), p=problem.prior)
    returns = np.array([rollout(problem, policy, int(task), rng).total_return for task in tasks])
    return float(returns.mean()), float(returns.std(ddof=1) / np.sqrt(len(returns)))


@dataclass(frozen=True)
class RegretReport:
    """Regret R(π) = J(π_BO) − J(π) (paper App. A.2); ``stderr`` is 0 for an exact evaluation."""

    bayes_optimal_value: float
    policy_value: float
    regret: float
    stderr: float
    exact: bool


def regret(problem: FiniteMetaProblem, policy: Policy, solution: BayesOptimalSolution | None = None,
           n_rollouts: int | None = None, seed: int = 0) -> RegretReport:
    """Regret of ``policy``: exact (``n_rollouts=None``) or Monte Carlo over ``n_rollouts`` meta-episodes."""
    solution = solution or solve_bayes_optimal(problem)
    if n_rollouts is None:
        value, err = exact_policy_value(problem, policy), 0.0
    else:
        value, err = estimate_policy_value(problem, policy, n_rollouts, seed)
    return RegretReport(solution.value, value, solution.value - value, err, n_rollouts is None)
