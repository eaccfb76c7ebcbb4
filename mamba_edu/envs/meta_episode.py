"""MetaEpisode: K sub-episodes of T steps in one task, with reward and time in the observation.

Paper Sec. 2.1 (meta-episodes, horizon H = K·T) and Sec. 3.3 (MAMBA's first change: the
observation becomes o'_t = [o_t, r_t, t]). Every registered ``mamba_edu/*`` id is a task
family wrapped in this class.

Spaces
    * vector families: ``Box`` = inner observation, then the previous reward (if
      ``reward_in_obs``), then t/(K·T) in [0, 1] (if ``time_in_obs``);
    * image families: ``Dict(image=<inner image Box>, vector=Box(prev reward, time))``.

Sub-episode boundaries
    After the T-th step of sub-episode k (or an early termination of the inner env, e.g. a
    Humanoid fall) the inner env is reset *to the same task* and the returned observation is
    the first observation of sub-episode k+1 (its reward feature holds the reward just
    received). After an early termination the clock jumps to the next boundary, t = (k+1)·T.
    The meta-episode ends with ``truncated=True`` after K sub-episodes, or with
    ``terminated=True`` if the inner env terminates during the last one.

``info`` carries ``task``, ``sub_episode`` (index of the sub-episode the returned observation
belongs to), ``sub_episode_returns`` (length-K array) and ``boundary`` (a sub-episode ended
on this step).
"""
from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv


def augmented_observation_space(inner: gym.Space, reward_in_obs: bool, time_in_obs: bool) -> gym.Space:
    """The observation space of a meta-episode over ``inner`` (shared by the batched envs)."""
    n_extra = int(reward_in_obs) + int(time_in_obs)
    lo = np.array([-np.inf] * int(reward_in_obs) + [0.0] * int(time_in_obs), dtype=np.float32)
    hi = np.array([np.inf] * int(reward_in_obs) + [1.0] * int(time_in_obs), dtype=np.float32)
    if isinstance(inner, gym.spaces.Box) and inner.dtype == np.uint8:
        return gym.spaces.Dict({"image": inner, "vector": gym.spaces.Box(lo, hi, dtype=np.float32)})
    if not isinstance(inner, gym.spaces.Box) or len(inner.shape) != 1:
        raise TypeError(f"MetaEpisode supports 1-D float Box or uint8 image observations, got {inner}")
    if n_extra == 0:
        return gym.spaces.Box(inner.low.astype(np.float32), inner.high.astype(np.float32), dtype=np.float32)
    return gym.spaces.Box(
        np.concatenate([inner.low.astype(np.float32), lo]),
        np.concatenate([inner.high.astype(np.float32), hi]),
        dtype=np.float32,
    )


class MetaEpisode(gym.Wrapper):
    """Chain K sub-episodes of T steps of a :class:`MetaTaskEnv` in one task.

    Args:
        env: the task family (runs one sub-episode per inner ``reset``).
        K: sub-episodes per meta-episode (default: ``env.K``).
        T: steps per sub-episode (default: ``env.T``).
        reward_in_obs: append the previous reward to the observation (MAMBA change (a)).
        time_in_obs: append t/(K·T) to the observation (MAMBA change (a)).
    """

    def __init__(
        self,
        env: MetaTaskEnv,
        K: int | None = None,
        T: int | None = None,
        reward_in_obs: bool = True,
        time_in_obs: bool = True,
    ) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, MetaTaskEnv):
            raise TypeError(f"MetaEpisode needs a MetaTaskEnv, got {type(base).__name__}")
        self.K = int(base.K if K is None else K)
        self.T = int(base.T if T is None else T)
        if self.K < 1 or self.T < 1:
            raise ValueError(f"MetaEpisode: K and T must be >= 1, got K={self.K}, T={self.T}")
        self.H = self.K * self.T
        self.reward_in_obs = bool(reward_in_obs)
        self.time_in_obs = bool(time_in_obs)
        self.observation_space = augmented_observation_space(env.observation_space, self.reward_in_obs, self.time_in_obs)
        self._image = isinstance(self.observation_space, gym.spaces.Dict)
        self._t = 0
        self._k = 0
        self._t_sub = 0
        self._returns = np.zeros(self.K)
        self._done = True

    # ------------------------------------------------------------------------------------
    def _augment(self, obs: Any, prev_reward: float) -> Any:
        extra = []
        if self.reward_in_obs:
            extra.append(prev_reward)
        if self.time_in_obs:
            extra.append(self._t / self.H)
        extra = np.asarray(extra, dtype=np.float32)
        if self._image:
            return {"image": obs, "vector": extra}
        return np.concatenate([np.asarray(obs, dtype=np.float32).ravel(), extra])

    def _info(self, inner_info: dict, boundary: bool) -> dict:
        info = dict(inner_info)
        info["task"] = copy.deepcopy(self.env.unwrapped.get_task())
        info["sub_episode"] = self._k
        info["sub_episode_returns"] = self._returns.copy()
        info["boundary"] = boundary
        return info

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, inner_info = self.env.reset(seed=seed, options=options)
        self._t, self._k, self._t_sub = 0, 0, 0
        self._returns = np.zeros(self.K)
        self._done = False
        return self._augment(obs, 0.0), self._info(inner_info, False)

    def step(self, action):
        if self._done:
            raise RuntimeError("MetaEpisode.step called after the meta-episode ended; call reset() first")
        obs, reward, term, trunc, inner_info = self.env.step(action)
        reward = float(reward)
        self._returns[self._k] += reward
        self._t += 1
        self._t_sub += 1
        terminated = truncated = boundary = False
        if self._t_sub >= self.T or term or trunc:
            boundary = True
            if self._k + 1 < self.K:
                self._k += 1
                self._t = self._k * self.T
                self._t_sub = 0
                obs, reset_info = self.env.reset(options={"task": self.env.unwrapped.get_task()})
                inner_info = {**inner_info, **reset_info}
            else:
                terminated = bool(term)
                truncated = not terminated
                self._done = True
        return self._augment(obs, reward), reward, terminated, truncated, self._info(inner_info, boundary)
