"""Wall-clock estimate of a sweep spec from measured per-trial throughput.

``python -m mamba_edu.sweep.estimate SPEC.yaml [--slots 2 16] [--batches 2] [--out est.json]``

For every distinct cell of the spec (algorithm × env × variant; seeds of a cell cost the same) a
short *probe* trains the cell's own configuration on Ray — the same resources per trial as the
sweep, so on this machine two probes share its two cores just as two trials would — for its warm-up
(Dreamer's random prefill, the baselines' precollection) plus ``--batches`` batches of meta-episodes,
evaluating after every batch on 1 task. From the probe:

* ``per_batch``  seconds of training per batch of meta-episodes after the warm-up (the time between
  the evaluations at the end of the warm-up and ``--batches`` batches later, minus the measured cost of
  those 1-task evaluations and checkpoint saves);
* ``warmup``     seconds from the start of ``train()`` to the end of the warm-up;
* ``eval``       seconds of one evaluation with the trial's ``eval_tasks`` (timed separately) plus one
  checkpoint save; ``final`` the final test with ``final_tasks`` (timed on up to 200 tasks, scaled).

A trial is then estimated as ``startup + warmup + per_batch × (batches after warm-up) + evaluations ×
eval + final``, and the sweep by replaying the runner's schedule (trials in spec order, each starting
when a slot frees) on ``--slots`` parallel slots. MAMBA's horizon schedule makes an update's cost grow
with the world-model prefix; the probe fixes the prefix at its average over the trial's budget, since
the cost is close to linear in it. The estimate assumes the probes' per-core speed: on a machine with
more cores and as many trials at once, the same per-trial times hold if each core is as fast.
"""
from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STARTUP_S = 3.0  # worker start, imports and building the learner, outside train()'s clock (measured 2–5 s)


def average_prefix(steps: int, length: int, initial: int, schedule_steps: int) -> int:
    """Mean world-model prefix length over a run of ``steps`` env steps under MAMBA's schedule."""
    if schedule_steps <= 0 or initial >= length:
        return length
    if steps <= schedule_steps:
        return int(round(initial + (length - initial) * steps / (2 * schedule_steps)))
    return int(round((schedule_steps * (initial + length) / 2 + (steps - schedule_steps) * length) / steps))


def probe(payload: dict[str, Any]) -> dict[str, Any]:
    """Measure one cell (runs inside a Ray worker; see the module docstring)."""
    import torch

    from mamba_edu.agents import registry

    torch.set_num_threads(max(1, int(payload.get("cpus", 1))))
    algo, env_name = payload["algo"], payload["env"]
    presets, overrides = list(payload["presets"]), dict(payload["overrides"])
    cfg = registry.resolve_config(algo, env_name, presets, overrides)
    plan = _probe_plan(algo, env_name, cfg, overrides, int(payload.get("batches", 2)))
    times = _probe_times(algo, env_name, presets, cfg, plan)
    trial = _trial_estimate(cfg, plan, times)
    per_batch = trial["per_batch_s"]
    return {"algo": algo, "env": env_name, "presets": presets, "steps": cfg.steps, "batch": plan["batch"],
            "warm_batches": plan["warm_batches"], "probe_batches": plan["n"], "prefix": plan["prefix"],
            "per_batch_s": per_batch, "train_steps_per_s": plan["batch"] / per_batch, "warmup_s": trial["warmup_s"],
            "eval_s": times["eval"], "ckpt_s": times["ckpt"], "final_s": times["final"], "n_evals": trial["n_evals"],
            "trial_s": trial["trial_s"], "probe_wall_s": time.time() - times["t0"], "cpu_share": trial["cpu_share"],
            "threads": trial["threads"]}


def _probe_plan(algo: str, env_name: str, cfg: Any, overrides: dict[str, Any], n: int) -> dict[str, Any]:
    """The probe run: the cell's configuration for its warm-up plus ``n`` batches of meta-episodes, evaluated
    on 1 task after every batch and never checkpointed by time; MAMBA's world-model prefix fixed at its
    average over the trial's budget (:func:`average_prefix`)."""
    from mamba_edu.agents import registry
    from mamba_edu.envs import make_batched

    env = make_batched(env_name, 1, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    H = env.H
    env.close()
    batch = cfg.num_envs * H
    dreamer = algo in registry.DREAMER_ALGOS
    warm = cfg.prefill if dreamer else cfg.precollect
    warm_batches = max(1, math.ceil(warm / batch))
    over = {**overrides, "steps": (warm_batches + n) * batch, "eval_every": batch, "eval_tasks": 1,
            "final_tasks": 1, "checkpoint_every_s": 1e9}
    prefix = None
    if dreamer and cfg.full_context and cfg.wm_horizon_steps > 0:
        prefix = average_prefix(cfg.steps, H + 1, cfg.wm_horizon_initial, cfg.wm_horizon_steps)
        over.update(wm_horizon_initial=prefix, wm_horizon_steps=10**12)
    return {"batch": batch, "warm_batches": warm_batches, "n": n, "overrides": over, "prefix": prefix}


def _probe_times(algo: str, env_name: str, presets: list[str], cfg: Any, plan: dict[str, Any]) -> dict[str, Any]:
    """Train the probe run, stamping (wall, CPU time) at every evaluation by env steps (``at``), then time
    the trained learner's evaluations and a checkpoint save (:func:`_time_evaluations`)."""
    from mamba_edu.training.loop import load_learner, train

    stamps: list[tuple[int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        run = train(algo, env_name, presets, plan["overrides"], out=Path(tmp) / "run", progress=False,
                    callback=lambda row: stamps.append((int(row["env_steps"]), time.time(), time.process_time())))
        _, learner, _ = load_learner(run, "latest")
        times = _time_evaluations(learner, env_name, cfg, Path(tmp) / "probe.pt")
    return {"t0": t0, "at": {s: (w, c) for s, w, c in stamps}, **times}


def _time_evaluations(learner: Any, env_name: str, cfg: Any, ckpt_path: Path) -> dict[str, float]:
    """Seconds of: the probe's 1-task evaluation (``eval1``), one checkpoint save (``ckpt``), one evaluation
    with the trial's ``eval_tasks`` (``eval``) and its final test (``final``, timed on up to 200 tasks and
    scaled to ``final_tasks``)."""
    from mamba_edu.rollout import evaluate
    from mamba_edu.training import checkpoint

    kw = {"reward_in_obs": cfg.reward_in_obs, "time_in_obs": cfg.time_in_obs}
    eval1 = _seconds(lambda: evaluate(learner.eval_policy(), env_name, n_tasks=1, seed=1, batch_size=1, **kw))
    ckpt = _seconds(lambda: checkpoint.save({"learner": learner.state_dict()}, ckpt_path))
    eval_s = _seconds(lambda: evaluate(learner.eval_policy(), env_name, n_tasks=cfg.eval_tasks, seed=1,
                                       batch_size=min(cfg.eval_tasks, 100), **kw))
    n_final = min(cfg.final_tasks, 200)
    final = _seconds(lambda: evaluate(learner.eval_policy(), env_name, n_tasks=n_final, seed=2,
                                      batch_size=min(n_final, 100), **kw)) * cfg.final_tasks / n_final
    return {"eval1": eval1, "ckpt": ckpt, "eval": eval_s, "final": final}


def _seconds(fn: Any) -> float:
    """Wall-clock seconds ``fn()`` takes."""
    t = time.time()
    fn()
    return time.time() - t


def _trial_estimate(cfg: Any, plan: dict[str, Any], times: dict[str, Any]) -> dict[str, float]:
    """The trial's time from the probe (module docstring): seconds per batch after the warm-up, the warm-up,
    the probes' CPU share, and ``startup + warmup + per_batch × batches + evaluations × eval + final``."""
    import torch

    at, n, batch, warm_batches = times["at"], plan["n"], plan["batch"], plan["warm_batches"]
    start, end = warm_batches * batch, (warm_batches + n) * batch
    wall = at[end][0] - at[start][0]
    per_batch = max(1e-3, (wall - n * (times["eval1"] + times["ckpt"])) / n)
    threads = torch.get_num_threads()
    cpu_share = min(1.0, (at[end][1] - at[start][1]) / (wall * threads)) if wall > 0 else 1.0
    warmup = max(0.0, at[start][0] - times["t0"] - warm_batches * (times["eval1"] + times["ckpt"]))
    n_batches = math.ceil(cfg.steps / batch)
    n_evals = 1 + math.ceil(cfg.steps / max(cfg.eval_every, 1))
    trial_s = (STARTUP_S + warmup + per_batch * max(0, n_batches - warm_batches)
               + n_evals * (times["eval"] + times["ckpt"]) + times["final"])
    return {"per_batch_s": per_batch, "warmup_s": warmup, "cpu_share": cpu_share, "threads": threads,
            "n_evals": n_evals, "trial_s": trial_s}


def schedule(durations: list[float], slots: int) -> float:
    """Makespan of running ``durations`` in order, each starting when one of ``slots`` frees up."""
    free = [0.0] * max(1, slots)
    heapq.heapify(free)
    end = 0.0
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
        end = max(end, start + d)
    return end


def _hours(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.0f} min" if s >= 600 else f"{s:.0f} s"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from mamba_edu.sweep.runner import import_ray
    from mamba_edu.sweep.spec import load_spec

    spec = load_spec(args.spec)
    ray = import_ray()
    cells: dict[str, Any] = {}
    for t in spec.trials:
        cells.setdefault(_cell_key(t), t)
    results, total_cpus = _probe_cells(ray, cells, args.batches, args.num_cpus)
    durations = [results[_cell_key(t)]["trial_s"] for t in spec.trials]
    idle = [results[_cell_key(t)]["trial_s"] * results[_cell_key(t)]["cpu_share"] for t in spec.trials]
    cpus_per_trial = max(t.cpus for t in spec.trials)
    slots = args.slots or [max(1, int(total_cpus // cpus_per_trial))]
    _print_cells(results)
    est = _print_estimate(durations, idle, slots)
    if args.out:
        Path(args.out).write_text(json.dumps({"spec": str(args.spec), "cells": list(results.values()),
                                              "trial_s": durations, "trial_s_whole_core": idle,
                                              "total_trial_s": sum(durations),
                                              "makespan_s": est}, indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mamba_edu.sweep.estimate", description=__doc__.split("\n\n")[0])
    p.add_argument("spec")
    p.add_argument("--slots", type=int, nargs="+", help="parallel trial slots to schedule on (default: this "
                   "machine's Ray CPUs / CPUs per trial)")
    p.add_argument("--batches", type=int, default=2, help="batches of meta-episodes timed per probe (default 2)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--out", help="write the measurements and the estimate as JSON")
    return p


def _cell_key(t: Any) -> str:
    """A trial's cell: algorithm, env, presets and overrides without the seed (seeds of a cell cost the same)."""
    return json.dumps({"a": t.algo, "e": t.env, "p": t.presets,
                       "o": {k: v for k, v in t.overrides.items() if k != "seed"}}, sort_keys=True, default=str)


def _probe_cells(ray: Any, cells: dict[str, Any], batches: int, num_cpus: int | None) -> tuple[dict, float]:
    """Probe every cell on a local Ray instance with its trials' resources, printing each result as it
    arrives; (results by cell, the instance's CPUs)."""
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(max_retries=0)(probe)
        refs = {}
        for key, t in cells.items():
            payload = {"algo": t.algo, "env": t.env, "presets": list(t.presets), "overrides": t.overrides,
                       "cpus": t.cpus, "batches": batches}
            opts: dict[str, Any] = {"num_cpus": t.cpus}
            if t.gpus:
                opts["num_gpus"] = t.gpus
            refs[remote.options(**opts).remote(payload)] = key
        total_cpus = ray.cluster_resources().get("CPU", 1)
        results: dict[str, dict[str, Any]] = {}
        t0 = time.time()
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                r = ray.get(ref)
                results[refs[ref]] = r
                print(f"[{time.time() - t0:6.0f} s] probed {r['algo']:15s} {r['env']:12s} "
                      f"{r['train_steps_per_s']:9.1f} env steps/s → trial {_hours(r['trial_s'])}", flush=True)
    finally:
        ray.shutdown()
    return results, total_cpus


def _print_cells(results: dict[str, dict[str, Any]]) -> None:
    """The probes as a Markdown table, by env and algorithm."""
    print("\n| algo | env | steps | train env steps/s | CPU share | warm-up | eval (+ckpt) | final test | "
          "est. per trial |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(results.values(), key=lambda r: (r["env"], r["algo"])):
        print(f"| {r['algo']} | {r['env']} | {r['steps']:,} | {r['train_steps_per_s']:.1f} | {r['cpu_share']:.0%} | "
              f"{r['warmup_s']:.0f} s | {r['eval_s'] + r['ckpt_s']:.1f} s × {r['n_evals']} | {r['final_s']:.0f} s | "
              f"{_hours(r['trial_s'])} |")


def _print_estimate(durations: list[float], idle: list[float], slots: list[int]) -> dict[int, dict[str, float]]:
    """Print the sweep's total trial time and its wall-clock on each number of ``slots``, as measured and with
    a whole core per trial (``idle``: the durations scaled by the probes' CPU share); the makespans by slots."""
    print(f"\n{len(durations)} trials, {_hours(sum(durations))} of trial time in all as measured (longest trial "
          f"{_hours(max(durations))}); {_hours(sum(idle))} scaled to a whole core per trial (the probes' CPU share)")
    est = {}
    for s in slots:
        est[s] = {"measured": schedule(durations, s), "whole_core": schedule(idle, s)}
        print(f"  {s:3d} slots: {_hours(est[s]['measured'])} wall-clock as measured, "
              f"{_hours(est[s]['whole_core'])} with a whole core per trial (spec order, as the runner submits them)")
    return est


if __name__ == "__main__":
    sys.exit(main())
