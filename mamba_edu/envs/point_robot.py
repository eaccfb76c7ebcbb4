"""PointRobot and PointRobotWind: find a goal on the upper unit semicircle (paper Sec. 4, App. C).

Spec
    * observation: the robot's 2-D position p, ``Box(-inf, inf, (2,), float32)``;
    * action: ``Box(-1, 1, (2,), float32)``; actions outside [-1, 1] are clipped component-wise
      (so a diagonal step can be up to 0.1·√2 long); an action of
      the wrong shape raises ``ValueError`` naming the expected shape ``(2,)``;
    * dynamics: p ← p + 0.1·clip(a, -1, 1); p = (0, 0) at the start of every sub-episode;
      **PointRobotWind** adds wind w ~ N(0, 0.3²·I₂) to the action *before* clipping,
      p ← p + 0.1·clip(a + w, -1, 1), drawn from the env's RNG (``self.np_random``, one call
      ``0.3 * standard_normal(2)`` per step, x then y), so a seeded reset fixes the wind too;
    * task: the goal angle θ ~ U(0, π); ``task = np.array([θ])`` (shape (1,)) and the goal is
      g = (cos θ, sin θ) on the upper half of the unit circle;
    * reward: 1 − ‖p − g‖ when ‖p − g‖ ≤ 0.2 (the goal radius, boundary included), else 0 —
      sparse, so the goal must be searched for along the arc;
    * no termination; K = 3 sub-episodes of T = 100 steps (H = 300) in a meta-episode
      (the paper's App. C text says K = 2, but its reported 242.2 needs three sub-episodes and the
      authors' released configuration uses 3; ``gym.make(id, K=2)`` gives the two-sub-episode version);
    * ``render_mode="rgb_array"``: a 128×128 numpy raster (unit circle, goal disc, robot).

Bayes-optimal behaviour: sweep the arc in the first sub-episode until the reward appears, then
go straight to the goal and stay on it in later sub-episodes (see
:mod:`mamba_edu.references.point_robot`).

Registered ids: ``mamba_edu/PointRobot-v0``, ``mamba_edu/PointRobotWind-v0``.
Sources: VariBAD (Zintgraf et al., 2019; their "Point Robot Navigation"), the paper's App. C
(wind: at each step "a 2D Gaussian random vector with controllable std (e.g. 0.3) is sampled and
added to the selected action").

:class:`BatchedPointRobot` / :class:`BatchedPointRobotWind` step B tasks at once in numpy and
reproduce the single environments transition for transition (env i of a batch reset with seed
s_i equals ``gym.make(id).reset(seed=s_i)``). The batched wind is drawn per environment, once per
meta-episode, as ``0.3 * rngs[i].standard_normal((H, 2))`` — the same numbers, in the same order,
as H single ``standard_normal(2)`` calls.
"""
from __future__ import annotations

from typing import Any, Sequence

import math

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv
from mamba_edu.envs.batched import BatchedMetaEnv

GOAL_RADIUS = 0.2
STEP_SIZE = 0.1
WIND_STD = 0.3


def goal_position(task: np.ndarray) -> np.ndarray:
    """(cos θ, sin θ) for task(s) θ of shape (..., 1), computed one scalar at a time (``math``)."""
    theta = np.asarray(task, dtype=np.float64)[..., 0]
    xy = [(math.cos(t), math.sin(t)) for t in np.ravel(theta).tolist()]
    return np.array(xy, dtype=np.float64).reshape(*theta.shape, 2)


def point_robot_reward(pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """1 − ‖p − g‖ inside the goal radius, else 0 (vectorised over leading dims).

    Written with elementwise operations only (no reductions), so the single and the batched
    environments compute bit-identical rewards.
    """
    diff = np.subtract(pos, goal, dtype=np.float64)
    diff *= diff
    d = np.sqrt(diff[..., 0] + diff[..., 1])
    return np.where(d <= GOAL_RADIUS, 1.0 - d, 0.0)


class PointRobotEnv(MetaTaskEnv):
    """One sub-episode of Point Robot Navigation (see the module docstring for the spec)."""

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
        self._goal = np.zeros(2)

    # ----- tasks -----------------------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(0.0, np.pi)])

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64).reshape(-1)
        if t.shape != (1,) or not 0.0 <= t[0] <= np.pi:
            raise ValueError(f"{type(self).__name__}: task must be a goal angle in [0, π] "
                             f"(array of shape (1,)), got {task!r}")
        return t

    def set_task(self, task) -> None:
        super().set_task(task)
        self._goal = goal_position(self._task)

    # ----- dynamics ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        self._pos = np.zeros(2)
        return self._pos.astype(np.float32), {"task": self._task.copy()}

    def step(self, action):
        a = self._check_action(action)
        if self.wind_std > 0:
            a = a + self.wind_std * self.np_random.standard_normal(2)
        self._pos = self._pos + STEP_SIZE * np.clip(a, -1.0, 1.0)
        reward = float(point_robot_reward(self._pos, self._goal))
        return self._pos.astype(np.float32), reward, False, False, {"task": self._task.copy()}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from mamba_edu.viz.raster import point_robot_frame

        return point_robot_frame(self._pos, self._goal, GOAL_RADIUS)


class PointRobotWindEnv(PointRobotEnv):
    """PointRobot with N(0, 0.3²) wind added to each action component before clipping."""

    wind_std = WIND_STD


class BatchedPointRobot(BatchedMetaEnv):
    """B PointRobot meta-episodes in numpy (positions (B, 2), goals (B, 2))."""

    single_env_cls = PointRobotEnv

    def _set_tasks(self, tasks):
        # one task at a time, exactly as the single env computes its goal
        self.goals = goal_position(np.stack(tasks))  # elementwise with math.cos/sin: as the single env
        self.pos = np.zeros((self.num_envs, 2))
        self._delta = np.empty((self.num_envs, 2))

    def _reset_sub(self, idx):
        self.pos[idx] = 0.0
        return self.pos

    def _step_sub(self, actions):
        np.maximum(actions, -1.0, out=self._delta)  # = np.clip(a, -1, 1), without np.clip's overhead
        np.minimum(self._delta, 1.0, out=self._delta)
        self._delta *= STEP_SIZE
        self.pos += self._delta
        return self.pos, point_robot_reward(self.pos, self.goals)


class BatchedPointRobotWind(BatchedPointRobot):
    """B PointRobotWind meta-episodes; each env's wind for the whole meta-episode is drawn at reset.

    ``rngs[i].standard_normal((H, 2))`` consumes env i's generator exactly as H steps of the
    single environment do. If a meta-episode is reset before it ends, each unseeded generator is
    rewound to where the single environment's would be (the draws of the steps not taken are
    returned), so the streams never drift apart.
    """

    single_env_cls = PointRobotWindEnv

    def reset(self, seed: int | Sequence[int] | None = None, tasks: Sequence[Any] | None = None):
        if not self._done and getattr(self, "_rng_states", None) is not None:
            for i, rng in enumerate(self.rngs):  # rewind the draws of the steps never taken
                rng.bit_generator.state = self._rng_states[i]
                rng.standard_normal((self._t, 2))
        out = super().reset(seed=seed, tasks=tasks)
        self._rng_states = [rng.bit_generator.state for rng in self.rngs]
        wind = self.proto.wind_std
        self._wind = np.stack([wind * rng.standard_normal((self.H, 2)) for rng in self.rngs], axis=1)  # (H, B, 2)
        return out

    def _step_sub(self, actions):
        np.add(actions, self._wind[self._t], out=self._delta)
        np.maximum(self._delta, -1.0, out=self._delta)
        np.minimum(self._delta, 1.0, out=self._delta)
        self._delta *= STEP_SIZE
        self.pos += self._delta
        return self.pos, point_robot_reward(self.pos, self.goals)
