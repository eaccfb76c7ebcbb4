"""Where on the goal arc does the world model expect the reward? PointRobot's version of Fig. 2.

PointRobot hides its goal at an unknown angle θ on the upper unit semicircle (paper Sec. 4, App. C), so
an agent's belief about the task is a belief about θ. Decoding it the way the Rooms-N heatmaps do
(:mod:`mamba_edu.viz.heatmaps`, paper Sec. 3.2.2): from the belief at step t, the world model imagines
driving straight to each candidate goal g(θ) = (cos θ, sin θ) and its reward head is read on arrival
(:func:`mamba_edu.agents.dreamer.probe.point_robot_reward_arc`). A Bayes-optimal agent's picture: a
flat, low arc while it sweeps the semicircle; one bright angle from the moment it finds the goal; that
angle kept across the sub-episode boundaries (the reset puts the robot back at the origin, the belief
stays).

One figure per checkpoint and rollout (one task, one seed):

* **through time** (top) — an image with time t across and θ up, coloured by the predicted reward on
  arrival at g(θ) from the belief at t; the true goal angle as a red dashed line, the steps that paid a
  reward as red ticks along the top, the sub-episode boundaries dashed, arrows at the highlighted
  steps.
* **arcs** (one panel per highlighted step t) — the plane around the semicircle: the candidate goals as
  dots coloured on the same scale, the true goal's disc, the robot's path in the current sub-episode
  so far (earlier ones dotted) and its position.
* a colour bar: the predicted reward r̂, its scale fitted to the predictions (the label says so).

Index convention as the heatmaps': entry t belongs to observation t, the belief the agent acted on.
Only agents with a world model (MAMBA, Dreamer-Tune, Dreamer-Vanilla) have something to decode here.

Python::

    from mamba_edu.viz.reward_arc import arc_figure
    fig = arc_figure("runs/mamba_PointRobot_s0", out="figs/arc.png")

CLI: ``python -m mamba_edu plot heatmap --run DIR`` on a PointRobot run draws this figure.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from mamba_edu.viz import style
from mamba_edu.viz.heatmaps import _DESCRIPTION, _LETTERS, _default_seed, _rollout_one, check_steps
from mamba_edu.viz.style import FONT

#: environments with a goal arc to decode, and the agents that can decode it
ARC_ENVS = ("PointRobot", "PointRobotWind")
ARC_ALGOS = ("mamba", "dreamer-tune", "dreamer-vanilla")
#: candidate goal angles per figure: 3° apart (the goal disc of radius 0.2 spans about 23°)
N_ANGLES = 61

_CMAP = colormaps["Greens"]


@dataclass
class ArcTrace:
    """One rollout of one checkpoint on one PointRobot task, with the decoded arc at every step."""

    algo: str
    env: str
    task: np.ndarray              #: (1,) the goal angle θ
    seed: int                     #: the rollout's env seed
    T: int                        #: steps per sub-episode
    positions: np.ndarray         #: (H, 2) the robot's position at observation t
    sub_episode: np.ndarray       #: (H,) sub-episode index of observation t
    paid: np.ndarray              #: (H,) bool: the step into positions[t] paid a reward
    angles: np.ndarray            #: (A,) candidate goal angles, 0 … π
    arc: np.ndarray               #: (H, A) predicted reward on arrival at g(angle) from belief t
    sub_episode_returns: np.ndarray  #: (K,) returns of the rollout
    label: str = ""
    scale: tuple[float, float] | None = None   #: colour limits fitted to the predictions
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def H(self) -> int:
        return len(self.positions)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.scale if self.scale is not None else (0.0, 1.0)

    @property
    def colour_label(self) -> str:
        name = "predicted reward r̂ on arrival"
        return style.fitted_label(name, "the predictions") if self.scale is not None else name

    @property
    def believed_angle(self) -> np.ndarray:
        """(H,) the candidate angle with the highest predicted reward at each step."""
        return self.angles[np.argmax(self.arc, axis=1)]


def check_arc_run(saved: dict[str, Any], run: str | Path) -> None:
    """Clear errors for a run whose arc cannot be drawn (``saved``: its config.json)."""
    from mamba_edu.envs import short_name

    env, algo = short_name(str(saved.get("env"))), saved.get("algo")
    if env not in ARC_ENVS:
        raise ValueError(f"the reward arc is drawn on {', '.join(ARC_ENVS)} only; {run} is a run on {env}")
    if algo not in ARC_ALGOS:
        raise ValueError(f"the reward arc needs a world model to imagine with (valid algorithms: "
                         f"{', '.join(ARC_ALGOS)}); {run} is a {algo} run")


def arc_trace_from_learner(learner: Any, algo: str, env_name: str, task: Any = None, seed: int | None = None,
                           greedy: bool | None = None, n_angles: int = N_ANGLES, label: str | None = None) -> ArcTrace:
    """Roll ``learner`` (a Dreamer/MAMBA learner) out once on ``task`` (default ``sample_tasks(1, seed)``)
    and decode every belief along the arc; ``greedy=None`` acts as the run's evaluation does."""
    from mamba_edu.agents.dreamer.probe import point_robot_reward_arc
    from mamba_edu.envs import make_batched, short_name

    check_arc_run({"env": env_name, "algo": algo}, f"this {algo} learner")
    name = short_name(env_name)
    seed = _default_seed() if seed is None else int(seed)
    cfg = learner.cfg
    greedy = cfg.eval_greedy if greedy is None else bool(greedy)
    env = make_batched(name, 1, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    tasks = [np.asarray(task, dtype=np.float64).reshape(1)] if task is not None else env.sample_tasks(1, seed)
    ro, beliefs = _rollout_one(learner, algo, env, tasks, seed, greedy)
    T = env.T
    env.close()
    positions = np.asarray(ro.obs)[:-1, 0, :2].astype(np.float64)
    angles = np.linspace(0.0, np.pi, n_angles)
    arc = point_robot_reward_arc(learner.agent, {k: v[:, 0] for k, v in beliefs.items()}, positions, angles)
    sub = np.asarray(ro.sub_episode)[:-1, 0]
    paid = np.zeros(len(positions), dtype=bool)
    paid[1:] = (np.asarray(ro.rewards)[:-1, 0] > 0) & (sub[1:] == sub[:-1])     # not across a reset
    return ArcTrace(algo=algo, env=name, task=np.asarray(ro.tasks[0], dtype=np.float64), seed=seed, T=T,
                    positions=positions, sub_episode=sub, paid=paid, angles=angles, arc=arc,
                    sub_episode_returns=np.asarray(ro.sub_episode_returns[0]),
                    label=label if label is not None else _DESCRIPTION.get(algo, algo))


def load_arc_trace(run: str | Path, task: Any = None, seed: int | None = None, which: str = "best",
                   greedy: bool | None = None) -> ArcTrace:
    """:func:`arc_trace_from_learner` for the ``which`` checkpoint of a run directory."""
    from mamba_edu.training.loop import load_learner
    from mamba_edu.training.run_dir import read_config

    check_arc_run(read_config(run), run)
    _, learner, saved = load_learner(run, which)
    trace = arc_trace_from_learner(learner, saved["algo"], saved["env"], task=task, seed=seed, greedy=greedy)
    trace.extra["run"] = str(run)
    return trace


def default_arc_steps(trace: ArcTrace, per_sub_episode: int = 2) -> list[int]:
    """Highlighted steps: in every sub-episode its first step and the first step that paid a reward (or,
    where none did, its middle) — the moments the belief should change."""
    steps = []
    for k in range(int(trace.sub_episode.max()) + 1):
        ts = np.flatnonzero(trace.sub_episode == k)
        hits = ts[trace.paid[ts]]
        steps.append(int(ts[0]))
        if per_sub_episode > 1:
            steps.append(int(hits[0]) if hits.size else int(ts[len(ts) // 2]))
    return sorted(set(steps))


def plot_arc_through_time(trace: ArcTrace, ax, steps: Sequence[int] = ()):
    """Top panel: predicted reward on arrival at every candidate angle (up) against time (across)."""
    lo, hi = trace.value_range
    d = np.degrees(trace.angles)
    half = (d[1] - d[0]) / 2 if len(d) > 1 else 1.0
    image = ax.imshow(trace.arc.T, origin="lower", aspect="auto", cmap=_CMAP, vmin=lo, vmax=hi,
                      extent=(-0.5, trace.H - 0.5, d[0] - half, d[-1] + half), interpolation="nearest")
    ax.axhline(np.degrees(float(trace.task[0])), color="tab:red", ls="--", lw=1.2, label="true goal angle")
    hits = np.flatnonzero(trace.paid)
    if hits.size:
        ax.plot(hits, np.full(len(hits), d[-1] + half), "|", color="tab:red", ms=8, mew=1.2, clip_on=False,
                label="reward received")
    for k in range(1, trace.H // trace.T):
        ax.axvline(k * trace.T - 0.5, color="0.4", ls="--", lw=0.8)
    for letter, t in zip(_LETTERS, steps):
        ax.annotate(f"({letter})", xy=(t, 1.0), xytext=(t, 1.12), xycoords=ax.get_xaxis_transform(),
                    textcoords=ax.get_xaxis_transform(), ha="center", fontsize=FONT["annotation"],
                    arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set_yticks([0, 45, 90, 135, 180])
    ax.set_ylabel("goal angle θ (degrees)", fontsize=FONT["label"])
    ax.set_xlabel("time step t", fontsize=FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False, fontsize=FONT["legend"])
    return image


def plot_arc_at(trace: ArcTrace, t: int, ax, letter: str | None = None):
    """One arc panel: the candidate goals coloured by the prediction from the belief at step ``t``, the
    true goal's disc and the robot's path so far."""
    from mamba_edu.envs.point_robot import GOAL_RADIUS, goal_position

    lo, hi = trace.value_range
    circle = np.linspace(0, np.pi, 100)
    ax.plot(np.cos(circle), np.sin(circle), color="0.85", lw=1, zorder=0)
    ax.add_patch(Circle(goal_position(trace.task), GOAL_RADIUS, fill=False, ec="tab:red", lw=1.2))
    dots = ax.scatter(np.cos(trace.angles), np.sin(trace.angles), c=trace.arc[t], cmap=_CMAP, vmin=lo, vmax=hi,
                      s=22, edgecolors="0.5", linewidths=0.3, zorder=2)
    sub = trace.sub_episode
    for k in range(int(sub[t]) + 1):
        keep = (sub == k) & (np.arange(trace.H) <= t)
        xy = trace.positions[keep]
        ax.plot(xy[:, 0], xy[:, 1], color="tab:blue", lw=1.5 if k == sub[t] else 1.0,
                ls="-" if k == sub[t] else ":", alpha=0.9 if k == sub[t] else 0.5, zorder=3)
    ax.plot(*trace.positions[t], "o", color="tab:blue", ms=5, mec="white", mew=0.8, zorder=4)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-0.35, 1.3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    prefix = f"({letter}) " if letter else ""
    ax.set_title(f"{prefix}t = {t}, sub-episode {int(sub[t]) + 1}\nmax r̂ at {np.degrees(trace.believed_angle[t]):.0f}°",
                 fontsize=FONT["annotation"] + 1)
    return dots


#: inches: the through-time panel; one arc panel (its drawn area is 2.6 × 1.65 data units); arc panels per row
_TIME_H, _ARC_COLS = 2.0, 3
_ARC_H = (style.NOTEBOOK_WIDTH / _ARC_COLS - 0.3) * 1.65 / 2.6


def _grid(n_steps: int) -> tuple[int, int]:
    ncols = min(n_steps, _ARC_COLS)
    return -(-n_steps // ncols), ncols


def _block_height(n_steps: int) -> float:
    """Inches: time panel + its arrows, x label and legend + the arc rows with their titles + colour bar + title."""
    return round(_TIME_H + 1.2 + _grid(n_steps)[0] * (_ARC_H + 0.7) + 0.8 + 0.4, 2)


def _draw_block(fig, trace: ArcTrace, steps: list[int], title: str | None) -> dict[str, Any]:
    nrows, ncols = _grid(len(steps))
    gs = fig.add_gridspec(1 + nrows, ncols, height_ratios=[_TIME_H] + [_ARC_H] * nrows)
    ax_t = fig.add_subplot(gs[0, :])
    image = plot_arc_through_time(trace, ax_t, steps)
    arcs = []
    for i, t in enumerate(steps):
        ax = fig.add_subplot(gs[1 + i // ncols, i % ncols])
        plot_arc_at(trace, t, ax, letter=_LETTERS[i])
        arcs.append(ax)
    cbar = style.colorbar(image, label=trace.colour_label, ax=arcs, orientation="horizontal", location="bottom",
                          shrink=0.6, aspect=40, pad=0.02)
    ret = trace.sub_episode_returns
    fig.suptitle(title or f"{trace.label} — {trace.env}, goal at {np.degrees(float(trace.task[0])):.0f}°, return "
                 f"{ret.sum():.1f} (" + " / ".join(f"{r:.1f}" for r in ret) + ")", fontsize=FONT["suptitle"])
    return {"time": ax_t, "arcs": arcs, "colorbar": cbar}


def _as_trace(source: ArcTrace | str | Path, task: Any, seed: int | None, which: str) -> ArcTrace:
    return source if isinstance(source, ArcTrace) else load_arc_trace(source, task=task, seed=seed, which=which)


def fit_arc_scale(traces: Sequence[ArcTrace]) -> list[ArcTrace]:
    """Copies of ``traces`` with one colour scale spanning what any of them predicts."""
    lo, hi = style.fitted_limits(np.concatenate([t.arc.ravel() for t in traces]))
    return [dataclasses.replace(t, scale=(lo, hi)) for t in traces]


def arc_figure(source: ArcTrace | str | Path | Sequence[ArcTrace | str | Path], steps: Sequence[int] | None = None,
               out: str | Path | None = None, *, task: Any = None, seed: int | None = None, which: str = "best",
               title: str | None = None, pdf: bool = False) -> Figure:
    """The reward-arc figure of one checkpoint, or of several stacked (all rolled out on the first one's
    task and seed, at the same highlighted steps, on one fitted colour scale). ``steps=None`` →
    :func:`default_arc_steps` of the first. ``out`` saves a PNG. Returns the Figure (no pyplot)."""
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    traces = [_as_trace(sources[0], task, seed, which)]
    for s in sources[1:]:
        traces.append(_as_trace(s, traces[0].task if task is None else task,
                                traces[0].seed if seed is None else seed, which))
    traces = fit_arc_scale(traces)
    steps = check_steps(traces[0], default_arc_steps(traces[0]) if steps is None else steps)
    with style.context():
        fig = Figure(figsize=(style.NOTEBOOK_WIDTH, _block_height(len(steps)) * len(traces)), layout="constrained")
        subs = [fig] if len(traces) == 1 else list(fig.subfigures(len(traces), 1))
        for sub, trace in zip(subs, traces):
            _draw_block(sub, trace, steps, title if len(traces) == 1 else None)
        if len(traces) > 1 and title:
            fig.suptitle(title, fontsize=FONT["suptitle"] + 1)
        if out is not None:
            from mamba_edu.viz.curves import save_figure

            save_figure(fig, out, pdf=pdf)
    return fig
