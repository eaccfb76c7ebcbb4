"""Learning curves (paper Fig. 3/4), the Table-1-style table and the ``plot``/``table`` CLI (issue #6, items 4-5).

The fixture is written by hand following :mod:`mamba_edu.training.run_dir`: 2 algorithms × 2 seeds
on Rooms-3 (exact Bayes-optimal reference), runs of different lengths, one without final.json.
"""
import json
import re

import numpy as np
import pytest
from matplotlib.image import imread

from mamba_edu.cli import main as cli_main
from mamba_edu.training.run_dir import MetricsCSV
from mamba_edu.viz.curves import (
    convergence_step,
    curves_figure,
    group_labels,
    group_runs,
    load_run,
    mean_curve,
    reference_line,
    sub_episode_figure,
)
from mamba_edu.viz.tables import PAPER, results_table, table_rows

ROOMS3_BAYES_OPTIMAL = 160.4   # 213.2 − 17.6·3 (mamba_edu.references.rooms)


def make_run(path, algo, env, seed, steps, returns, K=2, final=True, wall_per_step=0.01, overrides=None):
    """A run directory as `train` writes it: config.json, metrics.csv and (optionally) final.json."""
    path.mkdir(parents=True)
    config = {"algo": algo, "env": env, "presets": [], "overrides": {"seed": seed, **(overrides or {})},
              "config": {"seed": seed}, "K": K, "T": 100, "versions": {}, "git_commit": None}
    (path / "config.json").write_text(json.dumps(config))
    csv = MetricsCSV(path / "metrics.csv", K)
    for s, r in zip(steps, returns):
        csv.append({"env_steps": s, "wall_s": s * wall_per_step, "return_mean": r, "return_std": 1.0,
                    **{f"return_sub{k}": r * (k + 1) / (K * (K + 1) / 2) for k in range(K)}})
    if final:
        last = returns[-1] - 1.0
        (path / "final.json").write_text(json.dumps({
            "return_mean": last, "return_std": 3.0, "return_sem": 0.1, "n_tasks": 1000,
            "sub_episode_returns_mean": [last * (k + 1) / (K * (K + 1) / 2) for k in range(K)],
            "algo": algo, "env": env, "checkpoint": "best"}))
    return path


STEPS = [0, 200, 400, 600, 800, 1000]


@pytest.fixture
def runs(tmp_path):
    return [
        make_run(tmp_path / "mamba_s0", "mamba", "Rooms-3", 0, STEPS, [-20.0, 40.0, 100.0, 140.0, 150.0, 152.0]),
        make_run(tmp_path / "mamba_s1", "mamba", "Rooms-3", 1, STEPS[:5], [-20.0, 60.0, 120.0, 146.0, 154.0]),
        make_run(tmp_path / "varibad_s0", "varibad", "Rooms-3", 0, STEPS, [-20.0, -10.0, 20.0, 60.0, 100.0, 110.0],
                 wall_per_step=0.05),
        make_run(tmp_path / "varibad_s1", "varibad", "Rooms-3", 1, STEPS, [-20.0, 0.0, 30.0, 80.0, 120.0, 116.0],
                 final=False, wall_per_step=0.05),
    ]


def _png_ok(path):
    assert path.is_file() and path.stat().st_size > 1000, path
    return imread(path).shape


def test_grouping_and_seed_mean_without_extrapolation(runs):
    groups = group_runs(runs)
    assert list(groups) == [("Rooms-3", "mamba", ()), ("Rooms-3", "varibad", ())]
    assert [r.seed for r in groups[("Rooms-3", "mamba", ())]] == [0, 1]
    m = groups[("Rooms-3", "mamba", ())]
    x, mean, std = mean_curve([r.env_steps for r in m], [r.returns for r in m])
    assert x[-1] == 800                                   # stops at the shortest run
    assert mean[2] == pytest.approx(110.0) and std[2] == pytest.approx(10.0)
    # different grids are interpolated onto the union of their evaluation steps
    x, mean, _ = mean_curve([np.array([0.0, 100.0]), np.array([0.0, 50.0, 100.0])],
                            [np.array([0.0, 10.0]), np.array([0.0, 1.0, 2.0])])
    assert list(x) == [0, 50, 100] and mean[1] == pytest.approx((5.0 + 1.0) / 2)
    with pytest.raises(ValueError, match="no common range"):
        mean_curve([np.array([0.0, 100.0]), np.array([200.0, 300.0])], [np.zeros(2), np.zeros(2)])


def test_ablation_is_its_own_group(tmp_path, runs):
    blind = make_run(tmp_path / "blind", "mamba", "Rooms-3", 0, STEPS, [-20.0] * 6, overrides={"reward_in_obs": False})
    groups = group_runs(runs + [blind])
    assert ("Rooms-3", "mamba", ("reward_in_obs=False",)) in groups
    assert len(groups[("Rooms-3", "mamba", ())]) == 2
    assert sorted(group_labels(groups).values()) == ["mamba", "mamba [reward_in_obs=False]", "varibad"]
    assert [r.algo for r in table_rows(runs + [blind])] == ["mamba", "mamba [reward_in_obs=False]", "varibad"]


def test_convergence_step():
    steps = np.array([0, 100, 200, 300, 400])
    assert convergence_step(steps, np.array([-20.0, 50.0, 150.0, 170.0, 180.0])) == 300   # -20 + 0.9·200 = 160
    assert convergence_step(steps, np.array([0.0, 10.0, 95.0, 100.0, 100.0])) == 200
    assert convergence_step(steps, np.array([5.0, 4.0, 3.0, 2.0, 1.0])) is None


def test_reference_lines():
    value, label, subs = reference_line("Rooms-3")
    assert value == pytest.approx(ROOMS3_BAYES_OPTIMAL) and label == "exact Bayes-optimal" and len(subs) == 2
    assert reference_line("PointRobot", n_tasks=50)[1] == "scripted reference"
    assert reference_line("MetaBandit")[:2] == (19.5, "exact Bayes-optimal")
    assert reference_line("Reacher-1") is None                      # no reference defined


def test_curves_figure_two_panels_and_ceiling(tmp_path, runs):
    fig = curves_figure(runs, out=tmp_path / "fig" / "curves.png")
    assert len(fig.axes) == 2
    _png_ok(tmp_path / "fig" / "curves.png")
    assert (tmp_path / "fig" / "curves.pdf").stat().st_size > 1000
    steps_ax, wall_ax = fig.axes
    assert steps_ax.get_xlabel() == "env steps" and wall_ax.get_xlabel().startswith("wall-clock")
    labels = [line.get_label() for line in steps_ax.get_lines()]
    assert "mamba (2 seeds)" in labels and "varibad (2 seeds)" in labels
    ceiling = [line for line in steps_ax.get_lines() if line.get_label().startswith("exact Bayes-optimal")]
    assert len(ceiling) == 1 and ceiling[0].get_ydata()[0] == pytest.approx(ROOMS3_BAYES_OPTIMAL)
    mamba = next(line for line in steps_ax.get_lines() if line.get_label() == "mamba (2 seeds)")
    assert mamba.get_xdata()[-1] == 800                  # no extrapolation beyond the shortest seed


def test_curves_figure_one_row_per_env_and_scripted_label(tmp_path, runs):
    pr = make_run(tmp_path / "pr", "mamba", "PointRobot", 0, STEPS, [0.0, 50.0, 100.0, 150.0, 200.0, 210.0], K=3)
    fig = curves_figure(runs + [pr], reference_tasks=50)
    assert len(fig.axes) == 4
    assert any(line.get_label().startswith("scripted reference") for line in fig.axes[2].get_lines())
    assert not any("Bayes-optimal" in line.get_label() for line in fig.axes[2].get_lines())


def test_sub_episode_figure_k_plus_one_panels(tmp_path, runs):
    fig = sub_episode_figure(runs, out=tmp_path / "sub.png")
    assert len(fig.axes) == 2 + 1                        # K = 2 sub-episode panels + the per-k summary
    _png_ok(tmp_path / "sub.png")
    assert fig.axes[0].get_title() == "Rooms-3: sub-episode 1"
    assert fig.axes[2].get_xlabel() == "sub-episode k"


def _parse_markdown(text):
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split(" | ")))) for line in lines[2:]]


def _pm(cell):
    m = re.fullmatch(r"(-?[\d.]+)(?: ± ([\d.]+))?(?: \((.*)\))?", cell)
    assert m, cell
    return float(m.group(1)), None if m.group(2) is None else float(m.group(2)), m.group(3)


def test_table_markdown_round_trips_the_fixture(runs):
    rows = _parse_markdown(results_table(runs))
    assert [(r["Env"], r["Algorithm"], r["Seeds"]) for r in rows] == [("Rooms-3", "mamba", "2"),
                                                                     ("Rooms-3", "varibad", "2")]
    mamba, varibad = rows
    ours = [json.loads((p / "final.json").read_text())["return_mean"] for p in runs[:2]]
    mean, std, _ = _pm(mamba["Ours (mean ± std)"])
    assert mean == pytest.approx(np.mean(ours), abs=0.05) and std == pytest.approx(np.std(ours), abs=0.05)
    assert mamba["Source"] == "final test (1000 tasks)"
    assert int(mamba["Steps"].replace(",", "")) == 800
    # seed mean 0 → 800: -20, 50, 110, 143, 152; 90 % of the way from -20 to 152 is 134.8 → step 600
    assert int(mamba["Steps to 90 %"].replace(",", "")) == 600
    assert _pm(mamba["Paper (mean ± std)"]) == (156.2, 1.7, "Table 1") and mamba["Paper steps"] == "~6M"
    ref, _, kind = _pm(mamba["Reference"])
    assert ref == pytest.approx(ROOMS3_BAYES_OPTIMAL, abs=0.05) and kind == "exact Bayes-optimal"
    # varibad: seed 0 has final.json (109.0), seed 1 only metrics.csv (best row 120.0)
    mean, std, _ = _pm(varibad["Ours (mean ± std)"])
    assert mean == pytest.approx((109.0 + 120.0) / 2, abs=0.05) and std == pytest.approx(5.5, abs=0.05)
    assert "mixed" in varibad["Source"] and "best eval (metrics.csv)" in varibad["Source"]
    assert _pm(varibad["Paper (mean ± std)"]) == (158.7, 2.6, "Table 1") and varibad["Paper steps"] == "~100M"
    # the data behind the text agrees
    data = table_rows(runs)
    assert data[0].mean == pytest.approx(np.mean(ours)) and data[0].convergence == 600


def test_table_single_seed_latex_and_paper_numbers(runs):
    rows = _parse_markdown(results_table(runs[3:]))
    assert rows[0]["Seeds"] == "1" and rows[0]["Ours (mean ± std)"] == "120.0"
    assert rows[0]["Source"] == "best eval (metrics.csv)"
    latex = results_table(runs, format="latex")
    assert latex.count(r"\\") == 1 + 2 and r"\begin{tabular}" in latex and r"$\pm$" in latex
    assert "Rooms-3 & mamba & 2 &" in latex and r"90 \%" in latex
    with pytest.raises(ValueError, match="valid: markdown, latex"):
        results_table(runs, format="html")
    assert PAPER["PointRobot"]["mamba"] == (242.2, 7.9, "~2M", "Table 1")
    assert PAPER["Rooms-8"]["rl2"].table == "Table 5" and PAPER["Rooms-8"]["varibad"].mean is None
    assert PAPER["Reacher-4"]["mamba"][:2] == (77.7, 61.1)


def test_bad_run_directory_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a run directory: no such directory"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_run(tmp_path / "empty")
    run = make_run(tmp_path / "noevals", "mamba", "Rooms-3", 0, [], [], final=False)
    with pytest.raises(FileNotFoundError, match="metrics.csv is missing"):
        load_run(run)
    (run / "metrics.csv").write_text("env_steps,wall_s,return_mean,return_std,return_sub0,return_sub1\n")
    with pytest.raises(ValueError, match="has no evaluation rows yet"):
        load_run(run)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        load_run(tmp_path / "corrupt")
    with pytest.raises(ValueError, match="no run directories"):
        curves_figure([])
    assert len(group_runs(str(make_run(tmp_path / "one", "mamba", "Rooms-3", 0, [0, 100], [1.0, 2.0])))) == 1


def test_cli_plot_and_table(tmp_path, runs, capsys):
    dirs = [str(p) for p in runs]
    assert cli_main(["plot", "curves", "--run", *dirs, "--out", str(tmp_path / "c.png")]) == 0
    _png_ok(tmp_path / "c.png")
    assert cli_main(["plot", "sub-episodes", "--run", *dirs, "--out", str(tmp_path / "s.png")]) == 0
    _png_ok(tmp_path / "s.png")
    capsys.readouterr()
    assert cli_main(["table", "--run", *dirs]) == 0
    assert len(_parse_markdown(capsys.readouterr().out)) == 2
    assert cli_main(["table", "--run", *dirs, "--format", "latex"]) == 0
    assert r"\begin{tabular}" in capsys.readouterr().out
    assert cli_main(["plot", "heatmaps", "--run", *dirs]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown plot kind 'heatmaps'; valid: curves, sub-episodes, behaviour")
    assert cli_main(["plot", "curves", "--run", str(tmp_path / "missing")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert cli_main(["table", "--run", str(tmp_path)]) == 2
    assert "config.json is missing" in capsys.readouterr().err
    assert cli_main(["plot", "behaviour", "--run", *dirs[:2]]) == 2
    assert "takes one --run DIR, got 2" in capsys.readouterr().err
    bandit = make_run(tmp_path / "bandit", "mamba", "MetaBandit", 0, [160], [10.0], K=4)
    assert cli_main(["plot", "behaviour", "--run", str(bandit)]) == 2
    assert "no behaviour plot for 'MetaBandit'" in capsys.readouterr().err


def test_cli_behaviour_on_tiny_pointrobot_checkpoint(tmp_path, capsys):
    """A real (tiny, 600-step) MAMBA checkpoint on PointRobot, drawn by ``plot behaviour``.
    (MetaBandit has no spatial behaviour to draw, hence PointRobot.)"""
    from mamba_edu.training.loop import train

    tiny = dict(deter=64, hidden=32, stoch=8, classes=8, units=64, batch_size=4, seq_len=16, train_ratio=64,
                num_envs=2, imag_horizon=5, imag_starts=16, actor_lr=1e-3, critic_lr=1e-3, model_lr=1e-3,
                prefill=480, eval_tasks=4, final_tasks=4, threads=1, steps=600, eval_every=600)
    run = train("mamba", "PointRobot", overrides=tiny, out=tmp_path / "run", progress=False)
    out = tmp_path / "behaviour.png"
    assert cli_main(["plot", "behaviour", "--run", str(run), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    height, width, _ = _png_ok(out)
    assert width > 2.5 * height                          # three meta-episodes side by side
    assert cli_main(["plot", "curves", "--run", str(run), "--out", str(tmp_path / "c.png")]) == 0
    _png_ok(tmp_path / "c.png")
