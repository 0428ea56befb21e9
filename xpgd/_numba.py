"""The CPU fast path: loss and gradient in one read of X, compiled with Numba.

The plain path (:func:`xpgd._core.objective.block_terms`, run by
:class:`xpgd._backend.ThreadedRows` over cache-sized row blocks) calls BLAS twice per
block (``X_b @ w``, then ``X_b.T @ d``) plus a dozen NumPy calls for the loss: the second
read comes from cache, but the Python calls between them hold the GIL, so on two cores
it runs at 1.8x (squared) to 2.6x (logistic) one read of X. Here one compiled loop does
it all while a few rows are in L1:

* rows are cut into chunks of :data:`CHUNK_ROWS` (a fixed size, so the result does not
  depend on the number of cores), the chunks spread over the cores (``prange``);
* within a chunk, a tile of rows: their ``z = x . w + b`` (vectorised dot products), the
  loss and its derivative ``d`` (the numerically stable forms of
  :mod:`xpgd._core.losses`, weighted), then ``acc += d * x`` over the same rows, still in
  L1; float32 data take the rows four at a time, so the accumulator is loaded and stored
  once per four rows (float32 rows are short: that overhead would dominate);
* each chunk writes one row of float64 partial sums ``[sum l, sum d, X^T d]``, added in
  chunk order: deterministic, run to run and across thread counts.

Accumulators inside a chunk are in X's dtype (float32 gradients are within 1e-5 of the
float64 ones, relative to their largest entry). Only NumPy float32/float64 C-contiguous X,
1-D y of the same dtype and the squared or binary logistic loss take this path (and, in
fits, only from :data:`xpgd._backend.CPU_FUSED_MIN_ELEMENTS` entries up: below that the
BLAS path is as fast and nothing needs compiling); everything else takes the plain path,
which stays the reference
(``tests/test_fast_path.py`` checks one against the other). Compiled on first use per
dtype (seconds) and cached on disk by Numba. Numba is optional
(``pip install 'xpgd[numba]'``): without it the plain path runs.

Calls are serialised by a lock: Numba's ``workqueue`` threading layer (the one it falls
back to without OpenMP or TBB) aborts the process on concurrent parallel calls, and
concurrent fits (threads, Dask's threaded scheduler) would make them.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

try:
    from numba import njit, prange
except ImportError:  # optional: without Numba the fits never come here (xpgd._backend)
    njit, prange = None, range


def _jit(**options: Any) -> Any:
    """``numba.njit(**options)``, or the function as is where Numba is missing (so that
    this module imports, for its documentation, everywhere)."""

    def wrap(fn: Any) -> Any:
        return fn if njit is None else njit(**options)(fn)

    return wrap


__all__ = ["CHUNK_ROWS", "FusedTerms", "fused_terms"]

#: Rows per chunk (one task of the parallel loop, one row of partial sums).
CHUNK_ROWS = 16384

_TILE = 16
_LOCK = threading.Lock()
_FASTMATH = {"reassoc", "contract"}  # vectorised sums; NaN and inf keep their meaning


@_jit(fastmath=_FASTMATH, inline="always", cache=True)
def _pointwise(z: Any, yi: Any, logistic: bool, half: Any, one: Any, zero: Any) -> Any:
    if logistic:
        # softplus(z) - y z and sigmoid(z) - y from e = exp(-|z|) in (0, 1]. log(1 + e)
        # rather than log1p(e): three times cheaper here, and no less accurate in this
        # sum, whose other terms are O(|z|): its error (<= 1 ulp of 1) is below theirs.
        a = np.abs(z)
        e = np.exp(-a)
        loss = half * z + half * a + np.log(one + e) - yi * z
        inv = one / (one + e)
        d = (inv if z >= zero else e * inv) - yi
        return loss, d
    r = z - yi
    return half * r * r, r


@_jit(parallel=True, fastmath=_FASTMATH, cache=True)
def _terms(
    X: Any,
    y: Any,
    sw: Any,
    theta: Any,
    weighted: bool,
    intercept: bool,
    logistic: bool,
    four_rows: bool,
) -> Any:
    n, p = X.shape
    typed = np.empty(3, dtype=X.dtype)  # constants in X's dtype (float32 stays float32)
    typed[0] = 0.5
    typed[1] = 1.0
    typed[2] = 0.0
    half, one, zero = typed[0], typed[1], typed[2]
    b = theta[0] if intercept else zero
    w = theta[1:] if intercept else theta
    chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    out = np.zeros((chunks, p + 2))
    for c in prange(chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        acc = np.zeros(p, dtype=X.dtype)
        tile = np.empty(_TILE, dtype=X.dtype)
        loss_sum = 0.0
        d_sum = 0.0
        i = lo
        if four_rows:
            while i + 4 <= hi:
                r0 = X[i]
                r1 = X[i + 1]
                r2 = X[i + 2]
                r3 = X[i + 3]
                s0 = zero
                s1 = zero
                s2 = zero
                s3 = zero
                for j in range(p):
                    wj = w[j]
                    s0 += r0[j] * wj
                    s1 += r1[j] * wj
                    s2 += r2[j] * wj
                    s3 += r3[j] * wj
                l0, d0 = _pointwise(s0 + b, y[i], logistic, half, one, zero)
                l1, d1 = _pointwise(s1 + b, y[i + 1], logistic, half, one, zero)
                l2, d2 = _pointwise(s2 + b, y[i + 2], logistic, half, one, zero)
                l3, d3 = _pointwise(s3 + b, y[i + 3], logistic, half, one, zero)
                if weighted:
                    l0, d0 = l0 * sw[i], d0 * sw[i]
                    l1, d1 = l1 * sw[i + 1], d1 * sw[i + 1]
                    l2, d2 = l2 * sw[i + 2], d2 * sw[i + 2]
                    l3, d3 = l3 * sw[i + 3], d3 * sw[i + 3]
                loss_sum += (l0 + l1) + (l2 + l3)
                d_sum += (d0 + d1) + (d2 + d3)
                for j in range(p):
                    acc[j] += d0 * r0[j] + d1 * r1[j] + d2 * r2[j] + d3 * r3[j]
                i += 4
        while i < hi:  # tiles of rows (all rows for float64; the rest for float32)
            m = min(hi, i + _TILE) - i
            for k in range(m):
                row = X[i + k]
                s = zero
                for j in range(p):
                    s += row[j] * w[j]
                tile[k] = s + b
            for k in range(m):
                loss, d = _pointwise(tile[k], y[i + k], logistic, half, one, zero)
                if weighted:
                    loss, d = loss * sw[i + k], d * sw[i + k]
                loss_sum += loss
                d_sum += d
                tile[k] = d
            for k in range(m):
                d = tile[k]
                row = X[i + k]
                for j in range(p):
                    acc[j] += d * row[j]
            i += m
        out[c, 0] = loss_sum
        out[c, 1] = d_sum
        for j in range(p):
            out[c, 2 + j] = acc[j]
    totals = np.zeros(p + 2)
    for c in range(chunks):  # in chunk order: deterministic
        totals += out[c]
    return totals


class FusedTerms:
    """``(theta) -> (sum_i s_i l_i, [sum_i s_i d_i; X^T (s d)])`` for fixed data, in one
    compiled pass over X (see the module docstring)."""

    def __init__(
        self, X: Any, y: Any, sample_weight: Any | None, loss: str, fit_intercept: bool
    ) -> None:
        self.X, self.y = X, y
        self.sample_weight = y if sample_weight is None else sample_weight  # unused then
        self.weighted = sample_weight is not None
        self.logistic = loss == "logistic"
        self.fit_intercept = fit_intercept

    def __call__(self, theta: Any) -> tuple[Any, Any]:
        X = self.X
        theta = np.ascontiguousarray(theta, dtype=X.dtype)
        with _LOCK:
            totals = _terms(
                X,
                self.y,
                self.sample_weight,
                theta,
                self.weighted,
                self.fit_intercept,
                self.logistic,
                X.dtype == np.float32,
            )
        totals = totals.astype(X.dtype)
        return totals[0], totals[1:] if self.fit_intercept else totals[2:]


def fused_terms(
    X: Any, y: Any, sample_weight: Any | None, loss: str, fit_intercept: bool
) -> FusedTerms | None:
    """The compiled kernel for these data, or None where it does not apply (the plain path
    then runs)."""
    if (
        not isinstance(X, np.ndarray)
        or X.ndim != 2
        or X.shape[0] == 0
        or X.dtype not in (np.float32, np.float64)
        or not X.flags.c_contiguous
        or loss not in ("squared", "logistic")
        or not isinstance(y, np.ndarray)
        or y.ndim != 1
        or y.dtype != X.dtype
        or not y.flags.c_contiguous
    ):
        return None
    if sample_weight is not None and (
        not isinstance(sample_weight, np.ndarray)
        or sample_weight.dtype != X.dtype
        or not sample_weight.flags.c_contiguous
    ):
        return None
    return FusedTerms(X, y, sample_weight, loss, fit_intercept)
