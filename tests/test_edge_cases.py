"""Edge cases found in review, each pinned by a test."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import xpgd
import xpgd._backend as backend_module
from xpgd import metrics
from xpgd.cli import main
from xpgd.preprocessing import TabularPreprocessor


@pytest.fixture
def data(rng):
    X = rng.normal(size=(60, 3))
    return X, X @ [1.0, 2.0, 3.0] + 0.5


def test_score_accepts_a_column_y_and_refuses_a_shape_mismatch(data):
    X, y = data
    model = xpgd.LinearRegression(tol=1e-10).fit(X, y)
    assert model.score(X, y[:, None]) == pytest.approx(model.score(X, y)) == pytest.approx(1.0)
    two = xpgd.LinearRegression().fit(X, np.c_[y, -y])
    with pytest.raises(xpgd.InputError, match=r"y has shape \(60,\) but this model predicts"):
        two.score(X, y)


def test_device_under_auto_is_checked_against_the_input(data):
    X, y = data
    torch = pytest.importorskip("torch")
    model = xpgd.LinearRegression(device="cpu").fit(torch.asarray(X), y)
    assert isinstance(model.coef_, torch.Tensor)
    import array_api_strict as xps

    X1 = xps.asarray(X, device=xps.Device("device1"))
    assert xpgd.LinearRegression(device="device1").fit(X1, y).coef_.device == X1.device
    with pytest.raises(xpgd.BackendError, match="has only the 'cpu' device"):
        xpgd.LinearRegression(device="cuda:0").fit(X, y)


def test_torch_tensors_requiring_grad_do_not_build_a_graph(data):
    torch = pytest.importorskip("torch")
    X, y = data
    Xt = torch.asarray(X).requires_grad_(True)
    model = xpgd.LinearRegression().fit(Xt, torch.asarray(y))
    assert model.coef_.grad_fn is None and not model.coef_.requires_grad
    assert model.predict(Xt).grad_fn is None


def test_concurrent_threaded_fits_restore_the_blas_threads(monkeypatch, rng):
    from threadpoolctl import threadpool_info

    monkeypatch.setattr(backend_module, "BLOCK_BYTES", 4096)
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    X = rng.normal(size=(4000, 8))
    y = (X[:, 0] > 0).astype(int)
    errors = []

    def fit(model):
        try:
            model.fit(X, y)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # Logistic fits evaluate on threads; the normal equations limit BLAS to one thread
    # around their D^T D pass. threadpoolctl lets one Python thread at a time change
    # OpenBLAS, so a limit set by one fit and restored by another used to stay at 1.
    for _ in range(5):
        models = [xpgd.LogisticRegression(max_iter=200, tol=None), xpgd.LinearRegression()]
        threads = [threading.Thread(target=fit, args=(m,)) for m in models * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        assert after == before


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.fixture
def blas_before():
    """BLAS's thread counts now; skips where a one-thread limit could not be seen."""
    before = _blas_threads()
    if not before or before == [1] * len(before):
        pytest.skip("BLAS runs a single thread here already: a limit cannot be observed")
    return before


@pytest.mark.parametrize(
    ("path", "solver"),
    [
        ("threaded rows", "lbfgs"),
        ("threaded rows", "gd"),
        ("compiled kernel", "lbfgs"),
        ("one block", "lbfgs"),
        ("threaded rows", "sgd"),
        ("dask chunks", "lbfgs"),
        ("one dask chunk", "lbfgs"),
    ],
)
def test_fits_on_our_threads_hold_blas_at_one_thread_in_the_loop(
    path, solver, blas_before, monkeypatch, rng
):
    # The loop's small products would wake BLAS's threads, which then spin on the cores
    # the next evaluation runs on (benchmarks/blas_threads.py). Where no threads of ours
    # or Dask's evaluate (one block or chunk; mini-batches on the calling thread), BLAS
    # is left alone.
    monkeypatch.setattr(backend_module, "usable_cpus", lambda: 2)  # threads on any runner
    monkeypatch.setattr(backend_module, "BLOCK_BYTES", 4096 if path == "threaded rows" else 1 << 30)
    if path == "compiled kernel":  # in one block: the limit is the kernel's doing
        pytest.importorskip("numba")
        monkeypatch.setattr(backend_module, "CPU_FUSED_MIN_ELEMENTS", 0)
    X = rng.normal(size=(4000, 8))
    y = (X[:, 0] > 0).astype(int)
    if "dask" in path:  # Dask's threads evaluate the chunks in this process
        da = pytest.importorskip("dask.array")
        rows = 1000 if path == "dask chunks" else 4000
        X, y = da.from_array(X, chunks=(rows, 8)), da.from_array(y, chunks=rows)
    seen = []
    model = xpgd.LogisticRegression(solver=solver, max_iter=20, tol=None, check_every=5)
    model.fit(X, y, callback=lambda *args: seen.append(_blas_threads()))
    assert len(seen) >= 2
    limited = path not in ("one block", "one dask chunk") and solver != "sgd"
    expected = [1] * len(blas_before) if limited else blas_before
    assert all(threads == expected for threads in seen)
    assert _blas_threads() == blas_before  # restored after the fit


def test_a_users_own_blas_limit_is_left_alone(blas_before, monkeypatch, rng):
    # A threadpool_limits entered before the fit wins: the fit does not touch BLAS.
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(backend_module, "usable_cpus", lambda: 2)
    monkeypatch.setattr(backend_module, "BLOCK_BYTES", 4096)  # threaded rows
    X = rng.normal(size=(4000, 8))
    y = (X[:, 0] > 0).astype(int)
    seen = []
    model = xpgd.LogisticRegression(solver="lbfgs", max_iter=10, tol=None, check_every=5)
    with threadpool_limits(limits=max(blas_before), user_api="blas"):
        model.fit(X, y, callback=lambda *args: seen.append(_blas_threads()))
    assert seen and all(threads == [max(blas_before)] * len(blas_before) for threads in seen)
    assert _blas_threads() == blas_before

    # In another thread, ending while the fit runs (scikit-learn's KMeans.fit takes
    # such a limit): the fit used to record the user's 1 as the original and restore it
    # at its end, leaving BLAS at one thread for good.
    inside, done = threading.Event(), threading.Event()

    def hold():
        with threadpool_limits(limits=1, user_api="blas"):
            inside.set()
            done.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(60)
    seen.clear()

    def release(*args):
        seen.append(_blas_threads())
        done.set()
        holder.join()

    try:
        model.fit(X, y, callback=release)
    finally:
        done.set()
        holder.join()
    assert seen[0] == [1] * len(blas_before)  # the user's limit, while it lasted
    assert seen[-1] == blas_before  # then BLAS as the user left it
    assert _blas_threads() == blas_before


def test_an_interrupt_while_blas_is_being_limited_still_restores_it(blas_before, monkeypatch):
    # Ctrl-C while waiting for the helper thread to set the limit (simulated: the wait
    # for the limit raises KeyboardInterrupt once the limit is set). The limit counts as
    # taken before it is waited for, so the way out restores it; it used to stay at one
    # thread for good.
    from concurrent.futures import Future

    real_result = Future.result

    def interrupted(self, timeout=None):
        value = real_result(self, timeout)
        if self is backend_module._BLAS_LIMIT and not getattr(self, "interrupted", False):
            self.interrupted = True
            raise KeyboardInterrupt
        return value

    monkeypatch.setattr(Future, "result", interrupted)
    with pytest.raises(KeyboardInterrupt), backend_module._single_threaded_blas():
        pytest.fail("the pass must not start")
    monkeypatch.undo()
    assert _blas_threads() == blas_before
    assert backend_module._BLAS_USERS == 0 and backend_module._BLAS_LIMIT is None


def test_confusion_counts_are_integers_and_report_accuracy_is_over_all_samples():
    cm, _ = metrics.confusion_matrix(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 1]))
    assert cm.dtype == np.int64
    report = metrics.classification_report([0, 1, 2, 2], [0, 1, 2, 2], labels=[0, 1])
    assert "1.000         4" in report  # accuracy over the 4 samples, not 2.000
    assert "accuracy" in metrics.classification_report([0, 1], [0, 1], labels=[5])


def test_metrics_refuse_empty_input_and_wrong_weights():
    with pytest.raises(xpgd.InputError, match="at least one sample"):
        metrics.accuracy_score([], [])
    with pytest.raises(xpgd.InputError, match=r"sample_weight has shape \(2,\), expected \(3,\)"):
        metrics.mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], sample_weight=[1.0, 1.0])


def test_numeric_labels_in_an_object_array_stay_numbers(tmp_path, rng):
    X = rng.normal(size=(40, 2))
    y = np.array(list((X[:, 0] > 0).astype(int)), dtype=object)
    model = xpgd.LogisticRegression().fit(X, y)
    assert model.classes_.dtype.kind in "iu"
    loaded = xpgd.load(model.save(tmp_path / "m.npz"))
    assert loaded.score(X, y) == model.score(X, y) > 0.8


def test_functional_interface_validates_its_inputs(data):
    X, y = data
    A = np.c_[np.ones(60), X]
    with pytest.raises(xpgd.InputError, match="y has 1 NaN"):
        xpgd.gradient_descent(A, np.r_[y[:-1], np.nan], np.zeros(4), 0.1, 5, loss="squared")
    with pytest.raises(xpgd.InvalidParameterError, match="check_every=0"):
        xpgd.gradient_descent(A, y, np.zeros(4), 0.1, 5, check_every=0)
    with pytest.raises(xpgd.InputError, match="gradient_descent fits one target"):
        xpgd.gradient_descent(A, np.c_[y, y], np.zeros((4, 1)), 0.1, 5, loss="squared")
    with pytest.raises(xpgd.InputError, match="params is None"):
        xpgd.predict(A, None)
    with pytest.raises(xpgd.InputError, match=r"params has shape \(3,\)"):
        xpgd.predict(A, np.zeros(3))


def test_overflowing_weights_and_ragged_rows_are_input_errors(data):
    X, y = data
    with pytest.raises(xpgd.InputError, match="sums to infinity"):
        xpgd.LinearRegression().fit(X, y, sample_weight=np.full(60, 1e307))
    with pytest.raises(xpgd.InputError, match="rectangular array"):
        xpgd.LinearRegression().fit([[1.0, 2.0], [3.0], [4.0, 5.0]], [1.0, 2.0, 3.0])


def test_logistic_score_validates_y(rng):
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    model = xpgd.LogisticRegression().fit(X, y)
    with pytest.raises(xpgd.InputError, match="got None"):
        model.score(X, None)
    with pytest.raises(xpgd.InputError, match="y has 29 rows but X has 30"):
        model.score(X, y[:-1])


def test_preprocessor_refuses_infinite_and_text_values():
    df = pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": ["x", "y", "x"], "t": [1.0, 2.0, 3.0]})
    with pytest.raises(xpgd.InputError, match="column 'a' has 1 missing or infinite"):
        TabularPreprocessor("t").fit(df)
    pre = TabularPreprocessor("t").fit(df.assign(a=[1.0, 2.0, 3.0]))
    with pytest.raises(xpgd.InputTypeError, match="column 'a' was numeric in fit"):
        pre.transform(df.assign(a=["oops", 2, 3]))


def test_cli_reports_an_internal_error_as_such(monkeypatch, tmp_path, capsys):
    import xpgd.preprocessing

    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2\n2,3\n3,5\n4,4\n5,6\n")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(xpgd.preprocessing, "prepare", broken)
    assert main(["fit", str(path), "--target", "y", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpgd: internal error: ZeroDivisionError") and err.count("\n") == 1


def test_float16_is_computed_in_float32_and_unknown_dask_chunks_are_named(data):
    X, y = data
    torch = pytest.importorskip("torch")
    model = xpgd.LinearRegression().fit(torch.asarray(X, dtype=torch.float16), torch.asarray(y))
    assert model.coef_.dtype == torch.float32
    da = pytest.importorskip("dask.array")
    Xd = da.from_array(X, chunks=(20, 3))
    Xd = Xd[Xd[:, 0] > -100]  # boolean indexing: row counts unknown until computed
    with pytest.raises(xpgd.InputError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        xpgd.LinearRegression().fit(Xd, y)
