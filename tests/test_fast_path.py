"""The CPU fast path (row blocks, threads) against the plain whole-array path, on every
backend: the same sums, in a different order."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_classification

import xpgd
import xpgd._backend as backend_module
from xpgd._backend import ThreadedRows, row_reducer
from xpgd._core.losses import get_loss
from xpgd._core.objective import LinearObjective, row_blocks, whole_rows
from xpgd.testing import assert_close, dtype_name


@pytest.mark.skip_xp_backends("dask", reason="Dask sums over its own chunks (tested there)")
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduce", ["blocks", "threads"])
def test_blocked_sums_equal_the_plain_path(backend, dtype, loss, weighted, reduce, rng):
    if reduce == "threads" and backend.gpu:
        pytest.skip("row_reducer gives threads to NumPy only: a GPU runs its own threads")
    X, y = make_classification(rng, n=103, p=4)
    sw = rng.uniform(0.5, 2.0, size=103) if weighted else None
    objective = LinearObjective(
        backend.asarray(X, dtype),
        backend.asarray(y, dtype),
        get_loss(loss),
        sample_weight=None if sw is None else backend.asarray(sw, dtype),
        alpha=0.1,
        standardize=True,
        xp=backend.xp,
    )
    theta = backend.asarray(rng.normal(size=5), dtype)
    plain_value, plain_grad = objective.value_and_grad(theta)
    plain_curv = objective.curvature_matvec(theta)
    objective.row_reduce = row_blocks(10) if reduce == "blocks" else ThreadedRows(10, 2)
    value, grad = objective.value_and_grad(theta)
    rtol = 1e-12 if dtype_name(dtype) == "float64" else 1e-5
    assert_close(value, plain_value, rtol=rtol)
    assert_close(grad, plain_grad, rtol=rtol, atol=rtol)
    assert_close(objective.curvature_matvec(theta), plain_curv, rtol=rtol, atol=rtol)


def test_numpy_fits_use_the_fast_path_and_match_the_plain_one(monkeypatch, rng):
    monkeypatch.setattr(backend_module, "BLOCK_BYTES", 4096)  # small blocks for small data
    X, y = make_classification(rng, n=2000, p=8)
    assert isinstance(row_reducer(X, xpgd._backend.namespace("numpy")), ThreadedRows)
    fast = xpgd.LogisticRegression(tol=1e-10).fit(X, y)
    monkeypatch.setattr(backend_module, "row_reducer", lambda X, xp: whole_rows)
    plain = xpgd.LogisticRegression(tol=1e-10).fit(X, y)
    np.testing.assert_allclose(fast.coef_, plain.coef_, rtol=1e-10)
    again = xpgd.LogisticRegression(tol=1e-10)
    monkeypatch.undo()
    monkeypatch.setattr(backend_module, "BLOCK_BYTES", 4096)
    again.fit(X, y)
    np.testing.assert_array_equal(again.coef_, fast.coef_)  # threads, yet deterministic


def test_float32_sums_stay_within_1e_4_of_float64(rng):
    X = rng.normal(size=(200_000, 10)) + 3.0
    y = (X @ rng.normal(size=10) > 0).astype(np.float64)
    import array_api_compat.numpy as xp

    results = {}
    for dt in (np.float64, np.float32):
        objective = LinearObjective(
            X.astype(dt), y.astype(dt), get_loss("logistic"), standardize=True, xp=xp
        )
        objective.row_reduce = row_reducer(objective.X, xp)
        theta = np.full(11, 0.05, dtype=dt)
        results[dt] = objective.value_and_grad(theta)
    value64, grad64 = results[np.float64]
    value32, grad32 = results[np.float32]
    assert abs(float(value32) - float(value64)) <= 1e-4 * abs(float(value64))
    assert np.max(np.abs(grad32 - grad64)) <= 1e-4 * np.max(np.abs(grad64))


@pytest.mark.parametrize("exact", [False, True], ids=["screen", "exact"])
def test_blocked_finite_check_finds_a_nan_or_inf_in_any_block(backend, exact):
    from xpgd._validation import _all_finite

    X = np.ones((50, 3))
    assert bool(_all_finite(backend.asarray(X), backend.xp, block_bytes=64, exact=exact))
    for bad in (np.nan, np.inf, -np.inf):
        X[47, 2] = bad
        assert not bool(_all_finite(backend.asarray(X), backend.xp, block_bytes=64, exact=exact))
        X[47, 2] = 1.0


def test_finite_check_tells_an_overflowing_sum_from_a_bad_value(backend):
    """The screen (a sum per block) cannot tell an overflow from an inf: the exact test
    then decides, so huge finite data pass and a NaN among them is still reported."""
    from xpgd._validation import _all_finite, _check_finite

    dtype = backend.asarray(np.ones(1)).dtype
    big = float(backend.xp.finfo(dtype).max) / 4
    X = np.full((50, 3), big)
    data = backend.asarray(X)
    with np.errstate(over="ignore"):  # the overflow itself (NumPy warns)
        assert not bool(_all_finite(data, backend.xp, block_bytes=64, exact=False))
    assert bool(_all_finite(data, backend.xp, block_bytes=64, exact=True))
    _check_finite(data, backend.xp, "X")  # no error
    X[3, 1] = np.nan
    with pytest.raises(xpgd.InputError, match="X has 1 NaN and 0 infinite values"):
        _check_finite(backend.asarray(X), backend.xp, "X")


def test_blocked_column_stats_equal_one_block(backend, rng):
    from xpgd._core.objective import column_stats

    X = backend.asarray(rng.normal(size=(97, 4)) * 3 + 100)
    w = backend.asarray(rng.uniform(0.5, 2.0, size=97))
    for weights in (None, w):
        small = column_stats(X, weights, xp=backend.xp, block_bytes=64)
        whole = column_stats(X, weights, xp=backend.xp, block_bytes=1 << 30)
        for a, b in zip(small, whole, strict=True):
            assert_close(a, b, rtol=1e-12)


# ------------------------------------------------------------------ compiled CPU kernel


def _numba_kernels():
    pytest.importorskip(
        "numba", reason="Numba is not installed: pip install 'xpgd[numba]' (the CPU kernel)"
    )
    import xpgd._numba

    return xpgd._numba


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize(
    ("n", "p"), [(1, 1), (7, 3), (189, 101), (16_389, 5), (20_003, 100), (999, 1001)]
)
def test_compiled_kernel_equals_the_plain_path(dtype, loss, weighted, intercept, n, p, rng):
    # The same sums as block_terms in float64 on the same data (the reference), in
    # another order: float64 to 1e-12; float32 within its rounding (chunks of 16384 rows
    # summed in float32, then in float64), far inside the 1e-4 the issue allows. The
    # shapes reach every part of a chunk's loop in both dtypes: 189 x 101 is four streams
    # of 44 float64 rows (40 float32), then 3 single-stream groups of 4 float64 rows (8
    # float32), then 1 (5) rows one at a time, each row's last columns masked; 999 x 1001,
    # rows wider than a group's budget; 16389 x 5 and 20003 x 100, a second chunk.
    kernels = _numba_kernels()
    from xpgd._backend import namespace
    from xpgd._core.objective import block_terms

    X = (rng.normal(size=(n, p)) + 0.5).astype(dtype)
    y = (rng.uniform(size=n) < 0.4) if loss == "logistic" else rng.normal(size=n)
    y = y.astype(dtype)
    sw = rng.uniform(0.2, 3.0, size=n).astype(dtype) if weighted else None
    theta = (rng.normal(size=p + intercept) / np.sqrt(p)).astype(dtype)
    fused = kernels.fused_terms(X, y, sw, loss, intercept)
    assert fused is not None
    value, grad = fused(theta)
    assert value.dtype == X.dtype and grad.dtype == X.dtype and grad.shape == theta.shape
    ref_value, ref_grad = block_terms(
        theta.astype(np.float64),
        X.astype(np.float64),
        y.astype(np.float64),
        None if sw is None else sw.astype(np.float64),
        family=get_loss(loss),
        fit_intercept=intercept,
        xp=namespace("numpy"),
    )
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(float(value), ref_value, rtol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=rtol * np.abs(ref_grad).max())
    again = fused(theta)
    assert float(again[0]) == float(value)  # chunked in a fixed order: deterministic
    np.testing.assert_array_equal(again[1], grad)
    serial = kernels.fused_terms(X, y, sw, loss, intercept, parallel=False)(theta)
    assert float(serial[0]) == float(value)  # Dask's variant: the same chunks, same bits
    np.testing.assert_array_equal(serial[1], grad)


@pytest.mark.parametrize(("dtype", "edge"), [("float32", 87.0), ("float64", 708.0)])
def test_compiled_exp_and_log1p_are_within_a_few_epsilons(dtype, edge):
    # The loss loop's own exp and log1p (no libm call, so that it vectorises), against
    # NumPy's in extended precision: relative errors measured at 0.84 / 1.86 machine
    # epsilons in both dtypes; NaN stays NaN.
    kernels = _numba_kernels()
    from numba import njit

    exp_neg, log1p_unit = kernels._exp_neg, kernels._log1p_unit

    @njit
    def apply(a, out, log):
        for k in range(a.size):
            out[k] = log1p_unit(a[k]) if log else exp_neg(a[k])

    eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
    a = np.linspace(0.0, edge, 300_001).astype(dtype)
    out = np.empty_like(a)
    apply(a, out, False)
    ref = np.exp(-a.astype(np.longdouble))
    assert np.max(np.abs(out - ref) / ref) <= 2 * eps
    # beyond the normal range: about the smallest normal number, never more than twice
    # it; 0 at infinity
    beyond = np.array([edge + 0.5, 2 * edge, 1e30, np.inf], dtype=dtype)
    apply(beyond, out[:4], False)
    assert np.all((out[:3] > 0) & (out[:3] <= 2 * tiny)) and out[3] == 0.0
    apply(np.array([np.nan], dtype=dtype), out[:1], False)
    assert np.isnan(out[0])
    nan = np.dtype(dtype).type(np.nan)
    known_nan = njit(lambda: exp_neg(nan))  # a NaN the compiler sees: folded, still NaN
    assert np.isnan(known_nan())
    e = np.linspace(0.0, 1.0, 300_001).astype(dtype)
    apply(e, out, True)
    ref = np.log1p(e.astype(np.longdouble))
    assert out[0] == 0.0
    assert np.max(np.abs(out[1:] - ref[1:]) / ref[1:]) <= 3 * eps


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("dtype", "edge"), [("float32", 120.0), ("float64", 800.0)])
def test_vector_logistic_loss_is_within_a_few_epsilons(dtype, edge, weighted):
    # The kernel's groups compute the logistic loss as vector code (_group_losses, its
    # own exp and log1p in LLVM IR), the streams' vectors joined into one. Each score z
    # fills a whole vector of each of the kernel's streams, so the groups' loss sum is
    # exactly streams x lanes x the loss of z; against log(1 + e^z) - y z and
    # sigmoid(z) - y in extended precision, over scores past exp's range either side,
    # for y = 0 and 1, with and without weights (a power of two: exact); NaN stays NaN.
    kernels = _numba_kernels()
    from numba import njit

    group_losses = kernels._group_losses
    lanes = kernels._VECTOR_BYTES // np.dtype(dtype).itemsize
    count = kernels._STREAMS * lanes
    assert kernels._STREAMS == 4  # the offsets below, one per stream

    @njit
    def apply(scores, labels, weight, use_weights, loss, d):
        for k in range(scores.size):
            z = np.full((4, lanes), scores[k])
            y = np.full(lanes, labels[k])
            sw = np.full(lanes, weight)
            zero = z.dtype.type(0.0)
            loss_sum, d_sum = group_losses(z, y, sw, 0, (0, 0, 0, 0), zero, use_weights, True)
            loss[k] = loss_sum / count
            same = np.all(z == z[0, 0]) and d_sum == count * z[0, 0]
            d[k] = z[0, 0] if same else np.nan  # the d stored and summed, in every lane

    # Bounds: 4 epsilons of the terms the stable forms add (y = 1 cancels z in the loss
    # for z > 0, and 1 in d; the plain path's forms, losses.py, do the same), plus
    # exp(-87) / exp(-708), where exp(-a) stops (the test above).
    eps = np.finfo(dtype).eps
    least = float(np.exp(-np.longdouble(87.0 if dtype == "float32" else 708.0)))
    scores = np.linspace(-edge, edge, 200_001).astype(dtype)
    z = scores.astype(np.longdouble)
    for label in (0.0, 1.0):
        labels = np.full(scores.size, label, dtype=dtype)
        weight = np.dtype(dtype).type(4.0 if weighted else 1.0)
        loss, d = np.empty_like(scores), np.empty_like(scores)
        apply(scores, labels, weight, weighted, loss, d)
        w = float(weight)
        for got, ref, cancelled in (
            (loss, (np.logaddexp(0, z) - label * z) * w, label * np.maximum(z, 0) * w),
            (d, (1 / (1 + np.exp(-z)) - label) * w, label * w),
        ):
            bound = 4 * eps * (np.abs(ref) + cancelled) + 1.01 * least * w
            assert np.all(np.abs(got - ref) <= bound)
            clean = (cancelled == 0) & (np.abs(ref) > 1e3 * least * w)  # relative too
            if label == 0:
                assert clean.sum() > scores.size // 2
            if clean.any():
                assert np.max(np.abs(got[clean] / ref[clean] - 1)) <= 4 * eps
    loss, d = np.empty(1, dtype=dtype), np.empty(1, dtype=dtype)
    apply(np.array([np.nan], dtype=dtype), np.zeros(1, dtype=dtype), weight, weighted, loss, d)
    assert np.isnan(loss[0]) and np.isnan(d[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_kernel_is_exact_for_large_scores_and_keeps_a_nan(dtype, rng):
    # |z| far beyond exp's range (past 1000, where exp(-|z|) underflows to 0 in either
    # dtype): the kernel's loss and gradient are the plain path's; a NaN in X makes the
    # loss NaN.
    kernels = _numba_kernels()
    from xpgd._backend import namespace
    from xpgd._core.objective import block_terms

    def plain(X, y, theta):  # the reference: the plain path in float64
        return block_terms(
            theta.astype(np.float64),
            X.astype(np.float64),
            y.astype(np.float64),
            None,
            family=get_loss("logistic"),
            fit_intercept=True,
            xp=namespace("numpy"),
        )

    n, p = 1000, 3
    X = rng.normal(size=(n, p)).astype(dtype) * np.geomspace(1, 2000, n)[:, None].astype(dtype)
    y = (rng.uniform(size=n) < 0.5).astype(dtype)
    theta = np.array([0.3, 1.0, -1.0, 0.5], dtype=dtype)
    value, grad = kernels.fused_terms(X, y, None, "logistic", True)(theta)
    z = X.astype(np.float64) @ theta[1:].astype(np.float64)
    assert np.abs(z).max() > 1000
    ref_value, ref_grad = plain(X, y, theta)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(float(value), ref_value, rtol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=rtol * np.abs(ref_grad).max())
    X[n // 2, 1] = np.nan
    value, _ = kernels.fused_terms(X, y, None, "logistic", True)(theta)
    assert np.isnan(value)
    # an infinite entry: NaN in the same gradient entries as the plain path (d = 0 at an
    # infinite score, times the inf), whichever the label and the sign
    for row, label, sign in ((n // 3, 0.0, -1.0), (n // 3, 1.0, 1.0), (7, 0.0, 1.0)):
        X_inf, y_inf = X.copy(), y.copy()
        X_inf[n // 2, 1] = 1.0
        X_inf[row, 2] = sign * np.inf  # theta[2] = -1: the score is -sign * inf
        y_inf[row] = label
        _, grad = kernels.fused_terms(X_inf, y_inf, None, "logistic", True)(theta)
        with np.errstate(invalid="ignore", over="ignore"):
            _, ref_grad = plain(X_inf, y_inf, theta)
        np.testing.assert_array_equal(np.isnan(grad), np.isnan(ref_grad))
        np.testing.assert_array_equal(np.isinf(grad), np.isinf(ref_grad))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_benchmark_floor_reads_every_entry_once(dtype, rng):
    # read_once (the benchmarks' floor) sums all of X, over several chunks. Small whole
    # numbers make every partial sum exact in either dtype, so a row skipped or read
    # twice shows as a wrong total, however small its share.
    kernels = _numba_kernels()
    X = rng.integers(1, 4, size=(2 * kernels.CHUNK_ROWS + 5, 3)).astype(dtype)
    assert kernels.read_once(X) == X.astype(np.int64).sum()


def test_compiled_kernel_applies_only_where_it_can(rng):
    kernels = _numba_kernels()
    X, y = rng.normal(size=(50, 4)), rng.normal(size=50)
    assert kernels.fused_terms(X, y, None, "squared", True) is not None
    assert kernels.fused_terms(np.asfortranarray(X), y, None, "squared", True) is None
    assert kernels.fused_terms(X, y.astype(np.float32), None, "squared", True) is None
    assert kernels.fused_terms(X, y[:, None], None, "squared", True) is None
    assert kernels.fused_terms(X, y, None, "multinomial", True) is None
    assert kernels.fused_terms(X.astype(np.int64), y, None, "squared", True) is None
    assert kernels.fused_terms(X[:0], y[:0], None, "squared", True) is None
    # lengths that do not match X's rows (the kernels index y and the weights by row,
    # unchecked): the plain path takes them, and reports them
    assert kernels.fused_terms(X, y[:-1], None, "squared", True) is None
    assert kernels.fused_terms(X, y, np.ones(49), "squared", True) is None
    fused = kernels.fused_terms(X, y, None, "squared", True)
    with pytest.raises(ValueError, match=r"theta has shape \(4,\); these data need \(5,\)"):
        fused(np.zeros(4))


@pytest.mark.parametrize("kind", ["linear", "logistic"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fits_take_the_compiled_kernel_and_match_the_plain_path(kind, dtype, monkeypatch, rng):
    kernels = _numba_kernels()
    monkeypatch.setattr(backend_module, "CPU_FUSED_MIN_ELEMENTS", 0)  # small data too
    calls = []
    real = kernels.FusedTerms.__call__
    monkeypatch.setattr(
        kernels.FusedTerms, "__call__", lambda self, t: calls.append(1) or real(self, t)
    )
    X, y = make_classification(rng, n=30_000, p=12)
    if kind == "linear":
        y = X @ rng.normal(size=12) + rng.normal(size=30_000)
    X, y = X.astype(dtype), y.astype(dtype)
    cls = xpgd.LinearRegression if kind == "linear" else xpgd.LogisticRegression
    params = {"solver": "lbfgs", "tol": 1e-10 if dtype == "float64" else 1e-5}
    fused = cls(**params).fit(X, y)
    assert len(calls) >= fused.n_iter_  # every iteration evaluates through the kernel
    monkeypatch.setenv(backend_module.FUSED_ENV_VAR, "0")
    calls.clear()
    plain = cls(**params).fit(X, y)
    assert calls == []
    if dtype == "float64":
        np.testing.assert_allclose(fused.coef_, plain.coef_, rtol=1e-9)
    else:  # both within float32's resolution of the optimum: 1e-4 of the coefficients
        scale = np.abs(plain.coef_).max()
        np.testing.assert_allclose(fused.coef_, plain.coef_, rtol=0, atol=1e-4 * scale)


def test_compiled_kernel_under_dask_and_concurrent_fits(monkeypatch, rng):
    # Dask's threaded scheduler evaluates chunks from several threads, and fits may run
    # concurrently: the kernel's calls are serialised (a Numba threading layer aborts on
    # concurrent parallel calls), and the results are those of a lone fit.
    _numba_kernels()
    da = pytest.importorskip("dask.array", reason="Dask is not installed")
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(backend_module, "CPU_FUSED_MIN_ELEMENTS", 0)
    X, y = make_classification(rng, n=40_000, p=6)
    alone = xpgd.LogisticRegression(tol=1e-10).fit(X, y)
    chunked = xpgd.LogisticRegression(tol=1e-10).fit(
        da.from_array(X, chunks=(10_000, -1)), da.from_array(y, chunks=10_000)
    )
    np.testing.assert_allclose(chunked.coef_, alone.coef_, rtol=1e-10)
    with ThreadPoolExecutor(4) as pool:
        fits = list(
            pool.map(lambda _: xpgd.LogisticRegression(tol=1e-10).fit(X, y).coef_, range(4))
        )
    for coef in fits:
        np.testing.assert_array_equal(coef, alone.coef_)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fits_in_a_forked_child_after_the_parent_fitted(monkeypatch, rng):
    # Forking after a fit: the parent's helper threads (BLAS limit, row blocks) do not
    # exist in the child, and GNU OpenMP kills a child that uses it after the parent did.
    # The child must fit as the parent did, not hang or die.
    import multiprocessing

    _numba_kernels()
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork() on this platform")
    monkeypatch.setattr(backend_module, "CPU_FUSED_MIN_ELEMENTS", 0)
    X, y = make_classification(rng, n=20_000, p=6)
    parent = xpgd.LogisticRegression(tol=1e-10).fit(X, y).coef_
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    kernels = _numba_kernels()
    kernels.read_once(X)  # the benchmarks' floor, parallel in the parent, serial in a child

    def in_child():
        queue.put((xpgd.LogisticRegression(tol=1e-10).fit(X, y).coef_, kernels.read_once(X)))

    child = context.Process(target=in_child)
    child.start()
    child.join(120)
    assert child.exitcode == 0
    coef, total = queue.get(timeout=10)
    np.testing.assert_array_equal(coef, parent)  # serial: the same bits
    np.testing.assert_allclose(total, X.sum(), rtol=1e-12)
