"""Cheap numpy rasterisers for ``render_mode="rgb_array"`` of the 2-D point-robot families."""
from __future__ import annotations

import numpy as np


def _canvas(size: int) -> np.ndarray:
    return np.full((size, size, 3), 255, dtype=np.uint8)


def _to_px(xy: np.ndarray, size: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    xy = np.asarray(xy, dtype=np.float64)
    col = (xy[..., 0] - lo) / (hi - lo) * (size - 1)
    row = (hi - xy[..., 1]) / (hi - lo) * (size - 1)
    return row, col


def _disc(img: np.ndarray, center, radius: float, color, lo: float, hi: float, ring: bool = False) -> None:
    size = img.shape[0]
    rr, cc = np.mgrid[0:size, 0:size]
    r0, c0 = _to_px(center, size, lo, hi)
    rad = radius / (hi - lo) * (size - 1)
    d = np.hypot(rr - r0, cc - c0)
    mask = (np.abs(d - rad) < 1.0) if ring else d <= rad
    img[mask] = color


def point_robot_frame(pos, goal, goal_radius: float, size: int = 128) -> np.ndarray:
    img = _canvas(size)
    lo, hi = -1.4, 1.4
    _disc(img, (0.0, 0.0), 1.0, (200, 200, 200), lo, hi, ring=True)
    _disc(img, goal, goal_radius, (120, 220, 120), lo, hi)
    _disc(img, pos, 0.05, (30, 60, 200), lo, hi)
    return img


def escape_room_frame(pos, door_angle: float, door_arc: float, size: int = 128) -> np.ndarray:
    img = _canvas(size)
    lo, hi = -1.6, 1.6
    _disc(img, (0.0, 0.0), 1.0, (60, 60, 60), lo, hi, ring=True)
    for a in np.linspace(door_angle - door_arc / 2, door_angle + door_arc / 2, 20):
        _disc(img, (np.cos(a), np.sin(a)), 0.04, (120, 220, 120), lo, hi)
    _disc(img, pos, 0.05, (30, 60, 200), lo, hi)
    return img
