"""Small discrete meta-RL problems for exact Bayesian analysis (:mod:`mamba_edu.theory.bamdp`).

* :func:`meta_bandit` -- the package's MetaBandit (:mod:`mamba_edu.envs.bandit`): one of
  ``n_arms`` arms pays 1, the others 0; K = 4 sub-episodes of T = 5 pulls. Bayes-optimal return
  H − (n_arms − 1)/2 = 19.5 for two arms.
* :func:`bernoulli_meta_bandit` -- every arm pays 1 with an unknown probability from a finite set
  (noisy rewards: beliefs move gradually instead of jumping).
* :func:`goal_search_grid` -- a small grid with one hidden goal cell (VariBAD's grid world in
  miniature): +1 on every step that ends on the goal, −0.1 otherwise.
* :func:`rooms_problem` -- Rooms-N (:mod:`mamba_edu.envs.rooms`, paper App. C) with its own
  transition function :func:`mamba_edu.envs.rooms.rooms_step`; one room (N = 1) is the
  single-room case, and N = 2 already shows the decomposable structure (paper Sec. 3.2).

Every problem is built by :func:`problem_from_model` from a plain Python function
``model(task, state, action) -> [(probability, next_state, reward), ...]``.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from mamba_edu.theory.finite_problem import FiniteMetaProblem

Outcomes = Sequence[tuple[float, int, float]]


def problem_from_model(name: str, prior: Sequence[float] | np.ndarray, n_states: int, n_actions: int,
                       model: Callable[[int, int, int], Outcomes], start_state: int, n_sub_episodes: int,
                       steps_per_sub_episode: int, task_labels: Sequence = (), state_labels: Sequence = (),
                       task_factors: np.ndarray | None = None, description: str = "") -> FiniteMetaProblem:
    """Tabulate ``model(task, state, action)`` into a :class:`~mamba_edu.theory.finite_problem.FiniteMetaProblem`.

    The distinct (next_state, reward) pairs any task can produce from (state, action) become that
    pair's outcomes; probabilities of repeated pairs are added.
    """
    prior = np.asarray(prior, dtype=np.float64)
    n_tasks = len(prior)
    tables: dict[tuple[int, int], dict[tuple[int, float], np.ndarray]] = {}
    for s in range(n_states):
        for a in range(n_actions):
            per_outcome: dict[tuple[int, float], np.ndarray] = {}
            for task in range(n_tasks):
                for p, s2, r in model(task, s, a):
                    if p <= 0:
                        continue
                    key = (int(s2), round(float(r), 12))
                    per_outcome.setdefault(key, np.zeros(n_tasks))[task] += p
            tables[s, a] = per_outcome
    n_out = max(len(v) for v in tables.values())
    probs = np.zeros((n_tasks, n_states, n_actions, n_out))
    next_state = np.zeros((n_states, n_actions, n_out), dtype=np.int64)
    reward = np.zeros((n_states, n_actions, n_out))
    for (s, a), per_outcome in tables.items():
        for j, ((s2, r), p) in enumerate(sorted(per_outcome.items())):
            probs[:, s, a, j] = p
            next_state[s, a, j], reward[s, a, j] = s2, r
        for j in range(len(per_outcome), n_out):  # padding: stay, reward 0, probability 0
            next_state[s, a, j] = s
    return FiniteMetaProblem(name, prior, probs, next_state, reward, int(start_state), int(n_sub_episodes),
                             int(steps_per_sub_episode), tuple(task_labels), tuple(state_labels), task_factors,
                             description)


def _check_int(name: str, value: int, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or int(value) != value or value < low or (high is not None and value > high):
        rng = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}")
    return int(value)


# ----- bandits ------------------------------------------------------------------------------------
def meta_bandit(n_arms: int = 2, n_sub_episodes: int = 4, steps_per_sub_episode: int = 5) -> FiniteMetaProblem:
    """MetaBandit (``mamba_edu/MetaBandit-v0``): exactly one arm pays 1, uniform prior over which.

    One state (the observation is constant); the task is the paying arm.
    """
    n = _check_int("n_arms", n_arms, 2, 16)
    _check_int("n_sub_episodes", n_sub_episodes, 1)
    _check_int("steps_per_sub_episode", steps_per_sub_episode, 1)
    return problem_from_model(
        f"MetaBandit(n_arms={n})", np.full(n, 1.0 / n), 1, n,
        lambda task, s, a: [(1.0, 0, 1.0 if a == task else 0.0)],
        0, n_sub_episodes, steps_per_sub_episode, task_labels=tuple(range(n)), state_labels=("-",),
        description="one paying arm among n; reward 1 for it, 0 otherwise")


def bernoulli_meta_bandit(success_probs: Sequence[float] = (0.2, 0.8), n_arms: int = 2, n_sub_episodes: int = 1,
                          steps_per_sub_episode: int = 4) -> FiniteMetaProblem:
    """Each arm pays 1 with probability drawn i.i.d. uniformly from ``success_probs``, else 0.

    Tasks: every assignment of a success probability to each arm (|success_probs|^n_arms tasks,
    labelled by the tuple of probabilities); ``task_factors`` holds the per-arm probabilities
    (the arms are independent sub-tasks).
    """
    n = _check_int("n_arms", n_arms, 1, 6)
    ps = np.asarray(success_probs, dtype=np.float64)
    if ps.ndim != 1 or len(ps) == 0 or (ps < 0).any() or (ps > 1).any():
        raise ValueError(f"success_probs must be a non-empty list of probabilities in [0, 1], got {success_probs!r}")
    _check_int("n_sub_episodes", n_sub_episodes, 1)
    _check_int("steps_per_sub_episode", steps_per_sub_episode, 1)
    tasks = list(itertools.product(ps.tolist(), repeat=n))

    def model(task: int, s: int, a: int) -> Outcomes:
        p = tasks[task][a]
        return [(p, 0, 1.0), (1.0 - p, 0, 0.0)]

    return problem_from_model(
        f"BernoulliMetaBandit(n_arms={n}, p in {ps.tolist()})", np.full(len(tasks), 1.0 / len(tasks)), 1, n, model,
        0, n_sub_episodes, steps_per_sub_episode, task_labels=tuple(tasks), state_labels=("-",),
        task_factors=np.array(tasks), description="independent Bernoulli arms with unknown success probabilities")


# ----- grids --------------------------------------------------------------------------------------
#: (dx, dy) of noop, up, right, down, left -- the Rooms action set (y grows downwards)
GRID_MOVES = ((0, 0), (0, -1), (1, 0), (0, 1), (-1, 0))


def goal_search_grid(width: int = 3, height: int = 3, n_sub_episodes: int = 2, steps_per_sub_episode: int = 6,
                     start: tuple[int, int] = (0, 0), goal_reward: float = 1.0,
                     step_reward: float = -0.1) -> FiniteMetaProblem:
    """One goal hidden in a ``width`` × ``height`` grid, uniformly among the cells other than ``start``.

    State = the agent's cell (x, y) (index x·height + y); actions as in Rooms (noop, up, right,
    down, left; moving off the grid stays). Reward ``goal_reward`` on every step that ends on the
    goal (staying included), ``step_reward`` otherwise. Every sub-episode starts at ``start``.
    """
    w = _check_int("width", width, 1, 6)
    h = _check_int("height", height, 1, 6)
    if w * h < 2:
        raise ValueError(f"the grid needs at least 2 cells, got width={width}, height={height}")
    sx, sy = start
    if not (0 <= sx < w and 0 <= sy < h):
        raise ValueError(f"start must be a cell (x, y) with 0 <= x < {w}, 0 <= y < {h}, got {start!r}")
    _check_int("n_sub_episodes", n_sub_episodes, 1)
    _check_int("steps_per_sub_episode", steps_per_sub_episode, 1)
    cells = [(x, y) for x in range(w) for y in range(h)]
    goals = [c for c in cells if c != (sx, sy)]

    def model(task: int, s: int, a: int) -> Outcomes:
        x, y = cells[s]
        dx, dy = GRID_MOVES[a]
        nx, ny = x + dx, y + dy
        if not (0 <= nx < w and 0 <= ny < h):
            nx, ny = x, y
        return [(1.0, nx * h + ny, goal_reward if (nx, ny) == goals[task] else step_reward)]

    return problem_from_model(
        f"GoalSearchGrid({w}x{h})", np.full(len(goals), 1.0 / len(goals)), len(cells), 5, model,
        sx * h + sy, n_sub_episodes, steps_per_sub_episode, task_labels=tuple(goals), state_labels=tuple(cells),
        description=f"goal uniform over the {len(goals)} cells other than the start {start}")


def rooms_problem(n_rooms: int = 1, n_sub_episodes: int = 2, steps_per_sub_episode: int = 100) -> FiniteMetaProblem:
    """Rooms-N (paper App. C; :mod:`mamba_edu.envs.rooms`) as a finite problem.

    Task = the goal corner of every room (4^N tasks, uniform; ``task_factors`` = the corners);
    state = (free cell, goals reached in this sub-episode), labelled (x, y, progress). The
    transition and reward are :func:`mamba_edu.envs.rooms.rooms_step`, the same function the
    batched environment uses. Sizes: N = 1 has 9 states, N = 2 has 42; beyond N = 2 use the
    dedicated DP :func:`mamba_edu.references.rooms.solve`, which exploits the structure.
    """
    from mamba_edu.envs.rooms import RoomsLayout, rooms_step

    n = _check_int("n_rooms", n_rooms, 1, 2)
    _check_int("n_sub_episodes", n_sub_episodes, 1)
    _check_int("steps_per_sub_episode", steps_per_sub_episode, 1)
    L = RoomsLayout(n)
    tasks = np.array(list(itertools.product(range(4), repeat=n)), dtype=np.int64)
    goals = L.goal_cells(tasks)                                   # (n_tasks, N)
    free = [int(c) for c in L.free_cells]
    states = [(c, p) for c in free for p in range(n)]
    index = {sp: i for i, sp in enumerate(states)}

    def model(task: int, s: int, a: int) -> Outcomes:
        cell, prog = states[s]
        nc, npg, r = rooms_step(L, np.array([cell]), np.array([prog]), np.array([a]), goals[task][None])
        return [(1.0, index[int(nc[0]), int(npg[0])], float(r[0]))]

    labels = tuple((*(int(v) for v in L.xy(c)), p) for c, p in states)
    return problem_from_model(
        f"Rooms-{n}", np.full(len(tasks), 1.0 / len(tasks)), len(states), 5, model,
        index[int(L.start), 0], n_sub_episodes, steps_per_sub_episode,
        task_labels=tuple(tuple(int(c) for c in t) for t in tasks), state_labels=labels, task_factors=tasks,
        description="goal corner of each room uniform and independent; goals collected in order")
