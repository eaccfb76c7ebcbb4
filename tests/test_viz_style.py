"""The figure style (``mamba_edu.viz.style``): sizes per layout, font sizes, legends that do not cover the
data, colour scales fitted to the data and saying so, and its use by the package's plotting functions.

Everything here draws with Agg on bare ``Figure`` objects: no display, no pyplot state left behind.
"""
import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure

from mamba_edu.viz import style


def _renderer(fig):
    return style._renderer(fig)


def _overlaps_data_area(legend, ax) -> bool:
    r = _renderer(ax.get_figure(root=True))
    return legend.get_window_extent(r).overlaps(ax.get_window_extent(r))


# ----- sizes and fonts ------------------------------------------------------------------------------------

def test_apply_and_context_set_the_sizes():
    with mpl.rc_context():
        style.apply()
        for key, value in style.RC.items():
            assert mpl.rcParams[key] == value or (isinstance(value, tuple) and tuple(mpl.rcParams[key]) == value), key
        assert mpl.rcParams["font.size"] == style.FONT["base"] >= 10
        assert mpl.rcParams["legend.fontsize"] >= 10 and mpl.rcParams["xtick.labelsize"] >= 10
        assert mpl.rcParams["axes.titlesize"] >= mpl.rcParams["axes.labelsize"]
    before = mpl.rcParams["legend.fontsize"]
    with style.context():
        fig = Figure()
        ax = fig.add_subplot()
        ax.plot([0, 1], label="a")
        assert ax.legend().get_texts()[0].get_fontsize() == style.FONT["legend"]
        assert ax.xaxis.get_ticklabels()[0].get_fontsize() == style.FONT["tick"]
    assert mpl.rcParams["legend.fontsize"] == before          # the caller's settings come back


@pytest.mark.parametrize("n, shape", [(1, (1, 1)), (3, (1, 3)), (4, (1, 4)), (5, (2, 3)), (6, (2, 3)), (8, (2, 4)),
                                      (9, (3, 3))])
def test_grid_shape_wraps_many_panels(n, shape):
    assert style.grid_shape(n) == shape
    rows, cols = shape
    assert rows * cols >= n and cols <= style.MAX_COLS


def test_figsize_keeps_the_notebook_width_and_readable_panels():
    w, h = style.figsize("single")
    assert w <= style.NOTEBOOK_WIDTH and 0.4 < h / w < 1.0
    for n in (2, 3, 4, 8, 12):
        w, h = style.figsize("row", n)
        rows, cols = style.grid_shape(n)
        assert w == style.NOTEBOOK_WIDTH
        assert w / cols >= 2.4                         # no panel narrower than ~2.4 in at notebook width
        assert h >= rows * (w / cols) * 0.7            # every row gets its height: nothing squashed
    two_rows, one_row = (style.figsize("grid", nrows=r, ncols=2, aspect=1.0)[1] for r in (2, 1))
    assert two_rows > one_row
    with pytest.raises(ValueError, match="unknown layout"):
        style.figsize("mosaic")


def test_subplots_lays_out_n_panels_and_removes_the_rest():
    fig, axes = style.subplots(5, pyplot=False)
    assert len(axes) == 5 and len(fig.axes) == 5
    assert tuple(fig.get_size_inches()) == style.figsize("grid", 5)
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"


# ----- legends --------------------------------------------------------------------------------------------

def _busy_axes():
    """An axes whose lines fill the whole data area: any legend inside would cover data."""
    fig, (ax,) = style.subplots(1, pyplot=False)
    x = np.linspace(0, 1, 300)
    for k in range(8):
        ax.plot(x, np.sin(6 * x + k) + k / 4, label=f"curve number {k}")
    ax.set_xlabel("x label")
    return fig, ax


def test_auto_legend_moves_below_when_it_would_cover_data():
    fig, ax = _busy_axes()
    leg = style.legend(ax)
    assert not style.covers_data(leg, ax)
    assert not _overlaps_data_area(leg, ax)            # outside the axes: it covers none of the data area
    r = _renderer(fig)
    assert leg.get_window_extent(r).y1 <= ax.xaxis.label.get_window_extent(r).y0 + 1   # under the x label
    assert len(leg.get_texts()) == 8


def test_auto_legend_stays_inside_where_the_data_leave_room():
    fig, (ax,) = style.subplots(1, pyplot=False)
    x = np.linspace(0, 1, 50)
    ax.plot(x, x ** 4, label="flat, then steep")      # the upper left corner is empty
    leg = style.legend(ax)
    assert _overlaps_data_area(leg, ax) and not style.covers_data(leg, ax)


def test_legend_inside_is_detected_as_covering_the_data():
    fig, ax = _busy_axes()
    leg = style.legend(ax, where="inside")
    assert style.covers_data(leg, ax)


@pytest.mark.parametrize("where", ["below", "right"])
def test_explicit_outside_legend_does_not_overlap_the_axes(where):
    fig, ax = _busy_axes()
    leg = style.legend(ax, where=where)
    assert not _overlaps_data_area(leg, ax)


def test_shared_legend_below_many_panels_overlaps_none_of_them():
    fig, axes = style.subplots(5, pyplot=False)
    x = np.linspace(0, 1, 100)
    for ax in axes:
        ax.plot(x, x, label="a")
        ax.plot(x, x ** 2, label="b")
        ax.legend()                                    # replaced by the shared one
    leg = style.legend(axes)
    assert [t.get_text() for t in leg.get_texts()] == ["a", "b"]        # merged by label
    assert all(ax.get_legend() is None for ax in axes)
    assert not any(_overlaps_data_area(leg, ax) for ax in axes)
    # drawing it again (e.g. after adding a line) replaces it
    axes[0].axhline(0.5, label="c")
    leg2 = style.legend(fig)
    assert len(fig.legends) == 1 and [t.get_text() for t in leg2.get_texts()] == ["a", "b", "c"]


def test_legend_columns_fit_the_width():
    fig, axes = style.subplots(2, pyplot=False)
    for k in range(6):
        axes[0].plot([0, 1], [k, k], label=f"a fairly long legend label {k}")
    leg = style.legend(axes[0], where="below")
    r = _renderer(fig)
    assert leg.get_window_extent(r).width <= axes[0].get_window_extent(r).width * 1.05
    assert not leg.get_window_extent(r).overlaps(axes[1].get_window_extent(r))


# ----- fitted colour scales ----------------------------------------------------------------------------------

def test_fitted_limits():
    assert style.fitted_limits([0.1, np.nan, 0.3, 0.2]) == (0.1, 0.3)
    assert style.fitted_limits([2.0, 2.0]) == (1.5, 2.5)               # degenerate: widened
    with pytest.raises(ValueError, match="no finite values"):
        style.fitted_limits([np.nan])


def test_fitted_colorbar_spans_the_data_and_its_label_says_fitted():
    fig, (ax,) = style.subplots(1, pyplot=False)
    data = np.random.default_rng(0).uniform(0.02, 0.3, (5, 7))
    data[0, 0] = np.nan
    im = ax.imshow(data, vmin=0, vmax=1)
    cbar = style.fitted_colorbar(im, label="p(r = +1)")
    assert im.get_clim() == (np.nanmin(data), np.nanmax(data))
    label = cbar.ax.get_ylabel()
    assert label.startswith("p(r = +1)") and "fitted" in label
    assert cbar.ax.yaxis.label.get_fontsize() == style.FONT["colorbar"]
    # a plain colour bar does not claim to be fitted
    assert "fitted" not in style.colorbar(im, label="density").ax.get_ylabel()


def test_heatmaps_fit_scale_uses_the_same_helpers():
    from mamba_edu.envs.rooms import RoomsLayout
    from mamba_edu.viz.heatmaps import RewardTrace, fit_scale

    L = RoomsLayout(1)
    maps = np.full((4, L.width, L.height), 0.1)
    maps[2, 0, 0] = 0.4
    tr = RewardTrace(algo="varibad", env="Rooms-1", layout=L, task=np.array([0]), seed=0, T=2,
                     cells=np.full(4, L.start), sub_episode=np.array([0, 0, 1, 1]), goal_reached=np.zeros(4, bool),
                     maps=maps, quantity="probability", sub_episode_returns=np.zeros(2))
    (fitted,) = fit_scale([tr])
    assert fitted.value_range == style.fitted_limits(maps) == (0.1, 0.4)
    assert fitted.colour_label == style.fitted_label(tr.colour_label, "the predictions")


# ----- numbers for display --------------------------------------------------------------------------------

def test_round_for_display_removes_float32_noise():
    obs = np.array([1.0, 0.3, 1 / 3], dtype=np.float32)
    assert str(obs.tolist()) != "[1.0, 0.3, 0.33]"                    # the noise the book used to print
    assert str(style.round_for_display(obs, 2)) == "[1.0, 0.3, 0.33]"
    assert style.round_for_display(np.float32(0.1)) == 0.1
    assert style.round_for_display(np.array([1, 2])) == [1, 2]


# ----- the package's plotting functions use the style -------------------------------------------------------

def test_behaviour_figure_uses_the_style(tmp_path):
    from mamba_edu.envs import make_batched
    from mamba_edu.references import scripted_policy
    from mamba_edu.rollout import rollout
    from mamba_edu.viz.behaviour import behaviour_axes, plot_behaviour

    ro = rollout(scripted_policy("Rooms-3"), make_batched("Rooms-3", 3), seed=7)
    fig, axes = behaviour_axes("Rooms-3", 3, pyplot=False)
    w, h = fig.get_size_inches()
    assert w == style.NOTEBOOK_WIDTH and h / 3 > 1.8        # one full-width panel per meta-episode, not squashed
    for i, ax in enumerate(axes):
        plot_behaviour("Rooms-3", ro, i, ax)
    assert axes[0].title.get_fontsize() == style.FONT["title"]
    leg = style.legend(axes)
    assert not any(_overlaps_data_area(leg, ax) for ax in axes)   # the legend covers no goal
