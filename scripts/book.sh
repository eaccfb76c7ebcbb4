#!/usr/bin/env bash
# Open the book: set up .venv if needed (JupyterLab is in the default install), then `jupyter lab book/`.
# Extra arguments go to JupyterLab, e.g. `bash scripts/book.sh --no-browser --port 8890`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
extra=()
if [ "$(id -u)" = "0" ]; then extra+=(--allow-root); fi   # JupyterLab refuses root without it
exec .venv/bin/jupyter lab book/ "${extra[@]}" "$@"
