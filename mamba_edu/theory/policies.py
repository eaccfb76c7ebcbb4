"""Policies for the exact analysis: what a policy sees, and the reference policies.

A policy maps a :class:`PolicyInput` (position in the meta-episode, state, whole history and the
exact belief) to an action or to a probability vector over actions, so any history-dependent,
possibly stochastic policy can be evaluated exactly (:mod:`mamba_edu.theory.evaluation`). The
references: the Bayes-optimal policy of a solution, the myopic (never explores on purpose), uniform
random and fixed-action policies.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mamba_edu.theory.bayes_optimal import BayesOptimalSolution
from mamba_edu.theory.finite_problem import FiniteMetaProblem, Transition


@dataclass(frozen=True, eq=False)
class PolicyInput:
    """What a policy may use: the position in the meta-episode, the state, the whole history.

    ``belief`` is the exact posterior given ``history`` (a convenience for belief-based policies;
    a history-dependent policy may ignore it).
    """

    sub_episode: int
    step: int
    state: int
    belief: np.ndarray
    history: tuple[Transition, ...]


#: a policy maps a PolicyInput to an action, or to a probability vector over actions
Policy = Callable[[PolicyInput], "int | np.ndarray"]


def action_distribution(problem: FiniteMetaProblem, out: Any) -> np.ndarray:
    """A policy's output as a probability vector over actions (ValueError if it is neither an action
    nor such a vector)."""
    arr = np.asarray(out)
    if arr.ndim == 0:
        a = int(arr)
        if not 0 <= a < problem.n_actions or a != arr:
            raise ValueError(f"{problem.name}: policy returned action {out!r}; valid: 0..{problem.n_actions - 1}")
        dist = np.zeros(problem.n_actions)
        dist[a] = 1.0
        return dist
    dist = arr.astype(np.float64)
    if dist.shape != (problem.n_actions,) or (dist < 0).any() or not np.isclose(dist.sum(), 1.0):
        raise ValueError(f"{problem.name}: a stochastic policy must return {problem.n_actions} probabilities "
                         f"summing to 1, got {out!r}")
    return dist


class BayesOptimalPolicy:
    """The greedy policy of a :class:`BayesOptimalSolution` (acts on the exact belief)."""

    def __init__(self, solution: BayesOptimalSolution) -> None:
        self.solution = solution

    def __call__(self, obs: PolicyInput) -> int:
        return self.solution.action(obs.sub_episode, obs.step, obs.state, obs.belief)


def myopic_policy(problem: FiniteMetaProblem) -> Policy:
    """Maximise the *immediate* expected reward under the current belief (lowest action among ties).

    It exploits what it believes but never explores for the sake of learning; its regret measures
    the value of deliberate exploration.
    """
    def policy(obs: PolicyInput) -> int:
        predictive = np.einsum("n,nao->ao", obs.belief, problem.outcome_probs[:, obs.state])
        expected = (predictive * problem.outcome_reward[obs.state]).sum(-1)
        return int(np.argmax(np.round(expected, 12)))
    return policy


def uniform_random_policy(problem: FiniteMetaProblem) -> Policy:
    """Every action with probability 1/|A| (a stochastic, memoryless policy)."""
    dist = np.full(problem.n_actions, 1.0 / problem.n_actions)
    return lambda obs: dist


def fixed_action_policy(problem: FiniteMetaProblem, action: int) -> Policy:
    """Always the same action (memoryless; e.g. always pull arm 0)."""
    if not 0 <= int(action) < problem.n_actions:
        raise ValueError(f"{problem.name}: action must lie in [0, {problem.n_actions}), got {action}")
    return lambda obs: int(action)
