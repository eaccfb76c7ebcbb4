"""MetaBandit: the smallest meta-RL problem that needs memory across sub-episodes.

Spec
    * task: the index of the one paying arm among ``n_arms`` (uniform prior);
    * action: ``Discrete(n_arms)``; reward 1 for the paying arm, else 0;
    * observation: a constant ``Box(shape=(1,))`` — everything the agent learns about the task
      comes through the reward (so ``reward_in_obs`` is essential, cf. paper App. G);
    * K = 4 sub-episodes of T = 5 steps (H = 20); nothing carries over but the agent's memory.

Bayes-optimal behaviour: try arms without repetition until one pays, then keep pulling it. The
expected number of misses is (n_arms − 1)/2, so the Bayes-optimal return is H − (n_arms − 1)/2
(19.5 for two arms); a policy that cannot remember rewards earns H / n_arms on average.

Registered id: ``mamba_edu/MetaBandit-v0`` (a teaching and testing task, not in the paper).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv


class MetaBanditEnv(MetaTaskEnv):
    K = 4
    T = 5
    metadata = {"render_modes": []}

    def __init__(self, n_arms: int = 2, render_mode: str | None = None) -> None:
        super().__init__()
        if not 2 <= int(n_arms) <= 16:
            raise ValueError(f"MetaBandit: n_arms must lie in 2..16, got {n_arms}")
        self.n_arms = int(n_arms)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(self.n_arms)

    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(rng.integers(self.n_arms), dtype=np.int64)

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.int64).reshape(())
        if not 0 <= int(t) < self.n_arms:
            raise ValueError(f"MetaBandit: task (paying arm) must lie in [0, {self.n_arms}), got {task}")
        return t

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        return np.ones(1, np.float32), {"task": self._task.copy()}

    def step(self, action):
        a = int(self._check_action(action))
        reward = 1.0 if a == int(self._task) else 0.0
        return np.ones(1, np.float32), reward, False, False, {"task": self._task.copy()}

    def bayes_optimal_return(self, K: int | None = None, T: int | None = None) -> float:
        H = (K or self.K) * (T or self.T)
        return H - (self.n_arms - 1) / 2
