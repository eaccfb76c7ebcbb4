"""The problem type of the exact analysis: a meta-RL problem with finitely many tasks (paper Sec. 2.1).

A :class:`FiniteMetaProblem` is a prior over finitely many tasks, a shared finite state and action
space, and for every task the probability of each *outcome* (next state, reward) of each
(state, action); a meta-episode is K sub-episodes of T steps, each starting in the same known state.
A :class:`Transition` is one step of a meta-episode as the agent sees it.

The concrete problems (meta-bandit, goal-search grid, Rooms-N) are built in
:mod:`mamba_edu.theory.problems`; beliefs over the tasks are in :mod:`mamba_edu.theory.beliefs`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np


@dataclass(frozen=True, eq=False)
class FiniteMetaProblem:
    """A meta-RL problem with finitely many tasks, states, actions and outcomes.

    Outcome j of (state s, action a) is the pair (``outcome_next_state[s, a, j]``,
    ``outcome_reward[s, a, j]``); the pair is the same in every task, its probability
    ``outcome_probs[task, s, a, j]`` is what the task decides. Padding outcomes have probability 0
    in every task. The agent sees the state and the reward, never the task.

    A meta-episode is K sub-episodes of T steps; every sub-episode starts in ``start_state``
    (the same in every task, so a reset reveals nothing about the task).
    """

    name: str
    prior: np.ndarray               #: (n_tasks,) prior probability of each task
    outcome_probs: np.ndarray       #: (n_tasks, n_states, n_actions, n_outcomes)
    outcome_next_state: np.ndarray  #: (n_states, n_actions, n_outcomes) int
    outcome_reward: np.ndarray      #: (n_states, n_actions, n_outcomes) float
    start_state: int
    n_sub_episodes: int             #: K
    steps_per_sub_episode: int      #: T
    task_labels: tuple = ()         #: a readable label per task (e.g. the goal's (x, y))
    state_labels: tuple = ()        #: a readable label per state
    #: (n_tasks, n_subtasks) sub-task parameters of each task, for decomposable distributions
    task_factors: np.ndarray | None = None
    description: str = ""

    def __post_init__(self) -> None:
        prior = np.asarray(self.prior, dtype=np.float64)
        probs = np.asarray(self.outcome_probs, dtype=np.float64)
        nxt = np.asarray(self.outcome_next_state, dtype=np.int64)
        rew = np.asarray(self.outcome_reward, dtype=np.float64)
        if prior.ndim != 1 or len(prior) == 0:
            raise ValueError(f"{self.name}: prior must be a non-empty 1-d array, got shape {prior.shape}")
        if (prior < 0).any() or not np.isclose(prior.sum(), 1.0):
            raise ValueError(f"{self.name}: prior must be non-negative and sum to 1, got sum {prior.sum()}")
        if probs.ndim != 4 or probs.shape[0] != len(prior):
            raise ValueError(f"{self.name}: outcome_probs must have shape (n_tasks={len(prior)}, n_states, "
                             f"n_actions, n_outcomes), got {probs.shape}")
        if nxt.shape != probs.shape[1:] or rew.shape != probs.shape[1:]:
            raise ValueError(f"{self.name}: outcome_next_state and outcome_reward must have shape "
                             f"{probs.shape[1:]}, got {nxt.shape} and {rew.shape}")
        n_states = probs.shape[1]
        if (probs < 0).any() or not np.allclose(probs.sum(-1), 1.0):
            raise ValueError(f"{self.name}: outcome_probs must be non-negative and sum to 1 over outcomes")
        if nxt.min() < 0 or nxt.max() >= n_states:
            raise ValueError(f"{self.name}: outcome_next_state must lie in [0, {n_states}), "
                             f"got values in [{nxt.min()}, {nxt.max()}]")
        if not 0 <= int(self.start_state) < n_states:
            raise ValueError(f"{self.name}: start_state must lie in [0, {n_states}), got {self.start_state}")
        for label, v in (("n_sub_episodes", self.n_sub_episodes),
                         ("steps_per_sub_episode", self.steps_per_sub_episode)):
            if int(v) < 1:
                raise ValueError(f"{self.name}: {label} must be >= 1, got {v}")
        if self.task_factors is not None:
            f = np.asarray(self.task_factors)
            if f.ndim != 2 or f.shape[0] != len(prior):
                raise ValueError(f"{self.name}: task_factors must have shape (n_tasks={len(prior)}, n_subtasks), "
                                 f"got {f.shape}")
            object.__setattr__(self, "task_factors", f)
        for attr, arr in (("prior", prior), ("outcome_probs", probs), ("outcome_next_state", nxt),
                          ("outcome_reward", rew)):
            arr.setflags(write=False)
            object.__setattr__(self, attr, arr)

    # sizes -----------------------------------------------------------------------------------
    @property
    def n_tasks(self) -> int:
        return self.outcome_probs.shape[0]

    @property
    def n_states(self) -> int:
        return self.outcome_probs.shape[1]

    @property
    def n_actions(self) -> int:
        return self.outcome_probs.shape[2]

    @property
    def n_outcomes(self) -> int:
        return self.outcome_probs.shape[3]

    @property
    def horizon(self) -> int:
        """H = K · T, the meta-episode length."""
        return self.n_sub_episodes * self.steps_per_sub_episode

    def task_index(self, label: Any) -> int:
        """Index of the task whose label equals ``label``."""
        return _index_of(self.task_labels, label, "task", self.name)

    def state_index(self, label: Any) -> int:
        """Index of the state whose label equals ``label``."""
        return _index_of(self.state_labels, label, "state", self.name)

    def outcome_index(self, state: int, action: int, reward: float, next_state: int) -> int:
        """Index j of the outcome (next_state, reward) of (state, action); ValueError if no task allows it."""
        self._check_state_action(state, action)
        possible = self.outcome_probs[:, state, action].max(0) > 0
        match = (possible & (self.outcome_next_state[state, action] == next_state)
                 & np.isclose(self.outcome_reward[state, action], reward))
        hits = np.flatnonzero(match)
        if len(hits) == 0:
            raise ValueError(f"{self.name}: outcome (next_state={next_state}, reward={reward}) of "
                             f"(state={state}, action={action}) is impossible under every task")
        return int(hits[0])

    def _check_state_action(self, state: int, action: int) -> None:
        if not 0 <= int(state) < self.n_states:
            raise ValueError(f"{self.name}: state must lie in [0, {self.n_states}), got {state}")
        if not 0 <= int(action) < self.n_actions:
            raise ValueError(f"{self.name}: action must lie in [0, {self.n_actions}), got {action}")

    def check_belief(self, belief: np.ndarray) -> np.ndarray:
        b = np.asarray(belief, dtype=np.float64)
        if b.shape != (self.n_tasks,) or (b < 0).any() or not np.isclose(b.sum(), 1.0):
            raise ValueError(f"{self.name}: a belief must be {self.n_tasks} non-negative numbers summing to 1, "
                             f"got shape {b.shape}, sum {b.sum() if b.size else 0.0}")
        return b


def _index_of(labels: tuple, label: Any, what: str, name: str) -> int:
    for i, lab in enumerate(labels):
        if lab == label:
            return i
    raise ValueError(f"{name}: unknown {what} label {label!r}; valid labels: {list(labels)}")


class Transition(NamedTuple):
    """One step of a meta-episode: sub-episode k, step t in it, and what was seen."""

    sub_episode: int
    step: int
    state: int
    action: int
    reward: float
    next_state: int
