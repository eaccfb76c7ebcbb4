"""Brute-force Bayes-optimal values: independent checks of the solver on tiny problems.

No belief normalisation and no merging of histories: :func:`expectimax_over_histories` searches
the tree of raw observable histories, :func:`brute_force_policy_search` lists the value of every
deterministic history-dependent policy. Both are exponential in the horizon; the tests compare
them with :func:`mamba_edu.theory.bayes_optimal.solve_bayes_optimal`.
"""
from __future__ import annotations

import numpy as np

from mamba_edu.theory.finite_problem import FiniteMetaProblem


def _children(problem: FiniteMetaProblem, weights: np.ndarray, state: int, action: int):
    """(immediate expected reward mass, [(next state, reward, child weights)]) with unnormalised weights."""
    P = problem.outcome_probs[:, state, action]                   # (n_tasks, O)
    out = []
    immediate = 0.0
    for j in range(problem.n_outcomes):
        w = weights * P[:, j]
        mass = w.sum()
        if mass > 0:
            r = float(problem.outcome_reward[state, action, j])
            immediate += mass * r
            out.append((int(problem.outcome_next_state[state, action, j]), w))
    return immediate, out


def expectimax_over_histories(problem: FiniteMetaProblem, max_nodes: int = 2_000_000) -> float:
    """Bayes-optimal value by expectimax over raw histories.

    Each node is an observable history; it carries the *unnormalised* joint probabilities
    p(task) · p(history | task) -- no Bayes normalisation and no merging of histories that lead
    to the same belief. Exponential in H: for tiny problems only (ValueError past ``max_nodes``).
    """
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode
    count = [0]

    def value(k: int, t: int, s: int, w: np.ndarray) -> float:
        if t == T:
            k, t, s = k + 1, 0, problem.start_state
        if k == K:
            return 0.0
        count[0] += 1
        if count[0] > max_nodes:
            raise ValueError(f"{problem.name}: expectimax needs more than max_nodes={max_nodes} nodes")
        best = -np.inf
        for a in range(problem.n_actions):
            immediate, kids = _children(problem, w, s, a)
            best = max(best, immediate + sum(value(k, t + 1, s2, w2) for s2, w2 in kids))
        return best

    return value(0, 0, problem.start_state, problem.prior.copy())


def brute_force_policy_search(problem: FiniteMetaProblem, max_policies: int = 1_000_000) -> tuple[float, int]:
    """Best J over *all* deterministic history-dependent policies, listed one by one.

    A deterministic policy is one action per reachable observable history; its J is the sum
    over the histories it reaches of their (unnormalised) probability times reward. Every such
    policy's J is listed (as the Minkowski sum of its sub-trees' value sets), so this checks the
    Bellman equation's "max inside the expectation" against a literal search over policies.
    Returns (best value, number of policies). ValueError past ``max_policies``.
    """
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode

    def values(k: int, t: int, s: int, w: np.ndarray) -> np.ndarray:
        if t == T:
            k, t, s = k + 1, 0, problem.start_state
        if k == K:
            return np.zeros(1)
        per_action = []
        for a in range(problem.n_actions):
            immediate, kids = _children(problem, w, s, a)
            acc = np.array([immediate])
            for s2, w2 in kids:
                sub = values(k, t + 1, s2, w2)
                if acc.size * sub.size > max_policies:
                    raise ValueError(f"{problem.name}: more than max_policies={max_policies} deterministic policies")
                acc = (acc[:, None] + sub[None, :]).reshape(-1)
            per_action.append(acc)
        out = np.concatenate(per_action)
        if out.size > max_policies:
            raise ValueError(f"{problem.name}: more than max_policies={max_policies} deterministic policies")
        return out

    all_values = values(0, 0, problem.start_state, problem.prior.copy())
    return float(all_values.max()), int(all_values.size)
