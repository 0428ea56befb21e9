"""Dask evaluation of a :class:`~xpgd._core.objective.LinearObjective`: one reduction
over the chunks per iteration.

Building the whole computation as Dask array expressions would make the task graph grow
with every iteration (or cost tens of milliseconds of graph construction per step). Here
each iteration runs the objective's block kernel (:func:`~xpgd._core.objective.block_terms`,
the same Array API code as the eager path, or the backend's fused kernel) on every chunk,
in the chunks' namespace, and adds the partial sums locally, in chunk order:

* on a ``dask.distributed`` cluster, with the data kept on the workers, through one actor
  per worker (:class:`_ChunkHolder`) that holds that worker's chunks: a method call per
  worker and iteration, without the scheduler (if a worker is lost, the fit goes on with
  tasks, which recompute its chunks);
* otherwise (Dask's local schedulers, or data streamed from their source) as one round of
  tasks, one per chunk or group of chunks.

The parameters are small and live in the chunks' namespace (NumPy, or CuPy for GPU
chunks); they are sent with each call.

This module is the estimators' Dask evaluation; the tabular pipeline's Dask DataFrames
are handled in :mod:`xpgd.preprocessing` (which imports Dask only for a Dask frame).
"""

from __future__ import annotations

import warnings
from typing import Any

import dask
from array_api_compat import array_namespace

from xpgd._backend import fused_terms
from xpgd._core.losses import LossFamily
from xpgd._core.objective import (
    LinearObjective,
    add_parts,
    block_gram,
    block_moments,
    block_terms,
)
from xpgd._typing import Array

__all__ = [
    "PERSIST_FRACTION",
    "ChunkedObjective",
    "fits_in_cluster_memory",
    "from_npy",
    "from_row_generator",
    "keep_on_cluster",
    "to_npy",
]


def _row_blocks(a: Any | None, row_chunks: tuple[int, ...]) -> list[Any]:
    """One delayed object per row block of ``a`` (columns in a single block)."""
    if a is None:
        return [None] * len(row_chunks)
    a = a.rechunk((row_chunks,) + tuple((s,) for s in a.shape[1:]))
    return list(a.to_delayed().ravel())


def _chunk_terms(
    X: Array,
    y: Array,
    w: Array | None,
    theta: Array,
    family: LossFamily,
    fit_intercept: bool,
) -> tuple[Array, Array]:
    # Runs on a worker, on one chunk: the namespace is that of the chunk. The fused kernels
    # apply as in eager fits (CuPy's; Numba's on the task's own thread: Dask runs the
    # chunks in parallel already).
    fused = fused_terms(X, y, w, family, fit_intercept, parallel=False)
    if fused is not None:
        return fused(theta)
    return block_terms(
        theta, X, y, w, family=family, fit_intercept=fit_intercept, xp=array_namespace(X)
    )


def _chunk_gram(X: Array, y: Array, w: Array | None, v: Array, fit_intercept: bool) -> tuple:
    return (block_gram(v, X, w, fit_intercept=fit_intercept, xp=array_namespace(X)),)


def _chunk_moments(X: Array, y: Array, w: Array | None, origin: Array | None) -> tuple[Array, ...]:
    return block_moments(X, y, w, origin, xp=array_namespace(X))


def _chunk_group(kernel: Any, rest: tuple, chunks: list[tuple]) -> list[tuple]:
    """``kernel(X, y, w, *rest)`` for each ``(X, y, w)`` of ``chunks``, in order: one task
    for several chunks (each chunk's sums kept apart, so that they are added in chunk
    order whatever the grouping)."""
    return [kernel(*chunk, *rest) for chunk in chunks]


class _ChunkHolder:
    """A Dask actor on one worker, holding the chunks that worker evaluates (references
    to the persisted chunks, not copies) in one group per worker thread.

    A method call on an actor goes from the client to its worker and back, without the
    scheduler: about 3 ms here against 10-20 ms for a round of tasks, on every iteration.
    A worker runs its actors' calls on one thread, so groups beyond the first run on
    threads of the holder's own (the kernels release the GIL).
    """

    def __init__(self, groups: list[list[tuple]]) -> None:
        self._groups = groups
        self._pool = None
        if len(groups) > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(len(groups) - 1, thread_name_prefix="xpgd")

    def run(self, kernel: Any, rest: tuple) -> tuple[bool, Any]:
        """``(True, [_chunk_group(kernel, rest, g) for each group g])``, or ``(False, the
        kernel's exception)``: a kernel's error comes back as a value, so that the client
        tells it from a failed call (a lost worker), whatever its type."""
        try:
            if self._pool is None:
                return True, [_chunk_group(kernel, rest, group) for group in self._groups]
            others = [self._pool.submit(_chunk_group, kernel, rest, g) for g in self._groups[1:]]
            first = _chunk_group(kernel, rest, self._groups[0])
            return True, [first] + [f.result() for f in others]
        except Exception as exc:
            return False, exc


def _persisted(a: Any) -> bool:
    """Whether every chunk of Dask array ``a`` is a future held by the client (as after
    ``a = a.persist()`` on a cluster): nothing of it left to compute."""
    from dask.core import flatten
    from distributed import futures_of

    held = {future.key for future in futures_of(a)}
    return bool(held) and set(flatten(a.__dask_keys__())) <= held


def _same(block: Any) -> Any:
    return block


def _renamed(a: Any) -> Any:
    """``a`` under new task keys (an identity per chunk)."""
    return a.map_blocks(_same, dtype=a.dtype, meta=a._meta)


#: Share of the cluster's memory (the sum of its workers' limits) that a fit's data may
#: take to be kept on the workers; bigger data are streamed from their source.
PERSIST_FRACTION = 0.5


def fits_in_cluster_memory(client: Any, *arrays: Any) -> bool:
    """Whether ``arrays`` (Dask arrays or None) take at most :data:`PERSIST_FRACTION` of
    the memory the cluster's workers may use (workers without a limit count as
    unlimited)."""
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info()["workers"].values()]
    if not limits or any(limit == 0 for limit in limits):
        return True
    size = sum(a.nbytes for a in arrays if a is not None)
    return size <= PERSIST_FRACTION * sum(limits)


def keep_on_cluster(X: Any, *others: Any) -> tuple[Any, ...]:
    """``(X, *others)`` with the Dask arrays among them persisted together, under new
    keys, when a ``dask.distributed`` client is active and they fit in its workers'
    memory (see :func:`fits_in_cluster_memory`); as they are otherwise (no client, data
    to stream from their source, or already persisted). Called at the start of a fit,
    so that X and y from one source (the blocks of a CSV) are read once, together, and
    the checks, statistics and iterations that follow all read the workers' memory.

    X is kept as the fit uses it (converted to its floating dtype by
    :func:`xpgd._validation.as_floating`, in blocks of whole rows), so that the fit finds
    it ready and the workers never hold two copies of it."""
    import math

    import array_api_compat

    from xpgd._validation import as_floating

    is_dask = array_api_compat.is_dask_array
    client = _distributed_client()
    if client is None or not is_dask(X) or X.ndim != 2 or any(map(math.isnan, X.shape)):
        return (X, *others)  # (a malformed X gets the fit's own error)
    X = as_floating(X, array_namespace(X))
    X = X.rechunk({1: -1}) if X.numblocks[1] != 1 else X
    dask_arrays = [a for a in (X, *others) if is_dask(a)]
    lazy = [a for a in dask_arrays if not _persisted(a)]
    if not lazy or not fits_in_cluster_memory(client, *dask_arrays):
        return (X, *others)
    kept = dict(zip(map(id, lazy), client.persist([_renamed(a) for a in lazy]), strict=True))
    return tuple(kept.get(id(a), a) for a in (X, *others))


def _read_rows(path: str, lo: int, hi: int) -> Any:
    import numpy as np

    return np.array(np.load(path, mmap_mode="r")[lo:hi])  # a copy of these rows only


def from_npy(path: str, *, chunk_rows: int) -> Any:
    """A ``.npy`` file as a lazy Dask array: each chunk's task opens the file (memory-mapped)
    and copies its rows, so the graph carries the path, never the data, and a chunk is
    read only when (and where) it is computed."""
    import dask.array as da
    import numpy as np

    header = np.load(path, mmap_mode="r")
    n, rest = header.shape[0], tuple(header.shape[1:])
    parts = []
    for lo in range(0, n, chunk_rows):
        hi = min(lo + chunk_rows, n)
        rows = dask.delayed(_read_rows, pure=True)(str(path), lo, hi)
        parts.append(da.from_delayed(rows, shape=(hi - lo, *rest), dtype=header.dtype))
    return da.concatenate(parts)


def to_npy(x: Any, path: str) -> None:
    """Write a Dask array to a ``.npy`` file chunk by chunk (never all in memory)."""
    import numpy as np

    out = np.lib.format.open_memmap(path, mode="w+", dtype=x.dtype, shape=x.shape)
    lo = 0
    for block in x.to_delayed().ravel():
        part = np.asarray(block.compute())
        out[lo : lo + part.shape[0]] = part
        lo += part.shape[0]
    out.flush()
    del out


def _distributed_client() -> Any:
    """The ``dask.distributed`` client in use, or None (threaded or local scheduler)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client: Dask's local scheduler
        return None


class ChunkedObjective(LinearObjective):
    """The same objective, with the data sums taken chunk by chunk.

    Built from a :class:`LinearObjective` on Dask arrays; its small statistics (total
    weight, column means and spreads) are computed once here, in one pass.
    """

    def __init__(self, objective: LinearObjective) -> None:
        self.__dict__.update(objective.__dict__)
        X, y, w = objective.X, objective.y, objective.sample_weight
        if X.numblocks[1] != 1:  # the kernels need whole rows
            X = X.rechunk({1: -1})
        client = self._client = _distributed_client()
        if client is not None:
            # On a cluster, keep the chunks on the workers for the whole fit: otherwise
            # every iteration's graph would carry (and reload, or regenerate) the data.
            # An X that would crowd the workers' memory (over PERSIST_FRACTION of it) is
            # instead read again from its source at each iteration: out of core. y and the
            # weights (p times smaller; often built on the host from the labels) are
            # always kept there. Persisted under new keys, so that later computations of
            # the caller's own arrays never meet a key the scheduler holds with another
            # recipe; arrays the caller persisted are used as they are (under new keys
            # the scheduler would count their memory twice).
            def kept(a: Any) -> Any:
                if a is None or _persisted(a):
                    return a
                return client.persist(_renamed(a))

            keep_X = _persisted(X) or fits_in_cluster_memory(client, X, y, w)
            X = kept(X) if keep_X else X
            y, w = kept(y), kept(w)
            self.X, self.y, self.sample_weight = X, y, w
        rows = X.chunks[0]
        self._blocks = (list(X.to_delayed().ravel()), _row_blocks(y, rows), _row_blocks(w, rows))
        # One task per chunk, except for data kept on a cluster: there one group of
        # chunks per worker thread, mostly those its worker holds already (see
        # _groups_by_worker), held by an actor on that worker. Streamed data keep one
        # task per chunk, so that a worker holds one chunk at a time.
        self._groups = [[i] for i in range(len(rows))]
        self._workers: list[Any] = [None] * len(rows)
        self.param_xp = array_namespace(X._meta)
        self.device = None
        # The statistics of the (possibly persisted) data, all in one computation.
        self._stats = None if self.standardize else (None, None)
        total, (mean, sd) = dask.compute(self.total_weight(), self._column_stats())
        self.scale = 1.0 / total
        self._stats = (mean, sd)
        # On a cluster, chunks kept on the workers are evaluated by actors (_ChunkHolder),
        # one per worker; None: one round of tasks per evaluation.
        self._holders: list[tuple[Any, list[list[int]], Any]] | None = None
        if client is not None and keep_X:
            self._groups, self._workers = _groups_by_worker(client, X)
            self._holders = _start_holders(client, self._blocks, self._groups, self._workers)

    def first_row(self) -> Array:
        return self.X[0, :].compute()

    def __enter__(self) -> ChunkedObjective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the holders (and with them the workers' references to the chunks) now:
        distributed keeps an actor alive through reference cycles until the client's
        garbage collector runs, which could keep a large X in the workers' memory after
        the fit. Later evaluations take the tasks."""
        holders, self._holders = self._holders, None
        if holders:
            self._client.cancel([future for _, _, future in holders])

    def _map_chunks(self, kernel: Any, *rest: Any) -> tuple[Array, ...]:
        """``kernel(X_b, y_b, w_b, *rest)`` summed over the chunks, in chunk order: one call
        per holder (see ``_holders``), or else one computation of a task per group of
        chunks (see ``_groups``)."""
        done = self._holders_run(kernel, rest) if self._holders else None
        groups, results = done if done is not None else self._tasks_run(kernel, rest)
        parts: list[tuple] = [()] * len(self._blocks[0])
        for group, sums in zip(groups, results, strict=True):
            for i, part in zip(group, sums, strict=True):
                parts[i] = part
        return add_parts(parts)

    def _tasks_run(self, kernel: Any, rest: tuple) -> tuple[list[list[int]], list[list]]:
        """The groups and their sums, through one task per group."""
        chunks = list(zip(*self._blocks, strict=True))
        task = dask.delayed(_chunk_group, pure=True)
        tasks = []
        for group, worker in zip(self._groups, self._workers, strict=True):
            where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
            with dask.annotate(**where):
                tasks.append(task(kernel, rest, [chunks[i] for i in group]))
        return self._groups, list(dask.compute(*tasks))

    def _holders_run(self, kernel: Any, rest: tuple) -> tuple[list[list[int]], list[list]] | None:
        """The holders' groups and their sums, or None (and no holders from now on) where
        a call failed, a holder lost with its worker: the tasks then recompute what that
        worker kept, from the data's recipe, as Dask does for any lost chunk. A kernel's
        own error is raised as it is."""
        try:
            calls = [holder.run(kernel, rest) for holder, _, _ in self._holders]
            replies = [call.result() for call in calls]
        except Exception as exc:
            warnings.warn(
                f"a worker holding chunks of this fit was lost ({type(exc).__name__}: {exc}); "
                "the fit goes on with one round of tasks per iteration",
                RuntimeWarning,
                stacklevel=2,
            )
            self.close()  # the other workers' holders too
            return None
        for ok, value in replies:
            if not ok:
                raise value
        results = [sums for _, value in replies for sums in value]
        return [g for _, groups, _ in self._holders for g in groups], results

    def data_sums(self, theta: Array) -> tuple[Array, Array]:
        loss, grad = self._map_chunks(_chunk_terms, theta, self.family, self.fit_intercept)
        return self.param_xp.asarray(loss), grad

    def gram_sums(self, v: Array) -> Array:
        return self._map_chunks(_chunk_gram, v, self.fit_intercept)[0]

    def moment_sums(self, origin: Array | None) -> tuple[Array, ...]:
        return self._map_chunks(_chunk_moments, origin)


def _groups_by_worker(client: Any, X: Any) -> tuple[list[list[int]], list[Any]]:
    """Persisted ``X``'s chunk indices in one group per worker thread, of about equal
    rows, and for each group its worker: each chunk goes to a thread of a worker that
    already holds it (filling that worker's threads in turn up to an equal share of the
    rows), and only the chunks left over, where the data sit unevenly (the scheduler may
    place a whole array on one worker), to the threads with the fewest rows; those are
    copied to their worker once, when its holder starts. Each iteration then runs one
    group per thread, every core busy. The groups need not be contiguous: each chunk's
    sums are kept apart and added in chunk order."""
    from distributed import wait

    wait(X)
    keys = [block.key for block in X.to_delayed().ravel()]
    rows = X.chunks[0]
    # client.nthreads() lists every worker (scheduler_info() may show only a few).
    slots = [a for a, threads in sorted(client.nthreads().items()) for _ in range(threads)]
    share = sum(rows) / len(slots)
    load = [0] * len(slots)
    groups: list[list[int]] = [[] for _ in slots]
    who_has = client.who_has(X)
    left = []
    for i, key in enumerate(keys):
        holders = set(who_has.get(key) or ())
        free = [s for s, a in enumerate(slots) if a in holders and load[s] < share]
        if free:
            groups[free[0]].append(i)
            load[free[0]] += rows[i]
        else:
            left.append(i)
    for i in left:
        s = min(range(len(slots)), key=load.__getitem__)
        groups[s].append(i)
        load[s] += rows[i]
    chosen = [(sorted(g), a) for g, a in zip(groups, slots, strict=True) if g]
    return [g for g, _ in chosen], [a for _, a in chosen]


def _start_holders(
    client: Any, blocks: tuple[list, list, list], groups: list[list[int]], workers: list[Any]
) -> list[tuple[Any, list[list[int]], Any]] | None:
    """One :class:`_ChunkHolder` per worker that runs groups, given the persisted chunks
    of its groups (Dask moves to the worker those it lacks, once): ``(actor, its groups,
    its future)`` each; None (with a warning) where they could not start."""
    # Futures of the blocks (persisted ones are not recomputed; a block derived from a
    # persisted array, such as a rechunked target, is computed here, once).
    present = [b for column in blocks for b in column if b is not None]
    futures = dict(zip((b.key for b in present), client.compute(present), strict=True))

    def future(block: Any) -> Any:
        return None if block is None else futures[block.key]

    by_worker: dict[Any, list[list[int]]] = {}
    for group, worker in zip(groups, workers, strict=True):
        by_worker.setdefault(worker, []).append(group)
    pending = []
    for worker, its_groups in by_worker.items():
        held = [[tuple(future(b[i]) for b in blocks) for i in group] for group in its_groups]
        # Another worker may take a holder whose own has left in the meantime.
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
        pending.append(client.submit(_ChunkHolder, held, actor=True, pure=False, **where))
    try:
        actors = [f.result() for f in pending]
    except Exception as exc:
        client.cancel(pending)
        warnings.warn(
            f"the holders of this fit's chunks could not start ({type(exc).__name__}: {exc}); "
            "the fit runs with one round of tasks per iteration",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return list(zip(actors, by_worker.values(), pending, strict=True))


def from_row_generator(
    generate: Any, n_rows: int, n_features: int, *, chunk_rows: int, y_dtype: Any
) -> tuple[Any, Any]:
    """Lazy float64 ``(X, y)`` whose rows ``[lo, hi)`` are ``generate(lo, hi)``, one task per
    chunk of ``chunk_rows``: nothing is generated until a chunk is computed, and then only
    that chunk (X and y of a chunk come from one call)."""
    import dask.array as da

    X_parts, y_parts = [], []
    for lo in range(0, n_rows, chunk_rows):
        hi = min(lo + chunk_rows, n_rows)
        rows = dask.delayed(generate, pure=True, nout=2)(lo, hi)
        X_parts.append(da.from_delayed(rows[0], shape=(hi - lo, n_features), dtype="float64"))
        y_parts.append(da.from_delayed(rows[1], shape=(hi - lo,), dtype=y_dtype))
    return da.concatenate(X_parts), da.concatenate(y_parts)
