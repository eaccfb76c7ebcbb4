"""EscapeRoom: wall and door, starts, determinism, batched == single, scripted reference."""
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env

from mamba_edu.envs import make, make_batched
from mamba_edu.envs.escape_room import (
    DOOR_ARC,
    WALL_EPS,
    BatchedEscapeRoom,
    EscapeRoomEnv,
    escape_room_move,
    start_position,
)
from mamba_edu.references.escape_room import scripted_policy
from mamba_edu.rollout import evaluate

UP = np.pi / 2


class RandomPolicy:
    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def reset(self, num_envs):
        pass

    def act(self, obs):
        return self.rng.uniform(-1, 1, (len(obs), 2))


def _polar(angle, radius=1.0):
    return radius * np.array([np.cos(angle), np.sin(angle)])


def _env_at(pos, door=UP):
    """A wrapped EscapeRoom in task ``door`` with the robot moved to ``pos``."""
    env = make("EscapeRoom")
    env.reset(seed=0, options={"task": np.array([door])})
    env.unwrapped._pos = np.array(pos, dtype=np.float64)
    return env


@pytest.mark.filterwarnings("ignore:.*(infinity|different from the unwrapped).*")
def test_spaces_sizes_and_env_checker():
    env = make("EscapeRoom")
    assert (env.get_wrapper_attr("K"), env.get_wrapper_attr("T"), env.get_wrapper_attr("H")) == (2, 60, 120)
    base = env.unwrapped
    assert isinstance(base, EscapeRoomEnv)
    assert base.observation_space == gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    assert base.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert env.observation_space.shape == (4,)
    check_env(base, skip_render_check=True)
    check_env(env, skip_render_check=True)


def test_task_distribution_and_validation():
    base = EscapeRoomEnv()
    doors = np.array(base.sample_tasks(4000, seed=1))[:, 0]
    assert np.array_equal(doors, np.array(base.sample_tasks(4000, seed=1))[:, 0])
    assert doors.min() >= 0 and doors.max() <= np.pi and abs(doors.mean() - np.pi / 2) < 0.05
    with pytest.raises(ValueError, match="door angle"):
        base.set_task(np.array([3.5]))


def test_starts_are_random_inside_and_drawn_from_the_env_rng():
    env = make("EscapeRoom")
    radii, angles = [], []
    for s in range(300):
        obs, _ = env.reset(seed=s)
        radii.append(np.hypot(*obs[:2]))
        angles.append(np.arctan2(obs[1], obs[0]))
    radii, angles = np.array(radii), np.array(angles)
    assert radii.max() <= 1.0 and abs(radii.mean() - 0.5) < 0.06  # radius ~ U(0, 1)
    assert (angles < 0).mean() > 0.35  # angle ~ U(−π, π): the lower half too
    # exact draw order: the task's angle, then the start's angle, then its radius
    env.reset(seed=42)
    rng, _ = seeding.np_random(42)
    door = rng.uniform(0.0, np.pi)
    a, r = rng.uniform(-np.pi, np.pi), rng.uniform(0.0, 1.0)
    base = env.unwrapped
    assert base.get_task()[0] == door and np.array_equal(base._pos, [r * np.cos(a), r * np.sin(a)])
    # every sub-episode draws a new start (same task)
    obs, info = env.reset(seed=5)
    first_start, task = obs[:2].copy(), info["task"]
    for _ in range(60):
        obs, _, _, _, info = env.step(np.zeros(2))
    assert info["boundary"] and np.array_equal(info["task"], task)
    assert not np.array_equal(obs[:2], first_start) and np.hypot(*obs[:2]) <= 1.0
    assert obs[3] == pytest.approx(0.5)


def test_wall_blocks_outside_the_door():
    # pushing straight out at angle 0 (the door is at the top): stays just inside, on that ray
    p = escape_room_move(_polar(0.0, 0.95), np.array([1.0, 0.0]), UP)
    assert np.allclose(p, [1 - WALL_EPS, 0.0])
    # an oblique push slides along the wall towards the attempted position
    p = escape_room_move(_polar(0.3, 0.999), np.array([-0.3, 1.0]), UP)
    assert np.linalg.norm(p) == pytest.approx(1 - WALL_EPS) and np.arctan2(p[1], p[0]) > 0.3
    # through the env: no reward, position on the wall
    env = _env_at(_polar(-2.0, 0.95))
    obs, r, *_ = env.step(_polar(-2.0))
    assert r == 0.0 and np.hypot(*obs[:2]) == pytest.approx(1 - WALL_EPS, abs=1e-6)


def test_door_lets_the_robot_out_and_pays_every_step_outside():
    env = _env_at([0.0, 0.95])
    obs, r, *_ = env.step(np.array([0.0, 1.0]))
    assert obs[:2] == pytest.approx([0.0, 1.05]) and r == 1.0 and obs[2] == 1.0
    for a in ([0.0, 0.0], [1.0, 0.0], [1.0, 1.0]):  # free movement outside, reward 1 while ‖p‖ > 1
        obs, r, *_ = env.step(np.array(a))
        assert r == 1.0
    assert obs[:2] == pytest.approx([0.2, 1.15])
    # the door is an arc of length π/8 centred on the task angle: ±π/16 passes, beyond does not
    door = 1.0
    for offset, passes in [(0.0, True), (0.9 * DOOR_ARC / 2, True), (-0.9 * DOOR_ARC / 2, True),
                           (1.1 * DOOR_ARC / 2, False), (-1.1 * DOOR_ARC / 2, False), (np.pi, False)]:
        ang = door + offset
        p = escape_room_move(_polar(ang, 0.97), _polar(ang), door)
        assert (np.linalg.norm(p) > 1.0) == passes, offset
    # the test is on the point where the move crosses the wall, not on the start or end angle
    ang = door + DOOR_ARC / 2 + 0.03  # just beyond the door's edge, on the wall, moving along it into the door
    radial, tangent = _polar(ang), _polar(ang + np.pi / 2)
    p = escape_room_move(0.999 * radial, -tangent + 0.5 * radial, door)
    end = 0.999 * radial + 0.1 * np.clip(-tangent + 0.5 * radial, -1, 1)
    assert abs(np.arctan2(end[1], end[0]) - door) < DOOR_ARC / 2 and np.linalg.norm(end) > 1  # aims into the door
    assert np.linalg.norm(p) == pytest.approx(1 - WALL_EPS)  # but crosses the wall beyond the edge: blocked
    p = escape_room_move(_polar(1.0, 0.999), np.array([1.0, 1.0]), door)
    assert np.linalg.norm(p) > 1.0


def test_coming_back_in_only_through_the_door():
    door = UP
    # away from the door, re-entry is blocked just outside the wall
    p = escape_room_move(_polar(0.0, 1.05), np.array([-1.0, 0.0]), door)
    assert np.allclose(p, [1 + WALL_EPS, 0.0])
    env = _env_at(_polar(0.0, 1.05))
    _, r, *_ = env.step(np.array([-1.0, 0.0]))
    assert r == 1.0  # still outside
    # through the door it may come back in
    p = escape_room_move(_polar(door, 1.05), np.array([0.0, -1.0]), door)
    assert np.allclose(p, [0.0, 0.95])
    # inside → inside never touches the wall; a move that only clips the circle outside is free
    assert np.allclose(escape_room_move([0.5, 0.0], [1.0, 1.0], door), [0.6, 0.1])
    q = _polar(0.0, 1.001) + np.array([0.0, -0.05])
    assert np.allclose(escape_room_move(q, [0.0, 1.0], door), q + [0.0, 0.1])
    # vectorised: several rows, each with its own door
    pos = np.stack([_polar(0.0, 0.95), _polar(UP, 0.95), _polar(0.0, 0.5)])
    out = escape_room_move(pos, np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), np.array([UP, UP, 0.0]))
    assert np.allclose(out, [[1 - WALL_EPS, 0.0], [0.0, 1.05], [0.6, 0.0]])


def test_clipping_and_wrong_action_shape():
    env = _env_at([0.0, 0.0])
    obs, *_ = env.step(np.array([4.0, -0.25]))
    assert obs[:2] == pytest.approx([0.1, -0.025])
    with pytest.raises(ValueError, match=r"action shape \(2, 1\) does not match action space shape \(2,\)"):
        env.step(np.zeros((2, 1)))
    benv = make_batched("EscapeRoom", 2)
    benv.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        benv.step(np.zeros(2))


def test_same_seed_same_tasks_and_trajectories():
    acts = np.random.default_rng(0).uniform(-1, 1, (120, 2))

    def run(seed):
        env = make("EscapeRoom")
        obs, info = env.reset(seed=seed)
        out = [obs]
        for a in acts:
            out.append(env.step(a)[0])
        return info["task"], np.array(out)

    (ta, a), (tb, b), (tc, c) = run(3), run(3), run(4)
    assert np.array_equal(ta, tb) and np.array_equal(a, b)
    assert not np.array_equal(ta, tc) and not np.array_equal(a, c)


def _policy_actions(rng, obs, step):
    """Mixed actions that hit the wall, slide along it and leave: exercises every branch."""
    pos = obs[:, :2]
    out = pos / np.maximum(np.linalg.norm(pos, axis=1, keepdims=True), 1e-6)
    tangent = np.stack([-out[:, 1], out[:, 0]], 1)
    choice = [out * 1.5, tangent + 0.2 * out, rng.uniform(-1.5, 1.5, pos.shape), -out][step % 4]
    return choice


@pytest.mark.parametrize("seeds", [[0, 1, 2, 3, 4, 5], 77, [1000, 2000, 3000, 4000, 5000, 6000]])
def test_batched_equals_single_transition_for_transition(seeds):
    B = 6
    batched = make_batched("EscapeRoom", B)
    assert isinstance(batched, BatchedEscapeRoom)
    seed_list = seeds if isinstance(seeds, list) else [seeds + i for i in range(B)]
    singles = [make("EscapeRoom") for _ in range(B)]
    ob, ib = batched.reset(seed=seeds)
    outs = [e.reset(seed=s) for e, s in zip(singles, seed_list)]
    assert np.array_equal(ob, np.stack([o for o, _ in outs]))
    assert all(np.array_equal(t, i["task"]) for t, (_, i) in zip(ib["task"], outs))
    rng = np.random.default_rng(5)
    n_out, n_wall = 0, 0
    for step in range(120):
        acts = _policy_actions(rng, ob, step // 3)
        ob, rb, tb, trb, info_b = batched.step(acts)
        n_out += rb.sum()
        n_wall += np.isclose(np.linalg.norm(ob[:, :2], axis=1), 1 - WALL_EPS, atol=1e-6).sum()
        for i, e in enumerate(singles):
            o, r, te, tr, info = e.step(acts[i])
            assert np.array_equal(o, ob[i]) and r == rb[i] and te == tb[i] and tr == trb[i], (step, i)
            assert info["sub_episode"] == info_b["sub_episode"][i] and info["boundary"] == info_b["boundary"]
    assert trb.all() and n_wall > 20  # the wall was hit often (exits are covered by the scripted rollout)
    assert np.array_equal(info_b["sub_episode_returns"][-1], info["sub_episode_returns"])


def test_batched_given_tasks_and_scripted_rollout_match_single():
    """The scripted policy pushes along the wall at every step: the door test runs for many rows at once."""
    from mamba_edu.rollout import rollout

    tasks = EscapeRoomEnv().sample_tasks(5, seed=3)
    batched = make_batched("EscapeRoom", 5)
    ro = rollout(scripted_policy("EscapeRoom"), batched, tasks=tasks, seed=[10, 11, 12, 13, 14])
    for i in range(5):
        env = make("EscapeRoom")
        obs, _ = env.reset(seed=10 + i, options={"task": tasks[i]})
        assert np.array_equal(obs, ro.obs[0, i])
        for t in range(120):
            obs, r, *_ = env.step(ro.actions[t, i])
            assert np.array_equal(obs, ro.obs[t + 1, i]) and r == ro.rewards[t, i]


def test_pickle_round_trip_continues_identically():
    env = make("EscapeRoom")
    env.reset(seed=9)
    for _ in range(50):
        env.step(np.array([0.3, 0.8]))
    clone = pickle.loads(pickle.dumps(env))
    for k in range(70):  # crosses the sub-episode boundary: the new start comes from the pickled RNG
        a, b = env.step(np.array([np.cos(k), 1.0])), clone.step(np.array([np.cos(k), 1.0]))
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
    batched = make_batched("EscapeRoom", 3)
    batched.reset(seed=1)
    bclone = pickle.loads(pickle.dumps(batched))
    for k in range(70):
        x, y = batched.step(np.full((3, 2), np.sin(k))), bclone.step(np.full((3, 2), np.sin(k)))
        assert np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])


def test_render_rgb_array_and_start_helper():
    env = make("EscapeRoom", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8 and frame.min() < 255
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(1)
    assert np.array_equal(start_position(rng1), EscapeRoomEnv.sample_start(rng2))


def test_scripted_policy_is_clearly_good():
    scripted = evaluate(scripted_policy("EscapeRoom"), "EscapeRoom", n_tasks=50, seed=2024)
    rand = evaluate(RandomPolicy(), "EscapeRoom", n_tasks=50, seed=2024)
    assert rand["return_mean"] < 10.0
    assert scripted["return_mean"] >= 80.0
    first, second = scripted["sub_episode_returns_mean"]
    assert second > first + 5 and second > 45.0  # straight through the remembered door


def test_reference_dict_and_native_equals_vector_evaluation():
    import json

    from mamba_edu.references import reference

    ref = reference("EscapeRoom", n_tasks=20, seed=5)
    assert {"env", "return_mean", "return_std", "sub_episode_returns_mean", "exact", "bayes_optimal_return",
            "method"} <= set(ref)
    assert ref["exact"] is False and ref["bayes_optimal_return"] is None
    json.dumps(ref)
    vec = evaluate(scripted_policy("EscapeRoom"), "EscapeRoom", n_tasks=20, seed=5, native=False)
    assert vec["return_mean"] == ref["return_mean"]
