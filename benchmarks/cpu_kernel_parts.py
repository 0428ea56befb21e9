"""Where the compiled CPU kernel's time goes beyond one read of X: stripped-down Numba
loops in the kernel's own layout (chunks of ``CHUNK_ROWS`` rows over the cores, rows four
at a time), each against the floor (``X @ v``), medians of interleaved rounds.

* ``dot``: ``z = X w`` only (four rows, four accumulators);
* ``update``: ``acc += X^T d`` only (``d`` taken from the row itself);
* ``dot+update``: both for the same four rows, as the kernel's float32 path does;
* ``tile16``: the dots of 16 rows, then their updates (the float64 path's order);
* ``kernel squared`` / ``kernel logistic``: ``xpgd._numba`` itself.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cpu_kernel_parts.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from numba import njit, prange

from xpgd._numba import CHUNK_ROWS, fused_terms
from xpgd.bench import make_ar1

_FM = {"reassoc", "contract"}


@njit(fastmath=_FM, inline="always")
def _dot(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    zero = X.dtype.type(0)
    total = 0.0
    for i in range(lo, hi - 3, 4):
        r0, r1, r2, r3 = X[i], X[i + 1], X[i + 2], X[i + 3]
        s0 = s1 = s2 = s3 = zero
        for j in range(X.shape[1]):
            s0 += r0[j] * w[j]
            s1 += r1[j] * w[j]
            s2 += r2[j] * w[j]
            s3 += r3[j] * w[j]
        total += (s0 + s1) + (s2 + s3)
    return total


@njit(fastmath=_FM, inline="always")
def _update(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    for i in range(lo, hi - 3, 4):
        r0, r1, r2, r3 = X[i], X[i + 1], X[i + 2], X[i + 3]
        d0, d1, d2, d3 = r0[0], r1[0], r2[0], r3[0]
        for j in range(X.shape[1]):
            acc[j] += d0 * r0[j] + d1 * r1[j] + d2 * r2[j] + d3 * r3[j]
    return acc[0]


@njit(fastmath=_FM, inline="always")
def _dot_update(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    zero = X.dtype.type(0)
    total = 0.0
    for i in range(lo, hi - 3, 4):
        r0, r1, r2, r3 = X[i], X[i + 1], X[i + 2], X[i + 3]
        s0 = s1 = s2 = s3 = zero
        for j in range(X.shape[1]):
            s0 += r0[j] * w[j]
            s1 += r1[j] * w[j]
            s2 += r2[j] * w[j]
            s3 += r3[j] * w[j]
        total += (s0 + s1) + (s2 + s3)
        for j in range(X.shape[1]):
            acc[j] += s0 * r0[j] + s1 * r1[j] + s2 * r2[j] + s3 * r3[j]
    return total


@njit(fastmath=_FM, inline="always")
def _tile16(X: Any, lo: int, hi: int, w: Any, acc: Any) -> float:
    zero = X.dtype.type(0)
    total = 0.0
    tile = np.empty(16, dtype=X.dtype)
    for i in range(lo, hi - 15, 16):
        for q in range(0, 16, 4):
            r0, r1, r2, r3 = X[i + q], X[i + q + 1], X[i + q + 2], X[i + q + 3]
            s0 = s1 = s2 = s3 = zero
            for j in range(X.shape[1]):
                s0 += r0[j] * w[j]
                s1 += r1[j] * w[j]
                s2 += r2[j] * w[j]
                s3 += r3[j] * w[j]
            tile[q], tile[q + 1], tile[q + 2], tile[q + 3] = s0, s1, s2, s3
        for q in range(0, 16, 4):
            r0, r1, r2, r3 = X[i + q], X[i + q + 1], X[i + q + 2], X[i + q + 3]
            d0, d1, d2, d3 = tile[q], tile[q + 1], tile[q + 2], tile[q + 3]
            for j in range(X.shape[1]):
                acc[j] += d0 * r0[j] + d1 * r1[j] + d2 * r2[j] + d3 * r3[j]
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


def _median(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    parts = {
        "dot": _over_chunks(_dot),
        "update": _over_chunks(_update),
        "dot+update": _over_chunks(_dot_update),
        "tile16": _over_chunks(_tile16),
    }
    print(f"{args.rows} x {args.features}; ratio to one read of X (X @ v), median of rounds")
    for dtype in ("float32", "float64"):
        ratios = _measure(dtype, parts, args)
        cells = "  ".join(f"{k} {statistics.median(v):.2f}x" for k, v in ratios.items())
        print(f"{dtype}: {cells}")


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
        floor = _median(lambda: X @ w, args.repeat)
        for name, fn in runs.items():
            ratios[name].append(_median(fn, args.repeat) / floor)
    return ratios


if __name__ == "__main__":
    main()
