"""A roofline for one update: this CPU's attainable matrix-multiply rate vs each phase's FLOPs and time.

1. Attainable GFLOP/s: ``torch.matmul`` on the update's own large shapes (the GRU's input projection
   over all imagination starts, a 512-wide MLP layer over a whole batch of meta-episodes, and one
   RSSM step's GRU projection for a batch of 16), fp32 and bf16, for each thread count.
2. FLOPs per phase of one update, counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix
   products, forward and backward) on the real ``DreamerAgent.train_step`` pieces.
3. Time per phase (median of ``--reps`` updates, each phase timed separately).

Each phase's "roofline time" is its FLOPs over the attainable rate of the large shapes; the ratio
measured / roofline says how far above the arithmetic limit the phase runs (the rest is per-operation
overhead, memory traffic and small matrices).

Usage::

    python benchmarks/roofline.py --threads 1 2 --preset paper --length 300 --variants full dreamer-tune stored-state
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


def phases(agent, rp, count: bool):
    """One update split into phases; returns {phase: FLOPs} (``count``) or {phase: seconds} (the counter's
    own overhead would distort the times, so each run does one or the other)."""
    res = {}

    def run(name, fn):
        if count:
            with FlopCounterMode(display=False) as fc:
                out = fn()
            res[name] = fc.get_total_flops()
            return out
        t = time.perf_counter()
        out = fn()
        res[name] = time.perf_counter() - t
        return out

    cb = run("sample", lambda: agent.context.sample(rp, 10**9, agent.updates))
    wm_loss, post, _ = run("world model forward", lambda: agent.wm.loss(cb.batch, cb.indices, cb.start, cb.weights))
    agent.wm_opt.zero_grad(set_to_none=True)
    run("world model backward", wm_loss.backward)
    run("world model optimiser", lambda: agent._step(agent.wm_opt, agent.wm.parameters(), agent.cfg.model_grad_clip))
    start = agent._imagination_starts({k: v.detach() for k, v in post.items()})
    actor_loss, critic_loss, _ = run("imagination", lambda: agent.ac.losses(agent.wm, start))
    actor_params, critic_params = list(agent.ac.actor.parameters()), list(agent.ac.critic.parameters())

    def ac_backward():
        actor_loss.backward(inputs=actor_params, retain_graph=True)
        critic_loss.backward(inputs=critic_params)

    agent.actor_opt.zero_grad(set_to_none=True)
    agent.critic_opt.zero_grad(set_to_none=True)
    run("actor-critic backward", ac_backward)
    agent.updates += 1
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--preset", default="paper")
    p.add_argument("--length", type=int, default=300, help="meta-episode length H (PointRobot: 300)")
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
            algo = "dreamer-tune" if variant == "dreamer-tune" else "mamba"
            extra = [] if variant in ("full", "dreamer-tune") else [variant]
            agent, rp = make(algo, args.length, [args.preset] + extra, None, overrides={"device": "cpu"})
            agent.train_step(rp, 10**9)                       # warm-up
            flops_by_phase = phases(agent, rp, count=True)
            runs = [phases(agent, rp, count=False) for _ in range(args.reps)]
            print(f"\n## {variant}, {args.preset}, H = {args.length}, {th} thread(s); roofline {peaks[th]:.1f} GFLOP/s\n")
            print("| phase | GFLOP | ms | roofline ms | measured / roofline |")
            print("|---|---|---|---|---|")
            tot_f = tot_t = 0.0
            for name in runs[0]:
                flops = flops_by_phase[name] / 1e9
                ms = statistics.median(r[name] for r in runs) * 1e3
                roof = flops / peaks[th] * 1e3
                tot_f, tot_t = tot_f + flops, tot_t + ms
                ratio = f"{ms / roof:.1f}" if roof > 0.5 else "–"
                print(f"| {name} | {flops:.2f} | {ms:.0f} | {roof:.0f} | {ratio} |")
            roof = tot_f / peaks[th] * 1e3
            print(f"| **update** | {tot_f:.2f} | {tot_t:.0f} | {roof:.0f} | {tot_t / roof:.1f} |", flush=True)


if __name__ == "__main__":
    main()
