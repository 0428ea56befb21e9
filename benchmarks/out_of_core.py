"""Out of core: a fit on ``.npy`` data larger than the workers' memory, on a LocalCluster.

Writes ``--gib`` GiB of ``make_classification`` data (float64, ``--p`` columns) to
``--dir`` chunk by chunk (``xpgd.datasets.save_npy``), then fits ``LogisticRegression``
(L-BFGS) on ``read_npy`` views of the files with ``--workers`` workers limited to
``--memory`` each: the data are bigger than half the cluster's memory, so nothing is
persisted and every evaluation's tasks read their chunk from the file. A thread samples
each worker's resident memory every 0.2 s. It reports whether the fit converged, the peak
resident memory of each worker against its limit, and the read throughput of the fit
(bytes of X per evaluation / seconds per evaluation) against one plain sequential read of
the same file in this process (``np.load(mmap_mode="r")``, chunk by chunk).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/out_of_core.py
"""

from __future__ import annotations

import argparse
import pathlib
import threading
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=8.0)
    parser.add_argument("--p", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", default="2GiB")
    parser.add_argument("--chunks", type=int, default=131_072)
    parser.add_argument("--dir", default="/tmp/xpgd-out-of-core")
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    import xpgd
    from xpgd.datasets import make_classification, read_npy, save_npy

    folder = pathlib.Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    n = int(args.gib * 2**30 / (8 * args.p))
    x_path, y_path = folder / "X.npy", folder / "y.npy"
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        if not (x_path.exists() and np.load(x_path, mmap_mode="r").shape == (n, args.p)):
            start = time.perf_counter()
            X, y, _ = make_classification(
                n, args.p, rho=0.9, random_state=0, backend="dask", chunks=args.chunks
            )
            save_npy(X, x_path)
            save_npy(y.astype("float64"), y_path)
            print(f"wrote {x_path} ({n} x {args.p}) in {time.perf_counter() - start:.1f} s")
        size = x_path.stat().st_size
        print(
            f"# Out of core: {size / 2**30:.2f} GiB of X on disk, {args.workers} workers x "
            f"{args.memory}\n"
        )

        # One plain sequential read of the file, in this process.
        mm = np.load(x_path, mmap_mode="r")
        start = time.perf_counter()
        total = 0.0
        for lo in range(0, n, args.chunks):
            total += float(np.asarray(mm[lo : lo + args.chunks]).sum())
        plain = time.perf_counter() - start
        print(f"- plain read of X: {plain:.2f} s, {size / plain / 1e9:.2f} GB/s")

        peaks: dict[str, int] = {}
        stop = threading.Event()

        def sample() -> None:
            import psutil  # a dependency of distributed

            while not stop.is_set():
                try:
                    rss = client.run(lambda: psutil.Process().memory_info().rss)
                except Exception:
                    return
                for worker, value in rss.items():
                    peaks[worker] = max(peaks.get(worker, 0), value)
                time.sleep(0.2)

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        Xd, yd = read_npy(x_path, chunks=args.chunks), read_npy(y_path, chunks=args.chunks)
        start = time.perf_counter()
        model = xpgd.LogisticRegression(tol=args.tol, max_iter=500).fit(Xd, yd)
        seconds = time.perf_counter() - start
        stop.set()
        watcher.join()
        history = np.asarray(model.loss_history_)
        evaluations = model.n_iter_ + 1
        print(
            f"- fit: {seconds:.1f} s, {model.solver_}, {evaluations} evaluations, loss "
            f"{history[0]:.6g} -> {history[-1]:.10g}, converged (tol {args.tol}): "
            f"{getattr(model, 'n_iter_', 0) < 500}"
        )
        per = seconds / evaluations
        print(
            f"- per evaluation: {per:.2f} s, {size / per / 1e9:.2f} GB/s of X read "
            f"({plain / per:.2f}x the plain read's throughput)"
        )
        limit = cluster.workers[next(iter(cluster.workers))].memory_manager.memory_limit
        for worker, peak in sorted(peaks.items()):
            print(
                f"- worker {worker}: peak resident {peak / 2**30:.2f} GiB of "
                f"{limit / 2**30:.2f} GiB ({peak / limit:.0%})"
            )


if __name__ == "__main__":
    main()
