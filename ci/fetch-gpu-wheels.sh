#!/usr/bin/env bash
# Download, on this (networked) machine, the wheels the GPU machine lacks. Its image has
# Python 3.12 with CUDA 13, CuPy, PyTorch, NumPy, SciPy, scikit-learn, pandas, pytest,
# hypothesis, matplotlib and threadpoolctl, but not array-api-compat, array-api-strict,
# array-api-extra, Dask or dask.distributed (their other needs, toolz, cloudpickle, fsspec,
# pyyaml, msgpack, psutil, sortedcontainers, jinja2 and urllib3, are there). They go to
# wheels/ (git-ignored, about 3 MB), which the device run carries:
# run(command="bash ci/gpu-check.sh", carry=["wheels"]).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf wheels && mkdir -p wheels
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  --platform any --dest wheels \
  "array-api-compat>=1.12" "array-api-strict>=2.3" "array-api-extra>=0.7" \
  "dask==2026.8.0" "distributed==2026.8.0" "partd>=1.4" "locket>=1.0" "tornado>=6.2" \
  "tblib>=1.6" "zict>=3.0"
ls -l wheels
