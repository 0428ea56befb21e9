"""Where a GPU fit spends its time: LogisticRegression / LinearRegression fits on
synthetic data on CuPy, after a warm-up fit (CuPy compiles kernels on first use), seen
three ways:

1. **phases, synchronised**: the fit's steps (input checks, column statistics, each
   evaluation, each optimizer update, the loop's checks) wrapped so that the device is
   idle before and after each: their wall times are their host plus device times, and
   the fit's own (unsynchronised) time is printed beside their sum;
2. **kernels**: every kernel the device ran during one fit, by name (count, device time),
   recorded by CUPTI through torch's profiler when torch with CUDA is installed: what
   fills the device between the evaluations;
3. **host**: cProfile of one fit (host functions that wait for the device carry the device
   time of the kernels queued before them).

    python benchmarks/gpu_profile.py --rows 10000000 --features 100 --dtype float32
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import functools
import io
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import cupy

import xpgd
from xpgd._core import objective as objective_module
from xpgd._core import solver as solver_module
from xpgd.bench import make_ar1


def _sync() -> None:
    cupy.cuda.get_current_stream().synchronize()


@contextlib.contextmanager
def _synchronised_phases() -> Iterator[dict[str, list[float]]]:
    """Wrap the fit's steps (wherever xpgd's modules imported them) so that each runs
    on an idle device and is timed to its end; yields ``{phase: [seconds, ...]}``."""
    times: dict[str, list[float]] = collections.defaultdict(list)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _sync()
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync()
            times[name].append(time.perf_counter() - start)
            return out

        return wrapper

    def timed_solver(factory: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(factory)
        def make(*args: Any, **kwargs: Any) -> Any:
            transform = factory(*args, **kwargs)
            return transform._replace(
                update=timed(f"{factory.__name__} update (one per evaluation)", transform.update)
            )

        return make

    patches: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, new: Any) -> None:
        patches.append((owner, name, getattr(owner, name)))
        setattr(owner, name, new)

    functions = {
        "check_X": "input check of X (finiteness)",
        "check_sample_weight": "sample weights",
        "column_stats": "column statistics (one pass)",
        "host_floats": "loop checks (host sync)",
    }
    cls = objective_module.LinearObjective
    try:  # patches recorded before each is set: an interrupt midway undoes those made
        for module in [m for n, m in sys.modules.items() if n.startswith("xpgd") and m]:
            for name, label in functions.items():
                if name in vars(module):
                    patch(module, name, timed(label, vars(module)[name]))
        patch(solver_module, "lbfgs", timed_solver(solver_module.lbfgs))
        patch(cls, "value_and_grad", timed("evaluation (loss and gradient)", cls.value_and_grad))
        yield times
    finally:
        for owner, name, old in reversed(patches):
            setattr(owner, name, old)


def _phases(fit: Callable[[], Any]) -> None:
    _sync()
    start = time.perf_counter()
    fit()
    _sync()
    plain = time.perf_counter() - start
    with _synchronised_phases() as times:
        start = time.perf_counter()
        fit()
        _sync()
        synced = time.perf_counter() - start
    print(f"  fit: {plain * 1e3:.1f} ms as it runs; {synced * 1e3:.1f} ms with the phases synced")
    accounted = 0.0
    for name, ts in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        total = sum(ts)
        accounted += total
        print(
            f"  {name:48s} {len(ts):5d} x {1e3 * total / len(ts):8.3f} ms = {1e3 * total:8.1f} ms"
        )
    print(f"  {'the rest of the fit':48s} {'':18s}{1e3 * (synced - accounted):8.1f} ms")


def _kernels(fit: Callable[[], Any], top: int) -> None:
    """Every kernel the device ran in ``fit``, by name, from CUPTI (torch's profiler)."""
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError as exc:
        print(f"  (no kernel table: torch is not installed: {exc})")
        return
    if not torch.cuda.is_available():
        print("  (no kernel table: torch sees no CUDA device)")
        return
    try:
        _sync()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fit()
            _sync()
        events = list(prof.events())
    except Exception as exc:  # CUPTI may be unavailable in a container: say so, go on
        print(f"  (no kernel table: torch's profiler failed: {type(exc).__name__}: {exc})")
        return
    count: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    for event in events:
        if str(getattr(event, "device_type", "")).endswith("CUDA"):
            name = event.name[:70]
            count[name] += 1
            total[name] += event.time_range.elapsed_us()
    if not count:
        print(f"  (no kernel table: the profiler recorded no device events; {len(events)} events)")
        return
    device_ms = sum(total.values()) / 1e3
    print(f"  {sum(count.values())} device operations, {device_ms:.1f} ms of device time in all")
    for name, us in total.most_common(top):
        print(f"  {count[name]:6d} x {us / count[name]:9.1f} us = {us / 1e3:8.2f} ms  {name}")


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

        def fit(model: Any = model, y: Any = y) -> Any:
            return model.fit(X, y)

        for label in ("first fit (compiles kernels)", "second fit"):
            start = time.perf_counter()
            fit()
            _sync()
            print(
                f"{cls.__name__} {label}: {time.perf_counter() - start:.3f} s, "
                f"{model.n_iter_} iterations ({model.solver_})"
            )
        print(f"{cls.__name__}, phases (each synchronised):")
        _phases(fit)
        print(f"{cls.__name__}, kernels on the device during one fit (CUPTI):")
        _kernels(fit, args.top)
        profile = cProfile.Profile()
        profile.enable()
        fit()
        _sync()
        profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(args.top)
        print(f"{cls.__name__}, host (cProfile):")
        print(text.getvalue())


if __name__ == "__main__":
    main()
