"""MetaBandit reference: the exact Bayes-optimal return and a scripted policy that attains it.

Bayes-optimal behaviour (see :mod:`mamba_edu.envs.bandit`): pull arms without repetition until one
pays, then keep pulling it in every later step and sub-episode. With ``n_arms`` arms the expected
number of misses is (n_arms − 1)/2, so the return is H − (n_arms − 1)/2 (19.5 for the registered
2-arm, K = 4, T = 5 task); :mod:`mamba_edu.theory.bamdp` checks the same value by backward induction.
The policy sees only the observation (constant, previous reward, time), never the task.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mamba_edu.envs.bandit import MetaBanditEnv


class MetaBanditScriptedPolicy:
    """Try arms 0, 1, 2, ... until one pays, then stick to it (observation: [1, previous reward, time])."""

    def __init__(self, n_arms: int = 2) -> None:
        self.n_arms = int(n_arms)
        self.reset(1)

    def reset(self, num_envs: int) -> None:
        self.last = np.full(num_envs, -1)    # arm pulled at the previous step
        self.found = np.full(num_envs, -1)   # the paying arm, once seen
        self.tried = np.zeros(num_envs, dtype=np.int64)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        reward, t = obs[:, 1], obs[:, -1]
        start = t == 0.0
        self.last[start], self.found[start], self.tried[start] = -1, -1, 0
        paid = (self.last >= 0) & (reward > 0.5) & (self.found < 0)
        self.found[paid] = self.last[paid]
        # after n_arms − 1 misses the remaining arm must be the paying one
        self.found[(self.found < 0) & (self.tried >= self.n_arms - 1)] = self.n_arms - 1
        action = np.where(self.found >= 0, self.found, self.tried % self.n_arms)
        self.tried += (self.found < 0)
        self.last = action.copy()
        return action.astype(np.int64)


def scripted_policy(name: str = "MetaBandit") -> MetaBanditScriptedPolicy:
    return MetaBanditScriptedPolicy()


def reference(name: str = "MetaBandit", n_tasks: int = 1000, seed: int = 12345) -> dict[str, Any]:
    """Exact Bayes-optimal return plus the scripted policy's return on ``n_tasks`` held-out tasks."""
    from mamba_edu.rollout import evaluate

    measured = evaluate(MetaBanditScriptedPolicy(), "MetaBandit", n_tasks=n_tasks, seed=seed)
    return {"env": "MetaBandit", **measured, "exact": True,
            "bayes_optimal_return": MetaBanditEnv(n_arms=2).bayes_optimal_return(),
            "method": "exact: H − (n_arms − 1)/2 (try arms without repetition, then stick); "
                      f"return_mean: that scripted policy on {n_tasks} held-out tasks"}
