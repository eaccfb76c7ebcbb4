"""Assignment 01_belief_update: Bayes' rule for beliefs, searching a Rooms room, exact BAMDP values.

Questions (notebook ``exercises/01_belief_update.ipynb``; book ``book/01_bamdp.ipynb``):

* ``belief_update`` — ``belief_update(problem, belief, state, action, reward, next_state)``,
  compared with hand-computed posteriors and with :func:`mamba_edu.theory.bamdp.belief_update`
  along random rollouts of three problems;
* ``rooms_search`` (behaviour) — the student's belief update drives the student's
  ``search_action(problem, state, belief)`` in a Rooms room (``rooms_problem(1)``); the return
  over the four goal corners must reach 95 % of the Bayes-optimal return of
  :func:`~mamba_edu.theory.bamdp.solve_bayes_optimal`;
* ``bayes_optimal_value`` — backward induction over (sub-episode, step, state, belief),
  compared with the MetaBandit's closed form H − (n − 1)/2 and with ``solve_bayes_optimal``.
"""
from __future__ import annotations

import functools

import numpy as np

from mamba_edu.exercises.feedback import Fail, expect, expect_close, fmt
from mamba_edu.exercises.questions import Case, Context, Question

ASSIGNMENT = "01_belief_update"
TITLE = "Beliefs and Bayes-optimal search"


@functools.lru_cache(maxsize=None)
def _problem(kind: str, *args):
    from mamba_edu.theory import problems

    return getattr(problems, kind)(*args)


@functools.lru_cache(maxsize=None)
def _solution(kind: str, *args):
    from mamba_edu.theory.bamdp import solve_bayes_optimal

    return solve_bayes_optimal(_problem(kind, *args))


def _forbidden_belief():
    from mamba_edu.theory import bamdp

    return [(bamdp.belief_update, "mamba_edu.theory.bamdp.belief_update"),
            (bamdp.belief_trajectory, "mamba_edu.theory.bamdp.belief_trajectory")]


def _forbidden_search():
    from mamba_edu.references import rooms
    from mamba_edu.theory import bamdp

    return _forbidden_belief() + [
        (bamdp.solve_bayes_optimal, "mamba_edu.theory.bamdp.solve_bayes_optimal"),
        (bamdp.BayesOptimalPolicy.__call__, "mamba_edu.theory.bamdp.BayesOptimalPolicy"),
        (bamdp.BayesOptimalSolution.action, "BayesOptimalSolution.action"),
        (rooms.RoomsScriptedPolicy.act, "mamba_edu.references.rooms.RoomsScriptedPolicy")]


def _forbidden_value():
    from mamba_edu.theory import bamdp

    return [(bamdp.solve_bayes_optimal, "mamba_edu.theory.bamdp.solve_bayes_optimal"),
            (bamdp.expectimax_over_histories, "mamba_edu.theory.bamdp.expectimax_over_histories"),
            (bamdp.brute_force_policy_search, "mamba_edu.theory.bamdp.brute_force_policy_search"),
            (bamdp.reachable_beliefs, "mamba_edu.theory.bamdp.reachable_beliefs")]


# ----- question 1: the belief update ------------------------------------------------------------
def _call_update(ctx: Context, fn, problem, belief, s, a, r, s2):
    out = ctx.call(fn, problem, np.array(belief, dtype=np.float64), int(s), int(a), float(r), int(s2),
                   what="belief_update")
    arr = np.asarray(out, dtype=np.float64) if out is not None else None
    if arr is not None and arr.shape == (problem.n_tasks,) and np.isfinite(arr).all() \
            and not np.isclose(arr.sum(), 1.0, atol=1e-6):
        raise Fail(f"belief_update: the posterior must sum to 1, yours sums to {fmt(float(arr.sum()))}: {fmt(arr)}",
                   "divide the unnormalised posterior b(θ)·P_θ(s', r | s, a) by its sum over θ")
    return out


def _belief_cases(ctx: Context, belief_update) -> list[Case]:
    hint = "posterior(θ) ∝ belief(θ) · P_θ(s', r | s, a); find the outcome with problem.outcome_index(...)"

    def rooms_step(reward: float, expected_fn):
        def run():
            p = _problem("rooms_problem", 1, 2, 10)
            s, s2 = p.state_index((0, 1, 0)), p.state_index((0, 0, 0))   # start -> top-left corner (action up)
            got = _call_update(ctx, belief_update, p, p.prior, s, 1, reward, s2)
            expect_close(f"posterior over the goal corners {list(p.task_labels)}", got, expected_fn(p), hint=hint)
        return run

    def miss(p):       # by hand: the visited corner is ruled out, the other three stay equally likely
        corner = np.array([lab[0] for lab in p.task_labels])
        return np.where(corner == 0, 0.0, 1.0) / 3.0

    def hit(p):        # by hand: the visited corner is the goal
        corner = np.array([lab[0] for lab in p.task_labels])
        return (corner == 0).astype(float)

    def uninformative():
        p = _problem("rooms_problem", 1, 2, 10)
        s = p.state_index((0, 1, 0))
        corner = np.array([lab[0] for lab in p.task_labels])
        b = np.where(corner == 0, 0.0, 1.0) / 3.0
        got = _call_update(ctx, belief_update, p, b, s, 0, -0.1, s)   # noop at the start: nothing learned
        expect_close("posterior after a step that cannot reveal the goal (it must equal the belief you were given)",
                     got, b, hint=hint)

    def bernoulli(belief_fn, arm: int, reward: float):
        def run():
            p = _problem("bernoulli_meta_bandit", (0.2, 0.8), 2, 1, 4)
            b = belief_fn(p)
            # by hand: the likelihood of the reward under each task is its arm's success probability (or 1 − it)
            lik = np.array([lab[arm] if reward == 1.0 else 1.0 - lab[arm] for lab in p.task_labels])
            got = _call_update(ctx, belief_update, p, b, 0, arm, reward, 0)
            expect_close(f"posterior over the tasks {list(p.task_labels)} from belief {fmt(b)} after arm {arm} "
                         f"paid {reward:g}", got, b * lik / (b * lik).sum(), hint=hint)
        return run

    def nonuniform(p):
        lik = np.array([lab[0] for lab in p.task_labels])
        return lik / lik.sum()

    def no_mutation():
        p = _problem("bernoulli_meta_bandit", (0.2, 0.8), 2, 1, 4)
        b = np.full(p.n_tasks, 1.0 / p.n_tasks)
        before = b.copy()
        ctx.call(belief_update, p, b, 0, 0, 1.0, 0, what="belief_update")
        expect(np.array_equal(b, before), f"belief_update changed the belief array it was given (from {fmt(before)} "
               f"to {fmt(b)}); compute the posterior in a new array", "e.g. posterior = belief * likelihood "
               "(not belief *= likelihood)")

    def rollouts(kind: str, *args):
        def run():
            from mamba_edu.theory.bamdp import belief_update as reference
            from mamba_edu.theory.bamdp import rollout, uniform_random_policy

            p = _problem(kind, *args)
            rng = np.random.default_rng(ctx.rng.integers(2**31))
            n_roll = 2 if ctx.quick else 4
            for _ in range(n_roll):
                task = int(rng.integers(p.n_tasks))
                ro = rollout(p, uniform_random_policy(p), task, rng)
                for i, tr in enumerate(ro.transitions):
                    before = ro.beliefs[i]
                    got = _call_update(ctx, belief_update, p, before, tr.state, tr.action, tr.reward, tr.next_state)
                    expected = reference(p, before, tr.state, tr.action, tr.reward, tr.next_state)
                    try:
                        expect_close("posterior", got, expected, atol=1e-8, hint=hint)
                    except Fail as f:
                        raise Fail(f"{p.name}, task {p.task_labels[task]}, step {i} (state {p.state_labels[tr.state]}, "
                                   f"action {tr.action}, reward {tr.reward:g}, next state "
                                   f"{p.state_labels[tr.next_state]}), belief before {fmt(before)}:\n{f.message}",
                                   hint) from None
        return run

    return [
        Case("Rooms room: stepping onto a corner that does not pay (by hand)", rooms_step(-0.1, miss)),
        Case("Rooms room: stepping onto the corner that pays (by hand)", rooms_step(1.0, hit)),
        Case("Rooms room: a step that cannot reveal anything leaves the belief unchanged", uninformative),
        Case("Bernoulli arms: arm 0 pays, from the uniform prior (by hand)",
             bernoulli(lambda p: p.prior.copy(), 0, 1.0)),
        Case("Bernoulli arms: arm 1 pays nothing, from a non-uniform belief (by hand)", bernoulli(nonuniform, 1, 0.0)),
        Case("the belief you are given is not modified", no_mutation),
        Case("random rollouts in the 3x3 goal grid agree with the package", rollouts("goal_search_grid", 3, 3, 2, 6)),
        Case("random rollouts in a Rooms room agree with the package", rollouts("rooms_problem", 1, 2, 10)),
        Case("random rollouts with Bernoulli arms agree with the package",
             rollouts("bernoulli_meta_bandit", (0.2, 0.8), 2, 1, 6)),
    ]


# ----- question 2: behaviour, searching a Rooms room ------------------------------------------------
def _run_search(problem, belief_update, search_action, task: int) -> tuple[float, np.ndarray, int | None]:
    """One meta-episode in ``task`` with the student's belief driving the student's search policy."""
    from mamba_edu.theory.bamdp import rollout

    memo = {"belief": problem.prior.copy(), "seen": 0, "first_diff": None}

    def policy(obs):
        for tr in obs.history[memo["seen"]:]:
            b = belief_update(problem, memo["belief"].copy(), tr.state, tr.action, tr.reward, tr.next_state)
            b = np.asarray(b, dtype=np.float64) if b is not None else None
            if b is None or b.shape != (problem.n_tasks,) or not np.isfinite(b).all():
                raise Fail(f"belief_update returned {fmt(b)} at step {len(obs.history)} of the meta-episode; it must "
                           f"return {problem.n_tasks} probabilities (see question belief_update)")
            memo["belief"] = b
        memo["seen"] = len(obs.history)
        if memo["first_diff"] is None and not np.allclose(memo["belief"], obs.belief, atol=1e-6):
            memo["first_diff"] = len(obs.history)
        a = search_action(problem, obs.state, memo["belief"].copy())
        try:
            ok = a is not None and not isinstance(a, bool) and int(a) == a and 0 <= int(a) < problem.n_actions
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise Fail(f"search_action returned {fmt(a)} in state {problem.state_labels[obs.state]} with belief "
                       f"{fmt(memo['belief'])}; it must return an action 0..{problem.n_actions - 1} "
                       f"(0 noop, 1 up, 2 right, 3 down, 4 left)")
        return int(a)

    ro = rollout(problem, policy, task, rng=0)
    return ro.total_return, ro.sub_episode_returns(problem.n_sub_episodes), memo["first_diff"]


def _search_cases(ctx: Context, belief_update, search_action) -> list[Case]:
    hint = ("search the corners that are still possible, nearest first, and once a single corner is left walk to it "
            "and stay there (noop) -- also in later sub-episodes, which start with the belief you ended with")

    def run_config(K: int, T: int):
        def run():
            p = _problem("rooms_problem", 1, K, T)
            per_task, per_sub, diffs = [], [], []
            for task in range(p.n_tasks):
                ret, subs, diff = ctx.call(_run_search, p, belief_update, search_action, task,
                                           what="your belief_update + search_action")
                per_task.append(ret)
                per_sub.append(subs)
                if diff is not None:
                    diffs.append((p.task_labels[task][0], diff))
            optimum = _solution("rooms_problem", 1, K, T).value
            value = float(np.mean(per_task))   # uniform prior, deterministic room: the exact expected return
            threshold = optimum - 0.05 * abs(optimum)
            if value < threshold - 1e-9:
                msg = (f"K = {K} sub-episodes of T = {T} steps: your mean return over the 4 goal corners is "
                       f"{value:.3f}, the Bayes-optimal return is {optimum:.3f} ({100 * value / optimum:.1f} %, "
                       f"need >= 95 %).\n per goal corner 0..3: {fmt(np.array(per_task))}; mean per sub-episode: "
                       f"{fmt(np.mean(per_sub, 0))}")
                if diffs:
                    msg += (f"\n your belief differed from the exact belief (goal corner {diffs[0][0]}, from step "
                            f"{diffs[0][1]} on): check question belief_update")
                raise Fail(msg, hint)
        return run

    return [Case("K = 2, T = 10: >= 95 % of the Bayes-optimal return", run_config(2, 10)),
            Case("K = 3, T = 6 (a tight budget): >= 95 % of the Bayes-optimal return", run_config(3, 6)),
            Case("K = 2, T = 100 (Rooms-1 as in the paper): >= 95 % of the Bayes-optimal return", run_config(2, 100))]


# ----- question 3: exact Bayes-optimal value -----------------------------------------------------
def _value_cases(ctx: Context, bayes_optimal_value) -> list[Case]:
    hint = ("V(k, t, s, b) = max_a Σ_outcomes P(outcome | s, a, b)·[r + V(k, t+1, s', b')], V at t = T is the value "
            "of the next sub-episode's start with the same belief, 0 after the last; memoise on (k, t, s, belief)")

    def value_of(p) -> float:
        out = ctx.call(bayes_optimal_value, p, what="bayes_optimal_value")
        try:
            return float(out)
        except (TypeError, ValueError):
            raise Fail(f"bayes_optimal_value must return a number, got {fmt(out)}") from None

    def bandit_by_hand(n: int, K: int, T: int):
        def run():
            p = _problem("meta_bandit", n, K, T)
            # by hand: pull untried arms until the paying one is found (expected (n − 1)/2 misses), then keep it
            expected = K * T - (n - 1) / 2
            got = value_of(p)
            expect_close(f"Bayes-optimal value of {p.name} with K = {K}, T = {T}", got, expected, atol=1e-6, hint=hint)
        return run

    def vs_package(kind: str, *args):
        def run():
            p = _problem(kind, *args)
            got = value_of(p)
            expected = _solution(kind, *args).value
            expect_close(f"Bayes-optimal value of {p.name} (K = {p.n_sub_episodes}, T = {p.steps_per_sub_episode})",
                         got, expected, atol=1e-6, hint=hint)
        return run

    return [
        Case("MetaBandit, 2 arms, K = 2, T = 3 (by hand: H − 1/2)", bandit_by_hand(2, 2, 3)),
        Case("MetaBandit, 3 arms, K = 2, T = 2 (by hand: H − 1)", bandit_by_hand(3, 2, 2)),
        Case("Bernoulli arms, K = 1, T = 3 (noisy evidence)", vs_package("bernoulli_meta_bandit", (0.2, 0.8), 2, 1, 3)),
        Case("2x2 goal grid, K = 2, T = 3", vs_package("goal_search_grid", 2, 2, 2, 3)),
        Case("Rooms room, K = 2, T = 6", vs_package("rooms_problem", 1, 2, 6)),
        Case("3x3 goal grid, K = 2, T = 4", vs_package("goal_search_grid", 3, 3, 2, 4)),
    ]


QUESTIONS = [
    Question("belief_update", ASSIGNMENT, "Bayes' rule for the belief", 2, ("belief_update",), _belief_cases,
             _forbidden_belief),
    Question("rooms_search", ASSIGNMENT, "behaviour: your belief drives a search of a Rooms room", 2,
             ("belief_update", "search_action"), _search_cases, _forbidden_search, behaviour=True),
    Question("bayes_optimal_value", ASSIGNMENT, "Bayes-optimal value by backward induction", 2,
             ("bayes_optimal_value",), _value_cases, _forbidden_value),
]
