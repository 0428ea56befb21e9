#!/usr/bin/env bash
# The GPU check, run on the lent GPU machine in one call:
#   run(command="bash ci/gpu-check.sh", carry=["wheels"], timeout_s=420)
# after `bash ci/fetch-gpu-wheels.sh` here. Installs the carried wheels offline, records
# the card, runs the whole test suite with the GPU cases (cupy-cuda0, torch-cuda:0) in
# the backend matrix, and writes everything under $OUT (default ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  python3 -c "import cupy; print('cupy', cupy.__version__)" || true
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" || true
} > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
python3 -m pip install --quiet --no-index --find-links wheels -e ".[test]" \
  > "$OUT/install.txt" 2>&1 || { tail -20 "$OUT/install.txt"; exit 1; }
python3 -c "import xpgd; print(xpgd.available_backends())" | tee "$OUT/backends.txt"
# GPU tests first (fast feedback), then the full matrix including the GPU cases.
python3 -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee "$OUT/pytest-gpu.txt" | tail -15
python3 -m pytest -q -p no:cacheprovider -x 2>&1 | tee "$OUT/pytest-all.txt" | tail -25
# The GPU benchmark: 10M x 100 float32 on the device (peers on the host would take too long
# for the device budget), then 1M x 100 with the host peers for the ratios.
python3 -m xpgd bench --backend cupy --rows 10000000 --features 100 --dtype float32 \
  --repeat 5 --no-peers 2>&1 | tee "$OUT/bench-gpu-10M.txt"
