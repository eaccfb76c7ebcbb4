"""EscapeRoom: leave a circular room through a hidden door (paper Sec. 4, App. C).

Spec
    * observation: the robot's 2-D position p, ``Box(-inf, inf, (2,), float32)``;
    * action: ``Box(-1, 1, (2,), float32)``, clipped component-wise; the attempted position is
      p' = p + 0.1·clip(a, -1, 1) (the PointRobot dynamics); a wrong action shape raises
      ``ValueError`` naming the expected shape ``(2,)``;
    * room: the unit circle. Its wall can only be crossed through the door, an arc of length
      π/8 centred at angle φ (``task = np.array([φ])``, shape (1,), φ ~ U(0, π): the door
      lies on the upper half; its ends may reach π/16 below it). The wall is checked when a
      move starts and ends on different sides (‖p‖ ≤ 1 is inside):

      - the point where the segment p → p' meets the circle is in the door (its angular
        distance to φ is ≤ π/16) → the move happens;
      - otherwise the move is **blocked**: the robot is put at radius 1 − 10⁻³ (coming from
        inside) or 1 + 10⁻³ (coming from outside) along the direction of p' — pushing
        against the wall slides along it;
    * outside: free movement (no walls; a move that starts and ends outside is never checked,
      even if it clips the circle's edge); the robot may come back in, but only through the
      door, by the same rule;
    * reward: 1 on every step that ends outside the circle (‖p‖ > 1), else 0;
    * start: a random point inside, drawn from the env's RNG (``self.np_random``) at every
      sub-episode, angle ~ U(−π, π) first, then radius ~ U(0, 1) (not area-uniform: as in the
      reference implementation, the start is often near the centre);
    * no termination; K = 2 sub-episodes of T = 60 steps (H = 120);
    * ``render_mode="rgb_array"``: a 128×128 numpy raster (wall, door, robot).

The geometry uses only +, −, ×, ÷ and √ (the door test is a dot product with the door's unit
vector, cos of the angle ≥ cos(π/16)), so the single and batched versions agree bit for bit.

Bayes-optimal behaviour: go to the wall and sweep its upper half while pushing outward until
the door gives way; in the second sub-episode head straight for the remembered door (see
:mod:`mamba_edu.references.escape_room`).

Registered id: ``mamba_edu/EscapeRoom-v0``. Sources: Dorfman, Shenfeld & Tamar (2021),
"Offline Meta Reinforcement Learning — Identifiability Challenges and Effective Data
Collection Strategies" (the Escape Room domain); the paper's App. C.

:class:`BatchedEscapeRoom` steps B tasks at once in numpy; env i's start states come from
``rngs[i]`` in the single env's order, so it reproduces ``gym.make(id).reset(seed=s_i)``.
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from mamba_edu.envs.base import MetaTaskEnv
from mamba_edu.envs.batched import BatchedMetaEnv

DOOR_ARC = np.pi / 8
STEP_SIZE = 0.1
WALL_EPS = 1e-3
_COS_HALF_DOOR = float(np.cos(DOOR_ARC / 2))


def door_vector(angle) -> np.ndarray:
    """Unit vector(s) (cos φ, sin φ) of door angle(s), computed one scalar at a time."""
    angles = np.atleast_1d(np.asarray(angle, dtype=np.float64))
    return np.array([[math.cos(a), math.sin(a)] for a in angles.ravel().tolist()]).reshape(*angles.shape, 2)


def _clip_step(actions: np.ndarray) -> np.ndarray:
    """0.1·clip(a, -1, 1) with two ufuncs (``np.clip`` has a large per-call overhead; same values)."""
    return STEP_SIZE * np.minimum(np.maximum(actions, -1.0), 1.0)


def _cross_scalar(x0: float, y0: float, dx: float, dy: float, ux: float, uy: float,
                  leaving: bool) -> bool:
    """Whether the move (x0, y0) → (x0 + dx, y0 + dy), which crosses the unit circle, passes the door.

    The crossing point c = p + s·d solves ‖p + s·d‖ = 1 (the larger root when leaving the
    disc, the smaller when entering); it is in the door when c·u ≥ cos(π/16)·‖c‖, with u the
    door's unit vector. Plain float arithmetic (+, −, ×, ÷, √ are correctly rounded, as in numpy).
    """
    a = max(dx * dx + dy * dy, 1e-300)
    b = x0 * dx + y0 * dy
    disc = math.sqrt(max(b * b - a * (x0 * x0 + y0 * y0 - 1.0), 0.0))
    s = (disc - b) / a if leaving else (-b - disc) / a
    cx = x0 + s * dx
    cy = y0 + s * dy
    return cx * ux + cy * uy >= _COS_HALF_DOOR * math.sqrt(cx * cx + cy * cy)


def _move(pos: np.ndarray, step: np.ndarray, door_xy: np.ndarray,
          inside_old: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Core of the dynamics on (N, 2) arrays: returns (new positions, outside flags ‖p‖ > 1).

    ``step`` = 0.1·clip(a, -1, 1), ``door_xy`` = the doors' unit vectors, ``inside_old`` =
    ‖pos‖ ≤ 1 if the caller tracks it (the batched env does: it is the negated previous
    ``outside``, equal to recomputing it, which the single env does).
    Every row is computed on its own (elementwise numpy, then plain floats for the few rows that
    cross the wall), so the single env (N = 1) and the batched env agree bit for bit.
    """
    if inside_old is None:
        sq = pos * pos
        inside_old = sq[:, 0] + sq[:, 1] <= 1.0
    new = pos + step
    sq = new * new
    r2_new = sq[:, 0] + sq[:, 1]
    outside = r2_new > 1.0
    crossing = inside_old == outside
    if crossing.any():
        for i in np.flatnonzero(crossing).tolist():
            px, py = pos[i].tolist()
            dx, dy = step[i].tolist()
            ux, uy = door_xy[i].tolist()
            leaving = bool(inside_old[i])
            if not _cross_scalar(px, py, dx, dy, ux, uy, leaving):  # blocked: stay on this side
                radius = 1.0 - WALL_EPS if leaving else 1.0 + WALL_EPS
                new[i] *= radius / math.sqrt(float(r2_new[i]))
                outside[i] = not leaving
    return new, outside


def _outside(pos: np.ndarray) -> np.ndarray:
    """‖p‖ > 1 for (N, 2) positions (the same arithmetic as :func:`_move`)."""
    sq = pos * pos
    return sq[:, 0] + sq[:, 1] > 1.0


def escape_room_move(pos: np.ndarray, action: np.ndarray, door) -> np.ndarray:
    """New position(s) under the wall-and-door rule, vectorised over leading dims.

    Args:
        pos: (..., 2) current positions; action: (..., 2) actions (clipped to [-1, 1] here);
        door: door angle(s) φ, broadcastable to the leading dims.
    """
    pos = np.asarray(pos, dtype=np.float64)
    action = np.asarray(action, dtype=np.float64)
    lead = np.broadcast_shapes(pos.shape[:-1], action.shape[:-1], np.shape(door))
    p = np.broadcast_to(pos, (*lead, 2)).reshape(-1, 2)
    st = _clip_step(np.broadcast_to(action, (*lead, 2)).reshape(-1, 2))
    dv = door_vector(np.broadcast_to(np.asarray(door, dtype=np.float64), lead).reshape(-1))
    return _move(p, st, dv)[0].reshape(*lead, 2)


def start_position(rng: np.random.Generator) -> np.ndarray:
    """A sub-episode's start: angle ~ U(−π, π), then radius ~ U(0, 1), from ``rng``."""
    angle = rng.uniform(-np.pi, np.pi)
    radius = rng.uniform(0.0, 1.0)
    return np.array([radius * math.cos(angle), radius * math.sin(angle)])


class EscapeRoomEnv(MetaTaskEnv):
    """One sub-episode of Escape Room (see the module docstring for the spec)."""

    K = 2
    T = 60
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._pos = np.zeros(2)
        self._door_xy = np.zeros((1, 2))

    # ----- tasks -----------------------------------------------------------------------------
    def _sample_task(self, rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.uniform(0.0, np.pi)])

    def _validate_task(self, task) -> np.ndarray:
        t = np.asarray(task, dtype=np.float64).reshape(-1)
        if t.shape != (1,) or not 0.0 <= t[0] <= np.pi:
            raise ValueError(f"EscapeRoom: task must be a door angle in [0, π] (array of shape (1,)), got {task!r}")
        return t

    def set_task(self, task) -> None:
        super().set_task(task)
        self._door_xy = door_vector(self._task)  # (1, 2)

    # kept for backwards compatibility (the batched env and older code call it)
    sample_start = staticmethod(start_position)

    # ----- dynamics ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_task(seed, options)
        self._pos = start_position(self.np_random)
        return self._pos.astype(np.float32), {"task": self._task.copy()}

    def step(self, action):
        a = self._check_action(action)
        new, outside = _move(self._pos[None], _clip_step(a[None]), self._door_xy)
        self._pos = new[0]
        reward = float(outside[0])
        return self._pos.astype(np.float32), reward, False, False, {"task": self._task.copy()}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from mamba_edu.viz.raster import escape_room_frame

        return escape_room_frame(self._pos, float(self._task[0]), DOOR_ARC)


class BatchedEscapeRoom(BatchedMetaEnv):
    """B EscapeRoom meta-episodes in numpy (positions (B, 2), door unit vectors (B, 2))."""

    single_env_cls = EscapeRoomEnv

    def _set_tasks(self, tasks):
        self.doors = np.stack(tasks)[:, 0]
        self.door_xy = door_vector(self.doors)
        self.pos = np.zeros((self.num_envs, 2))
        self.out = np.zeros(self.num_envs, dtype=bool)

    def _reset_sub(self, idx):
        for i in idx:
            self.pos[i] = start_position(self.rngs[i])
        self.out[idx] = _outside(self.pos[idx])
        return self.pos

    def _step_sub(self, actions):
        self.pos, self.out = _move(self.pos, _clip_step(actions), self.door_xy, ~self.out)
        return self.pos, self.out.astype(np.float64)
