#!/usr/bin/env bash
# Create .venv (if absent) and install mamba-edu with the pinned dependencies.
# Usage: bash scripts/setup.sh [EXTRAS]   e.g. EXTRAS=dev  -> pip install -e ".[dev]"
# Re-running is fast: nothing is reinstalled unless pyproject.toml or the extras changed.
# CPU-only laptops: export PIP_EXTRA_INDEX_URL to PyTorch's CPU wheel index first to avoid
# downloading the (large) CUDA build of torch==2.13.0 from PyPI; see README "GPU / CPU installs".
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
  done
fi
[ -n "$PY" ] || { echo "setup: no python3 found (need Python >= 3.10, 3.11 recommended)" >&2; exit 1; }
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || {
  echo "setup: $PY is $("$PY" --version 2>&1); mamba-edu needs Python >= 3.10" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
STAMP=".venv/.mamba-edu-stamp${EXTRAS:+-$EXTRAS}"
WANT="$(cat pyproject.toml | sha256sum | cut -c1-16)-${EXTRAS}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
# no extras asked for: an install of the same pyproject with any extras already covers it
if [ -z "$EXTRAS" ]; then
  for other in .venv/.mamba-edu-stamp-*; do
    if [ -f "$other" ] && [ "$(cut -d- -f1 "$other")" = "${WANT%-}" ]; then exit 0; fi
  done
fi
echo "setup: installing mamba-edu${EXTRAS:+[$EXTRAS]} into .venv (first run takes a few minutes)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
echo "$WANT" > "$STAMP"
