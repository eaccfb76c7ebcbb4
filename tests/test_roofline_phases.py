"""The per-phase accounting of benchmarks/roofline.py: the world-model forward's parts add up to it, and
timing an update leaves the agent's methods as they were."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import roofline  # noqa: E402


@pytest.fixture(scope="module")
def escape_room_agent():
    args = argparse.Namespace(env="EscapeRoom", preset="quick", episodes=4, length=0)
    agent, replay, title = roofline.agent_for("full", args)
    return agent, replay, title


def test_agent_for_an_env_uses_its_spaces_and_collected_data(escape_room_agent):
    agent, replay, title = escape_room_agent
    assert title == "full, EscapeRoom, quick, H = 120"
    assert len(replay) >= 4 and replay.length == 121


def test_world_model_forward_parts_add_up_and_methods_are_restored(escape_room_agent):
    agent, replay, _ = escape_room_agent
    flops = roofline.phases(agent, replay, count=True)
    parts = [flops[p] for p in roofline.PARTS]
    assert flops[roofline.ENCODER] > 0 and flops[roofline.RSSM_LOOP] > 0 and flops[roofline.HEADS] > 0
    assert sum(parts) == flops["world model forward"]
    times = roofline.phases(agent, replay, count=False)
    assert all(times[p] >= 0 for p in roofline.PARTS)
    assert "forward" not in vars(agent.wm.encoder) and "observe" not in vars(agent.wm.rssm)
    assert {"sample", "world model backward", "world model optimiser", "imagination", "actor-critic backward",
            "actor-critic optimisers"} <= set(times)
