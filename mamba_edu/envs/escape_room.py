"""EscapeRoom: leave a circular room through a hidden door (paper Sec. 4, App. C).

Spec
    * observation: the robot's 2-D position p, ``Box(-inf, inf, (2,), float32)``;
    * action: ``Box(-1, 1, (2,), float32)``, clipped; p ← p + 0.1·clip(a, -1, 1) (as PointRobot);
    * room: the unit circle. Its wall can only be crossed through the door, an arc of length
      π/8 centred at angle φ (``task`` = np.array([φ]), φ ~ U(0, π), the upper half). A move
      whose segment crosses the circle at an angle outside the door is blocked: the robot
      slides along the wall, placed at radius 1 − 10⁻³ (inside) or 1 + 10⁻³ (if it was
      outside) in the direction of the attempted position. Outside, it moves freely and may
      come back in through the door;
    * reward: 1 on every step that ends outside the circle (‖p‖ > 1), else 0;
    * start: a random point inside, angle ~ U(−π, π) then radius ~ U(0, 1), drawn from the
      env's RNG at every sub-episode;
    * K = 2 sub-episodes of T = 60 steps (H = 120).

Bayes-optimal behaviour: go to the wall and sweep its upper half while pushing outward until
the door gives way; in the second sub-episode head straight for the remembered door.

Registered id: ``mamba_edu/EscapeRoom-v0``. Source: Dorfman et al. (2021), paper App. C.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv
from mamba_edu.envs.batched import BatchedMetaEnv

DOOR_ARC = np.pi / 8
STEP_SIZE = 0.1
WALL_EPS = 1e-3


def _angle_in_door(angle: np.ndarray, door: np.ndarray) -> np.ndarray:
    diff = np.angle(np.exp(1j * (angle - door)))  # wrapped to (-π, π]
    return np.abs(diff) <= DOOR_ARC / 2


def escape_room_move(pos: np.ndarray, action: np.ndarray, door: np.ndarray) -> np.ndarray:
    """New positions (vectorised over leading dims) under the wall-and-door rule."""
    pos = np.asarray(pos, dtype=np.float64)
    new = pos + STEP_SIZE * np.clip(action, -1.0, 1.0)
    r_old = np.linalg.norm(pos, axis=-1)
    r_new = np.linalg.norm(new, axis=-1)
    inside_old, inside_new = r_old <= 1.0, r_new <= 1.0
    crossing = inside_old != inside_new
    if not np.any(crossing):
        return new
    d = new - pos
    a = np.maximum((d * d).sum(-1), 1e-12)
    b = (pos * d).sum(-1)
    c = r_old ** 2 - 1.0
    disc = np.sqrt(np.maximum(b * b - a * c, 0.0))
    s = np.where(inside_old, (-b + disc) / a, (-b - disc) / a)
    cross_pt = pos + s[..., None] * d
    through_door = _angle_in_door(np.arctan2(cross_pt[..., 1], cross_pt[..., 0]), door)
    blocked = crossing & ~through_door
    radius = np.where(inside_old, 1.0 - WALL_EPS, 1.0 + WALL_EPS)
    slid = new / np.maximum(r_new, 1e-12)[..., None] * radius[..., None]
    return np.where(blocked[..., None], slid, new)


class EscapeRoomEnv(MetaTaskEnv):
    K = 2
    T = 60
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
            raise ValueError(f"EscapeRoom: task must be a door angle in [0, π] (array of shape (1,)), got {task!r}")
        return t

    @staticmethod
    def sample_start(rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(-np.pi, np.pi)
        radius = rng.uniform(0.0, 1.0)
        return np.array([radius * np.cos(angle), radius * np.sin(angle)])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        self._pos = self.sample_start(self.np_random)
        return self._pos.astype(np.float32), {"task": self._task.copy()}

    def step(self, action):
        a = self._check_action(action)
        self._pos = escape_room_move(self._pos, a, self._task[0])
        reward = float(np.linalg.norm(self._pos) > 1.0)
        return self._pos.astype(np.float32), reward, False, False, {"task": self._task.copy()}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from mamba_edu.viz.raster import escape_room_frame

        return escape_room_frame(self._pos, float(self._task[0]), DOOR_ARC)


class BatchedEscapeRoom(BatchedMetaEnv):
    single_env_cls = EscapeRoomEnv

    def _set_tasks(self, tasks):
        self.doors = np.stack(tasks)[:, 0]
        self.pos = np.zeros((self.num_envs, 2))

    def _reset_sub(self, idx):
        for i in idx:
            self.pos[i] = EscapeRoomEnv.sample_start(self.rngs[i])
        return self.pos.astype(np.float32)

    def _step_sub(self, actions):
        self.pos = escape_room_move(self.pos, actions, self.doors)
        return self.pos.astype(np.float32), (np.linalg.norm(self.pos, axis=-1) > 1.0).astype(np.float64)
