"""The pre-trained runs shipped in ``mamba_edu/pretrained`` (issue #7, item 2).

Each shipped run must be a usable run directory whose checkpoint loads weights-only and still earns
what its ``final.json`` says:

* on **fresh** held-out tasks (a task seed used neither in training, nor in evaluation, nor in the
  final test) the mean return of n meta-episodes may differ from the recorded mean of N only by
  sampling noise: the difference of two independent means has standard deviation
  σ·sqrt(1/n + 1/N) with σ the recorded ``return_std``; we allow 4 of them (a false alarm
  probability of about 6e-5 for a correct checkpoint; a checkpoint swapped for another run or an
  untrained one misses by far more, see the numbers in the parametrisation);
* the recorded final test itself (same tasks, same seeds) is reproduced: exactly on the software
  the runs were made with; within one recorded standard error elsewhere, where a last-bit
  difference in a network output can flip a sampled action;
* the learned policy is well above a uniformly random one on the same tasks.

Every evaluation is batched (100 meta-episodes at a time) and takes a few seconds on one core.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mamba_edu.pretrained import PRETRAINED, list_pretrained, pretrained_run
from mamba_edu.rollout import evaluate
from mamba_edu.training import checkpoint
from mamba_edu.training.loop import EVAL_SEED, FINAL_SEED, final_test, load_learner

NAMES = list(PRETRAINED)
EXPECTED = {  # name: (algo, env)
    "rooms3_varibad": ("varibad", "Rooms-3"),
    "rooms3_varibad-local": ("varibad-local", "Rooms-3"),
    "metabandit_mamba": ("mamba", "MetaBandit"),
    "rooms4_varibad": ("varibad", "Rooms-4"),
    "rooms4_varibad-local": ("varibad-local", "Rooms-4"),
    "rooms1_mamba": ("mamba", "Rooms-1"),
    "pointrobot_mamba": ("mamba", "PointRobot"),
    "rooms4_mamba": ("mamba", "Rooms-4"),
}
FRESH_SEED = 3_000_017   # task/rollout seed of the fresh held-out tasks (≠ EVAL_SEED, FINAL_SEED, training seeds)
N_FRESH = 1000           # fresh meta-episodes per checkpoint (Rooms-3: ~6 s on one core; MetaBandit: ~1 s)
ROOT = Path(pretrained_run(NAMES[0])).parent


@pytest.fixture(autouse=True)
def _one_thread_full_size(monkeypatch):
    """Load with the recorded configuration (no ``quick`` preset appended) on one thread."""
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _final(name: str) -> dict:
    return json.loads((pretrained_run(name) / "final.json").read_text())


class _UniformRandom:
    """Uniformly random actions of an env's action space, discrete or a box (the baseline every learned
    policy must beat)."""

    def __init__(self, space, seed: int) -> None:
        self.space, self.rng = space, np.random.default_rng(seed)

    def reset(self, num_envs: int) -> None:
        self.B = num_envs

    def act(self, obs) -> np.ndarray:
        if hasattr(self.space, "n"):
            return self.rng.integers(0, self.space.n, size=self.B)
        return self.rng.uniform(self.space.low, self.space.high, size=(self.B, *self.space.shape)).astype(np.float32)


def test_the_registry_lists_every_shipped_run():
    assert set(NAMES) == set(EXPECTED)
    listed = list_pretrained()
    assert list(listed) == NAMES
    for name, text in listed.items():
        assert text and "\n" not in text and "final test" in text, (name, text)
    shipped = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert shipped == sorted(NAMES), f"directories in {ROOT} without a registry entry (or vice versa): {shipped}"


@pytest.mark.parametrize("name", NAMES)
def test_run_directory_is_complete_and_slim(name):
    run = pretrained_run(name)
    assert run.is_dir() and run == ROOT / name
    for f in ("config.json", "final.json", "metrics.csv", "COMMAND.md", "checkpoints/best.pt"):
        assert (run / f).is_file(), f"{name}: {f} missing"
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    assert files == ["COMMAND.md", "checkpoints/best.pt", "config.json", "final.json", "metrics.csv"], files
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["algo"], cfg["env"]) == EXPECTED[name]
    final = _final(name)
    assert (final["algo"], final["env"], final["checkpoint"]) == (*EXPECTED[name], "best")
    assert final["n_tasks"] == cfg["config"]["final_tasks"]
    assert "python -m mamba_edu train" in (run / "COMMAND.md").read_text()


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError) as err:
        pretrained_run("rooms3_mamba")
    assert "rooms3_mamba" in str(err.value)
    for name in NAMES:
        assert name in str(err.value)


def test_total_shipped_size_is_small():
    sizes = {str(p.relative_to(ROOT)): p.stat().st_size for p in ROOT.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert sum(sizes.values()) < 30 * 2**20, sizes          # weights only: a few MB each, under ~30 MB in all
    for path, size in sizes.items():
        if path.endswith(".pt"):
            assert size <= 16 * 2**20, (path, size)


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_loads_weights_only_and_is_the_best_evaluation(name):
    path = pretrained_run(name) / "checkpoints" / "best.pt"
    raw = torch.load(path, map_location="cpu", weights_only=True)     # no pickled code in it
    assert raw["format_version"] == checkpoint.FORMAT_VERSION
    state = checkpoint.load(path)
    with open(pretrained_run(name) / "metrics.csv", newline="") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    best = max(rows, key=lambda r: r["return_mean"])
    assert state["counters"]["env_steps"] == int(best["env_steps"])
    assert state["counters"]["best_return"] == pytest.approx(best["return_mean"])
    cfg = json.loads((pretrained_run(name) / "config.json").read_text())
    last = int(rows[-1]["env_steps"])
    if last < cfg["config"]["steps"]:                  # stopped before its budget: COMMAND.md must say where
        assert f"last evaluation at {last:,} env steps" in (pretrained_run(name) / "COMMAND.md").read_text(), name


@pytest.mark.parametrize("name", NAMES)
def test_return_on_fresh_held_out_tasks_matches_final_json(name):
    assert FRESH_SEED not in (EVAL_SEED, FINAL_SEED)
    recorded = _final(name)
    cfg, learner, saved = load_learner(pretrained_run(name), "best")
    env_kwargs = dict(reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    torch.manual_seed(FRESH_SEED)
    got = evaluate(learner.eval_policy(), saved["env"], n_tasks=N_FRESH, seed=FRESH_SEED, batch_size=100,
                   **env_kwargs)
    sigma = recorded["return_std"]
    tol = 4 * sigma * math.sqrt(1 / N_FRESH + 1 / recorded["n_tasks"])
    assert abs(got["return_mean"] - recorded["return_mean"]) <= tol, (name, got, recorded, tol)

    from mamba_edu.envs import make_batched

    env = make_batched(saved["env"], 1, **env_kwargs)
    space = env.single_action_space
    env.close()
    rand = evaluate(_UniformRandom(space, FRESH_SEED), saved["env"], n_tasks=N_FRESH, seed=FRESH_SEED,
                    batch_size=100, **env_kwargs)
    gap_se = math.hypot(got["return_sem"], rand["return_sem"])
    assert got["return_mean"] - rand["return_mean"] > 8 * gap_se, (name, got, rand)
    if saved["env"] == "MetaBandit":
        # chance is 10 (each pull pays with probability 1/2), Bayes-optimal 19.5
        assert abs(rand["return_mean"] - 10.0) <= 4 * rand["return_sem"], rand
        assert got["return_mean"] >= 0.9 * 19.5, got
        assert got["sub_episode_returns_mean"][-1] >= 4.7, got   # later sub-episodes exploit the arm found


@pytest.mark.parametrize("name", NAMES)
def test_recorded_final_test_is_reproduced(name, tmp_path):
    recorded = _final(name)
    run = tmp_path / name
    shutil.copytree(pretrained_run(name), run)          # final_test writes final.json: never the shipped one
    again = final_test(run, n_tasks=recorded["n_tasks"])
    assert final_test(pretrained_run(name), n_tasks=recorded["n_tasks"], write=False) == again
    assert abs(again["return_mean"] - recorded["return_mean"]) <= recorded["return_sem"], (again, recorded)
    assert json.loads((pretrained_run(name) / "final.json").read_text()) == recorded


def test_shipped_rooms_runs_draw_heatmaps():
    """The notebook's use: a Fig. 2 trace from each Rooms-3 checkpoint (decoder maps of the right shape)."""
    from mamba_edu.viz.heatmaps import load_trace

    for name in ("rooms3_varibad", "rooms3_varibad-local"):
        trace = load_trace(pretrained_run(name))
        assert trace.quantity == "probability" and trace.H == 200
        free = ~np.isnan(trace.maps[0])
        assert trace.maps.shape[0] == 200 and free.any()
        assert np.all((trace.maps[:, free] >= 0) & (trace.maps[:, free] <= 1))


def test_cli_lists_and_locates_shipped_runs(capsys):
    from mamba_edu.cli import main as cli_main

    assert cli_main(["pretrained"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in NAMES)
    assert cli_main(["pretrained", "metabandit_mamba"]) == 0
    assert capsys.readouterr().out.strip() == str(pretrained_run("metabandit_mamba"))
    assert cli_main(["pretrained", "nope"]) == 2
    assert "valid: " in capsys.readouterr().err
