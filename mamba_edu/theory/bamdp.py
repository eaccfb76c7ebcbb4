"""Exact beliefs and Bayes-optimal planning for small discrete meta-RL problems.

Paper Sec. 2.1: meta-RL is a POMDP whose hidden part is the task (the MDP's P and R). Carrying
the posterior over the task -- the *belief* -- alongside the state gives an ordinary MDP over
augmented states (s, b), the Bayes-adaptive MDP (BAMDP); a policy that is optimal there maximises
the expected meta-episode return J under the prior and is called *Bayes-optimal*. Appendix A.2
defines the regret of a policy as J of the Bayes-optimal policy minus its own J.

This module computes those objects exactly when everything is finite and small:

* :class:`FiniteMetaProblem` -- a prior over finitely many tasks, a shared finite state and action
  space, and for every task the probability of each *outcome* (next state, reward) of each
  (state, action); K sub-episodes of T steps, each starting in the same known state.
* :func:`belief_update` / :func:`belief_trajectory` -- Bayes' rule after each transition
  (a sub-episode reset carries no information and leaves the belief unchanged).
* :func:`solve_bayes_optimal` -- backward induction (finite-horizon value iteration) over the
  augmented states (sub-episode k, step t, state s, belief b). The reachable beliefs are found
  first by a breadth-first search from the prior, so the value table is exact, not a grid.
* :func:`rollout`, :func:`exact_policy_value`, :func:`estimate_policy_value`, :func:`regret` --
  the belief trajectory of any rollout and the regret of any (history-dependent, possibly
  stochastic) policy, exactly by enumerating outcomes or by Monte Carlo.
* :func:`expectimax_over_histories` and :func:`brute_force_policy_search` -- independent brute
  force (no belief normalisation, no merging of histories) used by the tests on tiny problems.
* :func:`subtask_marginals` and :func:`belief_is_product` -- for decomposable task
  distributions (paper Sec. 3.2, App. A.1): the exact belief stays a product of per-sub-task
  beliefs, which is what lets an agent reason about the current sub-task alone.

The concrete problems (meta-bandit, goal-search grid, Rooms-N rooms) are built in
:mod:`mamba_edu.theory.problems`. Derivations: ``theory/01_bamdp.md``; notebook:
``book/01_bamdp.ipynb``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

#: beliefs are compared after rounding to this many decimals (float noise from different update orders)
BELIEF_DECIMALS = 12


# ----- the problem ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FiniteMetaProblem:
    """A meta-RL problem with finitely many tasks, states, actions and outcomes.

    Outcome j of (state s, action a) is the pair (``outcome_next_state[s, a, j]``,
    ``outcome_reward[s, a, j]``); the pair is the same in every task, its probability
    ``outcome_probs[task, s, a, j]`` is what the task decides. Padding outcomes have probability 0
    in every task. The agent sees the state and the reward, never the task.

    A meta-episode is K sub-episodes of T steps; every sub-episode starts in ``start_state``
    (the same in every task, so a reset reveals nothing about the task).
    """

    name: str
    prior: np.ndarray               #: (n_tasks,) prior probability of each task
    outcome_probs: np.ndarray       #: (n_tasks, n_states, n_actions, n_outcomes)
    outcome_next_state: np.ndarray  #: (n_states, n_actions, n_outcomes) int
    outcome_reward: np.ndarray      #: (n_states, n_actions, n_outcomes) float
    start_state: int
    n_sub_episodes: int             #: K
    steps_per_sub_episode: int      #: T
    task_labels: tuple = ()         #: a readable label per task (e.g. the goal's (x, y))
    state_labels: tuple = ()        #: a readable label per state
    #: (n_tasks, n_subtasks) sub-task parameters of each task, for decomposable distributions
    task_factors: np.ndarray | None = None
    description: str = ""

    def __post_init__(self) -> None:
        prior = np.asarray(self.prior, dtype=np.float64)
        probs = np.asarray(self.outcome_probs, dtype=np.float64)
        nxt = np.asarray(self.outcome_next_state, dtype=np.int64)
        rew = np.asarray(self.outcome_reward, dtype=np.float64)
        if prior.ndim != 1 or len(prior) == 0:
            raise ValueError(f"{self.name}: prior must be a non-empty 1-d array, got shape {prior.shape}")
        if (prior < 0).any() or not np.isclose(prior.sum(), 1.0):
            raise ValueError(f"{self.name}: prior must be non-negative and sum to 1, got sum {prior.sum()}")
        if probs.ndim != 4 or probs.shape[0] != len(prior):
            raise ValueError(f"{self.name}: outcome_probs must have shape (n_tasks={len(prior)}, n_states, "
                             f"n_actions, n_outcomes), got {probs.shape}")
        if nxt.shape != probs.shape[1:] or rew.shape != probs.shape[1:]:
            raise ValueError(f"{self.name}: outcome_next_state and outcome_reward must have shape "
                             f"{probs.shape[1:]}, got {nxt.shape} and {rew.shape}")
        n_states = probs.shape[1]
        if (probs < 0).any() or not np.allclose(probs.sum(-1), 1.0):
            raise ValueError(f"{self.name}: outcome_probs must be non-negative and sum to 1 over outcomes")
        if nxt.min() < 0 or nxt.max() >= n_states:
            raise ValueError(f"{self.name}: outcome_next_state must lie in [0, {n_states}), "
                             f"got values in [{nxt.min()}, {nxt.max()}]")
        if not 0 <= int(self.start_state) < n_states:
            raise ValueError(f"{self.name}: start_state must lie in [0, {n_states}), got {self.start_state}")
        for label, v in (("n_sub_episodes", self.n_sub_episodes),
                         ("steps_per_sub_episode", self.steps_per_sub_episode)):
            if int(v) < 1:
                raise ValueError(f"{self.name}: {label} must be >= 1, got {v}")
        if self.task_factors is not None:
            f = np.asarray(self.task_factors)
            if f.ndim != 2 or f.shape[0] != len(prior):
                raise ValueError(f"{self.name}: task_factors must have shape (n_tasks={len(prior)}, n_subtasks), "
                                 f"got {f.shape}")
            object.__setattr__(self, "task_factors", f)
        for attr, arr in (("prior", prior), ("outcome_probs", probs), ("outcome_next_state", nxt),
                          ("outcome_reward", rew)):
            arr.setflags(write=False)
            object.__setattr__(self, attr, arr)

    # sizes -----------------------------------------------------------------------------------
    @property
    def n_tasks(self) -> int:
        return self.outcome_probs.shape[0]

    @property
    def n_states(self) -> int:
        return self.outcome_probs.shape[1]

    @property
    def n_actions(self) -> int:
        return self.outcome_probs.shape[2]

    @property
    def n_outcomes(self) -> int:
        return self.outcome_probs.shape[3]

    @property
    def horizon(self) -> int:
        """H = K · T, the meta-episode length."""
        return self.n_sub_episodes * self.steps_per_sub_episode

    def task_index(self, label: Any) -> int:
        """Index of the task whose label equals ``label``."""
        return _index_of(self.task_labels, label, "task", self.name)

    def state_index(self, label: Any) -> int:
        """Index of the state whose label equals ``label``."""
        return _index_of(self.state_labels, label, "state", self.name)

    def outcome_index(self, state: int, action: int, reward: float, next_state: int) -> int:
        """Index j of the outcome (next_state, reward) of (state, action); ValueError if no task allows it."""
        self._check_state_action(state, action)
        possible = self.outcome_probs[:, state, action].max(0) > 0
        match = (possible & (self.outcome_next_state[state, action] == next_state)
                 & np.isclose(self.outcome_reward[state, action], reward))
        hits = np.flatnonzero(match)
        if len(hits) == 0:
            raise ValueError(f"{self.name}: outcome (next_state={next_state}, reward={reward}) of "
                             f"(state={state}, action={action}) is impossible under every task")
        return int(hits[0])

    def _check_state_action(self, state: int, action: int) -> None:
        if not 0 <= int(state) < self.n_states:
            raise ValueError(f"{self.name}: state must lie in [0, {self.n_states}), got {state}")
        if not 0 <= int(action) < self.n_actions:
            raise ValueError(f"{self.name}: action must lie in [0, {self.n_actions}), got {action}")

    def check_belief(self, belief: np.ndarray) -> np.ndarray:
        b = np.asarray(belief, dtype=np.float64)
        if b.shape != (self.n_tasks,) or (b < 0).any() or not np.isclose(b.sum(), 1.0):
            raise ValueError(f"{self.name}: a belief must be {self.n_tasks} non-negative numbers summing to 1, "
                             f"got shape {b.shape}, sum {b.sum() if b.size else 0.0}")
        return b


def _index_of(labels: tuple, label: Any, what: str, name: str) -> int:
    for i, lab in enumerate(labels):
        if lab == label:
            return i
    raise ValueError(f"{name}: unknown {what} label {label!r}; valid labels: {list(labels)}")


class Transition(NamedTuple):
    """One step of a meta-episode: sub-episode k, step t in it, and what was seen."""

    sub_episode: int
    step: int
    state: int
    action: int
    reward: float
    next_state: int


# ----- beliefs ------------------------------------------------------------------------------------
def belief_update(problem: FiniteMetaProblem, belief: np.ndarray, state: int, action: int, reward: float,
                  next_state: int) -> np.ndarray:
    """Posterior over tasks after observing (state, action) → (reward, next_state) (Bayes' rule).

    b'(task) ∝ b(task) · P_task(next_state, reward | state, action). Raises ValueError if the
    observation has probability 0 under ``belief`` (it cannot have happened).
    """
    b = problem.check_belief(belief)
    j = problem.outcome_index(state, action, reward, next_state)
    joint = b * problem.outcome_probs[:, state, action, j]
    evidence = joint.sum()
    if evidence <= 0:
        raise ValueError(f"{problem.name}: outcome (next_state={next_state}, reward={reward}) of "
                         f"(state={state}, action={action}) has probability 0 under the given belief")
    return joint / evidence


def belief_trajectory(problem: FiniteMetaProblem, transitions: Sequence[Transition | tuple]) -> np.ndarray:
    """Beliefs before the first and after every transition: array (len(transitions) + 1, n_tasks).

    ``transitions`` may be :class:`Transition` tuples or plain (state, action, reward, next_state)
    tuples; sub-episode resets in between need no entry (they carry no information).
    """
    b = problem.prior.copy()
    out = [b]
    for tr in transitions:
        s, a, r, s2 = (tr.state, tr.action, tr.reward, tr.next_state) if isinstance(tr, Transition) else tr
        b = belief_update(problem, b, int(s), int(a), float(r), int(s2))
        out.append(b)
    return np.stack(out)


def predictive_outcome_probs(problem: FiniteMetaProblem, belief: np.ndarray, state: int, action: int) -> np.ndarray:
    """P(outcome j | history) = Σ_task b(task) · P_task(j | state, action), shape (n_outcomes,)."""
    b = problem.check_belief(belief)
    problem._check_state_action(state, action)
    return b @ problem.outcome_probs[:, state, action]


def subtask_marginals(problem: FiniteMetaProblem, belief: np.ndarray) -> list[dict[Any, float]]:
    """Marginal belief over each sub-task's parameter (needs ``problem.task_factors``).

    Entry i maps each value of sub-task i's parameter (e.g. the goal corner of room i) to its
    posterior probability.
    """
    if problem.task_factors is None:
        raise ValueError(f"{problem.name}: subtask_marginals needs a problem with task_factors "
                         f"(a decomposable task distribution)")
    b = problem.check_belief(belief)
    out = []
    for i in range(problem.task_factors.shape[1]):
        values, inverse = np.unique(problem.task_factors[:, i], return_inverse=True)
        mass = np.bincount(inverse, weights=b, minlength=len(values))
        out.append({v.item(): float(m) for v, m in zip(values, mass)})
    return out


def belief_is_product(problem: FiniteMetaProblem, belief: np.ndarray, atol: float = 1e-9) -> bool:
    """Whether the belief equals the product of its sub-task marginals (paper Sec. 3.2, App. A.1).

    Requires the tasks to be the full product of the sub-task parameter values (as in Rooms-N).
    """
    b = problem.check_belief(belief)
    marginals = subtask_marginals(problem, b)
    product = np.ones(problem.n_tasks)
    for i, m in enumerate(marginals):
        product *= np.array([m[v.item()] for v in problem.task_factors[:, i]])
    return bool(np.allclose(product, b, atol=atol))


def _belief_key(b: np.ndarray) -> bytes:
    return (np.round(b, BELIEF_DECIMALS) + 0.0).tobytes()


# ----- exact Bayes-optimal planning ---------------------------------------------------------------
@dataclass(eq=False)
class BayesOptimalSolution:
    """Output of :func:`solve_bayes_optimal`.

    ``values[k, t, s, i]`` is the Bayes-optimal expected return still to come at step t of
    sub-episode k in state s with belief ``beliefs[i]`` (t = T means "the sub-episode is over");
    ``actions[k, t, s, i]`` an optimal action there (lowest index among ties).
    """

    problem: FiniteMetaProblem
    value: float                  #: Bayes-optimal expected meta-episode return J(π_BO)
    beliefs: np.ndarray           #: (n_beliefs, n_tasks); beliefs[0] is the prior
    next_belief: np.ndarray       #: (n_beliefs, n_states, n_actions, n_outcomes) index of the posterior
    outcome_prob: np.ndarray      #: (n_beliefs, n_states, n_actions, n_outcomes) predictive probability
    values: np.ndarray            #: (K, T + 1, n_states, n_beliefs)
    actions: np.ndarray           #: (K, T, n_states, n_beliefs)
    _index: dict[bytes, int] = field(repr=False, default_factory=dict)

    @property
    def n_beliefs(self) -> int:
        return len(self.beliefs)

    def belief_index(self, belief: np.ndarray) -> int:
        """Row of ``beliefs`` equal to ``belief`` (ValueError if it is not a reachable belief)."""
        b = np.asarray(belief, dtype=np.float64)
        i = self._index.get(_belief_key(b))
        if i is not None:
            return i
        dist = np.abs(self.beliefs - b).sum(1)
        i = int(dist.argmin())
        if dist[i] > 1e-8:
            raise ValueError(f"{self.problem.name}: belief {np.round(b, 4)} is not reachable from the prior")
        return i

    def q_values(self, sub_episode: int, step: int, state: int, belief: np.ndarray) -> np.ndarray:
        """Q(k, t, s, b, a) for every action a, shape (n_actions,)."""
        p = self.problem
        i = self.belief_index(belief)
        k, t = int(sub_episode), int(step)
        if not (0 <= k < p.n_sub_episodes and 0 <= t < p.steps_per_sub_episode):
            raise ValueError(f"{p.name}: need 0 <= sub_episode < {p.n_sub_episodes} and "
                             f"0 <= step < {p.steps_per_sub_episode}, got {k}, {t}")
        v_next = self.values[k, t + 1]
        ns = p.outcome_next_state[state]
        cont = v_next[ns, self.next_belief[i, state]]
        return (self.outcome_prob[i, state] * (p.outcome_reward[state] + cont)).sum(-1)

    def action(self, sub_episode: int, step: int, state: int, belief: np.ndarray) -> int:
        return int(self.actions[sub_episode, step, state, self.belief_index(belief)])


def reachable_beliefs(problem: FiniteMetaProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[bytes, int]]:
    """All beliefs reachable from the prior, with the belief-transition table.

    Breadth-first search over beliefs: from each belief, every (state, action, outcome) with positive
    predictive probability gives a posterior (every state is tried, reachable or not, so the set
    may be a superset of what a real rollout meets -- harmless). The search stops when no new
    belief appears or after H − 1 updates (a belief first met after H updates only occurs at the
    end of the meta-episode, where nothing is decided; its own successors point back to itself).

    Returns (beliefs (n_b, n_tasks), next_belief (n_b, S, A, O) int, outcome_prob (n_b, S, A, O),
    key → index dict).
    """
    P = problem.outcome_probs
    beliefs = [problem.prior.copy()]
    index = {_belief_key(beliefs[0]): 0}
    next_rows: list[np.ndarray] = []
    prob_rows: list[np.ndarray] = []
    frontier = [0]
    depth = 0
    while frontier:
        depth += 1
        expand = depth <= problem.horizon - 1
        new_frontier: list[int] = []
        B = np.stack([beliefs[i] for i in frontier])                         # (m, n)
        joint = B[:, :, None, None, None] * P[None]                          # (m, n, S, A, O)
        evidence = joint.sum(1)                                              # (m, S, A, O)
        post = np.divide(joint, evidence[:, None], out=np.zeros_like(joint), where=evidence[:, None] > 0)
        post = np.moveaxis(post, 1, -1).reshape(-1, problem.n_tasks)         # (m·S·A·O, n)
        ok = evidence.reshape(-1) > 0
        post_ok = post[ok]
        rounded = np.round(post_ok, BELIEF_DECIMALS) + 0.0
        uniq, first_of, inverse = np.unique(rounded, axis=0, return_index=True, return_inverse=True)
        uniq_ids = np.empty(len(uniq), dtype=np.int64)
        for u in range(len(uniq)):
            key = uniq[u].tobytes()
            i = index.get(key)
            if i is None:
                i = len(beliefs)
                index[key] = i
                beliefs.append(post_ok[first_of[u]])
                if expand:
                    new_frontier.append(i)
            uniq_ids[u] = i
        # impossible outcomes (probability 0) point back to the belief they came from
        nb = np.broadcast_to(np.asarray(frontier)[:, None, None, None], evidence.shape).reshape(-1).copy()
        nb[ok] = uniq_ids[inverse.reshape(-1)]
        next_rows.append(nb.reshape(evidence.shape))
        prob_rows.append(evidence)
        frontier = new_frontier
    # beliefs never expanded (met last): self-loops, probability 0 -- never used with steps left
    n_expanded = sum(len(r) for r in next_rows)
    n_b = len(beliefs)
    shape = problem.outcome_probs.shape[1:]
    next_belief = np.empty((n_b, *shape), dtype=np.int64)
    outcome_prob = np.zeros((n_b, *shape))
    next_belief[:n_expanded] = np.concatenate(next_rows)
    outcome_prob[:n_expanded] = np.concatenate(prob_rows)
    next_belief[n_expanded:] = np.arange(n_expanded, n_b)[:, None, None, None]
    return np.stack(beliefs), next_belief, outcome_prob, index


def solve_bayes_optimal(problem: FiniteMetaProblem) -> BayesOptimalSolution:
    """Exact Bayes-optimal values and actions by backward induction over (k, t, s, b) (paper Sec. 2.1).

    Bellman equation of the BAMDP with sub-episode resets (``theory/01_bamdp.md``)::

        V_k,T(s, b)  = V_k+1,0(s_start, b)          (V_K,0 = 0: the meta-episode is over)
        V_k,t(s, b)  = max_a Σ_j P(j | s, a, b) · [ r_j + V_k,t+1(s'_j, b'_j) ]

    where P(j | s, a, b) = Σ_task b(task) P_task(j | s, a) and b'_j is Bayes' posterior.
    """
    beliefs, next_belief, outcome_prob, index = reachable_beliefs(problem)
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode
    S, n_b = problem.n_states, len(beliefs)
    ns = problem.outcome_next_state[None]                     # (1, S, A, O)
    reward = problem.outcome_reward[None]
    values = np.zeros((K, T + 1, S, n_b))
    actions = np.zeros((K, T, S, n_b), dtype=np.int16)
    after = np.zeros(n_b)                                     # value of starting sub-episode k + 1
    for k in reversed(range(K)):
        values[k, T] = after[None, :]
        for t in reversed(range(T)):
            v_next = values[k, t + 1]
            q = (outcome_prob * (reward + v_next[ns, next_belief])).sum(-1)   # (n_b, S, A)
            actions[k, t] = np.round(q, 9).argmax(-1).T       # ties (up to float noise): lowest action
            values[k, t] = q.max(-1).T
        after = values[k, 0, problem.start_state]
    return BayesOptimalSolution(problem, float(values[0, 0, problem.start_state, 0]), beliefs, next_belief,
                                outcome_prob, values, actions, index)


def oracle_value(problem: FiniteMetaProblem) -> float:
    """E_task[optimal return when the task is known]: an upper bound on any meta-RL policy's J.

    The gap to the Bayes-optimal value is the price of not knowing the task (of having to explore).
    """
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode
    P, ns, r = problem.outcome_probs, problem.outcome_next_state, problem.outcome_reward
    v = np.zeros((problem.n_tasks, problem.n_states))
    for _ in range(K):
        v_sub = np.broadcast_to(v[:, problem.start_state][:, None], v.shape).copy()
        for _t in range(T):
            v_sub = (P * (r[None] + v_sub[:, ns])).sum(-1).max(-1)
        v = v_sub
    return float(problem.prior @ v[:, problem.start_state])


# ----- policies, rollouts, regret -----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PolicyInput:
    """What a policy may use: the position in the meta-episode, the state, the whole history.

    ``belief`` is the exact posterior given ``history`` (a convenience for belief-based policies;
    a history-dependent policy may ignore it).
    """

    sub_episode: int
    step: int
    state: int
    belief: np.ndarray
    history: tuple[Transition, ...]


#: a policy maps a PolicyInput to an action, or to a probability vector over actions
Policy = Callable[[PolicyInput], "int | np.ndarray"]


def _action_distribution(problem: FiniteMetaProblem, out: Any) -> np.ndarray:
    arr = np.asarray(out)
    if arr.ndim == 0:
        a = int(arr)
        if not 0 <= a < problem.n_actions or a != arr:
            raise ValueError(f"{problem.name}: policy returned action {out!r}; valid: 0..{problem.n_actions - 1}")
        dist = np.zeros(problem.n_actions)
        dist[a] = 1.0
        return dist
    dist = arr.astype(np.float64)
    if dist.shape != (problem.n_actions,) or (dist < 0).any() or not np.isclose(dist.sum(), 1.0):
        raise ValueError(f"{problem.name}: a stochastic policy must return {problem.n_actions} probabilities "
                         f"summing to 1, got {out!r}")
    return dist


class BayesOptimalPolicy:
    """The greedy policy of a :class:`BayesOptimalSolution` (acts on the exact belief)."""

    def __init__(self, solution: BayesOptimalSolution) -> None:
        self.solution = solution

    def __call__(self, obs: PolicyInput) -> int:
        return self.solution.action(obs.sub_episode, obs.step, obs.state, obs.belief)


def myopic_policy(problem: FiniteMetaProblem) -> Policy:
    """Maximise the *immediate* expected reward under the current belief (lowest action among ties).

    It exploits what it believes but never explores for the sake of learning; its regret measures
    the value of deliberate exploration.
    """
    def policy(obs: PolicyInput) -> int:
        predictive = np.einsum("n,nao->ao", obs.belief, problem.outcome_probs[:, obs.state])
        expected = (predictive * problem.outcome_reward[obs.state]).sum(-1)
        return int(np.argmax(np.round(expected, 12)))
    return policy


def uniform_random_policy(problem: FiniteMetaProblem) -> Policy:
    """Every action with probability 1/|A| (a stochastic, memoryless policy)."""
    dist = np.full(problem.n_actions, 1.0 / problem.n_actions)
    return lambda obs: dist


def fixed_action_policy(problem: FiniteMetaProblem, action: int) -> Policy:
    """Always the same action (memoryless; e.g. always pull arm 0)."""
    if not 0 <= int(action) < problem.n_actions:
        raise ValueError(f"{problem.name}: action must lie in [0, {problem.n_actions}), got {action}")
    return lambda obs: int(action)


@dataclass(eq=False)
class Rollout:
    """One meta-episode: the task, its transitions and the belief before/after every step."""

    task: int
    transitions: list[Transition]
    beliefs: np.ndarray   #: (H + 1, n_tasks): beliefs[i] is the belief before step i; beliefs[H] after the last

    @property
    def total_return(self) -> float:
        return float(sum(tr.reward for tr in self.transitions))

    def sub_episode_returns(self, n_sub_episodes: int) -> np.ndarray:
        out = np.zeros(n_sub_episodes)
        for tr in self.transitions:
            out[tr.sub_episode] += tr.reward
        return out


def _sample_index(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Draw an index with probabilities ``probs`` (no random number used when one entry is 1)."""
    if probs.max() >= 1.0:
        return int(probs.argmax())
    return min(int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum(), side="right")), len(probs) - 1)


def rollout(problem: FiniteMetaProblem, policy: Policy, task: int,
            rng: np.random.Generator | int | None = None) -> Rollout:
    """Run ``policy`` for one meta-episode in ``task``, recording the exact belief at every step."""
    if not 0 <= int(task) < problem.n_tasks:
        raise ValueError(f"{problem.name}: task must lie in [0, {problem.n_tasks}), got {task}")
    rng = np.random.default_rng(rng)
    b = problem.prior.copy()
    history: list[Transition] = []
    beliefs = [b]
    for k in range(problem.n_sub_episodes):
        s = problem.start_state
        for t in range(problem.steps_per_sub_episode):
            dist = _action_distribution(problem, policy(PolicyInput(k, t, s, b, tuple(history))))
            a = _sample_index(dist, rng)
            j = _sample_index(problem.outcome_probs[task, s, a], rng)
            s2, r = int(problem.outcome_next_state[s, a, j]), float(problem.outcome_reward[s, a, j])
            joint = b * problem.outcome_probs[:, s, a, j]
            b = joint / joint.sum()
            history.append(Transition(k, t, s, a, r, s2))
            beliefs.append(b)
            s = s2
    return Rollout(int(task), history, np.stack(beliefs))


def exact_policy_value(problem: FiniteMetaProblem, policy: Policy, max_nodes: int = 200_000) -> float:
    """J(π) exactly: enumerate every task and every action/outcome branch of ``policy``.

    The number of branches grows with the policy's and the problem's randomness; past
    ``max_nodes`` a ValueError suggests :func:`estimate_policy_value` instead.
    """
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode
    total, nodes = 0.0, 0
    for task in np.flatnonzero(problem.prior > 0):
        # stack entries: (probability of the branch, k, t, state, belief, history, return so far)
        stack = [(float(problem.prior[task]), 0, 0, problem.start_state, problem.prior.copy(), (), 0.0)]
        while stack:
            p, k, t, s, b, hist, ret = stack.pop()
            if t == T:
                k, t, s = k + 1, 0, problem.start_state
            if k == K:
                total += p * ret
                continue
            dist = _action_distribution(problem, policy(PolicyInput(k, t, s, b, hist)))
            for a in np.flatnonzero(dist > 0):
                probs = problem.outcome_probs[task, s, a]
                for j in np.flatnonzero(probs > 0):
                    nodes += 1
                    if nodes > max_nodes:
                        raise ValueError(f"{problem.name}: exact evaluation needs more than max_nodes={max_nodes} "
                                         f"branches; use estimate_policy_value(...) (Monte Carlo) instead")
                    s2, r = int(problem.outcome_next_state[s, a, j]), float(problem.outcome_reward[s, a, j])
                    joint = b * problem.outcome_probs[:, s, a, j]
                    stack.append((p * dist[a] * probs[j], k, t + 1, s2, joint / joint.sum(),
                                  hist + (Transition(k, t, s, int(a), r, s2),), ret + r))
    return float(total)


def estimate_policy_value(problem: FiniteMetaProblem, policy: Policy, n_rollouts: int = 1000,
                          seed: int = 0) -> tuple[float, float]:
    """Monte Carlo J(π): (mean return, its standard error) over ``n_rollouts`` tasks drawn from the prior."""
    if int(n_rollouts) < 2:
        raise ValueError(f"n_rollouts must be >= 2, got {n_rollouts}")
    rng = np.random.default_rng(seed)
    tasks = rng.choice(problem.n_tasks, size=int(n_rollouts), p=problem.prior)
    returns = np.array([rollout(problem, policy, int(task), rng).total_return for task in tasks])
    return float(returns.mean()), float(returns.std(ddof=1) / np.sqrt(len(returns)))


@dataclass(frozen=True)
class RegretReport:
    """Regret R(π) = J(π_BO) − J(π) (paper App. A.2); ``stderr`` is 0 for an exact evaluation."""

    bayes_optimal_value: float
    policy_value: float
    regret: float
    stderr: float
    exact: bool


def regret(problem: FiniteMetaProblem, policy: Policy, solution: BayesOptimalSolution | None = None,
           n_rollouts: int | None = None, seed: int = 0) -> RegretReport:
    """Regret of ``policy``: exact (``n_rollouts=None``) or Monte Carlo over ``n_rollouts`` meta-episodes."""
    solution = solution or solve_bayes_optimal(problem)
    if n_rollouts is None:
        value, err = exact_policy_value(problem, policy), 0.0
    else:
        value, err = estimate_policy_value(problem, policy, n_rollouts, seed)
    return RegretReport(solution.value, value, solution.value - value, err, n_rollouts is None)


# ----- brute force (independent checks for tiny problems) -----------------------------------------
def _children(problem: FiniteMetaProblem, weights: np.ndarray, state: int, action: int):
    """(immediate expected reward mass, [(next state, reward, child weights)]) with unnormalised weights."""
    P = problem.outcome_probs[:, state, action]                   # (n_tasks, O)
    out = []
    immediate = 0.0
    for j in range(problem.n_outcomes):
        w = weights * P[:, j]
        mass = w.sum()
        if mass > 0:
            r = float(problem.outcome_reward[state, action, j])
            immediate += mass * r
            out.append((int(problem.outcome_next_state[state, action, j]), w))
    return immediate, out


def expectimax_over_histories(problem: FiniteMetaProblem, max_nodes: int = 2_000_000) -> float:
    """Bayes-optimal value by expectimax over raw histories.

    Each node is an observable history; it carries the *unnormalised* joint probabilities
    p(task) · p(history | task) -- no Bayes normalisation and no merging of histories that lead
    to the same belief. Exponential in H: for tiny problems only (ValueError past ``max_nodes``).
    """
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode
    count = [0]

    def value(k: int, t: int, s: int, w: np.ndarray) -> float:
        if t == T:
            k, t, s = k + 1, 0, problem.start_state
        if k == K:
            return 0.0
        count[0] += 1
        if count[0] > max_nodes:
            raise ValueError(f"{problem.name}: expectimax needs more than max_nodes={max_nodes} nodes")
        best = -np.inf
        for a in range(problem.n_actions):
            immediate, kids = _children(problem, w, s, a)
            best = max(best, immediate + sum(value(k, t + 1, s2, w2) for s2, w2 in kids))
        return best

    return value(0, 0, problem.start_state, problem.prior.copy())


def brute_force_policy_search(problem: FiniteMetaProblem, max_policies: int = 1_000_000) -> tuple[float, int]:
    """Best J over *all* deterministic history-dependent policies, listed one by one.

    A deterministic policy is one action per reachable observable history; its J is the sum
    over the histories it reaches of their (unnormalised) probability times reward. Every such
    policy's J is listed (as the Minkowski sum of its sub-trees' value sets), so this checks the
    Bellman equation's "max inside the expectation" against a literal search over policies.
    Returns (best value, number of policies). ValueError past ``max_policies``.
    """
    K, T = problem.n_sub_episodes, problem.steps_per_sub_episode

    def values(k: int, t: int, s: int, w: np.ndarray) -> np.ndarray:
        if t == T:
            k, t, s = k + 1, 0, problem.start_state
        if k == K:
            return np.zeros(1)
        per_action = []
        for a in range(problem.n_actions):
            immediate, kids = _children(problem, w, s, a)
            acc = np.array([immediate])
            for s2, w2 in kids:
                sub = values(k, t + 1, s2, w2)
                if acc.size * sub.size > max_policies:
                    raise ValueError(f"{problem.name}: more than max_policies={max_policies} deterministic policies")
                acc = (acc[:, None] + sub[None, :]).reshape(-1)
            per_action.append(acc)
        out = np.concatenate(per_action)
        if out.size > max_policies:
            raise ValueError(f"{problem.name}: more than max_policies={max_policies} deterministic policies")
        return out

    all_values = values(0, 0, problem.start_state, problem.prior.copy())
    return float(all_values.max()), int(all_values.size)


# ----- command line ---------------------------------------------------------------------------------
def main() -> None:  # pragma: no cover - command-line helper
    """``python -m mamba_edu.theory.bamdp``: Bayes-optimal, oracle and myopic values of the small problems."""
    import time

    from mamba_edu.theory.problems import bernoulli_meta_bandit, goal_search_grid, meta_bandit, rooms_problem

    print("| problem | K, T | tasks | reachable beliefs | Bayes-optimal J | oracle | myopic regret | solve time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for problem in (meta_bandit(2), meta_bandit(3), meta_bandit(4), bernoulli_meta_bandit(), goal_search_grid(),
                    rooms_problem(1), rooms_problem(2)):
        start = time.perf_counter()
        sol = solve_bayes_optimal(problem)
        seconds = time.perf_counter() - start
        myopic = regret(problem, myopic_policy(problem), sol).regret
        print(f"| {problem.name} | {problem.n_sub_episodes}, {problem.steps_per_sub_episode} | {problem.n_tasks} "
              f"| {sol.n_beliefs} | {sol.value:.4f} | {oracle_value(problem):.4f} | {myopic:.4f} | {seconds:.2f} s |")


if __name__ == "__main__":  # pragma: no cover
    main()
