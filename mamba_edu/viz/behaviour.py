"""Behaviour pictures like the paper's Figure 1: one colour per sub-episode, goals drawn.

``plot_behaviour(env_name, rollout, index, ax)`` draws meta-episode ``index`` of a
:class:`mamba_edu.rollout.Rollout`; ``behaviour_axes(env_name, n)`` makes a figure of ``n`` panels sized
for the family at the notebook's width (Rooms-N: one wide panel per row, the grid's cells square;
the others: a row of square panels), and ``behaviour_figure`` draws and saves such a figure, with one
legend below the panels (:mod:`mamba_edu.viz.style`). Supported families: PointRobot, PointRobotWind,
EscapeRoom, Rooms-N, Reacher-N.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use(matplotlib.get_backend())
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mamba_edu.envs import short_name  # noqa: E402
from mamba_edu.viz import style  # noqa: E402
from mamba_edu.viz.style import FONT  # noqa: E402

SUB_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
SUPPORTED = ("PointRobot", "PointRobotWind", "EscapeRoom", "Rooms-N", "Reacher-N")


def _family(name: str) -> str:
    short = short_name(name)
    for fam in ("Rooms", "Reacher"):
        if short.startswith(fam + "-"):
            return fam
    if short in ("PointRobot", "PointRobotWind", "EscapeRoom"):
        return short
    raise ValueError(f"no behaviour plot for {short!r}; available for: {', '.join(SUPPORTED)}")


def _segments(rollout, index: int, positions: np.ndarray):
    """Split one meta-episode's positions by sub-episode (each segment starts at its reset)."""
    subs = rollout.sub_episode[:, index]
    for k in np.unique(subs):
        yield int(k), positions[subs == k]


def _goal_label(ax, x, y, text) -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=FONT["annotation"], fontweight="bold",
            bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.8))


@style.styled
def plot_behaviour(env_name: str, rollout, index: int = 0, ax=None, title: str | None = None):
    fam = _family(env_name)
    ax = ax or plt.gca()
    task = rollout.tasks[index]
    obs = rollout.obs[:, index]
    if fam in ("PointRobot", "PointRobotWind", "EscapeRoom"):
        theta = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(theta), np.sin(theta), color="0.8", lw=1)
        if fam == "EscapeRoom":
            from mamba_edu.envs.escape_room import DOOR_ARC

            arc = np.linspace(task[0] - DOOR_ARC / 2, task[0] + DOOR_ARC / 2, 30)
            ax.plot(np.cos(arc), np.sin(arc), color="tab:green", lw=5, label="door")
            ax.plot(np.cos(theta), np.sin(theta), color="0.3", lw=1.5)
        else:
            from mamba_edu.envs.point_robot import GOAL_RADIUS, goal_position

            g = goal_position(task)
            ax.add_patch(plt.Circle(g, GOAL_RADIUS, color="tab:green", alpha=0.3, label="goal"))
        for k, seg in _segments(rollout, index, obs[:, :2]):
            ax.plot(seg[:, 0], seg[:, 1], color=SUB_COLOURS[k % 4], lw=1.5, label=f"sub-episode {k + 1}")
            ax.plot(seg[0, 0], seg[0, 1], "o", color=SUB_COLOURS[k % 4], ms=4)
        ax.set_xlim(-1.4, 1.4)
        ax.set_ylim(-1.2 if fam == "EscapeRoom" else -0.4, 1.4)
    elif fam == "Rooms":
        from mamba_edu.envs.rooms import RoomsLayout

        L = RoomsLayout(len(task))
        ax.imshow(~L.free.T, cmap="Greys", vmin=0, vmax=1.5, origin="upper",
                  extent=(-0.5, L.width - 0.5, L.height - 0.5, -0.5))
        for i, g in enumerate(L.goal_cells(task)):
            gx, gy = L.xy(g)
            ax.add_patch(plt.Rectangle((gx - 0.5, gy - 0.5), 1, 1, color="tab:green", alpha=0.5))
            _goal_label(ax, gx, gy, str(i + 1))
        xy = np.stack([(obs[:, 0] + 1) / 2 * max(L.width - 1, 1), obs[:, 1] + 1], 1)
        for k, seg in _segments(rollout, index, xy):
            off = (k - 0.5) * 0.15
            ax.plot(seg[:, 0] + off, seg[:, 1] + off, color=SUB_COLOURS[k % 4], lw=1.5, label=f"sub-episode {k + 1}")
        ax.set_xlim(-0.6, L.width - 0.4)
        ax.set_ylim(L.height - 0.4, -0.6)
    elif fam == "Reacher":
        from mamba_edu.envs.reacher import GOAL_DISK, GOAL_RADIUS

        theta = np.linspace(0, 2 * np.pi, 200)
        ax.plot(GOAL_DISK * np.cos(theta), GOAL_DISK * np.sin(theta), color="0.8", lw=1)
        for i, g in enumerate(np.asarray(task)):
            ax.add_patch(plt.Circle(g, GOAL_RADIUS, color="tab:green", alpha=0.3))
            _goal_label(ax, g[0], g[1], str(i + 1))
        for k, seg in _segments(rollout, index, obs[:, 2:4]):
            ax.plot(seg[:, 0], seg[:, 1], color=SUB_COLOURS[k % 4], lw=1, label=f"sub-episode {k + 1}")
        ax.set_xlim(-0.25, 0.25)
        ax.set_ylim(-0.25, 0.25)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ret = rollout.sub_episode_returns[index]
    ax.set_title(title or f"return {ret.sum():.1f} (" + " / ".join(f"{r:.1f}" for r in ret) + ")",
                 fontsize=FONT["title"])
    return ax


def behaviour_axes(env_name: str, n: int, *, pyplot: bool = True, labels: bool = False):
    """(figure, ``n`` axes) sized for ``env_name``'s pictures at the notebook's width, constrained layout.

    Rooms-N with N ≥ 2 (wide grids): one panel per row across the whole width, its height set by the
    grid's aspect (cells square, nothing squashed); Rooms-1 (a square grid) and the other families:
    panels in rows of at most :data:`~mamba_edu.viz.style.MAX_COLS`. ``labels`` leaves room for axis
    labels and ticks."""
    if _family(env_name) == "Rooms":
        from mamba_edu.envs.rooms import RoomsLayout

        n_rooms = int(short_name(env_name).split("-")[1])
        L = RoomsLayout(n_rooms)
        if L.height / L.width > 0.5:                     # Rooms-1: square panels side by side
            return style.subplots(n, aspect=L.height / L.width + (0.15 if labels else 0.08), pyplot=pyplot,
                                  layout="row")
        extra = 0.95 if labels else 0.45                 # title (+ tick labels and x label)
        panel_h = (style.NOTEBOOK_WIDTH - (0.8 if labels else 0.2)) * L.height / L.width
        size = (style.NOTEBOOK_WIDTH, round(n * (panel_h + extra) + 0.9, 2))
        return style.subplots(n, max_cols=1, figsize=size, pyplot=pyplot)
    # height / width of a panel: the drawn area of each family (aspect equal)
    aspect = {"PointRobot": 0.66, "PointRobotWind": 0.66, "EscapeRoom": 0.93}.get(_family(env_name), 1.0)
    return style.subplots(n, aspect=aspect + (0.1 if labels else 0.0), pyplot=pyplot, layout="row")


def behaviour_figure(env_name: str, rollout, path: str | Path, n: int = 3, suptitle: str | None = None) -> Path:
    """Save ``n`` meta-episodes side by side as a PNG; returns the path."""
    n = min(n, len(rollout.tasks))
    with style.context():
        fig, axes = behaviour_axes(env_name, n, pyplot=False)
        for i, ax in enumerate(axes):
            plot_behaviour(env_name, rollout, i, ax)
        style.legend(axes if n > 1 else axes[0], where="below")
        fig.suptitle(suptitle or short_name(env_name))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return path
