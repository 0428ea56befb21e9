"""The compiled CPU kernel against the floor, in several interleaved rounds: one
loss-and-gradient evaluation (``xpgd/_numba.py``) and one read of X (``X @ v``), timed
alternately, median of ``--repeat`` each per round, so that a noisy neighbour shows as
spread between rounds rather than as a biased ratio.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cpu_kernel.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from xpgd._core.losses import get_loss
from xpgd._numba import fused_terms
from xpgd.bench import make_ar1


def _median(fn, repeat: int) -> float:
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
    print(f"{args.rows} x {args.features}; ratio = kernel / one read of X (X @ v), per round")
    for dtype in ("float64", "float32"):
        X, y_class, y_real = make_ar1(args.rows, args.features, dtype=dtype)
        v = np.ones(args.features, dtype=dtype)
        theta = np.full(args.features + 1, 0.01, dtype=dtype)
        for loss, y in (("squared", y_real), ("logistic", y_class)):
            kernel = fused_terms(X, y, None, get_loss(loss).name, True)
            kernel(theta)  # compiled (or loaded from Numba's cache) before timing
            ratios = []
            for _ in range(args.rounds):
                floor = _median(lambda X=X, v=v: X @ v, args.repeat)
                ours = _median(lambda k=kernel, t=theta: k(t), args.repeat)
                ratios.append(ours / floor)
            spread = " ".join(f"{r:.2f}" for r in ratios)
            print(f"{dtype} {loss:8s} median {statistics.median(ratios):.2f}x  rounds: {spread}")


if __name__ == "__main__":
    main()
