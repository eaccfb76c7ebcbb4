"""Reacher-N, ReacherPixels, HumanoidDir and PandaReacher (issue #2): specs, rewards, boundaries.

Full-length meta-episodes are slow, so most tests use short ``K``/``T`` overrides; the sizes
themselves are checked on the un-stepped environments.
"""
import importlib.util
import pickle
import sys
import types
from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mamba_edu.envs import make
from mamba_edu.envs.humanoid_dir import HumanoidDirEnv
from mamba_edu.envs.meta_episode import MetaEpisode
from mamba_edu.envs.reacher import (
    CTRL_COST,
    GOAL_DISK,
    GOAL_RADIUS,
    ReacherNEnv,
    ReacherPixelsEnv,
    RenderingUnavailableError,
    reacher_reward,
)

HAS_PANDA = importlib.util.find_spec("panda_gym") is not None
PANDA_REASON = "PandaReacher needs the [panda] extra (pip install -e .[panda]); panda_gym is not installed"


def _pixels_or_skip(**kwargs):
    try:
        return make("ReacherPixels", **kwargs)
    except RenderingUnavailableError as e:
        pytest.skip(f"no headless GL backend here: {e}")


def _place_fingertip(env, target):
    """Put the fingertip on ``target`` (zero velocity): grid search over joint angles, then refine."""
    base = env.unwrapped

    def dist(s, w):
        base.set_joint_angles(s, w)
        return np.linalg.norm(base.fingertip() - target)

    d, s, w = min((dist(s, w), s, w) for s in np.linspace(-np.pi, np.pi, 73) for w in np.linspace(-2.7, 2.7, 55))
    for scale in (0.02, 0.005, 0.001):
        d, s, w = min((dist(s + ds, w + dw), s + ds, w + dw)
                      for ds in np.linspace(-scale, scale, 9) for dw in np.linspace(-scale, scale, 9))
    base.set_joint_angles(s, w)
    return d


def _rollout(env, seed, steps, task=None):
    obs, info = env.reset(seed=seed, options=None if task is None else {"task": task})
    rng = np.random.default_rng(seed)
    out, rewards = [obs], []
    for _ in range(steps):
        a = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        obs, r, term, trunc, info = env.step(a)
        out.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return out, rewards


# ----- sizes, spaces, errors -----------------------------------------------------------------------
def test_reacher_sizes_spaces_and_errors():
    for n, t in [(1, 300), (2, 300), (3, 400), (4, 400)]:
        env = make(f"Reacher-{n}")
        assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T")) == (3, t)
        assert env.unwrapped.observation_space == gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        assert env.unwrapped.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        assert env.observation_space.shape == (6,)  # + previous reward + time
        assert env.unwrapped.physics.model.opt.timestep == pytest.approx(0.02)  # dm_control's control step
    for bad in (0, 5, -1, 2.5, True):
        with pytest.raises(ValueError, match=r"1\.\.4"):
            ReacherNEnv(n_goals=bad)
    with pytest.raises(ValueError, match=r"1\.\.4"):
        make("Reacher-5")
    env = make("Reacher-2")
    env.reset(seed=0)
    for bad_action in (np.zeros(3), np.zeros((1, 2)), 0.0):
        with pytest.raises(ValueError, match="action shape"):
            env.step(bad_action)
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"\(2, 2\) array"):
        env.reset(options={"task": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="within radius"):
        env.reset(options={"task": np.array([[0.3, 0.0], [0.0, 0.0]])})
    tasks = np.array(env.unwrapped.sample_tasks(2000, seed=0))
    radii = np.linalg.norm(tasks, axis=-1)
    assert tasks.shape == (2000, 2, 2) and radii.max() <= GOAL_DISK
    assert np.mean(radii < GOAL_DISK / np.sqrt(2)) == pytest.approx(0.5, abs=0.04)  # uniform in area


def test_humanoid_sizes_spaces_and_errors():
    env = make("HumanoidDir")
    assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T")) == (2, 200)
    base = env.unwrapped
    assert base.observation_space.shape == (348,) and base.action_space.shape == (17,)
    assert base.sim.dt == pytest.approx(0.015)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action shape"):
        env.step(np.zeros(16))
    with pytest.raises(ValueError, match="direction"):
        env.reset(options={"task": np.array([7.0])})
    thetas = np.array(base.sample_tasks(500, seed=1)).ravel()
    assert thetas.min() >= 0 and thetas.max() <= 2 * np.pi and np.ptp(thetas) > 6.0


# ----- gymnasium's env checker ---------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*Box observation space (maximum|minimum) value is -?infinity")
@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.parametrize("name", ["Reacher-1", "Reacher-2", "Reacher-3", "Reacher-4", "ReacherPixels", "HumanoidDir"])
def test_env_checker(name):
    env = _pixels_or_skip(K=2, T=5) if name == "ReacherPixels" else make(name, K=2, T=10)
    check_env(env.unwrapped, skip_render_check=True)  # the task family (one sub-episode)
    check_env(env, skip_render_check=True)  # the meta-episode
    env.close()


# ----- determinism -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Reacher-2", "HumanoidDir"])
def test_same_seed_same_tasks_and_trajectories(name):
    env = make(name, K=2, T=15)
    base = env.unwrapped
    assert all(np.array_equal(a, b) for a, b in zip(base.sample_tasks(4, seed=3), base.sample_tasks(4, seed=3)))
    assert not np.array_equal(base.sample_tasks(1, seed=3)[0], base.sample_tasks(1, seed=4)[0])
    (o1, r1), (o2, r2) = _rollout(env, 11, 30), _rollout(env, 11, 30)  # crosses a sub-episode boundary
    assert len(o1) == 31 and all(np.array_equal(a, b) for a, b in zip(o1, o2)) and r1 == r2
    # a fresh environment with the same seed too; another seed starts elsewhere
    o3, r3 = _rollout(make(name, K=2, T=15), 11, 30)
    assert all(np.array_equal(a, b) for a, b in zip(o1, o3)) and r1 == r3
    o4, _ = _rollout(env, 12, 1)
    assert not np.array_equal(o1[0], o4[0])


def test_reacher_start_state_is_dm_controls():
    base = ReacherNEnv(1)
    base.reset(seed=0)
    lo, hi = base.physics.named.model.jnt_range["wrist"]
    assert (lo, hi) == pytest.approx((-np.deg2rad(160), np.deg2rad(160)), abs=1e-3)
    qpos = []
    for _ in range(300):
        base.reset()
        assert np.all(base.physics.data.qvel == 0)
        qpos.append(base.physics.data.qpos.copy())
    qpos = np.array(qpos)
    assert qpos[:, 0].min() >= -np.pi and qpos[:, 0].max() <= np.pi and np.ptp(qpos[:, 0]) > 5.5
    assert qpos[:, 1].min() >= lo and qpos[:, 1].max() <= hi and np.ptp(qpos[:, 1]) > 4.5


def test_reacher_dynamics_are_dm_controls():
    """Our physics (dm_control's XML plus invisible goal markers) steps exactly like the suite's."""
    from dm_control.suite import reacher

    ref = reacher.Physics.from_xml_string(*reacher.get_model_and_assets())
    base = ReacherNEnv(1)
    base.reset(seed=0)
    with ref.reset_context():
        ref.data.qpos[:] = base.physics.data.qpos
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.uniform(-1, 1, 2)
        obs, *_ = base.step(a)
        ref.set_control(a)
        ref.step()
        assert np.array_equal(base.physics.data.qpos, ref.data.qpos)
        assert np.array_equal(obs[2:], ref.named.data.geom_xpos["finger", :2].astype(np.float32))


# ----- Reacher rewards ---------------------------------------------------------------------------------
def test_reacher_reward_function():
    assert reacher_reward(0.0, 0, 2, np.zeros(2)) == (1.0, 1)  # goal 1 of 2: pays, advances
    assert reacher_reward(0.025, 1, 2, np.zeros(2)) == (0.5, 1)  # last goal: pays, stays
    assert reacher_reward(0.01, 0, 1, np.zeros(2)) == (pytest.approx(0.8), 0)  # Reacher-1: the only goal is the last
    r, p = reacher_reward(0.06, 0, 2, np.ones(2))
    assert p == 0 and r == pytest.approx(-2 * CTRL_COST)
    r, p = reacher_reward(0.0, 2, 4, np.array([0.5, -1.0]))
    assert p == 3 and r == pytest.approx(1.0 - CTRL_COST * 1.25)


def test_reacher_reward_at_placed_states():
    """Order, goal 1 once (per sub-episode), goal N every step; reward = 1 − d/0.05 − 1e-3‖a‖²."""
    env = make("Reacher-2", K=2, T=40)
    base = env.unwrapped
    goals = np.array([[0.12, 0.05], [-0.08, 0.1]])
    env.reset(seed=0, options={"task": goals})
    # sitting on goal 2 first pays nothing (only the control cost)
    assert _place_fingertip(env, goals[1]) < 0.005
    a = np.array([0.3, -0.2], np.float32)
    _, r, _, _, info = env.step(a)
    assert np.linalg.norm(base.fingertip() - goals[1]) < GOAL_RADIUS
    assert r == pytest.approx(-CTRL_COST * np.sum(a.astype(np.float64) ** 2), abs=1e-9)
    assert info["goal_index"] == 0 and info["goals_reached"] == 0
    # goal 1 pays once, the formula at the state after the step
    assert _place_fingertip(env, goals[0]) < 0.005
    _, r, _, _, info = env.step(a)
    d = np.linalg.norm(base.fingertip() - goals[0])
    assert info["distance"] == pytest.approx(d)
    assert r == pytest.approx(1 - d / GOAL_RADIUS - CTRL_COST * np.sum(a.astype(np.float64) ** 2), abs=1e-6)
    assert r > 0.8 and info["goal_index"] == 1 and info["goals_reached"] == 1
    _place_fingertip(env, goals[0])
    for _ in range(3):
        _, r, *_ = env.step(np.zeros(2))
        assert r == 0.0
    # goal 2 (the last) pays every step, by the formula
    _place_fingertip(env, goals[1])
    for _ in range(5):
        _, r, _, _, info = env.step(np.zeros(2))
        d = np.linalg.norm(base.fingertip() - goals[1])
        assert r == pytest.approx(1 - d / GOAL_RADIUS, abs=1e-9) and r > 0.8
        assert info["goals_reached"] == 2
    # a new sub-episode restarts the order: goal 1 pays again, goal 2 does not before it
    while env.step(np.zeros(2))[4]["sub_episode"] == 0:
        pass
    _place_fingertip(env, goals[1])
    assert env.step(np.zeros(2))[1] == 0.0
    _place_fingertip(env, goals[0])
    _, r, _, _, info = env.step(np.zeros(2))
    assert r > 0.8 and info["sub_episode"] == 1 and info["goal_index"] == 1


def test_reacher_4_goals_in_order():
    env = make("Reacher-4", K=1, T=50)
    goals = np.array(env.unwrapped.sample_tasks(1, seed=5)[0])
    env.reset(seed=0, options={"task": goals})
    for i in (3, 2, 1):  # later goals first: nothing
        _place_fingertip(env, goals[i])
        assert env.step(np.zeros(2))[1] <= 0.0 or np.linalg.norm(goals[i] - goals[0]) < GOAL_RADIUS
    paid = []
    for i in range(4):
        _place_fingertip(env, goals[i])
        _, r, _, _, info = env.step(np.zeros(2))
        paid.append(r)
        assert info["goal_index"] == min(i + 1, 3)
    assert all(r > 0.8 for r in paid)


# ----- Reacher observations and boundaries ----------------------------------------------------------------
def test_reacher_observation_hides_goals():
    env = make("Reacher-1", K=2, T=20)
    (o1, r1), (o2, r2) = (_rollout(env, 4, 30, task=np.array([[0.1, 0.0]])),
                          _rollout(env, 4, 30, task=np.array([[-0.1, 0.05]])))
    # same start and actions, different goals: identical observations apart from the reward feature
    assert all(np.array_equal(a[:4], b[:4]) and a[-1] == b[-1] for a, b in zip(o1, o2))
    base = env.unwrapped
    obs, _ = env.reset(seed=1)
    assert np.array_equal(obs[:2], base.physics.data.qvel.astype(np.float32))
    assert np.array_equal(obs[2:4], base.fingertip().astype(np.float32))
    assert 0.041 < np.linalg.norm(obs[2:4]) <= 0.24  # two links of 0.12, wrist within ±160°


def test_reacher_sub_episode_boundary():
    K, T = 3, 10
    env = make("Reacher-1", K=K, T=T)
    obs, info = env.reset(seed=1)
    task, base = info["task"], env.unwrapped
    for k in range(1, K):
        for t in range(T):
            obs, r, term, trunc, info = env.step(np.ones(2))
            assert info["boundary"] == (t == T - 1) and not (term or trunc)
        assert info["sub_episode"] == k and np.array_equal(info["task"], task)
        assert np.array_equal(base.get_task(), task)
        # the arm is reset (new dm_control start state, zero velocity, clock at 0) ...
        assert np.all(obs[:2] == 0.0) and base.physics.data.time == 0.0
        assert np.array_equal(obs[2:4], base.fingertip().astype(np.float32))
        # ... the reward feature holds the last reward and the time feature is k·T / (K·T)
        assert obs[4] == np.float32(r) and obs[5] == pytest.approx(k / K)
        assert info["sub_episode_returns"][k - 1] != 0.0
    for _ in range(T):
        obs, r, term, trunc, info = env.step(np.ones(2))
    assert trunc and not term and info["sub_episode"] == K - 1


# ----- ReacherPixels ---------------------------------------------------------------------------------------
def test_reacher_pixels():
    env = _pixels_or_skip(T=4)
    assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T")) == (2, 4)  # K default, T overridden
    assert ReacherPixelsEnv.K == 2 and ReacherPixelsEnv(image_size=16).T == 300
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"image", "vector"} and obs["vector"].shape == (2,)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8 and obs["image"].std() > 5
    assert env.observation_space["image"] == gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    # the goal is not drawn: same start, different goals, identical images
    o1, _ = env.reset(seed=0, options={"task": np.array([[0.15, 0.0]])})
    o2, _ = env.reset(seed=0, options={"task": np.array([[-0.15, 0.0]])})
    assert np.array_equal(o1["image"], o2["image"])
    # the image shows the arm: it changes when the arm moves
    for _ in range(3):
        o3, *_ = env.step(np.ones(2))
    assert np.abs(o3["image"].astype(int) - o1["image"].astype(int)).sum() > 0


def test_reacher_render_shows_goals_but_observation_does_not():
    try:
        env = ReacherNEnv(n_goals=2, render_mode="rgb_array")
        env.reset(seed=0, options={"task": np.array([[0.15, 0.0], [0.0, 0.15]])})
        f1 = env.render()
    except RenderingUnavailableError as e:
        pytest.skip(f"no headless GL backend here: {e}")
    env.reset(seed=0, options={"task": np.array([[-0.15, 0.0], [0.0, -0.15]])})
    f2 = env.render()
    assert f1.shape == (240, 240, 3) and f1.dtype == np.uint8 and not np.array_equal(f1, f2)
    assert ReacherNEnv(n_goals=1).render() is None  # no render_mode
    pix = ReacherPixelsEnv(render_mode="rgb_array")
    o1, _ = pix.reset(seed=0, options={"task": np.array([[0.15, 0.0]])})
    pix.render()  # drawing the goal for a human must not leak into later observations
    o2, _ = pix.reset(seed=0, options={"task": np.array([[0.15, 0.0]])})
    assert np.array_equal(o1, o2)


# ----- HumanoidDir ----------------------------------------------------------------------------------------
def _com_xy(model, data):
    return (model.body_mass @ data.xipos / model.body_mass.sum())[:2]


def test_humanoid_dir_reward_matches_formula():
    theta = 2.0
    env = make("HumanoidDir", K=2, T=50)
    env.reset(seed=0, options={"task": np.array([theta])})
    sim = env.unwrapped.sim
    rng = np.random.default_rng(0)
    u = np.array([np.cos(theta), np.sin(theta)])
    contacts = []
    for i in range(15):
        a = rng.uniform(-0.6, 0.6, 17)  # partly out of bounds: clipped to ±0.4 before use
        before = _com_xy(sim.model, sim.data)
        _, r, term, trunc, info = env.step(a)
        after = _com_xy(sim.model, sim.data)
        applied = np.clip(a, -0.4, 0.4).astype(np.float32)
        assert np.allclose(sim.data.ctrl, applied)
        contact = min(5e-7 * np.sum(sim.data.cfrc_ext ** 2), 10.0)
        expected = 0.25 * u @ (after - before) / 0.003 - 0.1 * np.sum(applied.astype(np.float64) ** 2) - contact + 5.0
        assert sim.model.opt.timestep == pytest.approx(0.003)  # the original divides by the physics step
        assert r == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert np.allclose(info["velocity"], (after - before) / 0.015)
        assert info["reward_contact"] == pytest.approx(-contact) and info["reward_alive"] == 5.0
        contacts.append(contact)
    assert contacts[0] == 0.0 and max(contacts) > 0.0  # starts in the air, then lands: contact forces are computed


def test_humanoid_observation_hides_direction():
    env = make("HumanoidDir", K=1, T=10)
    (o1, r1), (o2, r2) = _rollout(env, 3, 5, task=np.array([0.5])), _rollout(env, 3, 5, task=np.array([3.5]))
    assert all(np.array_equal(a[:-2], b[:-2]) for a, b in zip(o1, o2)) and r1 != r2


def test_humanoid_fall_ends_sub_episode_early():
    base = HumanoidDirEnv()
    base.reset(seed=0, options={"task": np.array([1.0])})
    steps, term = 0, False
    while not term:
        _, r, term, trunc, info = base.step(np.full(17, 0.4, np.float32))
        steps += 1
        assert steps < 200 and not trunc
    assert not 1.0 < base.sim.data.qpos[2] < 2.0  # gymnasium's healthy z range
    assert info["reward_alive"] == 5.0
    # in the meta-episode: the fall moves on to the next sub-episode, clock at T
    K, T = 2, 200
    env = MetaEpisode(HumanoidDirEnv(), K=K, T=T)
    obs, info = env.reset(seed=0, options={"task": np.array([1.0])})
    for i in range(steps):
        obs, r, term, trunc, info = env.step(np.full(17, 0.4, np.float32))
        assert not (term or trunc)
    assert info["boundary"] and info["sub_episode"] == 1 and obs[-1] == pytest.approx(T / (K * T))
    assert 1.0 < env.unwrapped.sim.data.qpos[2] < 2.0  # standing again
    assert np.array_equal(info["task"], [1.0])
    # a fall in the last sub-episode ends the meta-episode (terminated)
    n = 0
    while True:
        obs, r, term, trunc, info = env.step(np.full(17, 0.4, np.float32))
        n += 1
        if term or trunc:
            break
    assert term and not trunc and n < T


def test_humanoid_render():
    # probe GL through the Reacher first: a failing GLFW context can abort the process
    _pixels_or_skip(T=2)
    env = make("HumanoidDir", render_mode="rgb_array", K=1, T=5)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8 and frame.std() > 5
    env.close()


# ----- pickling ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Reacher-3", "ReacherPixels", "HumanoidDir"])
def test_pickle_round_trip(name):
    env = _pixels_or_skip(K=2, T=10) if name == "ReacherPixels" else make(name, K=2, T=10)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(13):  # past a boundary
        env.step(rng.uniform(-0.4, 0.4, env.action_space.shape).astype(np.float32))
    clone = pickle.loads(pickle.dumps(env))
    assert np.array_equal(clone.unwrapped.get_task(), env.unwrapped.get_task())
    for _ in range(10):  # past the end of the meta-episode's next boundary: the RNGs were copied too
        a = rng.uniform(-0.4, 0.4, env.action_space.shape).astype(np.float32)
        o1, r1, t1, tr1, _ = env.step(a)
        o2, r2, t2, tr2, _ = clone.step(a)
        if isinstance(o1, dict):
            assert all(np.array_equal(o1[k], o2[k]) for k in o1) and r1 == r2
        else:
            assert np.array_equal(o1, o2) and r1 == r2
        if t1 or tr1:
            assert (t1, tr1) == (t2, tr2)
            break
    env.close()


# ----- PandaReacher ------------------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_PANDA, reason=PANDA_REASON)
def test_panda_reacher():
    env = make("PandaReacher", T=5)
    assert (env.get_wrapper_attr("K"), env.unwrapped.T) == (3, 50)
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    task = info["task"]
    assert task[0] >= 0 and np.linalg.norm(task[:2]) <= 0.25
    obs, r, *_ = env.step(np.zeros(3))
    assert r in (0.0, 1.0)
    with pytest.raises(TypeError, match="PyBullet client"):
        pickle.dumps(env)


def test_panda_without_extra_is_clear():
    if HAS_PANDA:
        pytest.skip("panda_gym is installed; this checks the message shown without it")
    import mamba_edu.envs.panda_reacher  # noqa: F401  (the module imports without the extra)

    with pytest.raises(ImportError, match=r"pip install -e \.\[panda\]"):
        make("PandaReacher")


@pytest.fixture
def fake_panda_gym(monkeypatch):
    """A stand-in for panda-gym 3.x with its API (``PyBullet``, ``Panda``): tests our logic only."""

    class PyBullet:
        def __init__(self, render_mode="rgb_array", n_substeps=20, background_color=None, renderer="Tiny"):
            assert render_mode == "rgb_array" and renderer in ("Tiny", "OpenGL")

        @contextmanager
        def no_rendering(self):
            yield

        def create_plane(self, z_offset):
            pass

        def create_table(self, length, width, height, x_offset=0.0, lateral_friction=None, spinning_friction=None):
            pass

        def step(self):
            pass

        def render(self, width=720, height=480, target_position=None, distance=1.4, yaw=45, pitch=-30, roll=0):
            return np.full((height, width, 3), 100, np.uint8)

        def close(self):
            pass

    class Panda:
        def __init__(self, sim, block_gripper=False, base_position=None, control_type="ee"):
            assert block_gripper and control_type == "ee"
            self.ee = np.zeros(3)

        def reset(self):
            self.ee = np.array([0.0, 0.0, 0.2])

        def set_action(self, action):
            self.ee = self.ee + 0.05 * np.clip(action, -1, 1)

        def get_ee_position(self):
            return self.ee.copy()

    names = ["panda_gym", "panda_gym.pybullet", "panda_gym.envs", "panda_gym.envs.robots", "panda_gym.envs.robots.panda"]
    mods = {name: types.ModuleType(name) for name in names}
    mods["panda_gym.pybullet"].PyBullet = PyBullet
    mods["panda_gym.envs.robots.panda"].Panda = Panda
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)


def test_panda_reacher_logic_with_fake_simulator(fake_panda_gym):
    env = make("PandaReacher", T=8)
    obs, info = env.reset(seed=0, options={"task": np.array([0.0, 0.0, 0.06])})
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    rewards = [env.step(np.array([0.0, 0.0, -1.0]))[1] for _ in range(5)]  # ee z: 0.15, 0.10, 0.05, 0.0, -0.05
    assert rewards == [0.0, 1.0, 1.0, 0.0, 0.0]
    tasks = np.array(env.unwrapped.sample_tasks(500, seed=0))
    assert np.all(tasks[:, 0] >= 0) and np.linalg.norm(tasks[:, :2], axis=1).max() <= 0.25
    assert np.all(tasks[:, 2] == 0.05)
    with pytest.raises(ValueError, match="action shape"):
        env.step(np.zeros(2))
    with pytest.raises(TypeError, match="PyBullet client"):
        pickle.dumps(env)
