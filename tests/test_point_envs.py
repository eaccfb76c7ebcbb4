"""PointRobot, PointRobotWind and EscapeRoom: formulas, boundaries, batched == single (issue #2)."""
import numpy as np
import pytest

from mamba_edu.envs import make, make_batched
from mamba_edu.envs.escape_room import DOOR_ARC, EscapeRoomEnv, escape_room_move
from mamba_edu.envs.point_robot import PointRobotEnv, point_robot_reward
from mamba_edu.references import reference
from mamba_edu.rollout import evaluate


class RandomPolicy:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def reset(self, n):
        self.n = n

    def act(self, obs):
        return self.rng.uniform(-1, 1, (len(obs), 2))


def test_point_robot_reward_formula():
    goal = np.array([0.0, 1.0])
    assert point_robot_reward(np.array([0.0, 1.0]), goal) == pytest.approx(1.0)
    assert point_robot_reward(np.array([0.0, 0.85]), goal) == pytest.approx(0.85)
    assert point_robot_reward(np.array([0.0, 0.8]), goal) == pytest.approx(0.8)  # d = 0.2 is inside
    assert point_robot_reward(np.array([0.0, 0.79]), goal) == 0.0
    env = make("PointRobot")
    env.reset(seed=0, options={"task": np.array([np.pi / 2])})
    for _ in range(7):
        obs, r, *_ = env.step(np.array([0.0, 1.0]))
    assert obs[:2] == pytest.approx([0.0, 0.7]) and r == 0.0  # 0.3 from the goal
    obs, r, *_ = env.step(np.array([0.0, 0.5]))
    assert obs[1] == pytest.approx(0.75) and r == 0.0  # d = 0.25 > 0.2
    obs, r, *_ = env.step(np.array([0.0, 5.0]))  # clipped to 1
    assert obs[1] == pytest.approx(0.85) and r == pytest.approx(0.85)
    assert obs[2] == pytest.approx(0.85) and obs[3] == pytest.approx(9 / 300)  # prev reward, t/(K·T)


def test_point_robot_task_distribution_and_sizes():
    env = make("PointRobot")
    assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T")) == (3, 100)
    angles = np.array(env.unwrapped.sample_tasks(2000, seed=1))[:, 0]
    assert angles.min() >= 0 and angles.max() <= np.pi
    assert abs(angles.mean() - np.pi / 2) < 0.05
    with pytest.raises(ValueError, match="goal angle"):
        env.reset(options={"task": np.array([4.0])})


def test_sub_episode_boundary_resets_position_keeps_task():
    env = make("PointRobot")
    obs, info = env.reset(seed=3)
    task = info["task"]
    for t in range(100):
        obs, r, term, trunc, info = env.step(np.array([1.0, 1.0]))
    assert info["boundary"] and info["sub_episode"] == 1 and not (term or trunc)
    assert obs[:2].tolist() == [0.0, 0.0] and obs[3] == pytest.approx(100 / 300)
    assert np.array_equal(info["task"], task)


def test_wrong_action_shape_is_clear():
    env = make("PointRobot")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action shape \(3,\) does not match action space shape \(2,\)"):
        env.step(np.zeros(3))


def test_wind_is_seeded_noise():
    a = make("PointRobotWind")
    a.reset(seed=5)
    b = make("PointRobotWind")
    b.reset(seed=5)
    c = make("PointRobotWind")
    c.reset(seed=6, options={"task": a.unwrapped.get_task()})
    oa = [a.step(np.zeros(2))[0] for _ in range(20)]
    ob = [b.step(np.zeros(2))[0] for _ in range(20)]
    oc = [c.step(np.zeros(2))[0] for _ in range(20)]
    assert np.array_equal(oa, ob) and not np.array_equal(oa, oc)
    steps = np.diff(np.array(oa)[:, :2], axis=0) / 0.1
    assert 0.2 < steps.std() < 0.4  # N(0, 0.3²) noise on a zero action


def test_escape_room_wall_and_door():
    door = np.pi / 2
    # pushing out through the door exits
    p = escape_room_move(np.array([0.0, 0.95]), np.array([0.0, 1.0]), door)
    assert np.linalg.norm(p) > 1.0
    # pushing out elsewhere is blocked just inside, sliding towards the attempted position
    p = escape_room_move(np.array([0.95, 0.0]), np.array([1.0, 0.5]), door)
    assert np.linalg.norm(p) == pytest.approx(0.999)
    assert np.arctan2(p[1], p[0]) > 0
    # the door's half-width is π/16: just inside its edge passes, just outside does not
    edge = door + DOOR_ARC / 2
    inside_edge, outside_edge = edge - 0.02, edge + 0.02
    for ang, passes in [(inside_edge, True), (outside_edge, False)]:
        start = 0.95 * np.array([np.cos(ang), np.sin(ang)])
        p = escape_room_move(start, np.array([np.cos(ang), np.sin(ang)]), door)
        assert (np.linalg.norm(p) > 1.0) == passes
    # from outside, re-entry is blocked away from the door
    p = escape_room_move(np.array([1.05, 0.0]), np.array([-1.0, 0.0]), door)
    assert np.linalg.norm(p) == pytest.approx(1.001)
    env = make("EscapeRoom")
    env.reset(seed=0, options={"task": np.array([door])})
    env.unwrapped._pos = np.array([0.0, 0.95])
    _, r, *_ = env.step(np.array([0.0, 1.0]))
    assert r == 1.0
    _, r, *_ = env.step(np.array([0.0, 0.0]))
    assert r == 1.0  # reward on every step outside


def test_escape_room_starts_inside_and_sizes():
    env = make("EscapeRoom")
    assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T")) == (2, 60)
    radii = []
    for s in range(200):
        obs, _ = env.reset(seed=s)
        radii.append(np.linalg.norm(obs[:2]))
    assert max(radii) <= 1.0 and 0.4 < np.mean(radii) < 0.6  # radius ~ U(0, 1)


@pytest.mark.parametrize("name", ["PointRobot", "PointRobotWind", "EscapeRoom"])
def test_batched_equals_single(name):
    B = 4
    seeds = [11, 12, 13, 14]
    batched = make_batched(name, B)
    singles = [make(name) for _ in range(B)]
    ob, _ = batched.reset(seed=seeds)
    os_ = [e.reset(seed=s)[0] for e, s in zip(singles, seeds)]
    assert np.array_equal(ob, np.stack(os_))
    rng = np.random.default_rng(0)
    done = False
    while not done:
        acts = rng.uniform(-1.5, 1.5, (B, 2))
        ob, rb, tb, trb, ib = batched.step(acts)
        for i, e in enumerate(singles):
            o, r, te, tr, info = e.step(acts[i])
            assert np.array_equal(o, ob[i]) and r == rb[i] and te == tb[i] and tr == trb[i]
        done = trb.all()
    assert np.allclose(ib["sub_episode_returns"][-1], info["sub_episode_returns"])


@pytest.mark.parametrize("name,threshold", [("PointRobot", 220.0), ("PointRobotWind", 200.0), ("EscapeRoom", 60.0)])
def test_scripted_reference_beats_random(name, threshold):
    scripted = reference(name, n_tasks=100, seed=1)
    rand = evaluate(RandomPolicy(), name, n_tasks=100, seed=1)
    assert scripted["return_mean"] >= threshold > rand["return_mean"] + 20
    assert len(scripted["sub_episode_returns_mean"]) == (3 if "Point" in name else 2)
    # exploitation: later sub-episodes earn more than the first (the task was inferred)
    assert scripted["sub_episode_returns_mean"][-1] > scripted["sub_episode_returns_mean"][0]
