"""Exact beliefs and Bayes-optimal planning for small discrete meta-RL problems.

Paper Sec. 2.1: meta-RL is a POMDP whose hidden part is the task (the MDP's P and R). Carrying
the posterior over the task -- the *belief* -- alongside the state gives an ordinary MDP over
augmented states (s, b), the Bayes-adaptive MDP (BAMDP); a policy that is optimal there maximises
the expected meta-episode return J under the prior and is called *Bayes-optimal*. Appendix A.2
defines the regret of a policy as J of the Bayes-optimal policy minus its own J.

This module is the one import for computing those objects exactly when everything is finite and
small; each concept lives in its own module, in the order a reader meets them:

* :mod:`~mamba_edu.theory.finite_problem` -- :class:`FiniteMetaProblem`: a prior over finitely
  many tasks, a shared finite state and action space, and for every task the probability of each
  *outcome* (next state, reward) of each (state, action); K sub-episodes of T steps, each starting
  in the same known state. :class:`Transition`: one step as the agent sees it.
* :mod:`~mamba_edu.theory.beliefs` -- :func:`belief_update` / :func:`belief_trajectory`: Bayes'
  rule after each transition (a sub-episode reset carries no information and leaves the belief
  unchanged); :func:`predictive_outcome_probs`; :func:`subtask_marginals` and
  :func:`belief_is_product` for decomposable task distributions (paper Sec. 3.2, App. A.1): the
  exact belief stays a product of per-sub-task beliefs, which is what lets an agent reason about
  the current sub-task alone.
* :mod:`~mamba_edu.theory.bayes_optimal` -- :func:`solve_bayes_optimal`: backward induction
  (finite-horizon value iteration) over the augmented states (sub-episode k, step t, state s,
  belief b). The reachable beliefs are found first by a breadth-first search from the prior
  (:func:`reachable_beliefs`), so the value table is exact, not a grid. :func:`oracle_value`: the
  upper bound of an agent that knows the task.
* :mod:`~mamba_edu.theory.policies` -- what a policy sees (:class:`PolicyInput`) and the
  reference policies (Bayes-optimal, myopic, uniform random, fixed action).
* :mod:`~mamba_edu.theory.rollouts` -- :func:`rollout`: the belief trajectory of any rollout.
* :mod:`~mamba_edu.theory.evaluation` -- :func:`exact_policy_value`,
  :func:`estimate_policy_value`, :func:`regret`: J and the regret of any (history-dependent,
  possibly stochastic) policy, exactly by enumerating outcomes or by Monte Carlo.
* :mod:`~mamba_edu.theory.brute_force` -- :func:`expectimax_over_histories` and
  :func:`brute_force_policy_search`: independent brute force (no belief normalisation, no merging
  of histories) used by the tests on tiny problems.

The concrete problems (meta-bandit, goal-search grid, Rooms-N rooms) are built in
:mod:`mamba_edu.theory.problems`. ``python -m mamba_edu.theory`` (or ``python -m
mamba_edu.theory.bamdp``) prints their Bayes-optimal, oracle and myopic values. Derivations:
``theory/01_bamdp.md``; notebook: ``book/01_bamdp.ipynb``.
"""
from __future__ import annotations

from mamba_edu.theory.bayes_optimal import BayesOptimalSolution, oracle_value, reachable_beliefs, solve_bayes_optimal
from mamba_edu.theory.beliefs import (
    BELIEF_DECIMALS,
    belief_is_product,
    belief_trajectory,
    belief_update,
    predictive_outcome_probs,
    subtask_marginals,
)
from mamba_edu.theory.brute_force import brute_force_policy_search, expectimax_over_histories
from mamba_edu.theory.evaluation import RegretReport, estimate_policy_value, exact_policy_value, regret
from mamba_edu.theory.finite_problem import FiniteMetaProblem, Transition
from mamba_edu.theory.policies import (
    BayesOptimalPolicy,
    Policy,
    PolicyInput,
    fixed_action_policy,
    myopic_policy,
    uniform_random_policy,
)
from mamba_edu.theory.rollouts import Rollout, rollout

__all__ = [
    "BELIEF_DECIMALS", "BayesOptimalPolicy", "BayesOptimalSolution", "FiniteMetaProblem", "Policy", "PolicyInput",
    "RegretReport", "Rollout", "Transition", "belief_is_product", "belief_trajectory", "belief_update",
    "brute_force_policy_search", "estimate_policy_value", "exact_policy_value", "expectimax_over_histories",
    "fixed_action_policy", "myopic_policy", "oracle_value", "predictive_outcome_probs", "reachable_beliefs",
    "regret", "rollout", "solve_bayes_optimal", "subtask_marginals", "uniform_random_policy",
]

if __name__ == "__main__":  # pragma: no cover - the command line lives in mamba_edu.theory.__main__
    from mamba_edu.theory.__main__ import main

    main()
