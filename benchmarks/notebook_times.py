#!/usr/bin/env python
"""Wall-clock time of each book notebook, run top to bottom in a fresh kernel, kernel start included.

Each notebook is executed with ``jupyter nbconvert --to notebook --execute`` into a temporary file (the
notebook in ``book/`` is never written), in quick mode (``MAMBA_EDU_QUICK=1``), at full size, or both. The
load average before and after each run is printed beside its time, so a table says under what conditions it
was taken (book/README.md, "Quick mode", has the numbers and the conditions).

Usage (from the repository root)::

    python benchmarks/notebook_times.py --mode quick full --json /tmp/times.json
    python benchmarks/notebook_times.py --mode full --notebooks 05_building_mamba 06_experiments

Exit status 1 if a notebook fails (its error is printed), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"


def run_notebook(path: Path, quick: bool, timeout_s: int) -> tuple[float, str]:
    """Execute ``path`` in a fresh kernel; return (seconds, error text or '')."""
    env = dict(os.environ)
    env.pop("MAMBA_EDU_QUICK", None)
    if quick:
        env["MAMBA_EDU_QUICK"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(path),
               "--output-dir", tmp, "--output", "out.ipynb", f"--ExecutePreprocessor.timeout={timeout_s}"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    return seconds, "" if proc.returncode == 0 else proc.stderr[-2000:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", nargs="+", choices=("quick", "full"), default=["quick"])
    p.add_argument("--notebooks", nargs="+", help="names without .ipynb (default: every notebook in book/)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell before nbconvert gives up")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    paths = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        known = {q.stem: q for q in paths}
        unknown = [n for n in args.notebooks if n not in known]
        if unknown:
            print(f"error: unknown notebook(s) {', '.join(unknown)}; valid: {', '.join(known)}", file=sys.stderr)
            return 2
        paths = [known[n] for n in args.notebooks]
    rows, failed = [], False
    for mode in args.mode:
        for path in paths:
            load0 = os.getloadavg()[0]
            seconds, error = run_notebook(path, mode == "quick", args.timeout)
            row = {"notebook": path.stem, "mode": mode, "seconds": round(seconds, 1), "load_before": load0,
                   "load_after": os.getloadavg()[0], "ok": not error}
            rows.append(row)
            print(f"{path.stem:24s} {mode:5s} {seconds:7.1f} s  load {load0:.2f} -> {row['load_after']:.2f}"
                  + ("" if not error else "  FAILED"), flush=True)
            if error:
                failed = True
                print(error, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
