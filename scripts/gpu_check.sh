#!/usr/bin/env bash
# GPU check, about 5-10 minutes on one H100-class GPU:
#   1. CUDA is available to torch (else a clear message and exit code 2);
#   2. the GPU-readiness tests on CUDA (MAMBA_EDU_DEVICE=cuda tests/test_gpu_ready.py: compiled = eager,
#      bf16/fp16, one host synchronisation per update) and the Dreamer component and context-strategy
#      tests (device "auto" = CUDA there);
#   3. benchmarks/gpu_update_timing.py: seconds per update at --preset paper (PointRobot, H = 300,
#      synthetic replay) in fp32 / bf16 / fp16, each eager and with compile=True (compile time apart);
#   4. a short training run: mamba on PointRobot, --preset paper, 6000 env steps, on CUDA.
# Writes one JSON report: device, torch/CUDA versions, test results, seconds per update and speedups per
# variant, the training run's wall time and env steps per second.
#
#   bash scripts/gpu_check.sh [REPORT.json]        # default: gpu_check.json in the repository root
#
# Environment: PYTHON (default .venv/bin/python, else python), GPU_CHECK_UPDATES (timed updates per
# variant, default 20), GPU_CHECK_DEVICE=cpu (a dry run of this script's plumbing on a CPU: tiny timing
# model, no slow tests, no GPU numbers). Exit codes: 0 everything passed; 1 a test, the timing or the
# training run failed (the report says which; every step runs anyway); 2 no CUDA.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
REPORT=${1:-gpu_check.json}
UPDATES=${GPU_CHECK_UPDATES:-20}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
unset MAMBA_EDU_QUICK            # the timing and the run are at the paper's sizes
export MPLBACKEND=Agg

"$PY" - "$DEVICE" <<'EOF' || exit 2
import sys
import torch
if sys.argv[1] == "cpu":
    print(f"gpu_check: dry run on the CPU (GPU_CHECK_DEVICE=cpu), torch {torch.__version__}")
elif not torch.cuda.is_available():
    print(f"gpu_check: CUDA is not available to torch {torch.__version__} (built for CUDA: {torch.version.cuda}). "
          "Install the CUDA wheel (docs/benchmarks.md, section GPU) on a machine with an NVIDIA driver.",
          file=sys.stderr)
    sys.exit(2)
else:
    print(f"gpu_check: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
EOF

step() {  # step NAME SECONDS COMMAND...: run with a time limit, record the exit code and the wall time
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit} s)"
    local t0; t0=$(date +%s%N)
    timeout "$limit" "$@"
    local rc=$?
    echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))" > "$WORK/$name.status"
    [ "$rc" = 124 ] && echo "gpu_check: $name ran past ${limit} s and was stopped" >&2
    return 0
}

if [ "$DEVICE" = cpu ]; then
    step tests_gpu_ready 150 env MAMBA_EDU_DEVICE=cpu "$PY" -m pytest -q -p no:cacheprovider -m "not slow" \
        tests/test_gpu_ready.py --junitxml="$WORK/tests_gpu_ready.xml"
    step timing 120 "$PY" benchmarks/gpu_update_timing.py --device cpu --quick --updates 2 \
        --variants fp32 fp32+compile --compile-backend aot_eager --out "$WORK/timing.json"
else
    step tests_gpu_ready 150 env MAMBA_EDU_DEVICE=cuda "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu_ready.py \
        --junitxml="$WORK/tests_gpu_ready.xml"
    step tests_dreamer 120 "$PY" -m pytest -q -p no:cacheprovider tests/test_dreamer_components.py \
        tests/test_context_strategies.py --junitxml="$WORK/tests_dreamer.xml"
    step timing 210 "$PY" benchmarks/gpu_update_timing.py --device cuda --updates "$UPDATES" --out "$WORK/timing.json"
fi
step training 150 "$PY" -m mamba_edu train --algo mamba --env PointRobot --preset paper --steps 6000 \
    --set device="$DEVICE" --set final_tasks=100 --out "$WORK/run" --no-progress

"$PY" - "$WORK" "$REPORT" "$DEVICE" <<'EOF'
import csv, json, sys, xml.etree.ElementTree as ET
from pathlib import Path
import torch

work, report_path, device = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def status(name):
    f = work / f"{name}.status"
    if not f.exists():
        return {"rc": None, "wall_s": None}
    rc, wall = f.read_text().split()
    return {"rc": int(rc), "wall_s": round(int(wall) / 1000, 1), "timed_out": rc == "124"}

def junit(name):
    out = status(name)
    f = work / f"{name}.xml"
    if f.exists():
        root = ET.parse(f).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        n["passed"] = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
        out.update(n)
        out["failed"] = [f"{c.get('classname')}::{c.get('name')}" for c in suite.iter("testcase")
                         if c.find("failure") is not None or c.find("error") is not None]
    return out

report = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run: no GPU numbers)",
          "torch": torch.__version__, "cuda": torch.version.cuda,
          "tests": {f"test_gpu_ready (MAMBA_EDU_DEVICE={device})": junit("tests_gpu_ready")}}
if device == "cuda":
    report["tests"]["test_dreamer_components + test_context_strategies (device auto)"] = junit("tests_dreamer")
timing = {"status": status("timing")}
if (work / "timing.json").exists():
    t = json.loads((work / "timing.json").read_text())
    timing["seconds_per_update"] = {k: v["median_s"] for k, v in t["variants"].items()}
    timing["speedup_vs_fp32"] = {k: v["speedup"] for k, v in t["variants"].items()}
    timing["first_update_s"] = {k: v["first_update_s"] for k, v in t["variants"].items()}
    timing["details"] = t
report["update_timing"] = timing
train = {"status": status("training"), "command": "python -m mamba_edu train --algo mamba --env PointRobot "
         f"--preset paper --steps 6000 --set device={device} --set final_tasks=100"}
rows = list(csv.DictReader(open(work / "run" / "metrics.csv"))) if (work / "run" / "metrics.csv").exists() else []
if rows:
    last = rows[-1]
    steps, wall = float(last["env_steps"]), float(last["wall_s"])
    train.update(env_steps=int(steps), train_wall_s=wall, env_steps_per_s=round(steps / wall, 1) if wall else None,
                 eval_return=float(last["return_mean"]))
report["training_run"] = train
parts = [*report["tests"].values(), timing["status"], train["status"]]
report["ok"] = all(p.get("rc") == 0 for p in parts)
report_path.write_text(json.dumps(report, indent=2))
print(json.dumps({k: v for k, v in report.items() if k != "update_timing"} | {"seconds_per_update": timing.get(
    "seconds_per_update"), "speedup_vs_fp32": timing.get("speedup_vs_fp32")}, indent=2))
print(f"gpu_check: report written to {report_path}")
sys.exit(0 if report["ok"] else 1)
EOF
