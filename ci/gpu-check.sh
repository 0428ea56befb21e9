#!/usr/bin/env bash
# The GPU check, on the lent GPU machine, in one call (after `bash ci/fetch-gpu-wheels.sh`
# here):   run(command="bash ci/gpu-check.sh", carry=["wheels"], timeout_s=420)
# Installs the carried wheels offline (next to the image's own packages), records the
# card, runs the GPU tests, then the whole suite with the GPU cases (cupy-cuda0,
# torch-cuda:0) in the backend matrix, then the GPU benchmark; everything goes to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site wheels/*.whl > "$OUT/install.txt" 2>&1 || { cat "$OUT/install.txt"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys, cupy, torch, numpy; print(sys.version); print('cupy', cupy.__version__, 'torch', torch.__version__, torch.cuda.is_available(), 'numpy', numpy.__version__)"
  python3 -c "import xpgd; print(xpgd.available_backends())"
} 2>&1 | tee "$OUT/device.txt"
# GPU tests first (fast feedback), then the whole suite on the backends that have GPU
# cases (cupy: cupy-cuda0; torch: torch-cpu and torch-cuda:0) next to numpy; CPU CI
# covers array_api_strict and Dask. Each run is capped so the benchmark always runs.
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 \
  | tee "$OUT/pytest-gpu.txt" | tail -15
XPGD_TEST_BACKENDS='["numpy", "cupy", "torch"]' timeout 300 \
  python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tee "$OUT/pytest-all.txt" | tail -25
# The GPU benchmark: 10M x 100 float32 on the device (host peers would take too long for
# the device budget).
python3 -m xpgd bench --backend cupy --rows 10000000 --features 100 --dtype float32 \
  --repeat 5 --no-peers 2>&1 | tee "$OUT/bench-gpu-10M.txt"
