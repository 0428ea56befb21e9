"""Where a GPU fit spends its time: one LogisticRegression / LinearRegression fit on
synthetic data on CuPy, after a warm-up fit (CuPy compiles kernels on first use), under
cProfile. Host functions that wait for the device (synchronisations) carry the device
time of the kernels queued before them.

    python benchmarks/gpu_profile.py --rows 10000000 --features 100 --dtype float32
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import cupy

import xpgd
from xpgd.bench import make_ar1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    X, y_class, y_real = make_ar1(args.rows, args.features, dtype=args.dtype, backend="cupy")
    alpha = 1.0 / args.rows
    for cls, y in ((xpgd.LogisticRegression, y_class), (xpgd.LinearRegression, y_real)):
        model = cls(alpha=alpha, penalty="l2", tol=1e-5)
        for label in ("first fit (compiles kernels)", "second fit"):
            start = time.perf_counter()
            model.fit(X, y)
            cupy.cuda.get_current_stream().synchronize()
            print(
                f"{cls.__name__} {label}: {time.perf_counter() - start:.3f} s, "
                f"{model.n_iter_} iterations ({model.solver_})"
            )
        profile = cProfile.Profile()
        profile.enable()
        model.fit(X, y)
        cupy.cuda.get_current_stream().synchronize()
        profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(args.top)
        print(text.getvalue())


if __name__ == "__main__":
    main()
