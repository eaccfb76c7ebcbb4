"""PointRobot and PointRobotWind: spec, determinism, batched == single, scripted reference."""
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env

from mamba_edu.envs import make, make_batched
from mamba_edu.envs.batched import VectorMetaEnv
from mamba_edu.envs.point_robot import (
    GOAL_RADIUS,
    BatchedPointRobot,
    BatchedPointRobotWind,
    PointRobotEnv,
    PointRobotWindEnv,
    goal_position,
    point_robot_reward,
)
from mamba_edu.references.point_robot import scripted_policy
from mamba_edu.rollout import evaluate

NAMES = ["PointRobot", "PointRobotWind"]


class RandomPolicy:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def reset(self, num_envs):
        pass

    def act(self, obs):
        return self.rng.uniform(-1, 1, (len(obs), 2))


def _run(env, seed, actions, options=None):
    obs, info = env.reset(seed=seed, options=options)
    out = [(obs, 0.0, False, False)]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs, r, term, trunc))
    return out, info


@pytest.mark.filterwarnings("ignore:.*(infinity|different from the unwrapped).*")
@pytest.mark.parametrize("name", NAMES)
def test_spaces_sizes_and_env_checker(name):
    env = make(name)
    assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T"), env.get_wrapper_attr("H")) == (3, 100, 300)
    base = env.unwrapped
    assert isinstance(base, PointRobotWindEnv if name.endswith("Wind") else PointRobotEnv)
    assert base.observation_space == gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    assert base.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert env.observation_space.shape == (4,)  # [x, y, previous reward, t/(K·T)]
    check_env(base, skip_render_check=True)
    check_env(env, skip_render_check=True)


def test_task_distribution_is_the_upper_semicircle():
    base = PointRobotEnv()
    tasks = np.array(base.sample_tasks(4000, seed=1))
    assert tasks.shape == (4000, 1)
    assert np.array_equal(tasks, np.array(base.sample_tasks(4000, seed=1)))
    assert not np.array_equal(tasks, np.array(base.sample_tasks(4000, seed=2)))
    theta = tasks[:, 0]
    assert theta.min() >= 0 and theta.max() <= np.pi
    assert abs(theta.mean() - np.pi / 2) < 0.05 and abs(theta.std() - np.pi / np.sqrt(12)) < 0.05
    g = goal_position(tasks)
    assert np.allclose(np.linalg.norm(g, axis=1), 1.0) and (g[:, 1] >= 0).all()
    with pytest.raises(ValueError, match="goal angle"):
        base.set_task(np.array([-0.1]))
    with pytest.raises(ValueError, match="goal angle"):
        base.set_task(np.array([1.0, 2.0]))


def test_reward_formula_at_hand_picked_states():
    g = np.array([0.0, 1.0])
    for y, expected in [(1.0, 1.0), (0.9, 0.9), (0.85, 0.85), (0.8, 0.8), (0.7999, 0.0), (0.0, 0.0)]:
        assert point_robot_reward(np.array([0.0, y]), g) == pytest.approx(expected, abs=1e-12)
    p = np.array([0.1, 0.95])
    assert point_robot_reward(p, g) == pytest.approx(1 - np.hypot(0.1, 0.05))
    # vectorised over leading dims
    pts = np.array([[0.0, 1.0], [0.0, 0.0], [0.1, 0.95]])
    assert np.allclose(point_robot_reward(pts, g), [1.0, 0.0, 1 - np.hypot(0.1, 0.05)])
    # through the env: goal straight up, walk up
    env = make("PointRobot")
    env.reset(seed=0, options={"task": np.array([np.pi / 2])})
    rewards = []
    for t in range(1, 11):
        obs, r, *_ = env.step(np.array([0.0, 1.0]))
        p = env.unwrapped._pos  # float64 state (0.1 added t times)
        d = np.hypot(p[0], p[1] - 1.0)
        assert obs[:2] == pytest.approx([0.0, 0.1 * t], abs=1e-6)
        assert r == pytest.approx(1 - d if d <= GOAL_RADIUS else 0.0, abs=1e-12)
        assert obs[2] == pytest.approx(r, abs=1e-6) and obs[3] == pytest.approx(t / 300)
        rewards.append(r)
    assert rewards[:7] == [0.0] * 7 and rewards[8] == pytest.approx(0.9) and rewards[9] == pytest.approx(1.0)


def test_actions_are_clipped_componentwise():
    env = make("PointRobot")
    env.reset(seed=0)
    obs, *_ = env.step(np.array([5.0, -0.5]))
    assert obs[:2] == pytest.approx([0.1, -0.05])
    obs, *_ = env.step(np.array([-3.0, -7.0]))
    assert obs[:2] == pytest.approx([0.0, -0.15])
    obs, *_ = env.step(np.array([1.0, 1.0], dtype=np.float32))  # a diagonal step is 0.1·√2 long
    assert obs[:2] == pytest.approx([0.1, -0.05])


@pytest.mark.parametrize("name", NAMES)
def test_wrong_action_shape_raises(name):
    env = make(name)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action shape \(3,\) does not match action space shape \(2,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        env.step(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([np.nan, 0.0]))
    benv = make_batched(name, 3)
    benv.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        benv.step(np.zeros((3, 3)))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_tasks_and_trajectories(name):
    acts = np.random.default_rng(0).uniform(-1.2, 1.2, (250, 2))
    a, ia = _run(make(name), 7, acts)
    b, ib = _run(make(name), 7, acts)
    c, ic = _run(make(name), 8, acts)
    assert np.array_equal(ia["task"], ib["task"]) and not np.array_equal(ia["task"], ic["task"])
    for x, y in zip(a, b):
        assert np.array_equal(x[0], y[0]) and x[1:] == y[1:]
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_wind_is_present_gaussian_and_seeded():
    task = {"task": np.array([1.0])}
    zero = np.zeros((100, 2))
    a, _ = _run(make("PointRobotWind"), 5, zero, task)
    b, _ = _run(make("PointRobotWind"), 5, zero, task)
    c, _ = _run(make("PointRobotWind"), 6, zero, task)
    pa = np.array([o[0][:2] for o in a])
    assert np.array_equal(pa, np.array([o[0][:2] for o in b]))
    assert not np.array_equal(pa, np.array([o[0][:2] for o in c]))
    steps = np.diff(pa[:100], axis=0) / 0.1  # the wind on a zero action, before clipping to [-1, 1]
    assert abs(steps.mean()) < 0.1 and 0.25 < steps.std() < 0.35
    # the noise is exactly 0.3·standard_normal(2) from the env's RNG, added before clipping
    env = PointRobotWindEnv()
    env.reset(seed=3, options=task)
    rng, _ = seeding.np_random(3)  # a seeded reset with a given task draws nothing before the wind
    obs, *_ = env.step(np.array([0.95, 0.0]))
    w = 0.3 * rng.standard_normal(2)
    assert np.allclose(obs, 0.1 * np.clip(np.array([0.95, 0.0]) + w, -1, 1), atol=1e-7)
    # without wind the same action is deterministic
    p, _ = _run(make("PointRobot"), 5, zero, task)
    assert all(np.array_equal(o[0][:2], [0.0, 0.0]) for o in p)


@pytest.mark.parametrize("name", NAMES)
def test_sub_episode_boundaries(name):
    env = make(name)
    obs, info = env.reset(seed=3)
    task = info["task"]
    assert obs.tolist() == [0.0, 0.0, 0.0, 0.0] and info["sub_episode"] == 0
    total = 0.0
    for t in range(1, 301):
        obs, r, term, trunc, info = env.step(np.array([0.7, 0.9]))
        total += r
        assert np.array_equal(info["task"], task) and not term
        assert obs[3] == pytest.approx(t / 300)
        if t % 100 == 0 and t < 300:
            assert info["boundary"] and info["sub_episode"] == t // 100 and not trunc
            assert obs[:2].tolist() == [0.0, 0.0]  # position reset, same task
            assert obs[2] == pytest.approx(r, abs=1e-6)  # the reward just received
        else:
            assert info["sub_episode"] == min((t) // 100, 2)
    assert trunc and info["boundary"]
    assert sum(info["sub_episode_returns"]) == pytest.approx(total)
    with pytest.raises(RuntimeError):
        env.step(np.zeros(2))


@pytest.mark.parametrize("name,seeds", [("PointRobot", [0, 1, 2, 3]), ("PointRobot", 100),
                                        ("PointRobotWind", [11, 12, 13, 14]), ("PointRobotWind", 200)])
def test_batched_equals_single_transition_for_transition(name, seeds):
    B = 4
    batched = make_batched(name, B)
    assert isinstance(batched, BatchedPointRobotWind if name.endswith("Wind") else BatchedPointRobot)
    seed_list = seeds if isinstance(seeds, list) else [seeds + i for i in range(B)]
    singles = [make(name) for _ in range(B)]
    ob, ib = batched.reset(seed=seeds)
    outs = [e.reset(seed=s) for e, s in zip(singles, seed_list)]
    assert np.array_equal(ob, np.stack([o for o, _ in outs]))
    assert all(np.array_equal(t, i["task"]) for t, (_, i) in zip(ib["task"], outs))
    rng = np.random.default_rng(1)
    for step in range(300):
        acts = rng.uniform(-1.5, 1.5, (B, 2)).astype(np.float32 if step % 2 else np.float64)
        ob, rb, tb, trb, info_b = batched.step(acts)
        for i, e in enumerate(singles):
            o, r, te, tr, info = e.step(acts[i])
            assert np.array_equal(o, ob[i]) and r == rb[i] and te == tb[i] and tr == trb[i], (step, i)
            assert info["sub_episode"] == info_b["sub_episode"][i] and info["boundary"] == info_b["boundary"]
    assert trb.all()
    assert np.array_equal(info_b["sub_episode_returns"][-1], info["sub_episode_returns"])


def test_batched_wind_stream_survives_an_early_reset():
    """Resetting a batch mid-meta-episode (no seed) continues each env's RNG like the single env."""
    B, seeds = 3, [4, 5, 6]
    batched = make_batched("PointRobotWind", B)
    _, info = batched.reset(seed=seeds)
    tasks = info["task"]
    singles = [make("PointRobotWind") for _ in range(B)]
    for e, s in zip(singles, seeds):
        e.reset(seed=s)
    acts = np.random.default_rng(2).uniform(-1, 1, (60, B, 2))
    for k in range(37):
        batched.step(acts[k])
        for i, e in enumerate(singles):
            e.step(acts[k, i])
    ob, _ = batched.reset(tasks=tasks)
    os_ = [e.reset(options={"task": t})[0] for e, t in zip(singles, tasks)]
    assert np.array_equal(ob, np.stack(os_))
    for k in range(37, 60):
        ob, rb, *_ = batched.step(acts[k])
        for i, e in enumerate(singles):
            o, r, *_ = e.step(acts[k, i])
            assert np.array_equal(o, ob[i]) and r == rb[i]


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip_continues_identically(name):
    env = make(name)
    env.reset(seed=9)
    for _ in range(120):
        env.step(np.array([0.3, 0.8]))
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(100):
        a = env.step(np.array([-0.2, 0.5]))
        b = clone.step(np.array([-0.2, 0.5]))
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
    batched = make_batched(name, 2)
    batched.reset(seed=1)
    batched.step(np.ones((2, 2)))
    bclone = pickle.loads(pickle.dumps(batched))
    for _ in range(5):
        x, y = batched.step(np.full((2, 2), 0.4)), bclone.step(np.full((2, 2), 0.4))
        assert np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])


def test_render_rgb_array():
    env = make("PointRobotWind", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8 and frame.min() < 255
    plain = make("PointRobot")
    plain.reset(seed=0)
    assert plain.render() is None
    with pytest.raises(ValueError, match="render_mode"):
        PointRobotEnv(render_mode="human")


def test_vector_and_native_batched_agree():
    native, vector = make_batched("PointRobotWind", 2), make_batched("PointRobotWind", 2, native=False)
    assert isinstance(vector, VectorMetaEnv)
    a, _ = native.reset(seed=3)
    b, _ = vector.reset(seed=3)
    assert np.array_equal(a, b)
    for k in range(150):
        act = np.full((2, 2), np.sin(k))
        x, y = native.step(act), vector.step(act)
        assert np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])


@pytest.mark.parametrize("name,threshold", [("PointRobot", 250.0), ("PointRobotWind", 235.0)])
def test_scripted_policy_is_clearly_good(name, threshold):
    scripted = evaluate(scripted_policy(name), name, n_tasks=50, seed=2024)
    rand = evaluate(RandomPolicy(), name, n_tasks=50, seed=2024)
    assert rand["return_mean"] < 10.0
    assert scripted["return_mean"] >= threshold
    first, *later = scripted["sub_episode_returns_mean"]
    assert len(later) == 2 and min(later) > first + 5  # it explores, then exploits what it learned
    assert min(later) > 85.0  # straight to the goal: ≥ 85 of the 100 steps on it


@pytest.mark.parametrize("name", NAMES)
def test_reference_dict_and_native_equals_vector_evaluation(name):
    import json

    from mamba_edu.references import reference

    ref = reference(name, n_tasks=20, seed=5)
    assert {"env", "return_mean", "return_std", "sub_episode_returns_mean", "exact", "bayes_optimal_return",
            "method"} <= set(ref)
    assert ref["env"] == name and ref["exact"] is False and ref["bayes_optimal_return"] is None
    json.dumps(ref)
    # the policy sees only observations, and the native batched env is the single env: same returns
    vec = evaluate(scripted_policy(name), name, n_tasks=20, seed=5, native=False)
    assert vec["return_mean"] == ref["return_mean"]
