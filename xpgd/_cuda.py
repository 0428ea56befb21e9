"""The GPU fast path: loss and gradient in one read of X, as one fused CuPy kernel.

The plain path (:func:`xpgd._core.objective.block_terms`) computes ``z = X @ w + b``, the
pointwise loss and its derivative ``d``, then ``X^T d``: two passes over X (plus n-long
temporaries), so at best half the memory bandwidth. Here one CUDA kernel does it all
while each row of X is in registers:

* a warp takes ``ROWS`` (2 to 8) consecutive rows at a time, their loads issued together
  (memory-level parallelism); lane ``k`` holds columns ``k, k + 32, ...`` of each row;
* each row's ``z`` is the warp's dot product (a shuffle reduction); lane ``r`` then
  computes the loss ``l`` and ``d`` of row ``r`` (the same numerically stable forms as
  :mod:`xpgd._core.losses`, weighted by ``sample_weight``), so the transcendental
  functions run once per ``ROWS`` rows, and shuffles ``d`` back to every lane;
* each lane accumulates ``d * x_ij`` for its columns, in registers (float32 data in
  float32 over one warp's rows, about ``n / (32 * warps)`` of them);
* each block adds its warps' sums in shared memory and writes one row of float64 partial
  sums ``[sum l, sum d, X^T d]``, which one small CuPy sum adds up. No atomics: the result
  does not depend on scheduling, so a fit is reproducible run to run.

It covers single-output losses (squared, binary logistic), C-contiguous float32/float64 X
with up to :data:`MAX_FEATURES` columns; everything else takes the plain path, which stays
the reference (``tests/test_gpu.py`` checks one against the other). Kernels are compiled by
CuPy on first use (per dtype, width, loss and weighting) and cached. CuPy is imported on
first use: this module is only reached with CuPy data.
"""

from __future__ import annotations

import functools
import importlib
import math
from typing import Any

from xpgd._backend import fusable
from xpgd._typing import Array

__all__ = ["MAX_FEATURES", "FusedTerms", "fused_terms"]

#: Widest X the kernel takes: a lane keeps ``ceil(p / 32)`` values per row in registers.
MAX_FEATURES = 512

_WARPS_PER_BLOCK = 8

_LOSSES = {
    "squared": """
        const T residual = z - yi;
        l = (T)0.5 * residual * residual;
        d = residual;
    """,
    # softplus(z) - y z and sigmoid(z) - y from e = exp(-|z|) in (0, 1]: never overflows.
    "logistic": """
        const T a = fabs(z);
        const T e = exp(-a);
        l = ((T)0.5 * z + (T)0.5 * a) + log1p(e) - yi * z;
        const T inv = (T)1 / ((T)1 + e);
        d = (z >= (T)0 ? inv : e * inv) - yi;
    """,
}

_SOURCE = r"""
typedef {T} T;
typedef {ACC} ACC;
#define COLS {COLS}
#define ROWS {ROWS}
#define WEIGHTED {WEIGHTED}
#define INTERCEPT {INTERCEPT}

extern "C" __global__ void xpgd_fused_terms(
    const T* __restrict__ X, const T* __restrict__ y, const T* __restrict__ sw,
    const T* __restrict__ theta, const long long n, const int p,
    double* __restrict__ partials)
{
    extern __shared__ __align__(16) unsigned char shared_raw[];
    ACC* shared = reinterpret_cast<ACC*>(shared_raw);  // [warps][p + 2]
    const int lane = threadIdx.x & 31;
    const int warp_in_block = threadIdx.x >> 5;
    const int warps_per_block = blockDim.x >> 5;
    const long long warp = (long long)blockIdx.x * warps_per_block + warp_in_block;
    const long long warps = (long long)gridDim.x * warps_per_block;
    const T* w = theta + INTERCEPT;
    const T b = INTERCEPT ? theta[0] : (T)0;

    T wr[COLS];
    ACC acc[COLS];
#pragma unroll
    for (int c = 0; c < COLS; ++c) {
        const int j = lane + 32 * c;
        wr[c] = j < p ? w[j] : (T)0;
        acc[c] = (ACC)0;
    }
    ACC loss_sum = (ACC)0, d_sum = (ACC)0;

    for (long long first = warp * ROWS; first < n; first += warps * ROWS) {
        T xv[ROWS][COLS];
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
            const long long i = first + r;
            const T* row = X + i * (long long)p;
#pragma unroll
            for (int c = 0; c < COLS; ++c) {
                const int j = lane + 32 * c;
                xv[r][c] = (i < n && j < p) ? row[j] : (T)0;
            }
        }
        // z of each row (a butterfly: every lane ends with every row's z); lane r keeps
        // row r's, so that the loss below runs once for all ROWS rows, one row per lane.
        T z = (T)0;
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
            T dot = (T)0;
#pragma unroll
            for (int c = 0; c < COLS; ++c) dot += xv[r][c] * wr[c];
#pragma unroll
            for (int offset = 16; offset > 0; offset >>= 1)
                dot += __shfl_xor_sync(0xffffffffu, dot, offset);
            if (lane == r) z = dot;
        }
        const long long i = first + lane;
        T l = (T)0, d = (T)0;
        if (lane < ROWS && i < n) {
            z += b;
            const T yi = y[i];
            {LOSS}
#if WEIGHTED
            const T s = sw[i];
            l *= s;
            d *= s;
#endif
        }
        loss_sum += (ACC)l;  // lane r's rows only: summed over the lanes at the end
        d_sum += (ACC)d;
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
            const T dr = __shfl_sync(0xffffffffu, d, r);  // row r's derivative, to all lanes
#pragma unroll
            for (int c = 0; c < COLS; ++c) acc[c] += (ACC)(dr * xv[r][c]);
        }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        loss_sum += __shfl_xor_sync(0xffffffffu, loss_sum, offset);
        d_sum += __shfl_xor_sync(0xffffffffu, d_sum, offset);
    }

    // The block's sums: each warp's row in shared memory, added in a fixed order.
    ACC* mine = shared + warp_in_block * (p + 2);
#pragma unroll
    for (int c = 0; c < COLS; ++c) {
        const int j = lane + 32 * c;
        if (j < p) mine[2 + j] = acc[c];
    }
    if (lane == 0) {
        mine[0] = loss_sum;  // every lane holds the warp's loss and d sums
        mine[1] = d_sum;
    }
    __syncthreads();
    for (int k = threadIdx.x; k < p + 2; k += blockDim.x) {
        double total = 0.0;
        for (int q = 0; q < warps_per_block; ++q) total += (double)shared[q * (p + 2) + k];
        partials[(long long)blockIdx.x * (p + 2) + k] = total;
    }
}
"""


def _cupy() -> Any:
    return importlib.import_module("cupy")


@functools.cache
def _kernel(dtype: str, cols: int, rows: int, loss: str, weighted: bool, intercept: bool) -> Any:
    acc = "double" if dtype == "float64" else "float"
    code = (
        _SOURCE.replace("{T}", "double" if dtype == "float64" else "float")
        .replace("{ACC}", acc)
        .replace("{COLS}", str(cols))
        .replace("{ROWS}", str(rows))
        .replace("{WEIGHTED}", str(int(weighted)))
        .replace("{INTERCEPT}", str(int(intercept)))
        .replace("{LOSS}", _LOSSES[loss])
    )
    return _cupy().RawKernel(code, "xpgd_fused_terms", options=("--std=c++14",))


@functools.cache
def _blocks_per_device(device_id: int) -> int:
    sms = _cupy().cuda.Device(device_id).attributes["MultiProcessorCount"]
    return 8 * sms  # 8 blocks of 256 threads fill an SM's 2048 threads


class FusedTerms:
    """``(theta) -> (sum_i s_i l_i, [sum_i s_i d_i; X^T (s d)])`` for fixed data, in one
    kernel launch and one small sum (see the module docstring)."""

    def __init__(
        self, X: Array, y: Array, sample_weight: Array | None, loss: str, fit_intercept: bool
    ) -> None:
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.n, self.p = X.shape
        self.fit_intercept = fit_intercept
        cols = max(1, math.ceil(self.p / 32))
        rows = 8 if cols <= 4 else 4 if cols <= 8 else 2  # ROWS * COLS values per lane
        dtype = str(X.dtype)
        self.kernel = _kernel(dtype, cols, rows, loss, sample_weight is not None, fit_intercept)
        self.threads = 32 * _WARPS_PER_BLOCK
        self.blocks = max(1, min(_blocks_per_device(X.device.id), -(-self.n // (rows * 8))))
        self.shared_bytes = _WARPS_PER_BLOCK * (self.p + 2) * X.dtype.itemsize

    def __call__(self, theta: Array) -> tuple[Array, Array]:
        cupy = _cupy()
        X, y, sw = self.X, self.y, self.sample_weight
        with X.device:  # every array on X's GPU, whichever is current (Dask's threads)
            theta = cupy.ascontiguousarray(theta, dtype=X.dtype)  # no copy when it already is
            partials = cupy.empty((self.blocks, self.p + 2), dtype=cupy.float64)
            self.kernel(
                (self.blocks,),
                (self.threads,),
                (
                    X,
                    y,
                    theta if sw is None else sw,  # unused without weights
                    theta,
                    cupy.int64(self.n),
                    cupy.int32(self.p),
                    partials,
                ),
                shared_mem=self.shared_bytes,
            )
            totals = partials.sum(axis=0).astype(X.dtype)
        return totals[0], totals[1:] if self.fit_intercept else totals[2:]


def fused_terms(
    X: Array, y: Array, sample_weight: Array | None, loss: str, fit_intercept: bool
) -> FusedTerms | None:
    """The fused kernel for these data, or None where it does not apply (the plain path
    then runs)."""
    applies = fusable(X, y, sample_weight, loss, _cupy().ndarray)
    if not applies or X.shape[1] > MAX_FEATURES:
        return None
    return FusedTerms(X, y, sample_weight, loss, fit_intercept)
