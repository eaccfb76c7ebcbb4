"""Exact Bayes-optimal planning in the Bayes-adaptive MDP (paper Sec. 2.1).

:func:`solve_bayes_optimal` runs backward induction (finite-horizon value iteration) over the
augmented states (sub-episode k, step t, state s, belief b). The reachable beliefs are found first by
a breadth-first search from the prior (:func:`reachable_beliefs`), so the value table is exact, not a
grid. :func:`oracle_value` is the upper bound of an agent that knows the task; the gap between the
two is the price of having to explore. Derivations: ``theory/01_bamdp.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mamba_edu.theory.beliefs import BELIEF_DECIMALS, belief_key
from mamba_edu.theory.finite_problem import FiniteMetaProblem


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
        i = self._index.get(belief_key(b))
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
    index = {belief_key(beliefs[0]): 0}
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
