"""Reward-prediction heatmaps (paper Fig. 2), the interactive slider, rollout animations and their CLI
(issue #6, items 1-2 and the GIF/MP4 of item 3).

The checkpoints are real ones, made here by the package's own ``train`` on Rooms-2 at toy sizes (a
few seconds each): they are barely trained, so the tests check structure and consistency, not
what a good agent believes.
"""
import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from matplotlib.image import imread

from mamba_edu.cli import main as cli_main
from mamba_edu.envs.rooms import GOAL_REWARD
from mamba_edu.training.loop import train
from mamba_edu.viz.animation import frames_from_rollout, record_rollout, save_animation
from mamba_edu.viz.heatmaps import compare_heatmaps, default_steps, heatmap_figure, load_trace
from mamba_edu.viz.interactive import HeatmapExplorer, interactive_heatmap

ENV = "Rooms-2"
H, T = 200, 100
PPO_TINY = dict(num_envs=2, steps=400, eval_every=400, eval_tasks=2, final_tasks=2, precollect=200,
                vae_batch_size=2, vae_buffer_size=20, threads=1, rnd_batch_size=4, rnd_layers=(16,), rnd_output=8)
DREAMER_TINY = dict(deter=32, hidden=16, stoch=4, classes=4, units=32, batch_size=4, seq_len=16, train_ratio=8,
                    num_envs=2, imag_horizon=2, imag_starts=8, prefill=200, eval_tasks=2, final_tasks=2, threads=1,
                    steps=400, eval_every=400)
ALGOS = ("varibad", "varibad-local", "hyperx", "mamba")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("heatmap_runs")
    return {algo: train(algo, ENV, overrides=DREAMER_TINY if algo == "mamba" else PPO_TINY, out=root / algo,
                        progress=False) for algo in ALGOS}


@pytest.fixture(scope="module")
def traces(runs):
    first = load_trace(runs["varibad"])
    return {algo: first if algo == "varibad" else load_trace(runs[algo], task=first.task) for algo in ALGOS}


def _png_ok(path):
    assert path.is_file() and path.stat().st_size > 1000, path
    return imread(path).shape


def _n_images(fig):
    return sum(len(ax.images) for ax in fig.axes)


# ----- the trace: one rollout, a decoded map at every step ------------------------------------------------

@pytest.mark.parametrize("algo", ALGOS)
def test_trace_is_consistent_with_the_rollout(traces, algo):
    tr = traces[algo]
    L = tr.layout
    assert tr.algo == algo and tr.env == ENV and tr.H == H and tr.T == T
    assert tr.maps.shape == (H, L.width, L.height)
    walls = ~L.free
    assert np.isnan(tr.maps[:, walls]).all() and not np.isnan(tr.maps[:, L.free]).any()
    lo, hi = tr.value_range
    if algo == "mamba":
        assert tr.quantity == "reward" and (lo, hi) == (-0.1, 1.0)
    else:   # Bernoulli cell decoder on Rooms: probabilities
        assert tr.quantity == "probability" and 0.0 <= np.nanmin(tr.maps) and np.nanmax(tr.maps) <= 1.0
    # the agent starts every sub-episode at the start cell, moves at most one cell a step, never into a wall
    assert tr.cells[0] == L.start and tr.cells[T] == L.start
    assert L.free[tuple(tr.xy.T)].all()
    steps = np.abs(np.diff(tr.xy, axis=0)).sum(1)
    assert (np.delete(steps, T - 1) <= 1).all()
    # the goal indicator fires only on goal cells, and its count matches the returns
    assert np.isin(tr.cells[tr.goal_reached], tr.goal_cells).all()
    assert not tr.goal_reached[0] and not tr.goal_reached[T]
    # every paying step is marked except one ending a sub-episode (its next observation is the reset)
    paid = round((tr.sub_episode_returns.sum() + 0.1 * H) / (GOAL_REWARD + 0.1))
    assert paid - 2 <= tr.goal_reached.sum() <= paid
    # "current" is the map read at the agent's own cell
    x, y = tr.xy[37]
    assert tr.current[37] == tr.maps[37, x, y]


def test_trace_is_reproducible_and_the_prior_belief_ignores_the_task(runs, traces):
    for algo in ("varibad", "mamba"):
        again = load_trace(runs[algo], task=traces[algo].task)
        assert np.array_equal(again.cells, traces[algo].cells)
        assert np.allclose(again.maps, traces[algo].maps, equal_nan=True)
        other_task = (traces[algo].task + 1) % 4
        other = load_trace(runs[algo], task=other_task, seed=7)
        assert np.array_equal(other.task, other_task) and other.seed == 7
        # before any transition the belief cannot know the task: the same map for every task (under the
        # same seed: the posterior's latent sample at t = 0 depends on the seed, not on the task)
        same_seed = load_trace(runs[algo], task=traces[algo].task, seed=7)
        assert np.allclose(other.maps[0], same_seed.maps[0], equal_nan=True)


def test_default_steps_cover_every_sub_episode(traces):
    steps = default_steps(traces["varibad"])
    assert len(steps) == 6 and all(0 <= t < H for t in steps)
    assert sum(t < T for t in steps) == 3


# ----- static figures -----------------------------------------------------------------------------------

def test_heatmap_figure_panels_paths_and_png(traces, tmp_path):
    tr = traces["varibad-local"]
    fig = heatmap_figure(tr, steps=[0, 10, 150], out=tmp_path / "h.png")
    assert len(fig.axes) == 3 + 2            # through-time panel + 3 maps + colour bar
    assert _n_images(fig) == 3
    time_ax = fig.axes[0]
    assert {ln.get_label() for ln in time_ax.get_lines()} >= {"state index (right axis)",
                                                              "predicted reward at current cell"}
    assert np.allclose(time_ax.get_lines()[1].get_ydata(), tr.current)
    # each map shows the belief at its step, and the path of the current sub-episode up to it
    maps = [ax for ax in fig.axes if ax.images]
    assert np.allclose(maps[1].images[0].get_array().filled(np.nan), tr.maps[10].T, equal_nan=True)
    path_lengths = [len(ax.get_lines()[1].get_xdata()) for ax in maps]
    assert path_lengths == [1, 11, 51]
    assert _png_ok(tmp_path / "h.png")[1] > 800
    assert not (tmp_path / "h.pdf").exists()
    # default steps: 6 maps
    assert len(heatmap_figure(tr).axes) == 6 + 2


def test_compare_heatmaps_stacks_checkpoints_on_one_task(traces, runs, tmp_path):
    fig = compare_heatmaps([traces["varibad"], traces["varibad-local"], traces["mamba"]], steps=[5, 120],
                           out=tmp_path / "cmp.png", pdf=True)
    assert len(fig.axes) == 3 * (2 + 2) and _n_images(fig) == 6
    _png_ok(tmp_path / "cmp.png")
    assert (tmp_path / "cmp.pdf").stat().st_size > 1000
    # side by side from run directories: both rolled out on the first one's task
    fig = compare_heatmaps([runs["varibad"], runs["mamba"]], steps=[5], columns=True)
    assert len(fig.axes) == 2 * 3
    with pytest.raises(ValueError, match="same env, task and seed"):
        compare_heatmaps([traces["varibad"], load_trace(runs["mamba"], task=(traces["varibad"].task + 1) % 4)])
    with pytest.raises(ValueError, match="at least two"):
        compare_heatmaps([traces["varibad"]])
    with pytest.raises(ValueError, match=r"valid time steps are 0\.\.199"):
        heatmap_figure(traces["varibad"], steps=[0, 200])


# ----- interactive ----------------------------------------------------------------------------------------

def test_widget_slider_redraws_map_path_and_caption(traces):
    tr = traces["varibad"]
    t0, t1 = 0, 150
    assert np.nanmax(np.abs(tr.maps[t0] - tr.maps[t1])) > 0   # the belief moved, so the picture must
    w = interactive_heatmap([tr, traces["mamba"]], t=t0)
    assert isinstance(w, HeatmapExplorer) and w.slider.max == H - 1
    png0, arr0 = w.image.value, w.maps[0]["image"].get_array().copy()
    assert png0[:4] == b"\x89PNG"
    w.slider.value = t1
    assert w.image.value != png0
    assert np.allclose(w.maps[0]["image"].get_array().filled(np.nan), tr.maps[t1].T, equal_nan=True)
    assert not np.allclose(w.maps[0]["image"].get_array(), arr0)
    assert len(w.maps[0]["path"].get_xdata()) == t1 - T + 1
    assert w.cursors[0].get_xdata()[0] == t1 and f"t = {t1}" in w.caption.value
    with pytest.raises(ValueError, match="t must lie in"):
        HeatmapExplorer([tr], t=H)


def test_widget_frames_are_precomputed_and_a_redraw_renders_nothing(traces, monkeypatch):
    """Moving the slider swaps precomputed PNG bytes: no matplotlib drawing at all, well under 100 ms."""
    import statistics
    import time

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w = HeatmapExplorer([traces["varibad"], traces["mamba"]], t=0, precompute=True)
    assert w.wait() and len(w.frames) == H and all(f[:4] == b"\x89PNG" for f in w.frames)
    assert len({w.frames[0], w.frames[60], w.frames[150]}) == 3          # the frames differ
    calls = []
    for cls, name in ((FigureCanvasAgg, "draw"), (Figure, "draw_artist"), (Figure, "savefig"),
                      (HeatmapExplorer, "render_frame")):
        original = getattr(cls, name)
        monkeypatch.setattr(cls, name, lambda *a, _n=name, _o=original, **k: calls.append(_n) or _o(*a, **k))
    durations = []
    for t in (5, 50, 101, 150, 199, 7, 120):
        start = time.perf_counter()
        w.slider.value = t
        durations.append(time.perf_counter() - start)
        assert w.image.value == w.frames[t] and f"t = {t}" in w.caption.value
        assert w.cursors[0].get_xdata()[0] == t
        assert np.allclose(w.maps[1]["image"].get_array().filled(np.nan), traces["mamba"].maps[t].T, equal_nan=True)
    assert calls == []                                   # no matplotlib rendering on a slider change
    assert statistics.median(durations) < 0.1           # in practice well under a millisecond


def test_widget_background_precompute_and_fitted_scale(traces):
    w = HeatmapExplorer([traces["varibad"], traces["varibad-local"]], t=3)
    w.slider.value = 120                                 # before the background thread got there: rendered now
    assert w.image.value[:4] == b"\x89PNG" and w.frames[120] == w.image.value
    assert w.wait(timeout=300) and all(f is not None for f in w.frames)
    assert len(w.traces) == 2 and all("fitted" in tr.colour_label for tr in w.traces)   # one fitted scale, said so
    assert w.traces[0].value_range == w.traces[1].value_range
    with pytest.raises(ValueError, match="precompute"):
        HeatmapExplorer([traces["varibad"]], precompute="later")


def test_widget_display_keeps_a_static_picture(traces):
    """Displayed, the explorer is an image/png output (kept in a saved notebook, shown without a kernel) that
    the slider updates in place, then the widget with the controls; its text fallback is short."""
    import base64

    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    w = HeatmapExplorer([traces["varibad"]], t=10, precompute=False)
    with capture_output() as cap:
        display(w)
        w.slider.value = 42
    first, widget, update = cap.outputs
    assert base64.b64decode(first.data["image/png"]) == w.frames[10]
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    assert "HeatmapExplorer(" not in widget.data["text/plain"]                      # not the long widget repr
    assert update.update and base64.b64decode(update.data["image/png"]) == w.frames[42]
    assert first.transient["display_id"] == update.transient["display_id"]
    bundle = w._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == w.frames[42] and len(bundle["text/plain"]) < 200


# ----- animations -----------------------------------------------------------------------------------------

def test_rooms_animation_frames_match_the_rollout(tmp_path):
    from mamba_edu.references.rooms import RoomsScriptedPolicy

    ro, frames = record_rollout(RoomsScriptedPolicy(2), ENV, seed=3, every=5)
    assert len(frames) == H // 5 + 1 and ro.returns[0] > 0
    # drawn again from the rollout's positions: the same pictures as env.render()
    again = frames_from_rollout(ENV, ro, 0, every=5)
    assert len(again) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, again))
    path = save_animation(frames, tmp_path / "rooms.gif", fps=20)
    assert iio.improps(path).shape[0] == len(frames)
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        save_animation(frames, tmp_path / "rooms.avi")
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="imageio-ffmpeg"):
            save_animation(frames, tmp_path / "rooms.mp4")
    else:
        assert save_animation(frames, tmp_path / "rooms.mp4").stat().st_size > 0


class _Constant:
    def __init__(self, action):
        self.action = np.asarray(action, dtype=np.float64)

    def reset(self, n):
        self.n = n

    def act(self, obs):
        return np.tile(self.action, (self.n, 1))


def test_point_robot_and_mujoco_animations(tmp_path):
    ro, frames = record_rollout(_Constant([1.0, 0.0]), "PointRobot", seed=0, K=2, T=4)
    assert len(frames) == 9 and not np.array_equal(frames[0][:-16], frames[3][:-16])   # the robot moved
    assert np.array_equal(frames[0][:-16], frames[4][:-16])      # and is back at the start in sub-episode 2
    from mamba_edu.envs.reacher import RenderingUnavailableError

    try:
        _, frames = record_rollout(_Constant([1.0, -1.0]), "Reacher-1", seed=0, K=1, T=3)
    except RenderingUnavailableError as e:
        pytest.skip(f"no headless GL backend for MuJoCo here: {e}")
    assert len(frames) == 4 and frames[0].shape[2] == 3 and not np.array_equal(frames[0], frames[3])
    assert iio.improps(save_animation(frames, tmp_path / "reacher.gif")).shape[0] == 4


# ----- CLI ------------------------------------------------------------------------------------------------

def _fake_run(path, algo, env):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"algo": algo, "env": env, "presets": [], "overrides": {}}))
    return str(path)


def test_cli_heatmap_and_animation(runs, tmp_path, capsys):
    out = tmp_path / "hm.png"
    assert cli_main(["plot", "heatmap", "--run", str(runs["varibad"]), "--run", str(runs["varibad-local"]),
                     "--steps", "3", "60", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    _png_ok(out)
    gif = tmp_path / "m.gif"
    assert cli_main(["plot", "animation", "--run", str(runs["mamba"]), "--out", str(gif), "--every", "20"]) == 0
    assert iio.improps(gif).shape[0] == H // 20 + 1


def test_cli_errors_name_the_valid_choices(runs, tmp_path, capsys):
    def err(*argv):
        assert cli_main(["plot", *argv]) == 2
        return capsys.readouterr().err

    assert "not a run directory" in err("heatmap", "--run", str(tmp_path / "missing"))
    escape = _fake_run(tmp_path / "er", "mamba", "EscapeRoom")
    msg = err("heatmap", "--run", escape)
    assert "Rooms-1" in msg and "Rooms-8" in msg and "PointRobot" in msg and "EscapeRoom" in msg
    rl2 = _fake_run(tmp_path / "rl2", "rl2", ENV)
    msg = err("heatmap", "--run", rl2)
    assert "valid algorithms: varibad, varibad-local, hyperx, mamba, dreamer-tune, dreamer-vanilla" in msg
    other = _fake_run(tmp_path / "r3", "mamba", "Rooms-3")
    assert "same env" in err("heatmap", "--run", str(runs["mamba"]), "--run", other)
    assert "0..199" in err("heatmap", "--run", str(runs["mamba"]), "--steps", "250")
    assert "one --run" in err("animation", "--run", str(runs["mamba"]), str(runs["varibad"]))
    assert ".gif or .mp4" in err("animation", "--run", str(runs["mamba"]), "--out", str(tmp_path / "a.png"))
    assert "--steps applies to plot heatmap only" in err("animation", "--run", str(runs["mamba"]), "--steps", "3")
    assert "unknown plot kind" in err("heatmaps", "--run", str(runs["mamba"]))


def test_median_return_task_gives_the_episode_the_figure_shows(runs):
    """The figure's episode is chosen by rule: its trace has exactly the median return of the candidates."""
    from mamba_edu.viz.heatmaps import median_return_task

    task, ret = median_return_task(runs["varibad-local"], n_tasks=5, seed=11)
    trace = load_trace(runs["varibad-local"], task=task, seed=11)
    assert trace.sub_episode_returns.sum() == pytest.approx(ret)


def test_fitted_colour_scale_spans_the_predictions_and_says_so(runs, traces):
    from mamba_edu.viz.heatmaps import fit_scale

    a, b = fit_scale([traces["varibad"], traces["varibad-local"]])
    both = np.concatenate([a.maps[np.isfinite(a.maps)], b.maps[np.isfinite(b.maps)]])
    assert a.value_range == b.value_range == (both.min(), both.max())
    assert "fitted" in a.colour_label and "fitted" not in traces["varibad"].colour_label
