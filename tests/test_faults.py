"""Fault injection: what a demanding user can do to a run must neither corrupt it nor end in a traceback.

Each test is one fault or bad input: two processes on one run folder, a folder of another run, NaN
weights with finite losses, a gradient that becomes NaN, a --resume that fails, files left by a
killed save, bad config.json files and bad --set values. Bad input: one ``error:`` line naming the
field or file, exit code 2; a run that fails on a non-finite value: one ``error:`` line, exit code 1.
"""
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest
import torch

from mamba_edu.cli import main as cli_main
from mamba_edu.training import checkpoint
from mamba_edu.training.loop import train

#: a MetaBandit MAMBA-family run small enough for a busy 2-core machine (8 meta-episodes of 20 steps per batch)
TINY = dict(deter=32, hidden=16, stoch=4, classes=4, units=32, batch_size=8, seq_len=8, train_ratio=64,
            num_envs=8, imag_horizon=3, imag_starts=8, prefill=160, eval_tasks=8, final_tasks=8, threads=1)
#: how long a subprocess may take to get going on a machine ten times slower than a free laptop
SLOW_MACHINE_S = 600


def _set_args(over: dict) -> list[str]:
    return [a for k, v in over.items() for a in ("--set", f"{k}={v}")]


def _error_line(capsys) -> str:
    """The one line the CLI printed on stderr (and nothing on stdout)."""
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and not out.strip(), (out, err)
    return lines[0]


def _snapshot(run: Path) -> dict[str, bytes]:
    """Every file of a run folder (but its lock) with its bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny dreamer-tune run (config.json, metrics.csv, final.json, checkpoints), copied by tests."""
    out = tmp_path_factory.mktemp("finished") / "run"
    train("dreamer-tune", "MetaBandit", overrides={**TINY, "steps": 320, "eval_every": 160}, out=out, progress=False)
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(finished_run, dest)
    return dest


# ----- one owner per run folder -----------------------------------------------------------------------

def test_a_run_folder_in_use_is_refused_naming_the_pid_and_is_free_again_after_kill_9(tmp_path, capsys):
    """While `train` runs, a second `train` and a `train --resume` into its folder are refused with the
    training process's PID. After `kill -9` the OS has released the lock: `--resume` continues."""
    out = tmp_path / "run"
    over = {**TINY, "eval_every": 160}
    cmd = [sys.executable, "-m", "mamba_edu", "train", "--algo", "dreamer-tune", "--env", "MetaBandit",
           "--steps", "1000000", "--out", str(out), "--no-progress", *_set_args(over)]
    log = tmp_path / "train.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + SLOW_MACHINE_S
        while not (out / "checkpoints" / "latest.pt").exists():
            assert proc.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.2)
        before = (out / "config.json").read_bytes()
        args = ["--algo", "dreamer-tune", "--env", "MetaBandit", "--steps", "320", *_set_args(TINY)]
        assert cli_main(["train", *args, "--out", str(out), "--no-progress"]) == 2
        assert f"PID {proc.pid}" in _error_line(capsys)
        assert cli_main(["train", "--resume", "--out", str(out), "--no-progress"]) == 2
        line = _error_line(capsys)
        assert f"PID {proc.pid}" in line and "in use" in line
        assert (out / "config.json").read_bytes() == before
    finally:
        proc.kill()                                    # SIGKILL: no handler runs, the OS drops the lock
        proc.wait(timeout=SLOW_MACHINE_S)
    saved = checkpoint.load(out / "checkpoints" / "latest.pt")["counters"]["env_steps"]
    train(None, None, out=out, resume=True, progress=False, stop_after_steps=saved + 1)
    assert checkpoint.load(out / "checkpoints" / "latest.pt")["counters"]["env_steps"] > saved


def test_a_folder_with_another_runs_files_and_no_checkpoint_is_refused(tmp_path, capsys):
    """An old metrics.csv and config.json but no checkpoint: a new run must not append to them."""
    out = tmp_path / "old"
    out.mkdir()
    (out / "metrics.csv").write_text("env_steps,wall_s,return_mean,return_std\n160,1.0,9.5,1.0\n")
    (out / "config.json").write_text(json.dumps({"algo": "mamba", "env": "MetaBandit", "config": {}}))
    before = _snapshot(out)
    args = ["--algo", "dreamer-tune", "--env", "MetaBandit", "--steps", "160", *_set_args(TINY)]
    assert cli_main(["train", *args, "--out", str(out), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "holds files of another run" in line and "metrics.csv" in line and "--out" in line
    assert _snapshot(out) == before


# ----- the non-finite guard -----------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["ac.actor", "wm.reward_head"])
def test_nan_weights_with_finite_losses_never_reach_a_checkpoint_one_error_line_exit_1(tmp_path, capsys, monkeypatch,
                                                                                         module):
    """An update leaves NaN weights and no later loss sees them (what `actor_lr=inf` did). NaN actor
    weights: acting fails first; NaN reward-head weights: nothing fails until the check before the next
    evaluation and checkpoint. Either way the run stops with one line naming the parameter, and
    latest.pt keeps the last good state."""
    from mamba_edu.agents.dreamer.agent import DreamerAgent

    original = DreamerAgent.train_step
    poisoned = {}

    def train_step(self, replay, env_steps):
        if poisoned:                    # no more real updates: the losses never meet the NaN weights
            self.updates += 1
            return poisoned["metrics"]
        metrics = original(self, replay, env_steps)
        if self.updates >= 12:
            target = self.ac.actor if module == "ac.actor" else self.wm.reward_head
            with torch.no_grad():
                next(target.parameters()).view(-1)[:5] = float("nan")
            poisoned["metrics"] = metrics
        return metrics

    monkeypatch.setattr(DreamerAgent, "train_step", train_step)
    out = tmp_path / "run"
    args = ["--algo", "dreamer-tune", "--env", "MetaBandit", "--steps", "960", *_set_args({**TINY, "eval_every": 320})]
    assert cli_main(["train", *args, "--out", str(out), "--no-progress"]) == 1
    line = _error_line(capsys)
    assert re.search(rf"non-finite parameter '{re.escape(module)}\.[^']*' \(5 of \d+ values NaN or infinite\) at "
                     r"update \d+ \(\d+ env steps\); training stopped", line), line
    assert "latest.pt keeps the last good state (160 env steps)" in line
    if module == "wm.reward_head":      # found by the check before the evaluation at 480 env steps
        assert "(480 env steps); training stopped" in line
    state = checkpoint.load(out / "checkpoints" / "latest.pt")
    assert state["counters"]["env_steps"] == 160
    for part in ("wm", "ac"):
        assert all(torch.isfinite(v).all() for v in state["learner"]["agent"][part].values())
    assert [int(float(r.split(",")[0])) for r in (out / "metrics.csv").read_text().splitlines()[1:]] == [160]


def test_a_nan_gradient_with_a_finite_loss_stops_before_the_optimiser_step(tmp_path, monkeypatch):
    from mamba_edu.agents.dreamer.agent import DreamerAgent

    original = DreamerAgent._step

    def step(self, opt, params, clip, *rest):
        params = list(params)
        if opt is self.actor_opt and self.updates == 12:
            params[0].grad.view(-1)[0] = float("nan")
        return original(self, opt, params, clip, *rest)

    monkeypatch.setattr(DreamerAgent, "_step", step)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match=r"non-finite gradient norm of 'actor' \(nan\) at update 12;.*"
                                             r"latest.pt keeps the last good state \(160 env steps\)"):
        train("dreamer-tune", "MetaBandit", overrides={**TINY, "steps": 960, "eval_every": 320}, out=out,
              progress=False)
    state = checkpoint.load(out / "checkpoints" / "latest.pt")
    assert all(torch.isfinite(v).all() for v in state["learner"]["agent"]["ac"].values())


def test_ppo_a_nan_gradient_with_a_finite_loss_is_caught(tmp_path, monkeypatch):
    """RL² (PPO): sqrt at 0 has an infinite derivative, so 0·sqrt(0) adds nothing to the loss and NaN to
    the gradient."""
    from mamba_edu.agents.ppo import learner as ppo_learner

    original = ppo_learner.ppo_loss

    def ppo_loss(logp, *args, **kwargs):
        loss, stats = original(logp, *args, **kwargs)
        return loss + 0.0 * torch.sqrt(logp - logp.detach()).sum(), stats

    monkeypatch.setattr(ppo_learner, "ppo_loss", ppo_loss)
    with pytest.raises(RuntimeError, match=r"non-finite gradient norm of 'ppo' \(nan\) at PPO iteration 1;"):
        train("rl2", "MetaBandit", overrides={"steps": 320, "eval_every": 160, "num_envs": 8, "eval_tasks": 8,
                                              "final_tasks": 8, "threads": 1}, out=tmp_path / "rl2", progress=False)


# ----- --resume writes nothing until everything has loaded -------------------------------------------

def test_resume_against_a_corrupt_checkpoint_changes_nothing(run_copy, capsys):
    latest = run_copy / "checkpoints" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    before = _snapshot(run_copy)
    assert cli_main(["train", "--resume", "--out", str(run_copy), "--steps", "5000", "--no-progress"]) == 2
    assert "corrupt" in _error_line(capsys)
    assert _snapshot(run_copy) == before          # the budget in config.json is still 320


def test_resume_with_an_edited_env_changes_nothing_and_names_both_files(run_copy, capsys):
    saved = json.loads((run_copy / "config.json").read_text())
    saved["env"] = "PointRobot"                   # other observation and action sizes than the checkpoint's
    (run_copy / "config.json").write_text(json.dumps(saved))
    before = _snapshot(run_copy)
    assert cli_main(["train", "--resume", "--out", str(run_copy), "--steps", "5000", "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "latest.pt does not fit" in line and "config.json" in line
    assert _snapshot(run_copy) == before


def test_stale_temporary_files_of_a_killed_save_are_removed_on_the_next_start(tmp_path):
    out = tmp_path / "run"
    train("dreamer-tune", "MetaBandit", overrides={**TINY, "steps": 640, "eval_every": 160}, out=out, progress=False,
          stop_after_steps=320)
    stale = [out / "checkpoints" / "latest.pt.k1ll3d.tmp", out / "config.json.k1ll3d.tmp",
             out / "metrics.csv.k1ll3d.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    (out / ".lock").unlink(missing_ok=True)        # as a run folder written before the lock existed
    (out / "notes.tmp").write_text("not ours")
    train(None, None, out=out, resume=True, progress=False)
    assert not any(p.exists() for p in stale) and (out / "notes.tmp").exists()
    assert (out / "final.json").is_file()


def test_config_metrics_and_final_are_written_atomically(tmp_path, monkeypatch):
    """Every file of the run reaches its name by os.replace from a temporary file beside it."""
    replaced = []
    real_replace = os.replace

    def spy(src, dst, *args, **kwargs):
        replaced.append((Path(src).name, Path(dst).name))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    train("dreamer-tune", "MetaBandit", overrides={**TINY, "steps": 320, "eval_every": 160}, out=tmp_path / "r",
          progress=False)
    names = {dst for src, dst in replaced if src.startswith(dst + ".") and src.endswith(".tmp")}
    assert {"config.json", "metrics.csv", "final.json", "latest.pt", "best.pt"} <= names


# ----- bad config.json: one error line naming the file, in train --resume and evaluate --------------------

BAD_CONFIGS = {
    "empty object": ("{}", "has no algo, env, config"),
    "a list": ("[1, 2]", "holds a list"),
    "not JSON": ("{algo: mamba", "is not valid JSON"),
    "algo not a string": (json.dumps({"algo": 5, "env": "MetaBandit", "config": {}}), "algo must be a string"),
    "config a list": (json.dumps({"algo": "dreamer-tune", "env": "MetaBandit", "config": []}),
                      "config must be an object"),
    "unknown algo": (json.dumps({"algo": "nope", "env": "MetaBandit", "config": {}}), "valid: mamba"),
    "unknown env": (json.dumps({"algo": "dreamer-tune", "env": "Rooms-9", "config": {}}), "valid: "),
    "steps a string": (None, "steps must be an integer, got 'abc'"),
    "threads negative": (None, "threads must be >= 0"),
}


@pytest.mark.parametrize("command", ["resume", "evaluate"])
@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_json_gives_one_error_line_naming_the_file(run_copy, capsys, case, command):
    text, expected = BAD_CONFIGS[case]
    if text is None:                               # the run's own config.json with one wrong field value
        saved = json.loads((run_copy / "config.json").read_text())
        saved["config"].update({"steps": "abc"} if "steps" in case else {"threads": -3})
        text = json.dumps(saved)
    (run_copy / "config.json").write_text(text)
    before = _snapshot(run_copy)
    argv = (["train", "--resume", "--out", str(run_copy), "--no-progress"] if command == "resume" else
            ["evaluate", "--run", str(run_copy), "--tasks", "4"])
    assert cli_main(argv) == 2
    line = _error_line(capsys)
    assert str(run_copy / "config.json") in line and expected in line, line
    assert _snapshot(run_copy) == before


# ----- bad --set values and configs --------------------------------------------------------------------

@pytest.mark.parametrize("item, expected", [
    ("threads=-3", "threads must be >= 0, got -3"),
    ("seed=-1", "seed must be >= 0, got -1"),
    ("steps=abc", "--set steps: expected an integer, got 'abc'"),
    ("steps=1.7", "--set steps: expected an integer, got '1.7'"),
    ("model_lr=inf", "model_lr must be a finite number, got inf"),
    ("actor_lr=inf", "actor_lr must be a finite number, got inf"),
    ("gamma=nan", "gamma must be a finite number, got nan"),
])
def test_bad_set_values_give_one_error_line_naming_the_field(tmp_path, capsys, item, expected):
    out = tmp_path / "run"
    assert cli_main(["train", "--algo", "mamba", "--env", "MetaBandit", "--set", item, "--out", str(out),
                     "--no-progress"]) == 2
    assert expected in _error_line(capsys)
    assert not out.exists()


def _configs():
    from mamba_edu.agents.dreamer.config import DreamerConfig
    from mamba_edu.agents.ppo.config import PPOConfig

    return [DreamerConfig(), PPOConfig()]


@pytest.mark.parametrize("cfg", _configs(), ids=lambda c: type(c).__name__)
def test_every_field_refuses_values_of_the_wrong_type_non_finite_and_non_integer_numbers(cfg):
    """Read from the annotations: a field added later is covered without a list to keep."""
    hints = typing.get_type_hints(type(cfg))
    bad_values = {bool: ["yes", 2], int: [1.7, math.inf, math.nan, "3", True], str: [3, None],
                  float: [math.inf, -math.inf, math.nan, "0.1", None], tuple[int, ...]: [(32, 1.5), (math.inf,), "64"]}
    for f in dataclasses.fields(cfg):
        for value in bad_values[hints[f.name]]:
            with pytest.raises(ValueError, match=rf"config: {f.name} must be "):
                dataclasses.replace(cfg, **{f.name: value}).validate()


def test_whole_numbers_stay_accepted_as_integers():
    from mamba_edu.agents.dreamer.config import DreamerConfig
    from mamba_edu.agents.ppo.config import PPOConfig

    cfg = dataclasses.replace(DreamerConfig(), steps=1e6, train_ratio=16).validate()
    assert cfg.steps == 1_000_000 and isinstance(cfg.steps, int) and cfg.train_ratio == 16
    ppo = dataclasses.replace(PPOConfig(), policy_layers=[64.0, 64], rnd_layers=128).validate()
    assert ppo.policy_layers == (64, 64) and ppo.rnd_layers == (128,)
