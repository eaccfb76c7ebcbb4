"""Reacher-N, ReacherPixels, HumanoidDir and PandaReacher (issue #2)."""
import importlib.util

import numpy as np
import pytest

from mamba_edu.envs import make
from mamba_edu.envs.reacher import CTRL_COST, GOAL_DISK, GOAL_RADIUS, ReacherNEnv, reacher_reward


def _place_fingertip(env, target):
    """Put the fingertip on ``target``: grid search over joint angles, then local refinement."""
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


def test_reacher_sizes_and_errors():
    assert (make("Reacher-1").get_wrapper_attr("T"), make("Reacher-2").get_wrapper_attr("T")) == (300, 300)
    assert (make("Reacher-3").get_wrapper_attr("T"), make("Reacher-4").get_wrapper_attr("T")) == (400, 400)
    assert make("Reacher-1").get_wrapper_attr("K") == 3
    with pytest.raises(ValueError, match="1..4"):
        ReacherNEnv(n_goals=5)
    env = make("Reacher-2")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action shape"):
        env.step(np.zeros(3))
    tasks = np.array(env.unwrapped.sample_tasks(500, seed=0))
    assert tasks.shape == (500, 2, 2) and np.linalg.norm(tasks, axis=-1).max() <= GOAL_DISK
    assert np.linalg.norm(tasks, axis=-1).mean() > 0.11  # uniform in area, not in radius


def test_reacher_observation_hides_goals():
    env = make("Reacher-1")
    o1, _ = env.reset(seed=4, options={"task": np.array([[0.1, 0.0]])})
    o2, _ = env.reset(seed=4, options={"task": np.array([[-0.1, 0.05]])})
    assert np.array_equal(o1, o2) and o1.shape == (6,)  # 4 + reward + time


def test_reacher_reward_order_once_and_last():
    assert reacher_reward(0.0, 0, 2, np.zeros(2)) == (1.0, 1)
    assert reacher_reward(0.025, 1, 2, np.zeros(2)) == (0.5, 1)
    r, p = reacher_reward(0.06, 0, 2, np.ones(2))
    assert p == 0 and r == pytest.approx(-2 * CTRL_COST)
    env = make("Reacher-2", K=1, T=50)
    goals = np.array([[0.12, 0.05], [-0.08, 0.1]])
    env.reset(seed=0, options={"task": goals})
    # sitting on goal 2 first pays nothing
    assert _place_fingertip(env, goals[1]) < 0.01
    _, r, *_ = env.step(np.zeros(2))
    assert r == pytest.approx(0.0, abs=1e-9)
    # goal 1 pays once
    assert _place_fingertip(env, goals[0]) < 0.01
    d = np.linalg.norm(env.unwrapped.fingertip() - goals[0])
    _, r, _, _, info = env.step(np.zeros(2))
    d_after = np.linalg.norm(env.unwrapped.fingertip() - goals[0])
    assert r == pytest.approx(1 - d_after / GOAL_RADIUS, abs=1e-6) and info["goals_reached"] == 1
    _, r, *_ = env.step(np.zeros(2))
    assert r == pytest.approx(0.0, abs=1e-9)
    # goal 2 (the last) pays every step
    _place_fingertip(env, goals[1])
    rewards = [env.step(np.zeros(2))[1] for _ in range(3)]
    assert all(r > 0.5 for r in rewards)


def test_reacher_boundary_resets_arm_keeps_goals():
    env = make("Reacher-1", K=2, T=10)
    obs, info = env.reset(seed=1)
    task = info["task"]
    for _ in range(10):
        obs, r, term, trunc, info = env.step(np.ones(2))
    assert info["boundary"] and info["sub_episode"] == 1 and np.array_equal(info["task"], task)
    assert np.allclose(obs[:2], 0.0)  # velocities reset
    assert obs[-1] == pytest.approx(0.5)


def test_reacher_pixels():
    env = make("ReacherPixels", T=3)
    try:
        obs, _ = env.reset(seed=0)
    except ImportError as e:
        pytest.skip(str(e))
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8 and obs["image"].std() > 5
    assert env.get_wrapper_attr("K") == 2
    o1, _ = env.reset(seed=0, options={"task": np.array([[0.15, 0.0]])})
    o2, _ = env.reset(seed=0, options={"task": np.array([[-0.15, 0.0]])})
    assert np.array_equal(o1["image"], o2["image"])  # the goal is not drawn


def test_humanoid_dir_reward_and_fall():
    env = make("HumanoidDir")
    assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T")) == (2, 200)
    obs, info = env.reset(seed=0, options={"task": np.array([np.pi / 3])})
    base = env.unwrapped
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.uniform(-0.4, 0.4, 17)
        com_before = base.sim.data.xipos.copy()
        _, r, term, trunc, inf = env.step(a)
        u = np.array([np.cos(np.pi / 3), np.sin(np.pi / 3)])
        expected = 0.25 * u @ inf["velocity"] - 0.1 * np.sum(a.astype(np.float32) ** 2) + inf["reward_contact"] + 5.0
        assert r == pytest.approx(expected, rel=1e-5, abs=1e-6)
        assert -10.0 <= inf["reward_contact"] <= 0.0
    # a fall ends the sub-episode early and the meta-episode moves on
    steps, sub = 0, 0
    while sub == 0:
        _, r, term, trunc, inf = env.step(np.full(17, 0.4))
        steps += 1
        sub = inf["sub_episode"]
    assert steps < 200 and inf["boundary"] and not (term or trunc)
    assert inf["sub_episode_returns"][0] != 0.0


def test_humanoid_velocity_matches_centre_of_mass():
    env = make("HumanoidDir")
    env.reset(seed=2, options={"task": np.array([0.0])})
    sim = env.unwrapped.sim
    from gymnasium.envs.mujoco.humanoid_v5 import mass_center

    before = mass_center(sim.model, sim.data).copy()
    _, r, *_rest, info = env.step(np.zeros(17))
    after = mass_center(sim.model, sim.data)
    assert np.allclose(info["velocity"], (after - before) / sim.dt)


@pytest.mark.skipif(importlib.util.find_spec("panda_gym") is None,
                    reason="PandaReacher needs the [panda] extra (pip install -e .[panda]); panda_gym is not installed")
def test_panda_reacher():
    env = make("PandaReacher", T=5)
    assert env.get_wrapper_attr("K") == 3
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    obs, r, *_ = env.step(np.zeros(3))
    assert r in (0.0, 1.0)


def test_panda_without_extra_is_clear():
    if importlib.util.find_spec("panda_gym") is not None:
        pytest.skip("panda_gym is installed; this checks the message shown without it")
    with pytest.raises(ImportError, match=r"pip install -e \.\[panda\]"):
        make("PandaReacher")
