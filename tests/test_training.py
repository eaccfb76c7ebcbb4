"""The training loop (mamba_edu.training.loop) on the MetaBandit: learning, resume, checkpoints, the learner
contract, collect_batch and the counters."""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import numpy as np
import pytest
import torch

from mamba_edu.agents import registry
from mamba_edu.cli import main as cli_main
from mamba_edu.envs import make_batched
from mamba_edu.rollout import rollout
from mamba_edu.training import checkpoint
from mamba_edu.training.collect import collect_batch, training_seeds
from mamba_edu.training.counters import Counters
from mamba_edu.training.learner import BeliefProbe, Learner
from mamba_edu.training.loop import TrainingError, TrainingInterrupted, build, load_learner, train

TINY = dict(deter=64, hidden=32, stoch=8, classes=8, units=64, batch_size=16, seq_len=16, train_ratio=64,
            num_envs=8, imag_horizon=5, imag_starts=16, actor_lr=1e-3, critic_lr=1e-3, model_lr=1e-3,
            prefill=480, eval_tasks=50, final_tasks=100, threads=1)


def _rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _rows_without_wall(run):
    """The evaluation rows of a run, minus wall-clock (the only column two equal runs may differ in)."""
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in _rows(run)]


def _assert_same_latest_state(run_a, run_b):
    """Both runs' latest checkpoints hold the same world-model weights and update count."""
    _, la, _ = load_learner(run_a, "latest")
    _, lb, _ = load_learner(run_b, "latest")
    for (n, pa), pb in zip(la.agent.wm.named_parameters(), lb.agent.wm.parameters()):
        assert torch.equal(pa, pb), n
    assert la.agent.updates == lb.agent.updates > 0


@pytest.mark.slow
def test_mamba_learns_meta_bandit_and_beats_memoryless(tmp_path):
    """MAMBA must remember which arm paid across sub-episodes; without the reward in its
    observation (paper App. G ablation) it cannot, and stays near chance (10 of 20)."""
    run = train("mamba", "MetaBandit", overrides={**TINY, "steps": 4000, "eval_every": 4000}, out=tmp_path / "m",
                progress=False)
    final = json.loads((run / "final.json").read_text())
    blind = train("mamba", "MetaBandit", overrides={**TINY, "steps": 4000, "eval_every": 4000,
                                                    "reward_in_obs": False}, out=tmp_path / "b", progress=False)
    final_blind = json.loads((blind / "final.json").read_text())
    bayes_optimal = 19.5
    assert final["return_mean"] >= 0.9 * bayes_optimal, final
    assert final_blind["return_mean"] <= 12.5, final_blind
    # later sub-episodes exploit what the first one found
    assert final["sub_episode_returns_mean"][-1] >= 4.7


def test_run_directory_contract(tmp_path):
    run = train("mamba", "MetaBandit", overrides={**TINY, "steps": 960, "eval_every": 480}, out=tmp_path / "r",
                progress=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["algo"] == "mamba" and cfg["env"] == "MetaBandit" and "versions" in cfg and "git_commit" in cfg
    assert cfg["config"]["full_context"] is True
    rows = _rows(run)
    assert list(rows[0]) == ["env_steps", "wall_s", "return_mean", "return_std"] + [f"return_sub{k}" for k in range(4)]
    assert [int(r["env_steps"]) for r in rows] == [160, 640, 960]
    assert (run / "checkpoints" / "latest.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    final = json.loads((run / "final.json").read_text())
    assert final["n_tasks"] == 100 and len(final["sub_episode_returns_mean"]) == 4
    counters = Counters.from_checkpoint(checkpoint.load(run / "checkpoints" / "latest.pt")["counters"])
    assert (counters.env_steps, counters.batches, counters.next_eval) == (960, 6, 960 + 480)
    with pytest.raises(TrainingError, match="already holds a run"):
        train("mamba", "MetaBandit", overrides={**TINY, "steps": 160}, out=run, progress=False)


def test_resume_reproduces_uninterrupted_run(tmp_path):
    over = {**TINY, "steps": 1600, "eval_every": 320}
    full = train("dreamer-tune", "MetaBandit", overrides=over, out=tmp_path / "full", progress=False)
    part = train("dreamer-tune", "MetaBandit", overrides=over, out=tmp_path / "part", progress=False,
                 stop_after_steps=800)
    assert not (part / "final.json").exists()
    assert int(_rows(part)[-1]["env_steps"]) <= 800
    train(None, None, out=part, resume=True, progress=False)
    assert _rows_without_wall(full) == _rows_without_wall(part)
    _assert_same_latest_state(full, part)
    assert json.loads((full / "final.json").read_text())["return_mean"] == \
        json.loads((part / "final.json").read_text())["return_mean"]


def test_ctrl_c_saves_at_the_batch_boundary_and_resume_is_exact(tmp_path):
    """The first SIGINT lets the batch of meta-episodes finish, writes the latest checkpoint there and
    raises TrainingInterrupted; resuming gives exactly the uninterrupted run. The previous SIGINT
    handler is back afterwards."""
    over = {**TINY, "steps": 1600, "eval_every": 320}
    full = train("dreamer-tune", "MetaBandit", overrides=over, out=tmp_path / "full", progress=False)

    def interrupt(row):
        if row["env_steps"] >= 480:
            os.kill(os.getpid(), signal.SIGINT)   # what Ctrl-C (or Jupyter's interrupt) sends

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="--resume --out") as info:
        train("dreamer-tune", "MetaBandit", overrides=over, out=tmp_path / "part", progress=False, callback=interrupt)
    assert signal.getsignal(signal.SIGINT) is before
    stopped = info.value.env_steps
    assert stopped == int(_rows(tmp_path / "part")[-1]["env_steps"]) >= 480    # the batch that saw the signal
    assert checkpoint.load(tmp_path / "part" / "checkpoints" / "latest.pt")["counters"]["env_steps"] == stopped
    assert not (tmp_path / "part" / "final.json").exists()
    train(None, None, out=tmp_path / "part", resume=True, progress=False)
    assert _rows_without_wall(full) == _rows_without_wall(tmp_path / "part")
    _assert_same_latest_state(full, tmp_path / "part")


def test_sigterm_to_the_cli_saves_and_exits_130(tmp_path):
    """`kill` (SIGTERM) on a running `python -m mamba_edu train` stops it cleanly: exit code 130, a
    message naming the resume command, and the latest checkpoint written at the stop."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mamba_edu", "train", "--algo", "dreamer-tune", "--env", "MetaBandit",
           "--steps", "200000", "--out", str(out), "--no-progress"]
    for k, v in {**TINY, "eval_every": 320}.items():
        cmd += ["--set", f"{k}={v}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not ((out / "metrics.csv").exists() and len(_rows(out)) >= 3):   # until training is under way
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "SIGTERM" in err and f"--resume --out {out}" in err
    saved = checkpoint.load(out / "checkpoints" / "latest.pt")["counters"]["env_steps"]
    assert int(_rows(out)[-1]["env_steps"]) <= saved < 200000 and not (out / "final.json").exists()


def test_resume_with_more_steps_extends_a_finished_run_exactly(tmp_path):
    """``train --resume --steps N`` on a finished run trains on to N: the same weights, updates and
    evaluation rows as a run given N from the start; a budget that is not larger is refused."""
    over = {**TINY, "steps": 1600, "eval_every": 400}
    full = train("dreamer-tune", "MetaBandit", overrides=over, out=tmp_path / "full", progress=False)
    short = train("dreamer-tune", "MetaBandit", overrides={**over, "steps": 800}, out=tmp_path / "short",
                  progress=False)
    assert (short / "final.json").exists()
    with pytest.raises(TrainingError, match="must exceed the run's budget of 800"):
        train(None, None, out=short, resume=True, progress=False, extend_steps=800)
    train(None, None, out=short, resume=True, progress=False, extend_steps=1600)
    assert json.loads((short / "config.json").read_text())["config"]["steps"] == 1600
    # The finished short run evaluated at its old end (800), so the two eval schedules differ after it;
    # rows at the same env step, and the last row, agree.
    rows = [{r["env_steps"]: {k: v for k, v in r.items() if k != "wall_s"} for r in _rows(run)} for run in (full, short)]
    common = sorted(set(rows[0]) & set(rows[1]), key=int)
    assert len(common) >= 3 and common[-1] == max(rows[0], key=int) == max(rows[1], key=int)
    assert all(rows[0][k] == rows[1][k] for k in common) and int(common[-1]) >= 1600
    _assert_same_latest_state(full, short)


def test_checkpoint_atomic_and_corrupt(tmp_path):
    path = tmp_path / "c.pt"
    state = {"a": np.arange(5, dtype=np.int16), "rng": np.random.default_rng(1).bit_generator.state,
             "t": torch.ones(2), "nested": [1, 2.5, "x"]}
    checkpoint.save(state, path)
    back = checkpoint.load(path)
    assert back["a"].dtype == np.int16 and np.array_equal(back["a"], state["a"])
    assert back["rng"] == state["rng"] and back["nested"] == [1, 2.5, "x"]
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary files left
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        checkpoint.load(path)
    torch.save({"some": "thing"}, tmp_path / "other.pt")
    with pytest.raises(checkpoint.CheckpointError, match="not a mamba-edu checkpoint"):
        checkpoint.load(tmp_path / "other.pt")


def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    over = {**TINY, "steps": 1600, "eval_every": 160}
    run = tmp_path / "nan"
    from mamba_edu.agents.dreamer import world_model

    original = world_model.WorldModel.loss
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        loss, post, metrics = original(self, *args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > 10 else loss), post, metrics

    monkeypatch.setattr(world_model.WorldModel, "loss", poisoned)
    from mamba_edu.agents.dreamer.agent import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match="non-finite loss 'world_model'.*at update 10"):
        train("mamba", "MetaBandit", overrides=over, out=run, progress=False)
    state = checkpoint.load(run / "checkpoints" / "latest.pt")  # the last good checkpoint is intact
    for v in state["learner"]["agent"]["wm"].values():
        assert torch.isfinite(v).all()


def test_cli_errors(capsys, tmp_path):
    assert cli_main(["train", "--algo", "mamba", "--env", "Rooms-9"]) == 2
    assert "Rooms-N exists for N = 1..8" in capsys.readouterr().err
    assert cli_main(["train", "--algo", "mamba", "--env", "Rooms-3", "--set", "no_such_field=1"]) == 2
    assert "unknown config field 'no_such_field'" in capsys.readouterr().err
    # each algorithm family validates against its own config and presets
    assert cli_main(["train", "--algo", "rl2", "--env", "MetaBandit", "--set", "deter=3"]) == 2
    assert "unknown config field 'deter' for rl2" in capsys.readouterr().err
    assert cli_main(["train", "--algo", "varibad", "--env", "MetaBandit", "--preset", "stored-state"]) == 2
    assert "unknown preset 'stored-state' for varibad; valid: quick, kl-mean" in capsys.readouterr().err
    assert cli_main(["train", "--resume", "--out", str(tmp_path), "--set", "lr=1"]) == 2
    assert "remove --set" in capsys.readouterr().err
    assert cli_main(["train", "--algo", "mamba", "--env", "Rooms-3", "--steps", "0"]) == 2
    assert cli_main(["train", "--algo", "mamba", "--env", "Rooms-3", "--set", "gamma=2"]) == 2
    assert "gamma must lie in [0, 1]" in capsys.readouterr().err
    assert cli_main(["evaluate", "--run", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli_main(["train", "--algo", "nope", "--env", "Rooms-3"])
    assert e.value.code == 2


def test_quick_runs_record_quick_and_reload_outside_quick_mode(tmp_path, monkeypatch):
    """A run trained under MAMBA_EDU_QUICK=1 records the ``quick`` preset and reloads without it set;
    a run trained without it reloads (and resumes) unchanged when MAMBA_EDU_QUICK=1 is set later."""
    over = {"steps": 320, "eval_every": 320, "prefill": 320, "num_envs": 8, "eval_tasks": 8, "final_tasks": 8,
            "threads": 1}                                  # sizes left to the presets: quick changes them
    monkeypatch.setenv("MAMBA_EDU_QUICK", "1")
    quick = train("dreamer-tune", "MetaBandit", overrides=over, out=tmp_path / "quick", progress=False)
    assert "quick" in json.loads((quick / "config.json").read_text())["presets"]
    monkeypatch.delenv("MAMBA_EDU_QUICK")
    cfg, _, _ = load_learner(quick)                       # raised a size mismatch before the fix
    assert cfg.deter == 64                                # the quick preset's size
    plain = train("dreamer-tune", "MetaBandit", overrides=over, out=tmp_path / "plain", progress=False)
    assert "quick" not in json.loads((plain / "config.json").read_text())["presets"]
    monkeypatch.setenv("MAMBA_EDU_QUICK", "1")
    cfg2, _, _ = load_learner(plain)
    assert json.loads(json.dumps(asdict(cfg2), default=str)) == json.loads((plain / "config.json").read_text())["config"]


def test_unfinished_horizon_schedule_warns_with_the_prefix_reached(monkeypatch):
    """A run shorter than N_WM would silently train the world model on prefixes only: it warns."""
    import warnings

    from mamba_edu.agents.dreamer.config import resolve_config
    from mamba_edu.training.loop import warn_unfinished_schedule

    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    short = resolve_config("mamba", "Rooms-3", ["cpu"], {"steps": 400_000})
    with pytest.warns(UserWarning, match=r"wm_horizon_steps=2500000.*first 74 of the 200 steps"):
        warn_unfinished_schedule(short, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unfinished_schedule(resolve_config("mamba", "Rooms-3", ["cpu"], {"steps": 3_000_000}), 200)
        warn_unfinished_schedule(resolve_config("mamba", "Rooms-3", ["cpu", "no-schedule"], {"steps": 400_000}), 200)
        warn_unfinished_schedule(resolve_config("dreamer-tune", "Rooms-3", ["cpu"], {"steps": 400_000}), 200)


# ----- the learner contract, collection and the counters ---------------------------------------------

def _small_overrides(algo):
    return TINY if algo in registry.DREAMER_ALGOS else {"num_envs": 8, "threads": 1}


@pytest.mark.parametrize("algo", registry.AVAILABLE)
def test_every_registered_learner_satisfies_the_learner_contract(algo):
    """Every algorithm the registry builds is a Learner: its policies act in a rollout, its update count
    starts at 0, and acting through actor(greedy) or eval_policy() never changes how training acts."""
    cfg, learner, env = build(algo, "MetaBandit", [], _small_overrides(algo))
    env.close()
    assert isinstance(learner, Learner)
    assert learner.updates == 0 and isinstance(learner.updates, int)
    assert isinstance(learner, BeliefProbe) == (algo != "rl2")     # RL² has no decoder to read
    greedy_before = getattr(getattr(learner, "agent", None), "greedy", None)
    for policy in (learner.actor(True), learner.actor(False), learner.eval_policy()):
        env = make_batched("MetaBandit", 2, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
        ro = rollout(policy, env, seed=0)
        assert ro.actions.shape[:2] == (20, 2)
    assert getattr(getattr(learner, "agent", None), "greedy", None) == greedy_before


def test_collect_batch_runs_whole_meta_episodes():
    cfg, learner, env = build("mamba", "MetaBandit", [], {**TINY, "prefill": 10_000})
    counted, reported = [], []
    batch = collect_batch(learner, env, 160, seed=training_seeds(cfg.seed, 1, env.num_envs),
                          after_env_step=counted.append, after_update=lambda n, m: reported.append((n, m)))
    assert batch.steps == env.H == 20
    assert batch.env_steps == 160 + env.H * env.num_envs
    assert counted == [160 + env.num_envs * (t + 1) for t in range(env.H)]
    assert [n for n, _ in reported] == counted + [batch.env_steps]      # every step, then once after end()
    assert batch.metrics is None and learner.updates == 0                # still pre-filling
    assert batch.sub_episode_returns.shape == (env.num_envs, env.K)
    assert batch.train_return == pytest.approx(batch.sub_episode_returns.sum(1).mean())
    assert len(learner.replay) == env.num_envs                           # the whole meta-episodes are stored
    assert training_seeds(0, 1, 3) == [3, 4, 5]


def test_collect_batch_with_a_behaviour_policy_records_its_actions_and_never_updates():
    """Off-policy collection (book 03): another policy acts, the learner records; ``train=False``."""
    cfg, learner, env = build("mamba", "MetaBandit", [], {**TINY, "prefill": 0})

    class AlwaysArm1:
        def reset(self, n):
            self.n = n

        def act(self, obs):
            return np.ones(self.n, dtype=np.int64)

    calls = []
    batch = collect_batch(learner, env, 10_000, seed=list(range(env.num_envs)), behaviour=AlwaysArm1(), train=False,
                          after_update=lambda n, m: calls.append(n))
    assert calls == [] and learner.updates == 0                          # past prefill, yet no update
    actions = learner.replay.data["prev_action"][: env.num_envs, 1:]     # one-hot actions taken
    assert (actions.argmax(-1) == 1).all()
    assert batch.steps == env.H and len(learner.replay) == env.num_envs


def test_counters_round_trip_through_a_checkpoint(tmp_path):
    counters = Counters(env_steps=640, batches=4, wall_s=12.5, next_eval=960, best_return=-math.inf)
    saved = counters.to_checkpoint()
    assert list(saved) == ["env_steps", "batches", "wall_s", "next_eval", "best_return"]  # checkpoints have these
    checkpoint.save({"counters": saved}, tmp_path / "c.pt")
    assert Counters.from_checkpoint(checkpoint.load(tmp_path / "c.pt")["counters"]) == counters
    assert Counters.from_checkpoint({"env_steps": 640}) is None and Counters.from_checkpoint(None) is None
