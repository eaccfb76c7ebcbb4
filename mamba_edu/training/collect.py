"""Collecting one batch of meta-episodes with a learner: the act → step → observe → update loop.

Every place that trains a learner on environments runs this one function: the training loop
(:mod:`mamba_edu.training.loop`), the benchmarks and the tests. B meta-episodes (paper Sec. 2.1:
K sub-episodes of one task each) are stepped in lock-step from reset until every one has ended,
calling the learner as :class:`mamba_edu.training.learner.Learner` describes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from mamba_edu.training.learner import Learner


@dataclass
class CollectedBatch:
    """What :func:`collect_batch` did."""

    env_steps: int                    #: the environment-step counter after the batch
    steps: int                        #: lock-step steps taken (H, unless every meta-episode ended early)
    sub_episode_returns: np.ndarray   #: (B, K) return of every sub-episode of the batch
    metrics: dict[str, float] | None  #: the last metrics an ``update`` call returned, if any did
    update_s: float                   #: seconds spent inside ``learner.update``

    @property
    def train_return(self) -> float:
        """Mean meta-episode return of the batch (as the training policy acted: sampling)."""
        return float(self.sub_episode_returns.sum(1).mean())


def training_seeds(seed: int, batch_index: int, num_envs: int) -> list[int]:
    """The reset seeds of training batch ``batch_index``: derived from the run's seed and the batch
    index alone, so a resumed run draws exactly the tasks the uninterrupted one would have."""
    return [seed * 1_000_000_007 % 2**31 + batch_index * num_envs + i for i in range(num_envs)]


def collect_batch(learner: Learner, env: Any, env_steps: int = 0, *, seed: int | Sequence[int] | None = None,
                  after_env_step: Callable[[int], None] | None = None,
                  after_update: Callable[[int, dict[str, float] | None], None] | None = None,
                  behaviour: Any = None, train: bool = True) -> CollectedBatch:
    """Reset ``env`` (a batched env of B meta-episodes, :mod:`mamba_edu.envs.batched`) with ``seed`` and
    run ``learner`` on it until every meta-episode has ended; each step adds B to ``env_steps``.

    ``behaviour``: another policy to act (``reset(n)`` / ``act(obs)``, e.g. a scripted reference) while the
    learner only records what happens (off-policy data, as book notebook 03 collects); ``train=False``
    never calls ``update``.

    ``after_env_step(env_steps)`` runs after every environment step, before that step's update (the
    counter already advanced); ``after_update(env_steps, metrics)`` after every ``update`` call,
    including the one after ``end()``.
    """
    obs, _ = env.reset(seed=seed)
    n = env.num_envs
    learner.begin(obs, n)
    if behaviour is not None:
        behaviour.reset(n)
    done = np.zeros(n, dtype=bool)
    steps, metrics, update_s, info = 0, None, 0.0, {}

    def update() -> None:
        nonlocal metrics, update_s
        if not train:
            return
        started = time.perf_counter()
        m = learner.update(env_steps)
        update_s += time.perf_counter() - started
        metrics = m if m is not None else metrics
        if after_update is not None:
            after_update(env_steps, m)

    while not done.all():
        actions = learner.act(obs, env_steps) if behaviour is None else behaviour.act(obs)
        obs, reward, terminated, truncated, info = env.step(actions)
        learner.observe(actions, reward, obs, terminated)
        env_steps += n
        steps += 1
        done = np.asarray(terminated) | np.asarray(truncated)
        if after_env_step is not None:
            after_env_step(env_steps)
        update()
    learner.end()
    update()
    return CollectedBatch(env_steps, steps, np.asarray(info["sub_episode_returns"]), metrics, update_s)
