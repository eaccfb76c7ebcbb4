"""Rolling out a policy in batched meta-episodes, and evaluating it on held-out tasks.

One routine serves every policy in the package: scripted references
(:mod:`mamba_edu.references`), MAMBA/Dreamer actors and the PPO-based baselines. A policy is
any object with

* ``reset(num_envs)`` — start B fresh meta-episodes (clear memory / beliefs);
* ``act(obs) -> actions`` — one action per environment from the batched observation
  (which carries the previous reward and time features, so a policy can infer the task).

Evaluation follows the paper's protocol (Sec. 4): the mean meta-episode return over held-out
tasks drawn with their own seed, and the return of each sub-episode.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class BatchPolicy(Protocol):
    def reset(self, num_envs: int) -> None: ...

    def act(self, obs: Any) -> np.ndarray: ...


@dataclass
class Rollout:
    """A batch of B complete meta-episodes (time-major arrays)."""

    obs: Any                    #: (H+1, B, ...) observations, first one after reset; dict for images
    actions: np.ndarray         #: (H, B, ...) actions taken
    rewards: np.ndarray         #: (H, B) rewards
    sub_episode: np.ndarray     #: (H+1, B) sub-episode index of each observation
    sub_episode_returns: np.ndarray  #: (B, K) return of every sub-episode
    tasks: list = field(default_factory=list)  #: the B tasks

    @property
    def returns(self) -> np.ndarray:
        """(B,) meta-episode returns."""
        return self.sub_episode_returns.sum(axis=1)


def _stack(seq: list[Any]) -> Any:
    if isinstance(seq[0], dict):
        return {k: np.stack([s[k] for s in seq]) for k in seq[0]}
    return np.stack(seq)


def rollout(policy: BatchPolicy, env: Any, tasks: list | None = None, seed: int | None = None) -> Rollout:
    """Run B meta-episodes of a batched env (see :mod:`mamba_edu.envs.batched`) to the end."""
    obs, info = env.reset(seed=seed, tasks=tasks)
    task_list = list(info.get("task", [])) or list(getattr(env, "tasks", []))  # the tasks as reset drew them
    policy.reset(env.num_envs)
    all_obs, acts, rews, subs = [obs], [], [], [info["sub_episode"]]
    sub_returns = np.zeros((env.num_envs, env.K))
    done = np.zeros(env.num_envs, dtype=bool)
    while not done.all():
        action = policy.act(obs)
        obs, reward, term, trunc, info = env.step(action)
        all_obs.append(obs)
        acts.append(np.asarray(action))
        rews.append(reward)
        subs.append(info["sub_episode"])
        sub_returns = info["sub_episode_returns"]
        done = np.asarray(term) | np.asarray(trunc)
    return Rollout(_stack(all_obs), np.stack(acts), np.stack(rews), np.stack(subs), sub_returns,
                   task_list)


def evaluate(policy: BatchPolicy, env_name: str, n_tasks: int = 1000, seed: int = 12345,
             batch_size: int = 100, **env_kwargs: Any) -> dict[str, Any]:
    """Mean/std meta-episode return of ``policy`` over ``n_tasks`` held-out tasks.

    Tasks come from ``sample_tasks(n_tasks, seed)``; the default seed is kept apart from
    training seeds. Returns a JSON-ready dict with ``return_mean``, ``return_std``,
    ``sub_episode_returns_mean`` and ``n_tasks``.
    """
    from mamba_edu.envs import make_batched

    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    batch_size = min(batch_size, n_tasks)
    env = make_batched(env_name, batch_size, **env_kwargs)
    tasks = env.sample_tasks(n_tasks, seed)
    returns, subs = [], []
    for start in range(0, n_tasks, batch_size):
        chunk = tasks[start:start + batch_size]
        if len(chunk) < batch_size:  # pad the last batch with repeats, then drop them
            chunk = chunk + tasks[: batch_size - len(chunk)]
        ro = rollout(policy, env, tasks=chunk, seed=seed + start)
        keep = min(batch_size, n_tasks - start)
        returns.append(ro.returns[:keep])
        subs.append(ro.sub_episode_returns[:keep])
    env.close()
    returns = np.concatenate(returns)
    subs = np.concatenate(subs)
    return {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_sem": float(returns.std() / np.sqrt(len(returns))),
        "sub_episode_returns_mean": [float(x) for x in subs.mean(axis=0)],
        "n_tasks": int(n_tasks),
    }
