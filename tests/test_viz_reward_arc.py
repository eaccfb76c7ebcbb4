"""PointRobot's reward arc (the Fig. 2 reading of a world model's belief about the goal angle): the
imagined straight paths, the probe against a hand computation, the trace, the figure and the CLI.

The checkpoint is a real one, made here by the package's own ``train`` on PointRobot at toy sizes (a few
seconds): barely trained, so the tests check the decoding and its consistency, not what a good agent
believes.
"""
import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from mamba_edu.agents.dreamer.probe import point_robot_reward_arc, straight_path_actions
from mamba_edu.cli import main as cli_main
from mamba_edu.envs.point_robot import STEP_SIZE, goal_position, point_robot_reward
from mamba_edu.training.loop import load_learner, train
from mamba_edu.viz.reward_arc import arc_figure, default_arc_steps, load_arc_trace

H, T = 300, 100
TINY = dict(deter=32, hidden=16, stoch=4, classes=4, units=32, batch_size=4, seq_len=16, train_ratio=8,
            num_envs=2, imag_horizon=2, imag_starts=8, prefill=300, eval_tasks=2, final_tasks=2, threads=1,
            steps=600, eval_every=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield train("mamba", "PointRobot", overrides=TINY, out=tmp_path_factory.mktemp("arc") / "mamba", progress=False)
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def trace(run):
    return load_arc_trace(run, task=[1.0], seed=5)


def test_straight_paths_land_on_their_targets_under_the_env_step_rule():
    import gymnasium as gym

    env = gym.make("mamba_edu/PointRobot-v0")
    env.reset(seed=0)
    target = np.array([-0.35, 0.93])
    actions = straight_path_actions(np.zeros(2), target, STEP_SIZE)
    assert len(actions) == 10                                   # the farther coordinate: 0.93 at 0.1 a step
    for a in actions:
        obs, *_ = env.step(a.astype(np.float32))
    assert np.allclose(obs[:2], target, atol=1e-6)
    assert straight_path_actions(target, target, STEP_SIZE) == []


def test_a_landed_point_gets_exactly_zero_actions_so_its_arrival_is_read_on_time():
    rng = np.random.default_rng(0)
    start = rng.uniform(-1, 1, (1000, 2))
    theta = rng.uniform(0, np.pi, 1000)
    goal = np.stack([np.cos(theta), np.sin(theta)], -1)
    actions = np.stack(straight_path_actions(start, goal, STEP_SIZE))            # (steps, 1000, 2)
    own = np.ceil(np.abs(goal - start).max(-1) / STEP_SIZE - 1e-9).astype(int)    # each point's own steps
    assert len(actions) == own.max()
    moving = np.any(actions != 0.0, axis=-1)
    for i in range(1000):
        assert moving[:own[i], i].all() and not moving[own[i]:, i].any(), i
    end = start + STEP_SIZE * np.clip(actions, -1, 1).sum(0)
    assert np.allclose(end, goal, atol=1e-9)


def test_arc_probe_equals_imagining_the_path_by_hand(run):
    _, learner, _ = load_learner(run, "best")
    agent = learner.agent
    torch.manual_seed(0)
    state = {k: v.detach() for k, v in agent.wm.rssm.initial(2).items()}
    state["deter"] = state["deter"] + 0.3 * torch.randn_like(state["deter"])      # two different beliefs
    positions = np.array([[0.0, 0.0], [0.5, 0.4]])
    angles = np.array([0.2, 2.5, np.arctan2(0.4, 0.5)])
    arc = point_robot_reward_arc(agent, state, positions, angles, chunk=4)           # chunks split the batch
    assert arc.shape == (2, 3)
    rssm = agent.wm.rssm
    with torch.no_grad():
        for b in range(2):
            for j, theta in enumerate(angles):
                s = {k: v[b:b + 1] for k, v in state.items()}
                goal = np.array([np.cos(theta), np.sin(theta)])
                path = straight_path_actions(positions[b], goal, STEP_SIZE) or [np.zeros(2)]
                for a in path:
                    s = rssm.img_step(s, torch.as_tensor(a[None], dtype=torch.float32), sample=False)
                want = agent.wm.reward(rssm.features(s)).item()
                assert arc[b, j] == pytest.approx(want, abs=1e-6), (b, j)
    assert not np.allclose(arc[0], arc[1])


def test_trace_is_consistent_with_its_rollout(trace):
    assert trace.algo == "mamba" and trace.env == "PointRobot" and trace.H == H and trace.T == T
    assert trace.arc.shape == (H, len(trace.angles)) and np.isfinite(trace.arc).all()
    assert trace.angles[0] == 0.0 and trace.angles[-1] == pytest.approx(np.pi)
    assert np.all(trace.positions[[0, T, 2 * T]] == 0.0)                  # every sub-episode starts at the origin
    steps = np.abs(np.diff(trace.positions, axis=0))
    inside = trace.sub_episode[1:] == trace.sub_episode[:-1]
    assert (steps[inside] <= STEP_SIZE + 1e-6).all()
    goal = goal_position(trace.task)
    assert np.array_equal(trace.paid[1:] & inside, (point_robot_reward(trace.positions, goal)[1:] > 0) & inside)
    again = load_arc_trace(trace.extra["run"], task=[1.0], seed=5)
    assert np.array_equal(again.arc, trace.arc) and np.array_equal(again.positions, trace.positions)


def test_median_return_task_on_point_robot_is_the_episode_the_figure_shows(run):
    from mamba_edu.viz.heatmaps import median_return_task

    task, ret = median_return_task(run, n_tasks=3, seed=11)
    assert load_arc_trace(run, task=task, seed=11).sub_episode_returns.sum() == pytest.approx(ret)


def test_default_steps_open_every_sub_episode(trace):
    steps = default_arc_steps(trace)
    assert {0, T, 2 * T} <= set(steps) and steps == sorted(steps) and len(steps) <= 6


def test_figure_panels_and_fitted_scale(trace, run, tmp_path):
    fig = arc_figure(trace, steps=[0, 150, 299], out=tmp_path / "arc.png")
    # the time panel, three arcs, the colour bar
    assert len(fig.axes) == 5
    assert imread(tmp_path / "arc.png").shape[2] in (3, 4)
    bar = fig.axes[-1]
    assert "fitted" in bar.get_xlabel()
    lo, hi = fig.axes[0].images[0].get_clim()
    assert lo == pytest.approx(trace.arc.min()) and hi == pytest.approx(trace.arc.max())
    two = arc_figure([trace, run], steps=[10])
    assert len(two.axes) == 2 * 3


def test_cli_draws_the_arc_for_point_robot_and_errors_clearly(run, tmp_path, capsys):
    out = tmp_path / "hm.png"
    assert cli_main(["plot", "heatmap", "--run", str(run), "--steps", "5", "120", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.stat().st_size > 1000

    def err(*argv):
        assert cli_main(["plot", *argv]) == 2
        return capsys.readouterr().err

    assert "0..299" in err("heatmap", "--run", str(run), "--steps", "300")
    fake = tmp_path / "ppo"
    fake.mkdir()
    cfg = json.loads((run / "config.json").read_text())
    cfg["algo"] = "varibad"
    (fake / "config.json").write_text(json.dumps(cfg))
    msg = err("heatmap", "--run", str(fake))
    assert "valid algorithms: mamba, dreamer-tune, dreamer-vanilla" in msg
