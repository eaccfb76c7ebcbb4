"""One figure style for the book and for every plotting function of :mod:`mamba_edu.viz`.

A notebook shows a figure scaled to the width of its output area, about 1,000 pixels in JupyterLab. A
figure drawn wider than that is shrunk, and its 7-point legend becomes unreadable. The rules here keep
every figure at the notebook's width and its text at a size that reads at a glance:

* **sizes per layout** — :func:`figsize` (``"single"`` panel, a ``"row"`` of n panels, a ``"grid"``),
  :func:`grid_shape` (n panels wrapped into rows of at most :data:`MAX_COLS`), :func:`subplots` (both at
  once, with constrained layout);
* **font sizes** — :data:`FONT` (titles, axis labels, ticks, legends, annotations), set through
  :data:`RC` by :func:`apply` (notebooks: once, in their first code cell) or :func:`context` (the
  package's plotting functions, which must not change the caller's settings; :func:`styled` wraps a
  whole function);
* **legends that never cover data** — :func:`legend` puts a legend inside the axes only where it covers
  no data and otherwise below them, outside; for several panels it makes one shared legend below the
  figure;
* **colour scales fitted to the data, and saying so** — :func:`fitted_limits`, :func:`fitted_label` and
  :func:`fitted_colorbar` (the reward heatmaps' :func:`mamba_edu.viz.heatmaps.fit_scale` uses the same two
  helpers).

::

    from mamba_edu.viz import style
    style.apply()                                   # first cell of a notebook
    fig, axes = style.subplots(8, aspect=1.0)       # 8 panels -> 2 rows of 4 at the notebook's width
    ...
    style.legend(axes)                              # one legend for all panels, below them
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable, Iterable, Iterator, Sequence

import matplotlib as mpl
import numpy as np

#: width of a figure that fills a notebook's output area, inches (at :data:`DPI`, about 1,000 pixels)
NOTEBOOK_WIDTH = 10.0
#: resolution of inline figures; with :data:`NOTEBOOK_WIDTH` a full-width figure is shown unscaled
DPI = 100
#: at most this many panels side by side; more are wrapped into rows (:func:`grid_shape`)
MAX_COLS = 4
#: font sizes in points, readable at notebook width
FONT = {"base": 11, "title": 12, "suptitle": 13, "label": 11, "tick": 10, "legend": 10, "annotation": 9,
        "colorbar": 10}
#: inches above and below each panel for its title, tick labels and axis label (used by :func:`figsize`)
PANEL_EXTRA = 0.9
#: matplotlib settings of the style
RC: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "figure.figsize": (6.4, 4.0),
    "figure.constrained_layout.use": True,
    "font.size": FONT["base"],
    "axes.titlesize": FONT["title"],
    "axes.labelsize": FONT["label"],
    "xtick.labelsize": FONT["tick"],
    "ytick.labelsize": FONT["tick"],
    "legend.fontsize": FONT["legend"],
    "legend.title_fontsize": FONT["legend"],
    "legend.framealpha": 0.9,
    "figure.titlesize": FONT["suptitle"],
    "figure.labelsize": FONT["label"],
    "lines.linewidth": 1.6,
    "axes.grid": False,
    "image.interpolation": "nearest",
}
#: what a fitted colour bar's label adds
FITTED = "scale fitted to {what}"


# ----- applying the style -----------------------------------------------------------------------------------

def apply() -> None:
    """Set the style for every figure made from now on (the first code cell of each notebook)."""
    mpl.rcParams.update(RC)


@contextlib.contextmanager
def context() -> Iterator[None]:
    """The style inside a ``with`` block only; the caller's settings come back afterwards."""
    with mpl.rc_context(RC):
        yield


def styled(func: Callable) -> Callable:
    """Decorator: run ``func`` (a plotting function) inside :func:`context`."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with context():
            return func(*args, **kwargs)
    return wrapper


# ----- sizes ---------------------------------------------------------------------------------------------------

def grid_shape(n: int, max_cols: int = MAX_COLS) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels: one row up to ``max_cols`` panels, else balanced rows
    (8 -> 2 x 4, 5 -> 2 x 3, 6 -> 2 x 3)."""
    if n < 1:
        raise ValueError(f"need at least one panel, got {n}")
    if n <= max_cols:
        return 1, n
    rows = math.ceil(n / max_cols)
    return rows, math.ceil(n / rows)


def figsize(layout: str = "single", n: int = 1, *, nrows: int | None = None, ncols: int | None = None,
            aspect: float = 0.7, width: float | None = None, max_cols: int = MAX_COLS) -> tuple[float, float]:
    """Figure size in inches for a layout, at the notebook's width.

    * ``"single"`` — one panel of ``aspect`` (height / width), about two thirds of the width;
    * ``"wide"`` — one panel the full width (time series);
    * ``"row"`` — ``n`` panels side by side (more than ``max_cols`` are wrapped as in ``"grid"``);
    * ``"grid"`` — ``nrows`` x ``ncols`` panels (default :func:`grid_shape` of ``n``).

    ``aspect`` is each panel's height over its width; room for titles and labels is added.
    """
    full = NOTEBOOK_WIDTH if width is None else float(width)
    if layout == "single":
        w = min(full, 6.8)
        return w, round(w * aspect + PANEL_EXTRA * 0.5, 2)
    if layout == "wide":
        return full, round(full * aspect * 0.45 + PANEL_EXTRA * 0.5, 2)
    if layout in ("row", "grid"):
        if nrows is None or ncols is None:
            nrows, ncols = grid_shape(n, max_cols) if layout == "grid" or n > max_cols else (1, n)
        panel_w = full / ncols
        return full, round(nrows * (panel_w * aspect + PANEL_EXTRA), 2)
    raise ValueError(f"unknown layout {layout!r}; valid: single, wide, row, grid")


def subplots(n: int = 1, *, layout: str | None = None, aspect: float = 0.7, max_cols: int = MAX_COLS,
             width: float | None = None, pyplot: bool = True, **kwargs: Any):
    """(figure, flat array of ``n`` axes) laid out by :func:`grid_shape` and sized by :func:`figsize`,
    with constrained layout; unused cells of the grid are removed. ``pyplot=False`` makes a bare
    :class:`~matplotlib.figure.Figure` (no pyplot state, as the package's functions do)."""
    nrows, ncols = grid_shape(n, max_cols)
    layout = layout or ("single" if n == 1 else "grid")
    size = kwargs.pop("figsize", None) or figsize(layout, n, nrows=nrows if layout != "single" else None,
                                                  ncols=ncols if layout != "single" else None,
                                                  aspect=aspect, width=width, max_cols=max_cols)
    with context():
        if pyplot:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=size, layout="constrained")
        else:
            from matplotlib.figure import Figure

            fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


# ----- legends ----------------------------------------------------------------------------------------------

def _unique_handles(axes: Iterable[Any]) -> tuple[list, list[str]]:
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    return handles, labels


def _fitted_legend(make, n: int, width_px: float, renderer, ncol: int | None):
    """``make(ncol)`` with the most columns (at most 6) whose legend is no wider than ``width_px``."""
    if ncol is not None:
        return make(ncol)
    for k in range(min(n, 6), 0, -1):
        leg = make(k)
        if k == 1 or leg.get_window_extent(renderer).width <= width_px:
            return leg
        leg.remove()
    return None  # pragma: no cover


def _renderer(fig):
    """A renderer for ``fig`` after laying it out (also for a bare Figure, which has no Agg canvas)."""
    fig.draw_without_rendering()
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def _space_below(ax, renderer) -> float:
    """Points between the bottom of ``ax`` and the bottom of its tick labels and x label."""
    below = ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0
    return max(0.0, below) * 72.0 / ax.get_figure(root=True).dpi


def _data_points(ax) -> np.ndarray:
    """(n, 2) display coordinates of the data points of ``ax``: line vertices (long segments densified
    every 4 pixels, so that a line crossing a box counts) and scatter points."""
    pts = [np.zeros((0, 2))]
    for line in ax.get_lines():
        xy = np.asarray(line.get_xydata(), float) if line.get_visible() else np.zeros((0, 2))
        xy = xy[np.isfinite(xy).all(1)] if len(xy) else xy
        if len(xy) == 0:
            continue
        p = line.get_transform().transform(xy)
        if len(p) > 1:
            seg = np.diff(p, axis=0)
            n = np.clip(np.hypot(seg[:, 0], seg[:, 1]) // 4, 1, 500).astype(int)
            frac = np.concatenate([np.arange(k) / k for k in n])
            start = np.repeat(p[:-1], n, axis=0)
            p = np.concatenate([start + np.repeat(seg, n, axis=0) * frac[:, None], p[-1:]])
        pts.append(p)
    for coll in ax.collections:
        offsets = np.asarray(coll.get_offsets(), float)
        if coll.get_visible() and len(offsets) and len(coll.get_paths()) <= 1:
            p = coll.get_offset_transform().transform(offsets)
            pts.append(p[np.isfinite(p).all(1)])
    return np.concatenate(pts)


def _data_boxes(ax, renderer) -> list[Any]:
    """Display-space boxes of the data of ``ax`` that are areas: bars and other patches, images, filled
    collections (bands)."""
    boxes = [p.get_window_extent(renderer) for p in ax.patches if p.get_visible()]
    boxes += [im.get_window_extent(renderer) for im in ax.images if im.get_visible()]
    boxes += [c.get_window_extent(renderer) for c in ax.collections
              if c.get_visible() and not (len(c.get_offsets()) and len(c.get_paths()) <= 1)]
    return [b for b in boxes if np.isfinite(b.extents).all()]


def covers_data(legend, ax, renderer=None) -> bool:
    """True when ``legend`` lies over any of the data drawn in ``ax``: a line (anywhere along it), a
    scatter point, a bar or other patch, an image or a band."""
    renderer = renderer or _renderer(ax.get_figure(root=True))
    box = legend.get_window_extent(renderer)
    pts = _data_points(ax)
    inside = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1))
    return bool(inside.any()) or any(box.overlaps(b) for b in _data_boxes(ax, renderer))


def legend(target: Any, *, where: str = "auto", ncol: int | None = None, handles: Sequence | None = None,
           labels: Sequence[str] | None = None, title: str | None = None, **kwargs: Any):
    """Draw a legend that does not cover the data; returns the :class:`~matplotlib.legend.Legend`.

    ``target``: an Axes (its own entries), or a Figure / several Axes (one legend for all panels,
    entries merged by label). ``where``:

    * ``"auto"`` (default) — one Axes: inside, at matplotlib's best place, if there it covers no data
      (:func:`covers_data`), else ``"below"``; several panels: ``"below"``;
    * ``"below"`` — outside, under the axes (under their tick labels and x label) or under the figure;
    * ``"right"`` — outside, right of the axes or the figure;
    * ``"inside"`` — matplotlib's ``loc="best"``, whatever it covers.
    """
    if where not in ("auto", "below", "right", "inside"):
        raise ValueError(f"where must be auto, below, right or inside, got {where!r}")
    axes, fig, single = _legend_panels(target)
    if handles is None or labels is None:
        h, lab = _unique_handles(axes)
        handles = h if handles is None else handles
        labels = lab if labels is None else labels
    if not labels:
        return None
    fontsize = kwargs.pop("fontsize", FONT["legend"])
    common = dict(fontsize=fontsize, title=title, title_fontsize=fontsize, **kwargs)
    root = fig.get_figure(root=True) if hasattr(fig, "get_figure") else fig
    if single:
        return _axes_legend(axes[0], root, where, handles, labels, ncol, common)
    return _figure_legend(fig, root, axes, where, handles, labels, ncol, common)


def _legend_panels(target: Any) -> tuple[list[Any], Any, bool]:
    """(the panels, their figure or subfigure, whether it is one Axes) for :func:`legend`'s ``target``;
    a Figure's colour bars are not panels."""
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

    if isinstance(target, Axes):
        return [target], target.get_figure(root=True), True
    if isinstance(target, FigureBase):
        return [a for a in target.axes if a.get_label() != "<colorbar>"], target, False
    axes = [a for a in np.ravel(np.asarray(target, dtype=object)) if a is not None]
    return axes, axes[0].get_figure(root=False), len(axes) == 1   # their (sub)figure


def _axes_legend(ax: Any, root: Any, where: str, handles: Sequence, labels: Sequence[str], ncol: int | None,
                 common: dict[str, Any]):
    """One Axes' legend: inside where it covers no data (``"auto"``) or anyway (``"inside"``), else
    right of the axes or below their tick labels and x label, in as many columns as fit their width."""
    old = ax.get_legend()
    if old is not None:
        old.remove()
    if where in ("auto", "inside"):
        leg = ax.legend(handles, labels, loc="best", ncol=ncol or 1, **common)
        if where == "inside" or not covers_data(leg, ax):
            return leg
        leg.remove()
    width = ax.get_position().width * root.get_figwidth()    # inches
    if where == "right":
        return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=ncol or 1,
                         borderaxespad=0.0, **common)
    from matplotlib.transforms import offset_copy

    renderer = _renderer(root)
    drop = _space_below(ax, renderer) + 3.0
    transform = offset_copy(ax.transAxes, fig=root, x=0.0, y=-drop, units="points")
    return _fitted_legend(lambda k: ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                                              bbox_transform=transform, ncol=k, borderaxespad=0.0,
                                              frameon=False, **common),
                          len(labels), width * root.dpi, renderer, ncol)


def _figure_legend(fig: Any, root: Any, axes: list[Any], where: str, handles: Sequence, labels: Sequence[str],
                   ncol: int | None, common: dict[str, Any]):
    """Several panels' one legend, right of or below the (sub)figure; it replaces any legend drawn before
    (e.g. before a line was added)."""
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for old in list(getattr(fig, "legends", [])):
        old.remove()
    constrained = type(root.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    if where == "right":
        loc = "outside right upper" if constrained else "upper left"
        extra = {} if constrained else dict(bbox_to_anchor=(1.0, 1.0))
        return fig.legend(handles, labels, loc=loc, ncol=ncol or 1, **extra, **common)
    loc = "outside lower center" if constrained else "upper center"
    extra = {} if constrained else dict(bbox_to_anchor=(0.5, 0.0))
    width = fig.bbox.width if hasattr(fig, "bbox") else root.bbox.width
    return _fitted_legend(lambda k: fig.legend(handles, labels, loc=loc, ncol=k, frameon=False, **extra, **common),
                          len(labels), 0.98 * width, _renderer(root), ncol)


# ----- colour scales -------------------------------------------------------------------------------------------

def fitted_limits(values: Any) -> tuple[float, float]:
    """(smallest, largest) finite value of ``values``, widened by ±0.5 where they are (nearly) all equal:
    the colour limits of a scale fitted to the data."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("fitted_limits: no finite values to fit a colour scale to")
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def fitted_label(label: str, what: str = "the data") -> str:
    """``label`` plus the note that its colour scale is fitted (not the quantity's full range)."""
    return f"{label} ({FITTED.format(what=what)})"


def fitted_colorbar(mappable: Any, *, label: str, ax: Any = None, values: Any = None, what: str = "the data",
                    **kwargs: Any):
    """Fit ``mappable``'s colour limits to ``values`` (default: its own data) and add a colour bar whose
    label says the scale is fitted. ``ax``: the axes to steal room from (default: the mappable's)."""
    lo, hi = fitted_limits(mappable.get_array() if values is None else values)
    mappable.set_clim(lo, hi)
    target = ax if ax is not None else mappable.axes
    fig = mappable.axes.get_figure(root=False) if mappable.axes is not None else kwargs.pop("figure")
    cbar = fig.colorbar(mappable, ax=target, **kwargs)
    cbar.set_label(fitted_label(label, what), fontsize=FONT["colorbar"])
    cbar.ax.tick_params(labelsize=FONT["tick"])
    return cbar


def colorbar(mappable: Any, *, label: str, ax: Any = None, **kwargs: Any):
    """A colour bar with the style's label and tick sizes (for scales that are *not* fitted)."""
    target = ax if ax is not None else mappable.axes
    fig = mappable.axes.get_figure(root=False)
    cbar = fig.colorbar(mappable, ax=target, **kwargs)
    cbar.set_label(label, fontsize=FONT["colorbar"])
    cbar.ax.tick_params(labelsize=FONT["tick"])
    return cbar


# ----- numbers for display -------------------------------------------------------------------------------------

def round_for_display(x: Any, digits: int = 3) -> Any:
    """Python floats rounded to ``digits`` decimals (lists for arrays), for tables and prints: float32
    values such as 0.3 print as ``0.3``, not ``0.30000001192092896``."""
    arr = np.asarray(x)
    if arr.dtype.kind in "iub":
        return arr.tolist()
    return np.round(arr.astype(np.float64), digits).tolist()


__all__ = ["NOTEBOOK_WIDTH", "DPI", "MAX_COLS", "FONT", "RC", "apply", "context", "styled", "grid_shape",
           "figsize", "subplots", "legend", "covers_data", "fitted_limits", "fitted_label",
           "fitted_colorbar", "colorbar", "round_for_display"]
