"""Rollouts: one meta-episode of a policy in a task, with the exact belief before and after every step."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mamba_edu.theory.beliefs import posterior_after_outcome
from mamba_edu.theory.finite_problem import FiniteMetaProblem, Transition
from mamba_edu.theory.policies import Policy, PolicyInput, action_distribution


@dataclass(eq=False)
class Rollout:
    """One meta-episode: the task, its transitions and the belief before/after every step."""

    task: int
    transitions: list[Transition]
    beliefs: np.ndarray   #: (H + 1, n_tasks): beliefs[i] is the belief before step i; beliefs[H] after the last

    @property
    def total_return(self) -> float:
        return float(sum(tr.reward for tr in self.transitions))

    def sub_episode_returns(self, n_sub_episodes: int) -> np.ndarray:
        out = np.zeros(n_sub_episodes)
        for tr in self.transitions:
            out[tr.sub_episode] += tr.reward
        return out


def _sample_index(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Draw an index with probabilities ``probs`` (no random number used when one entry is 1)."""
    if probs.max() >= 1.0:
        return int(probs.argmax())
    return min(int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum(), side="right")), len(probs) - 1)


def rollout(problem: FiniteMetaProblem, policy: Policy, task: int,
            rng: np.random.Generator | int | None = None) -> Rollout:
    """Run ``policy`` for one meta-episode in ``task``, recording the exact belief at every step."""
    if not 0 <= int(task) < problem.n_tasks:
        raise ValueError(f"{problem.name}: task must lie in [0, {problem.n_tasks}), got {task}")
    rng = np.random.default_rng(rng)
    b = problem.prior.copy()
    history: list[Transition] = []
    beliefs = [b]
    for k in range(problem.n_sub_episodes):
        s = problem.start_state
        for t in range(problem.steps_per_sub_episode):
            dist = action_distribution(problem, policy(PolicyInput(k, t, s, b, tuple(history))))
            a = _sample_index(dist, rng)
            j = _sample_index(problem.outcome_probs[task, s, a], rng)
            s2, r = int(problem.outcome_next_state[s, a, j]), float(problem.outcome_reward[s, a, j])
            b = posterior_after_outcome(problem, b, s, a, j)
            history.append(Transition(k, t, s, a, r, s2))
            beliefs.append(b)
            s = s2
    return Rollout(int(task), history, np.stack(beliefs))
