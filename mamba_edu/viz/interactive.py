"""Interactive reward-prediction heatmap (paper Fig. 2, Sec. 3.2.2) for notebooks: a slider over time.

Drag the slider (or press play) to move through one meta-episode: for every checkpoint shown, the
map shows the predicted reward of every cell from the belief at step t, the agent's path so far
and the goals, and the through-time panel above it gets a cursor at t. The panels and their
meaning are those of :mod:`mamba_edu.viz.heatmaps` (same :class:`~mamba_edu.viz.heatmaps.RewardTrace`,
same drawing functions); only the maps move.

::

    from mamba_edu.viz.interactive import interactive_heatmap
    interactive_heatmap("runs/varibad_Rooms-4_s0")                                  # one checkpoint
    interactive_heatmap(["runs/varibad_Rooms-4_s0", "runs/mamba_Rooms-4_s0"])       # same task, one slider

The figure is drawn with matplotlib's Agg backend and shown as a PNG in an ``ipywidgets.Image``,
so it works in any Jupyter front end (no ``ipympl``) and the widget can be built and driven
headless (the tests do): setting ``explorer.slider.value`` redraws synchronously.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from mamba_edu.viz.heatmaps import (
    RewardTrace,
    _as_traces,
    plot_reward_map,
    plot_through_time,
    update_reward_map,
)


class HeatmapExplorer(widgets.VBox):
    """Play button + time slider, the figure (``image``, PNG bytes) and a one-line caption per checkpoint.

    Attributes for scripting and tests: ``slider`` (``IntSlider`` over 0..H−1), ``play``,
    ``image`` (``widgets.Image``), ``caption`` (``widgets.HTML``), ``figure`` (the matplotlib
    Figure), ``maps`` (one dict of artists per checkpoint, ``maps[i]["image"]`` the heatmap's
    ``AxesImage``), ``traces``.
    """

    def __init__(self, traces: Sequence[RewardTrace], t: int = 0, dpi: int = 80, interval_ms: int = 150) -> None:
        self.traces = list(traces)
        H = self.traces[0].H
        if not 0 <= t < H:
            raise ValueError(f"t must lie in 0..{H - 1}, got {t}")
        self.dpi = dpi
        n = len(self.traces)
        layout = self.traces[0].layout
        cell = min(0.5, 9.5 / layout.width)          # inches per grid cell: the map fills the width
        map_h = cell * layout.height + 0.5
        self.figure = Figure(figsize=(cell * layout.width + 1.5, n * (2.8 + map_h)), layout="constrained")
        subs = np.atleast_1d(self.figure.subfigures(n, 1)) if n > 1 else [self.figure]
        self.maps: list[dict[str, Any]] = []
        self.cursors = []
        for sub, trace in zip(subs, self.traces):
            gs = sub.add_gridspec(2, 1, height_ratios=[2.0, map_h])
            ax_t = sub.add_subplot(gs[0])
            plot_through_time(trace, ax_t)
            self.cursors.append(ax_t.axvline(t, color="k", lw=1.0))
            ax_m = sub.add_subplot(gs[1])
            self.maps.append(plot_reward_map(trace, t, ax_m))
            cbar = sub.colorbar(self.maps[-1]["image"], ax=ax_m, shrink=0.9, pad=0.01)
            cbar.set_label(trace.colour_label, fontsize=7)
            cbar.ax.tick_params(labelsize=6)
            sub.suptitle(f"{trace.label} — {trace.env}, task {trace.task.tolist()}, "
                         f"return {trace.sub_episode_returns.sum():.1f}", fontsize=9)
        self.slider = widgets.IntSlider(value=t, min=0, max=H - 1, step=1, description="t",
                                        layout=widgets.Layout(width="70%"))
        self.play = widgets.Play(value=t, min=0, max=H - 1, step=1, interval=interval_ms, description="play")
        self._link = widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.image = widgets.Image(format="png")
        self.caption = widgets.HTML()
        self.slider.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.play, self.slider]), self.image, self.caption])
        self.show(t)

    def _on_change(self, change: dict[str, Any]) -> None:
        self.show(int(change["new"]))

    def show(self, t: int) -> None:
        """Redraw every map, path and cursor at step ``t`` (what moving the slider does)."""
        for trace, artists, cursor in zip(self.traces, self.maps, self.cursors):
            update_reward_map(artists, trace, t)
            cursor.set_xdata([t, t])
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=self.dpi)
        self.image.value = buf.getvalue()
        lines = []
        for trace in self.traces:
            x, y = trace.xy[t]
            lines.append(f"<b>{trace.label}</b>: t = {t}, sub-episode {int(trace.sub_episode[t]) + 1}, "
                         f"cell {int(trace.cells[t])} (x = {x}, y = {y}), predicted at agent "
                         f"{trace.current[t]:.3f}, goal reached: {'yes' if trace.goal_reached[t] else 'no'}")
        self.caption.value = "<br>".join(lines)


def interactive_heatmap(sources: RewardTrace | str | Path | Sequence[RewardTrace | str | Path], *,
                        task: Any = None, seed: int | None = None, which: str = "best", t: int = 0,
                        dpi: int = 80) -> HeatmapExplorer:
    """A :class:`HeatmapExplorer` for one checkpoint or several on the same task (traces or run dirs).

    Run directories are rolled out like :func:`mamba_edu.viz.heatmaps.load_trace`; several are
    all rolled out on the first one's task and seed, so the maps are comparable step by step.
    """
    if isinstance(sources, (RewardTrace, str, Path)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise ValueError("interactive_heatmap needs at least one checkpoint (a run directory or a RewardTrace)")
    return HeatmapExplorer(_as_traces(sources, task, seed, which), t=t, dpi=dpi)
