"""Seconds per MAMBA update at the authors' configuration, by arithmetic and compilation (for GPUs).

Synthetic PointRobot-sized meta-episodes (``synthetic_replay.py``; random data, only the cost is
measured) and ``--preset paper``: H = 300 steps per meta-episode, 16 sequences, deter 512, a 4 × 512
encoder, imagination from 512 posterior states per sequence. Variants (``--variants``):

* ``fp32``, ``bf16``, ``fp16`` — the config's ``precision`` (autocast of the forward passes; fp16 with a
  gradient scaler);
* ``...+compile`` — the same with ``compile=True`` (the RSSM's per-step functions compiled).

For each variant a fresh agent runs ``--warmup`` updates (the first one includes compiling; its time is
reported separately as ``first_update_s``), then ``--updates`` timed updates, the device synchronised
around each: ``median_s`` is the median seconds per update. ``speedup`` is fp32 eager's median over the
variant's. Writes one JSON file (``--out``) and prints a Markdown table.

Usage::

    python benchmarks/gpu_update_timing.py --device cuda --updates 20 --out gpu_timing.json
    python benchmarks/gpu_update_timing.py --device cpu --updates 2 --quick     # smoke test: tiny model

``--quick`` stacks the ``quick`` preset (tiny model) on ``paper`` and uses 63-step meta-episodes, so
the script also runs on a CPU in seconds (``tests/test_gpu_ready.py`` runs it that way).
``--compile-backend`` other than ``inductor`` (e.g. ``aot_eager``, no C++ compiler needed) compiles
with that backend instead of the config flag's default.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_replay import make  # noqa: E402

ALL_VARIANTS = ["fp32", "fp32+compile", "bf16", "bf16+compile", "fp16", "fp16+compile"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_variant(variant: str, args: argparse.Namespace) -> dict:
    """Build a fresh agent for ``variant`` and time its updates (see the module docstring)."""
    precision, _, compiled = variant.partition("+")
    compiled = compiled == "compile"
    presets = ["paper", "quick"] if args.quick else ["paper"]
    over = {"device": args.device, "precision": precision,
            "compile": compiled and args.compile_backend == "inductor", "seed": 0}
    if args.quick:
        over.update(batch_size=4, seq_len=16, imag_starts=8)
    torch._dynamo.reset()                  # every compiled variant pays (and reports) its own compilation
    torch.manual_seed(0)
    agent, rp = make("mamba", args.H, presets, None, episodes=args.episodes, overrides=over)
    if compiled and args.compile_backend != "inductor":
        agent.wm.rssm.compile_steps(backend=args.compile_backend)
    device = agent.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warm = []
    for _ in range(args.warmup):
        _sync(device)
        t0 = time.perf_counter()
        agent.train_step(rp, 10**9)
        _sync(device)
        warm.append(time.perf_counter() - t0)
    times, metrics = [], None
    for _ in range(args.updates):
        _sync(device)
        t0 = time.perf_counter()
        metrics = agent.train_step(rp, 10**9)
        _sync(device)
        times.append(time.perf_counter() - t0)
    losses = {k: metrics[k] for k in ("losses/world_model", "losses/actor", "losses/critic")} if metrics else {}
    cfg = agent.cfg
    return {"precision": precision, "compile": compiled, "first_update_s": warm[0] if warm else None,
            "warmup_s": sum(warm), "median_s": statistics.median(times) if times else None,
            "min_s": min(times) if times else None, "times_s": times,
            "peak_mem_gb": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
            "losses": losses, "finite": all(math.isfinite(v) for v in losses.values()),
            "config": {"H": args.H, "batch_size": cfg.batch_size, "deter": cfg.deter, "units": cfg.units,
                       "enc_units": cfg.enc_units, "enc_layers": cfg.enc_layers, "imag_starts": cfg.imag_starts,
                       "imag_horizon": cfg.imag_horizon}}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default), cpu, mps")
    p.add_argument("--variants", nargs="+", choices=ALL_VARIANTS, default=None,
                   help="default: all six on CUDA, fp32 and bf16 elsewhere")
    p.add_argument("--updates", type=int, default=20, help="timed updates per variant (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed updates first (the first one compiles)")
    p.add_argument("--H", type=int, default=None, help="meta-episode length (default 300; 63 with --quick)")
    p.add_argument("--episodes", type=int, default=32, help="meta-episodes in the synthetic replay")
    p.add_argument("--quick", action="store_true", help="tiny model (the quick preset): a CPU smoke test")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend of the +compile variants")
    p.add_argument("--out", default=None, help="JSON report path")
    args = p.parse_args(argv)
    if args.updates < 1 or args.warmup < 1:
        p.error("--updates and --warmup must be at least 1 (the first warm-up update compiles)")
    if args.H is None:
        args.H = 63 if args.quick else 300
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available here (use --device cpu for a smoke test)")
    if args.variants is None:
        args.variants = ALL_VARIANTS if args.device == "cuda" else ["fp32", "bf16"]
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    report = {"device": device_name, "torch": torch.__version__, "quick": args.quick,
              "compile_backend": args.compile_backend, "updates": args.updates, "warmup": args.warmup,
              "variants": {}}
    for variant in args.variants:
        report["variants"][variant] = time_variant(variant, args)
        print(f"{variant}: {report['variants'][variant]['median_s']:.4f} s/update "
              f"(first update {report['variants'][variant]['first_update_s']:.2f} s)", flush=True)
        _add_speedups(report)
        if args.out:            # after every variant: a run cut short by a time limit keeps what it measured
            Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\n{device_name}, torch {torch.__version__}, {'quick' if args.quick else 'paper'} sizes, H = {args.H}\n")
    print("| variant | s per update (median) | speedup vs fp32 | first update (compile) s | peak GB |")
    print("|---|---|---|---|---|")
    for name, r in report["variants"].items():
        speed = f"{r['speedup']:.2f}×" if r["speedup"] else "—"
        mem = f"{r['peak_mem_gb']:.2f}" if r["peak_mem_gb"] is not None else "—"
        print(f"| {name} | {r['median_s']:.4f} | {speed} | {r['first_update_s']:.2f} | {mem} |")
    return report


def _add_speedups(report: dict) -> None:
    """``speedup`` of every variant: fp32 eager's median seconds per update over the variant's."""
    base = report["variants"].get("fp32", {}).get("median_s")
    for r in report["variants"].values():
        r["speedup"] = base / r["median_s"] if base and r["median_s"] else None


if __name__ == "__main__":
    main()
