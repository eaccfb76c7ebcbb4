"""Interactive reward-prediction heatmap (paper Fig. 2, Sec. 3.2.2) for notebooks: a slider over time.

Drag the slider (or press play) to move through one meta-episode: for every checkpoint shown, the
map shows the predicted reward of every cell from the belief at step t, the agent's path so far
and the goals, and the through-time panel above it gets a cursor at t. The panels and their
meaning are those of :mod:`mamba_edu.viz.heatmaps` (same :class:`~mamba_edu.viz.heatmaps.RewardTrace`,
same drawing functions, same fitted colour scale); only the maps move.

::

    from mamba_edu.viz.interactive import interactive_heatmap
    interactive_heatmap("runs/varibad_Rooms-4_s0")                                  # one checkpoint
    interactive_heatmap(["runs/varibad_Rooms-4_s0", "runs/mamba_Rooms-4_s0"])       # same task, one slider

How it stays fast, and survives reopening
    Every frame (one per time step) is rendered once, when the explorer is built: the static parts of
    the figure (axes, through-time curves, colour bar) are drawn a single time with matplotlib's Agg
    backend, and each frame redraws only the moving artists (map, path, agent, cursor, map title)
    over that background and keeps the result as PNG bytes (about 3 s for two checkpoints of
    H = 200 steps). Moving the slider then only swaps precomputed bytes: no matplotlib call at all,
    well under a millisecond in the kernel.

    The picture is an ordinary ``image/png`` output of the cell, updated in place as the slider
    moves (an IPython display with a ``display_id``); the play button, the slider and the caption
    are the widget below it. A saved notebook therefore keeps a picture of the frame that was shown,
    which any viewer displays without a kernel (JupyterLab, GitHub, nbviewer, nbconvert's HTML),
    instead of a "model not found" error or the widget's text repr. It works in any Jupyter front
    end (no ``ipympl``), and the explorer can be built and driven headless (the tests do): setting
    ``explorer.slider.value`` updates ``explorer.image.value`` (PNG bytes) synchronously.
"""
from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mamba_edu.viz import style
from mamba_edu.viz.heatmaps import (
    RewardTrace,
    _as_traces,
    fit_scale_by_quantity,
    map_colorbar,
    plot_reward_map,
    plot_through_time,
    update_reward_map,
)
from mamba_edu.viz.style import FONT


@dataclass
class Frame:
    """The picture currently shown: PNG bytes in ``value`` (like an ``ipywidgets.Image``)."""

    value: bytes = b""
    format: str = "png"


def _png(image: Any) -> bytes:
    """PNG bytes of a PIL image, fast compression (frames are made by the hundred)."""
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=1)
    return buf.getvalue()


class HeatmapExplorer(widgets.VBox):
    """Play button + time slider and a one-line caption per checkpoint (the widget), above which
    displaying it shows the figure as an image output that follows the slider.

    Attributes for scripting and tests: ``slider`` (``IntSlider`` over 0..H−1), ``play``, ``image``
    (:class:`Frame`: ``image.value`` are the PNG bytes of the frame shown), ``frames`` (PNG bytes of
    every step, rendered once), ``caption`` (``widgets.HTML``), ``figure`` (the matplotlib Figure, its
    artists moved to the step shown), ``maps`` (one dict of artists per checkpoint, ``maps[i]["image"]``
    the heatmap's ``AxesImage``), ``cursors``, ``traces`` (with the fitted colour scale when
    ``fitted``).

    ``precompute``: ``"background"`` (default) renders every frame in a background thread once the
    explorer is built (:meth:`wait` waits for it; a step shown before its frame is ready is rendered on
    the spot, in about 40 ms); ``True`` renders them all before returning; ``False`` renders a frame
    the first time it is shown. ``fitted`` fits the colour scale to what the checkpoints predict, as
    :func:`~mamba_edu.viz.heatmaps.compare_heatmaps` does, and the colour bar says so.
    """

    def __init__(self, traces: Sequence[RewardTrace], t: int = 0, dpi: int = 80, interval_ms: int = 150,
                 fitted: bool = True, precompute: bool | str = "background") -> None:
        self.traces = fit_scale_by_quantity(list(traces)) if fitted else list(traces)
        H = self.traces[0].H
        if not 0 <= t < H:
            raise ValueError(f"t must lie in 0..{H - 1}, got {t}")
        if precompute not in (True, False, "background"):
            raise ValueError(f"precompute must be True, False or 'background', got {precompute!r}")
        self.dpi = dpi
        self.t = t
        self._lock = threading.RLock()
        self._build_figure(t)
        self.frames: list[bytes | None] = [None] * H
        self.captions = [self._caption(s) for s in range(H)]
        self._worker: threading.Thread | None = None
        self._worker_error: BaseException | None = None
        if precompute is True:
            for s in range(H):
                self.frame(s)
        self.slider = widgets.IntSlider(value=t, min=0, max=H - 1, step=1, description="t",
                                        layout=widgets.Layout(width="70%"))
        self.play = widgets.Play(value=t, min=0, max=H - 1, step=1, interval=interval_ms, description="play")
        self._link = widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.image = Frame()
        self.caption = widgets.HTML()
        self._handles: list[Any] = []
        self.slider.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.play, self.slider]), self.caption])
        self.show(t)
        if precompute == "background":
            self._worker = threading.Thread(target=self._precompute, args=(t,), daemon=True,
                                            name="HeatmapExplorer frames")
            self._worker.start()

    def _precompute(self, start: int) -> None:
        try:
            H = len(self.frames)
            for s in list(range(start, H)) + list(range(start)):
                self.frame(s)
        except BaseException as e:  # noqa: BLE001 - reported by wait(); frames are then made on demand
            self._worker_error = e

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every frame is rendered (the background precompute); True when all are ready."""
        if self._worker is not None:
            self._worker.join(timeout)
            if self._worker_error is not None:
                raise RuntimeError("rendering the explorer's frames failed") from self._worker_error
        return all(f is not None for f in self.frames)

    # ----- the figure, drawn once ----------------------------------------------------------------------

    def _new_figure(self, t: int) -> tuple[Figure, list[dict[str, Any]], list[Any]]:
        """(figure, map artists, cursors) of the explorer at step ``t``."""
        n = len(self.traces)
        layout = self.traces[0].layout
        width = style.NOTEBOOK_WIDTH
        map_h = min((width - 0.6) * layout.height / layout.width, 3.0)
        block_h = 1.7 + 1.2 + map_h + 0.5 + 0.8 + 0.4     # time panel + its decorations, map + title, colour bar, title
        maps, cursors = [], []
        with style.context():
            fig = Figure(figsize=(width, n * block_h), dpi=self.dpi, layout="constrained")
            subs = np.atleast_1d(fig.subfigures(n, 1)) if n > 1 else [fig]
            for sub, trace in zip(subs, self.traces):
                gs = sub.add_gridspec(2, 1, height_ratios=[1.7, map_h])
                ax_t = sub.add_subplot(gs[0])
                plot_through_time(trace, ax_t)
                cursors.append(ax_t.axvline(t, color="k", lw=1.2))
                ax_m = sub.add_subplot(gs[1])
                maps.append(plot_reward_map(trace, t, ax_m))
                map_colorbar(sub, maps[-1]["image"], ax_m, trace)
                sub.suptitle(f"{trace.label} — {trace.env}, task {trace.task.tolist()}, "
                             f"return {trace.sub_episode_returns.sum():.1f}", fontsize=FONT["suptitle"])
        return fig, maps, cursors

    def _build_figure(self, t: int) -> None:
        # the public figure: its artists follow the slider (for scripting, e.g. saving the step shown); it is
        # never drawn here
        self.figure, self.maps, self.cursors = self._new_figure(t)
        # a private twin that renders the frames (also from the background thread): its static parts are
        # drawn once; a frame redraws only what moves over them: each map panel as a whole (its image lies
        # under the goals, path and title, which must be drawn again on top of it) and the cursors
        self._render_fig, self._render_maps, self._render_cursors = self._new_figure(t)
        with style.context():
            self._canvas = FigureCanvasAgg(self._render_fig)
            self._moving = [m["ax"] for m in self._render_maps] + self._render_cursors
            for a in self._moving:
                a.set_animated(True)
            self._canvas.draw()                          # the static parts, and the layout, once
        self._render_fig.set_layout_engine("none")       # keep every position from now on
        self._background = self._canvas.copy_from_bbox(self._render_fig.bbox)

    def _move(self, maps: list[dict[str, Any]], cursors: list[Any], t: int) -> None:
        for trace, artists, cursor in zip(self.traces, maps, cursors):
            update_reward_map(artists, trace, t)
            cursor.set_xdata([t, t])

    def render_frame(self, t: int) -> bytes:
        """PNG bytes of the figure at step ``t``: the moving artists drawn over the static background."""
        from PIL import Image

        with self._lock:
            self._move(self._render_maps, self._render_cursors, t)
            self._canvas.restore_region(self._background)
            for a in self._moving:
                self._render_fig.draw_artist(a)
            w, h = self._canvas.get_width_height(physical=True)
            image = Image.frombuffer("RGBA", (w, h), self._canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
        return _png(image)

    def _caption(self, t: int) -> str:
        lines = []
        for trace in self.traces:
            x, y = trace.xy[t]
            lines.append(f"<b>{trace.label}</b>: t = {t}, sub-episode {int(trace.sub_episode[t]) + 1}, "
                         f"cell {int(trace.cells[t])} (x = {x}, y = {y}), predicted at agent "
                         f"{trace.current[t]:.3f}, goal reached: {'yes' if trace.goal_reached[t] else 'no'}")
        return "<br>".join(lines)

    # ----- moving the slider -----------------------------------------------------------------------------

    def frame(self, t: int) -> bytes:
        """PNG bytes of step ``t`` (rendered now only if it was not precomputed)."""
        if self.frames[t] is None:
            self.frames[t] = self.render_frame(t)
        return self.frames[t]

    def _on_change(self, change: dict[str, Any]) -> None:
        self.show(int(change["new"]))

    def show(self, t: int) -> None:
        """Show step ``t`` (what moving the slider does): swap in its precomputed frame and caption, move
        the figure's artists to it (data only, nothing is drawn) and update every displayed picture."""
        png = self.frame(t)
        self._move(self.maps, self.cursors, t)
        self.t = t
        self.image.value = png
        self.caption.value = self.captions[t]
        for handle in self._handles:
            handle.update(self._image_bundle(), raw=True)

    # ----- display ----------------------------------------------------------------------------------------

    def _image_bundle(self) -> dict[str, str]:
        return {"image/png": base64.b64encode(self.image.value).decode("ascii"),
                "text/plain": f"<reward-prediction heatmaps at t = {self.t}>"}

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget, with the current frame as ``image/png`` and a short text for viewers without widgets."""
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle.update(self._image_bundle())
        bundle["text/plain"] = (f"HeatmapExplorer over t = 0..{self.slider.max} (shown: t = {self.t}); "
                                "run the notebook to move the slider")
        return bundle

    def _ipython_display_(self) -> None:
        """Two outputs: the figure as a plain PNG image that the slider updates in place (it stays in a saved
        notebook), then the controls and the caption (the widget)."""
        from IPython.display import display

        self._handles.append(display(self._image_bundle(), raw=True, display_id=True))
        bundle = widgets.VBox._repr_mimebundle_(self) or {}
        bundle["text/plain"] = (f"HeatmapExplorer controls: slider over t = 0..{self.slider.max}; "
                                "run the notebook to use them")
        display(bundle, raw=True)


def interactive_heatmap(sources: RewardTrace | str | Path | Sequence[RewardTrace | str | Path], *,
                        task: Any = None, seed: int | None = None, which: str = "best", t: int = 0,
                        dpi: int = 80, fitted: bool = True) -> HeatmapExplorer:
    """A :class:`HeatmapExplorer` for one checkpoint or several on the same task (traces or run dirs).

    Run directories are rolled out like :func:`mamba_edu.viz.heatmaps.load_trace`; several are
    all rolled out on the first one's task and seed, so the maps are comparable step by step.
    """
    if isinstance(sources, (RewardTrace, str, Path)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise ValueError("interactive_heatmap needs at least one checkpoint (a run directory or a RewardTrace)")
    return HeatmapExplorer(_as_traces(sources, task, seed, which), t=t, dpi=dpi, fitted=fitted)
