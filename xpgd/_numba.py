"""The CPU fast path: loss and gradient in one read of X, compiled with Numba.

The plain path (:func:`xpgd._core.objective.block_terms`, run by
:class:`xpgd._backend.ThreadedRows` over cache-sized row blocks) calls BLAS twice per
block (``X_b @ w``, then ``X_b.T @ d``) plus a dozen NumPy calls for the loss: the second
read comes from cache, but the Python calls between them hold the GIL, so on two cores
it runs at 1.8x (squared) to 2.6x (logistic) one read of X. Here one compiled loop does
it all while a few rows are in L1:

* rows are cut into chunks of :data:`CHUNK_ROWS` (a fixed size, so the result does not
  depend on the number of cores), the chunks spread over the cores (``prange``);
* each chunk is read as four streams (:data:`_STREAMS`): its quarters side by side, a
  row of each in every loop over the columns. A core keeps more of memory's reads in
  flight with several streams: one core reads X 1.2-1.3x faster as two streams than as
  one, and the kernel, whose work between loads holds back its reads, gains more
  (one stream: 1.24-1.30x one read of X on both cores; four: 1.02-1.06x). The streams
  also share each column step's loads of ``w`` and of the accumulator;
* within a stream, groups of rows (4 float64 or 8 float32 rows of 100 features a
  stream: :func:`_group_size`), software-pipelined: each row's ``x . w`` is computed in
  the same loop over the columns as ``acc += d * x`` for the row one group earlier,
  whose ``d`` is known by then and which is still in L1 (:func:`_dot_update_rows`), so
  that the second use of every row is spread evenly over the read of the next ones;
  then the loss and its derivative ``d`` of the whole group, inline
  (:func:`_group_losses`: the numerically stable forms of :mod:`xpgd._core.losses`,
  weighted, with their own ``exp`` and ``log1p``, no call into libm, the four streams'
  vectors joined into one wide vector). Both are written as explicit vector code (LLVM
  IR through Numba intrinsics: 32-byte vectors, the last ``p % lanes`` columns by a
  masked load), not left to LLVM's loop vectoriser;
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

import math
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

_VECTOR_BYTES = 32  # AVX2's vectors
_GROUP_BYTES = 12_800  # X's bytes per group of rows, over the streams (see _group_size)
_STREAMS = 4  # rows read side by side in each chunk (see _chunk_sums)
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
    below the rounding of the loss it enters. At ``a = inf`` it returns 0, so that an
    infinite score gives ``d = 0`` and, with the infinite entry of X, a NaN gradient
    entry, as the plain path does (not +-inf)."""
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
        return p * _pow2(n, p) if a != np.inf else np.float32(0.0)

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
        return p * _pow2(n, p) if a != np.inf else 0.0

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


# ------------------------------------------------------ rows as explicit vectors (IR)
# The row loops are written as LLVM vector code (llvmlite, through Numba intrinsics)
# rather than left to LLVM's loop vectoriser, which around every row's loop emitted
# runtime alias checks, a trip-count dispatch and a scalar remainder: the old kernel took
# 29 ns a float64 row with X in cache where the same loops written in C with AVX2
# intrinsics took 22-25, and streamed 1.31x one read of X where the pipelined C took
# 1.11x. This code, one stream: 28.8 ns in cache beside the pipelined C's 27-28 in one
# run; four streams: 21-22 ns (squared), 24.5-25 (logistic) (benchmarks/RESULTS.md).
# Vectors of 32 bytes (AVX2: 4 float64, 8 float32; LLVM splits them on narrower
# targets); the last ``p % lanes`` columns by a masked load.


def _dot_rows(X: Any, i: int, offsets: Any, theta: Any, off: int, z: Any, k: int) -> None:
    """``z[s, k] = X[i + offsets[s]] . theta[off:]`` for each stream ``s`` (compiled:
    vectors; the streams share the loads of ``theta``)."""
    for s, o in enumerate(offsets):
        z[s, k] = np.dot(X[i + o], theta[off:])


def _dot_update_rows(
    X: Any, i: int, ip: int, offsets: Any, theta: Any, off: int, d: Any, z: Any, k: int, acc: Any
) -> None:
    """:func:`_dot_rows` for the rows ``i + offsets[s]``, and :func:`_update_rows` for
    the rows ``ip + offsets[s]``, in one loop over the columns (compiled: the updates'
    loads and stores interleaved with the dots')."""
    _update_rows(X, ip, offsets, d, k, acc)
    _dot_rows(X, i, offsets, theta, off, z, k)


def _update_rows(X: Any, ip: int, offsets: Any, d: Any, k: int, acc: Any) -> None:
    """``acc[:p] += d[s, k] * X[ip + offsets[s]]`` for each stream ``s`` (compiled: one
    load and store of ``acc`` for all the streams)."""
    for s, o in enumerate(offsets):
        acc[: X.shape[1]] += d[s, k] * X[ip + o]


def _group_losses(
    z: Any, y: Any, sw: Any, i: int, offsets: Any, b: Any, weighted: bool, logistic: bool
) -> Any:
    """:func:`_tile_losses` over the whole of each row ``s`` of ``z`` (the rows
    ``i + offsets[s] ...`` of its stream), as vector code: the streams' groups' loss and
    derivative without a call. ``z``'s rows' length must be a multiple of the vector's
    lanes (the compiled version leaves a remainder untouched; the groups are)."""
    g = z.shape[1]
    sums = [
        _tile_losses(z[s], y, sw, i + o, g, b, weighted, logistic) for s, o in enumerate(offsets)
    ]
    return sum(t[0] for t in sums), sum(t[1] for t in sums)


if njit is not None:
    from numba.core import cgutils

    def _lanes(dtype: Any) -> int:
        return _VECTOR_BYTES * 8 // dtype.bitwidth

    class _Vectors:
        """IR for one vector type (X's dtype, :data:`_VECTOR_BYTES` wide, or ``times``
        that: LLVM splits a wider vector's operations into one per 32 bytes, side by
        side): loads, masked loads, stores, fused multiply-adds, broadcasts, horizontal
        sums, and the joining of vectors into a wider one and its splitting."""

        def __init__(self, context: Any, builder: Any, dtype: Any, times: int = 1) -> None:
            self.builder = builder
            self.lanes = _lanes(dtype) * times
            self.scalar = context.get_value_type(dtype)
            self.vec = ir.VectorType(self.scalar, self.lanes)
            self.align = dtype.bitwidth // 8
            suffix = f"v{self.lanes}f{dtype.bitwidth}"
            mask_t = ir.VectorType(ir.IntType(1), self.lanes)
            self.zero = self.constant(0.0)

            def declare(name: str, ret: Any, params: list) -> Any:
                return builder.module.declare_intrinsic(name, (), ir.FunctionType(ret, params))

            vec, ptr = self.vec, self.vec.as_pointer()
            # fmuladd, not fma: fused where the CPU has FMA, a product and a sum where it
            # has not (llvm.fma is then a libm call per lane: 5x slower measured)
            self._fma = declare(f"llvm.fmuladd.{suffix}", vec, [vec] * 3)
            self._fabs = declare(f"llvm.fabs.{suffix}", vec, [vec])
            self._mload = declare(
                f"llvm.masked.load.{suffix}.p0", vec, [ptr, ir.IntType(32), mask_t, vec]
            )

        def constant(self, value: float) -> Any:
            return ir.Constant(self.vec, [value] * self.lanes)

        def _ptr(self, base: Any, offset: Any) -> Any:
            return self.builder.bitcast(self.builder.gep(base, [offset]), self.vec.as_pointer())

        def load(self, base: Any, offset: Any) -> Any:
            return self.builder.load(self._ptr(base, offset), align=self.align)

        def store(self, value: Any, base: Any, offset: Any) -> None:
            self.builder.store(value, self._ptr(base, offset), align=self.align)

        def mask(self, count: Any) -> Any:
            """The lanes below ``count``."""
            b, i32 = self.builder, ir.IntType(32)
            lanes_t = ir.VectorType(i32, self.lanes)
            n = b.insert_element(ir.Constant(lanes_t, None), b.trunc(count, i32), i32(0))
            n = b.shuffle_vector(n, n, ir.Constant(lanes_t, [0] * self.lanes))
            return b.icmp_signed("<", ir.Constant(lanes_t, list(range(self.lanes))), n)

        def masked_load(self, base: Any, offset: Any, mask: Any) -> Any:
            """The lanes of ``mask`` loaded, 0 elsewhere (nothing read there)."""
            args = [self._ptr(base, offset), ir.IntType(32)(self.align), mask, self.zero]
            return self.builder.call(self._mload, args)

        def fma(self, a: Any, b: Any, c: Any) -> Any:
            return self.builder.call(self._fma, [a, b, c])

        def fabs(self, a: Any) -> Any:
            return self.builder.call(self._fabs, [a])

        def join(self, parts: list) -> Any:
            """The vectors ``parts`` (of equal width, a power of two of them) as one."""
            b, i32 = self.builder, ir.IntType(32)
            while len(parts) > 1:
                width = 2 * parts[0].type.count
                order = ir.Constant(ir.VectorType(i32, width), list(range(width)))
                parts = [
                    b.shuffle_vector(x, y, order)
                    for x, y in zip(parts[::2], parts[1::2], strict=True)
                ]
            return parts[0]

        def split(self, value: Any, count: int) -> list:
            """``value`` cut into ``count`` vectors of equal width."""
            b, i32 = self.builder, ir.IntType(32)
            width = value.type.count // count
            order_t = ir.VectorType(i32, width)
            return [
                b.shuffle_vector(
                    value, value, ir.Constant(order_t, list(range(k * width, (k + 1) * width)))
                )
                for k in range(count)
            ]

        def splat(self, scalar: Any) -> Any:
            b, i32 = self.builder, ir.IntType(32)
            v = b.insert_element(ir.Constant(self.vec, None), scalar, i32(0))
            return b.shuffle_vector(
                v, v, ir.Constant(ir.VectorType(i32, self.lanes), [0] * self.lanes)
            )

        def hsum(self, v: Any) -> Any:
            """The sum of the lanes (halves added, then their halves, ...)."""
            while v.type.count > 1:
                v = self.builder.fadd(*self.split(v, 2))
            return self.builder.extract_element(v, ir.IntType(32)(0))

        @staticmethod
        def exact(value: Any) -> Any:
            """``value`` (a float instruction) kept out of reassociation: Numba gives
            every float instruction without flags this module's fast-math flags
            (``reassoc``), which would let LLVM fold ``(x s + M) - M`` to ``x s`` or
            merge the two parts of ``ln 2``; with ``contract`` alone it may only fuse a
            product into an add (exact here, or closer)."""
            value.flags[:] = ["contract"]
            return value

        def nearest_pow2(self, x: Any, scale: float) -> tuple[Any, Any]:
            """``(n, 2 ** n)`` for ``n`` the integer nearest ``x * scale`` (``2 ** n``
            normal), without a conversion to integers, which AVX2 lacks for float64
            vectors (LLVM made four scalar conversions a vector of them): adding
            ``1.5 * 2 ** m`` (``m`` the mantissa's width) to ``x * scale``, in one
            rounding, leaves ``n`` in the sum's low bits (the sum's bits are the magic
            number's plus ``n``, as integers); ``n``'s float is the sum less the magic
            number; the sum's bits plus the exponent's bias, shifted up by ``m``, are
            ``2 ** n``'s (the magic number's own bits shift out). A NaN lane gives a NaN
            ``n``."""
            b = self.builder
            bits, mantissa, bias = (64, 52, 1023) if self.align == 8 else (32, 23, 127)
            magic = self.constant(1.5 * 2.0**mantissa)
            total = self.fma(x, self.constant(scale), magic)
            int_t = ir.VectorType(ir.IntType(bits), self.lanes)
            k = b.shl(
                b.add(b.bitcast(total, int_t), ir.Constant(int_t, [bias] * self.lanes)),
                ir.Constant(int_t, [mantissa] * self.lanes),
            )
            return self.exact(b.fsub(total, magic)), b.bitcast(k, self.vec)

        def polynomial(self, x: Any, coefficients: list) -> Any:
            """``sum_k c_k x^k`` for ``coefficients`` from the highest power down, by
            Estrin's scheme: pairs ``c_2k + c_2k+1 x``, then pairs of those with
            ``x^2``, and so on: about log2(terms) fused multiply-adds deep instead of
            Horner's one per term. Measured with one stream: float64's logistic kernel
            at 1.24x one read of X against 1.28x by Horner's rule (14 and 17 terms),
            float32's (8 terms) 1.24x either way; in the four streams' wide vector,
            24.5 against 27.0 ns a float64 row with X in cache
            (``benchmarks/RESULTS.md``)."""
            terms = [self.constant(c) for c in reversed(coefficients)]
            while len(terms) > 1:
                pairs = [self.fma(terms[k + 1], x, terms[k]) for k in range(0, len(terms) - 1, 2)]
                terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
                x = self.builder.fmul(x, x)
            return terms[0]

    def _data(context: Any, builder: Any, ty: Any, value: Any) -> Any:
        return context.make_array(ty)(context, builder, value).data

    def _row_loop(
        context: Any, builder: Any, signature: Any, args: Any, dot: bool, update: bool
    ) -> Any:
        """The loop over the columns of one row of each stream (see
        :func:`_dot_update_rows`): whole vectors, ``unroll`` at a time then one at a time,
        then the ``p % lanes`` last columns masked. Per column step, one load of ``w``
        serves every stream's dot, and one load and store of ``acc`` every stream's
        update. ``acc`` is padded to whole vectors, so its last vector is loaded and
        stored whole (masked stores are slow on AMD's cores); its padding gains
        ``d * 0``."""
        X_ty, i_ty, ip_ty, offsets_ty, theta_ty, off_ty, k_ty, d_ty, z_ty, acc_ty = signature.args
        X, i, ip, offsets, theta, off, k, d, z, acc = args
        b = builder
        v = _Vectors(context, b, X_ty.dtype)

        def index(value: Any, ty: Any) -> Any:
            return context.cast(b, value, ty, types.intp)

        i, ip, off, k = (index(a, t) for a, t in ((i, i_ty), (ip, ip_ty), (off, off_ty), (k, k_ty)))
        offsets = [index(o, offsets_ty.dtype) for o in cgutils.unpack_tuple(b, offsets)]
        p = cgutils.unpack_tuple(b, context.make_array(X_ty)(context, b, X).shape, 2)[1]
        g = cgutils.unpack_tuple(b, context.make_array(z_ty)(context, b, z).shape, 2)[1]
        base = _data(context, b, X_ty, X)
        rows = [b.gep(base, [b.mul(b.add(i, o), p)]) for o in offsets]
        prevs = [b.gep(base, [b.mul(b.add(ip, o), p)]) for o in offsets]
        w = b.gep(_data(context, b, theta_ty, theta), [off])
        a = _data(context, b, acc_ty, acc)
        slots = [b.add(b.mul(ir.Constant(p.type, s), g), k) for s in range(len(offsets))]
        d_data, z_data = _data(context, b, d_ty, d), _data(context, b, z_ty, z)
        ds = [v.splat(b.load(b.gep(d_data, [slot]))) for slot in slots] if update else []
        # accumulators: four chains of dots where the loop only reads, two where it
        # also updates (one stream); with four streams, the streams are the chains
        unroll = max(1, (2 if update else 4) // len(offsets))
        sums = [[cgutils.alloca_once_value(b, v.zero) for _ in range(unroll)] for _ in offsets]
        lanes = ir.Constant(p.type, v.lanes)

        def step(j: Any, u: int, load: Any) -> None:
            """Column step ``j`` (accumulators ``u``); ``load`` reads X and ``w``."""
            if dot:
                wj = load(w, j)
                for row, acc_s in zip(rows, sums, strict=True):
                    b.store(v.fma(load(row, j), wj, b.load(acc_s[u])), acc_s[u])
            if update:
                total = v.load(a, j)
                for prev, dk in zip(prevs, ds, strict=True):
                    total = v.fma(dk, load(prev, j), total)
                v.store(total, a, j)

        whole = b.sdiv(p, lanes)
        rounds = b.sdiv(whole, ir.Constant(p.type, unroll))
        with cgutils.for_range(b, rounds) as loop:
            first = b.mul(loop.index, ir.Constant(p.type, unroll * v.lanes))
            for u in range(unroll):
                step(b.add(first, ir.Constant(p.type, u * v.lanes)), u, v.load)
        done = b.mul(rounds, ir.Constant(p.type, unroll))
        with cgutils.for_range(b, b.sub(whole, done)) as loop:
            step(b.mul(b.add(done, loop.index), lanes), 0, v.load)
        j = b.mul(whole, lanes)
        rest = b.sub(p, j)
        with b.if_then(b.icmp_signed(">", rest, ir.Constant(p.type, 0))):
            mask = v.mask(rest)
            step(j, unroll - 1, lambda ptr, offset: v.masked_load(ptr, offset, mask))
        if dot:
            for slot, acc_s in zip(slots, sums, strict=True):
                total = b.load(acc_s[0])
                for s in acc_s[1:]:
                    total = b.fadd(total, b.load(s))
                b.store(v.hsum(total), b.gep(z_data, [slot]))
        return context.get_dummy_value()

    def _typed(arrays: Any, offsets: Any) -> bool:
        """``arrays`` (pairs of an array type and its dimensions) C-contiguous, of one
        float dtype; ``offsets`` a tuple of integers (one per stream)."""
        dtype = arrays[0][0].dtype if isinstance(arrays[0][0], types.Array) else None
        return (
            all(
                isinstance(a, types.Array)
                and a.ndim == ndim
                and a.layout == "C"
                and a.dtype == dtype
                for a, ndim in arrays
            )
            and isinstance(dtype, types.Float)
            and isinstance(offsets, types.UniTuple)
            and isinstance(offsets.dtype, types.Integer)
        )

    def _row_intrinsic(dot: bool, update: bool) -> Any:
        """A Numba intrinsic ``(X, i, ip, offsets, theta, off, k, d, z, acc)`` running
        :func:`_row_loop` with these parts, for one row of each stream ``s``: sets
        ``z[s, k] = X[i + offsets[s]] . theta[off:]`` where ``dot``, adds
        ``d[s, k] * X[ip + offsets[s]]`` to ``acc`` where ``update``."""

        def typer(
            typingctx: Any,
            X: Any,
            i: Any,
            ip: Any,
            offsets: Any,
            theta: Any,
            off: Any,
            k: Any,
            d: Any,
            z: Any,
            acc: Any,
        ) -> Any:
            if not _typed(((X, 2), (theta, 1), (d, 2), (z, 2), (acc, 1)), offsets):
                return None

            def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
                return _row_loop(context, builder, signature, args, dot=dot, update=update)

            return types.none(X, i, ip, offsets, theta, off, k, d, z, acc), codegen

        return intrinsic(typer)

    _dot_update_ir = _row_intrinsic(dot=True, update=True)
    _dot_ir = _row_intrinsic(dot=True, update=False)
    _update_ir = _row_intrinsic(dot=False, update=True)

    @overload(_dot_rows, inline="always")
    def _dot_rows_typed(X: Any, i: Any, offsets: Any, theta: Any, off: Any, z: Any, k: Any) -> Any:
        def impl(X: Any, i: Any, offsets: Any, theta: Any, off: Any, z: Any, k: Any) -> None:
            _dot_ir(X, i, i, offsets, theta, off, k, z, z, theta)

        return impl

    @overload(_dot_update_rows, inline="always")
    def _dot_update_rows_typed(
        X: Any,
        i: Any,
        ip: Any,
        offsets: Any,
        theta: Any,
        off: Any,
        d: Any,
        z: Any,
        k: Any,
        acc: Any,
    ) -> Any:
        def impl(
            X: Any,
            i: Any,
            ip: Any,
            offsets: Any,
            theta: Any,
            off: Any,
            d: Any,
            z: Any,
            k: Any,
            acc: Any,
        ) -> None:
            _dot_update_ir(X, i, ip, offsets, theta, off, k, d, z, acc)

        return impl

    @overload(_update_rows, inline="always")
    def _update_rows_typed(X: Any, ip: Any, offsets: Any, d: Any, k: Any, acc: Any) -> Any:
        def impl(X: Any, ip: Any, offsets: Any, d: Any, k: Any, acc: Any) -> None:
            _update_ir(X, ip, ip, offsets, acc, 0, k, d, d, acc)

        return impl

    # exp(-a) and log(1 + e) on vectors: the same reductions and polynomials as
    # _exp_neg_32/_64 and _log1p_unit_32/_64, evaluated by Estrin's scheme; exp's n is
    # rounded to the nearest (ties to even: nearest_pow2) where the scalar code takes
    # floor(x + 0.5), the same |r| <= ln2 / 2 but for ties
    def _taylor_exp(degree: int) -> list:
        """``1 / k!`` for ``k = degree .. 0`` (the highest power first)."""
        return [1.0 / math.factorial(k) for k in range(degree, -1, -1)]

    # bits: (cap of a, ln2 in two parts, coefficients)
    _EXP_NEG = {
        32: (87.0, 0.693359375, -2.12194440e-4, _taylor_exp(7)),
        64: (708.0, 6.93145751953125e-1, 1.42860682030941723212e-6, _taylor_exp(13)),
    }
    _LOG1P_TERMS = {32: 8, 64: 17}

    def _exp_neg_vector(v: _Vectors, a: Any) -> Any:
        b = v.builder
        cap, ln2_hi, ln2_lo, coefficients = _EXP_NEG[v.align * 8]
        x = b.fneg(b.select(b.fcmp_ordered(">", a, v.constant(cap)), v.constant(cap), a))
        n, scale = v.nearest_pow2(x, 1.4426950408889634)
        high, low = (v.exact(b.fmul(n, v.constant(c))) for c in (ln2_hi, ln2_lo))
        r = v.exact(b.fsub(v.exact(b.fsub(x, high)), low))
        e = b.fmul(v.polynomial(r, coefficients), scale)
        return b.select(b.fcmp_ordered("==", a, v.constant(math.inf)), v.zero, e)

    def _log1p_unit_vector(v: _Vectors, e: Any) -> Any:
        b = v.builder
        t = b.fdiv(e, b.fadd(v.constant(2.0), e))
        terms = _LOG1P_TERMS[v.align * 8]
        s = v.polynomial(b.fmul(t, t), [1.0 / (2 * k + 1) for k in range(terms - 1, -1, -1)])
        return b.fmul(b.fadd(t, t), s)

    def _losses_loop(context: Any, builder: Any, signature: Any, args: Any, logistic: bool) -> Any:
        """:func:`_group_losses` for one loss: a loop over the vectors of ``z``'s rows,
        the streams' vectors of a step joined into one wide vector, so that their
        independent chains of operations run side by side."""
        z_ty, y_ty, sw_ty, i_ty, offsets_ty, b_ty, weighted_ty = signature.args
        z, y, sw, i, offsets, bias, weighted = args
        b = builder
        offsets = cgutils.unpack_tuple(b, offsets)
        streams = len(offsets)
        base = _Vectors(context, b, z_ty.dtype)  # one stream's vector
        v = _Vectors(context, b, z_ty.dtype, times=streams)
        i = context.cast(b, i, i_ty, types.intp)
        starts = [b.add(i, context.cast(b, o, offsets_ty.dtype, types.intp)) for o in offsets]
        g = cgutils.unpack_tuple(b, context.make_array(z_ty)(context, b, z).shape, 2)[1]
        z_data = _data(context, b, z_ty, z)
        z_rows = [b.gep(z_data, [b.mul(ir.Constant(g.type, s), g)]) for s in range(streams)]
        y_rows = [b.gep(_data(context, b, y_ty, y), [start]) for start in starts]
        sw_rows = [b.gep(_data(context, b, sw_ty, sw), [start]) for start in starts]
        bias = v.splat(context.cast(b, bias, b_ty, z_ty.dtype))
        weighted = context.cast(b, weighted, weighted_ty, types.boolean)
        one, half = v.constant(1.0), v.constant(0.5)
        loss_sum = cgutils.alloca_once_value(b, v.zero)
        d_sum = cgutils.alloca_once_value(b, v.zero)
        lanes = ir.Constant(g.type, base.lanes)

        def load(rows: list, j: Any) -> Any:
            return v.join([base.load(row, j) for row in rows])

        with cgutils.for_range(b, b.sdiv(g, lanes)) as loop:
            j = b.mul(loop.index, lanes)
            zk = b.fadd(load(z_rows, j), bias)
            yk = load(y_rows, j)
            if logistic:
                a = v.fabs(zk)
                e = _exp_neg_vector(v, a)
                inv = b.fdiv(one, b.fadd(one, e))
                loss = b.fadd(b.fmul(half, zk), b.fmul(half, a))
                loss = b.fsub(b.fadd(loss, _log1p_unit_vector(v, e)), b.fmul(yk, zk))
                positive = b.fcmp_ordered(">=", zk, v.zero)
                d = b.fsub(b.select(positive, inv, b.fmul(e, inv)), yk)
            else:
                d = b.fsub(zk, yk)
                loss = b.fmul(b.fmul(half, d), d)
            s = b.select(weighted, load(sw_rows, j), one)  # loaded either way
            d = b.fmul(d, s)
            b.store(b.fadd(b.load(loss_sum), b.fmul(loss, s)), loss_sum)
            b.store(b.fadd(b.load(d_sum), d), d_sum)
            for part, row in zip(v.split(d, streams), z_rows, strict=True):
                base.store(part, row, j)
        sums = [v.hsum(b.load(loss_sum)), v.hsum(b.load(d_sum))]
        return context.make_tuple(b, signature.return_type, sums)

    def _losses_intrinsic(logistic: bool) -> Any:
        """A Numba intrinsic ``(z, y, sw, i, offsets, bias, weighted)`` running
        :func:`_losses_loop` for one loss."""

        def typer(
            typingctx: Any, z: Any, y: Any, sw: Any, i: Any, offsets: Any, bias: Any, weighted: Any
        ) -> Any:
            # a power of two of streams: their vectors joined pairwise (_Vectors.join)
            typed = _typed(((z, 2), (y, 1), (sw, 1)), offsets)
            if not typed or offsets.count & (offsets.count - 1):
                return None

            def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
                return _losses_loop(context, builder, signature, args, logistic=logistic)

            return types.UniTuple(z.dtype, 2)(z, y, sw, i, offsets, bias, weighted), codegen

        return intrinsic(typer)

    _logistic_losses_ir = _losses_intrinsic(logistic=True)
    _squared_losses_ir = _losses_intrinsic(logistic=False)

    @overload(_group_losses, inline="always")
    def _group_losses_typed(
        z: Any, y: Any, sw: Any, i: Any, offsets: Any, b: Any, weighted: Any, logistic: Any
    ) -> Any:
        def impl(
            z: Any, y: Any, sw: Any, i: Any, offsets: Any, b: Any, weighted: Any, logistic: Any
        ) -> Any:
            if logistic:
                return _logistic_losses_ir(z, y, sw, i, offsets, b, weighted)
            return _squared_losses_ir(z, y, sw, i, offsets, b, weighted)

        return impl


@_jit(inline="always", **_OPTIONS)
def _group_size(p: int, itemsize: int) -> int:
    """Rows per group and stream: a multiple of the vector's lanes, from one vector's
    lanes to 32 rows, at most :data:`_GROUP_BYTES` of X over the :data:`_STREAMS`
    streams where the rows allow (the groups being read and those being added to the
    gradient then fit in a 32 KiB L1 cache). Rows of more than 100 features make the
    groups larger than that (at 2000 float64 features, 4 rows a stream: 256 KB read
    and 256 KB being added): the updates then read their rows from L2, or from L3 past
    about 2000 float64 features (measured at 4000: 1.19x one read of X)."""
    lanes = _VECTOR_BYTES // itemsize
    rows = _GROUP_BYTES // (_STREAMS * p * itemsize)
    return min(max(rows - rows % lanes, lanes), 32)


@_jit(inline="always", **_OPTIONS)
def _stream_offsets(q: int) -> tuple:
    """The :data:`_STREAMS` streams' first rows, ``q`` apart (written out: Numba builds
    no tuple of a variable length; checked against :data:`_STREAMS` below)."""
    return (0, q, 2 * q, 3 * q)


assert len(getattr(_stream_offsets, "py_func", _stream_offsets)(1)) == _STREAMS


@_jit(inline="always", **_OPTIONS)
def _groups(
    X: Any,
    y: Any,
    sw: Any,
    theta: Any,
    flags: Any,
    i: int,
    count: int,
    offsets: Any,
    z: Any,
    d: Any,
    acc: Any,
) -> tuple[float, float]:
    """``count`` groups of ``g = z.shape[1]`` rows from row ``i`` on, in each stream
    ``s`` (the rows ``i + offsets[s] ...``), software-pipelined: each row's dot product
    runs in the same loop over the columns as the gradient update of the row one group
    earlier (:func:`_dot_update_rows`), whose ``d`` is known by then and which is still
    in L1; then each stream's group's losses (:func:`_group_losses`, vector code). Adds
    ``X^T d`` to ``acc``; returns the sums of the losses and of ``d``. ``z`` and ``d``
    (``(streams, g)``) are scratch."""
    weighted, intercept, logistic = flags
    off = 1 if intercept else 0
    b = theta[0] if intercept else X.dtype.type(0.0)
    g = z.shape[1]
    loss_sum = 0.0
    d_sum = 0.0
    for t in range(count):
        if t == 0:  # the first group: no group before it to add
            for k in range(g):
                _dot_rows(X, i + k, offsets, theta, off, z, k)
        else:
            for k in range(g):
                _dot_update_rows(X, i + k, i - g + k, offsets, theta, off, d, z, k, acc)
        group_loss, group_d = _group_losses(z, y, sw, i, offsets, b, weighted, logistic)
        loss_sum += group_loss
        d_sum += group_d
        z, d = d, z
        i += g
    if count > 0:  # the last group's updates
        for k in range(g):
            _update_rows(X, i - g + k, offsets, d, k, acc)
    return loss_sum, d_sum


@_jit(inline="always", **_OPTIONS)
def _chunk_sums(
    X: Any, y: Any, sw: Any, theta: Any, flags: Any, lo: int, hi: int, out: Any
) -> None:
    """``out[:] = [sum l, sum d, X^T d]`` over rows ``lo:hi`` (float64); ``flags`` is
    ``(weighted, intercept, logistic)``. Read as :data:`_STREAMS` streams: the chunk's
    quarters side by side, a row of each per loop over the columns, which share the
    loads of ``w`` and of the accumulator (:func:`_groups`); then the rows left over
    (fewer than four groups) as one stream, and the last ones (fewer than a group) one
    at a time."""
    weighted, intercept, logistic = flags
    p = X.shape[1]
    off = 1 if intercept else 0
    b = theta[0] if intercept else X.dtype.type(0.0)
    g = _group_size(p, X.itemsize)
    acc = np.zeros(p + _VECTOR_BYTES // X.itemsize, dtype=X.dtype)  # padded: whole vectors
    z = np.empty((_STREAMS, g), dtype=X.dtype)  # this group's x . w, then its d
    d = np.empty((_STREAMS, g), dtype=X.dtype)  # the group before's d
    q = (hi - lo) // (_STREAMS * g) * g  # each stream's rows: whole groups
    streams = _stream_offsets(q)
    loss_sum, d_sum = _groups(X, y, sw, theta, flags, lo, q // g, streams, z, d, acc)
    i = lo + _STREAMS * q
    count = (hi - i) // g
    z, d = z[:1], d[:1]  # one stream
    rest_loss, rest_d = _groups(X, y, sw, theta, flags, i, count, (0,), z, d, acc)
    loss_sum += rest_loss
    d_sum += rest_d
    i += count * g
    m = hi - i
    if m > 0:  # the last rows, fewer than a group: one at a time
        for k in range(m):
            _dot_rows(X, i + k, (0,), theta, off, z, k)
        rest_loss, rest_d = _tile_losses(z[0], y, sw, i, m, b, weighted, logistic)
        loss_sum += rest_loss
        d_sum += rest_d
        for k in range(m):
            _update_rows(X, i + k, (0,), z, k, acc)
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
    """The sum of X's entries, each chunk read as the kernel reads it: its quarters side
    by side, a row of each per loop over the columns (then its last rows)."""
    n, p = X.shape
    chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    out = np.zeros(chunks)
    for c in prange(chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        q = (hi - lo) // 4
        s0 = s1 = s2 = s3 = X.dtype.type(0.0)
        for i in range(lo, lo + q):
            r0, r1, r2, r3 = X[i], X[i + q], X[i + 2 * q], X[i + 3 * q]
            for j in range(p):
                s0 += r0[j]
                s1 += r1[j]
                s2 += r2[j]
                s3 += r3[j]
        for i in range(lo + 4 * q, hi):
            row = X[i]
            for j in range(p):
                s0 += row[j]
        out[c] = (s0 + s1) + (s2 + s3)
    total = 0.0
    for c in range(chunks):  # in chunk order (out.sum() would be a parallel reduction)
        total += out[c]
    return total


def read_once(X: Any) -> float:
    """The sum of X's entries, in one read of X on every core (the kernel's chunks,
    threads and streams, nothing else to compute): the benchmarks' floor beside BLAS's
    ``X @ v``, which reads float64 X about 1.3x slower here. Four streams a core read
    as fast as two, and faster than one (1.05-1.1x on both cores, 1.2-1.3x on one
    core: ``benchmarks/RESULTS.md``). In a forked child, NumPy's sum (a parallel kernel
    would abort it, see :class:`FusedTerms`)."""
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
        expected = (X.shape[1] + self.fit_intercept,)
        if theta.shape != expected:  # the kernel reads theta unchecked
            raise ValueError(
                f"theta has shape {theta.shape}; these data need {expected} "
                f"({X.shape[1]} features{' and an intercept' if self.fit_intercept else ''})"
            )
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
