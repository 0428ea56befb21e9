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
    import xpgd.linear_model as lm

    monkeypatch.setattr(lm, "row_reducer", lambda X, xp: whole_rows)
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


def test_blocked_finite_check_finds_a_nan_in_any_block(backend):
    from xpgd._validation import _all_finite

    X = np.ones((50, 3))
    assert bool(_all_finite(backend.asarray(X), backend.xp, block_bytes=64))
    X[47, 2] = np.nan
    assert not bool(_all_finite(backend.asarray(X), backend.xp, block_bytes=64))


def test_blocked_column_stats_equal_one_block(backend, rng):
    from xpgd._core.objective import column_stats

    X = backend.asarray(rng.normal(size=(97, 4)) * 3 + 100)
    w = backend.asarray(rng.uniform(0.5, 2.0, size=97))
    for weights in (None, w):
        small = column_stats(X, weights, xp=backend.xp, block_bytes=64)
        whole = column_stats(X, weights, xp=backend.xp, block_bytes=1 << 30)
        for a, b in zip(small, whole, strict=True):
            assert_close(a, b, rtol=1e-12)
