"""Rooms-N: layout, rewards, sub-episode boundaries, batched == single, exact Bayes-optimal return."""
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mamba_edu.envs import make, make_batched
from mamba_edu.envs.rooms import BatchedRooms, RoomsEnv, RoomsLayout
from mamba_edu.references import reference as registry_reference
from mamba_edu.references import scripted_policy as registry_scripted_policy
from mamba_edu.references.rooms import (
    RoomsScriptedPolicy,
    all_tasks,
    bayes_optimal_return,
    best_corner_orders,
    brute_force_value,
    closed_form_return,
    enumerate_returns,
    reference,
    solve,
)
from mamba_edu.rollout import evaluate

NOOP, UP, RIGHT, DOWN, LEFT = range(5)


def _xy(L, obs):
    return tuple(int(v) for v in L.xy(L.cell_from_obs(np.asarray(obs)[:2])))


def _walk(env, actions):
    rewards, obs = [], None
    for a in actions:
        obs, r, *_ = env.step(a)
        rewards.append(round(r, 6))
    return obs, rewards


# ----- spaces, layout -------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*alternative render modes")
@pytest.mark.parametrize("n", [1, 3, 8])
def test_gymnasium_env_checker(n):
    check_env(RoomsEnv(n_rooms=n), skip_render_check=True)
    check_env(RoomsEnv(n_rooms=n, render_mode="rgb_array"))


def test_layout_one_and_three_rooms():
    L1, L3 = RoomsLayout(1), RoomsLayout(3)
    assert (L1.width, L1.height, int(L1.free.sum())) == (3, 3, 9) and L1.free.all()
    assert (L3.width, L3.height) == (3 * 3 + 3 * 2, 3)
    assert int(L3.free.sum()) == 3 * 9 + 2 * 3 == len(L3.free_cells)
    for x0 in (3, 9):  # corridors: middle row only
        assert L3.free[x0:x0 + 3, 1].all() and not L3.free[x0:x0 + 3, 0].any() and not L3.free[x0:x0 + 3, 2].any()
    for x0 in (0, 6, 12):  # rooms: full 3x3
        assert L3.free[x0:x0 + 3, :].all()
    assert tuple(L1.xy(L1.start)) == tuple(L3.xy(L3.start)) == (0, 1)
    assert [tuple(L1.xy(c)) for c in L1.corners[0]] == [(0, 0), (2, 0), (0, 2), (2, 2)]
    assert [tuple(L3.xy(c)) for c in L3.corners[1]] == [(6, 0), (8, 0), (6, 2), (8, 2)]
    assert [tuple(L3.xy(c)) for c in L3.corners[2]] == [(12, 0), (14, 0), (12, 2), (14, 2)]
    assert [tuple(L3.xy(g)) for g in L3.goal_cells(np.array([3, 0, 1]))] == [(2, 2), (6, 0), (14, 0)]
    # observations: (x, y) scaled to [-1, 1]
    env = RoomsEnv(n_rooms=3)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.tolist() == [-1.0, 0.0]
    assert L3.obs_table[L3.cell(14, 2)].tolist() == [1.0, 1.0]
    assert L1.obs_table[L1.cell(1, 0)].tolist() == [0.0, -1.0]
    assert env.observation_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    assert env.action_space == gym.spaces.Discrete(5) and (env.K, env.T) == (2, 100)


def test_n_rooms_out_of_range():
    for bad in (0, 9, -1, 2.5, "3"):
        with pytest.raises(ValueError, match="1..8"):
            RoomsEnv(n_rooms=bad)
    with pytest.raises(ValueError, match="1..8"):
        BatchedRooms(2, n_rooms=9)
    with pytest.raises(gym.error.Error):
        gym.make("mamba_edu/Rooms-9-v0")


def test_task_sampling_and_validation():
    env = RoomsEnv(n_rooms=4)
    tasks = env.sample_tasks(200, seed=3)
    assert all(t.shape == (4,) and t.dtype == np.int64 for t in tasks)
    assert [t.tolist() for t in tasks] == [t.tolist() for t in env.sample_tasks(200, seed=3)]
    counts = np.bincount(np.concatenate(tasks), minlength=4)
    assert counts.min() > 150  # roughly uniform over the 4 corners
    for bad in ([0, 1, 2], [0, 1, 2, 4], [0.0, 1.0, 2.0, 3.0]):
        with pytest.raises(ValueError, match="corner"):
            env.reset(options={"task": np.array(bad)})


# ----- dynamics and rewards ---------------------------------------------------------------------
def test_noop_and_blocked_moves():
    env = RoomsEnv(n_rooms=3)
    L = env.layout
    obs0, _ = env.reset(seed=0, options={"task": np.array([3, 3, 3])})
    obs, r = _walk(env, [NOOP])
    assert np.array_equal(obs, obs0) and r == [-0.1]
    obs, _ = _walk(env, [LEFT])  # wall (off the map) left of the start
    assert _xy(L, obs) == (0, 1)
    obs, _ = _walk(env, [UP, UP])  # second UP: top wall
    assert _xy(L, obs) == (0, 0)
    obs, _ = _walk(env, [DOWN, RIGHT, RIGHT, RIGHT])
    assert _xy(L, obs) == (3, 1)  # in the corridor
    for a in (UP, DOWN):  # corridor walls above and below
        obs, _ = _walk(env, [a])
        assert _xy(L, obs) == (3, 1)
    obs, _ = _walk(env, [RIGHT] * 20)  # to the right end of the map
    assert _xy(L, obs) == (14, 1)
    obs, _ = _walk(env, [DOWN, DOWN, RIGHT])
    assert _xy(L, obs) == (14, 2)


def test_rewards_in_order_once_and_last_every_step():
    env = RoomsEnv(n_rooms=3)
    env.reset(seed=0, options={"task": np.array([1, 2, 0])})  # goals (2,0), (6,2), (12,0)
    # room 2's goal before room 1's pays nothing
    _, r = _walk(env, [RIGHT] * 6 + [DOWN])
    assert r == [-0.1] * 7
    # room 3's goal before the others pays nothing either
    _, r = _walk(env, [UP] + [RIGHT] * 6 + [UP])
    assert r == [-0.1] * 8
    # goal 1: +1 once
    _, r = _walk(env, [DOWN] + [LEFT] * 10 + [UP])
    assert r == [-0.1] * 11 + [1.0]
    _, r = _walk(env, [NOOP, DOWN, UP])  # staying / returning: no second payment
    assert r == [-0.1] * 3
    # goal 2 (not last): +1 once
    _, r = _walk(env, [DOWN] + [RIGHT] * 4 + [DOWN])
    assert r == [-0.1] * 5 + [1.0]
    _, r = _walk(env, [NOOP, UP, DOWN])
    assert r == [-0.1] * 3
    # goal 3 (last): +1 on every step it is occupied, leaving it costs -0.1
    _, r = _walk(env, [UP] + [RIGHT] * 6 + [UP, NOOP, NOOP, RIGHT, LEFT, UP])
    assert r == [-0.1] * 7 + [1.0, 1.0, 1.0, -0.1, 1.0, 1.0]
    assert env.step(NOOP)[4]["goals_reached"] == 3


def test_sub_episode_boundary_resets_position_and_flags_keeps_goals():
    env = make("Rooms-2")
    L = env.unwrapped.layout
    obs, info = env.reset(seed=0, options={"task": np.array([0, 0])})
    _, r = _walk(env, [UP])  # goal 1 reached
    assert r == [1.0]
    for _ in range(98):
        obs, *_ = env.step(NOOP)
    obs, r, term, trunc, info = env.step(NOOP)  # step 100: boundary
    assert info["boundary"] and info["sub_episode"] == 1 and not (term or trunc)
    assert _xy(L, obs) == (0, 1) and obs[3] == pytest.approx(0.5)  # back at the start
    assert info["task"].tolist() == [0, 0]  # same goals
    _, r = _walk(env, [UP])  # flags reset: goal 1 pays again
    assert r == [1.0]
    assert env.unwrapped.get_task().tolist() == [0, 0]


def test_bad_actions():
    env = RoomsEnv(n_rooms=2)
    env.reset(seed=0)
    for bad, msg in [(5, "out of range"), (-1, "out of range"), (1.5, "single integer"),
                     (np.array([1, 2]), "single integer")]:
        with pytest.raises(ValueError, match=msg):
            env.step(bad)
    env.step(np.int64(2))  # numpy integers are fine
    benv = BatchedRooms(3, n_rooms=2)
    benv.reset(seed=0)
    with pytest.raises(ValueError):
        benv.step(np.array([0, 1, 5]))
    with pytest.raises(ValueError):
        benv.step(np.array([0, 1]))


# ----- batched == single ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 3, 8])
def test_batched_equals_single(n):
    B = 6
    seeds = [11 * n + i for i in range(B)]
    batched = BatchedRooms(B, n_rooms=n)
    singles = [make(f"Rooms-{n}") for _ in range(B)]
    policy = RoomsScriptedPolicy(n)  # mostly sensible actions, so goals get reached
    rng = np.random.default_rng(n)
    ob, info = batched.reset(seed=seeds)
    single_obs = [e.reset(seed=s) for e, s in zip(singles, seeds)]
    assert np.array_equal(ob, np.stack([o for o, _ in single_obs]))
    assert [t.tolist() for t in info["task"]] == [i["task"].tolist() for _, i in single_obs]
    policy.reset(B)
    total_goal_rewards = 0
    done = False
    while not done:
        acts = np.where(rng.random(B) < 0.3, rng.integers(0, 5, B), policy.act(ob))
        policy.prev_action = acts
        ob, rb, tb, trb, binfo = batched.step(acts)
        for i, e in enumerate(singles):
            o, r, te, tr, sinfo = e.step(acts[i])
            assert np.array_equal(o, ob[i]) and r == rb[i] and te == tb[i] and tr == trb[i]
            assert sinfo["sub_episode"] == binfo["sub_episode"][i]
            assert np.allclose(sinfo["sub_episode_returns"], binfo["sub_episode_returns"][i])
        total_goal_rewards += int((rb > 0).sum())
        done = trb.all()
    assert total_goal_rewards > 0


def test_make_batched_is_native():
    # speed is measured by benchmarks/batched_envs.py, not asserted in tests
    assert isinstance(make_batched("Rooms-4", 16), BatchedRooms)


def test_pickling():
    env = make("Rooms-3")
    env.reset(seed=4)
    env.step(RIGHT)
    clone = pickle.loads(pickle.dumps(env))
    for a in [DOWN, LEFT, NOOP, UP, UP, RIGHT]:
        o1, r1, *_ = env.step(a)
        o2, r2, *_ = clone.step(a)
        assert np.array_equal(o1, o2) and r1 == r2
    benv = BatchedRooms(4, n_rooms=3)
    benv.reset(seed=0)
    bclone = pickle.loads(pickle.dumps(benv))
    a = np.array([1, 2, 3, 4])
    assert np.array_equal(benv.step(a)[0], bclone.step(a)[0])
    pol = pickle.loads(pickle.dumps(RoomsScriptedPolicy(2)))
    assert pol.solution.value == pytest.approx(bayes_optimal_return(2))


def test_render_rgb_array():
    env = gym.make("mamba_edu/Rooms-3-v0", render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert img.dtype == np.uint8 and img.shape == (5 * 24, 17 * 24, 3)
    env.step(RIGHT)
    assert not np.array_equal(env.render(), img)  # the agent moved
    assert RoomsEnv(n_rooms=1).render() is None  # no render_mode
    with pytest.raises(ValueError):
        RoomsEnv(n_rooms=1, render_mode="human")


# ----- exact Bayes-optimal return ---------------------------------------------------------------
def test_best_corner_order_by_exhaustive_search():
    cost, orders = best_corner_orders(last_room=False)
    assert cost == 10.0 and (0, 2, 3, 1) in orders and (0, 1, 3, 2) in orders
    cost_last, orders_last = best_corner_orders(last_room=True)
    assert cost_last == 4.0 and all(o[0] in (0, 2) for o in orders_last)


@pytest.mark.parametrize("n,K,T", [(1, 2, 100), (2, 2, 100), (1, 2, 5), (2, 2, 12), (2, 2, 19), (2, 3, 11)])
def test_dp_agrees_with_brute_force_belief_value_iteration(n, K, T):
    assert bayes_optimal_return(n, K=K, T=T) == pytest.approx(brute_force_value(n, K=K, T=T), abs=1e-9)


def test_exact_values_table():
    values = [bayes_optimal_return(n) for n in range(1, 9)]
    for n, v in zip(range(1, 8), values):  # T never binds: the closed form 213.2 - 17.6 N
        assert v == pytest.approx(213.2 - 17.6 * n, abs=1e-9) == closed_form_return(n)
    # Rooms-8: the budget can bind; taking higher-variance corner orders gains 4.4 / 4^8
    assert values[7] == pytest.approx(72.4 + 4.4 / 4 ** 8, abs=1e-9)
    # the same effect, larger, where the brute force can check it
    assert bayes_optimal_return(2, T=19) == pytest.approx(16.06875, abs=1e-9)
    assert closed_form_return(2, T=19) == pytest.approx(16.0)


@pytest.mark.parametrize("n,K,T", [(1, 2, 100), (2, 2, 100), (3, 2, 100), (2, 2, 19), (2, 2, 12), (3, 2, 26),
                                   (2, 3, 11), (4, 2, 40)])
def test_scripted_policy_attains_dp_value_on_all_configurations(n, K, T):
    returns = enumerate_returns(n, K=K, T=T)
    assert len(returns) == 4 ** n
    assert returns.mean() == pytest.approx(bayes_optimal_return(n, K=K, T=T), abs=1e-9)


def test_scripted_policy_attains_dp_value_on_all_rooms8_configurations():
    returns = enumerate_returns(8)  # 65536 configurations, the case where T = 100 can bind
    assert returns.mean() == pytest.approx(72.4 + 4.4 / 4 ** 8, abs=1e-9)


@pytest.mark.parametrize("n", [5, 8])
def test_scripted_policy_on_sampled_tasks(n):
    res = evaluate(RoomsScriptedPolicy(n), f"Rooms-{n}", n_tasks=1000, seed=7)
    assert abs(res["return_mean"] - bayes_optimal_return(n)) < 4 * res["return_sem"] + 1e-9


def test_scripted_policy_sees_only_observations():
    # two tasks with the same first goal: identical behaviour until room 2 is explored
    pol = RoomsScriptedPolicy(2)
    env = BatchedRooms(2, n_rooms=2)
    obs, _ = env.reset(seed=0, tasks=[np.array([3, 0]), np.array([3, 3])])
    pol.reset(2)
    for _ in range(5):  # goal 1 at (2,2) is found at step 5 at the latest, same for both
        a = pol.act(obs)
        assert a[0] == a[1]
        obs, *_ = env.step(a)
    assert solve(2).actions.shape == (2, 100, RoomsLayout(2).n_cells, 2, 16)


def test_reference_dict():
    ref = reference("Rooms-2", n_tasks=200, seed=1)
    assert ref["exact"] is True and ref["bayes_optimal_return"] == pytest.approx(178.0)
    assert set(ref) >= {"env", "return_mean", "return_std", "sub_episode_returns_mean", "exact",
                        "bayes_optimal_return", "method"}
    assert abs(ref["return_mean"] - 178.0) < 4 * ref["return_sem"] + 1e-9
    via_registry = registry_reference("mamba_edu/Rooms-2-v0", n_tasks=200, seed=1)
    assert via_registry["return_mean"] == ref["return_mean"]
    assert isinstance(registry_scripted_policy("Rooms-3"), RoomsScriptedPolicy)
    assert len(all_tasks(3)) == 64
