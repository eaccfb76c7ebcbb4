"""Experiment sweeps on Ray: spec validation, a tiny sweep, kill-and-relaunch, retries.

The Ray tests share one local Ray instance (2 CPUs, module fixture) and run MAMBA and VariBAD on the
MetaBandit with tiny budgets (a few seconds a trial); every run directory lies under tmp_path.
"""
import csv
import json
import logging
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from mamba_edu.cli import main as cli_main
from mamba_edu.sweep import SweepSpecError, load_spec, parse_spec, run_sweep
from mamba_edu.sweep.spec import trial_dir_name

torch.set_num_threads(1)

DREAMER_TINY = dict(deter=32, hidden=16, stoch=4, classes=4, units=32, batch_size=8, seq_len=16, train_ratio=8,
                    imag_horizon=3, imag_starts=8, prefill=320)
# 640 env steps = 4 batches of 8 meta-episodes × 20 steps; evaluations at 160, 480 and 640
TINY = {
    "name": "tiny",
    "algos": ["mamba", "varibad"],
    "envs": ["MetaBandit"],
    "seeds": 2,
    "overrides": {"steps": 640, "eval_every": 320, "eval_tasks": 16, "final_tasks": 16, "num_envs": 8},
    "resources": {"cpus": 1},
    "rules": [{"algos": ["dreamer"], "overrides": DREAMER_TINY},
              {"algos": ["ppo"], "overrides": {"precollect": 320}}],
    "max_retries": 0,
}


def _write(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# ----- spec parsing and validation (no Ray) ---------------------------------------------------------

def test_expansion_rules_variants_and_deterministic_names(monkeypatch):
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    raw = {"algos": ["mamba", "dreamer-tune", "varibad"], "envs": ["mamba_edu/Rooms-3-v0"], "seeds": [0, 5],
           "overrides": {"steps": 1000},
           "rules": [{"algos": ["dreamer"], "presets": ["cpu"], "resources": {"gpus": 0.25}},
                     {"algos": ["mamba"], "envs": ["Rooms-3"], "overrides": {"steps": 2000}}],
           "variants": [{"name": "full"}, {"name": "no-reward-obs", "algos": ["mamba"], "presets": ["no-reward-obs"]}]}
    spec = parse_spec(raw, name="t")
    by = {(t.algo, t.variant, t.seed): t for t in spec.trials}
    # (mamba: 2 variants, dreamer-tune and varibad: 1) × 2 seeds
    assert len(spec.trials) == 8 and len({t.name for t in spec.trials}) == 8
    m = by[("mamba", "no-reward-obs", 5)]
    assert m.env == "Rooms-3" and m.presets == ("cpu", "no-reward-obs") and m.gpus == 0.25
    assert m.overrides == {"steps": 2000, "seed": 5}                     # later rules win
    assert by[("dreamer-tune", "full", 0)].overrides == {"steps": 1000, "seed": 0}
    v = by[("varibad", "full", 0)]
    assert v.presets == () and v.gpus == 0 and v.cpus == 1
    assert m.name.startswith("mamba_Rooms-3_no-reward-obs_s5_")
    # the name depends only on (algo, env, seed, variant, presets, overrides): same spec, same names
    assert [t.name for t in parse_spec(raw).trials] == [t.name for t in spec.trials]
    assert trial_dir_name("mamba", "Rooms-3", 5, None, ["cpu"], {"steps": 2, "seed": 5}) != \
        trial_dir_name("mamba", "Rooms-3", 5, None, ["cpu"], {"steps": 3, "seed": 5})
    # a grid multiplies the variants
    grid = parse_spec({"algos": ["mamba"], "envs": ["MetaBandit"], "seeds": 1, "grid": {"train_ratio": [8, 16],
                                                                                       "lam": [0.9, 0.95]}})
    assert sorted(t.variant for t in grid.trials) == ["train_ratio=16,lam=0.9", "train_ratio=16,lam=0.95",
                                                      "train_ratio=8,lam=0.9", "train_ratio=8,lam=0.95"]
    # quick mode is recorded in the trial itself (so a resume elsewhere continues the same configuration)
    monkeypatch.setenv("MAMBA_EDU_QUICK", "1")
    q = parse_spec(raw).trials[0]
    assert "quick" in q.presets and q.name not in {t.name for t in spec.trials}


BAD_SPECS = [
    ({"envs": ["MetaBandit"], "seeds": 1}, "missing required field(s) algos"),
    ({"algos": ["mamba", "dreamer"], "envs": ["MetaBandit"], "seeds": 1},
     "unknown algorithm 'dreamer'; valid: mamba, dreamer-tune, dreamer-vanilla, varibad"),
    ({"algos": ["mamba"], "envs": ["Rooms-9"], "seeds": 1}, "Rooms-N exists for N = 1..8"),
    ({"algos": ["varibad"], "envs": ["MetaBandit"], "seeds": 1, "presets": ["cpu"]},
     "unknown preset 'cpu' for varibad; valid: quick, kl-mean"),
    ({"algos": ["rl2"], "envs": ["MetaBandit"], "seeds": 1, "overrides": {"deter": 64}},
     "unknown config field 'deter' for rl2; valid:"),
    ({"algos": ["mamba"], "envs": ["MetaBandit"], "seeds": 1, "overrides": {"steps": "1e6"}},
     "steps of mamba must be an integer, got str '1e6' (YAML reads 1e6 as a string"),
    ({"algos": ["mamba"], "envs": ["MetaBandit"], "seeds": "two"}, "seeds: expected a count"),
    ({"algos": ["mamba"], "envs": ["MetaBandit"], "seeds": 1, "overrides": {"gamma": 2.0}},
     "gamma must lie in [0, 1]"),
    ({"algos": ["varibad"], "envs": ["MetaBandit"], "seeds": 1, "resources": {"gpus": 0.5}},
     "the PPO baselines run on CPU only"),
    ({"algos": ["mamba"], "envs": ["MetaBandit"], "seeds": 1, "budget": 10}, "unknown key 'budget'; valid: name"),
    ({"algos": ["mamba"], "envs": ["MetaBandit"], "seeds": 1, "overrides": {"seed": 3}}, "set seeds with"),
]


@pytest.mark.parametrize("raw,message", BAD_SPECS, ids=[m.split(";")[0][:40] for _, m in BAD_SPECS])
def test_bad_spec_fails_before_any_trial_starts(tmp_path, capsys, monkeypatch, raw, message):
    import mamba_edu.sweep.runner as runner

    def no_ray():
        raise AssertionError("Ray was imported for a bad spec")

    monkeypatch.setattr(runner, "import_ray", no_ray)
    out = tmp_path / "sweep"
    assert cli_main(["sweep", str(_write(tmp_path, raw)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: spec ") and message in err, err
    assert not out.exists()


def test_several_problems_are_reported_together(tmp_path):
    raw = {"algos": ["mamba", "nope"], "envs": ["MetaBandit", "Nowhere"], "seeds": 1}
    with pytest.raises(SweepSpecError) as e:
        load_spec(_write(tmp_path, raw))
    text = str(e.value)
    assert "2 problems, nothing was started" in text and "'nope'" in text and "'Nowhere'" in text


def test_without_ray_one_clear_message_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    spec = _write(tmp_path, TINY)
    assert cli_main(["sweep", str(spec), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs Ray" in err and "[sweep]" in err, err
    # the plan needs no Ray
    assert cli_main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--dry-run"]) == 0
    assert "4 trials" in capsys.readouterr().out


# ----- on a local Ray instance ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def test_tiny_sweep_completes_and_writes_the_table(tmp_path, capsys, local_ray):
    out = tmp_path / "sweep"
    t0 = time.time()
    assert cli_main(["sweep", str(_write(tmp_path, TINY)), "--out", str(out), "--report-every", "5"]) == 0
    wall = time.time() - t0
    printed = capsys.readouterr().out
    state = json.loads((out / "sweep.json").read_text())
    assert [t["status"] for t in state["trials"]] == ["done"] * 4
    table = (out / "table.md").read_text()
    lines = [ln for ln in table.splitlines() if ln.startswith("| MetaBandit")]
    assert len(lines) == 2 and "| mamba | 2 |" in lines[0] and "| varibad | 2 |" in lines[1], table
    assert "Not in the table" not in table and (out / "table.tex").is_file()
    assert "4/4 done" in printed and "| MetaBandit | mamba | 2 |" in printed
    for t in state["trials"]:  # ordinary run directories
        run = Path(t["dir"])
        assert run.parent == out / "trials" and (run / "config.json").is_file() and (run / "final.json").is_file()
        assert [int(r["env_steps"]) for r in _rows(run)] == [160, 480, 640]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(str(out / "summary")).Reload().Tags()["scalars"]
    assert {"sweep/done", "sweep/running", "sweep/failed", "best_eval/MetaBandit/mamba",
            "final/MetaBandit/varibad"} <= set(tags), tags
    # re-launching a finished sweep starts nothing
    mtimes = {t["name"]: (Path(t["dir"]) / "final.json").stat().st_mtime for t in state["trials"]}
    again = run_sweep(_write(tmp_path, TINY), out=out, report_every=60)
    assert again.ok and all(t["skipped"] and t["attempts"] == 0 for t in again.trials.values())
    assert mtimes == {n: (Path(t["dir"]) / "final.json").stat().st_mtime for n, t in again.trials.items()}
    print(f"\ntiny sweep (2 algos × 2 seeds): {wall:.1f} s; trials "
          + ", ".join(f"{t['name'].rsplit('_', 1)[0]} {t['wall_s']:.1f} s" for t in state["trials"]))
    print(table)


def test_killed_trial_resumes_from_its_checkpoint_on_relaunch(tmp_path, monkeypatch, local_ray):
    out = tmp_path / "sweep"
    spec = _write(tmp_path, TINY)
    # the worker running mamba seed 1 dies abruptly (os._exit) right after its checkpoint at 320 env steps
    monkeypatch.setenv("MAMBA_EDU_SWEEP_FAULT", "mamba_*_s1_*@320:kill")
    first = run_sweep(spec, out=out, report_every=60)
    victim = next(n for n in first.trials if n.startswith("mamba_MetaBandit_s1_"))
    assert not first.ok and first.counts["done"] == 3 and first.counts["failed"] == 1
    st = first.trials[victim]
    assert st["status"] == "failed" and "WorkerCrashedError" in st["errors"][0]["error"]
    run = Path(st["dir"])
    assert (run / "checkpoints" / "latest.pt").is_file() and not (run / "final.json").exists()
    assert [int(r["env_steps"]) for r in _rows(run)] == [160]
    table = (out / "table.md").read_text()
    assert "| mamba | 1 |" in table and f"- {victim} (failed)" in table  # the others' results are kept
    done_before = {n: (Path(t["dir"]) / "final.json").stat().st_mtime for n, t in first.trials.items() if n != victim}

    monkeypatch.delenv("MAMBA_EDU_SWEEP_FAULT")
    second = run_sweep(spec, out=out, report_every=60)
    assert second.ok
    st = second.trials[victim]
    assert st["attempts"] == 1 and st["resumed_from"] == 320      # resumed from the checkpoint, not restarted
    assert all(second.trials[n]["skipped"] for n in done_before)
    assert done_before == {n: (Path(second.trials[n]["dir"]) / "final.json").stat().st_mtime for n in done_before}
    rows = _rows(run)
    assert [int(r["env_steps"]) for r in rows] == [160, 480, 640]  # no duplicate rows
    table = (out / "table.md").read_text()
    assert "| mamba | 2 |" in table and "| varibad | 2 |" in table and "Not in the table" not in table
    log = (out / "logs" / f"{victim}.log").read_text()
    assert "injected fault (kill)" in log and "resume from" in log


def test_failed_attempt_is_retried_from_its_checkpoint_in_the_same_launch(tmp_path, monkeypatch, local_ray):
    raw = {**TINY, "algos": ["varibad"], "seeds": 1, "max_retries": 1}
    monkeypatch.setenv("MAMBA_EDU_SWEEP_FAULT", "varibad_*@320:raise")
    result = run_sweep(_write(tmp_path, raw), out=tmp_path / "sweep", max_concurrent=1, report_every=60)
    (st,) = result.trials.values()
    assert result.ok and st["attempts"] == 2 and st["resumed_from"] == 320
    assert "InjectedFault" in st["errors"][0]["error"]
    assert [int(r["env_steps"]) for r in _rows(Path(st["dir"]))] == [160, 480, 640]


def test_sweep_directory_is_locked(tmp_path, monkeypatch):
    import mamba_edu.sweep.runner as runner
    from mamba_edu.sweep import SweepError
    from mamba_edu.sweep.runner import _Lock

    # Ray is not used before the lock is taken: a stand-in for the module keeps this test free of Ray
    monkeypatch.setattr(runner, "import_ray", lambda: object())
    out = tmp_path / "sweep"
    with _Lock(out / ".lock"):
        with pytest.raises(SweepError, match="another sweep is running"):
            run_sweep(_write(tmp_path, TINY), out=out)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_ready_made_specs_are_valid(path):
    """Every spec in experiments/ parses and resolves every trial's configuration (no Ray needed)."""
    spec = load_spec(path)
    expected = {"table1.yaml": 288, "table1_cpu.yaml": 60, "quickstart.yaml": 4}
    assert len(spec.trials) == expected.get(path.name, len(spec.trials)) > 0
    assert len({t.name for t in spec.trials}) == len(spec.trials)
