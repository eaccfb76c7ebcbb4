"""Exact beliefs and Bayes-optimal planning (mamba_edu.theory.bamdp / .problems) against brute force,
closed forms and the Rooms-N reference DP."""
import itertools

import numpy as np
import pytest

from mamba_edu.envs.bandit import MetaBanditEnv
from mamba_edu.envs.rooms import RoomsEnv, RoomsLayout, rooms_step
from mamba_edu.references.rooms import bayes_optimal_return as rooms_reference_return
from mamba_edu.theory.bamdp import (
    BayesOptimalPolicy,
    FiniteMetaProblem,
    PolicyInput,
    Transition,
    belief_is_product,
    belief_trajectory,
    belief_update,
    brute_force_policy_search,
    estimate_policy_value,
    exact_policy_value,
    expectimax_over_histories,
    fixed_action_policy,
    myopic_policy,
    oracle_value,
    predictive_outcome_probs,
    regret,
    rollout,
    solve_bayes_optimal,
    subtask_marginals,
    uniform_random_policy,
)
from mamba_edu.theory.problems import (
    bernoulli_meta_bandit,
    goal_search_grid,
    meta_bandit,
    problem_from_model,
    rooms_problem,
)


def random_policy_rollout(problem, task, seed):
    return rollout(problem, uniform_random_policy(problem), task, np.random.default_rng(seed))


# ----- beliefs ----------------------------------------------------------------------------------------
def test_bernoulli_beliefs_equal_brute_force_bayes_from_counts():
    """Posterior ∝ prior · Π_arms p^successes (1 − p)^failures, computed from counts, not sequentially."""
    problem = bernoulli_meta_bandit((0.1, 0.5, 0.85), n_arms=2, n_sub_episodes=2, steps_per_sub_episode=6)
    probs = np.array(problem.task_labels)                       # (n_tasks, arms): success probability
    for seed in range(5):
        task = seed % problem.n_tasks
        ro = random_policy_rollout(problem, task, seed)
        assert ro.beliefs.shape == (problem.horizon + 1, problem.n_tasks)
        np.testing.assert_allclose(ro.beliefs.sum(1), 1.0, atol=1e-12)
        np.testing.assert_allclose(ro.beliefs[0], problem.prior)
        succ = np.zeros(2)
        fail = np.zeros(2)
        for i, tr in enumerate(ro.transitions):
            succ[tr.action] += tr.reward == 1.0
            fail[tr.action] += tr.reward == 0.0
            like = np.prod(probs ** succ * (1 - probs) ** fail, axis=1)
            brute = like / like.sum()
            np.testing.assert_allclose(ro.beliefs[i + 1], brute, atol=1e-12)
        # the sequential update of the recorded history gives the same trajectory
        np.testing.assert_allclose(belief_trajectory(problem, ro.transitions), ro.beliefs, atol=1e-12)


def test_goal_grid_belief_is_uniform_over_goals_consistent_with_the_history():
    problem = goal_search_grid(3, 3, n_sub_episodes=2, steps_per_sub_episode=6)
    cells = problem.state_labels
    for seed in range(6):
        task = seed % problem.n_tasks
        ro = random_policy_rollout(problem, task, 100 + seed)
        for i in range(len(ro.transitions) + 1):
            seen = ro.transitions[:i]
            consistent = np.array([all((r == 1.0) == (cells[tr.next_state] == goal) for tr in seen for r in [tr.reward])
                                   for goal in problem.task_labels])
            np.testing.assert_allclose(ro.beliefs[i], consistent / consistent.sum(), atol=1e-12)
        assert ro.beliefs[-1][task] > 0  # the true task is never ruled out


def test_rooms_beliefs_from_the_real_environment_match_brute_force():
    """A history recorded in RoomsEnv (random actions) → belief = uniform over configurations that
    replay to the same rewards under rooms_step; and it stays a product of per-room beliefs."""
    problem = rooms_problem(2, n_sub_episodes=2, steps_per_sub_episode=40)
    L = RoomsLayout(2)
    configs = np.array(problem.task_labels)
    rng = np.random.default_rng(3)
    for task in ([1, 2], [3, 0]):
        env = RoomsEnv(n_rooms=2)
        transitions = []
        for k in range(2):
            obs, _ = env.reset(seed=k, options={"task": np.array(task)})
            cell, progress = int(L.cell_from_obs(obs)), 0
            for t in range(40):
                # bias to the right so that the second room gets visited
                a = int(rng.choice(5, p=[0.1, 0.15, 0.45, 0.15, 0.15]))
                obs, r, *_ = env.step(a)
                ncell = int(L.cell_from_obs(obs))
                nprog = progress + int(r > 0 and progress < 1)
                s = problem.state_index((*(int(v) for v in L.xy(cell)), progress))
                s2 = problem.state_index((*(int(v) for v in L.xy(ncell)), nprog))
                transitions.append(Transition(k, t, s, a, r, s2))
                cell, progress = ncell, nprog
        beliefs = belief_trajectory(problem, transitions)
        for i in range(0, len(transitions) + 1, 7):
            consistent = []
            for cfg in configs:
                goals = L.goal_cells(cfg)[None]
                ok = True
                for tr in transitions[:i]:
                    c, p = problem.state_labels[tr.state][:2], problem.state_labels[tr.state][2]
                    _, _, r = rooms_step(L, np.array([L.cell(*c)]), np.array([p]), np.array([tr.action]), goals)
                    ok &= bool(np.isclose(r[0], tr.reward))
                consistent.append(ok)
            consistent = np.array(consistent, dtype=float)
            np.testing.assert_allclose(beliefs[i], consistent / consistent.sum(), atol=1e-12)
            assert belief_is_product(problem, beliefs[i])
            for m in subtask_marginals(problem, beliefs[i]):
                assert sum(m.values()) == pytest.approx(1.0)
        assert beliefs[-1][problem.task_index(tuple(task))] > 0


def test_belief_is_product_detects_a_correlated_belief():
    problem = rooms_problem(2, 1, 10)
    b = np.zeros(problem.n_tasks)
    b[problem.task_index((0, 0))] = b[problem.task_index((1, 1))] = 0.5
    assert not belief_is_product(problem, b)
    assert subtask_marginals(problem, b)[0] == {0: 0.5, 1: 0.5, 2: 0.0, 3: 0.0}
    assert belief_is_product(problem, problem.prior)


def test_belief_update_predictive_and_errors():
    problem = meta_bandit(3)
    b = belief_update(problem, problem.prior, 0, 1, 0.0, 0)        # arm 1 did not pay
    np.testing.assert_allclose(b, [0.5, 0.0, 0.5])
    np.testing.assert_allclose(predictive_outcome_probs(problem, b, 0, 0), [0.5, 0.5])  # outcomes: reward 0, 1
    b2 = belief_update(problem, b, 0, 2, 1.0, 0)
    np.testing.assert_allclose(b2, [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="probability 0 under the given belief"):
        belief_update(problem, b2, 0, 0, 1.0, 0)                   # arm 0 cannot pay any more
    with pytest.raises(ValueError, match="impossible under every task"):
        belief_update(problem, problem.prior, 0, 0, 0.5, 0)
    with pytest.raises(ValueError, match="action must lie in"):
        belief_update(problem, problem.prior, 0, 3, 1.0, 0)
    with pytest.raises(ValueError, match="sum"):
        belief_update(problem, np.array([0.5, 0.5, 0.5]), 0, 0, 1.0, 0)


# ----- Bayes-optimal values ---------------------------------------------------------------------------
TINY = [
    meta_bandit(2, 2, 2),
    meta_bandit(3, 1, 3),
    bernoulli_meta_bandit((0.2, 0.8), 2, 1, 3),
    bernoulli_meta_bandit((0.3, 0.9), 2, 2, 2),
    goal_search_grid(3, 1, 2, 2),
    goal_search_grid(2, 2, 2, 2),
    rooms_problem(1, 1, 3),
    rooms_problem(1, 2, 2),
]


@pytest.mark.parametrize("problem", TINY, ids=lambda p: f"{p.name}-K{p.n_sub_episodes}T{p.steps_per_sub_episode}")
def test_bayes_optimal_value_equals_brute_force(problem):
    value = solve_bayes_optimal(problem).value
    assert expectimax_over_histories(problem) == pytest.approx(value, abs=1e-10)
    best, n_policies = brute_force_policy_search(problem)
    assert best == pytest.approx(value, abs=1e-10)
    assert n_policies > problem.n_actions  # it really listed many policies


def test_brute_force_counts_policies_of_a_bandit_by_hand():
    # 2 arms, H = 3: a policy picks a0; the first reward r1 ∈ {0, 1} reveals the paying arm, so after
    # it every reward is determined and only one history continues per (a1, a2) choice.
    # Policies: 2 (a0) · [2 (a1) · 2 (a2)] per r1 branch, two branches → 2 · 4^2 = 32
    _, n = brute_force_policy_search(meta_bandit(2, 1, 3))
    assert n == 32
    # noisy rewards keep both outcomes possible at every pull: 2 · (2 · 2^2)^2 = 128 for H = 3
    _, n = brute_force_policy_search(bernoulli_meta_bandit((0.2, 0.8), 2, 1, 3))
    assert n == 128
    with pytest.raises(ValueError, match="max_policies"):
        brute_force_policy_search(goal_search_grid(2, 2, 2, 2), max_policies=1000)


@pytest.mark.parametrize("n_arms", [2, 3, 4])
def test_meta_bandit_matches_the_environment_closed_form(n_arms):
    problem = meta_bandit(n_arms)
    assert (problem.n_sub_episodes, problem.steps_per_sub_episode) == (MetaBanditEnv.K, MetaBanditEnv.T)
    value = solve_bayes_optimal(problem).value
    assert value == pytest.approx(MetaBanditEnv(n_arms=n_arms).bayes_optimal_return())
    assert value == pytest.approx(20 - (n_arms - 1) / 2)
    assert oracle_value(problem) == pytest.approx(20.0)


def test_meta_bandit_two_arms_is_19_5():
    assert solve_bayes_optimal(meta_bandit()).value == pytest.approx(19.5)


@pytest.mark.parametrize("n_rooms,K,T", [(1, 2, 100), (1, 1, 3), (1, 2, 5), (1, 3, 4), (2, 2, 19), (2, 1, 25)])
def test_agrees_with_the_rooms_reference_dp(n_rooms, K, T):
    ours = solve_bayes_optimal(rooms_problem(n_rooms, K, T)).value
    assert ours == pytest.approx(rooms_reference_return(n_rooms, K, T), abs=1e-9)


def test_rooms_one_is_195_6():
    assert solve_bayes_optimal(rooms_problem(1)).value == pytest.approx(195.6, abs=1e-9)


def test_values_are_the_max_of_q_values():
    problem = goal_search_grid(3, 2, 2, 4)
    sol = solve_bayes_optimal(problem)
    rng = np.random.default_rng(0)
    for _ in range(30):
        k, t = int(rng.integers(2)), int(rng.integers(4))
        s, i = int(rng.integers(problem.n_states)), int(rng.integers(sol.n_beliefs))
        q = sol.q_values(k, t, s, sol.beliefs[i])
        assert q.max() == pytest.approx(sol.values[k, t, s, i])
        assert q.argmax() == sol.actions[k, t, s, i]


# ----- policies and regret ----------------------------------------------------------------------------
@pytest.mark.parametrize("problem", [meta_bandit(3), bernoulli_meta_bandit(), goal_search_grid(), rooms_problem(1)],
                         ids=lambda p: p.name)
def test_bayes_optimal_policy_attains_the_value_and_bounds_others(problem):
    sol = solve_bayes_optimal(problem)
    report = regret(problem, BayesOptimalPolicy(sol), sol)
    assert report.exact and report.policy_value == pytest.approx(sol.value, abs=1e-9)
    assert report.regret == pytest.approx(0.0, abs=1e-9)
    for policy in (myopic_policy(problem), fixed_action_policy(problem, 0)):
        assert regret(problem, policy, sol).regret >= -1e-9
    assert oracle_value(problem) >= sol.value - 1e-9


def test_regret_closed_forms():
    bandit = meta_bandit()
    # always arm 0: pays 20 in half of the tasks, 0 in the other half
    assert regret(bandit, fixed_action_policy(bandit, 0)).regret == pytest.approx(19.5 - 10.0)
    grid = goal_search_grid()
    # myopic: steps onto unexplored neighbours while that pays in expectation, then idles (noop)
    rep = regret(grid, myopic_policy(grid))
    assert rep.regret > 1.0
    assert rep.bayes_optimal_value == pytest.approx(6.9125)


def test_exact_and_monte_carlo_values_agree_for_a_stochastic_policy():
    problem = bernoulli_meta_bandit((0.2, 0.8), 2, 1, 3)
    policy = uniform_random_policy(problem)
    exact = exact_policy_value(problem, policy)
    assert exact == pytest.approx(3 * 0.5)  # mean success probability 0.5 per pull
    mean, se = estimate_policy_value(problem, policy, n_rollouts=400, seed=1)
    assert abs(mean - exact) < 4 * se
    with pytest.raises(ValueError, match="max_nodes"):
        exact_policy_value(meta_bandit(), uniform_random_policy(meta_bandit()), max_nodes=1000)


def test_history_dependent_policy_and_rollout_record():
    problem = meta_bandit(2)

    def win_stay_lose_shift(obs: PolicyInput) -> int:
        if not obs.history:
            return 0
        last = obs.history[-1]
        return last.action if last.reward == 1.0 else 1 - last.action

    assert exact_policy_value(problem, win_stay_lose_shift) == pytest.approx(19.5)  # Bayes-optimal here
    ro = rollout(problem, win_stay_lose_shift, task=1)
    assert [tr.action for tr in ro.transitions[:3]] == [0, 1, 1]
    np.testing.assert_allclose(ro.beliefs[1], [0.0, 1.0])
    assert ro.total_return == 19.0
    np.testing.assert_allclose(ro.sub_episode_returns(4), [4, 5, 5, 5])
    with pytest.raises(ValueError, match="policy returned action"):
        rollout(problem, lambda obs: 7, task=0)


def test_problem_validation_messages():
    with pytest.raises(ValueError, match="n_arms must be an integer 2..16"):
        meta_bandit(1)
    with pytest.raises(ValueError, match="start must be a cell"):
        goal_search_grid(3, 3, start=(3, 0))
    with pytest.raises(ValueError, match="n_rooms must be an integer 1..2"):
        rooms_problem(3)
    with pytest.raises(ValueError, match="prior must be non-negative and sum to 1"):
        problem_from_model("bad", [0.5, 0.6], 1, 1, lambda task, s, a: [(1.0, 0, 0.0)], 0, 1, 1)
    with pytest.raises(ValueError, match="sum to 1 over outcomes"):
        problem_from_model("bad", [1.0], 1, 1, lambda task, s, a: [(0.5, 0, 0.0)], 0, 1, 1)
    with pytest.raises(ValueError, match="steps_per_sub_episode must be >= 1"):
        FiniteMetaProblem("bad", np.ones(1), np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1), int), np.zeros((1, 1, 1)),
                          0, 1, 0)
    with pytest.raises(ValueError, match="unknown task label"):
        meta_bandit().task_index(5)


def test_reachable_beliefs_of_rooms_one_are_the_nonempty_corner_sets():
    sol = solve_bayes_optimal(rooms_problem(1, 2, 20))
    supports = {tuple(np.flatnonzero(b > 0)) for b in sol.beliefs}
    expected = {s for r in range(1, 5) for s in itertools.combinations(range(4), r)}
    assert supports == expected
    for b in sol.beliefs:
        np.testing.assert_allclose(b[b > 0], 1.0 / (b > 0).sum())


def test_next_reward_prediction_needs_only_the_active_rooms_belief():
    """Local reconstruction (theory/04): in Rooms-2 the predictive distribution of the next outcome
    depends on the belief only through the marginal of the room being played (progress p)."""
    problem = rooms_problem(2, 2, 30)
    sol = solve_bayes_optimal(problem)
    configs = np.array(problem.task_labels)
    informative_elsewhere = 0
    for task in [(0, 3), (2, 1), (3, 3)]:
        ro = rollout(problem, BayesOptimalPolicy(sol), problem.task_index(task))
        for i, tr in enumerate(ro.transitions):
            b = ro.beliefs[i]
            active = problem.state_labels[tr.state][2]
            marginal = subtask_marginals(problem, b)[active]
            # keep the active room's marginal, forget the other room (back to its uniform prior)
            local = np.array([marginal[c[active]] for c in configs]) / 4.0
            informative_elsewhere += not np.allclose(local, b)
            for a in range(problem.n_actions):
                np.testing.assert_allclose(predictive_outcome_probs(problem, local, tr.state, a),
                                           predictive_outcome_probs(problem, b, tr.state, a), atol=1e-12)
    assert informative_elsewhere > 20  # the forgotten room was often known: the check is not vacuous
