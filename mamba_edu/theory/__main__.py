"""``python -m mamba_edu.theory``: Bayes-optimal, oracle and myopic values of the small problems.

One row per problem of :mod:`mamba_edu.theory.problems`: the number of reachable beliefs, the
Bayes-optimal expected return J (paper Sec. 2.1), the oracle value (the task known), the regret of
the myopic policy (paper App. A.2) and the solve time -- the table of ``theory/01_bamdp.md``.
``python -m mamba_edu.theory.bamdp`` runs the same command.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from mamba_edu.theory.bayes_optimal import oracle_value, solve_bayes_optimal
from mamba_edu.theory.evaluation import regret
from mamba_edu.theory.finite_problem import FiniteMetaProblem
from mamba_edu.theory.policies import myopic_policy
from mamba_edu.theory.problems import bernoulli_meta_bandit, goal_search_grid, meta_bandit, rooms_problem


def small_problems() -> list[FiniteMetaProblem]:
    """The problems of the table, smallest first."""
    return [meta_bandit(2), meta_bandit(3), meta_bandit(4), bernoulli_meta_bandit(), goal_search_grid(),
            rooms_problem(1), rooms_problem(2)]


def table_row(problem: FiniteMetaProblem) -> str:
    """One Markdown row: solve ``problem`` exactly and compare with the oracle and the myopic policy."""
    start = time.perf_counter()
    sol = solve_bayes_optimal(problem)
    seconds = time.perf_counter() - start
    myopic = regret(problem, myopic_policy(problem), sol).regret
    return (f"| {problem.name} | {problem.n_sub_episodes}, {problem.steps_per_sub_episode} | {problem.n_tasks} "
            f"| {sol.n_beliefs} | {sol.value:.4f} | {oracle_value(problem):.4f} | {myopic:.4f} | {seconds:.2f} s |")


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - command-line helper
    """Print the table of Bayes-optimal, oracle and myopic values of the small problems."""
    argparse.ArgumentParser(prog="python -m mamba_edu.theory", description=main.__doc__).parse_args(argv)
    print("| problem | K, T | tasks | reachable beliefs | Bayes-optimal J | oracle | myopic regret | solve time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for problem in small_problems():
        print(table_row(problem))


if __name__ == "__main__":  # pragma: no cover
    main()
