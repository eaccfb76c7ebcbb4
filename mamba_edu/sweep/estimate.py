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
    from mamba_edu.envs import make_batched
    from mamba_edu.rollout import evaluate
    from mamba_edu.training import checkpoint
    from mamba_edu.training.loop import load_learner, train

    torch.set_num_threads(max(1, int(payload.get("cpus", 1))))
    algo, env_name = payload["algo"], payload["env"]
    presets, overrides = list(payload["presets"]), dict(payload["overrides"])
    cfg = registry.resolve_config(algo, env_name, presets, overrides)
    env = make_batched(env_name, 1, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
    H = env.H
    env.close()
    batch = cfg.num_envs * H
    dreamer = algo in registry.DREAMER_ALGOS
    warm = cfg.prefill if dreamer else cfg.precollect
    warm_batches = max(1, math.ceil(warm / batch))
    n = int(payload.get("batches", 2))
    probe_over = {**overrides, "steps": (warm_batches + n) * batch, "eval_every": batch, "eval_tasks": 1,
                  "final_tasks": 1, "checkpoint_every_s": 1e9}
    prefix = None
    if dreamer and cfg.full_context and cfg.wm_horizon_steps > 0:
        prefix = average_prefix(cfg.steps, H + 1, cfg.wm_horizon_initial, cfg.wm_horizon_steps)
        probe_over.update(wm_horizon_initial=prefix, wm_horizon_steps=10**12)
    stamps: list[tuple[int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        run = train(algo, env_name, presets, probe_over, out=Path(tmp) / "run", progress=False,
                    callback=lambda row: stamps.append((int(row["env_steps"]), time.time(), time.process_time())))
        _, learner, _ = load_learner(run, "latest")
        kw = {"reward_in_obs": cfg.reward_in_obs, "time_in_obs": cfg.time_in_obs}
        t = time.time()
        evaluate(learner.eval_policy(), env_name, n_tasks=1, seed=1, batch_size=1, **kw)
        t_eval1 = time.time() - t
        t = time.time()
        checkpoint.save({"learner": learner.state_dict()}, Path(tmp) / "probe.pt")
        t_ckpt = time.time() - t
        t = time.time()
        evaluate(learner.eval_policy(), env_name, n_tasks=cfg.eval_tasks, seed=1,
                 batch_size=min(cfg.eval_tasks, 100), **kw)
        t_eval = time.time() - t
        n_final = min(cfg.final_tasks, 200)
        t = time.time()
        evaluate(learner.eval_policy(), env_name, n_tasks=n_final, seed=2, batch_size=min(n_final, 100), **kw)
        t_final = (time.time() - t) * cfg.final_tasks / n_final
    at = {s: (w, c) for s, w, c in stamps}
    start, end = warm_batches * batch, (warm_batches + n) * batch
    wall = at[end][0] - at[start][0]
    per_batch = max(1e-3, (wall - n * (t_eval1 + t_ckpt)) / n)
    threads = torch.get_num_threads()
    cpu_share = min(1.0, (at[end][1] - at[start][1]) / (wall * threads)) if wall > 0 else 1.0
    warmup = max(0.0, at[start][0] - t0 - warm_batches * (t_eval1 + t_ckpt))
    n_batches = math.ceil(cfg.steps / batch)
    n_evals = 1 + math.ceil(cfg.steps / max(cfg.eval_every, 1))
    trial_s = (STARTUP_S + warmup + per_batch * max(0, n_batches - warm_batches) + n_evals * (t_eval + t_ckpt)
               + t_final)
    return {"algo": algo, "env": env_name, "presets": presets, "steps": cfg.steps, "batch": batch,
            "warm_batches": warm_batches, "probe_batches": n, "prefix": prefix, "per_batch_s": per_batch,
            "train_steps_per_s": batch / per_batch, "warmup_s": warmup, "eval_s": t_eval, "ckpt_s": t_ckpt,
            "final_s": t_final, "n_evals": n_evals, "trial_s": trial_s, "probe_wall_s": time.time() - t0,
            "cpu_share": cpu_share, "threads": threads}


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
    p = argparse.ArgumentParser(prog="python -m mamba_edu.sweep.estimate", description=__doc__.split("\n\n")[0])
    p.add_argument("spec")
    p.add_argument("--slots", type=int, nargs="+", help="parallel trial slots to schedule on (default: this "
                   "machine's Ray CPUs / CPUs per trial)")
    p.add_argument("--batches", type=int, default=2, help="batches of meta-episodes timed per probe (default 2)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--out", help="write the measurements and the estimate as JSON")
    args = p.parse_args(argv)

    from mamba_edu.sweep.runner import import_ray
    from mamba_edu.sweep.spec import load_spec

    spec = load_spec(args.spec)
    ray = import_ray()
    cells: dict[str, Any] = {}
    for t in spec.trials:
        key = json.dumps({"a": t.algo, "e": t.env, "p": t.presets,
                          "o": {k: v for k, v in t.overrides.items() if k != "seed"}}, sort_keys=True, default=str)
        cells.setdefault(key, t)
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(max_retries=0)(probe)
        refs = {}
        for key, t in cells.items():
            payload = {"algo": t.algo, "env": t.env, "presets": list(t.presets), "overrides": t.overrides,
                       "cpus": t.cpus, "batches": args.batches}
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
    durations, idle = [], []
    for t in spec.trials:
        key = json.dumps({"a": t.algo, "e": t.env, "p": t.presets,
                          "o": {k: v for k, v in t.overrides.items() if k != "seed"}}, sort_keys=True, default=str)
        durations.append(results[key]["trial_s"])
        idle.append(results[key]["trial_s"] * results[key]["cpu_share"])
    cpus_per_trial = max(t.cpus for t in spec.trials)
    slots = args.slots or [max(1, int(total_cpus // cpus_per_trial))]
    print("\n| algo | env | steps | train env steps/s | CPU share | warm-up | eval (+ckpt) | final test | "
          "est. per trial |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(results.values(), key=lambda r: (r["env"], r["algo"])):
        print(f"| {r['algo']} | {r['env']} | {r['steps']:,} | {r['train_steps_per_s']:.1f} | {r['cpu_share']:.0%} | "
              f"{r['warmup_s']:.0f} s | {r['eval_s'] + r['ckpt_s']:.1f} s × {r['n_evals']} | {r['final_s']:.0f} s | "
              f"{_hours(r['trial_s'])} |")
    total = sum(durations)
    print(f"\n{len(durations)} trials, {_hours(total)} of trial time in all as measured (longest trial "
          f"{_hours(max(durations))}); {_hours(sum(idle))} scaled to a whole core per trial (the probes' CPU share)")
    est = {}
    for s in slots:
        est[s] = {"measured": schedule(durations, s), "whole_core": schedule(idle, s)}
        print(f"  {s:3d} slots: {_hours(est[s]['measured'])} wall-clock as measured, "
              f"{_hours(est[s]['whole_core'])} with a whole core per trial (spec order, as the runner submits them)")
    if args.out:
        Path(args.out).write_text(json.dumps({"spec": str(args.spec), "cells": list(results.values()),
                                              "trial_s": durations, "trial_s_whole_core": idle,
                                              "total_trial_s": total,
                                              "makespan_s": est}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
