"""End-to-end training throughput at the authors' configuration (``--preset paper``).

For each environment and torch thread count, one fresh process runs ``train()`` for a few batches of
10 meta-episodes and reports

* start-up: seconds from the process start until the learner and envs are built (imports included);
* steady-state real env steps per second: steps between the end of the 2nd batch and the last one over
  their wall time, as a long run spends it: collection and the updates that fell due (timed at each
  batch's logging; evaluation and checkpoints, which a real run makes every 60k steps and 300 s, are
  left to the end);
* seconds per update in that window, and updates per batch;
* peak resident memory of the process (``ru_maxrss``).

Usage::

    python benchmarks/paper_throughput.py --envs PointRobot EscapeRoom --threads 1 2 --batches 4
    python benchmarks/paper_throughput.py --envs PointRobot --extra-presets stored-state
    python benchmarks/paper_throughput.py --envs PointRobot --set precision=bf16

The authors' code on the same 2-core CPU (their PointRobot defaults, 2 threads): 87.6 env steps/s,
3.11 s per update, 2.3 GB in the main process (docs/benchmarks.md). Prints one Markdown table.
Environments without transcribed ``paper`` values (Rooms-N) run ``paper``'s common part on their
env settings (``--preset`` cannot stack ``paper`` there), which the table says.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from mamba_edu.cli import _parse_set

CHILD = r"""
import json, resource, sys, time, tempfile
t0 = time.perf_counter()
import torch
from mamba_edu.agents.dreamer.config import PAPER_COMMON, PAPER_ENV
from mamba_edu.training import loop
env, threads, batches, extra, algo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(","), sys.argv[5]
sets = json.loads(sys.argv[6])
extra = [p for p in extra if p]
presets = (["paper"] if env in PAPER_ENV else []) + extra
over = {"threads": threads, "device": "cpu", "eval_tasks": 1, "final_tasks": 1, **sets}
if env not in PAPER_ENV:
    over.update({k: v for k, v in PAPER_COMMON.items()})
cfg, learner, e = loop.build(algo, env, presets, over)
batch_steps = e.num_envs * e.H
e.close()
startup = time.perf_counter() - t0
steps = (batches + 1) * batch_steps
over.update(prefill=batch_steps, steps=steps, eval_every=10 * steps, checkpoint_every_s=1e9)
marks = []
log_batch = loop._log_batch
def timed_log_batch(session, batch):      # the end of each batch: collection and its updates are done
    marks.append((session.counters.env_steps, session.learner.updates, time.perf_counter()))
    log_batch(session, batch)
loop._log_batch = timed_log_batch
with tempfile.TemporaryDirectory() as d:
    loop.train(algo, env, presets, over, out=d + "/run", progress=False)
(s0, u0, w0), (s1, u1, w1) = marks[1], marks[-1]
print(json.dumps({"startup_s": startup, "sps": (s1 - s0) / (w1 - w0), "batch_s": (w1 - w0) / (len(marks) - 2),
                  "updates": u1 - u0, "s_per_update": (w1 - w0) / max(u1 - u0, 1),
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["PointRobot", "EscapeRoom", "Rooms-3"])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batches", type=int, default=4, help="batches of 10 meta-episodes after the random one")
    p.add_argument("--algo", default="mamba")
    p.add_argument("--extra-presets", nargs="*", default=[])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides for every run, as in `train --set`, e.g. precision=bf16")
    args = p.parse_args()
    try:
        sets = _parse_set(args.set, args.algo)     # the train command's parser: typed, unknown fields named
    except ValueError as e:
        p.error(str(e))
    print(f"algo={args.algo} presets=paper{''.join('+' + x for x in args.extra_presets)} overrides={sets}\n")
    print("| env | threads | start-up s | env steps/s | s per batch | updates per batch | s per update | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|")
    for env in args.envs:
        for threads in args.threads:
            out = subprocess.run([sys.executable, "-c", CHILD, env, str(threads), str(args.batches),
                                  ",".join(args.extra_presets), args.algo, json.dumps(sets)],
                                 capture_output=True, text=True, env={"OMP_NUM_THREADS": str(threads),
                                                                     "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"})
            if out.returncode:
                print(f"| {env} | {threads} | failed: {out.stderr.strip().splitlines()[-1]} |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            per_batch = r["updates"] / max(args.batches - 1, 1)   # the batches after the 2nd
            print(f"| {env} | {threads} | {r['startup_s']:.1f} | {r['sps']:.1f} | {r['batch_s']:.1f} | {per_batch:.1f} | "
                  f"{r['s_per_update']:.2f} | {r['peak_rss_gb']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
