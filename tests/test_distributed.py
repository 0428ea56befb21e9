"""Dask beyond the threaded scheduler: seeded lazy generators, one graph computation per
iteration, and fits on a ``dask.distributed`` cluster of worker processes."""

from __future__ import annotations

import collections
import pickle

import numpy as np
import pytest

import xpgd
from xpgd.datasets import GENERATION_ROWS, make_classification, make_regression

dask = pytest.importorskip("dask", reason="Dask is not installed: pip install 'xpgd[dask]'")


def test_generated_rows_do_not_depend_on_backend_or_chunks():
    n = GENERATION_ROWS + 12_345  # crosses a generation block
    X, y, coef = make_regression(n, 4, rho=0.8, random_state=7)
    for chunks in (10_000, 50_000, GENERATION_ROWS):
        Xd, yd, coef_d = make_regression(
            n, 4, rho=0.8, random_state=7, backend="dask", chunks=chunks
        )
        assert Xd.chunks[0][0] == chunks  # lazy, in the chunks asked for
        np.testing.assert_array_equal(Xd.compute(), X)
        np.testing.assert_array_equal(yd.compute(), y)
        np.testing.assert_array_equal(coef_d, coef)
    head, _, _ = make_regression(1000, 4, rho=0.8, random_state=7)
    np.testing.assert_array_equal(head, X[:1000])  # a prefix of the same stream
    other, _, _ = make_regression(1000, 4, rho=0.8, random_state=8)
    assert not np.allclose(other, head)
    X32, _, _ = make_regression(1000, 4, rho=0.8, random_state=7, dtype="float32")
    assert X32.dtype == np.float32
    np.testing.assert_allclose(X32, head, rtol=1e-6)


def test_generated_columns_and_labels_follow_the_model():
    X, y, coef = make_regression(200_000, 3, rho=0.6, noise=0.5, random_state=0)
    corr = np.corrcoef(X, rowvar=False)
    np.testing.assert_allclose(np.diag(corr, 1), 0.6, atol=0.01)
    np.testing.assert_allclose(np.linalg.lstsq(X, y, rcond=None)[0], coef, atol=0.01)
    _, yc, coef_c = make_classification(100_000, 3, n_classes=3, random_state=1)
    assert yc.dtype == np.int64 and set(np.unique(yc)) == {0, 1, 2}
    assert coef_c.shape == (3, 3)
    with pytest.raises(xpgd.InvalidParameterError, match=r"n_classes=1 is invalid"):
        make_classification(10, 2, n_classes=1)
    with pytest.raises(xpgd.InvalidParameterError, match=r"rho=1.0 is invalid"):
        make_regression(10, 2, rho=1.0)


def _count_computes(fit):
    from dask.callbacks import Callback

    count = [0]
    with Callback(start=lambda dsk: count.__setitem__(0, count[0] + 1)):
        fit()
    return count[0]


@pytest.mark.parametrize("solver", ["lbfgs", "nesterov", "gd"])
def test_one_graph_computation_per_iteration(solver):
    # Every evaluation is one reduction over the chunks: running k more iterations costs
    # exactly k more computations (the setup is the same), so the graph never grows with
    # the iterations and nothing is computed twice.
    X, y, _ = make_classification(8_000, 4, random_state=0, backend="dask", chunks=2_000)
    rate = "auto" if solver == "lbfgs" else 0.5  # a fixed step: no power iteration

    def fit(max_iter):
        model = xpgd.LogisticRegression(
            solver=solver, learning_rate=rate, max_iter=max_iter, tol=None
        )
        return lambda: model.fit(X, y)

    short, long = _count_computes(fit(5)), _count_computes(fit(25))
    assert long - short == 20
    assert short <= 5 + 1 + 3  # evaluations plus validation, statistics, separation check


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        (xpgd.LinearRegression(solver="lbfgs", tol=1e-10), "regression"),
        (xpgd.LinearRegression(solver="normal", tol=1e-10), "regression"),
        (xpgd.LogisticRegression(solver="lbfgs", tol=1e-10), "classification"),
        (xpgd.LogisticRegression(solver="nesterov", tol=1e-8, max_iter=5000), "multinomial"),
    ],
    ids=["linear-lbfgs", "linear-normal", "logistic-lbfgs", "multinomial-nesterov"],
)
def test_a_cluster_of_worker_processes_gives_the_numpy_fit(cluster_client, model, kind):
    from sklearn.base import clone

    def data(backend):
        if kind == "regression":
            return make_regression(30_000, 6, rho=0.7, random_state=3, backend=backend)[:2]
        classes = 3 if kind == "multinomial" else 2
        return make_classification(
            30_000, 6, n_classes=classes, rho=0.7, random_state=3, backend=backend
        )[:2]

    X, y = data("numpy")
    Xd, yd = data("dask")
    Xd, yd = Xd.rechunk((7_500, -1)), yd.rechunk(7_500)
    ours = clone(model).fit(Xd, yd)  # the Client is the default scheduler here
    ref = clone(model).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10, atol=1e-12)
    pred = ours.predict(Xd)
    np.testing.assert_allclose(pred.compute(), ref.predict(X), rtol=1e-10, atol=1e-12)


def test_the_command_fits_on_an_existing_cluster(cluster_client, tmp_path, capsys):
    import pandas as pd

    from xpgd.cli import main

    X, y, _ = make_regression(2_000, 3, rho=0.5, noise=0.1, random_state=5)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(target=y)
    frame.to_csv(tmp_path / "data.csv", index=False)
    common = ["fit", str(tmp_path / "data.csv"), "--target", "target", "--model", "linear"]
    address = cluster_client.scheduler.address
    assert main([*common, "--scheduler", address, "--out", str(tmp_path / "cluster")]) == 0
    on_cluster = capsys.readouterr().out
    assert f"Dask cluster {address}: 2 workers" in on_cluster
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    local = capsys.readouterr().out

    def r2(text):
        return float(text.split("held-out R^2")[1].split()[0])

    assert r2(on_cluster) == pytest.approx(r2(local), rel=1e-10)


def test_the_command_names_an_unreachable_scheduler(tmp_path, capsys):
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    import pandas as pd

    from xpgd.cli import main

    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "t": [1.0, 2.0, 3.0, 5.0]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    code = main(
        ["fit", str(tmp_path / "d.csv"), "--target", "t", "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert code == 2
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err


def test_npy_files_stream_chunk_by_chunk(tmp_path):
    from xpgd.datasets import read_npy, save_npy

    X, y, _ = make_regression(30_000, 4, rho=0.5, random_state=2, backend="dask", chunks=7_000)
    save_npy(X, tmp_path / "X.npy")  # written chunk by chunk
    save_npy(y, tmp_path / "y.npy")
    Xd, yd = read_npy(tmp_path / "X.npy", chunks=5_000), read_npy(tmp_path / "y.npy", chunks=5_000)
    assert Xd.chunks[0][0] == 5_000
    # The graph carries the path and row ranges, not the data (960 kB here).
    assert len(pickle.dumps(dict(Xd.__dask_graph__()))) < 20_000
    np.testing.assert_array_equal(Xd.compute(), X.compute())
    a = xpgd.LinearRegression(solver="lbfgs", tol=1e-10).fit(Xd, yd)
    b = xpgd.LinearRegression(solver="lbfgs", tol=1e-10).fit(X.compute(), y.compute())
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)
    with pytest.raises(xpgd.InputError, match=r"no such file"):
        read_npy(tmp_path / "missing.npy")


def test_data_too_big_for_the_cluster_stream_from_their_source(
    cluster_client, tmp_path, monkeypatch
):
    import xpgd._dask as dask_module
    from xpgd.datasets import read_npy, save_npy

    X, y, _ = make_classification(40_000, 5, rho=0.6, random_state=4, backend="dask")
    assert dask_module.fits_in_cluster_memory(cluster_client, X, y)  # 1.6 MB of 2 GiB
    save_npy(X, tmp_path / "X.npy")
    save_npy(y, tmp_path / "y.npy")
    Xd, yd = read_npy(tmp_path / "X.npy", chunks=10_000), read_npy(tmp_path / "y.npy")
    # As if the data were bigger than the workers' memory: X is not persisted, every
    # iteration's tasks read their chunk from the file on the worker.
    monkeypatch.setattr(dask_module, "PERSIST_FRACTION", 0.0)
    assert not dask_module.fits_in_cluster_memory(cluster_client, Xd, yd)
    persisted = []
    real = type(cluster_client).persist

    def spy(self, collection, *args, **kwargs):
        persisted.append(collection.shape)
        return real(self, collection, *args, **kwargs)

    monkeypatch.setattr(type(cluster_client), "persist", spy)
    ours = xpgd.LogisticRegression(tol=1e-10).fit(Xd, yd)
    assert persisted == [(40_000,)]  # the labels only, never X
    ref = xpgd.LogisticRegression(tol=1e-10).fit(X.compute(), y.compute())
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)


DASK_SOLVERS = ["gd", "momentum", "nesterov", "lbfgs"]  # and "normal" (tests above)


def _same_run(model, X, y, Xd, yd):
    # tol=None: both runs take exactly the same iterations; they differ only in the order
    # of the partial sums (row blocks here, chunks there), so the iterates agree to
    # rounding (a few ulps per iteration, amplified at most by the 60 iterations).
    from sklearn.base import clone

    ours, ref = clone(model).fit(Xd, yd), clone(model).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_ == 60
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", DASK_SOLVERS)
@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_every_dask_solver_follows_numpy_step_by_step(solver, kind):
    make = make_regression if kind == "linear" else make_classification
    cls = xpgd.LinearRegression if kind == "linear" else xpgd.LogisticRegression
    X, y, _ = make(6_000, 5, rho=0.7, random_state=11)
    Xd, yd, _ = make(6_000, 5, rho=0.7, random_state=11, backend="dask", chunks=1_500)
    _same_run(cls(solver=solver, tol=None, max_iter=60, penalty="l2"), X, y, Xd, yd)


@pytest.mark.parametrize("solver", DASK_SOLVERS)
def test_every_dask_solver_follows_numpy_on_the_cluster(cluster_client, solver):
    X, y, _ = make_classification(6_000, 5, n_classes=3, rho=0.7, random_state=12)
    Xd, yd, _ = make_classification(
        6_000, 5, n_classes=3, rho=0.7, random_state=12, backend="dask", chunks=1_500
    )
    _same_run(xpgd.LogisticRegression(solver=solver, tol=None, max_iter=60), X, y, Xd, yd)


def _cluster_objective(rows=16_000, chunks=2_000):
    import array_api_compat.dask.array as xp_da

    from xpgd._core.losses import get_loss
    from xpgd._core.objective import LinearObjective
    from xpgd._dask import ChunkedObjective

    Xd, yd, _ = make_classification(rows, 5, rho=0.5, random_state=5, backend="dask", chunks=chunks)
    yd = yd.astype("float64")
    family = get_loss("logistic")
    chunked = ChunkedObjective(LinearObjective(Xd, yd, family, alpha=0.1, xp=xp_da))
    return chunked, Xd, yd, family


def test_chunks_kept_on_the_cluster_are_held_by_one_actor_per_worker(cluster_client):
    # A round of tasks costs 10-20 ms of scheduling per iteration: groups of chunks of
    # equal rows, one per worker thread, held by an actor on each worker and run by a
    # direct call; the sums are still added in chunk order (the task path's bits, the
    # NumPy sums to rounding).
    import array_api_compat.numpy as xp_np

    from xpgd._core.objective import LinearObjective

    chunked, Xd, yd, family = _cluster_objective()
    with chunked:
        groups = chunked._groups
        assert sorted(i for g in groups for i in g) == list(range(8))
        assert [len(g) for g in groups] == [4, 4]  # equal rows, wherever the chunks were
        threads = cluster_client.nthreads()
        assert len(groups) == sum(threads.values()) == 2
        assert sorted(chunked._workers) == sorted(threads)  # one group on each worker
        assert len(chunked._holders) == 2
        assert sorted(f.status for _, _, f in chunked._holders) == ["finished"] * 2
        theta = np.linspace(-0.5, 0.5, 6)
        held = chunked.value_and_grad(theta)
        by_tasks = LinearObjective.value_and_grad(_without_holders(chunked), theta)
    local = LinearObjective(Xd.compute(), yd.compute(), family, alpha=0.1, xp=xp_np)
    for ours, tasks, ref in zip(held, by_tasks, local.value_and_grad(theta), strict=True):
        np.testing.assert_array_equal(ours, tasks)
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def _without_holders(chunked):
    import copy

    plain = copy.copy(chunked)
    plain._holders = None
    return plain


_THREADS: set = set()


def _note_thread(X, y, w):
    """A kernel that notes the thread it runs on (the cluster that calls it runs in this
    process)."""
    import threading

    _THREADS.add(threading.get_ident())
    return (np.zeros(1),)


def test_a_worker_with_several_threads_runs_its_groups_in_parallel():
    # One holder per worker: with two threads it holds two groups and runs the second on
    # a thread of its own; the sums are the NumPy fit's, and the holders go with the fit
    # (distributed's actors live on in reference cycles until the garbage collector runs:
    # the fit closes them itself).
    import gc
    import time

    distributed = pytest.importorskip("distributed", reason="pip install 'xpgd[distributed]'")
    X, y, _ = make_classification(8_000, 4, rho=0.5, random_state=8)
    Xd, yd, _ = make_classification(8_000, 4, rho=0.5, random_state=8, backend="dask", chunks=1_000)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        chunked, *_ = _cluster_objective(8_000, 1_000)
        with chunked:
            assert [g for _, g, _ in chunked._holders] == [[[0, 1, 2, 3], [4, 5, 6, 7]]]
            _THREADS.clear()
            chunked._map_chunks(_note_thread)
            assert len(_THREADS) == 2  # the two groups ran on two threads

        def actors(dask_worker):
            return len(dask_worker.state.actors)

        model = xpgd.LogisticRegression(tol=1e-10)
        gc.disable()  # as if no collection ran for a while after the fit
        try:
            ours = model.fit(Xd, yd).coef_
            np.testing.assert_allclose(ours, model.fit(X, y).coef_, rtol=1e-10, atol=1e-12)

            deadline = time.monotonic() + 10
            while sum(client.run(actors).values()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sum(client.run(actors).values()) == 0  # released with the fit
        finally:
            gc.enable()


def test_data_the_caller_persisted_are_used_as_they_are(cluster_client):
    # `X = X.persist()` before fit is Dask's usual advice: the fit takes those chunks as
    # they are (persisting them again under new keys would make the scheduler count their
    # memory twice, and spill at half the data it could hold), and each worker's group is
    # made of the chunks it holds: only chunks beyond a worker's share are copied.
    import array_api_compat.dask.array as xp_da
    from distributed import wait

    from xpgd._core.losses import get_loss
    from xpgd._core.objective import LinearObjective
    from xpgd._dask import ChunkedObjective

    def held_bytes():
        return cluster_client.run_on_scheduler(
            lambda dask_scheduler: sum(ws.nbytes for ws in dask_scheduler.workers.values())
        )

    Xd, yd, _ = make_classification(40_000, 20, random_state=6, backend="dask", chunks=5_000)
    Xd, yd = cluster_client.persist([Xd, yd.astype("float64")])
    wait([Xd, yd])
    before = held_bytes()
    where = collections.Counter(
        sorted(workers)[0] for workers in cluster_client.who_has(Xd).values()
    )
    share = Xd.numblocks[0] // len(cluster_client.nthreads())
    copied = sum(max(0, count - share) for count in where.values()) * Xd.nbytes / 8
    objective = LinearObjective(Xd, yd, get_loss("logistic"), xp=xp_da)
    with ChunkedObjective(objective) as chunked:
        assert chunked.X is Xd and chunked.y is yd
        loss, _ = chunked.value_and_grad(np.zeros(21))
        assert np.isfinite(loss)
        assert held_bytes() - before <= copied + 0.05 * Xd.nbytes
    lazy, _, _ = make_classification(40_000, 20, random_state=6, backend="dask", chunks=5_000)
    with ChunkedObjective(LinearObjective(lazy, yd, get_loss("logistic"), xp=xp_da)) as other:
        assert other.X is not lazy  # a lazy X is persisted for the fit
        assert held_bytes() - before > 0.9 * Xd.nbytes


@pytest.mark.parametrize("form", ["float64", "int64", "column-chunks"])
def test_a_fit_keeps_one_copy_of_X_on_the_cluster(cluster_client, form):
    # The fit persists X as it computes with it (float, whole rows) when it starts: X in
    # another dtype or chunked by columns is converted first, so the workers hold one
    # copy of it during the fit, not the input and the converted array both.
    from distributed import wait

    def held_bytes():  # each key once, however many workers hold a replica of it
        return cluster_client.run_on_scheduler(
            lambda dask_scheduler: sum(
                ts.nbytes for ts in dask_scheduler.tasks.values() if ts.who_has
            )
        )

    Xd, yd, _ = make_classification(40_000, 20, random_state=9, backend="dask", chunks=5_000)
    if form == "int64":
        Xd = (10 * Xd).astype("int64")
    elif form == "column-chunks":
        Xd = Xd.rechunk((5_000, 10))
    wait(cluster_client.persist(yd))  # settle whatever earlier tests left
    before = held_bytes()
    peak = []
    model = xpgd.LogisticRegression(alpha=0.01, max_iter=5, tol=None, check_every=1)
    model.fit(Xd, yd, callback=lambda *_: peak.append(held_bytes() - before))
    X_bytes = 40_000 * 20 * 8  # float64, as the fit computes
    # One X and a few n-long arrays (the labels, their float encoding, ...): 6.72-7.04 MB
    # here, where X persisted before its conversion left two copies (13.24 MB with int64
    # input or with column chunks).
    y_bytes = 40_000 * 8
    assert X_bytes <= max(peak) <= X_bytes + 4 * y_bytes


_READS: collections.Counter = collections.Counter()


def _counted_rows(lo, hi):
    """Rows ``[lo, hi)`` of a seeded logistic problem, counting each call (the cluster
    in the test below runs in this process, so the counter is shared)."""
    _READS[lo] += 1
    rng = np.random.default_rng(lo)
    X = rng.standard_normal((hi - lo, 4))
    z = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.logistic(size=hi - lo)
    return X, (z > 0).astype(np.int64)


@pytest.mark.parametrize("api", ["estimator", "gradient_descent"])
def test_a_fit_on_a_cluster_reads_its_source_once(api):
    # X and y from one source (a CSV's blocks, here a counting generator) are persisted
    # together when the fit starts: the finite checks, the labels, the statistics, the
    # iterations and the separation check then read the workers' memory, and each block
    # of the source is read once (it was read four times).
    distributed = pytest.importorskip("distributed", reason="pip install 'xpgd[distributed]'")
    from xpgd._dask import from_row_generator

    def fit(X, y):
        if api == "estimator":
            return xpgd.LogisticRegression(tol=1e-10).fit(X, y).coef_
        params, _ = xpgd.gradient_descent(X, y, np.zeros(4), 0.5, 30, check_every=10)
        return params.compute() if hasattr(params, "compute") else params

    X, y = from_row_generator(_counted_rows, 8_000, 4, chunk_rows=1_000, y_dtype=np.int64)
    _READS.clear()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        ours = fit(X, y)
    assert dict(_READS) == dict.fromkeys(range(0, 8_000, 1_000), 1)
    parts = [_counted_rows(lo, lo + 1_000) for lo in range(0, 8_000, 1_000)]
    X_np, y_np = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    np.testing.assert_allclose(ours, fit(X_np, y_np), rtol=1e-10, atol=1e-12)


def _timed_out(X, y, w):
    """A kernel whose own error is an OSError (as a lost worker's failed call is)."""
    raise TimeoutError("the kernel's own timeout")


@pytest.mark.parametrize(
    ("kernel", "error", "match"),
    [("sqrt", TypeError, "sqrt"), ("timeout", TimeoutError, "kernel's own timeout")],
)
def test_an_error_in_a_holder_is_raised_and_keeps_the_holders(cluster_client, kernel, error, match):
    # A kernel's own error is not a lost worker, whatever its type: it reaches the caller
    # as itself, without the lost-worker warning, and the holders stay for the next call.
    import math

    chunked, *_ = _cluster_objective()
    with chunked:
        with pytest.raises(error, match=match):
            chunked._map_chunks(math.sqrt if kernel == "sqrt" else _timed_out)
        assert chunked._holders is not None
        loss, _ = chunked.value_and_grad(np.zeros(6))
        assert np.isfinite(loss)


def test_a_fit_survives_losing_a_worker():
    # A worker restarted in the middle of a fit takes its holder and its chunks with it:
    # the fit warns, goes on with tasks (which recompute the lost chunks from their
    # seeded recipe) and ends where the NumPy fit ends.
    import gc
    import time

    distributed = pytest.importorskip("distributed", reason="pip install 'xpgd[distributed]'")
    X, y, _ = make_classification(12_000, 5, rho=0.7, random_state=13)
    Xd, yd, _ = make_classification(
        12_000, 5, rho=0.7, random_state=13, backend="dask", chunks=3_000
    )
    model = xpgd.LogisticRegression(solver="gd", learning_rate=0.5, tol=None, max_iter=20)
    ref = model.fit(X, y).coef_.copy()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        restarted, survivors = [], []

        def actors(dask_worker):
            return len(dask_worker.state.actors)

        def lose_a_worker(iteration, loss, grad_max):
            if iteration == 5:
                victim = sorted(client.nthreads())[0]
                client.restart_workers([victim])
                restarted.append(victim)
            if iteration == 10:  # the other worker's holder went with the fallback
                deadline = time.monotonic() + 10
                while sum(client.run(actors).values()) and time.monotonic() < deadline:
                    time.sleep(0.05)
                survivors.append(sum(client.run(actors).values()))

        model.set_params(check_every=1)
        gc.disable()  # released by the fit, not by a collection
        try:
            with pytest.warns(RuntimeWarning, match="a worker holding chunks of this fit was"):
                model.fit(Xd, yd, callback=lose_a_worker)
        finally:
            gc.enable()
    assert restarted and survivors == [0] and model.n_iter_ == 20
    np.testing.assert_allclose(model.coef_, ref, rtol=1e-10, atol=1e-12)


def test_dask_labels_stay_lazy_only_the_distinct_ones_reach_the_host(monkeypatch):
    # Labels of data larger than memory are larger than memory too: they are checked and
    # encoded chunk by chunk; only the distinct labels come to the host.
    import xpgd._validation as validation

    seen = []
    real = validation.to_numpy
    monkeypatch.setattr(validation, "to_numpy", lambda a: seen.append(real(a)) or seen[-1])
    X, y, _ = make_classification(
        20_000, 4, n_classes=3, rho=0.3, random_state=1, backend="dask", chunks=5_000
    )
    ours = xpgd.LogisticRegression(tol=1e-10).fit(X, y.astype("float64"))
    assert seen and max(a.size for a in seen) == 3  # the three classes, not 20000 labels
    ref = xpgd.LogisticRegression(tol=1e-10).fit(X.compute(), y.compute())
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X).compute(), ref.predict(X.compute()))
    with pytest.raises(xpgd.InputError, match="Unknown label type: continuous"):
        xpgd.LogisticRegression().fit(X, X[:, 0])
    with pytest.raises(xpgd.InputError, match="only 1 class"):
        xpgd.LogisticRegression().fit(X, y * 0)
