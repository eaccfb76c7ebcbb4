"""PointRobot and PointRobotWind: find a goal on the upper unit semicircle (paper Sec. 4, App. C).

Spec
    * observation: the robot's 2-D position p, ``Box(-inf, inf, (2,), float32)``;
    * action: ``Box(-1, 1, (2,), float32)``; actions outside [-1, 1] are clipped;
    * dynamics: p ← p + 0.1·clip(a, -1, 1); p = (0, 0) at the start of every sub-episode;
      **PointRobotWind** adds N(0, 0.3²) noise to each action component *before* clipping;
    * task: the goal angle θ ~ U(0, π); the goal is g = (cos θ, sin θ) (``task`` = np.array([θ]));
    * reward: 1 − ‖p − g‖ when ‖p − g‖ ≤ 0.2 (goal radius), else 0 — sparse, so the goal must
      be searched for along the arc;
    * K = 3 sub-episodes of T = 100 steps (H = 300).

Bayes-optimal behaviour: sweep the arc in the first sub-episode until the reward appears, then
go straight to the goal and stay on it in later sub-episodes (see
:mod:`mamba_edu.references.point_robot`).

Registered ids: ``mamba_edu/PointRobot-v0``, ``mamba_edu/PointRobotWind-v0``.
Sources: VariBAD (Zintgraf et al., 2019), the paper's App. C.

:class:`BatchedPointRobot` / :class:`BatchedPointRobotWind` step B tasks at once in numpy and
reproduce the single environments transition for transition.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv
from mamba_edu.envs.batched import BatchedMetaEnv

GOAL_RADIUS = 0.2
STEP_SIZE = 0.1


def goal_position(task: np.ndarray) -> np.ndarray:
    """(cos θ, sin θ) for task(s) θ of shape (..., 1)."""
    theta = np.asarray(task, dtype=np.float64)[..., 0]
    return np.stack([np.cos(theta), np.sin(theta)], -1)


def point_robot_reward(pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """1 − ‖p − g‖ inside the goal radius, else 0 (vectorised over leading dims)."""
    diff = np.asarray(pos) - np.asarray(goal)
    d = np.sqrt((diff * diff).sum(-1))
    return np.where(d <= GOAL_RADIUS, 1.0 - d, 0.0)


class PointRobotEnv(MetaTaskEnv):
    K = 3
    T = 100
    wind_std = 0.0
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._pos = np.zeros(2)

    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(0.0, np.pi)])

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64).reshape(-1)
        if t.shape != (1,) or not 0.0 <= t[0] <= np.pi:
            raise ValueError(f"{type(self).__name__}: task must be a goal angle in [0, π] (array of shape (1,)), got {task!r}")
        return t

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        self._pos = np.zeros(2)
        return self._pos.astype(np.float32), {"task": self._task.copy()}

    def step(self, action):
        a = self._check_action(action)
        if self.wind_std > 0:
            a = a + self.np_random.normal(0.0, self.wind_std, size=2)
        self._pos = self._pos + STEP_SIZE * np.clip(a, -1.0, 1.0)
        reward = float(point_robot_reward(self._pos, goal_position(self._task)))
        return self._pos.astype(np.float32), reward, False, False, {"task": self._task.copy()}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from mamba_edu.viz.raster import point_robot_frame

        return point_robot_frame(self._pos, goal_position(self._task), GOAL_RADIUS)


class PointRobotWindEnv(PointRobotEnv):
    """PointRobot with N(0, 0.3²) wind added to each action component before clipping."""

    wind_std = 0.3


class BatchedPointRobot(BatchedMetaEnv):
    single_env_cls = PointRobotEnv

    def _set_tasks(self, tasks):
        self.goals = goal_position(np.stack(tasks))
        self.pos = np.zeros((self.num_envs, 2))

    def _reset_sub(self, idx):
        self.pos[idx] = 0.0
        return self.pos

    def _step_sub(self, actions):
        wind = self.proto.wind_std
        if wind > 0:
            actions = actions + np.stack([rng.normal(0.0, wind, size=2) for rng in self.rngs])
        self.pos = self.pos + STEP_SIZE * np.clip(actions, -1.0, 1.0)
        return self.pos, point_robot_reward(self.pos, self.goals)


class BatchedPointRobotWind(BatchedPointRobot):
    single_env_cls = PointRobotWindEnv
