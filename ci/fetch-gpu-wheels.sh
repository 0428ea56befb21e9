#!/usr/bin/env bash
# Download, on this (networked) machine, the wheels the GPU machine lacks: it has CUDA 13,
# CuPy, PyTorch and JAX but no internet and no array-api-compat. They go to wheels/
# (git-ignored), which the device run carries: run(..., carry=["wheels"]).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p wheels
python3 -m pip download --quiet --dest wheels --only-binary=:all: \
  --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --platform any \
  "array-api-compat>=1.12" "array-api-strict>=2.3" "array-api-extra>=0.7" \
  "pytest>=8" "hypothesis>=6.100" "scikit-learn>=1.6" "scipy>=1.11" "pandas>=2.0" \
  "dask[array]>=2024.8" "matplotlib>=3.7" "numpy>=1.24" "threadpoolctl>=3.1" setuptools wheel
ls wheels | wc -l
