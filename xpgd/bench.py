"""``xpgd bench``: our speed against the memory-bandwidth floor and against peers, measured
side by side in one run, on synthetic data generated on the chosen backend.

Prints ratios (medians of repeated timings; this machine is shared and noisy):

* the floor: one read of X on the CPU, the faster of ``X @ v`` (BLAS) and, with Numba, a
  compiled sum of X over every core (:func:`xpgd._numba.read_once`); on a GPU, the
  measured device-to-device copy bandwidth;
* ours per iteration: one loss-and-gradient evaluation of each loss, as ``fit`` runs it
  (on a GPU also the plain two-pass path that the fused kernel replaces);
* ours to the optimum: ``LogisticRegression`` / ``LinearRegression`` fits, with the final
  objective next to the peer's on the same objective;
* peak memory of ``fit`` beyond X itself (NumPy allocations via tracemalloc; on a GPU,
  the growth of CuPy's memory pool, which keeps every block a fit held at once);
* peers on the same data: on the CPU, scikit-learn LogisticRegression (lbfgs),
  SGDClassifier, LinearRegression, Ridge, and a NumPy normal-equations solve; on a GPU,
  scikit-learn's array-API estimators (LogisticRegression lbfgs, LinearRegression, Ridge)
  on the same CuPy arrays (``SCIPY_ARRAY_API=1`` must be set before SciPy is imported).

It never asserts a time. Data: AR(1)-correlated columns (``rho``), seeded.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import xpgd
from xpgd._backend import (
    _numba_kernels,
    namespace,
    own_threads_blas_limit,
    resolve_choice,
    to_numpy,
    use_fast_paths,
)
from xpgd._core.losses import get_loss
from xpgd._core.objective import LinearObjective
from xpgd.datasets import ar1_columns

__all__ = ["main", "make_ar1"]

#: Rows of the warm-up fit before each timed CPU fit.
WARM_UP_ROWS = 4096


def make_ar1(
    n: int,
    p: int,
    *,
    rho: float = 0.9,
    seed: int = 0,
    dtype: str = "float64",
    backend: str = "numpy",
    device: Any = None,
) -> tuple[Any, Any, Any]:
    """Seeded AR(1) columns ``x_j = rho x_{j-1} + sqrt(1 - rho^2) e_j`` generated on the
    backend in place (no second n x p buffer), with a logistic and a linear target.

    Returns ``(X, y_class, y_real)`` on that backend.
    """
    if backend == "cupy":
        import cupy

        with device if device is not None else cupy.cuda.Device():
            rng = cupy.random.default_rng(seed)
            X = rng.standard_normal((n, p), dtype=dtype)
            w = cupy.asarray(np.random.default_rng(seed + 1).normal(size=p), dtype=dtype)
            noise = rng.standard_normal(n, dtype=dtype)
    else:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, p), dtype=dtype)
        w = np.random.default_rng(seed + 1).normal(size=p).astype(dtype)
        noise = rng.standard_normal(n, dtype=dtype)
    ar1_columns(X, rho)  # in place, on the device
    z = X @ w
    y_real = z + noise
    y_class = (z + noise > 0).astype(dtype)
    return X, y_class, y_real


#: Seconds of rest before each block of timings: OpenBLAS's threads spin for about 0.1 s
#: after a threaded call, on the cores the next block needs (measured: the first calls
#: of the compiled kernel after a block of ``X @ v`` took twice as long).
SETTLE_SECONDS = 0.3


def _median_time(fn: Callable[[], Any], repeat: int, sync: Callable[[Any], Any]) -> float:
    time.sleep(SETTLE_SECONDS)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_extra_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def _peak_extra_device_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    import cupy

    pool = cupy.get_default_memory_pool()
    cupy.cuda.get_current_stream().synchronize()
    pool.free_all_blocks()  # the pool now holds only live arrays (X, y, ...)
    before = pool.total_bytes()
    result = fn()
    cupy.cuda.get_current_stream().synchronize()
    return pool.total_bytes() - before, result


def _objective_value(
    loss: str, X: np.ndarray, y: np.ndarray, coef: np.ndarray, b: float, alpha: float
) -> float:
    z = X @ coef + b
    if loss == "logistic":
        data = float(np.mean(np.logaddexp(0.0, z) - y * z))
    else:
        data = float(np.mean(0.5 * (z - y) ** 2))
    return data + 0.5 * alpha * float(coef @ coef)


def run(args: argparse.Namespace) -> None:
    choice = resolve_choice(args.backend, args.device)
    name = "numpy" if choice.name == "auto" else choice.name
    if name not in ("numpy", "cupy"):
        raise xpgd.InputError("xpgd bench runs on numpy (CPU) or cupy (GPU)")
    xp = namespace(name)
    if name == "cupy":
        import cupy

        def sync(value: Any) -> Any:
            cupy.cuda.get_current_stream().synchronize()
            return value
    else:

        def sync(value: Any) -> Any:
            return value

    n, p, dtype = args.rows, args.features, args.dtype
    print(
        f"xpgd bench: {n} x {p} {dtype}, AR(1) rho={args.rho}, backend {name}, "
        f"median of {args.repeat}"
    )
    X, y_class, y_real = make_ar1(
        n, p, rho=args.rho, dtype=dtype, backend=name, device=choice.device
    )
    gb = X.nbytes / 1e9
    v = xp.ones(p, dtype=X.dtype)
    rows = []

    # The floor.
    if name == "cupy":
        # A device-to-device memcpy of X into a buffer allocated beforehand (no allocation
        # timed): the copy engine's best, the bandwidth the hardware gives.
        out = cupy.empty_like(X)
        copy = _median_time(
            lambda: out.data.copy_from_device_async(X.data, X.nbytes), args.repeat, sync
        )
        del out
        floor = copy / 2  # a copy reads and writes X: half of it is the time to read X
        rows.append(("floor: device copy bandwidth", copy, f"{2 * gb / copy:.0f} GB/s r+w"))
    else:
        # Two reads of X; the faster is the floor. BLAS's matrix-vector product reads
        # float64 X about 1.3x slower here than a plain compiled sum over every core.
        floor = _median_time(lambda: X @ v, args.repeat, sync)
        rows.append(("floor: one read of X (X @ v)", floor, f"{gb / floor:.1f} GB/s"))
        kernels = _numba_kernels()
        if kernels is not None:
            kernels.read_once(X)  # compiled (or loaded from Numba's cache) before timing
            read = _median_time(lambda: kernels.read_once(X), args.repeat, sync)
            label = "floor: one read of X (compiled sum, every core)"
            rows.append((label, read, f"{gb / read:.1f} GB/s"))
            floor = min(floor, read)

    # Ours, per iteration, as fit runs it.
    for loss, y in (("squared", y_real), ("logistic", y_class)):
        objective = LinearObjective(X, y, get_loss(loss), alpha=1e-4, standardize=True, xp=xp)
        use_fast_paths(objective)
        theta = xp.full(p + 1, 0.01, dtype=X.dtype)
        paths = [("ours", objective.fused_terms)]
        if objective.fused_terms is not None:  # the plain path it replaces, for the record
            paths.append(("plain path (X @ w, then X.T @ d)", None))  # blocked on the CPU
        for label, fused in paths:
            objective.fused_terms = fused
            with own_threads_blas_limit(objective):  # BLAS's threads as in fit's loop
                t = _median_time(
                    lambda o=objective, th=theta: o.value_and_grad(th), args.repeat, sync
                )
            share = f", {floor / t:.0%} of the copy bandwidth" if name == "cupy" else ""
            rows.append(
                (
                    f"{label}: one {loss} iteration",
                    t,
                    f"{t / floor:.2f}x floor, {gb / t:.1f} GB/s effective{share}",
                )
            )

    # Ours to the optimum, with peak memory; then the peers.
    alpha = 1.0 / n
    fits = {}
    for label, cls, y in (
        ("LogisticRegression", xpgd.LogisticRegression, y_class),
        ("LinearRegression", xpgd.LinearRegression, y_real),
    ):
        model = cls(alpha=alpha, penalty="l2", tol=args.tol, max_iter=args.max_iter)
        # A fit first: CuPy compiles each kernel on first use, and some of them per size
        # (seconds in all): that is not the time a fit takes, so on a GPU the whole first
        # fit is a warm-up (its time is shown); on the CPU a fit of a few rows is enough.
        start = time.perf_counter()
        if name == "cupy":
            sync(model.fit(X, y))
            rows.append(
                (f"ours: first {label} fit (compiles kernels)", time.perf_counter() - start, "")
            )
        else:
            model.fit(X[:WARM_UP_ROWS], y[:WARM_UP_ROWS])
        start = time.perf_counter()
        sync(model.fit(X, y))
        seconds = time.perf_counter() - start
        # Memory in a second fit: tracemalloc's hooks would slow the timed one.
        measure = _peak_extra_bytes if name == "numpy" else _peak_extra_device_bytes
        peak, _ = measure(lambda m=model, y=y: m.fit(X, y))
        value = float(to_numpy(model.loss_history_)[-1])  # the same objective as the peers'
        fits[label] = (seconds, value)
        memory = f", peak extra memory {peak / X.nbytes:.1%} of X"
        rows.append(
            (
                f"ours: {label} fit ({model.solver_}, {model.n_iter_} it.)",
                seconds,
                f"objective {value:.10g}{memory}",
            )
        )
    if args.peers and name == "cupy":
        # scikit-learn's array-API mode needs SciPy's, which is read when SciPy is imported
        # (nothing above imports it).
        if "scipy" not in sys.modules:
            os.environ.setdefault("SCIPY_ARRAY_API", "1")
        rows.extend(_gpu_peers(X, y_class, y_real, alpha, fits, sync))
    elif args.peers:
        rows.extend(_peers(X, y_class, y_real, alpha, fits, args))
    width = max(len(r[0]) for r in rows)
    print(f"{'what':{width}s} {'seconds':>10s}  ratio / note")
    for label, seconds, note in rows:
        print(f"{label:{width}s} {seconds:10.4f}  {note}")


def _normal_equations_peer(
    label: str,
    X: Any,
    host_X: np.ndarray,
    y_real: Any,
    alpha: float,
    fits: dict[str, tuple[float, float]],
    xp: Any,
    sync: Callable[[Any], Any],
) -> tuple:
    """The textbook least-squares solve on ``X``'s own library (NumPy, or CuPy on the
    GPU): the Gram matrix, centred through the column means (intercept unpenalised), and
    one dense solve; timed on its second run (a GPU compiles and loads on the first). The
    means are a product with a vector of ones: as fast as ``X.mean(axis=0)`` on NumPy,
    while CuPy's axis-0 sums of a tall matrix read it at about 30 GB/s (on an H200)."""
    n = X.shape[0]

    def solve() -> tuple[Any, Any]:
        A = X.T @ X
        rhs = X.T @ y_real
        mean = (xp.ones(n, dtype=X.dtype) @ X) / n
        G = A / n - xp.outer(mean, mean) + alpha * xp.eye(X.shape[1], dtype=A.dtype)
        return sync((xp.linalg.solve(G, rhs / n - mean * y_real.mean()), mean))

    solve()
    start = time.perf_counter()
    coef, mean = solve()
    seconds = time.perf_counter() - start
    coef, mean = to_numpy(coef).astype(np.float64), to_numpy(mean).astype(np.float64)
    y_host = to_numpy(y_real)
    value = _objective_value(
        "squared", host_X, y_host, coef, float(y_host.mean() - mean @ coef), alpha
    )
    ours = fits["LinearRegression"][0]
    return (
        f"peer: {label} normal equations",
        seconds,
        f"ours / peer {ours / seconds:.2f}, objective {value:.10g}",
    )


def _peers(
    X: np.ndarray,
    y_class: np.ndarray,
    y_real: np.ndarray,
    alpha: float,
    fits: dict[str, tuple[float, float]],
    args: argparse.Namespace,
) -> list[tuple]:
    n = X.shape[0]
    rows = [_normal_equations_peer("NumPy", X, X, y_real, alpha, fits, np, lambda v: v)]
    try:
        from sklearn import linear_model as skl
    except ImportError:
        return [*rows, ("peers: scikit-learn not installed", float("nan"), "")]
    peers = [
        (
            "scikit-learn LogisticRegression lbfgs",
            "LogisticRegression",
            "logistic",
            lambda: skl.LogisticRegression(C=1.0 / (n * alpha), max_iter=1000),
            y_class,
        ),
        (
            "scikit-learn SGDClassifier",
            "LogisticRegression",
            "logistic",
            lambda: skl.SGDClassifier(loss="log_loss", alpha=alpha, random_state=0),
            y_class,
        ),
        (
            "scikit-learn LinearRegression",
            "LinearRegression",
            "squared",
            skl.LinearRegression,
            y_real,
        ),
        (
            "scikit-learn Ridge",
            "LinearRegression",
            "squared",
            lambda: skl.Ridge(alpha=alpha * n),
            y_real,
        ),
    ]
    for label, ours_key, loss, make, y in peers:
        model = make()
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        coef = np.ravel(model.coef_).astype(np.float64)
        value = _objective_value(loss, X, y, coef, float(np.ravel(model.intercept_)[0]), alpha)
        rows.append(
            (
                f"peer: {label}",
                seconds,
                f"ours / peer {fits[ours_key][0] / seconds:.2f}, objective {value:.10g}",
            )
        )
    return rows


def _gpu_peers(
    X: Any,
    y_class: Any,
    y_real: Any,
    alpha: float,
    fits: dict[str, tuple[float, float]],
    sync: Callable[[Any], Any],
) -> list[tuple]:
    """The CuPy normal equations, and scikit-learn's array-API estimators on the same
    CuPy arrays (its GPU path)."""
    import cupy

    host_X = to_numpy(X)  # the objective of each peer's answer is scored on the host
    rows = [_normal_equations_peer("CuPy", X, host_X, y_real, alpha, fits, cupy, sync)]
    try:
        import sklearn
        from sklearn import linear_model as skl
    except ImportError:
        return [*rows, ("peers: scikit-learn not installed", float("nan"), "")]
    n = X.shape[0]
    peers = [
        (
            "scikit-learn LogisticRegression lbfgs (array API, CuPy)",
            "LogisticRegression",
            "logistic",
            lambda: skl.LogisticRegression(C=1.0 / (n * alpha), max_iter=1000),
            y_class,
        ),
        (
            "scikit-learn LinearRegression (array API, CuPy)",
            "LinearRegression",
            "squared",
            skl.LinearRegression,
            y_real,
        ),
        (
            "scikit-learn Ridge (array API, CuPy)",
            "LinearRegression",
            "squared",
            lambda: skl.Ridge(alpha=alpha * n),
            y_real,
        ),
    ]
    for label, ours_key, loss, make, y in peers:
        model = make()
        try:
            with sklearn.config_context(array_api_dispatch=True):
                sync(make().fit(X, y))  # a warm-up fit, as ours
                start = time.perf_counter()
                sync(model.fit(X, y))
                seconds = time.perf_counter() - start
        except Exception as exc:  # a version without array-API support for it: say so
            rows.append((f"peer: {label}", float("nan"), f"failed: {type(exc).__name__}: {exc}"))
            continue
        coef = to_numpy(model.coef_).ravel().astype(np.float64)
        b = float(to_numpy(model.intercept_).ravel()[0])
        value = _objective_value(loss, host_X, to_numpy(y), coef, b, alpha)
        rows.append(
            (
                f"peer: {label}",
                seconds,
                f"ours / peer {fits[ours_key][0] / seconds:.2f}, objective {value:.10g}",
            )
        )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``xpgd bench`` (shared with ``benchmarks/bench.py``)."""
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--rho", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tol", type=float, default=1e-5)
    parser.add_argument("--max-iter", type=int, default=5000)
    parser.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the peers on the same data: scikit-learn and NumPy on the CPU, "
        "scikit-learn's array-API estimators on CuPy for --backend cupy",
    )
    parser.add_argument("--backend", default=None, help="numpy (default) or cupy")
    parser.add_argument("--device", default=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="xpgd bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv))
