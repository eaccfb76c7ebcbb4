"""benchmarks/rooms_progress.py counts the goals an agent collects in order in each Rooms-N sub-episode."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mamba_edu.envs import make_batched
from mamba_edu.references.rooms import RoomsScriptedPolicy
from mamba_edu.rollout import rollout

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import rooms_progress  # noqa: E402


def test_counts_by_hand():
    # K = 2, T = 4, one env: sub-episode 1 pays goals 1, 2, then goal 2 (the last of N = 2) twice more;
    # sub-episode 2 pays goal 1 only.
    rewards = np.array([1, -0.1, 1, 1, -0.1, 1, -0.1, -0.1])[:, None]
    sub = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])[:, None]
    got = rooms_progress.goals_collected(rewards, sub, n_goals=2, K=2)
    assert got.tolist() == [[2, 1]]
    steps = rooms_progress.first_last_goal_step(rewards, T=4, K=2, n_collected=got, n_goals=2)
    assert steps[0, 0] == 3 and np.isnan(steps[0, 1])


def test_bayes_optimal_collects_every_goal_and_walks_straight_later():
    env = make_batched("Rooms-3", 40)
    ro = rollout(RoomsScriptedPolicy(3), env, tasks=env.sample_tasks(40, 7), seed=7)
    got = rooms_progress.goals_collected(np.asarray(ro.rewards), np.asarray(ro.sub_episode), 3, env.K)
    assert (got == 3).all()
    steps = rooms_progress.first_last_goal_step(np.asarray(ro.rewards), env.T, env.K, got, 3)
    assert (steps[:, 1] <= steps[:, 0]).all() and (steps[:, 1] < steps[:, 0]).any()
    random_like = np.full_like(np.asarray(ro.rewards), -0.1)
    assert (rooms_progress.goals_collected(random_like, np.asarray(ro.sub_episode), 3, env.K) == 0).all()
