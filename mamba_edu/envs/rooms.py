"""Rooms-N: find one goal corner per room, room after room (paper Sec. 3.2, 4 and App. C).

A decomposable task distribution (paper Sec. 3.2): N independent sub-tasks, one per room.

Spec
    * layout (built on minigrid's ``Grid``, which also renders it): 3 rows; N rooms of 3×3 cells
      joined by corridors of 3 cells on the middle row, so the interior is (6N − 3) × 3 cells;
      walls everywhere else. Interior cell (x, y) has x ∈ [0, 6N − 3), y ∈ {0, 1, 2} (y = 0 is
      the top row); room i (0-based) spans x ∈ [6i, 6i + 3);
    * start: the middle of room 1's leftmost column, (0, 1), at every sub-episode;
    * task: ``np.array`` of N corner indices, one per room, each uniform over the room's 4 corners
      (0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right);
    * actions: ``Discrete(5)`` — 0 noop, 1 up, 2 right, 3 down, 4 left; a move into a wall keeps
      the position;
    * observation: (x, y) scaled to [−1, 1]: (2x/(W − 1) − 1, y − 1), ``Box(-1, 1, (2,))``;
    * reward: −0.1 per step, replaced by +1 when the step ends on goal i and goals 1..i−1 were
      reached in this sub-episode; goals 1..N−1 pay once per sub-episode, goal N pays on every
      step that ends on it; a goal reached out of order pays nothing (−0.1);
    * K = 2 sub-episodes of T = 100 steps; goals are kept across sub-episodes, the agent's
      position and the reached-goal flags reset.

Bayes-optimal behaviour: in sub-episode 1 search each room's corners in the best order, moving
on as soon as its goal pays; in sub-episode 2 walk straight through the known goals. Its exact
expected return is computed by :func:`mamba_edu.references.rooms.bayes_optimal_return`.

Registered ids: ``mamba_edu/Rooms-1-v0`` … ``mamba_edu/Rooms-8-v0``. Source: paper App. C.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv
from mamba_edu.envs.batched import BatchedMetaEnv

MAX_ROOMS = 8
#: (dx, dy) of noop, up, right, down, left
MOVES = np.array([[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]])
CORNER_OFFSETS = np.array([[0, 0], [2, 0], [0, 2], [2, 2]])
STEP_REWARD = -0.1
GOAL_REWARD = 1.0


class RoomsLayout:
    """Geometry of Rooms-N: free cells, the move table and the corner cells."""

    def __init__(self, n_rooms: int) -> None:
        if not isinstance(n_rooms, (int, np.integer)) or not 1 <= n_rooms <= MAX_ROOMS:
            raise ValueError(f"Rooms: n_rooms must be an integer in 1..{MAX_ROOMS}, got {n_rooms!r}")
        self.n_rooms = int(n_rooms)
        self.width = 6 * self.n_rooms - 3
        self.height = 3
        free = np.zeros((self.width, self.height), dtype=bool)
        for i in range(self.n_rooms):
            free[6 * i:6 * i + 3, :] = True
            if i + 1 < self.n_rooms:
                free[6 * i + 3:6 * i + 6, 1] = True
        self.free = free
        self.n_cells = self.width * self.height
        # next cell for every (cell, action); cell index = x * 3 + y
        nxt = np.zeros((self.n_cells, 5), dtype=np.int64)
        for x in range(self.width):
            for y in range(self.height):
                for a, (dx, dy) in enumerate(MOVES):
                    nx, ny = x + dx, y + dy
                    ok = 0 <= nx < self.width and 0 <= ny < self.height and free[nx, ny]
                    nxt[self.cell(x, y), a] = self.cell(nx, ny) if ok else self.cell(x, y)
        self.next_cell = nxt
        self.start = self.cell(0, 1)
        cells = np.arange(self.n_cells)
        xy = np.stack([cells // self.height, cells % self.height], -1).astype(np.float32)
        self.obs_table = np.stack([2.0 * xy[:, 0] / max(self.width - 1, 1) - 1.0, xy[:, 1] - 1.0], -1).astype(np.float32)

    def cell(self, x: int, y: int) -> int:
        return int(x) * self.height + int(y)

    def xy(self, cell) -> np.ndarray:
        cell = np.asarray(cell)
        return np.stack([cell // self.height, cell % self.height], -1)

    def corner_cell(self, room: int, corner) -> np.ndarray:
        off = CORNER_OFFSETS[np.asarray(corner)]
        return (6 * room + off[..., 0]) * self.height + off[..., 1]

    def goal_cells(self, task: np.ndarray) -> np.ndarray:
        """Cell index of each room's goal for task(s) of shape (..., N)."""
        task = np.asarray(task)
        return self.corner_cell(np.arange(self.n_rooms), task)

    def observe(self, cell) -> np.ndarray:
        """(x, y) scaled to [−1, 1] for cell index/indices (a table lookup)."""
        return self.obs_table[cell]


def rooms_step(layout: RoomsLayout, cell: np.ndarray, progress: np.ndarray, action: np.ndarray,
               goals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised transition: (cell, goals reached so far, action, goal cells) → (cell, progress, reward)."""
    n = layout.n_rooms
    cell = layout.next_cell[cell, action]
    if goals.ndim == 1:
        target = goals[min(int(progress), n - 1)]
    else:
        target = goals[np.arange(len(goals)), np.minimum(progress, n - 1)]
    on_goal = cell == target
    reward = np.where(on_goal, GOAL_REWARD, STEP_REWARD)
    progress = np.where(on_goal & (progress < n - 1), progress + 1, progress)
    return cell, progress, reward


class RoomsEnv(MetaTaskEnv):
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
        self._cell = np.array(self.layout.start)
        self._progress = np.array(0)

    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 4, size=self.n_rooms)

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task)
        if t.shape != (self.n_rooms,) or not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() > 3:
            raise ValueError(f"Rooms-{self.n_rooms}: task must be {self.n_rooms} corner indices in 0..3, got {task!r}")
        return t.astype(np.int64)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        self._goals = self.layout.goal_cells(self._task)
        self._cell = np.array(self.layout.start)
        self._progress = np.array(0)
        return self.layout.observe(self._cell), {"task": self._task.copy()}

    def step(self, action):
        a = self._check_action(action)
        self._cell, self._progress, reward = rooms_step(self.layout, self._cell, self._progress, a, self._goals)
        info = {"task": self._task.copy(), "goals_reached": int(self._progress)}
        return self.layout.observe(self._cell), float(reward), False, False, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return render_rooms(self.layout, self._task, int(self._cell))


def render_rooms(layout: RoomsLayout, task: np.ndarray | None, agent_cell: int | None, tile: int = 24) -> np.ndarray:
    """Minigrid picture of the layout (walls, goals, agent) as an RGB array."""
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
    pos = (0, 0) if agent_cell is None else tuple(int(v) + 1 for v in layout.xy(agent_cell))
    return grid.render(tile, pos, agent_dir=0 if agent_cell is not None else None)


class BatchedRooms(BatchedMetaEnv):
    single_env_cls = RoomsEnv

    def _set_tasks(self, tasks):
        self.layout = self.proto.layout
        self.goals = self.layout.goal_cells(np.stack(tasks))
        self.cell = np.full(self.num_envs, self.layout.start)
        self.progress = np.zeros(self.num_envs, dtype=np.int64)

    def _reset_sub(self, idx):
        self.cell[idx] = self.layout.start
        self.progress[idx] = 0
        return self.layout.observe(self.cell)

    def _step_sub(self, actions):
        self.cell, self.progress, reward = rooms_step(self.layout, self.cell, self.progress, actions, self.goals)
        return self.layout.observe(self.cell), reward
