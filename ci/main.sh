#!/usr/bin/env bash
# The main job of the README: set up on a fresh machine, then run `xpgd demo`, the classic
# experiments on data that ship with scikit-learn (iris logistic regression, diabetes
# linear regression): prints the report and writes the plots to xpgd-output/.
#   bash ci/main.sh [--backend numpy|torch|cupy|array_api_strict|dask] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet -e ".[examples]"
exec .venv/bin/xpgd demo "$@"
