"""The compiled CPU kernel against the floor, in several interleaved rounds: one
loss-and-gradient evaluation (``xpgd/_numba.py``) and one read of X (the faster of
``X @ v`` and a compiled sum, :func:`floor`), timed alternately, median of ``--repeat``
each per round, so that a noisy neighbour shows as spread between rounds rather than as
a biased ratio. Each call is timed in a block of its own kind, after a rest
(``xpgd.bench.SETTLE_SECONDS``): OpenBLAS's threads spin for about 0.1 s after a call,
and the first kernel calls after a block of ``X @ v`` took twice as long.

``--against REV`` also times the kernel of a git revision (its ``xpgd/_numba.py``,
loaded beside this one) in the same rounds: a change to the kernel measured side by side.

``--threads 1`` runs both sides on one core (Numba's threads and BLAS's): one core's
reads are bound by the reads it keeps in flight, not by the memory's bandwidth, as both
cores' are when the memory reads fast (the issue's 43 GB/s), so this shows the kernel
as it runs then, whatever the memory does now.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cpu_kernel.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cpu_kernel.py --against HEAD~1
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cpu_kernel.py --threads 1
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from xpgd._core.losses import get_loss
from xpgd._numba import fused_terms, read_once
from xpgd.bench import SETTLE_SECONDS, make_ar1


def _median(fn, repeat: int) -> float:
    time.sleep(SETTLE_SECONDS)  # OpenBLAS's threads of the last block asleep again
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor(X: np.ndarray, repeat: int) -> float:
    """One read of X: the faster of BLAS's ``X @ v`` and a compiled sum of X over every
    core, read as the kernel reads it (:func:`xpgd._numba.read_once`; BLAS reads float64
    X about 1.3x slower)."""
    v = np.ones(X.shape[1], dtype=X.dtype)
    read_once(X)  # compiled before timing
    return min(_median(lambda: X @ v, repeat), _median(lambda: read_once(X), repeat))


def size_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The data's size and the rounds and timings per round (this and the sibling
    scripts)."""
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=9)
    return parser


def _kernel_at(rev: str) -> Any:
    """``xpgd/_numba.py`` as it was at ``rev``, imported as a module of its own (compiled
    afresh: Numba's cache is keyed by the file)."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{rev}:xpgd/_numba.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    folder = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # with Numba's cache in it
    path = Path(folder) / "xpgd_numba_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("xpgd_numba_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = size_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument(
        "--against", metavar="REV", help="also time the kernel at this git revision"
    )
    parser.add_argument(
        "--threads", type=int, help="cores for both sides (Numba's and BLAS's threads)"
    )
    args = parser.parse_args()
    if args.threads:
        import numba
        from threadpoolctl import threadpool_limits

        numba.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    kernels = {"kernel": fused_terms}
    if args.against:
        kernels[args.against] = _kernel_at(args.against).fused_terms
    print(f"{args.rows} x {args.features}; ratio = kernel / one read of X (floor()), per round")
    for dtype in ("float64", "float32"):
        X, y_class, y_real = make_ar1(args.rows, args.features, dtype=dtype)
        theta = np.full(args.features + 1, 0.01, dtype=dtype)
        for loss, y in (("squared", y_real), ("logistic", y_class)):
            runs = {}
            for name, make in kernels.items():
                kernel = make(X, y, None, get_loss(loss).name, True)
                kernel(theta)  # compiled (or loaded from Numba's cache) before timing
                runs[name] = lambda k=kernel, t=theta: k(t)
            ratios: dict[str, list[float]] = {name: [] for name in runs}
            times: dict[str, list[float]] = {name: [] for name in runs}
            floors = []
            for _ in range(args.rounds):
                for name, run in runs.items():
                    times[name].append(_median(run, args.repeat))
                    floors.append(floor(X, args.repeat))
                    ratios[name].append(times[name][-1] / floors[-1])
            for name, values in ratios.items():
                spread = " ".join(f"{r:.2f}" for r in values)
                label = f"{dtype} {loss:8s}" + ("" if name == "kernel" else f" at {name}")
                print(
                    f"{label} median {statistics.median(values):.2f}x  rounds: {spread}"
                    f"  ({statistics.median(times[name]) * 1e3:.1f} ms)"
                )
            read = statistics.median(floors)
            print(f"{dtype} floor: {read * 1e3:.1f} ms, {X.nbytes / read / 1e9:.1f} GB/s (median)")


if __name__ == "__main__":
    main()
