"""Where the compiled CPU kernel's time goes beyond one read of X: stripped-down Numba
loops in the kernel's former layout (chunks of ``CHUNK_ROWS`` rows over the cores, rows
four at a time), each against the floor (``cpu_kernel.floor``: the faster of ``X @ v`` and a
compiled sum), medians of interleaved rounds.

* ``dot``: ``z = X w`` only (four rows, four accumulators);
* ``update``: ``acc += X^T d`` only (``d`` taken from the row itself);
* ``dot+update``: both for the same four rows (the float32 kernel's order until
  2026-11-27);
* ``tile16``: the dots of 16 rows, then their updates (the kernel's order until it was
  software-pipelined, with tiles of 32 rows and the tile's loss in between; it now
  fuses each row's dot with the update of the row a group earlier, in four streams of
  rows a chunk);
* ``kernel squared`` / ``kernel logistic``: ``xpgd._numba`` itself.

Then the kernel's cost with X in cache (512 rows, one thread): nanoseconds of compute
per row, beside the floor's nanoseconds per row and core (X's rows over the kernel's
threads). A kernel whose compute were fully hidden behind the read would run at the
floor; the difference between the two columns is what the memory stream cannot hide.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cpu_kernel_parts.py
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numba
import numpy as np
from cpu_kernel import _median, floor, size_arguments  # this directory, as these scripts run
from numba import njit, prange

from xpgd._numba import CHUNK_ROWS, _chunk_sums, fused_terms
from xpgd.bench import make_ar1

_FM = {"reassoc", "contract"}
LOSSES = ("squared", "logistic")


@njit(fastmath=_FM, inline="always")
def _dot4(X: Any, i: int, w: Any) -> tuple:
    """``x . w`` for rows ``i .. i+3``, four accumulators (the kernel's float32 loop)."""
    r0, r1, r2, r3 = X[i], X[i + 1], X[i + 2], X[i + 3]
    s0 = s1 = s2 = s3 = X.dtype.type(0)
    for j in range(X.shape[1]):
        s0 += r0[j] * w[j]
        s1 += r1[j] * w[j]
        s2 += r2[j] * w[j]
        s3 += r3[j] * w[j]
    return s0, s1, s2, s3


@njit(fastmath=_FM, inline="always")
def _update4(X: Any, i: int, d0: Any, d1: Any, d2: Any, d3: Any, acc: Any) -> None:
    """``acc += X[i:i+4]^T d``: the accumulator loaded and stored once for four rows."""
    r0, r1, r2, r3 = X[i], X[i + 1], X[i + 2], X[i + 3]
    for j in range(X.shape[1]):
        acc[j] += d0 * r0[j] + d1 * r1[j] + d2 * r2[j] + d3 * r3[j]


@njit(fastmath=_FM, inline="always")
def _dot(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    total = 0.0
    for i in range(lo, hi - 3, 4):
        s0, s1, s2, s3 = _dot4(X, i, w)
        total += (s0 + s1) + (s2 + s3)
    return total


@njit(fastmath=_FM, inline="always")
def _update(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    for i in range(lo, hi - 3, 4):
        _update4(X, i, X[i, 0], X[i + 1, 0], X[i + 2, 0], X[i + 3, 0], acc)
    return acc[0]


@njit(fastmath=_FM, inline="always")
def _dot_update(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    total = 0.0
    for i in range(lo, hi - 3, 4):
        s0, s1, s2, s3 = _dot4(X, i, w)
        total += (s0 + s1) + (s2 + s3)
        _update4(X, i, s0, s1, s2, s3, acc)
    return total


@njit(fastmath=_FM, inline="always")
def _tile16(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    total = 0.0
    tile = np.empty(16, dtype=X.dtype)
    for i in range(lo, hi - 15, 16):
        for q in range(0, 16, 4):
            tile[q], tile[q + 1], tile[q + 2], tile[q + 3] = _dot4(X, i + q, w)
        for q in range(0, 16, 4):
            _update4(X, i + q, tile[q], tile[q + 1], tile[q + 2], tile[q + 3], acc)
        total += tile.sum()
    return total


def _over_chunks(part: Any) -> Any:
    @njit(parallel=True, fastmath=_FM)
    def run(X: Any, w: Any) -> float:
        n, p = X.shape
        chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
        out = np.zeros(chunks)
        for c in prange(chunks):
            acc = np.zeros(p, dtype=X.dtype)
            out[c] = part(X, c * CHUNK_ROWS, min(n, (c + 1) * CHUNK_ROWS), w, acc)
        return out.sum()

    return run


@njit(fastmath=_FM, error_model="numpy")
def _repeat_chunk(X: Any, y: Any, theta: Any, flags: Any, out: Any, repeat: int) -> None:
    for _ in range(repeat):
        _chunk_sums(X, y, y, theta, flags, 0, X.shape[0], out)


def _hot_ns_per_row(dtype: str, loss: str, features: int, rows: int = 512) -> float:
    """The kernel's per-chunk loop over ``rows`` rows that stay in L2, one thread."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, features)).astype(dtype)
    y = (X[:, 0] > 0).astype(dtype) if loss == "logistic" else X[:, 1].copy()
    theta = np.full(features + 1, 0.01, dtype=dtype)
    out = np.zeros(features + 2)
    flags = (False, True, loss == "logistic")
    repeat = 2_000_000 // rows
    _repeat_chunk(X, y, theta, flags, out, 1)  # compiled
    seconds = _median(lambda: _repeat_chunk(X, y, theta, flags, out, repeat), 7)
    return seconds / (repeat * rows) * 1e9


def main() -> None:
    parser = size_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    args = parser.parse_args()
    parts = {
        "dot": _over_chunks(_dot),
        "update": _over_chunks(_update),
        "dot+update": _over_chunks(_dot_update),
        "tile16": _over_chunks(_tile16),
    }
    print(f"{args.rows} x {args.features}; ratio to one read of X (floor()), median of rounds")
    for dtype in ("float32", "float64"):
        ratios = _measure(dtype, parts, args)
        cells = "  ".join(f"{k} {statistics.median(v):.2f}x" for k, v in ratios.items())
        print(f"{dtype}: {cells}")
    print("in cache (512 rows, one thread), ns per row; the floor per row and core beside")
    for dtype in ("float32", "float64"):
        X, _, _ = make_ar1(args.rows, args.features, dtype=dtype)
        seconds = statistics.median(floor(X, args.repeat) for _ in range(3))
        per_core = seconds / (args.rows / numba.get_num_threads()) * 1e9  # the kernel's cores
        hot = {loss: _hot_ns_per_row(dtype, loss, args.features) for loss in LOSSES}
        cells = "  ".join(f"kernel {k} {v:.1f}" for k, v in hot.items())
        print(f"{dtype}: {cells}  floor {per_core:.1f} ns per row and core")


def _measure(dtype: str, parts: dict[str, Any], args: argparse.Namespace) -> dict[str, list]:
    X, y_class, y_real = make_ar1(args.rows, args.features, dtype=dtype)
    w = np.full(args.features, 0.01, dtype=dtype)
    theta = np.full(args.features + 1, 0.01, dtype=dtype)
    runs = {name: (lambda f=f: f(X, w)) for name, f in parts.items()}
    for loss, y in (("squared", y_real), ("logistic", y_class)):
        kernel = fused_terms(X, y, None, loss, True)
        runs[f"kernel {loss}"] = lambda k=kernel: k(theta)
    for fn in runs.values():
        fn()  # compiled before timing
    ratios: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        seconds = floor(X, args.repeat)
        for name, fn in runs.items():
            ratios[name].append(_median(fn, args.repeat) / seconds)
    return ratios


if __name__ == "__main__":
    main()
