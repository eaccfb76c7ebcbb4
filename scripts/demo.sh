#!/usr/bin/env bash
# README command 1: set up (if needed) and run the main demo. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m mamba_edu demo "$@"
