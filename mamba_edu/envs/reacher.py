"""Reacher-N and ReacherPixels: reach N hidden goals in order with dm_control's two-link arm.

Paper Sec. 4 and App. C: a decomposable task distribution (N independent goals, reached in a
fixed order) in continuous control.

Spec
    * model: dm_control's suite ``reacher`` — its XML and its ``Physics`` class
      (``dm_control.suite.reacher``), with the XML's control timestep of 0.02 s (one physics step
      per action, as in the suite). dm_control's own visible ``target`` geom is hidden (moved to
      an invisible geom group) so it can neither appear in images nor leak the goal; visual-only
      goal markers (no collision or mass) are added for ``render()``;
    * action: ``Box(-1, 1, (2,), float32)`` — the shoulder and wrist motors, dm_control's action
      space; values outside the bounds are clipped;
    * observation (``Reacher-N``): joint velocities (shoulder, wrist) then the fingertip position
      (x, y) in the arena frame (the base is at the origin), ``Box(-inf, inf, (4,), float32)`` —
      the goals are *not* observed;
      (``ReacherPixels``): a 64×64×3 uint8 image from the suite's fixed top-down camera
      (``camera_id=0``, rendered with a 512² shadow map instead of the XML's 2048² to halve
      the cost of software rendering); no goal is drawn;
    * task: ``np.ndarray`` of shape (N, 2): N goals i.i.d. uniform (in area) in the disk of
      radius 0.195 around the base (every goal can be reached: the fingertip covers the annulus
      0.042 ≤ r ≤ 0.24 and the goal radius 0.05 covers the small hole in the middle);
    * reward: let g_i be the current goal (goals g_1..g_{i−1} already reached in this
      sub-episode) and d the fingertip–g_i distance after the step. If d < 0.05 the step pays
      max(1 − d/0.05, 0); goals 1..N−1 pay once — on the step the fingertip first enters their
      radius, after which the next goal becomes current — and goal N pays on every step the
      fingertip is inside it. Every step also pays the control cost −1e-3·‖a‖² (a = the clipped
      action, so the cost is at most 2e-3 per step). Goal i+1 pays nothing before goal i is
      reached. The goal order restarts at goal 1 in every sub-episode;
    * start (every sub-episode): dm_control's start state — joint angles from
      ``randomizers.randomize_limited_and_rotational_joints`` (shoulder uniform in [−π, π],
      wrist uniform in its ±160° range), zero velocity — drawn from ``self.np_random``
      (seeded by ``reset(seed=...)``, deterministic);
    * K = 3, T = 300 (T = 400 for N ≥ 3), App. C; ``ReacherPixels``: K = 2, T = 300 — the
      paper's visual experiment (Sec. 4, "Visual domain") uses two sub-episodes;
    * ``info``: ``task``, ``goal_index`` (the current goal, 0-based), ``goals_reached`` (goals
      reached in this sub-episode; the last counts while the fingertip is inside it),
      ``distance`` (fingertip to the goal that was evaluated this step).

Rendering (``render_mode="rgb_array"``; ``render()`` shows the goals: the current one in red,
reached ones green, later ones grey). Images are rendered headless with an OpenGL backend chosen
*before* dm_control is imported: if the user has not set ``MUJOCO_GL``, importing this module
sets it to ``egl`` when libEGL is installed, else ``osmesa`` when libOSMesa is, else leaves it
unset. On Debian/Ubuntu, EGL software rendering needs ``libegl1 libegl-mesa0 libgl1-mesa-dri
libgbm1`` (``libosmesa6`` for OSMesa). dm_control reads ``MUJOCO_GL`` once, at its first import:
set it yourself before importing dm_control if you import it first. If no backend works,
rendering raises :class:`RenderingUnavailableError` (an ``ImportError``) saying so.

Registered ids: ``mamba_edu/Reacher-{1,2,3,4}-v0``, ``mamba_edu/ReacherPixels-v0``.
Sources: Tunyasuvunakool et al. (2020) for the model; paper App. C for the task.
"""
from __future__ import annotations

import ctypes.util
import os


def configure_headless_gl() -> str | None:
    """Choose ``MUJOCO_GL`` for headless rendering unless the user already set it.

    Order: ``egl`` (libEGL found), ``osmesa`` (libOSMesa found), else unset (MuJoCo's default,
    GLFW, which needs a display). Returns the value in effect. Must run before dm_control or
    mujoco's GL modules are imported to have an effect.
    """
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    if ctypes.util.find_library("EGL"):
        os.environ["MUJOCO_GL"] = "egl"
    elif ctypes.util.find_library("OSMesa"):
        os.environ["MUJOCO_GL"] = "osmesa"
    return os.environ.get("MUJOCO_GL")


configure_headless_gl()

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

from mamba_edu.envs.base import MetaTaskEnv  # noqa: E402

GOAL_RADIUS = 0.05
GOAL_DISK = 0.195
CTRL_COST = 1e-3
MAX_GOALS = 4
#: geom groups not drawn by MuJoCo's default visual options (groups 0..2 are drawn)
_TARGET_GROUP, _MARKER_GROUP = 4, 5
#: marker colours in render(): reached, current, later goals
_RGBA = {"reached": (0.3, 0.8, 0.3, 0.5), "current": (0.9, 0.1, 0.1, 0.85), "later": (0.55, 0.55, 0.55, 0.6)}


class RenderingUnavailableError(ImportError):
    """No working OpenGL backend for MuJoCo (raised by pixel observations and ``render()``)."""


#: the message of the first failed GL context creation in this process (then never retried)
_GL_FAILURE: str | None = None


def _physics():
    """dm_control's reacher ``Physics`` from its XML, the suite's target hidden, goal markers added.

    The only change to the XML is ``MAX_GOALS`` visual-only marker discs (no collision, no mass:
    the dynamics are untouched) in a geom group that observations never draw; ``render()`` shows
    them. The suite's own ``target`` geom is moved to another hidden group.
    """
    try:
        from dm_control.suite import reacher
    except Exception as e:  # dm_control loads its GL backend at import: a broken MUJOCO_GL fails here
        raise ImportError(
            f"importing dm_control failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r} ({type(e).__name__}: {e}); "
            "use MUJOCO_GL=egl (packages libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1) or osmesa (libosmesa6), "
            "or leave it unset to let mamba_edu choose") from e

    xml, assets = reacher.get_model_and_assets()
    xml = xml.decode() if isinstance(xml, bytes) else xml
    markers = "".join(
        f'<geom name="goal_marker_{i}" type="cylinder" size="{GOAL_RADIUS} .001" pos="0 0 .001" contype="0" '
        f'conaffinity="0" group="{_MARKER_GROUP}" rgba="0 0 0 0"/>' for i in range(MAX_GOALS))
    xml = xml.replace("</worldbody>", markers + "</worldbody>", 1)
    physics = reacher.Physics.from_xml_string(xml, assets)
    physics.model.geom_group[physics.model.name2id("target", "geom")] = _TARGET_GROUP
    # a 512² shadow map instead of the XML's 2048² (read when the GL context is made): ~2x faster
    # software (CPU) rendering, no visible difference at 64×64
    physics.model.vis.quality.shadowsize = 512
    return physics


def reacher_reward(dist: float, progress: int, n_goals: int, ctrl: np.ndarray) -> tuple[float, int]:
    """(reward, new progress) for the fingertip at distance ``dist`` from goal number ``progress``.

    ``progress`` is the 0-based index of the current goal. Inside the goal radius the step pays
    max(1 − d/0.05, 0); a non-final goal then advances ``progress`` (so it pays only once), the
    final goal keeps paying. The control cost ``CTRL_COST·‖ctrl‖²`` is always subtracted.
    """
    reward = -CTRL_COST * float(np.sum(np.square(ctrl)))
    if dist < GOAL_RADIUS:
        reward += max(1.0 - dist / GOAL_RADIUS, 0.0)
        if progress < n_goals - 1:
            progress += 1
    return reward, progress


class ReacherNEnv(MetaTaskEnv):
    """One sub-episode of Reacher-N (see the module docstring for the full spec).

    Args:
        n_goals: N, the number of goals (1..4).
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns a 240×240 frame with the goals).
        pixels: observe ``image_size``×``image_size``×3 images instead of the 4-D vector.
        image_size: side of the pixel observations.
    """

    K = 3
    T = 300
    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, n_goals: int = 1, render_mode: str | None = None, pixels: bool = False,
                 image_size: int = 64) -> None:
        super().__init__()
        if (isinstance(n_goals, bool) or not isinstance(n_goals, (int, np.integer))
                or not 1 <= n_goals <= MAX_GOALS):
            raise ValueError(f"Reacher-N: n_goals must be an integer in 1..{MAX_GOALS} (Reacher-1..Reacher-{MAX_GOALS}), "
                             f"got {n_goals!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.n_goals = int(n_goals)
        self.T = 400 if self.n_goals >= 3 else 300
        self.render_mode = render_mode
        self.pixels = bool(pixels)
        self.image_size = int(image_size)
        self.physics = _physics()
        self._setup_ids()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        if self.pixels:
            self.observation_space = gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        else:
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self._progress = 0
        self._dist = np.nan

    def _setup_ids(self) -> None:
        m = self.physics.model
        self._finger = m.name2id("finger", "geom")
        self._shoulder = m.jnt_qposadr[m.name2id("shoulder", "joint")]
        self._wrist = m.jnt_qposadr[m.name2id("wrist", "joint")]

    # ----- task ------------------------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        r = GOAL_DISK * np.sqrt(rng.uniform(0.0, 1.0, self.n_goals))  # sqrt: uniform in area
        a = rng.uniform(0.0, 2 * np.pi, self.n_goals)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64)
        if (t.shape != (self.n_goals, 2) or not np.all(np.isfinite(t))
                or np.any(np.linalg.norm(t, axis=1) > GOAL_DISK + 1e-9)):
            raise ValueError(f"Reacher-{self.n_goals}: task must be an ({self.n_goals}, 2) array of goals "
                             f"within radius {GOAL_DISK} of the base, got {task!r}")
        return t.copy()

    # ----- state -----------------------------------------------------------------------------
    def fingertip(self) -> np.ndarray:
        """Fingertip (x, y) in the arena frame."""
        return self.physics.data.geom_xpos[self._finger, :2].copy()

    def set_joint_angles(self, shoulder: float, wrist: float) -> None:
        """Place the arm at these joint angles with zero velocity (for tests and scripted demos)."""
        self.physics.data.qpos[self._shoulder] = shoulder
        self.physics.data.qpos[self._wrist] = wrist
        self.physics.data.qvel[:] = 0.0
        self.physics.forward()

    def _observe(self):
        if self.pixels:
            return self._render_image(self.image_size, show_goals=False)
        obs = np.empty(4, np.float32)
        obs[:2] = self.physics.data.qvel
        obs[2:] = self.physics.data.geom_xpos[self._finger, :2]
        return obs

    def _info(self, on_last_goal: bool = False) -> dict:
        return {"task": self._task.copy(), "goal_index": self._progress,
                "goals_reached": self._progress + int(on_last_goal), "distance": self._dist}

    # ----- rendering -------------------------------------------------------------------------
    def _scene_option(self, show_goals: bool):
        """MuJoCo visual options: the goal-marker group on for ``render()``, off for observations."""
        from dm_control.mujoco import wrapper

        option = wrapper.core.MjvOption()
        if show_goals and self._task is not None:
            m = self.physics.model
            for i in range(MAX_GOALS):
                gid = m.name2id(f"goal_marker_{i}", "geom")
                if i < self.n_goals:
                    m.geom_pos[gid, :2] = self._task[i]
                    # world-frame position used by the renderer (set directly: no mj_forward, which
                    # could perturb the simulation; the next step's kinematics gives the same value)
                    self.physics.data.geom_xpos[gid, :2] = self._task[i]
                    key = "reached" if i < self._progress else "current" if i == self._progress else "later"
                    m.geom_rgba[gid] = _RGBA[key]
                else:
                    m.geom_rgba[gid, 3] = 0.0
            option.geomgroup[_MARKER_GROUP] = 1
        return option

    def _render_image(self, size: int, show_goals: bool) -> np.ndarray:
        global _GL_FAILURE
        if _GL_FAILURE is not None:  # a second failed attempt can abort the process (GLFW): don't retry
            raise RenderingUnavailableError(_GL_FAILURE)
        try:
            self.physics.contexts  # creates the OpenGL context on first use
        except Exception as e:  # no usable GL backend
            from dm_control import _render

            _GL_FAILURE = (
                f"Reacher rendering failed: dm_control's GL backend is {_render.BACKEND!r} "
                f"(MUJOCO_GL={os.environ.get('MUJOCO_GL')!r} now; dm_control reads it at its first import) "
                f"and making a context raised {type(e).__name__}: {e}. Headless machines need MUJOCO_GL=egl "
                "(Debian/Ubuntu packages libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1) or MUJOCO_GL=osmesa "
                "(libosmesa6), set before dm_control is first imported")
            raise RenderingUnavailableError(_GL_FAILURE) from e
        img = self.physics.render(size, size, camera_id=0, scene_option=self._scene_option(show_goals))
        return np.ascontiguousarray(img, dtype=np.uint8)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._render_image(240, show_goals=True)

    # ----- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        from dm_control.suite.utils import randomizers

        super().reset(seed=seed)
        self._reset_task(seed, options)
        with self.physics.reset_context():  # mj_resetData (zero velocity), then mj_forward
            randomizers.randomize_limited_and_rotational_joints(self.physics, self.np_random)
        self._progress = 0
        self._dist = float(np.linalg.norm(self.fingertip() - self._task[0]))
        return self._observe(), self._info()

    def step(self, action):
        if self._task is None:
            raise RuntimeError("Reacher: call reset() before step()")
        a = np.clip(self._check_action(action), -1.0, 1.0)
        self.physics.set_control(a)
        self.physics.step()
        evaluated = self._progress
        self._dist = float(np.linalg.norm(self.physics.data.geom_xpos[self._finger, :2] - self._task[evaluated]))
        reward, self._progress = reacher_reward(self._dist, evaluated, self.n_goals, a)
        on_last = evaluated == self.n_goals - 1 and self._dist < GOAL_RADIUS
        return self._observe(), reward, False, False, self._info(on_last)

    # ----- pickling: the MuJoCo objects are rebuilt from the XML, the full state is copied -----
    def __getstate__(self):
        import mujoco

        state = self.__dict__.copy()
        physics = state.pop("physics")
        spec = mujoco.mjtState.mjSTATE_INTEGRATION  # qpos, qvel, act, warm start, ctrl, time, ...
        buf = np.empty(mujoco.mj_stateSize(physics.model.ptr, spec))
        mujoco.mj_getState(physics.model.ptr, physics.data.ptr, buf, spec)
        state["_physics_state"] = buf
        return state

    def __setstate__(self, state):
        import mujoco

        buf = state.pop("_physics_state")
        self.__dict__.update(state)
        self.physics = _physics()
        self._setup_ids()
        mujoco.mj_setState(self.physics.model.ptr, self.physics.data.ptr, buf, mujoco.mjtState.mjSTATE_INTEGRATION)
        self.physics.forward()


class ReacherPixelsEnv(ReacherNEnv):
    """Reacher-1 observed through 64×64 RGB images (goal hidden); K = 2 as in the paper's visual run."""

    K = 2

    def __init__(self, render_mode: str | None = None, image_size: int = 64) -> None:
        super().__init__(n_goals=1, render_mode=render_mode, pixels=True, image_size=image_size)
        self._render_image(self.image_size, show_goals=False)  # fail here, clearly, if no GL backend works
