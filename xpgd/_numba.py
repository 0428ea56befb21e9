"""The CPU fast path: loss and gradient in one read of X, compiled with Numba.

The plain path (:func:`xpgd._core.objective.block_terms`, run by
:class:`xpgd._backend.ThreadedRows` over cache-sized row blocks) calls BLAS twice per
block (``X_b @ w``, then ``X_b.T @ d``) plus a dozen NumPy calls for the loss: the second
read comes from cache, but the Python calls between them hold the GIL, so on two cores
it runs at 1.8x (squared) to 2.6x (logistic) one read of X. Here one compiled loop does
it all while a few rows are in L1:

* rows are cut into chunks of :data:`CHUNK_ROWS` (a fixed size, so the result does not
  depend on the number of cores), the chunks spread over the cores (``prange``);
* within a chunk, a tile of :data:`_TILE` rows: their ``z = x . w + b`` (vectorised dot
  products: float64 rows one at a time, read in order; float32 rows, half as long, two
  at a time), then the loss and its derivative ``d`` of the whole tile in one
  vectorised loop (:func:`_tile_losses`: the numerically stable forms of
  :mod:`xpgd._core.losses`, weighted, with ``exp`` and ``log1p`` written out so that
  no call into libm keeps the loop scalar), then ``acc += d * x`` over the same rows,
  still in L1, four rows at a time so that the accumulator is loaded and stored once
  per four rows;
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


__all__ = ["CHUNK_ROWS", "FusedTerms", "fused_terms", "read_once"]

#: Rows per chunk (one task of the parallel loop, one row of partial sums).
CHUNK_ROWS = 16384

_TILE = 32
_LOCK = threading.Lock()
_FORKED = False  # in a forked child, where a parallel kernel is not safe (see FusedTerms)


def _after_fork_in_child() -> None:
    global _FORKED, _LOCK
    _FORKED = True
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
_FASTMATH = {"reassoc", "contract"}  # vectorised sums; NaN and inf keep their meaning
# error_model="numpy": a float division by zero gives inf, as in NumPy, instead of a
# Python exception, whose check in every division kept the loss loop from vectorising.
_OPTIONS = {"fastmath": _FASTMATH, "error_model": "numpy", "cache": True}


# ---------------------------------------------------------------- the loss, per dtype
# ``exp`` and ``log1p`` written out, without a call into libm, so that the loss of a tile
# of rows (_tile_losses) vectorises: with X in cache, the scalar loss took about 10 ns a
# float32 row (the whole row's memory budget is 24 ns), the vectorised one under 2. One
# function per dtype, chosen at compile time (overload).


def _pow2(n: Any, like: Any) -> Any:
    """``2.0 ** n`` in the dtype of ``like`` for an integral float ``n`` in the normal
    exponent range (compiled: the exponent bits set directly)."""
    return type(like)(2.0**n)


def _exp_neg(a: Any) -> Any:
    """``exp(-a)`` for ``a >= 0`` (NaN for NaN) in ``a``'s dtype. The compiled version
    (this module's kernels call it) has a relative error below one machine epsilon
    (0.85 measured; ``tests/test_fast_path.py``), and
    beyond ``a = 87`` (float32) / ``708`` (float64) returns ``exp(-87)`` / ``exp(-708)``
    (1.6e-38 / 3.3e-308) instead of a smaller number: an absolute error below those, far
    below the rounding of the loss it enters."""
    return type(a)(np.exp(-a))


def _log1p_unit(e: Any) -> Any:
    """``log(1 + e)`` for ``e`` in ``[0, 1]``, in ``e``'s dtype; compiled, a relative error
    below two machine epsilons (1.86 measured)."""
    return type(e)(np.log1p(e))


if njit is not None:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, overload

    @intrinsic
    def _pow2_bits(typingctx: Any, n: Any, like: Any) -> Any:
        if not isinstance(like, types.Float) or not isinstance(n, types.Float):
            return None
        bits, mantissa, bias = (64, 52, 1023) if like.bitwidth == 64 else (32, 23, 127)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            int_t = ir.IntType(bits)
            # NaN to 0 first: LLVM's fptosi of a NaN is poison, which the optimiser may
            # fold to anything (0.0 for exp(-NaN) when the NaN is a constant); the NaN
            # reaches the result through the polynomial either way
            n = args[0]
            n = builder.select(builder.fcmp_unordered("uno", n, n), ir.Constant(n.type, 0.0), n)
            k = builder.fptosi(n, int_t)
            k = builder.shl(builder.add(k, ir.Constant(int_t, bias)), ir.Constant(int_t, mantissa))
            return builder.bitcast(k, context.get_value_type(like))

        return like(n, like), codegen

    @overload(_pow2, inline="always")
    def _pow2_typed(n: Any, like: Any) -> Any:
        def impl(n: Any, like: Any) -> Any:  # the typing function's signature, exactly
            return _pow2_bits(n, like)

        return impl

    def _exp_neg_32(a: Any) -> Any:
        # x = -a = n ln2 + r, |r| <= ln2 / 2 (ln2 in two parts: n ln2_hi is exact), then
        # e^r by its Taylor series to r^7 (truncation 5e-9 relative), times 2^n.
        x = -min(a, np.float32(87.0))
        n = np.floor(x * np.float32(1.442695040888963) + np.float32(0.5))
        r = (x - n * np.float32(0.693359375)) - n * np.float32(-2.12194440e-4)
        p = np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        p = p * r + np.float32(1.0)
        return p * _pow2(n, p)

    def _exp_neg_64(a: Any) -> Any:
        # the same to r^13 (truncation 4e-18 relative)
        x = -min(a, 708.0)
        n = np.floor(x * 1.4426950408889634 + 0.5)
        r = (x - n * 6.93145751953125e-1) - n * 1.42860682030941723212e-6
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        return p * _pow2(n, p)

    def _log1p_unit_32(e: Any) -> Any:
        # with t = e / (2 + e) in [0, 1/3], log(1 + e) = 2 atanh(t) = 2 t sum_k
        # t^(2k) / (2k + 1): 8 terms leave (1/9)^8 / 17, below float32's rounding.
        # Written out: a loop here, even of fixed length, kept the tile loop scalar.
        t = e / (np.float32(2.0) + e)
        t2 = t * t
        s = np.float32(1.0 / 15.0)
        s = s * t2 + np.float32(1.0 / 13.0)
        s = s * t2 + np.float32(1.0 / 11.0)
        s = s * t2 + np.float32(1.0 / 9.0)
        s = s * t2 + np.float32(1.0 / 7.0)
        s = s * t2 + np.float32(1.0 / 5.0)
        s = s * t2 + np.float32(1.0 / 3.0)
        s = s * t2 + np.float32(1.0 / 1.0)
        return (t + t) * s

    def _log1p_unit_64(e: Any) -> Any:
        # the same with 17 terms, below float64's rounding
        t = e / (2.0 + e)
        t2 = t * t
        s = 1.0 / 33.0
        s = s * t2 + 1.0 / 31.0
        s = s * t2 + 1.0 / 29.0
        s = s * t2 + 1.0 / 27.0
        s = s * t2 + 1.0 / 25.0
        s = s * t2 + 1.0 / 23.0
        s = s * t2 + 1.0 / 21.0
        s = s * t2 + 1.0 / 19.0
        s = s * t2 + 1.0 / 17.0
        s = s * t2 + 1.0 / 15.0
        s = s * t2 + 1.0 / 13.0
        s = s * t2 + 1.0 / 11.0
        s = s * t2 + 1.0 / 9.0
        s = s * t2 + 1.0 / 7.0
        s = s * t2 + 1.0 / 5.0
        s = s * t2 + 1.0 / 3.0
        s = s * t2 + 1.0 / 1.0
        return (t + t) * s

    @overload(_exp_neg, inline="always")
    def _exp_neg_typed(a: Any) -> Any:
        return _exp_neg_64 if a == types.float64 else _exp_neg_32

    @overload(_log1p_unit, inline="always")
    def _log1p_unit_typed(e: Any) -> Any:
        return _log1p_unit_64 if e == types.float64 else _log1p_unit_32


@_jit(**_OPTIONS)  # a function of its own (not inlined into the row loops): it vectorises
def _tile_losses(
    z: Any, y: Any, sw: Any, i: int, m: int, b: Any, weighted: bool, logistic: bool
) -> tuple[Any, Any]:
    """For the rows ``i .. i+m-1`` whose ``x . w`` are in ``z[:m]``: their loss and
    derivative ``d`` at ``x . w + b`` (the numerically stable forms of
    :mod:`xpgd._core.losses`), weighted; ``z[:m]`` replaced by ``d``; returns the sums
    of the losses and of ``d``, in ``z``'s dtype."""
    one = z.dtype.type(1.0)
    half = z.dtype.type(0.5)
    loss_sum = z.dtype.type(0.0)
    d_sum = z.dtype.type(0.0)
    # one loop per loss, no branch but a select inside (sw is y when unweighted): the
    # shapes LLVM's loop vectoriser takes
    if logistic:
        for k in range(m):
            zk = z[k] + b
            a = np.abs(zk)
            e = _exp_neg(a)
            inv = one / (one + e)
            loss = half * zk + half * a + _log1p_unit(e) - y[i + k] * zk
            d = (inv if zk >= 0 else e * inv) - y[i + k]
            sk = sw[i + k]  # loaded either way: a conditional load stops the vectoriser
            s = sk if weighted else one
            loss_sum += loss * s
            d_sum += d * s
            z[k] = d * s
    else:
        for k in range(m):
            d = z[k] + b - y[i + k]
            sk = sw[i + k]  # loaded either way: a conditional load stops the vectoriser
            s = sk if weighted else one
            loss_sum += half * d * d * s
            d_sum += d * s
            z[k] = d * s
    return loss_sum, d_sum


@_jit(inline="always", **_OPTIONS)
def _dot1(X: Any, i: int, w: Any) -> Any:
    """``x . w`` for the row ``i``."""
    row = X[i]
    s = X.dtype.type(0.0)
    for j in range(X.shape[1]):
        s += row[j] * w[j]
    return s


@_jit(inline="always", **_OPTIONS)
def _dot2(X: Any, i: int, w: Any) -> tuple[Any, Any]:
    """``x . w`` for the rows ``i`` and ``i+1``: ``w`` loaded once for both."""
    r0, r1 = X[i], X[i + 1]
    s0 = s1 = X.dtype.type(0.0)
    for j in range(X.shape[1]):
        wj = w[j]
        s0 += r0[j] * wj
        s1 += r1[j] * wj
    return s0, s1


@_jit(inline="always", **_OPTIONS)
def _update4(X: Any, i: int, d: Any, q: int, acc: Any) -> None:
    """``acc += X[i:i+4]^T d[q:q+4]``: the accumulator loaded and stored once for four
    rows."""
    r0, r1, r2, r3 = X[i], X[i + 1], X[i + 2], X[i + 3]
    d0, d1, d2, d3 = d[q], d[q + 1], d[q + 2], d[q + 3]
    for j in range(X.shape[1]):
        acc[j] += d0 * r0[j] + d1 * r1[j] + d2 * r2[j] + d3 * r3[j]


@_jit(inline="always", **_OPTIONS)
def _chunk_sums(
    X: Any, y: Any, sw: Any, theta: Any, flags: Any, lo: int, hi: int, out: Any
) -> None:
    """``out[:] = [sum l, sum d, X^T d]`` over rows ``lo:hi`` (float64); ``flags`` is
    ``(weighted, intercept, logistic)``. A tile of :data:`_TILE` rows at a time: their
    dot products; their losses (:func:`_tile_losses`, vectorised); their updates, four
    rows at a time, while the tile is in L1."""
    weighted, intercept, logistic = flags
    p = X.shape[1]
    b = theta[0] if intercept else X.dtype.type(0.0)
    w = theta[1:] if intercept else theta
    acc = np.zeros(p, dtype=X.dtype)
    z = np.empty(_TILE, dtype=X.dtype)
    loss_sum = 0.0
    d_sum = 0.0
    i = lo
    while i + _TILE <= hi:  # whole tiles: fixed trip counts, unrolled
        if X.itemsize == 4:  # float32: two rows at a time (measured 1.30x the floor, 1.35x)
            for k in range(0, _TILE, 2):
                z[k], z[k + 1] = _dot2(X, i + k, w)
        else:  # float64: one row at a time, read in order (measured 1.02x, 1.16x for two)
            for k in range(_TILE):
                z[k] = _dot1(X, i + k, w)
        # z.size, not _TILE: a literal would compile a fully unrolled, scalar variant
        tile_loss, tile_d = _tile_losses(z, y, sw, i, z.size, b, weighted, logistic)
        loss_sum += tile_loss
        d_sum += tile_d
        for q in range(0, _TILE, 4):
            _update4(X, i + q, z, q, acc)
        i += _TILE
    m = hi - i
    if m > 0:  # the last rows, fewer than a tile: one at a time
        for k in range(m):
            z[k] = _dot1(X, i + k, w)
        tile_loss, tile_d = _tile_losses(z, y, sw, i, m, b, weighted, logistic)
        loss_sum += tile_loss
        d_sum += tile_d
        for k in range(m):
            row = X[i + k]
            for j in range(p):
                acc[j] += z[k] * row[j]
    out[0] = loss_sum
    out[1] = d_sum
    for j in range(p):
        out[2 + j] = acc[j]


@_jit(parallel=True, **_OPTIONS)
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


@_jit(nogil=True, **_OPTIONS)
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


@_jit(parallel=True, **_OPTIONS)
def _sum_rows(X: Any) -> Any:
    n, p = X.shape
    chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    out = np.zeros(chunks)
    for c in prange(chunks):
        s = X.dtype.type(0.0)
        for i in range(c * CHUNK_ROWS, min(n, (c + 1) * CHUNK_ROWS)):
            row = X[i]
            for j in range(p):
                s += row[j]
        out[c] = s
    return out.sum()


def read_once(X: Any) -> float:
    """The sum of X's entries, in one read of X on every core (the kernel's chunks and
    threads, nothing else to compute): the benchmarks' floor beside BLAS's ``X @ v``,
    which reads float64 X about 1.3x slower here (``benchmarks/RESULTS.md``). In a forked
    child, NumPy's sum (a parallel kernel would abort it, see :class:`FusedTerms`)."""
    if _FORKED:
        return float(np.sum(X, dtype=np.float64))
    with _LOCK:
        return float(_sum_rows(X))


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
        flags = (self.weighted, self.fit_intercept, self.logistic)
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
