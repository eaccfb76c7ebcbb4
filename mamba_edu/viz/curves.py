"""Learning curves like the paper's Figures 3 and 4, drawn from run directories.

* :func:`curves_figure` — Fig. 3: meta-episode return against env steps (left) and against
  wall-clock time (right), mean ± std over seeds, the reference ceiling dashed.
* :func:`sub_episode_figure` — Fig. 4: the return of sub-episode k against env steps, one panel per
  k, and a last panel with each group's final return per sub-episode against k.

Both read run directories (``config.json`` + ``metrics.csv``, see
:mod:`mamba_edu.training.run_dir`) and return a matplotlib Figure; ``out=PATH`` also saves it
(PNG, plus a PDF beside it). Several environments give one block of panels each (a subfigure,
``fig.subfigs``), with its legend below its panels. The figures are plain
:class:`matplotlib.figure.Figure` objects rendered with Agg, made without pyplot: no display is
needed, nothing has to be closed, and a notebook shows the returned figure. Sizes, fonts and
legends follow :mod:`mamba_edu.viz.style` (the notebook's width; a line added afterwards joins the
legend with ``style.legend(block)`` for each block of ``env_blocks(fig)``).

Grouping
    Runs are grouped by (algorithm, environment) from their ``config.json``. Runs that also differ
    in presets or in overrides other than the seed and the run's budget (``steps``,
    ``eval_every``, …) form separate groups, so an ablation is never averaged with the full method;
    a group's label is its algorithm plus the settings that set it apart from the other groups of
    the same algorithm and environment (:func:`group_labels`).

Averaging over seeds
    The runs of a group are interpolated (linearly) onto a common grid: every x at which one of
    them was evaluated, restricted to the range they all cover — from the latest first
    evaluation to the earliest last one. Nothing is extrapolated beyond the shortest run. The
    band is ± one standard deviation over seeds (none for a single seed).

The ceiling
    Rooms-N: the exact Bayes-optimal return (:func:`mamba_edu.references.reference`, belief DP),
    labelled "exact Bayes-optimal". PointRobot, PointRobotWind, EscapeRoom: the return of the
    scripted explore-then-exploit policy over held-out tasks, labelled "scripted reference" — a
    strong policy, not a proven optimum. Other families have no line.

Steps to convergence (:func:`convergence_step`)
    The first env step at which the seed-mean curve reaches 90 % of the way from its first
    evaluation to its final value: ``first + 0.9 · (final − first)``. Measured from the first
    evaluation rather than from zero because returns can be negative (Rooms pays −0.1 a step), so
    "90 % of the final value" has no meaning when the final value is ≤ 0 and depends on the
    reward's offset otherwise. For curves that start near 0 the two agree. A curve that does not
    improve on its first evaluation has no convergence step (None).
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure

from mamba_edu.training.run_dir import read_config, read_metrics
from mamba_edu.viz import style

#: Override keys that set a run's budget or machinery, not its algorithm: runs differing only in
#: these (and the seed) are seeds of one group.
BUDGET_KEYS = frozenset({"seed", "steps", "eval_every", "eval_tasks", "final_tasks", "threads", "device",
                         "checkpoint_every_s", "stale_check_every"})
CONVERGENCE_FRACTION = 0.9
COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]


@dataclass
class RunData:
    """What the figures and tables need from one run directory."""

    path: Path
    algo: str
    env: str
    seed: int
    variant: tuple[str, ...]       #: presets and non-budget overrides, e.g. ("no-reward-obs",)
    K: int
    env_steps: np.ndarray          #: (E,) env steps at each evaluation
    wall_s: np.ndarray             #: (E,) wall-clock seconds at each evaluation
    returns: np.ndarray            #: (E,) mean meta-episode return at each evaluation
    sub_returns: np.ndarray        #: (E, K) mean return of each sub-episode at each evaluation
    final: dict[str, Any] | None = None   #: final.json (the held-out test), when present

    @property
    def group(self) -> tuple[str, str, tuple[str, ...]]:
        return self.env, self.algo, self.variant


def load_run(run: str | Path) -> RunData:
    """Read one run directory; FileNotFoundError / ValueError name the file and what is wrong."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run} is not a run directory: no such directory "
                                "(expected config.json and metrics.csv written by `python -m mamba_edu train`)")
    try:
        cfg = read_config(run)
    except json.JSONDecodeError as e:
        raise ValueError(f"{run / 'config.json'} is not valid JSON ({e})") from None
    missing = [k for k in ("algo", "env") if k not in cfg]
    if missing:
        raise ValueError(f"{run / 'config.json'} lacks {', '.join(missing)}: not a mamba-edu run directory")
    try:
        rows = read_metrics(run)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{run / 'metrics.csv'} is corrupt: {e}") from None
    if not rows:
        raise ValueError(f"{run / 'metrics.csv'} has no evaluation rows yet (the run has not reached its first "
                         "evaluation)")
    need = ["env_steps", "wall_s", "return_mean"]
    lacking = [c for c in need if c not in rows[0]]
    if lacking:
        raise ValueError(f"{run / 'metrics.csv'} lacks column(s) {', '.join(lacking)}; expected env_steps, wall_s, "
                         "return_mean, return_std, return_sub0..K-1")
    K = int(cfg.get("K") or sum(1 for c in rows[0] if c.startswith("return_sub")))
    rows.sort(key=lambda r: r["env_steps"])
    sub = np.array([[r.get(f"return_sub{k}", math.nan) for k in range(K)] for r in rows], dtype=float)
    final = None
    if (run / "final.json").is_file():
        try:
            final = json.loads((run / "final.json").read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{run / 'final.json'} is not valid JSON ({e})") from None
        if "return_mean" not in final:
            raise ValueError(f"{run / 'final.json'} lacks return_mean")
    overrides = dict(cfg.get("overrides") or {})
    seed = (cfg.get("config") or {}).get("seed", overrides.get("seed", 0))
    variant = tuple(cfg.get("presets") or ()) + tuple(
        f"{k}={v}" for k, v in sorted(overrides.items()) if k not in BUDGET_KEYS)
    return RunData(run, str(cfg["algo"]), str(cfg["env"]), int(seed), variant, K,
                   np.array([r["env_steps"] for r in rows]), np.array([r["wall_s"] for r in rows]),
                   np.array([r["return_mean"] for r in rows]), sub, final)


def load_runs(runs: Iterable[str | Path | RunData] | str | Path) -> list[RunData]:
    if isinstance(runs, (str, Path, RunData)):
        runs = [runs]
    out = [r if isinstance(r, RunData) else load_run(r) for r in runs]
    if not out:
        raise ValueError("no run directories given")
    return out


def group_runs(runs: Iterable[str | Path | RunData]) -> dict[tuple[str, str, tuple[str, ...]], list[RunData]]:
    """{(env, algo, variant): [runs]} in the order the groups first appear."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[RunData]] = {}
    for r in load_runs(runs):
        groups.setdefault(r.group, []).append(r)
    return groups


def group_labels(groups: dict[tuple[str, str, tuple[str, ...]], list[RunData]], width: int = 60) -> dict[tuple, str]:
    """A label per group: the algorithm, plus the settings in which it differs from the other groups
    of the same (env, algorithm) — e.g. ``mamba [reward_in_obs=False]`` beside ``mamba``."""
    labels = {}
    for env, algo, variant in groups:
        others = [set(v) for e, a, v in groups if (e, a) == (env, algo)]
        diff = [item for item in variant if not all(item in o for o in others)]
        text = ", ".join(diff)
        if len(text) > width:
            text = text[:width - 1] + "…"
        labels[(env, algo, variant)] = algo + (f" [{text}]" if text else "")
    return labels


def mean_curve(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid, mean, std) over seeds; the grid covers only the range every run reaches."""
    if len(xs) == 1:
        return np.asarray(xs[0], float), np.asarray(ys[0], float), np.zeros(len(ys[0]))
    lo, hi = max(x[0] for x in xs), min(x[-1] for x in xs)
    if lo > hi:
        raise ValueError(f"the runs share no common range (one ends at {hi:g} before another's first evaluation at "
                         f"{lo:g}); averaging them would need extrapolation")
    grid = np.unique(np.concatenate([x[(x >= lo) & (x <= hi)] for x in xs]))
    stack = np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys)])
    return grid, stack.mean(0), stack.std(0)


def convergence_step(steps: np.ndarray, values: np.ndarray, fraction: float = CONVERGENCE_FRACTION) -> float | None:
    """First step where ``values`` reaches ``first + fraction · (final − first)`` (module docstring)."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    if len(values) == 0 or not values[-1] > values[0]:
        return None
    threshold = values[0] + fraction * (values[-1] - values[0])
    return float(steps[np.argmax(values >= threshold)])


@functools.lru_cache(maxsize=32)
def _reference(env: str, n_tasks: int) -> dict[str, Any] | None:
    from mamba_edu.references import has_reference, reference

    return reference(env, n_tasks=n_tasks) if has_reference(env) else None


def reference_line(env: str, n_tasks: int = 1000) -> tuple[float, str, list[float]] | None:
    """(return, label, per-sub-episode returns) of ``env``'s reference, or None where none is defined.

    Rooms-N: exact Bayes-optimal total (its sub-episode split is the Bayes-optimal scripted policy's
    mean over ``n_tasks`` tasks) and MetaBandit (exact 19.5); PointRobot/PointRobotWind/EscapeRoom: the
    scripted reference policy.
    """
    ref = _reference(env, n_tasks)
    if ref is None:
        return None
    if ref.get("exact") and ref.get("bayes_optimal_return") is not None:
        return float(ref["bayes_optimal_return"]), "exact Bayes-optimal", list(ref["sub_episode_returns_mean"])
    return float(ref["return_mean"]), "scripted reference", list(ref["sub_episode_returns_mean"])


def save_figure(fig, out: str | Path, pdf: bool = True) -> Path:
    """Save ``fig`` at ``out`` (PNG unless the suffix says otherwise) and a PDF beside a PNG."""
    out = Path(out)
    if not out.suffix:
        out = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    if pdf and out.suffix.lower() == ".png":
        fig.savefig(out.with_suffix(".pdf"))
    return out


def _time_axis(max_seconds: float) -> tuple[float, str]:
    if max_seconds >= 2 * 3600:
        return 3600.0, "wall-clock (hours)"
    if max_seconds >= 120:
        return 60.0, "wall-clock (minutes)"
    return 1.0, "wall-clock (seconds)"


def _band(ax, x, mean, std, colour, label):
    ax.plot(x, mean, color=colour, lw=1.6, label=label, marker="o" if len(x) < 3 else None, ms=3)
    if np.any(std > 0):
        ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.2, lw=0)


def _envs(groups) -> list[str]:
    return list(dict.fromkeys(key[0] for key in groups))


def _blocks(fig, n: int) -> list:
    """One block per environment: the figure itself for one, a column of subfigures for several."""
    return [fig] if n == 1 else list(np.atleast_1d(fig.subfigures(n, 1)))


def env_blocks(fig) -> list:
    """The blocks of a figure made here, one per environment (:func:`mamba_edu.viz.style.legend` places
    each block's legend below it)."""
    return list(fig.subfigs) or [fig]


def _legend_label(label: str, runs: list[RunData]) -> str:
    return f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"


def curves_figure(runs: Iterable[str | Path | RunData], out: str | Path | None = None, reference: bool = True,
                  reference_tasks: int = 1000, title: str | None = None):
    """Paper Fig. 3: meta-episode return vs env steps (left) and vs wall-clock (right).

    One row of two panels per environment; one line per (algorithm, variant) group, mean ± std
    over its seeds; the reference ceiling dashed (see the module docstring). Returns the Figure
    (2 axes per environment); ``out`` also saves it as PNG and PDF.
    """
    groups = group_runs(runs)
    labels = group_labels(groups)
    envs = _envs(groups)
    with style.context():
        w, h = style.figsize("row", 2, aspect=0.62)
        fig = Figure(figsize=(w, (h + 0.6) * len(envs) + (0.4 if title else 0)), layout="constrained")
        blocks = _blocks(fig, len(envs))
        for block, env in zip(blocks, envs):
            _curves_block(block, env, groups, labels, reference, reference_tasks)
        if title:
            fig.suptitle(title)
        if out is not None:
            save_figure(fig, out)
    return fig


def _curves_block(block, env, groups, labels, reference, reference_tasks) -> None:
    ax_s, ax_t = block.subplots(1, 2)
    members = [(key, rs) for key, rs in groups.items() if key[0] == env]
    max_wall = max(float(r.wall_s[-1]) for _, rs in members for r in rs)
    scale, t_label = _time_axis(max_wall)
    for i, (key, rs) in enumerate(members):
        colour = COLOURS[i % len(COLOURS)]
        label = _legend_label(labels[key], rs)
        try:
            x, m, s = mean_curve([r.env_steps for r in rs], [r.returns for r in rs])
            _band(ax_s, x, m, s, colour, label)
            x, m, s = mean_curve([r.wall_s / scale for r in rs], [r.returns for r in rs])
            _band(ax_t, x, m, s, colour, label)
        except ValueError as e:
            raise ValueError(f"{env} / {labels[key]}: {e}") from None
    ref = reference_line(env, reference_tasks) if reference else None
    for ax in (ax_s, ax_t):
        if ref is not None:
            ax.axhline(ref[0], color="k", ls="--", lw=1.2, label=f"{ref[1]} {ref[0]:.1f}")
        ax.set_ylabel("meta-episode return")
        ax.grid(alpha=0.3)
    ax_s.set_xlabel("env steps")
    ax_t.set_xlabel(t_label)
    ax_s.set_title(f"{env}: sample efficiency")
    ax_t.set_title(f"{env}: time efficiency")
    style.legend(block, where="below")


def _final_sub_returns(r: RunData) -> np.ndarray:
    if r.final is not None and "sub_episode_returns_mean" in r.final:
        return np.asarray(r.final["sub_episode_returns_mean"], float)
    return r.sub_returns[int(np.argmax(r.returns))]


def sub_episode_figure(runs: Iterable[str | Path | RunData], out: str | Path | None = None, reference: bool = True,
                       reference_tasks: int = 1000, title: str | None = None):
    """Paper Fig. 4: the return of each sub-episode against env steps, one panel per sub-episode.

    Per environment, K panels (``return_sub{k}`` of metrics.csv, mean ± std over seeds) and a last
    panel with each group's final return per sub-episode against k (final.json when present, else
    the best evaluation of metrics.csv), with the reference's per-sub-episode returns dashed.
    Returns the Figure (K + 1 axes per environment); ``out`` also saves it as PNG and PDF.
    """
    groups = group_runs(runs)
    labels = group_labels(groups)
    envs = _envs(groups)
    Ks = {env: max(r.K for key, rs in groups.items() if key[0] == env for r in rs) for env in envs}
    with style.context():
        heights = [style.figsize("grid", Ks[env] + 1, aspect=0.75)[1] + 0.6 for env in envs]
        fig = Figure(figsize=(style.NOTEBOOK_WIDTH, sum(heights) + (0.4 if title else 0)), layout="constrained")
        blocks = [fig] if len(envs) == 1 else list(np.atleast_1d(fig.subfigures(len(envs), 1, height_ratios=heights)))
        for block, env in zip(blocks, envs):
            _sub_episode_block(block, env, Ks[env], groups, labels, reference, reference_tasks)
        if title:
            fig.suptitle(title)
        if out is not None:
            save_figure(fig, out)
    return fig


def _sub_episode_block(block, env, K, groups, labels, reference, reference_tasks) -> None:
    nrows, ncols = style.grid_shape(K + 1)
    grid = block.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[K + 1:]:
        block.delaxes(ax)
    axes = grid[:K + 1]
    members = [(key, rs) for key, rs in groups.items() if key[0] == env]
    ref = reference_line(env, reference_tasks) if reference else None
    if ref is not None and len(ref[2]) != K:
        ref = None
    summary = axes[K]
    for i, (key, rs) in enumerate(members):
        colour = COLOURS[i % len(COLOURS)]
        label = _legend_label(labels[key], rs)
        for k in range(K):
            try:
                x, m, s = mean_curve([r.env_steps for r in rs], [r.sub_returns[:, k] for r in rs])
            except ValueError as e:
                raise ValueError(f"{env} / {labels[key]}: {e}") from None
            _band(axes[k], x, m, s, colour, label)
        finals = np.stack([_final_sub_returns(r) for r in rs])
        ks = np.arange(1, finals.shape[1] + 1)
        summary.errorbar(ks, finals.mean(0), yerr=finals.std(0) if len(rs) > 1 else None, color=colour,
                         marker="o", ms=4, capsize=3, label=label)
    for k in range(K):
        ax = axes[k]
        if ref is not None:
            ax.axhline(ref[2][k], color="k", ls="--", lw=1.2, label=ref[1])
        ax.set_title(f"{env}: sub-episode {k + 1}")
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
        if k % ncols == 0:
            ax.set_ylabel("sub-episode return")
    if ref is not None:
        summary.plot(np.arange(1, K + 1), ref[2], "k--", marker="s", ms=3, lw=1.2, label=ref[1])
    summary.set_xticks(np.arange(1, K + 1))
    summary.set_xlabel("sub-episode k")
    summary.set_title(f"{env}: final, per sub-episode")
    summary.grid(alpha=0.3)
    style.legend(block, where="below")


__all__ = ["RunData", "load_run", "load_runs", "group_runs", "group_labels", "mean_curve", "convergence_step",
           "reference_line", "save_figure", "curves_figure", "sub_episode_figure", "env_blocks", "CONVERGENCE_FRACTION"]
