"""Bad command-line input, one case per test: exit code 2 and a single ``error:`` line that names what
was wrong and the valid choices (or range). Nothing is trained and no run folder is created."""
import subprocess
import sys

import pytest

from mamba_edu.cli import main as cli_main

TRAIN = ["train", "--no-progress"]

#: case id → (arguments after ``python -m mamba_edu``, texts the error line must contain)
CASES = {
    "unknown algorithm": (TRAIN + ["--algo", "nope", "--env", "Rooms-3"],
                          ["invalid choice: 'nope'", "'mamba'", "'varibad-local'", "'rl2'"]),
    "unknown command": (["nope"], ["invalid choice: 'nope'", "'train'", "'evaluate'"]),
    "unknown env": (TRAIN + ["--algo", "mamba", "--env", "Nope"],
                    ["unknown environment 'Nope'", "valid: PointRobot", "MetaBandit"]),
    "Rooms-N out of range": (TRAIN + ["--algo", "mamba", "--env", "Rooms-9"],
                             ["Rooms-N exists for N = 1..8", "valid: PointRobot"]),
    "bad --set key": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "no_such_field=1"],
                      ["unknown config field 'no_such_field' for mamba", "valid: ", "gamma", "steps"]),
    "--set key of the other family": (TRAIN + ["--algo", "rl2", "--env", "MetaBandit", "--set", "deter=3"],
                                      ["unknown config field 'deter' for rl2", "valid: ", "gru_hidden"]),
    "--set without =": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "gamma"],
                        ["--set expects KEY=VALUE, got 'gamma'"]),
    "bad --set integer": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "steps=abc"],
                          ["--set steps: expected an integer, got 'abc'"]),
    "bad --set bool": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "eval_greedy=maybe"],
                       ["--set eval_greedy: expected true/false, got 'maybe'"]),
    "bad --set widths": (TRAIN + ["--algo", "varibad", "--env", "MetaBandit", "--set", "policy_layers=64,x"],
                         ["--set policy_layers: expected a list of integers", "e.g. 64,64", "got '64,x'"]),
    "bad --set choice": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "context=partial"],
                         ["context must be one of full, nograd-prefix, stored-state; got 'partial'"]),
    "bad device": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "device=tpu"],
                   ["device must be one of auto, cpu, cuda, mps; got 'tpu'"]),
    "PPO on a GPU": (TRAIN + ["--algo", "varibad", "--env", "Rooms-3", "--set", "device=cuda"],
                     ["device must be one of auto, cpu", "CPU only", "got 'cuda'"]),
    "out of range [0, 1]": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "gamma=2"],
                            ["gamma must lie in [0, 1], got 2.0"]),
    "out of range >= 0": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "threads=-3"],
                          ["threads must be >= 0, got -3"]),
    "out of range > 0": (TRAIN + ["--algo", "varibad", "--env", "Rooms-3", "--set", "lr=0"],
                         ["lr must be > 0, got 0.0"]),
    "out of range widths": (TRAIN + ["--algo", "varibad", "--env", "Rooms-3", "--set", "policy_layers=0,4"],
                            ["policy_layers must be a non-empty list of widths >= 1, got (0, 4)"]),
    "out of range --steps": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--steps", "0"],
                             ["--steps must be >= 1, got 0"]),
    "burn-in not whole strides": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--set", "burn_in=5"],
                                  ["burn_in must be a multiple of state_stride (16: 0, 16, 32, ...), got 5"]),
    "cheaper context without full context": (
        TRAIN + ["--algo", "dreamer-tune", "--env", "Rooms-3", "--set", "context=stored-state"],
        ["context='stored-state' needs full_context=True", "--algo mamba"]),
    "baselines without the reward in the observation": (
        TRAIN + ["--algo", "rl2", "--env", "Rooms-3", "--set", "reward_in_obs=false"],
        ["reward_in_obs must stay True", "got False"]),
    "encoder without inputs": (
        TRAIN + ["--algo", "rl2", "--env", "Rooms-3", "--set", "state_embed=0", "--set", "reward_embed=0"],
        ["state_embed, action_embed or reward_embed must be >= 1"]),
    "unknown preset": (TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--preset", "nope"],
                       ["invalid choice: 'nope'", "'cpu'", "'paper'", "'kl-mean'"]),
    "preset of the other family": (TRAIN + ["--algo", "varibad", "--env", "MetaBandit", "--preset", "stored-state"],
                                   ["unknown preset 'stored-state' for varibad; valid: quick, kl-mean"]),
    "--preset paper on an env without paper values": (
        TRAIN + ["--algo", "mamba", "--env", "Rooms-3", "--preset", "paper"],
        ["preset paper: the authors' schedule is not transcribed for Rooms-3",
         "valid envs: PointRobot, PointRobotWind, EscapeRoom"]),
    "baseline on image observations": (TRAIN + ["--algo", "varibad", "--env", "ReacherPixels"],
                                       ["varibad does not support image observations (ReacherPixels)",
                                        "valid envs: PointRobot"]),
    "train without --env": (TRAIN + ["--algo", "mamba"], ["train needs --algo and --env"]),
    "--resume with a new configuration": (["train", "--resume", "--out", "RUN", "--algo", "mamba"],
                                          ["remove --algo"]),
    "evaluate on no tasks": (["evaluate", "--run", "RUN", "--tasks", "0"], ["--tasks must be >= 1, got 0"]),
    "unknown checkpoint": (["evaluate", "--run", "RUN", "--checkpoint", "first"],
                           ["invalid choice: 'first'", "'best'", "'latest'"]),
    "unknown plot kind": (["plot", "heatmaps", "--run", "RUN"],
                          ["unknown plot kind 'heatmaps'; valid: curves, sub-episodes, behaviour"]),
}


def run_cli(argv: list[str]) -> int:
    """The CLI's exit code, whether it returned it or argparse exited with it."""
    try:
        return cli_main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_exit_code_2_and_one_error_line(case, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    argv, expected = CASES[case]
    run = tmp_path / "run"
    argv = [str(run) if a == "RUN" else a for a in argv]
    if argv[0] == "train" and "--out" not in argv:
        argv += ["--out", str(run)]
    assert run_cli(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and not out.strip(), (out, err)
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert not run.exists()


def test_the_command_line_itself_exits_with_2_and_one_line():
    """The same through ``python -m mamba_edu`` (argparse's own errors included)."""
    proc = subprocess.run([sys.executable, "-m", "mamba_edu", "train", "--algo", "nope", "--env", "Rooms-3"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: argument --algo: invalid choice: 'nope'"), proc.stderr
    assert not proc.stdout
