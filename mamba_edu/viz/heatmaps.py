"""Reward-prediction heatmaps on Rooms-N, the package's version of the paper's Figure 2.

What the figure is for (paper Sec. 3.2.2, Fig. 2, App. E): a meta-RL agent carries a *belief*
about the task — VariBAD's posterior q(z | τ_{:t}) (Sec. 3.1) or the RSSM state of Dreamer/MAMBA
(Sec. 3.3). Decoding that belief into "how much reward do I expect in each cell?" shows what the
agent has understood at each moment. The paper uses it to compare VariBAD's *global*
reconstruction (every belief must explain the whole meta-episode) with *local* reconstruction (a
window of about 10 transitions, App. E): with global reconstruction the decoder blurs reward into
cells next to the agent and the agent stalls; with local reconstruction the prediction near the
agent is sharp while far-away rooms are predicted poorly — good enough, because Rooms-N is a
decomposable task (Sec. 3.2.1) and only the current room matters.

One figure per checkpoint and rollout (one fixed task, one seed):

* **through time** (top panel) — for t = 0 … H−1 (H = K·T): the predicted reward at the agent's
  current cell (green), the agent's state index (the cell number ``x·3 + y`` of
  :class:`~mamba_edu.envs.rooms.RoomsLayout`, blue, right-hand axis; it grows as the agent moves
  right through the rooms and stays flat while the agent stands still) and a goal indicator (red
  spikes: the step into the current cell paid the goal reward). Dashed lines separate the
  sub-episodes; arrows mark the highlighted time steps.
* **maps** (one panel per highlighted step t) — the predicted reward of every free cell given the
  belief at t (walls dark grey; greener = more reward expected), the agent's path in the current
  sub-episode so far in blue (earlier sub-episodes dotted, light), its position as a dot, and
  the N goals outlined in red with their order.
* a shared colour bar: p(r = +1 | cell, belief) for VariBAD's Bernoulli decoders, the predicted
  reward r̂ (scale −0.1 … 1, the env's step and goal rewards) for VariBAD's regression decoder
  and for Dreamer/MAMBA.

Where the numbers come from (nothing is re-implemented here):

* VariBAD, VariBAD-local, HyperX — :func:`mamba_edu.agents.ppo.probe.rollout_with_beliefs` gives
  the belief means μ_t; :func:`mamba_edu.agents.ppo.probe.reward_map` decodes z = μ_t at every
  cell (the paper's "reward prediction using the learned decoder in each state and for every
  encoded belief", Sec. 3.2.2).
* MAMBA, Dreamer-Tune, Dreamer-Vanilla — :func:`mamba_edu.agents.dreamer.probe.rollout_with_latents`
  gives the posterior state at every step; :func:`mamba_edu.agents.dreamer.probe.rooms_reward_map`
  imagines walking from the current cell to each cell with the world model and reads the reward
  head on arrival (the current cell: one imagined no-op step). Cost: one imagined walk per time
  step (about a second for H = 200 on a CPU at the ``quick`` sizes, a few at the paper's).

Index convention: entry t of every array is the belief *after* observation t, i.e. what the
agent knew when it chose action t (t = 0 is the prior, before any transition).

Python::

    from mamba_edu.viz.heatmaps import heatmap_figure, compare_heatmaps, load_trace
    fig = heatmap_figure("runs/varibad_Rooms-4_s0", steps=[10, 40, 120], out="figs/varibad.png")
    fig = compare_heatmaps(["runs/varibad_Rooms-4_s0", "runs/varibad-local_Rooms-4_s0"],
                           out="figs/global_vs_local.png")

CLI: ``python -m mamba_edu plot heatmap --run DIR [--run DIR2] [--steps t1 t2 ...] [--out F]``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mamba_edu.envs.rooms import GOAL_REWARD, STEP_REWARD, RoomsLayout
from mamba_edu.viz import style
from mamba_edu.viz.style import FONT
from mamba_edu.training.learner import BeliefProbe

#: algorithms with something to decode: VariBAD's reward decoder or the Dreamer/MAMBA world model
BELIEF_ALGOS = ("varibad", "varibad-local", "hyperx")
WORLD_MODEL_ALGOS = ("mamba", "dreamer-tune", "dreamer-vanilla")
HEATMAP_ALGOS = BELIEF_ALGOS + WORLD_MODEL_ALGOS
HEATMAP_ENVS = tuple(f"Rooms-{n}" for n in range(1, 9))

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_MAP_CMAP = colormaps["Greens"].with_extremes(bad="0.3")
#: what each algorithm's map means, for labels
_DESCRIPTION = {"varibad": "VariBAD, global reconstruction", "varibad-local": "VariBAD, local reconstruction",
                "hyperx": "HyperX (VariBAD decoder)", "mamba": "MAMBA world model",
                "dreamer-tune": "Dreamer-Tune world model", "dreamer-vanilla": "Dreamer-Vanilla world model"}


def _default_seed() -> int:
    from mamba_edu.training.loop import FINAL_SEED

    return FINAL_SEED


@dataclass
class RewardTrace:
    """One rollout of one checkpoint on one Rooms-N task, with the decoded reward map at every step.

    All per-step arrays have length H = K·T; entry t belongs to observation t (see the module
    docstring). ``maps[t]`` is indexed ``[x, y]`` (y = 0 the top row) with NaN on walls, as
    returned by the probes.
    """

    algo: str
    env: str
    layout: RoomsLayout
    task: np.ndarray              #: (N,) goal corner of every room
    seed: int                     #: the rollout's env seed
    T: int                        #: steps per sub-episode
    cells: np.ndarray             #: (H,) cell index of the agent at observation t
    sub_episode: np.ndarray       #: (H,) sub-episode index of observation t
    goal_reached: np.ndarray      #: (H,) bool: the step into cells[t] paid the goal reward
    maps: np.ndarray              #: (H, W, 3) predicted reward of every cell from belief t
    quantity: str                 #: "probability" (p(r = +1)) or "reward" (r̂)
    sub_episode_returns: np.ndarray  #: (K,) returns of the rollout
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    scale: tuple[float, float] | None = None  #: colour limits fitted to the predictions (:func:`fit_scale`)

    @property
    def H(self) -> int:
        return len(self.cells)

    @property
    def goal_cells(self) -> np.ndarray:
        return self.layout.goal_cells(self.task)

    @property
    def xy(self) -> np.ndarray:
        """(H, 2) integer (x, y) of the agent."""
        return self.layout.xy(self.cells)

    @property
    def current(self) -> np.ndarray:
        """(H,) predicted reward at the agent's own cell, from the belief at the same step."""
        x, y = self.xy.T
        return self.maps[np.arange(self.H), x, y]

    @property
    def value_range(self) -> tuple[float, float]:
        """Colour-scale limits: ``scale`` where fitted, else the full range of the quantity ([0, 1] for
        probabilities, [step reward, goal reward] for rewards)."""
        if self.scale is not None:
            return self.scale
        return (0.0, 1.0) if self.quantity == "probability" else (STEP_REWARD, GOAL_REWARD)

    @property
    def quantity_label(self) -> str:
        """What a map's value is, without the note on the colour scale."""
        return "p(r = +1 | cell, belief)" if self.quantity == "probability" else "predicted reward r̂"

    @property
    def colour_label(self) -> str:
        """The colour bar's label; says when the scale is fitted (:func:`mamba_edu.viz.style.fitted_label`)."""
        name = self.quantity_label
        return style.fitted_label(name, "the predictions") if self.scale is not None else name


def fit_scale(traces: Sequence[RewardTrace]) -> list[RewardTrace]:
    """Copies of ``traces`` with one shared colour scale: the smallest and largest value their maps
    predict (a decoder that never predicts more than 0.3 gets the whole colour range, and the colour
    bar's label says so)."""
    lo, hi = style.fitted_limits(np.concatenate([t.maps[np.isfinite(t.maps)] for t in traces]))
    return [dataclasses.replace(t, scale=(lo, hi)) for t in traces]


def fit_scale_by_quantity(traces: Sequence[RewardTrace]) -> list[RewardTrace]:
    """:func:`fit_scale` over the traces of each quantity (probabilities and rewards get a scale each),
    in the original order."""
    by_quantity = {q: iter(fit_scale([t for t in traces if t.quantity == q])) for q in {t.quantity for t in traces}}
    return [next(by_quantity[t.quantity]) for t in traces]


# ----- building traces -----------------------------------------------------------------------------------

def _rooms_name(env_name: str) -> str:
    from mamba_edu.envs import short_name

    name = short_name(env_name)
    if name not in HEATMAP_ENVS:
        raise ValueError(f"reward heatmaps are drawn on Rooms-N only (valid: {', '.join(HEATMAP_ENVS)}); "
                         f"got {name} — use plot behaviour or plot animation for other envs")
    return name


def check_heatmap_run(run: str | Path) -> dict[str, Any]:
    """The run's config.json, after checking that a heatmap can be drawn for it (clear errors)."""
    from mamba_edu.training.run_dir import read_config

    saved = read_config(run)
    env, algo = saved.get("env"), saved.get("algo")
    try:
        _rooms_name(str(env))
    except ValueError:
        raise ValueError(f"plot heatmap needs a run on Rooms-N (valid envs: {', '.join(HEATMAP_ENVS)}) or on "
                         f"PointRobot / PointRobotWind (the reward arc); {run} is a {algo} run on {env}") from None
    if algo not in HEATMAP_ALGOS:
        raise ValueError(f"plot heatmap needs an agent whose belief can be decoded into rewards (valid algorithms: "
                         f"{', '.join(HEATMAP_ALGOS)}); {run} is a {algo} run")
    return saved


def check_reward_figure_run(run: str | Path) -> tuple[dict[str, Any], bool]:
    """(the run's config.json, whether its figure is the PointRobot reward arc) after checking that a
    reward-prediction figure can be drawn for it: the arc on PointRobot / PointRobotWind
    (:mod:`mamba_edu.viz.reward_arc`), the cell maps on Rooms-N (clear errors otherwise)."""
    from mamba_edu.envs import short_name
    from mamba_edu.training.run_dir import read_config
    from mamba_edu.viz.reward_arc import ARC_ENVS, check_arc_run

    saved = read_config(run)
    if short_name(str(saved.get("env"))) in ARC_ENVS:
        check_arc_run(saved, run)
        return saved, True
    return check_heatmap_run(run), False


def trace_from_learner(learner: Any, algo: str, env_name: str, task: Any = None, seed: int | None = None,
                       greedy: bool | None = None, label: str | None = None) -> RewardTrace:
    """Roll ``learner`` out once on ``task`` (default: ``sample_tasks(1, seed)``) and decode every belief
    (``learner`` a :class:`~mamba_edu.training.learner.BeliefProbe`: VariBAD, HyperX or a Dreamer/MAMBA).

    ``greedy=None`` acts as the run's evaluation does (``cfg.eval_greedy``); the torch RNG is
    seeded with ``seed`` inside a forked RNG state, so the same call gives the same rollout and the
    caller's random stream is untouched.
    """
    from mamba_edu.envs import make_batched

    name = _rooms_name(env_name)
    seed = _default_seed() if seed is None else int(seed)
    cfg = learner.cfg
    env = make_batched(name, 1, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    layout = env.proto.layout
    tasks = [task] if task is not None else env.sample_tasks(1, seed)
    greedy = cfg.eval_greedy if greedy is None else bool(greedy)
    ro, beliefs = _rollout_one(learner, algo, env, tasks, seed, greedy)
    cells = layout.cell_from_obs(np.asarray(ro.obs)[:-1, 0, :2])
    maps, quantity = learner.reward_maps(beliefs, cells, layout)
    env.close()
    sub = np.asarray(ro.sub_episode)[:-1, 0]
    paid = np.zeros(len(cells), dtype=bool)
    paid[1:] = (np.asarray(ro.rewards)[:-1, 0] == GOAL_REWARD) & (sub[1:] == sub[:-1])   # not across a reset
    return RewardTrace(algo=algo, env=name, layout=layout, task=np.asarray(ro.tasks[0]), seed=seed, T=env.T,
                       cells=cells.astype(np.int64), sub_episode=sub, goal_reached=paid,
                       maps=np.asarray(maps, dtype=np.float64), quantity=quantity,
                       sub_episode_returns=np.asarray(ro.sub_episode_returns[0]),
                       label=label if label is not None else _DESCRIPTION.get(algo, algo))


def _rollout_one(learner: Any, algo: str, env: Any, tasks: list, seed: int, greedy: bool) -> tuple[Any, dict]:
    """One rollout of ``learner.actor(greedy)`` on ``tasks`` (a batched env of that size) with the torch RNG
    seeded by ``seed`` inside a forked state; returns (rollout, the learner's belief at every step: the
    RSSM posterior for Dreamer/MAMBA, the posterior's (μ, log σ²) for VariBAD/HyperX)."""
    if not isinstance(learner, BeliefProbe):
        raise ValueError(f"{algo}: this agent has no reward decoder or world model to read "
                         f"(valid algorithms: {', '.join(HEATMAP_ALGOS)})")
    device = getattr(getattr(learner, "agent", learner), "device", torch.device("cpu"))
    cuda = [device.index or 0] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        return learner.rollout_with_beliefs(env, tasks=tasks, seed=seed, greedy=greedy)


def median_return_task(run: str | Path, n_tasks: int = 101, seed: int | None = None, which: str = "best",
                       greedy: bool | None = None) -> tuple[np.ndarray, float]:
    """The episode a figure shows, chosen by rule: of ``n_tasks`` held-out tasks (``sample_tasks(n_tasks,
    seed)``), the one whose return is the median when each is rolled out as :func:`load_trace` (or, on
    PointRobot, :func:`mamba_edu.viz.reward_arc.load_arc_trace`) rolls it out (same seed, same actions),
    so the trace of that task has exactly this return. Returns (task, return)."""
    from mamba_edu.envs import make_batched, short_name
    from mamba_edu.training.loop import load_learner

    check_reward_figure_run(run)
    cfg, learner, saved = load_learner(run, which)
    seed = _default_seed() if seed is None else int(seed)
    greedy = cfg.eval_greedy if greedy is None else bool(greedy)
    env = make_batched(short_name(saved["env"]), 1, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    tasks = env.sample_tasks(n_tasks, seed)
    returns = np.array([_rollout_one(learner, saved["algo"], env, [t], seed, greedy)[0].returns[0] for t in tasks])
    env.close()
    i = int(np.argsort(returns, kind="stable")[(n_tasks - 1) // 2])
    return np.asarray(tasks[i]), float(returns[i])


def load_trace(run: str | Path, task: Any = None, seed: int | None = None, which: str = "best",
               greedy: bool | None = None) -> RewardTrace:
    """:func:`trace_from_learner` for the ``which`` checkpoint of a run directory."""
    from mamba_edu.training.loop import load_learner

    saved = check_heatmap_run(run)
    _, learner, saved = load_learner(run, which)
    trace = trace_from_learner(learner, saved["algo"], saved["env"], task=task, seed=seed, greedy=greedy)
    trace.extra["run"] = str(run)
    return trace


def _as_traces(sources: Sequence[Any], task: Any, seed: int | None, which: str) -> list[RewardTrace]:
    traces: list[RewardTrace] = []
    for s in sources:
        if isinstance(s, RewardTrace):
            traces.append(s)
        else:
            if traces:  # unless given: the first one's task and seed
                task = traces[0].task if task is None else task
                seed = traces[0].seed if seed is None else seed
            traces.append(load_trace(s, task=task, seed=seed, which=which))
    first = traces[0]
    for tr in traces[1:]:
        if tr.env != first.env or not np.array_equal(tr.task, first.task) or tr.seed != first.seed:
            got = ", ".join(f"{t.algo} on {t.env} task {t.task.tolist()} seed {t.seed}" for t in traces)
            raise ValueError(f"compare_heatmaps: every checkpoint must be rolled out on the same env, task and seed; "
                             f"got {got}")
    return traces


def default_steps(trace: RewardTrace, n: int = 6) -> list[int]:
    """About ``n`` highlighted steps spread evenly inside every sub-episode (at least one per sub-episode)."""
    K = int(trace.sub_episode.max()) + 1
    per = max(1, n // K)
    out = []
    for k in range(K):
        for j in range(per):
            out.append(k * trace.T + int(round((2 * j + 1) * trace.T / (2 * per))))
    return [t for t in out if t < trace.H]


def check_steps(trace: RewardTrace, steps: Sequence[int] | None) -> list[int]:
    if steps is None:
        return default_steps(trace)
    steps = [int(t) for t in steps]
    if not steps:
        raise ValueError("steps: give at least one time step")
    bad = [t for t in steps if not 0 <= t < trace.H]
    if bad:
        raise ValueError(f"steps {bad} out of range: valid time steps are 0..{trace.H - 1} "
                         f"(K = {trace.H // trace.T} sub-episodes of T = {trace.T})")
    if len(steps) > len(_LETTERS):
        raise ValueError(f"at most {len(_LETTERS)} highlighted steps, got {len(steps)}")
    return steps


# ----- drawing ------------------------------------------------------------------------------------------

def plot_through_time(trace: RewardTrace, ax, steps: Sequence[int] = (), legend: bool = True):
    """Top panel of Fig. 2: predicted reward at the current cell, state index, goal indicator vs t."""
    lo, hi = trace.value_range
    x = np.arange(trace.H)
    n_cells = trace.layout.n_cells
    to_axis = lambda c: lo + (hi - lo) * np.asarray(c, dtype=float) / (n_cells - 1)  # noqa: E731
    from_axis = lambda y: (np.asarray(y, dtype=float) - lo) / (hi - lo) * (n_cells - 1)  # noqa: E731
    hits = np.flatnonzero(trace.goal_reached)
    ax.vlines(hits, lo, hi, color="tab:red", lw=1.0, alpha=0.7, label="goal reached")
    ax.plot(x, to_axis(trace.cells), color="tab:blue", lw=1.2, label="state index (right axis)")
    ax.plot(x, trace.current, color="tab:green", lw=1.5, label="predicted reward at current cell")
    for k in range(1, trace.H // trace.T):
        ax.axvline(k * trace.T, color="0.5", ls="--", lw=0.8)
    pad = 0.06 * (hi - lo)
    ax.set_xlim(-0.5, trace.H - 0.5)
    ax.set_ylim(lo - pad, hi + pad)
    sec = ax.secondary_yaxis("right", functions=(from_axis, to_axis))
    sec.set_ylabel("state index", color="tab:blue", fontsize=FONT["label"])
    sec.tick_params(labelsize=FONT["tick"], colors="tab:blue")
    ax.set_ylabel(trace.quantity_label.replace(" | cell, belief", "") + "\nat agent", color="tab:green",
                  fontsize=FONT["label"])
    ax.set_xlabel("time step t", fontsize=FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    # Labels of nearby steps (e.g. t = 100 and 101) go on staggered rows instead of overlapping.
    min_gap, last_on_row = 0.04 * trace.H, []
    for letter, t in zip(_LETTERS, steps):
        row = next((i for i, last in enumerate(last_on_row) if t - last >= min_gap), len(last_on_row))
        last_on_row[row:row + 1] = [t]
        ax.annotate(f"({letter})", xy=(t, 1.0), xytext=(t, 1.1 + 0.16 * row), xycoords=ax.get_xaxis_transform(),
                    textcoords=ax.get_xaxis_transform(), ha="center", fontsize=FONT["annotation"],
                    arrowprops=dict(arrowstyle="->", lw=0.8))
    if legend:
        _legend_below(ax)
    return ax


def _legend_below(ax) -> None:
    """The through-time panel's legend in one row under its x label (no renderer needed: the panel's
    layout is fixed, tick labels and x label in the style's sizes)."""
    from matplotlib.transforms import offset_copy

    drop = 1.35 * (FONT["tick"] + FONT["label"]) + 3.5 + 3.5 + 4.0 + 2.0   # tick labels, x label, pads (points)
    fig = ax.get_figure(root=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False, borderaxespad=0.0,
              bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-drop, units="points"), fontsize=FONT["legend"])


def _path_xy(trace: RewardTrace, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(current sub-episode path up to t, earlier sub-episodes' paths with NaN breaks) as (n, 2) arrays."""
    xy = trace.xy.astype(float)
    sub = trace.sub_episode
    now = xy[(sub == sub[t]) & (np.arange(trace.H) <= t)]
    past = []
    for k in range(int(sub[t])):
        past.append(xy[sub == k])
        past.append(np.full((1, 2), np.nan))
    past = np.concatenate(past) if past else np.zeros((0, 2))
    return now, past


def plot_reward_map(trace: RewardTrace, t: int, ax, letter: str | None = None) -> dict[str, Any]:
    """One map panel of Fig. 2: predicted reward of every cell from the belief at step ``t``.

    Returns the artists (``image``, ``path``, ``past``, ``agent``) so that
    :func:`update_reward_map` (the interactive slider) can move them to another step.
    """
    L = trace.layout
    lo, hi = trace.value_range
    image = ax.imshow(trace.maps[t].T, cmap=_MAP_CMAP, vmin=lo, vmax=hi, origin="upper", interpolation="nearest",
                      extent=(-0.5, L.width - 0.5, L.height - 0.5, -0.5))
    for i, g in enumerate(trace.goal_cells):
        gx, gy = L.xy(g)
        ax.add_patch(Rectangle((gx - 0.45, gy - 0.45), 0.9, 0.9, fill=False, edgecolor="tab:red", lw=1.3))
        ax.text(gx, gy, str(i + 1), color="tab:red", fontsize=FONT["annotation"], ha="center", va="center",
                fontweight="bold", bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.75))
    (past,) = ax.plot([], [], color="tab:blue", lw=1.0, ls=":", alpha=0.45)
    (path,) = ax.plot([], [], color="tab:blue", lw=1.6, alpha=0.9)
    (agent,) = ax.plot([], [], "o", color="tab:blue", ms=5, mec="white", mew=0.8)
    ax.set_xlim(-0.5, L.width - 0.5)
    ax.set_ylim(L.height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    artists = {"image": image, "path": path, "past": past, "agent": agent, "ax": ax, "letter": letter}
    update_reward_map(artists, trace, t)
    return artists


def update_reward_map(artists: dict[str, Any], trace: RewardTrace, t: int) -> None:
    """Move the artists of :func:`plot_reward_map` to step ``t`` (new map, path, agent, title)."""
    artists["image"].set_data(trace.maps[t].T)
    now, past = _path_xy(trace, t)
    artists["path"].set_data(now[:, 0], now[:, 1])
    artists["past"].set_data(past[:, 0], past[:, 1])
    x, y = trace.xy[t]
    artists["agent"].set_data([x], [y])
    prefix = f"({artists['letter']}) " if artists.get("letter") else ""
    # Two short lines: Rooms-1/2 panels are narrow, and one long line ran into the next title.
    artists["ax"].set_title(f"{prefix}t = {t}, sub-episode {int(trace.sub_episode[t]) + 1}\n"
                            f"at agent: {trace.current[t]:.2f}", fontsize=FONT["annotation"] + 1)


#: smallest size of a grid cell in a map panel, inches (the goal numbers must fit)
_CELL_IN = 0.2


def _map_columns(layout: RoomsLayout, n: int, width_in: float = style.NOTEBOOK_WIDTH) -> int:
    """Map panels per row at the notebook's width: every cell at least ``_CELL_IN`` wide, titles
    readable (at most :data:`mamba_edu.viz.style.MAX_COLS`)."""
    return int(np.clip(width_in // (_CELL_IN * layout.width + 0.4), 1, min(n, style.MAX_COLS)))


def _draw_block(fig, trace: RewardTrace, steps: list[int], title: str | None) -> dict[str, Any]:
    """Time panel + map panels + colour bar of one checkpoint on a (sub)figure."""
    ncols = _map_columns(trace.layout, len(steps))
    nrows = -(-len(steps) // ncols)
    gs = fig.add_gridspec(1 + nrows, ncols, height_ratios=[_TIME_H] + [_map_height(trace, ncols)] * nrows)
    ax_t = fig.add_subplot(gs[0, :])
    plot_through_time(trace, ax_t, steps)
    maps = []
    for i, t in enumerate(steps):
        ax = fig.add_subplot(gs[1 + i // ncols, i % ncols])
        maps.append(plot_reward_map(trace, t, ax, letter=_LETTERS[i]))
    cbar = map_colorbar(fig, maps[0]["image"], [m["ax"] for m in maps], trace)
    ret = trace.sub_episode_returns
    fig.suptitle(title or f"{trace.label} — {trace.env}, task {trace.task.tolist()}, return {ret.sum():.1f} ("
                 + " / ".join(f"{r:.1f}" for r in ret) + ")", fontsize=FONT["suptitle"])
    return {"time": ax_t, "maps": maps, "colorbar": cbar}


def map_colorbar(fig, image, axes, trace: RewardTrace):
    """The maps' colour bar, horizontal under them, its label saying whether the scale is fitted."""
    return style.colorbar(image, label=trace.colour_label, ax=axes, orientation="horizontal", location="bottom",
                          shrink=0.6, aspect=40, pad=0.02)


#: inches: the through-time panel; above each map, its two-line title
_TIME_H, _MAP_TITLE_H = 2.2, 0.55


def _map_height(trace: RewardTrace, ncols: int, width_in: float = style.NOTEBOOK_WIDTH) -> float:
    """Inches for one map at its aspect (its title is a decoration, outside this height)."""
    L = trace.layout
    return (width_in - 0.4 - 0.1 * ncols) / ncols * L.height / L.width


def _block_size(trace: RewardTrace, n_steps: int) -> tuple[float, float]:
    ncols = _map_columns(trace.layout, n_steps)
    nrows = -(-n_steps // ncols)
    # time panel + its arrows and legend + maps + colour bar + suptitle
    height = _TIME_H + 1.4 + nrows * (_map_height(trace, ncols) + _MAP_TITLE_H) + 0.9 + 0.4
    return style.NOTEBOOK_WIDTH, round(height, 2)


def _save(fig: Figure, out: str | Path | None, pdf: bool) -> None:
    if out is not None:
        from mamba_edu.viz.curves import save_figure

        save_figure(fig, out, pdf=pdf)


def heatmap_figure(source: RewardTrace | str | Path, steps: Sequence[int] | None = None,
                   out: str | Path | None = None, *, task: Any = None, seed: int | None = None,
                   which: str = "best", title: str | None = None, pdf: bool = False, fitted: bool = True) -> Figure:
    """Fig. 2 for one checkpoint: a :class:`RewardTrace` or a run directory (rolled out on ``task``).

    Panels: 1 through-time panel + one map per highlighted step + 1 colour bar
    (``len(fig.axes) == len(steps) + 2``). ``steps=None`` → :func:`default_steps`. ``fitted``: the
    colour scale spans what is predicted (:func:`fit_scale`), else the quantity's full range.
    ``out`` saves a PNG (``pdf=True`` also a PDF beside it). Returns the Figure (no pyplot).
    """
    trace = _as_traces([source], task, seed, which)[0]
    if fitted:
        trace = fit_scale([trace])[0]
    steps = check_steps(trace, steps)
    with style.context():
        fig = Figure(figsize=_block_size(trace, len(steps)), layout="constrained")
        _draw_block(fig, trace, steps, title)
        _save(fig, out, pdf)
    return fig


def compare_heatmaps(sources: Sequence[RewardTrace | str | Path], steps: Sequence[int] | None = None,
                     out: str | Path | None = None, *, task: Any = None, seed: int | None = None,
                     which: str = "best", columns: bool = False, pdf: bool = False, fitted: bool = True,
                     title: str | None = None) -> Figure:
    """Fig. 2 for two (or more) checkpoints on the same task and seed, one block each.

    Stacked top to bottom like the paper (global vs local reconstruction; VariBAD vs MAMBA), or
    side by side with ``columns=True``. Run directories are all rolled out on the first one's task.
    Every block has the panels of :func:`heatmap_figure`, at the same highlighted steps; ``fitted``
    gives the blocks one colour scale spanning what any of them predicts (of the same quantity).
    """
    sources = list(sources)
    if len(sources) < 2:
        raise ValueError(f"compare_heatmaps needs at least two checkpoints, got {len(sources)}")
    traces = _as_traces(sources, task, seed, which)
    if fitted:
        traces = fit_scale_by_quantity(traces)
    steps = check_steps(traces[0], steps)
    w, h = _block_size(traces[0], len(steps))
    n = len(traces)
    with style.context():
        fig = Figure(figsize=(w * n, h) if columns else (w, h * n + 0.3), layout="constrained")
        subs = fig.subfigures(1, n) if columns else fig.subfigures(n, 1)
        for sub, trace in zip(np.atleast_1d(subs), traces):
            _draw_block(sub, trace, steps, title=f"{trace.label} — return {trace.sub_episode_returns.sum():.1f}")
        first = traces[0]
        fig.suptitle(title or f"Reward prediction on {first.env}, task {first.task.tolist()}, seed {first.seed}",
                     fontsize=FONT["suptitle"] + 1)
        _save(fig, out, pdf)
    return fig
