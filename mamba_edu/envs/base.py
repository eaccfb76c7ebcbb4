"""The task-family contract every meta-RL environment in :mod:`mamba_edu.envs` follows.

A *task family* is a distribution p(M) over MDPs that share state and action spaces
(paper Sec. 2.1). Each family is a :class:`gymnasium.Env` that runs **one sub-episode** of
at most ``T`` steps in the current task; :class:`~mamba_edu.envs.meta_episode.MetaEpisode`
chains ``K`` of them into a meta-episode of horizon ``H = K * T``.

Contract (checked for every registered id in ``tests/test_envs_registry.py``):

* ``sample_tasks(n, seed)`` -> list of ``n`` tasks (numpy arrays or dicts of arrays), the same
  list for the same seed;
* ``set_task(task)`` fixes the MDP for the following sub-episodes;
* ``reset(seed=None, options={"task": task})`` starts a sub-episode (in ``task`` if given,
  otherwise in the current one, sampling one if none is set);
* ``info["task"]`` is the current task;
* class attributes ``K`` and ``T`` are the paper's defaults (Appendix C / the issue's spec).
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

Task = Any


class MetaTaskEnv(gym.Env):
    """Base class for a task family; subclasses implement ``_sample_task`` and the dynamics."""

    #: number of sub-episodes per meta-episode
    K: int = 1
    #: steps per sub-episode
    T: int = 1

    def __init__(self) -> None:
        super().__init__()
        self._task: Task | None = None

    # ----- task distribution ---------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> Task:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_tasks(self, n: int, seed: int | None = None) -> list[Task]:
        """Draw ``n`` i.i.d. tasks from the prior; the same ``seed`` gives the same tasks."""
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"sample_tasks: n must be a non-negative integer, got {n!r}")
        rng = np.random.default_rng(seed)
        return [self._sample_task(rng) for _ in range(int(n))]

    def set_task(self, task: Task) -> None:
        self._task = self._validate_task(task)

    def get_task(self) -> Task:
        return self._task

    def _validate_task(self, task: Task) -> Task:
        return task

    def _reset_task(self, seed: int | None, options: dict | None) -> None:
        """Common reset logic: seed the RNG, take ``options["task"]`` or keep/sample one."""
        if options is not None:
            unknown = set(options) - {"task"}
            if unknown:
                raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: ['task']")
            if "task" in options and options["task"] is not None:
                self.set_task(options["task"])
                return
        if self._task is None or seed is not None:
            self.set_task(self._sample_task(self.np_random))

    def _check_action(self, action: Any) -> np.ndarray:
        """Validate an action against ``action_space`` and return it as an array.

        Box actions must have exactly the space's shape (values outside the bounds are
        clipped by the dynamics, as in the paper); Discrete actions must be valid integers.
        """
        space = self.action_space
        if isinstance(space, gym.spaces.Box):
            a = np.asarray(action, dtype=np.float64)
            if a.shape != space.shape:
                raise ValueError(
                    f"{type(self).__name__}: action shape {a.shape} does not match action space shape {space.shape}"
                )
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{type(self).__name__}: action contains non-finite values: {a}")
            return a
        if isinstance(space, gym.spaces.Discrete):
            a = np.asarray(action)
            if a.shape not in ((), (1,)) or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(
                    f"{type(self).__name__}: action must be a single integer in [0, {space.n}), got {action!r}"
                )
            ai = int(a.reshape(()))
            if not 0 <= ai < space.n:
                raise ValueError(f"{type(self).__name__}: action {ai} out of range [0, {space.n})")
            return np.asarray(ai)
        return np.asarray(action)
