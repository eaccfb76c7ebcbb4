"""Batched meta-episode environments: one object steps B meta-episodes in lock-step.

The training loops collect experience through this interface. Two implementations:

* :class:`BatchedMetaEnv` — base for native numpy families (PointRobot, PointRobotWind,
  EscapeRoom, Rooms-N): a subclass writes only the vectorised sub-episode dynamics
  (``_reset_sub``, ``_step_sub``); this class does the meta-episode bookkeeping exactly as
  :class:`~mamba_edu.envs.meta_episode.MetaEpisode` does, with one ``numpy`` RNG per
  environment seeded like gymnasium's, so env i reproduces ``gym.make(id).reset(seed=s_i)``
  transition for transition (tested in ``tests/test_envs_batched.py``).
* :class:`VectorMetaEnv` — any registered id, through a list of single environments.

:func:`make_batched` picks the native class when a family has one.
"""
from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

from mamba_edu.envs.meta_episode import augmented_observation_space


def _seed_list(seed: int | Sequence[int] | None, n: int) -> list[int | None]:
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"expected {n} seeds, got {len(seeds)}")
    return [int(s) for s in seeds]


class BatchedMetaEnv:
    """B meta-episodes of one task family in lock-step (numpy).

    Subclasses set ``single_env_cls`` (the gymnasium family class, used for the spaces, the
    task prior and K/T) and implement:

    * ``_set_tasks(tasks)`` — store the B tasks as arrays;
    * ``_reset_sub(idx)`` -> observations (len(idx), ...) for a sub-episode start of envs ``idx``,
      drawing any randomness from ``self.rngs[i]`` in the same order as the single env;
    * ``_step_sub(actions)`` -> (observations (B, ...), rewards (B,)) for all envs.

    ``reset(seed=..)`` with an int seeds env i with ``seed + i``; a list gives each seed.
    """

    single_env_cls: type = None  # set by subclasses

    def __init__(self, num_envs: int, K: int | None = None, T: int | None = None,
                 reward_in_obs: bool = True, time_in_obs: bool = True, **family_kwargs: Any) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.proto = self.single_env_cls(**family_kwargs)
        self.K = int(self.proto.K if K is None else K)
        self.T = int(self.proto.T if T is None else T)
        self.H = self.K * self.T
        self.reward_in_obs, self.time_in_obs = bool(reward_in_obs), bool(time_in_obs)
        self.single_action_space = self.proto.action_space
        self.single_observation_space = augmented_observation_space(
            self.proto.observation_space, self.reward_in_obs, self.time_in_obs)
        self.rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(self.num_envs)]
        self.tasks: list[Any] = []
        self._t = 0
        self._returns = np.zeros((self.num_envs, self.K))
        self._done = True
        self._obs_buf: np.ndarray | None = None
        self._act_shape = (self.num_envs, *self.single_action_space.shape)

    # ----- API shared with VectorMetaEnv ----------------------------------------------------
    def sample_tasks(self, n: int, seed: int | None = None) -> list[Any]:
        return self.proto.sample_tasks(n, seed)

    def reset(self, seed: int | Sequence[int] | None = None, tasks: Sequence[Any] | None = None):
        seeds = _seed_list(seed, self.num_envs)
        for i, s in enumerate(seeds):
            if s is not None:  # unseeded resets continue each env's stream, as a single gym env does
                self.rngs[i], _ = seeding.np_random(s)
        if tasks is None:
            tasks = [self.proto._sample_task(self.rngs[i]) for i in range(self.num_envs)]
        if len(tasks) != self.num_envs:
            raise ValueError(f"reset: expected {self.num_envs} tasks, got {len(tasks)}")
        self.tasks = [self.proto._validate_task(t) for t in tasks]
        self._set_tasks(self.tasks)
        obs = self._reset_sub(np.arange(self.num_envs))
        self._t = 0
        self._returns = np.zeros((self.num_envs, self.K))
        self._done = False
        return self._augment(obs, np.zeros(self.num_envs)), {"task": list(self.tasks), "sub_episode": self._sub()}

    def step(self, actions: np.ndarray):
        if self._done:
            raise RuntimeError("step called after the meta-episodes ended; call reset() first")
        actions = self._check_actions(actions)
        obs, reward = self._step_sub(actions)
        k = self._t // self.T
        self._returns[:, k] += reward
        self._t += 1
        boundary = self._t % self.T == 0
        truncated = np.zeros(self.num_envs, dtype=bool)
        if boundary and self._t < self.H:
            obs = self._reset_sub(np.arange(self.num_envs))
        elif self._t >= self.H:
            truncated[:] = True
            self._done = True
        info = {"sub_episode": self._sub(), "sub_episode_returns": self._returns.copy(), "boundary": boundary}
        return (self._augment(obs, reward), reward.astype(np.float64), np.zeros(self.num_envs, dtype=bool),
                truncated, info)

    def close(self) -> None:
        pass

    # ----- helpers -------------------------------------------------------------------------
    def _sub(self) -> np.ndarray:
        return np.full(self.num_envs, min(self._t // self.T, self.K - 1))

    def _check_actions(self, actions: Any) -> np.ndarray:
        space = self.single_action_space
        a = np.asarray(actions)
        if isinstance(space, gym.spaces.Box):
            if a.shape != self._act_shape:
                raise ValueError(f"actions shape {a.shape} does not match (num_envs, *action_shape) = {self._act_shape}")
            a = a.astype(np.float64, copy=False)
            if not np.isfinite(a).all():
                raise ValueError("actions contain non-finite values")
            return a
        if isinstance(space, gym.spaces.Discrete):
            a = a.reshape(-1) if a.ndim == 2 and a.shape[1] == 1 else a
            if a.shape != (self.num_envs,) or a.dtype.kind not in "iu":
                raise ValueError(f"actions must be {self.num_envs} integers, got shape {a.shape} dtype {a.dtype}")
            if a.min() < 0 or a.max() >= space.n:
                raise ValueError(f"actions must lie in [0, {space.n}), got {a}")
            return a.astype(np.int64, copy=False)
        return a

    def _augment(self, obs: np.ndarray, prev_reward: np.ndarray) -> np.ndarray:
        """[obs, prev reward, t/H] written into a preallocated float32 buffer (returned as a copy)."""
        obs = np.asarray(obs).reshape(self.num_envs, -1)
        d = obs.shape[1]
        if self._obs_buf is None or self._obs_buf.shape[1] != d + self.reward_in_obs + self.time_in_obs:
            self._obs_buf = np.zeros((self.num_envs, d + self.reward_in_obs + self.time_in_obs), np.float32)
        buf = self._obs_buf
        buf[:, :d] = obs
        col = d
        if self.reward_in_obs:
            buf[:, col] = prev_reward
            col += 1
        if self.time_in_obs:
            buf[:, col] = self._t / self.H
        return buf.copy()

    # ----- to implement ----------------------------------------------------------------------
    def _set_tasks(self, tasks: list[Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset_sub(self, idx: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_sub(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


class VectorMetaEnv:
    """The :class:`BatchedMetaEnv` interface over B single gymnasium meta-episode environments.

    Used for families without a native batched version (Reacher, Humanoid, Panda). Environments
    whose meta-episode ends early (a fall in the last sub-episode) wait, returning their last
    observation with zero reward and ``terminated``/``truncated`` left as they ended, until all
    have ended; then the caller resets all.
    """

    def __init__(self, env_id: str, num_envs: int, **kwargs: Any) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.envs = [gym.make(env_id, **kwargs) for _ in range(num_envs)]
        self.num_envs = num_envs
        first = self.envs[0]
        self.K, self.T, self.H = first.get_wrapper_attr("K"), first.get_wrapper_attr("T"), first.get_wrapper_attr("H")
        self.reward_in_obs = first.get_wrapper_attr("reward_in_obs")
        self.time_in_obs = first.get_wrapper_attr("time_in_obs")
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self._last: list[Any] = [None] * num_envs
        self._ended = np.ones(num_envs, dtype=bool)
        self._flags = np.zeros((num_envs, 2), dtype=bool)
        self._rets = np.zeros((num_envs, self.K))

    def sample_tasks(self, n: int, seed: int | None = None) -> list[Any]:
        return self.envs[0].unwrapped.sample_tasks(n, seed)

    def _stack(self, obs: list[Any]) -> Any:
        if isinstance(obs[0], dict):
            return {k: np.stack([o[k] for o in obs]) for k in obs[0]}
        return np.stack(obs)

    def reset(self, seed: int | Sequence[int] | None = None, tasks: Sequence[Any] | None = None):
        seeds = _seed_list(seed, self.num_envs)
        if tasks is not None and len(tasks) != self.num_envs:
            raise ValueError(f"reset: expected {self.num_envs} tasks, got {len(tasks)}")
        out, task_list = [], []
        for i, env in enumerate(self.envs):
            opts = None if tasks is None else {"task": tasks[i]}
            o, info = env.reset(seed=seeds[i], options=opts)
            out.append(o)
            task_list.append(info["task"])
        self._last = out
        self._ended[:] = False
        self._flags[:] = False
        self._rets[:] = 0.0
        return self._stack(out), {"task": task_list, "sub_episode": np.zeros(self.num_envs, dtype=int)}

    def step(self, actions: Any):
        rewards = np.zeros(self.num_envs)
        subs = np.zeros(self.num_envs, dtype=int)
        boundary = False
        for i, env in enumerate(self.envs):
            if self._ended[i]:
                subs[i] = self.K - 1
                continue
            o, r, term, trunc, info = env.step(actions[i])
            self._last[i] = o
            rewards[i] = r
            subs[i] = info["sub_episode"]
            self._rets[i] = info["sub_episode_returns"]
            boundary = boundary or info["boundary"]
            if term or trunc:
                self._ended[i] = True
                self._flags[i] = (term, trunc)
        info = {"sub_episode": subs, "sub_episode_returns": self._rets.copy(), "boundary": boundary}
        return self._stack(self._last), rewards, self._flags[:, 0].copy(), self._flags[:, 1].copy(), info

    def close(self) -> None:
        for env in self.envs:
            env.close()
