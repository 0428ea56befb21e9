"""What one evaluation on a cluster costs beyond the workers' compute: the round trip of
an empty kernel over the persisted chunks, through the paths ``xpgd._dask`` can take.

* ``client.submit`` of one no-op task (client, scheduler, worker and back);
* a round of tasks, one per chunk group (``ChunkedObjective._tasks_run``: the graph is
  built, tokenized and computed);
* one call per worker on the actors that hold the chunks (``_holders_run``: client to
  worker and back, without the scheduler).

Medians of ``--repeat`` calls, milliseconds. It never asserts a time.

    python -W ignore::FutureWarning benchmarks/dask_overhead.py
"""

from __future__ import annotations

import argparse
import statistics
import time


def noop(X: object, y: object, w: object) -> tuple[float]:
    """An empty kernel (defined in ``__main__``: shipped to the workers by value)."""
    return (0.0,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=125_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()

    import array_api_compat.dask.array as xp_da
    from distributed import Client, LocalCluster

    from xpgd._core.losses import get_loss
    from xpgd._core.objective import LinearObjective
    from xpgd._dask import ChunkedObjective
    from xpgd.datasets import make_classification

    def median_ms(fn: object) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times)

    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        X, y, _ = make_classification(
            args.n, args.p, random_state=0, backend="dask", chunks=args.chunks
        )
        objective = LinearObjective(X, y.astype("float64"), get_loss("logistic"), xp=xp_da)
        with ChunkedObjective(objective) as chunked:
            worker = chunked._workers[0]
            rows = [
                (
                    "client.submit, one no-op task",
                    lambda: client.submit(len, [1], pure=False, workers=[worker]).result(),
                ),
                (
                    f"a round of {len(chunked._groups)} tasks (one per chunk group)",
                    lambda: chunked._tasks_run(noop, ()),
                ),
                (
                    f"{len(chunked._holders)} actor calls (one per worker)",
                    lambda: chunked._holders_run(noop, ()),
                ),
            ]
            for _, fn in rows:
                fn()  # warm-up
            print(
                f"# No-op round trips, {args.workers} worker processes, median of {args.repeat}\n"
            )
            print("| path | ms |")
            print("| --- | ---: |")
            for label, fn in rows:
                print(f"| {label} | {median_ms(fn):.1f} |")


if __name__ == "__main__":
    main()
