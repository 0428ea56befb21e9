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

Two entry points share the per-chunk loop (:func:`_chunk_sums`): :func:`_terms_parallel`
spreads the chunks over the cores, for eager fits, its calls serialised by a lock
(Numba's ``workqueue`` threading layer, its fallback without OpenMP or TBB, aborts the
process on concurrent parallel calls; concurrent fits would make them);
:func:`_terms_serial` runs them on the calling thread with the GIL released, for Dask's
per-chunk tasks, which run in parallel already (threads, or worker processes that a
parallel kernel in each would oversubscribe: measured 2.4x slower per chunk with two
workers on two cores). Both add the same chunks in the same order: the same bits.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from xpgd._backend import fusable

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
_FORKED = False  # in a forked child, where a parallel kernel is not safe (see FusedTerms)


def _after_fork_in_child() -> None:
    global _FORKED, _LOCK
    _FORKED = True
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
_FASTMATH = {"reassoc", "contract"}  # vectorised sums; NaN and inf keep their meaning


@_jit(fastmath=_FASTMATH, inline="always", cache=True)
def _squared(z: Any, yi: Any, half: Any) -> Any:
    r = z - yi
    return half * r * r, r


@_jit(fastmath=_FASTMATH, inline="always", cache=True)
def _log1p_unit(e: Any, two: Any, coefs: Any) -> Any:
    # log(1 + e) for e in [0, 1] without a call into libm (so that it vectorises and
    # overlaps): with t = e / (2 + e) in [0, 1/3], log(1 + e) = 2 atanh(t) =
    # 2 t sum_k t^(2k) / (2k + 1), Horner over coefs = [1, 1/3, 1/5, ...]: n terms leave
    # (1/9)^n / (2n + 1), below the dtype's rounding for 17 (float64) and 8 (float32).
    t = e / (two + e)
    t2 = t * t
    if coefs.itemsize == 8:  # fixed trip counts: the loops unroll
        s = coefs[16]
        for k in range(15, -1, -1):
            s = s * t2 + coefs[k]
    else:
        s = coefs[7]
        for k in range(6, -1, -1):
            s = s * t2 + coefs[k]
    return (t + t) * s


@_jit(fastmath=_FASTMATH, inline="always", cache=True)
def _logistic(z: Any, e: Any, yi: Any, half: Any, one: Any, two: Any, coefs: Any) -> Any:
    # softplus(z) - y z and sigmoid(z) - y from e = exp(-|z|) in (0, 1] (the forms of
    # xpgd._core.losses), the log without a call.
    loss = half * z + half * np.abs(z) + _log1p_unit(e, two, coefs) - yi * z
    inv = one / (one + e)
    return loss, (inv if z >= 0 else e * inv) - yi


@_jit(fastmath=_FASTMATH, inline="always", cache=True)
def _chunk_sums(
    X: Any, y: Any, sw: Any, theta: Any, flags: Any, lo: int, hi: int, out: Any
) -> None:
    """``out[:] = [sum l, sum d, X^T d]`` over rows ``lo:hi`` (float64); ``flags`` is
    ``(weighted, intercept, logistic, four_rows)``."""
    weighted, intercept, logistic, four_rows = flags
    p = X.shape[1]
    typed = np.empty(4, dtype=X.dtype)  # constants in X's dtype (float32 stays float32)
    typed[0] = 0.5
    typed[1] = 1.0
    typed[2] = 0.0
    typed[3] = 2.0
    half, one, zero, two = typed[0], typed[1], typed[2], typed[3]
    coefs = np.empty(17, dtype=X.dtype)  # 1 / (2k + 1)
    for k in range(17):
        coefs[k] = 1.0 / (2.0 * k + 1.0)
    b = theta[0] if intercept else zero
    w = theta[1:] if intercept else theta
    acc = np.zeros(p, dtype=X.dtype)
    tile = np.empty(_TILE, dtype=X.dtype)
    e_tile = np.empty(_TILE, dtype=X.dtype)
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
            if logistic:  # four exp calls, then the rest without calls
                s0, s1, s2, s3 = s0 + b, s1 + b, s2 + b, s3 + b
                e0, e1 = np.exp(-np.abs(s0)), np.exp(-np.abs(s1))
                e2, e3 = np.exp(-np.abs(s2)), np.exp(-np.abs(s3))
                l0, d0 = _logistic(s0, e0, y[i], half, one, two, coefs)
                l1, d1 = _logistic(s1, e1, y[i + 1], half, one, two, coefs)
                l2, d2 = _logistic(s2, e2, y[i + 2], half, one, two, coefs)
                l3, d3 = _logistic(s3, e3, y[i + 3], half, one, two, coefs)
            else:
                l0, d0 = _squared(s0 + b, y[i], half)
                l1, d1 = _squared(s1 + b, y[i + 1], half)
                l2, d2 = _squared(s2 + b, y[i + 2], half)
                l3, d3 = _squared(s3 + b, y[i + 3], half)
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
        if logistic:
            for k in range(m):  # libm's exp, one call per row
                e_tile[k] = np.exp(-np.abs(tile[k]))
            for k in range(m):  # no calls: vectorised across the tile
                loss, d = _logistic(tile[k], e_tile[k], y[i + k], half, one, two, coefs)
                if weighted:
                    loss, d = loss * sw[i + k], d * sw[i + k]
                loss_sum += loss
                d_sum += d
                tile[k] = d
        else:
            for k in range(m):
                loss, d = _squared(tile[k], y[i + k], half)
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
    out[0] = loss_sum
    out[1] = d_sum
    for j in range(p):
        out[2 + j] = acc[j]


@_jit(parallel=True, fastmath=_FASTMATH, cache=True)
def _terms_parallel(X: Any, y: Any, sw: Any, theta: Any, flags: Any) -> Any:
    """The chunks spread over the cores; their sums added in chunk order."""
    n, p = X.shape
    chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    out = np.zeros((chunks, p + 2))
    for c in prange(chunks):
        lo = c * CHUNK_ROWS
        _chunk_sums(X, y, sw, theta, flags, lo, min(n, lo + CHUNK_ROWS), out[c])
    totals = np.zeros(p + 2)
    for c in range(chunks):  # in chunk order: deterministic
        totals += out[c]
    return totals


@_jit(fastmath=_FASTMATH, nogil=True, cache=True)
def _terms_serial(X: Any, y: Any, sw: Any, theta: Any, flags: Any) -> Any:
    """The same sums on the calling thread, the GIL released: for callers that run
    several at once (Dask's tasks, one per data chunk). Same chunks, same order: the
    same result as :func:`_terms_parallel`, bit for bit."""
    n, p = X.shape
    chunk = np.zeros(p + 2)
    totals = np.zeros(p + 2)
    for lo in range(0, n, CHUNK_ROWS):
        _chunk_sums(X, y, sw, theta, flags, lo, min(n, lo + CHUNK_ROWS), chunk)
        totals += chunk
    return totals


class FusedTerms:
    """``(theta) -> (sum_i s_i l_i, [sum_i s_i d_i; X^T (s d)])`` for fixed data, in one
    compiled pass over X (see the module docstring)."""

    def __init__(
        self,
        X: Any,
        y: Any,
        sample_weight: Any | None,
        loss: str,
        fit_intercept: bool,
        *,
        parallel: bool = True,
    ) -> None:
        self.X, self.y = X, y
        self.parallel = parallel
        self.sample_weight = y if sample_weight is None else sample_weight  # unused then
        self.weighted = sample_weight is not None
        self.logistic = loss == "logistic"
        self.fit_intercept = fit_intercept

    def __call__(self, theta: Any) -> tuple[Any, Any]:
        X = self.X
        theta = np.ascontiguousarray(theta, dtype=X.dtype)
        flags = (self.weighted, self.fit_intercept, self.logistic, bool(X.dtype == np.float32))
        args = (X, self.y, self.sample_weight, theta, flags)
        if self.parallel and not _FORKED:
            with _LOCK:
                totals = _terms_parallel(*args)
        else:  # also in a forked child: GNU OpenMP, once used, kills it on its next use
            totals = _terms_serial(*args)
        totals = totals.astype(X.dtype)
        return totals[0], totals[1:] if self.fit_intercept else totals[2:]


def fused_terms(
    X: Any,
    y: Any,
    sample_weight: Any | None,
    loss: str,
    fit_intercept: bool,
    *,
    parallel: bool = True,
) -> FusedTerms | None:
    """The compiled kernel for these data, or None where it does not apply (the plain path
    then runs). ``parallel=False``: on the calling thread, for callers that already run
    in parallel (Dask's per-chunk tasks)."""
    if not fusable(X, y, sample_weight, loss, np.ndarray):
        return None
    return FusedTerms(X, y, sample_weight, loss, fit_intercept, parallel=parallel)
