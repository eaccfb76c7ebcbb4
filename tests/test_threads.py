"""threads=0 picks one thread for small models and every core for the paper-size one; OMP waits passively."""
import subprocess
import sys

import pytest
import torch

from mamba_edu.training.loop import build
from mamba_edu.training.threads import DEFAULT_THREADS, LARGE_MODEL, count_parameters


@pytest.fixture(autouse=True)
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_auto_threads_follow_the_model_size(monkeypatch):
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    cfg, learner, env = build("mamba", "PointRobot", ["cpu"], {"device": "cpu"})
    env.close()
    assert count_parameters(learner) < LARGE_MODEL and torch.get_num_threads() == 1
    cfg, learner, env = build("mamba", "PointRobot", ["paper"], {"device": "cpu"})
    env.close()
    assert count_parameters(learner) > LARGE_MODEL and torch.get_num_threads() == DEFAULT_THREADS
    cfg, learner, env = build("varibad", "Rooms-2", [], {"threads": 2})
    env.close()
    assert torch.get_num_threads() == 2


def test_importing_mamba_edu_first_makes_openmp_threads_wait_passively():
    code = "import os, mamba_edu, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"            # a user's own choice is kept
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip() == "ACTIVE"
