"""A roofline for one update: this CPU's attainable matrix-multiply rate vs each phase's FLOPs and time.

1. Attainable GFLOP/s: ``torch.matmul`` on the update's own large shapes (the GRU's input projection
   over all imagination starts, a 512-wide MLP layer over a whole batch of meta-episodes, and one
   RSSM step's GRU projection for a batch of 16), fp32 and bf16, for each thread count.
2. FLOPs per phase of one update, counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix
   products, forward and backward) on the real ``DreamerAgent.train_step`` pieces.
3. Time per phase (median of ``--reps`` updates, each phase timed separately). The world-model forward is
   also split into the encoder, the RSSM's sequential loop and the rest (heads, KL, losses), timed by
   wrapping ``wm.encoder`` and ``wm.rssm.observe`` during that phase.

``--env`` picks the environment whose observation and action spaces and meta-episode length the update
sees: the replay holds ``--episodes`` meta-episodes collected in that env by the untrained policy (the
cost does not depend on what the data says). Environments without transcribed ``paper`` values
(Rooms-N) take ``paper``'s common part (``PAPER_COMMON``) on their own env settings, as
``paper_throughput.py`` does; the table title says so.

Each phase's "roofline time" is its FLOPs over the attainable rate of the large shapes; the ratio
measured / roofline says how far above the arithmetic limit the phase runs (the rest is per-operation
overhead, memory traffic and small matrices).

Usage::

    python benchmarks/roofline.py --threads 1 2 --preset paper --length 300 --variants full dreamer-tune stored-state
    python benchmarks/roofline.py --threads 1 2 --env EscapeRoom --variants full --reps 3
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from synthetic_replay import make
from torch.utils.flop_counter import FlopCounterMode

SHAPES = {"GRU over 4816 starts": (4816, 576, 1536), "512-wide layer, 16x301 rows": (4816, 512, 512),
          "one RSSM step (16 rows)": (16, 576, 1536)}


def attainable(threads: int, dtype: torch.dtype) -> dict[str, float]:
    torch.set_num_threads(threads)
    out = {}
    for name, (m, k, n) in SHAPES.items():
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        for _ in range(3):
            a @ b
        reps = max(3, int(2e10 / (2 * m * k * n)))
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        out[name] = 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9
    return out


def _measure(fn, count: bool):
    """(fn's result, its FLOPs if ``count`` else its seconds). Counters nest: an outer one counts too."""
    if count:
        with FlopCounterMode(display=False) as fc:
            out = fn()
        return out, fc.get_total_flops()
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _subphase(obj, name: str, label: str, res: dict, count: bool) -> None:
    """Wrap ``obj.name`` (for one update) so its time or FLOPs add to ``res[label]``."""
    fn = getattr(obj, name)

    def wrapped(*a, **k):
        out, amount = _measure(lambda: fn(*a, **k), count)
        res[label] = res.get(label, 0) + amount
        return out
    setattr(obj, name, wrapped)


def phases(agent, rp, count: bool):
    """One update split into phases; returns {phase: FLOPs} (``count``) or {phase: seconds} (the counter's
    own overhead would distort the times, so each run does one or the other). The world-model forward's
    parts ("of which ...") are inside it, not added to the total."""
    res = {}

    def run(name, fn):
        out, res[name] = _measure(fn, count)
        return out

    cb = run("sample", lambda: agent.context.sample(rp, 10**9, agent.updates))
    wm = agent.wm
    parts: dict = {}
    _subphase(wm.encoder, "forward", ENCODER, parts, count)
    _subphase(wm.rssm, "observe", RSSM_LOOP, parts, count)
    try:
        wm_loss, post, _ = run("world model forward", lambda: wm.loss(cb.batch, cb.indices, cb.start, cb.weights))
    finally:
        del wm.encoder.forward, wm.rssm.observe          # the instance attributes: back to the class's
    res[ENCODER], res[RSSM_LOOP] = parts.get(ENCODER, 0), parts.get(RSSM_LOOP, 0)
    res[HEADS] = res["world model forward"] - res[ENCODER] - res[RSSM_LOOP]
    agent.wm_opt.zero_grad(set_to_none=True)
    run("world model backward", wm_loss.backward)
    run("world model optimiser", lambda: agent._step(agent.wm_opt, agent.wm.parameters(), agent.cfg.model_grad_clip))
    start = agent._imagination_starts({k: v.detach() for k, v in post.items()})
    actor_loss, critic_loss, _ = run("imagination", lambda: agent.ac.losses(agent.wm, start))
    actor_params, critic_params = list(agent.ac.actor.parameters()), list(agent.ac.critic.parameters())

    def ac_backward():
        actor_loss.backward(inputs=actor_params, retain_graph=True)
        critic_loss.backward(inputs=critic_params)

    def ac_optimisers():
        agent._step(agent.actor_opt, actor_params, agent.cfg.ac_grad_clip)
        agent._step(agent.critic_opt, critic_params, agent.cfg.ac_grad_clip)

    agent.actor_opt.zero_grad(set_to_none=True)
    agent.critic_opt.zero_grad(set_to_none=True)
    run("actor-critic backward", ac_backward)
    run("actor-critic optimisers", ac_optimisers)
    agent.updates += 1
    return res


ENCODER, RSSM_LOOP, HEADS = "of which encoder", "of which RSSM loop", "of which heads, KL and losses"
PARTS = (ENCODER, RSSM_LOOP, HEADS)


def agent_for(variant: str, args: argparse.Namespace):
    """(agent, replay, title) for ``variant`` at ``args.preset``: synthetic PointRobot-sized data of
    ``args.length`` steps, or, with ``args.env``, that env's spaces and meta-episodes collected there."""
    algo = "dreamer-tune" if variant == "dreamer-tune" else "mamba"
    extra = [] if variant in ("full", "dreamer-tune") else [variant]
    if args.env is None:
        agent, rp = make(algo, args.length, [args.preset] + extra, None, overrides={"device": "cpu"})
        return agent, rp, f"{variant}, {args.preset}, H = {args.length}"
    from mamba_edu.agents.dreamer.config import PAPER_COMMON, PAPER_ENV
    from mamba_edu.training.collect import collect_batch
    from mamba_edu.training.loop import build

    over = {"device": "cpu", "stale_check_every": 0, "threads": torch.get_num_threads()}  # build() sets threads
    presets, preset_name = [args.preset] + extra, args.preset
    if args.preset == "paper" and args.env not in PAPER_ENV:
        presets, preset_name = extra, "paper's common part"
        over.update(PAPER_COMMON)
    cfg, learner, env = build(algo, args.env, presets, over, quick_from_env=False)
    while len(learner.replay) < args.episodes:
        collect_batch(learner, env, train=False)
    env.close()
    H = learner.replay.length - 1
    return learner.agent, learner.replay, f"{variant}, {args.env}, {preset_name}, H = {H}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--preset", default="paper")
    p.add_argument("--env", default=None, help="an environment (e.g. EscapeRoom, Rooms-3); default: synthetic "
                                               "PointRobot-sized data of --length steps")
    p.add_argument("--episodes", type=int, default=20, help="with --env: meta-episodes collected into the replay")
    p.add_argument("--length", type=int, default=300, help="meta-episode length H without --env (PointRobot: 300)")
    p.add_argument("--variants", nargs="+", default=["full", "dreamer-tune", "stored-state"])
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    peaks = {}
    print("## Attainable matrix-multiply rate (GFLOP/s)\n")
    print("| threads | dtype | " + " | ".join(SHAPES) + " |")
    print("|---|---|" + "---|" * len(SHAPES))
    for th in args.threads:
        for dtype in (torch.float32, torch.bfloat16):
            r = attainable(th, dtype)
            if dtype == torch.float32:
                peaks[th] = max(r.values())
            print(f"| {th} | {str(dtype).split('.')[-1]} | " + " | ".join(f"{v:.1f}" for v in r.values()) + " |",
                  flush=True)
    for th in args.threads:
        torch.set_num_threads(th)
        for variant in args.variants:
            agent, rp, title = agent_for(variant, args)
            agent.train_step(rp, 10**9)                       # warm-up
            flops_by_phase = phases(agent, rp, count=True)
            runs = [phases(agent, rp, count=False) for _ in range(args.reps)]
            print(f"\n## {title}, {th} thread(s); roofline {peaks[th]:.1f} GFLOP/s\n")
            print("| phase | GFLOP | ms | roofline ms | measured / roofline |")
            print("|---|---|---|---|---|")
            tot_f = tot_t = 0.0
            for name in runs[0]:
                flops = flops_by_phase[name] / 1e9
                ms = statistics.median(r[name] for r in runs) * 1e3
                roof = flops / peaks[th] * 1e3
                if name not in PARTS:
                    tot_f, tot_t = tot_f + flops, tot_t + ms
                ratio = f"{ms / roof:.1f}" if roof > 0.5 else "–"
                label = f"&nbsp;&nbsp;{name}" if name in PARTS else name
                print(f"| {label} | {flops:.2f} | {ms:.0f} | {roof:.0f} | {ratio} |")
            roof = tot_f / peaks[th] * 1e3
            print(f"| **update** | {tot_f:.2f} | {tot_t:.0f} | {roof:.0f} | {tot_t / roof:.1f} |", flush=True)


if __name__ == "__main__":
    main()
