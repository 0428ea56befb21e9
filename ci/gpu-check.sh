#!/usr/bin/env bash
# The GPU check, on the lent GPU machine, in one call (after `bash ci/fetch-gpu-wheels.sh`
# here):   run(command="bash ci/gpu-check.sh", carry=["wheels"], timeout_s=400)
# Installs the carried wheels offline (next to the image's own packages), records the
# card, then, each step capped so that the next always runs within the device budget:
#   1. tests/test_gpu.py (CuPy fits against NumPy, Dask with CuPy chunks);
#   2. the GPU benchmark, 10M x 100 float32, with scikit-learn's array-API estimators on
#      the same CuPy arrays as the peers;
#   3. where a GPU fit spends its time (benchmarks/gpu_profile.py, cProfile);
#   4. every GPU case of the suite (`-m gpu`: the backend-parametrized tests on
#      cupy-cuda0 and torch-cuda:0), on 8 pytest workers; CPU CI runs the rest.
# Everything goes to $OUT. The caps can be lowered for a rerun: GPU_TESTS_S, BENCH_S,
# PROFILE_S, SUITE_S (seconds; 0 skips that step).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# pytest-benchmark (in the image) turns its xdist notice into an error under our
# filterwarnings=error; it is not used here.
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} -p no:benchmark"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site wheels/*.whl > "$OUT/install.txt" 2>&1 || { cat "$OUT/install.txt"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys, cupy, torch, numpy, sklearn; print(sys.version); print('cupy', cupy.__version__, 'torch', torch.__version__, torch.cuda.is_available(), 'numpy', numpy.__version__, 'sklearn', sklearn.__version__)"
  python3 -c "import xpgd; print(xpgd.available_backends())"
} 2>&1 | tee "$OUT/device.txt"
workers=""
python3 -c "import xdist" 2>/dev/null && workers="-n 8"

if [ "${GPU_TESTS_S:-120}" -gt 0 ]; then
  timeout "${GPU_TESTS_S:-120}" python3 -m pytest -q -rs $workers -p no:cacheprovider tests/test_gpu.py \
    2>&1 | tee "$OUT/pytest-gpu.txt" | tail -30
fi
if [ "${BENCH_S:-150}" -gt 0 ]; then
  SCIPY_ARRAY_API=1 timeout "${BENCH_S:-150}" python3 -m xpgd bench --backend cupy \
    --rows 10000000 --features 100 --dtype float32 --repeat 7 2>&1 | tee "$OUT/bench-gpu-10M.txt"
fi
if [ "${PROFILE_S:-60}" -gt 0 ]; then
  # the whole profile to the file, then its head (a pipe into head would end the run early)
  timeout "${PROFILE_S:-60}" python3 benchmarks/gpu_profile.py --rows 10000000 --features 100 \
    --dtype float32 > "$OUT/profile-gpu-10M.txt" 2>&1
  head -60 "$OUT/profile-gpu-10M.txt"
fi
if [ "${SUITE_S:-150}" -gt 0 ]; then
  timeout "${SUITE_S:-150}" python3 -m pytest -q -rs -m gpu $workers -p no:cacheprovider tests \
    2>&1 | tee "$OUT/pytest-all-gpu.txt" | tail -40
fi
