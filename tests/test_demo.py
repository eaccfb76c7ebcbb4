"""The README's demo (``python -m mamba_edu demo``): parts 1 and 3 here (seconds); part 2 trains the same
MetaBandit MAMBA as ``tests/test_training.py``'s learning test and runs in the README command itself."""
import os

import pytest

from mamba_edu.demo import belief_heatmaps, scripted_references


def test_demo_scripted_references_and_belief_heatmaps(tmp_path, capsys):
    summary = scripted_references(tmp_path, n_tasks=50)
    assert summary["Rooms-3"]["bayes_optimal_return"] == pytest.approx(160.4)
    assert summary["Rooms-3"]["return_mean"] > 140 and summary["PointRobot"]["return_mean"] > 230
    heat = belief_heatmaps(tmp_path)
    assert set(heat) == {"rooms4_varibad", "rooms4_varibad-local", "rooms4_mamba"}
    for name in ("behaviour_Rooms-3.png", "behaviour_PointRobot.png", "fig2_rooms4.png"):
        assert os.path.getsize(tmp_path / name) > 10_000, name
    out = capsys.readouterr().out
    assert "exact Bayes-optimal 142.8" in out and "fig2_rooms4.png" in out
    assert "the median of 21 held-out tasks" in out
