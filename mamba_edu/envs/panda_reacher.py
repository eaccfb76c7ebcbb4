"""PandaReacher: a 7-DoF Franka arm searches for a hidden goal from images (extra ``[panda]``).

Spec
    * simulator: panda-gym 3.x's ``Panda`` robot on PyBullet (as the original, Choshen & Tamar
      2023): the scene of panda-gym's ``PandaReach`` (robot base at (−0.6, 0, 0), table top at
      z = 0), end-effector control with the gripper blocked, 20 PyBullet substeps of 2 ms per
      action; needs ``pip install -e .[panda]`` (panda-gym and pybullet). This module imports
      without them; constructing the env raises an ``ImportError`` naming the extra;
    * action: ``Box(-1, 1, (3,), float32)`` — the end-effector displacement direction
      (×0.05 m per step, panda-gym's ``ee`` control), clipped to the bounds;
    * observation: a ``image_size``×``image_size``×3 uint8 image (default 64; the paper used 84)
      of the scene from a fixed camera, rendered by PyBullet's CPU TinyRenderer (no GL needed);
      the goal is never drawn;
    * task: a goal (x, y, z) on a horizontal half-disc of radius 0.25 centred at (0, 0, 0.05),
      the half in front of the robot (x ≥ 0, away from its base), uniform in area
      (``task`` = np.array of shape (3,));
    * reward: 1 when the end effector is within 0.05 of the goal, else 0 (sparse);
    * start: the robot's neutral pose at every sub-episode (deterministic);
    * K = 3 sub-episodes of T = 50 steps.

Not picklable (the PyBullet client lives in its process): pickling raises a ``TypeError`` that
says so; build the env inside each worker instead.

Registered id: ``mamba_edu/PandaReacher-v0``. Sources: Choshen & Tamar (2023), "ContraBAR:
Contrastive Bayes-Adaptive Deep RL"; paper Sec. 4 and App. C.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv

GOAL_RADIUS = 0.05
DISC_RADIUS = 0.25
DISC_CENTER = np.array([0.0, 0.0, 0.05])
IMAGE_SIZE = 64
BASE_POSITION = np.array([-0.6, 0.0, 0.0])
#: PyBullet camera looking at the workspace (``PyBullet.render`` arguments)
CAMERA = dict(target_position=np.array([-0.1, 0.0, 0.0]), distance=1.0, yaw=90, pitch=-50)


def _require_panda_gym():
    try:
        from panda_gym.envs.robots.panda import Panda
        from panda_gym.pybullet import PyBullet
    except ImportError as e:
        raise ImportError("PandaReacher needs the [panda] extra (panda-gym and pybullet): "
                          f"pip install -e .[panda]  ({e})") from None
    return PyBullet, Panda


class PandaReacherEnv(MetaTaskEnv):
    """One sub-episode of PandaReacher (see the module docstring for the full spec)."""

    K = 3
    T = 50
    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, render_mode: str | None = None, image_size: int = IMAGE_SIZE) -> None:
        super().__init__()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        PyBullet, Panda = _require_panda_gym()
        self.render_mode = render_mode
        self.image_size = int(image_size)
        self.sim = PyBullet(render_mode="rgb_array", renderer="Tiny")  # DIRECT connection, CPU renderer
        self.robot = Panda(self.sim, block_gripper=True, base_position=BASE_POSITION, control_type="ee")
        with self.sim.no_rendering():
            self.sim.create_plane(z_offset=-0.4)
            self.sim.create_table(length=1.1, width=0.7, height=0.4, x_offset=-0.3)
        self.observation_space = gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)

    # ----- task ------------------------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        r = DISC_RADIUS * np.sqrt(rng.uniform())  # uniform in area
        a = rng.uniform(-np.pi / 2, np.pi / 2)  # the half in front of the robot (x >= 0)
        return DISC_CENTER + np.array([r * np.cos(a), r * np.sin(a), 0.0])

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64).reshape(-1)
        if t.shape != (3,) or not np.all(np.isfinite(t)):
            raise ValueError(f"PandaReacher: task must be a goal (x, y, z), got {task!r}")
        return t.copy()

    # ----- gymnasium API ---------------------------------------------------------------------
    def _observe(self, size: int | None = None) -> np.ndarray:
        size = size or self.image_size
        img = self.sim.render(width=size, height=size, **CAMERA)
        return np.ascontiguousarray(img, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        with self.sim.no_rendering():
            self.robot.reset()
        return self._observe(), {"task": self._task.copy()}

    def step(self, action):
        if self._task is None:
            raise RuntimeError("PandaReacher: call reset() before step()")
        a = np.clip(self._check_action(action), -1.0, 1.0).astype(np.float32)
        self.robot.set_action(a)
        self.sim.step()
        d = float(np.linalg.norm(self.robot.get_ee_position() - self._task))
        reward = 1.0 if d <= GOAL_RADIUS else 0.0
        return self._observe(), reward, False, False, {"task": self._task.copy(), "distance": d}

    def render(self):
        return self._observe(240) if self.render_mode == "rgb_array" else None

    def close(self):
        self.sim.close()

    def __reduce__(self):
        raise TypeError("PandaReacher cannot be pickled: its PyBullet client lives in this process only; "
                        "create the env inside each worker (gymnasium's AsyncVectorEnv takes env factories)")
