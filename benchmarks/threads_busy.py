"""Wall time of a small training run with 1 or 2 torch threads and OpenMP's wait policy, to be run
alone and beside other busy processes (start them yourself, e.g. training runs).

Each configuration runs in a fresh process (the thread count and ``OMP_WAIT_POLICY`` are fixed when
torch loads): MAMBA on the MetaBandit with the demo's small model, 2,000 env steps.

Usage::

    python benchmarks/threads_busy.py                   # 1 thread, 2 threads, 2 threads passive
"""
from __future__ import annotations

import os
import subprocess
import sys

CHILD = r"""
import sys, tempfile, time
threads = int(sys.argv[1])
from mamba_edu.training.loop import train
common = dict(steps=2000, eval_every=2000, prefill=480, deter=64, hidden=32, stoch=8, classes=8, units=64,
              batch_size=16, seq_len=16, train_ratio=64, num_envs=8, imag_horizon=5, imag_starts=16,
              actor_lr=1e-3, critic_lr=1e-3, model_lr=1e-3, eval_tasks=10, final_tasks=10, threads=threads)
t = time.time()
train("mamba", "MetaBandit", overrides=common, out=tempfile.mkdtemp() + "/r", progress=False)
print(f"{time.time() - t:.1f}")
"""


def main() -> None:
    print("| threads | OMP_WAIT_POLICY | wall s |\n|---|---|---|")
    # ACTIVE: spinning threads, as torch had them before mamba_edu set PASSIVE on import
    for threads, policy in ((1, "ACTIVE"), (2, "ACTIVE"), (2, "PASSIVE")):
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        out = subprocess.run([sys.executable, "-c", CHILD, str(threads)], capture_output=True, text=True, env=env)
        wall = out.stdout.strip().splitlines()[-1] if out.returncode == 0 else "failed: " + out.stderr[-200:]
        print(f"| {threads} | {policy} | {wall} |", flush=True)


if __name__ == "__main__":
    main()
