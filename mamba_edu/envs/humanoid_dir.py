"""HumanoidDir: walk in a hidden direction with gymnasium's MuJoCo Humanoid (paper App. C).

Spec
    * model: gymnasium's ``Humanoid`` (v5 model and observation, 348-D ``Box``), frame skip 5
      (dt = 0.015 s); action ``Box(-0.4, 0.4, (17,))``;
    * task: the target direction θ ~ U(0, 2π) (``task`` = np.array([θ])), not observed;
    * reward (as in the original meta-RL code): 0.25·(u_θ · Δcentre-of-mass_xy)/dt − 0.1‖a‖²
      − min(5e-7‖contact forces‖², 10) + 5 (alive bonus), with u_θ = (cos θ, sin θ);
    * a fall (torso height outside (1.0, 2.0)) terminates the sub-episode early; the
      meta-episode then continues with the next sub-episode (see ``MetaEpisode``);
    * start: gymnasium's initial pose plus uniform noise of scale 0.01 from the env's RNG;
    * K = 2 sub-episodes of T = 200 steps.

Bayes-optimal behaviour: the first reward reveals the projection of the velocity on u_θ, so a
few steps identify θ; then walk that way as fast as possible.

Registered id: ``mamba_edu/HumanoidDir-v0``. Sources: Rakelly et al. (2019); paper App. C.
"""
from __future__ import annotations

import numpy as np
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

from mamba_edu.envs.base import MetaTaskEnv

DIRECTION_WEIGHT = 0.25


class HumanoidDirEnv(MetaTaskEnv):
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

    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(0.0, 2 * np.pi)])

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64).reshape(-1)
        if t.shape != (1,) or not 0.0 <= t[0] <= 2 * np.pi:
            raise ValueError(f"HumanoidDir: task must be a direction in [0, 2π] (array of shape (1,)), got {task!r}")
        return t

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        # the simulator's start noise comes from a seed drawn from our RNG: seeded and repeatable
        obs, _ = self.sim.reset(seed=int(self.np_random.integers(2**31)))
        return obs, {"task": self._task.copy()}

    def step(self, action):
        a = self._check_action(action)
        obs, _, terminated, _, info = self.sim.step(a.astype(np.float32))
        direction = np.array([np.cos(self._task[0]), np.sin(self._task[0])])
        velocity = np.array([info["x_velocity"], info["y_velocity"]])
        reward = (DIRECTION_WEIGHT * float(direction @ velocity) + info["reward_ctrl"] + info["reward_contact"]
                  + info["reward_survive"])
        out = {"task": self._task.copy(), "velocity": velocity, "reward_direction": DIRECTION_WEIGHT * float(direction @ velocity),
               "reward_ctrl": info["reward_ctrl"], "reward_contact": info["reward_contact"],
               "reward_survive": info["reward_survive"]}
        return obs, float(reward), bool(terminated), False, out

    def render(self):
        return self.sim.render() if self.render_mode == "rgb_array" else None

    def close(self):
        self.sim.close()

    # gymnasium's MujocoEnv pickles by re-running its constructor, which loses the physics state;
    # keep the full integration state (incl. solver warm start) so a clone continues identically.
    def __getstate__(self):
        import mujoco

        state = self.__dict__.copy()
        sim = state.pop("sim")
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        buf = np.empty(mujoco.mj_stateSize(sim.model, spec))
        mujoco.mj_getState(sim.model, sim.data, buf, spec)
        state["_sim_state"] = buf
        state["_sim_rng"] = sim.np_random.bit_generator.state
        return state

    def __setstate__(self, state):
        import mujoco

        buf, rng = state.pop("_sim_state"), state.pop("_sim_rng")
        self.__dict__.update(state)
        self.sim = HumanoidEnv(render_mode=self.render_mode)
        self.sim.reset(seed=0)
        mujoco.mj_setState(self.sim.model, self.sim.data, buf, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.sim.model, self.sim.data)
        self.sim.np_random.bit_generator.state = rng
