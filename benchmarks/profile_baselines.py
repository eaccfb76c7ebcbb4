"""Where one PPO iteration of the baselines spends its time: acting phases and update phases.

The benchmark ``baselines_throughput.py`` splits an iteration into acting and update only. This
script wraps the pieces of both (belief GRU step, policy, env step, recording; the steps 1–7 of
:meth:`mamba_edu.agents.ppo.learner.VariBADLearner.train_iteration`; inside the VAE update: the
encoder over the meta-episodes, the ELBO's decoder part, backward + Adam) with wall-clock timers,
runs one warm-up iteration and ``--iters`` timed ones, and prints seconds per iteration for each
(``outer > inner``: a piece timed inside another; pieces a configuration never calls are not listed,
e.g. ``reward decoder`` when the cell decoder's global loss is summed by cell). ``--cprofile N`` also
prints the top-N functions of a cProfile of the timed iterations. ``PYTHONPATH=DIR`` profiles the
checkout in DIR (e.g. a worktree of an earlier commit) with this script.

Usage:  python benchmarks/profile_baselines.py --threads 1 --env Rooms-4 --algo varibad
        python benchmarks/profile_baselines.py --threads 1 --env PointRobot --algo varibad --cprofile 25
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import time
from collections import defaultdict

import torch

from mamba_edu.training.collect import collect_batch
from mamba_edu.training.loop import build

TOTALS: dict[str, float] = defaultdict(float)
STACK: list[str] = []


def wrap(obj, name: str, label: str) -> None:
    """Replace ``obj.name`` by a version that adds its wall-clock time to ``TOTALS[path]``, ``path`` the
    labels of the timed calls it runs inside (``outer > inner``), so nested pieces show where they ran."""
    fn = getattr(obj, name)

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        STACK.append(label)
        path = " > ".join(STACK)
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TOTALS[path] += time.perf_counter() - t0
            STACK.pop()

    setattr(obj, name, timed)


def instrument(learner, env) -> None:
    """Timers on the acting pieces (per env step) and the update pieces (per PPO iteration)."""
    agent = learner.agent
    wrap(env, "step", "env.step")
    wrap(learner, "observe", "observe (record)")
    wrap(learner, "act", "act")
    wrap(learner, "update", "update")
    if hasattr(agent, "vae"):
        wrap(agent.vae.encoder, "step", "encoder.step (GRU)")
        wrap(agent.policy, "forward", "policy forward")
        wrap(agent, "beliefs", "1 beliefs")
        for name, label in (("_policy_rewards", "2 policy rewards (+HyperX)"), ("advantages", "3 GAE"),
                            ("_ppo_samples", "4 PPO samples"), ("_ppo_epochs", "5 PPO epochs"),
                            ("_vae_updates", "6 VAE updates"), ("sample_vae_batch", "VAE batch"),
                            ("_vae_step", "backward+Adam"), ("_rnd_update", "7 RND")):
            wrap(learner, name, label)
        wrap(agent.vae, "elbo", "ELBO")
        wrap(agent.vae.encoder, "forward", "encoder (sequences)")
        wrap(agent.vae, "reward_nll", "reward decoder")
    else:
        wrap(learner, "train_iteration", "train_iteration")
    wrap(learner, "ppo_step", "backward+clip+Adam")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--algo", default="varibad")
    p.add_argument("--env", default="Rooms-4")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cprofile", type=int, default=0, help="also print the top-N functions (by own time)")
    p.add_argument("--preset", action="append", default=[], help="extra preset(s), e.g. no-subsample")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg, learner, env = build(args.algo, args.env, args.preset, {"precollect": 0, "threads": args.threads, "seed": 0})
    collect_batch(learner, env, 0, seed=0)                    # warm-up
    instrument(learner, env)
    prof = cProfile.Profile() if args.cprofile else None
    t0, steps = time.perf_counter(), env.num_envs * env.H
    for it in range(1, args.iters + 1):
        if prof:
            prof.enable()
        collect_batch(learner, env, it * steps, seed=it)
        if prof:
            prof.disable()
    wall = (time.perf_counter() - t0) / args.iters
    print(f"{args.algo} on {args.env}: B × H = {env.num_envs} × {env.H}, {args.iters} iterations, "
          f"{wall:.3f} s/iteration (wall, incl. profiler overhead)")
    print("| piece | s/iter | share |\n|---|---|---|")
    for k in sorted(TOTALS, key=lambda k: (k.split(" > ")[0] != "act", k)):
        print(f"| {k} | {TOTALS[k] / args.iters:.3f} | {TOTALS[k] / args.iters / wall:.0%} |")
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.cprofile)


if __name__ == "__main__":
    main()
