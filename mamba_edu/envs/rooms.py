"""Rooms-N: find one goal corner per room, room after room (paper Sec. 3.2, Sec. 4 and App. C).

A *decomposable task distribution* (paper Sec. 3.2): N independent sub-tasks, one per room.
Built on minigrid (its ``Grid``, ``Wall`` and ``Goal`` objects draw the picture); the dynamics
are a fast table lookup of our own, not minigrid's turn/forward actions.

## Description

Three rows of cells. N rooms of 3×3 cells, left to right, joined by corridors of 3 cells on
the middle row; walls everywhere else. The interior is W × 3 cells with W = 3N + 3(N − 1)
= 6N − 3; interior cell (x, y) has x ∈ [0, W), y ∈ {0, 1, 2} (y = 0 is the top row), and
room i (0-based) spans x ∈ [6i, 6i + 3). Room i holds goal i + 1 in one of its corners; the
goals must be collected in order, 1, 2, …, N (picture for N = 2, ``G`` a possible goal corner,
``A`` the start)::

    ###########
    #G.G###G.G#
    #A........#      (the corridor = the 3 middle-row cells between two rooms)
    #G.G###G.G#
    ###########

## Task distribution

``task`` = ``np.ndarray`` of N integers (int64), ``task[i]`` = corner of room i holding goal
i + 1, i.i.d. uniform over the 4 corners. Corner numbering (offsets inside a room):

    ====  ===========  ======
    id    corner       (dx, dy)
    ====  ===========  ======
    0     top-left     (0, 0)
    1     top-right    (2, 0)
    2     bottom-left  (0, 2)
    3     bottom-right (2, 2)
    ====  ===========  ======

## Action Space

``Discrete(5)``: 0 noop, 1 up, 2 right, 3 down, 4 left. A move into a wall (or off the map)
keeps the position. Anything else (5, 1.5, …) raises ``ValueError``.

## Observation Space

``Box(-1, 1, (2,), float32)``: the agent's cell (x, y) scaled to [−1, 1],
(2x/(W − 1) − 1, y − 1).

## Rewards

−0.1 per step, replaced by +1 when the step ends on goal i and goals 1..i−1 were all reached
in this sub-episode. Goals 1..N−1 pay once per sub-episode; goal N (the last) pays +1 on every
step that ends on it, staying (noop) included. A goal visited out of order pays −0.1 like any
other cell (and does not count as reached).

## Starting State

The middle of room 1's leftmost column, (x, y) = (0, 1), at every sub-episode.

## Episode End

Each sub-episode lasts T = 100 steps (this env never terminates; ``MetaEpisode`` resets it).
K = 2 sub-episodes per meta-episode (H = 200). Goals are kept across sub-episodes; the agent's
position and the reached-goal flags are reset at each sub-episode.

## Arguments

``RoomsEnv(n_rooms=N, render_mode=None | "rgb_array")`` with N ∈ 1..8 (``ValueError``
otherwise). ``render()`` returns the minigrid picture (walls, the N goals, the agent).

## Registered Configurations

``mamba_edu/Rooms-1-v0`` … ``mamba_edu/Rooms-8-v0`` (``MetaEpisode`` over ``RoomsEnv(n_rooms=N)``,
observation [x, y, previous reward, t/200]). :class:`BatchedRooms` steps B tasks at once in
numpy and reproduces the single environment transition for transition.

Bayes-optimal behaviour: in sub-episode 1 check each room's corners in a best order (a near
corner first, then sweep; expected 10 steps per room including the walk on), moving on as soon as
its goal pays, and stay on goal N; in sub-episode 2 walk straight through the known goals. The
exact Bayes-optimal expected return (a DP over the belief, which also handles the step budget
running out — it can for N = 8) is :func:`mamba_edu.references.rooms.bayes_optimal_return`:
213.2 − 17.6·N for N ≤ 7, 72.4 + 4.4/4⁸ for N = 8.

Source: paper App. C ("Rooms-N"); the numbers above (3 rows, 3×3 rooms, corridors of 3,
K = 2, T = 100) are this package's spec of it.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv
from mamba_edu.envs.batched import BatchedMetaEnv

MIN_ROOMS, MAX_ROOMS = 1, 8
NOOP, UP, RIGHT, DOWN, LEFT = range(5)
#: (dx, dy) of noop, up, right, down, left (y grows downwards)
MOVES = np.array([[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]])
#: (dx, dy) of corners 0..3 inside a room: top-left, top-right, bottom-left, bottom-right
CORNER_OFFSETS = np.array([[0, 0], [2, 0], [0, 2], [2, 2]])
ROOM_SIZE = 3
CORRIDOR_LENGTH = 3
STEP_REWARD = -0.1
GOAL_REWARD = 1.0


class RoomsLayout:
    """Geometry of Rooms-N: free cells, the next-cell table, corner cells and observations.

    Cell index = x · 3 + y for interior cell (x, y).
    """

    def __init__(self, n_rooms: int) -> None:
        if isinstance(n_rooms, bool) or not isinstance(n_rooms, (int, np.integer)) \
                or not MIN_ROOMS <= n_rooms <= MAX_ROOMS:
            raise ValueError(f"Rooms: n_rooms must be an integer in {MIN_ROOMS}..{MAX_ROOMS}, got {n_rooms!r}")
        self.n_rooms = int(n_rooms)
        self.stride = ROOM_SIZE + CORRIDOR_LENGTH  # 6: x distance between two rooms' left columns
        self.width = ROOM_SIZE * self.n_rooms + CORRIDOR_LENGTH * (self.n_rooms - 1)
        self.height = ROOM_SIZE
        free = np.zeros((self.width, self.height), dtype=bool)
        for i in range(self.n_rooms):
            x0 = self.stride * i
            free[x0:x0 + ROOM_SIZE, :] = True
            if i + 1 < self.n_rooms:
                free[x0 + ROOM_SIZE:x0 + self.stride, 1] = True
        self.free = free
        self.n_cells = self.width * self.height
        self.free_cells = np.array([self.cell(x, y) for x in range(self.width) for y in range(self.height)
                                    if free[x, y]])
        nxt = np.zeros((self.n_cells, 5), dtype=np.int64)
        for x in range(self.width):
            for y in range(self.height):
                for a, (dx, dy) in enumerate(MOVES):
                    nx, ny = x + dx, y + dy
                    ok = 0 <= nx < self.width and 0 <= ny < self.height and free[nx, ny]
                    nxt[self.cell(x, y), a] = self.cell(nx, ny) if ok else self.cell(x, y)
        self.next_cell = nxt
        self.start = self.cell(0, 1)
        #: entry cell of every room (middle of its leftmost column); entries[0] == start
        self.entries = np.array([self.cell(self.stride * i, 1) for i in range(self.n_rooms)])
        #: corners[i, c] = cell of corner c of room i
        self.corners = np.stack([self.corner_cell(i, np.arange(4)) for i in range(self.n_rooms)])
        cells = np.arange(self.n_cells)
        xy = np.stack([cells // self.height, cells % self.height], -1).astype(np.float64)
        self.obs_table = np.stack([2.0 * xy[:, 0] / max(self.width - 1, 1) - 1.0, xy[:, 1] - 1.0],
                                  -1).astype(np.float32)

    def cell(self, x: int, y: int) -> int:
        return int(x) * self.height + int(y)

    def xy(self, cell) -> np.ndarray:
        cell = np.asarray(cell)
        return np.stack([cell // self.height, cell % self.height], -1)

    def corner_cell(self, room, corner) -> np.ndarray:
        off = CORNER_OFFSETS[np.asarray(corner)]
        return (self.stride * np.asarray(room) + off[..., 0]) * self.height + off[..., 1]

    def goal_cells(self, task: np.ndarray) -> np.ndarray:
        """Cell of each room's goal for task(s) of shape (..., N)."""
        return self.corner_cell(np.arange(self.n_rooms), np.asarray(task))

    def observe(self, cell) -> np.ndarray:
        """(x, y) scaled to [−1, 1] for cell index/indices (a table lookup, a fresh array)."""
        return self.obs_table[cell].copy()

    def cell_from_obs(self, obs: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`observe` on (..., 2) observations."""
        obs = np.asarray(obs, dtype=np.float64)
        x = np.rint((obs[..., 0] + 1.0) / 2.0 * max(self.width - 1, 1)).astype(np.int64)
        y = np.rint(obs[..., 1] + 1.0).astype(np.int64)
        return x * self.height + y


def rooms_step(layout: RoomsLayout, cell: np.ndarray, progress: np.ndarray, action: np.ndarray,
               goals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One transition, vectorised over a batch.

    ``cell`` (B,), ``progress`` (B,) = goals reached in this sub-episode (0..N−1; it stays N−1
    once goal N is reached, so goal N keeps paying), ``action`` (B,), ``goals`` (B, N) goal
    cells → (next cell, next progress, reward).
    """
    n = layout.n_rooms
    cell = layout.next_cell[cell, action]
    target = np.take_along_axis(goals, progress[:, None], 1)[:, 0]
    on_goal = cell == target
    reward = np.where(on_goal, GOAL_REWARD, STEP_REWARD)
    progress = progress + (on_goal & (progress < n - 1))
    return cell, progress, reward


class RoomsEnv(MetaTaskEnv):
    """One sub-episode of Rooms-N (see the module docstring for the full spec)."""

    K = 2
    T = 100
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, n_rooms: int = 3, render_mode: str | None = None) -> None:
        super().__init__()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.layout = RoomsLayout(n_rooms)
        self.n_rooms = self.layout.n_rooms
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(5)
        self._cell = int(self.layout.start)
        self._progress = 0
        self._last_reached = False
        self._goals = None

    # ----- tasks -----------------------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 4, size=self.n_rooms).astype(np.int64)

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task)
        if t.shape != (self.n_rooms,) or not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() > 3:
            raise ValueError(f"Rooms-{self.n_rooms}: task must be {self.n_rooms} corner indices in 0..3, got {task!r}")
        return t.astype(np.int64)

    def set_task(self, task) -> None:
        super().set_task(task)
        self._goals = self.layout.goal_cells(self._task)

    # ----- dynamics ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        self._cell = int(self.layout.start)
        self._progress = 0
        self._last_reached = False
        return self.layout.observe(self._cell), {"task": self._task.copy(), "goals_reached": 0}

    def step(self, action):
        if self._goals is None:
            raise RuntimeError("RoomsEnv.step called before reset()")
        a = int(self._check_action(action))
        cell = int(self.layout.next_cell[self._cell, a])
        reward = STEP_REWARD
        if cell == self._goals[self._progress]:
            reward = GOAL_REWARD
            if self._progress < self.n_rooms - 1:
                self._progress += 1
            else:
                self._last_reached = True
        self._cell = cell
        info = {"task": self._task.copy(), "goals_reached": self._progress + int(self._last_reached)}
        return self.layout.observe(cell), float(reward), False, False, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return render_rooms(self.layout, self._task, self._cell)


def render_rooms(layout: RoomsLayout, task: np.ndarray | None, agent_cell: int | None, tile: int = 24) -> np.ndarray:
    """Minigrid picture (walls, goals, agent) as an RGB array of shape (5·tile, (W+2)·tile, 3)."""
    from minigrid.core.grid import Grid
    from minigrid.core.world_object import Goal, Wall

    grid = Grid(layout.width + 2, layout.height + 2)
    for x in range(layout.width + 2):
        for y in range(layout.height + 2):
            inside = 1 <= x <= layout.width and 1 <= y <= layout.height
            if not inside or not layout.free[x - 1, y - 1]:
                grid.set(x, y, Wall())
    if task is not None:
        for g in layout.goal_cells(task):
            gx, gy = layout.xy(g)
            grid.set(int(gx) + 1, int(gy) + 1, Goal())
    if agent_cell is None:
        return grid.render(tile, (0, 0), agent_dir=None)
    ax, ay = (int(v) + 1 for v in layout.xy(agent_cell))
    return grid.render(tile, (ax, ay), agent_dir=0)


class BatchedRooms(BatchedMetaEnv):
    """B Rooms-N meta-episodes in numpy (next-cell table lookups), identical to :class:`RoomsEnv`.

    ``BatchedRooms(num_envs, n_rooms=N)``; the task of env i is drawn from ``self.rngs[i]`` exactly
    as the single env draws it from its ``np_random``.
    """

    single_env_cls = RoomsEnv

    def _set_tasks(self, tasks):
        L = self.layout = self.proto.layout
        B, n = self.num_envs, L.n_rooms
        # flat tables: next cell = next_flat[5·cell + action]; goal = goals_flat[n·env + progress]
        self._next_flat = L.next_cell.reshape(-1)
        self._goals_flat = L.goal_cells(np.stack(tasks)).reshape(-1).astype(np.int64)
        self._row = np.arange(B, dtype=np.int64) * n
        self._reward_table = np.array([STEP_REWARD, GOAL_REWARD])
        self.cell = np.full(B, L.start, dtype=np.int64)
        self.progress = np.zeros(B, dtype=np.int64)

    @property
    def goals(self) -> np.ndarray:
        """(B, N) goal cells of the current tasks."""
        return self._goals_flat.reshape(self.num_envs, -1)

    def _reset_sub(self, idx):
        self.cell[idx] = self.layout.start
        self.progress[idx] = 0
        return self.layout.obs_table[self.cell]

    def _step_sub(self, actions):
        # same transition as RoomsEnv.step / rooms_step, with fewer numpy calls
        cell = self._next_flat[self.cell * 5 + actions]
        on_goal = cell == self._goals_flat[self._row + self.progress]
        self.cell = cell
        # progress stays at N − 1 once there (goal N keeps paying)
        self.progress = np.minimum(self.progress + on_goal, self.layout.n_rooms - 1)
        return self.layout.obs_table[cell], self._reward_table[on_goal.view(np.uint8)]
