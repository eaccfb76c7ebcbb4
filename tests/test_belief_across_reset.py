"""The controls of benchmarks/belief_across_reset.py: the goal-direction probe and the imagined detour."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import belief_across_reset as bar  # noqa: E402


def test_goal_direction_probe_reads_a_linear_code_and_not_noise():
    rng = np.random.default_rng(0)
    theta = rng.uniform(0, np.pi, 300)
    mix = rng.normal(size=(2, 40))
    coded = {"deter": (np.stack([np.cos(theta), np.sin(theta)], 1) @ mix + 0.05 * rng.normal(size=(300, 40)))[None]}
    noise = {"deter": rng.normal(size=(1, 300, 40))}
    r2, err = bar.goal_direction_probe(coded, theta, 0)
    assert r2 > 0.9 and err < 5
    r2, err = bar.goal_direction_probe(noise, theta, 0)
    assert r2 < 0.1 and 30 < err < 60          # about what guessing the mean direction gives (45°)


class _PointModel:
    """A stand-in world model whose state is the robot's position and whose reward head pays exactly at
    ``target``: the detour must read it on each task's own arrival back there."""

    def __init__(self, target: np.ndarray):
        self.target = torch.as_tensor(target, dtype=torch.float32)
        self.rssm = SimpleNamespace(img_step=self.img_step, features=lambda s: s["pos"])

    def img_step(self, s, a, sample=False):
        return {"pos": s["pos"] + 0.1 * a.clamp(-1, 1)}

    def reward(self, feat):
        return ((feat - self.target).abs().max(-1).values < 1e-4).float()


def test_detour_reads_the_reward_on_return():
    pos = np.array([[0.3, 0.9], [-0.8, 0.5], [0.0, 1.0]])
    model = _PointModel(pos)
    learner = SimpleNamespace(agent=SimpleNamespace(wm=model, device="cpu"))
    beliefs = {"pos": torch.as_tensor(pos, dtype=torch.float32)[None]}
    for k in (1, 2, 4, 8):
        assert np.allclose(bar.detour_reward(learner, beliefs, pos[None], 0, k), 1.0)
    # a model that pays one step beyond the point of return scores 0 there
    late = _PointModel(pos + np.array([0.0, 0.1]))
    learner.agent.wm = late
    assert np.allclose(bar.detour_reward(learner, beliefs, pos[None], 0, 2), 0.0)
