#!/usr/bin/env bash
# The main job of the README: set up on a fresh machine, then run the classic iris
# experiment (gradient descent from scratch, then the estimator) and write its plot.
#   bash ci/main.sh [--backend numpy|torch|cupy|array_api_strict|dask] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet -e ".[examples]"
exec .venv/bin/python examples/iris_classic.py "$@"
