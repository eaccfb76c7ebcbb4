#!/usr/bin/env bash
# README command 2: set up (if needed, with the [dev] extra) and run every test:
# the unit/learning tests in tests/ and the notebooks in book/ under nbval (quick mode).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export MAMBA_EDU_QUICK=1 MPLBACKEND=Agg
targets=(tests)
if compgen -G "book/*.ipynb" >/dev/null; then targets+=(--nbval-lax book); fi
exec .venv/bin/python -m pytest -q "${targets[@]}" "$@"
