"""Reacher-N and ReacherPixels: reach N hidden goals in order with dm_control's two-link arm.

Paper Sec. 4 and App. C: a decomposable task distribution (N independent goals) in continuous
control.

Spec
    * model: dm_control's suite ``reacher`` (its XML and ``Physics``), one physics step of
      0.02 s per action;
    * action: ``Box(-1, 1, (2,), float32)`` — the shoulder and wrist motors (clipped);
    * observation (``Reacher-N``): joint velocities (2) and fingertip position (2),
      ``Box(-inf, inf, (4,), float32)`` — the goals are *not* observed;
      (``ReacherPixels``): a 64×64×3 uint8 image from the suite's fixed camera, goals hidden;
    * task: ``np.ndarray`` of shape (N, 2), N goals i.i.d. uniform in the disk of radius 0.195
      around the base (every goal is reachable: the arm's reach is 0.21);
    * reward: for the current goal g_i (goals 1..i−1 already reached in this sub-episode),
      max(1 − d/0.05, 0) with d the fingertip–goal distance; goals 1..N−1 pay once, on the step
      the fingertip first comes within 0.05, goal N pays on every step within 0.05; minus a
      control cost 1e-3·‖a‖²;
    * start: joint angles uniform (shoulder in [−π, π], wrist in its ±160° range), zero velocity,
      drawn from the env's RNG at every sub-episode;
    * K = 3, T = 300 (T = 400 for N ≥ 3); ``ReacherPixels``: K = 2, T = 300 (the paper's visual
      experiment uses two sub-episodes).

Registered ids: ``mamba_edu/Reacher-{1,2,3,4}-v0``, ``mamba_edu/ReacherPixels-v0``.
Headless rendering uses ``MUJOCO_GL=egl`` unless the variable is already set.
Sources: Tunyasuvunakool et al. (2020) for the model; paper App. C for the task.
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from mamba_edu.envs.base import MetaTaskEnv  # noqa: E402

GOAL_RADIUS = 0.05
GOAL_DISK = 0.195
CTRL_COST = 1e-3
MAX_GOALS = 4


def _physics():
    from dm_control.suite import reacher

    return reacher.Physics.from_xml_string(*reacher.get_model_and_assets())


def reacher_reward(dist: float, progress: int, n_goals: int, ctrl: np.ndarray) -> tuple[float, int]:
    """(reward, new progress) for the fingertip at distance ``dist`` from goal ``progress``."""
    reward = -CTRL_COST * float(np.sum(np.square(ctrl)))
    if dist <= GOAL_RADIUS:
        reward += max(1.0 - dist / GOAL_RADIUS, 0.0)
        if progress < n_goals - 1:
            progress += 1
    return reward, progress


class ReacherNEnv(MetaTaskEnv):
    K = 3
    T = 300
    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, n_goals: int = 1, render_mode: str | None = None, pixels: bool = False,
                 image_size: int = 64) -> None:
        super().__init__()
        if not isinstance(n_goals, (int, np.integer)) or not 1 <= n_goals <= MAX_GOALS:
            raise ValueError(f"Reacher: n_goals must be an integer in 1..{MAX_GOALS}, got {n_goals!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.n_goals = int(n_goals)
        self.T = 400 if self.n_goals >= 3 else 300
        self.render_mode = render_mode
        self.pixels = pixels
        self.image_size = image_size
        self.physics = _physics()
        self.physics.named.model.geom_size["target", 0] = GOAL_RADIUS
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        if pixels:
            self.observation_space = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        else:
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self._progress = 0

    # ----- task ------------------------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        r = GOAL_DISK * np.sqrt(rng.uniform(0.0, 1.0, self.n_goals))
        a = rng.uniform(0.0, 2 * np.pi, self.n_goals)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64)
        if t.shape != (self.n_goals, 2) or np.any(np.linalg.norm(t, axis=1) > GOAL_DISK + 1e-9):
            raise ValueError(f"Reacher-{self.n_goals}: task must be an ({self.n_goals}, 2) array of goals "
                             f"within radius {GOAL_DISK}, got {task!r}")
        return t

    # ----- dynamics --------------------------------------------------------------------------
    def fingertip(self) -> np.ndarray:
        return self.physics.named.data.geom_xpos["finger", :2].copy()

    def _observe(self):
        if self.pixels:
            return self._render_image(self.image_size, show_goal=False)
        vel = self.physics.data.qvel.astype(np.float32)
        return np.concatenate([vel, self.fingertip().astype(np.float32)])

    def _render_image(self, size: int, show_goal: bool) -> np.ndarray:
        rgba = self.physics.named.model.geom_rgba["target"].copy()
        if show_goal:
            goal = self._task[min(self._progress, self.n_goals - 1)]
            self.physics.named.model.geom_pos["target", :2] = goal
        else:
            self.physics.named.model.geom_rgba["target", 3] = 0.0
        try:
            img = self.physics.render(size, size, camera_id=0)
        except Exception as e:  # no GL backend
            raise ImportError(f"Reacher rendering failed ({e}); headless machines need MUJOCO_GL=egl or osmesa "
                              "with the matching system library (e.g. libegl1 or libosmesa6)") from None
        finally:
            self.physics.named.model.geom_rgba["target"] = rgba
        return np.ascontiguousarray(img, dtype=np.uint8)

    def set_joint_angles(self, shoulder: float, wrist: float) -> None:
        """Place the arm (zero velocity); used by tests and scripted demos."""
        self.physics.named.data.qpos["shoulder"] = shoulder
        self.physics.named.data.qpos["wrist"] = wrist
        self.physics.named.data.qvel[:] = 0.0
        self.physics.forward()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        lo, hi = self.physics.named.model.jnt_range["wrist"]  # radians (±160°)
        with self.physics.reset_context():
            self.physics.named.data.qpos["shoulder"] = self.np_random.uniform(-np.pi, np.pi)
            self.physics.named.data.qpos["wrist"] = self.np_random.uniform(lo, hi)
        self._progress = 0
        return self._observe(), {"task": self._task.copy(), "goals_reached": 0}

    def step(self, action):
        a = np.clip(self._check_action(action), -1.0, 1.0)
        self.physics.set_control(a)
        self.physics.step()
        dist = float(np.linalg.norm(self.fingertip() - self._task[self._progress]))
        reward, self._progress = reacher_reward(dist, self._progress, self.n_goals, a)
        return self._observe(), reward, False, False, {"task": self._task.copy(), "goals_reached": self._progress}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._render_image(240, show_goal=True)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["physics"] = self.physics.get_state()
        return state

    def __setstate__(self, state):
        physics_state = state.pop("physics")
        self.__dict__.update(state)
        self.physics = _physics()
        self.physics.named.model.geom_size["target", 0] = GOAL_RADIUS
        with self.physics.reset_context():
            self.physics.set_state(physics_state)


class ReacherPixelsEnv(ReacherNEnv):
    """Reacher-1 observed through 64×64 RGB images (goal hidden); K = 2 as in the paper."""

    K = 2

    def __init__(self, render_mode: str | None = None, image_size: int = 64) -> None:
        super().__init__(n_goals=1, render_mode=render_mode, pixels=True, image_size=image_size)
