"""A NumPy fit with BLAS's threads left alone, against the same fit with BLAS held at one
thread during the optimisation loop (what ``fit`` does since 2026-11-27:
``xpgd._backend.own_threads_blas_limit``), side by side in one process.

Why: the loop's own small products (L-BFGS's ``memory x n_params`` matrices, 50 x 201 at
200 features) cross OpenBLAS's threading threshold; OpenBLAS's threads then spin for about
0.1 s after each product, on the cores the next evaluation needs, and slow it down
(the compiled kernel and the blocked BLAS path alike run on every core).

For each size and path (the compiled kernel; the plain blocked-BLAS path with
``XPGD_FUSED_KERNELS=0``; a Dask array of 4 row chunks on Dask's threaded scheduler,
each chunk through the kernel on a Dask thread): the median time of ``--repeat`` logistic
lbfgs fits, and the median of the evaluations inside them (eager paths), for both
settings, alternating; the ratio "left alone / limited". Fits are the same (same
iterations, same objective).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/blas_threads.py
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import time
from typing import Any

from xpgd._backend import FUSED_ENV_VAR
from xpgd._core import objective as objective_module
from xpgd._core import solver
from xpgd.bench import make_ar1
from xpgd.linear_model import LogisticRegression


def _timed_fit(X: Any, y: Any, limit: bool) -> tuple[float, float, int]:
    """(fit seconds, median evaluation seconds, iterations) of one lbfgs fit."""
    evaluations: list[float] = []
    evaluate = objective_module.LinearObjective.value_and_grad

    def timed(self: Any, theta: Any) -> Any:
        start = time.perf_counter()
        out = evaluate(self, theta)
        evaluations.append(time.perf_counter() - start)
        return out

    shipped = solver.own_threads_blas_limit
    if not limit:
        solver.own_threads_blas_limit = lambda objective: contextlib.nullcontext()
    objective_module.LinearObjective.value_and_grad = timed
    try:
        start = time.perf_counter()
        est = LogisticRegression(solver="lbfgs").fit(X, y)
        seconds = time.perf_counter() - start
    finally:
        solver.own_threads_blas_limit = shipped
        objective_module.LinearObjective.value_and_grad = evaluate
    return seconds, statistics.median(evaluations) if evaluations else math.nan, est.n_iter_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"logistic lbfgs fits, {args.rows} rows; medians of {args.repeat} fits each")
    print(
        "dtype    features path    | fit s: alone  limited  ratio | evaluation ms: alone "
        "limited  ratio | iterations"
    )
    for dtype in ("float32", "float64"):
        for p in args.features:
            X, y, _ = make_ar1(args.rows, p, dtype=dtype)
            for path, fused in (("kernel", "1"), ("plain", "0"), ("dask", "1")):
                os.environ[FUSED_ENV_VAR] = fused
                if path == "dask":
                    import dask
                    import dask.array as da

                    dask.config.set(scheduler="threads")
                    rows = -(-args.rows // 4)
                    X, y = da.from_array(X, chunks=(rows, p)), da.from_array(y, chunks=rows)
                _timed_fit(X, y, True)  # compiled, warm
                runs: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
                for _ in range(args.repeat):
                    for limit in (False, True):
                        time.sleep(0.3)  # BLAS's threads of the last fit asleep again
                        runs[limit].append(_timed_fit(X, y, limit))
                fit = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
                ev = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
                iters = {r[2] for v in runs.values() for r in v}
                print(
                    f"{dtype:8s} {p:8d} {path:7s} | {fit[False]:12.2f} {fit[True]:8.2f} "
                    f"{fit[False] / fit[True]:6.2f} | {ev[False] * 1e3:20.1f} "
                    f"{ev[True] * 1e3:7.1f} {ev[False] / ev[True]:6.2f} | "
                    f"{','.join(map(str, sorted(iters)))}",
                    flush=True,
                )
    os.environ.pop(FUSED_ENV_VAR, None)


if __name__ == "__main__":
    main()
