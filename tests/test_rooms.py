"""Rooms-N: layout, rewards, boundaries, batched == single, exact Bayes-optimal return (issue #2)."""
import numpy as np
import pytest

from mamba_edu.envs import make, make_batched
from mamba_edu.envs.rooms import RoomsEnv, RoomsLayout
from mamba_edu.references.rooms import (
    RoomsScriptedPolicy,
    belief_value_iteration,
    bayes_optimal_return,
    enumerate_returns,
    is_provably_optimal,
)
from mamba_edu.rollout import evaluate

NOOP, UP, RIGHT, DOWN, LEFT = range(5)


def test_layout():
    L1, L3 = RoomsLayout(1), RoomsLayout(3)
    assert (L1.width, L1.height, int(L1.free.sum())) == (3, 3, 9)
    assert (L3.width, int(L3.free.sum())) == (15, 3 * 9 + 2 * 3)
    assert L3.free[3:6, 1].all() and not L3.free[3:6, 0].any() and not L3.free[3:6, 2].any()
    assert tuple(L3.xy(L3.start)) == (0, 1)
    assert [tuple(L3.xy(c)) for c in L3.corner_cell(1, np.arange(4))] == [(6, 0), (8, 0), (6, 2), (8, 2)]
    with pytest.raises(ValueError, match="1..8"):
        RoomsEnv(n_rooms=9)
    with pytest.raises(ValueError, match="1..8"):
        RoomsEnv(n_rooms=0)


def _walk(env, actions):
    rewards = []
    for a in actions:
        obs, r, *_ = env.step(a)
        rewards.append(r)
    return obs, rewards


def test_rewards_in_order_once_and_last_every_step():
    env = make("Rooms-2")
    env.reset(seed=0, options={"task": np.array([1, 2])})  # room 1: top-right (2,0); room 2: bottom-left (6,2)
    # visiting room 2's goal first pays nothing
    obs, r = _walk(env, [RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, DOWN])
    assert r == [-0.1] * 7
    # back to room 1's goal: +1 once
    obs, r = _walk(env, [UP, LEFT, LEFT, LEFT, LEFT, UP])
    assert r[-1] == 1.0 and r[:-1] == [-0.1] * 5
    obs, r = _walk(env, [NOOP, DOWN, UP])
    assert r == [-0.1, -0.1, -0.1]  # goal 1 does not pay again in this sub-episode
    # now goal 2 (the last) pays on every step it is occupied
    obs, r = _walk(env, [DOWN, RIGHT, RIGHT, RIGHT, RIGHT, DOWN, NOOP, NOOP, UP, DOWN])
    assert r == [-0.1] * 5 + [1.0, 1.0, 1.0, -0.1, 1.0]
    assert obs[:2].tolist() == [pytest.approx(2 * 6 / 8 - 1), 1.0]


def test_blocked_moves_and_noop():
    env = make("Rooms-1")
    obs0, _ = env.reset(seed=0, options={"task": np.array([3])})
    obs, _ = _walk(env, [LEFT])
    assert np.array_equal(obs[:2], obs0[:2])  # wall on the left of the start
    obs, _ = _walk(env, [UP, UP])
    assert obs[:2].tolist() == [-1.0, -1.0]  # top-left corner, second UP blocked
    obs2, _ = _walk(env, [NOOP])
    assert np.array_equal(obs2[:2], obs[:2])
    env3 = make("Rooms-3")
    env3.reset(seed=0, options={"task": np.array([0, 0, 0])})
    obs, _ = _walk(env3, [RIGHT, RIGHT, RIGHT, UP])  # in the corridor, up is a wall
    assert obs[:2].tolist() == [pytest.approx(2 * 3 / 14 - 1), 0.0]


def test_sub_episode_boundary_keeps_goals_resets_agent_and_flags():
    env = make("Rooms-1")
    obs, info = env.reset(seed=0, options={"task": np.array([0])})
    _walk(env, [UP])  # goal reached
    for _ in range(99):
        obs, r, term, trunc, info = env.step(NOOP)
    assert info["boundary"] and info["sub_episode"] == 1
    assert obs[:2].tolist() == [-1.0, 0.0] and obs[3] == pytest.approx(0.5)
    assert info["task"].tolist() == [0]
    obs, r, *_ = env.step(UP)
    assert r == 1.0  # flags reset: the goal pays again in the new sub-episode


def test_batched_equals_single():
    for n, seeds in [(1, [1, 2, 3]), (4, [7, 8, 9])]:
        batched = make_batched(f"Rooms-{n}", 3)
        singles = [make(f"Rooms-{n}") for _ in range(3)]
        ob, _ = batched.reset(seed=seeds)
        assert np.array_equal(ob, np.stack([e.reset(seed=s)[0] for e, s in zip(singles, seeds)]))
        rng = np.random.default_rng(n)
        done = False
        while not done:
            acts = rng.integers(0, 5, 3)
            ob, rb, tb, trb, _ = batched.step(acts)
            for i, e in enumerate(singles):
                o, r, te, tr, _ = e.step(acts[i])
                assert np.array_equal(o, ob[i]) and r == rb[i] and tr == trb[i]
            done = trb.all()


def test_bad_actions():
    env = make("Rooms-2")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(5)
    with pytest.raises(ValueError, match="single integer"):
        env.step(1.5)


def test_scripted_policy_is_bayes_optimal_for_one_room():
    # brute-force value iteration over the whole belief MDP agrees with the scripted policy
    assert belief_value_iteration(1) == pytest.approx(bayes_optimal_return(1), abs=1e-9)


@pytest.mark.slow
def test_scripted_policy_is_bayes_optimal_for_two_rooms():
    assert belief_value_iteration(2) == pytest.approx(bayes_optimal_return(2), abs=1e-9)


def test_exact_values_and_sampled_agreement():
    values = [bayes_optimal_return(n) for n in range(1, 8)]
    assert values == sorted(values, reverse=True)
    assert all(is_provably_optimal(n) for n in range(1, 8)) and not is_provably_optimal(8)
    for n in (2, 5):
        exact = bayes_optimal_return(n)
        sampled = evaluate(RoomsScriptedPolicy(n), f"Rooms-{n}", n_tasks=400, seed=3)
        assert abs(sampled["return_mean"] - exact) < 4 * sampled["return_sem"] + 1e-9
    # every single configuration: the policy finds all goals (sub-episode 2 never explores)
    returns = enumerate_returns(3)
    assert len(returns) == 64 and returns.min() > 145


def test_render():
    import gymnasium as gym

    env = gym.make("mamba_edu/Rooms-3-v0", render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.shape[1] > img.shape[0]
