"""HumanoidDir: walk in a hidden direction with gymnasium's MuJoCo Humanoid (paper App. C).

Spec
    * model: gymnasium's ``Humanoid`` (``gymnasium.envs.mujoco.humanoid_v5.HumanoidEnv``, wrapped:
      its model, observation and dynamics), frame skip 5 — dt = 5 × 0.003 = 0.015 s per action;
      action ``Box(-0.4, 0.4, (17,), float32)`` (clipped to the bounds before it is applied);
    * observation: gymnasium's 348-D humanoid observation (``Box(-inf, inf, (348,), float64)``:
      qpos without x, y; qvel; cinert, cvel, qfrc_actuator, cfrc_ext) — the direction is hidden;
    * task: the target direction θ ~ U(0, 2π) (``task`` = ``np.array([θ])``);
    * reward, with u_θ = (cos θ, sin θ), c the centre-of-mass (x, y) (gymnasium's
      ``mass_center``) before/after the step and a the applied action:

          r = 0.25·u_θ·(c_after − c_before)/δ − 0.1·‖a‖² − min(5e-7·‖cfrc_ext‖², 10) + 5

      with δ = 0.003 s, MuJoCo's physics timestep, exactly as the original ``humanoid_dir`` code
      (Rakelly et al. 2019) divides — not the 0.015 s control step — so returns are on the scale
      of the papers' Humanoid-Dir numbers (the direction term is 5× the projected velocity's
      0.25·u_θ·v). cfrc_ext: MuJoCo's external contact forces after the step; the +5 alive bonus is
      paid on every step, including the one on which the humanoid falls, as in the original;
    * a fall — torso height qpos[2] outside gymnasium's healthy range (1.0, 2.0) — ends the
      sub-episode early (``terminated=True``); ``MetaEpisode`` then starts the next sub-episode
      (or ends the meta-episode after the last one);
    * start: gymnasium's initial pose plus uniform noise of scale 0.01 on qpos and qvel, drawn
      from ``self.np_random`` (seeded by ``reset(seed=...)``, deterministic);
    * K = 2 sub-episodes of T = 200 steps;
    * ``info``: ``task``, ``velocity`` (centre-of-mass velocity, x, y), and the reward terms
      ``reward_direction``, ``reward_ctrl``, ``reward_contact``, ``reward_alive``.

Bayes-optimal behaviour: the first reward reveals the projection of the velocity on u_θ, so a
few steps identify θ; then walk that way as fast as possible.

Rendering (``render_mode="rgb_array"``) uses gymnasium's MuJoCo renderer with the headless GL
backend chosen as in :mod:`mamba_edu.envs.reacher` (``MUJOCO_GL=egl`` unless set).

Pickling keeps MuJoCo's full ``MjData`` (a clone continues bit for bit).

Registered id: ``mamba_edu/HumanoidDir-v0``. Sources: Rakelly et al. (2019); paper App. C.
"""
from __future__ import annotations

from mamba_edu.envs.reacher import configure_headless_gl

configure_headless_gl()

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv, mass_center  # noqa: E402

from mamba_edu.envs.base import MetaTaskEnv  # noqa: E402

DIRECTION_WEIGHT = 0.25
CTRL_WEIGHT = 0.1
CONTACT_WEIGHT = 5e-7
CONTACT_MAX = 10.0
ALIVE_BONUS = 5.0


def humanoid_dir_reward(theta: float, com_before: np.ndarray, com_after: np.ndarray, dt: float,
                        action: np.ndarray, cfrc_ext: np.ndarray) -> dict[str, float]:
    """The reward terms of one step (see the module docstring); ``reward`` is their sum."""
    u = np.array([np.cos(theta), np.sin(theta)])
    direction = DIRECTION_WEIGHT * float(u @ (np.asarray(com_after) - np.asarray(com_before))) / dt
    ctrl = -CTRL_WEIGHT * float(np.sum(np.square(np.asarray(action, np.float64))))
    contact = -min(CONTACT_WEIGHT * float(np.sum(np.square(cfrc_ext))), CONTACT_MAX)
    return {"reward": direction + ctrl + contact + ALIVE_BONUS, "reward_direction": direction,
            "reward_ctrl": ctrl, "reward_contact": contact, "reward_alive": ALIVE_BONUS}


class HumanoidDirEnv(MetaTaskEnv):
    """One sub-episode of HumanoidDir (see the module docstring for the full spec)."""

    K = 2
    T = 200
    metadata = {"render_modes": ["rgb_array"], "render_fps": 67}

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.sim = HumanoidEnv(render_mode=render_mode)
        self.observation_space = self.sim.observation_space
        self.action_space = self.sim.action_space

    # ----- task ------------------------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(0.0, 2 * np.pi)])

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64).reshape(-1)
        if t.shape != (1,) or not 0.0 <= t[0] <= 2 * np.pi:
            raise ValueError(f"HumanoidDir: task must be a direction θ in [0, 2π] (array of shape (1,)), "
                             f"got {task!r}")
        return t.copy()

    # ----- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        # gymnasium's start noise is drawn from the simulator's RNG: make it ours
        self.sim.np_random = self.np_random
        obs, _ = self.sim.reset()
        return obs, {"task": self._task.copy()}

    def step(self, action):
        if self._task is None:
            raise RuntimeError("HumanoidDir: call reset() before step()")
        space = self.action_space
        a = np.clip(self._check_action(action), space.low, space.high).astype(space.dtype)
        sim = self.sim
        com_before = mass_center(sim.model, sim.data)
        obs, _, terminated, _, _ = sim.step(a)  # gymnasium's reward is not used
        com_after = mass_center(sim.model, sim.data)
        terms = humanoid_dir_reward(self._task[0], com_before, com_after, sim.model.opt.timestep, a,
                                    sim.data.cfrc_ext)
        reward = terms.pop("reward")
        info = {"task": self._task.copy(), "velocity": (com_after - com_before) / sim.dt, **terms}
        return obs, float(reward), bool(terminated), False, info

    def render(self):
        return self.sim.render() if self.render_mode == "rgb_array" else None

    def close(self):
        self.sim.close()

    # ----- pickling --------------------------------------------------------------------------
    # gymnasium's MujocoEnv pickles by re-running its constructor, which loses the physics state.
    # We pickle the whole MjData (not only the integration state): after mj_step the kinematic
    # quantities (e.g. ``xipos``, used for the centre of mass before the next step) lag the state
    # by one substep, and mj_forward on a restored state would recompute them, changing the next
    # reward slightly. With the full MjData a clone continues bit for bit.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["sim"] = state["sim"].data  # MjData pickles itself (model-independent buffers)
        return state

    def __setstate__(self, state):
        data = state.pop("sim")
        self.__dict__.update(state)
        self.sim = HumanoidEnv(render_mode=self.render_mode)
        self.sim.np_random = self.np_random
        mujoco.mj_copyData(self.sim.data, self.sim.model, data)
