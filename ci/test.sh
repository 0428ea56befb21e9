#!/usr/bin/env bash
# The test command of the README: sets everything up on a fresh machine, then runs pytest.
#   bash ci/test.sh [pytest args...]
# Creates .venv (if absent), installs xpgd with its test extra (numpy, array-api-compat,
# pandas, pytest, hypothesis, array-api-strict, scikit-learn, dask, matplotlib) and the
# CPU build of PyTorch, then runs the whole suite (tests/ and the doctests in xpgd/) on
# every importable backend: numpy, array_api_strict (default device and device1), torch,
# dask, and CuPy / CUDA torch where a GPU is present.
#
# XPGD_TORCH: the PyTorch requirement to install (default torch==2.13.0, whose CPU wheel
# lies on this project's machines; elsewhere PyPI serves a large CUDA build). Set it to
# "" to test without torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
TORCH_SPEC="${XPGD_TORCH-torch==2.13.0}"
if [ -n "$TORCH_SPEC" ]; then
  .venv/bin/python -m pip install --quiet "$TORCH_SPEC"
fi
exec .venv/bin/python -m pytest "$@"
