"""Estimators on every backend against independent references.

* LinearRegression: closed-form least squares (and ridge with an unpenalised intercept);
* LogisticRegression: scikit-learn's optimum of the same objective (C = 1 / (n alpha));
* every backend: the same fit as NumPy float64, in X's namespace, device and dtype.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_classification, make_regression
from reference import (
    logistic_objective,
    ridge_closed_form,
    sklearn_logistic_optimum,
    squared_objective,
)

import xpgd
from xpgd.testing import assert_close, dtype_name


def _tol(dtype) -> float:
    # Gradient tolerance: tight in float64; float32 stops at its rounding floor.
    return 1e-10 if dtype_name(dtype) == "float64" else 1e-4


def _local(backend):
    """Where fitted parameters live: X's namespace, or the chunks' (NumPy) for Dask."""
    if backend.name == "dask":
        return xpgd._backend.namespace("numpy"), "cpu"
    return backend.xp, backend.device


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_regression_reaches_least_squares(backend, dtype, fit_intercept, rng):
    X, y = make_regression(rng)
    exact_w, exact_b = ridge_closed_form(X, y, 0.0, fit_intercept=fit_intercept)
    model = xpgd.LinearRegression(fit_intercept=fit_intercept, tol=_tol(dtype), max_iter=5000)
    model.fit(backend.asarray(X, dtype), backend.asarray(y, dtype))
    xp, dev = _local(backend)
    rtol = 1e-8 if dtype_name(dtype) == "float64" else 1e-4
    assert_close(model.coef_, exact_w, xp=xp, device=dev, dtype=dtype, rtol=rtol)
    assert_close(
        model.intercept_,
        np.asarray(exact_b),
        xp=xp,
        device=dev,
        dtype=dtype,
        rtol=rtol,
        atol=rtol,
    )
    assert model.n_iter_ < 5000
    assert model.loss_history_.shape == (model.n_iter_ + 1,)
    pred = model.predict(backend.asarray(X, dtype))
    assert_close(
        pred,
        X @ exact_w + exact_b,
        xp=backend.xp,
        device=backend.device,
        dtype=dtype,
        rtol=rtol,
        atol=rtol * float(np.abs(y).max()),
    )


def test_linear_regression_l2_matches_closed_form_ridge(backend, dtype, rng):
    X, y = make_regression(rng)
    sw = rng.uniform(0.5, 2.0, size=len(y))
    exact_w, exact_b = ridge_closed_form(X, y, 0.5, sample_weight=sw)
    model = xpgd.LinearRegression(penalty="l2", alpha=0.5, tol=_tol(dtype), max_iter=5000)
    model.fit(
        backend.asarray(X, dtype),
        backend.asarray(y, dtype),
        sample_weight=backend.asarray(sw, dtype),
    )
    xp, dev = _local(backend)
    rtol = 1e-8 if dtype_name(dtype) == "float64" else 1e-4
    assert_close(model.coef_, exact_w, xp=xp, device=dev, dtype=dtype, rtol=rtol)
    assert float(model.intercept_) == pytest.approx(exact_b, rel=rtol)


def test_multi_output_linear_regression(backend, rng):
    X, y = make_regression(rng)
    Y = np.c_[y, 2 * y - X[:, 0]]
    exact = np.linalg.lstsq(np.c_[np.ones(len(y)), X], Y, rcond=None)[0]
    model = xpgd.LinearRegression(tol=1e-10, max_iter=5000)
    model.fit(backend.asarray(X), backend.asarray(Y))
    xp, dev = _local(backend)
    assert_close(model.coef_, exact[1:].T, xp=xp, device=dev, rtol=1e-8)
    assert_close(model.intercept_, exact[0], xp=xp, device=dev, rtol=1e-8)
    assert model.predict(backend.asarray(X)).shape == (len(y), 2)


@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_regression_reaches_sklearn_optimum(backend, dtype, weighted, rng):
    X, y = make_classification(rng)
    alpha = 0.01
    sw = rng.uniform(0.5, 2.0, size=len(y)) if weighted else None
    ref_w, ref_b = sklearn_logistic_optimum(X, y, alpha, sample_weight=sw)
    ref_loss = logistic_objective(ref_w, ref_b, X, y, alpha, sw)
    model = xpgd.LogisticRegression(alpha=alpha, tol=_tol(dtype), max_iter=20_000)
    model.fit(
        backend.asarray(X, dtype),
        backend.asarray(y),
        sample_weight=None if sw is None else backend.asarray(sw, dtype),
    )
    w = xpgd.to_numpy(model.coef_)[0].astype(np.float64)
    b = float(xpgd.to_numpy(model.intercept_)[0])
    ours = logistic_objective(w, b, X, y, alpha, sw)
    assert abs(ours - ref_loss) <= 1e-6 * ref_loss
    xp, dev = _local(backend)
    assert_close(
        model.coef_,
        ref_w[None, :],
        xp=xp,
        device=dev,
        dtype=dtype,
        rtol=1e-5 if dtype_name(dtype) == "float64" else 1e-3,
    )
    # The loss history is the objective: its last value is the loss we just checked.
    last = float(xpgd.to_numpy(model.loss_history_)[-1])
    assert last == pytest.approx(ours, rel=1e-5 if dtype_name(dtype) == "float32" else 1e-10)


def test_every_backend_matches_numpy_float64(backend, dtype, rng):
    X, y = make_classification(rng)
    ref = xpgd.LogisticRegression(alpha=0.05, tol=None, max_iter=300).fit(X, y)
    model = xpgd.LogisticRegression(alpha=0.05, tol=None, max_iter=300)
    model.fit(backend.asarray(X, dtype), backend.asarray(y))
    assert model.n_iter_ == ref.n_iter_ == 300
    xp, dev = _local(backend)
    assert_close(model.coef_, ref.coef_, xp=xp, device=dev, dtype=dtype)
    assert_close(model.loss_history_, ref.loss_history_, xp=xp, device=dev, dtype=dtype)
    Xb = backend.asarray(X, dtype)
    assert_close(
        model.predict_proba(Xb),
        ref.predict_proba(X),
        xp=backend.xp,
        device=backend.device,
        dtype=dtype,
    )
    assert_close(
        model.decision_function(Xb),
        ref.decision_function(X),
        xp=backend.xp,
        device=backend.device,
        dtype=dtype,
        atol=1e-5,
    )
    assert_close(model.predict(Xb), ref.predict(X), xp=backend.xp, device=backend.device)
    assert model.score(Xb, backend.asarray(y)) == pytest.approx(ref.score(X, y))


def test_labels_of_any_type_map_through_classes(rng):
    X, y = make_classification(rng)
    ref = xpgd.LogisticRegression().fit(X, y)
    for labels in (
        np.array(["no", "yes"]),
        np.array([-1, 1]),
        np.array([False, True]),
        np.array([3.0, 7.0]),
    ):
        model = xpgd.LogisticRegression().fit(X, labels[y])
        np.testing.assert_array_equal(model.classes_, labels)
        np.testing.assert_array_equal(model.predict(X), labels[ref.predict(X)])
        np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-12)
        assert model.score(X, labels[y]) == ref.score(X, y)


def test_string_labels_with_device_data(backend, rng):
    X, y = make_classification(rng, n=60)
    labels = np.array(["cat", "dog"])[y]
    model = xpgd.LogisticRegression().fit(backend.asarray(X), labels)
    pred = model.predict(backend.asarray(X))
    ref = xpgd.LogisticRegression().fit(X, labels).predict(X)
    np.testing.assert_array_equal(xpgd.to_numpy(pred), ref)


def test_float32_in_float32_out_and_integer_x_promoted(backend, rng):
    X, y = make_regression(rng, n=50, p=3)
    model = xpgd.LinearRegression().fit(backend.asarray(X, "float32"), backend.asarray(y))
    for arr in (model.coef_, model.intercept_, model.loss_history_):
        assert dtype_name(arr.dtype) == "float32"
    assert dtype_name(model.predict(backend.asarray(X, "float32")).dtype) == "float32"
    Xi = np.round(X * 10).astype(np.int64)
    model = xpgd.LinearRegression(tol=None, max_iter=20)
    model.fit(backend.asarray(Xi), backend.asarray(y))
    default = backend.xp.__array_namespace_info__().default_dtypes(
        device=backend.device if backend.name != "dask" else None
    )["real floating"]
    assert dtype_name(model.coef_.dtype) == dtype_name(default)


def test_sample_weight_equals_repeated_rows(backend, rng):
    X, y = make_classification(rng, n=80)
    counts = rng.integers(0, 4, size=len(y))  # zeros drop rows, 2 and 3 repeat them
    counts[:2] = 1
    weighted = xpgd.LogisticRegression(alpha=0.01, tol=1e-12, max_iter=50_000)
    weighted.fit(
        backend.asarray(X), backend.asarray(y), sample_weight=backend.asarray(counts, "float64")
    )
    repeated = xpgd.LogisticRegression(alpha=0.01, tol=1e-12, max_iter=50_000)
    repeated.fit(backend.asarray(np.repeat(X, counts, axis=0)), np.repeat(y, counts))
    assert_close(weighted.coef_, repeated.coef_, rtol=1e-9)
    Xb, yb = backend.asarray(X), backend.asarray(y)
    assert weighted.score(Xb, yb) == pytest.approx(repeated.score(Xb, yb))


def test_pandas_and_list_inputs(rng):
    pd = pytest.importorskip("pandas")
    X, y = make_regression(rng, n=40, p=3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    model = xpgd.LinearRegression(tol=1e-10).fit(df, pd.Series(y))
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    from_list = xpgd.LinearRegression(tol=1e-10).fit(X.tolist(), y.tolist())
    np.testing.assert_allclose(model.coef_, from_list.coef_, rtol=1e-12)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        model.predict(df[["c", "b", "a"]])


def test_convergence_warning_names_iterations_and_fix(rng):
    X, y = make_regression(rng)
    with pytest.warns(xpgd.ConvergenceWarning, match=r"max_iter=3 .*increase max_iter"):
        xpgd.LinearRegression(solver="nesterov", max_iter=3, tol=1e-12).fit(X, y)


def test_divergence_raises_and_failed_fit_keeps_the_old_model(rng):
    X, y = make_regression(rng)
    model = xpgd.LinearRegression().fit(X, y)
    coef, history = model.coef_.copy(), model.loss_history_
    model.set_params(solver="gd", learning_rate=100.0)
    with pytest.raises(xpgd.DivergenceError, match=r"iteration \d+.*learning_rate <= "):
        model.fit(X, y)
    np.testing.assert_array_equal(model.coef_, coef)
    assert model.loss_history_ is history
    model.set_params(learning_rate="auto")
    X_bad = X.copy()
    X_bad[3, 2] = np.nan
    with pytest.raises(xpgd.InputError, match=r"1 NaN .*row 3, column 2.*drop or impute"):
        model.fit(X_bad, y)
    np.testing.assert_array_equal(model.coef_, coef)


def test_host_syncs_only_every_check_every(monkeypatch, rng):
    import xpgd._core.solver as solver

    calls = []
    real = solver.host_floats
    monkeypatch.setattr(solver, "host_floats", lambda a: calls.append(1) or real(a))
    X, y = make_regression(rng)
    for name in ("nesterov", "lbfgs", "gd"):
        calls.clear()
        xpgd.LinearRegression(solver=name, max_iter=100, check_every=10, tol=None).fit(X, y)
        assert len(calls) == 11, name  # iterations 0, 10, ..., 100


def test_named_backend_moves_host_inputs_once(monkeypatch, rng):
    import xpgd._backend as backend_module

    moves = []
    real = backend_module._move_host
    monkeypatch.setattr(
        backend_module, "_move_host", lambda *a, **k: moves.append(a[1]) or real(*a, **k)
    )
    X, y = make_regression(rng)
    model = xpgd.LinearRegression(backend="array_api_strict", device="device1", max_iter=500)
    model.fit(X, y)
    assert moves == ["array_api_strict", "array_api_strict"]  # X and y, once each
    import array_api_strict as xps

    assert model.coef_.device == xps.Device("device1")


def test_sklearn_pipeline_gridsearch_and_clone(rng):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(rng)
    pipe = make_pipeline(StandardScaler(), xpgd.LogisticRegression())
    assert pipe.fit(X, y).score(X, y) > 0.8
    search = GridSearchCV(xpgd.LogisticRegression(), {"alpha": [1e-3, 1e-1]}, cv=3).fit(X, y)
    assert search.best_params_["alpha"] in (1e-3, 1e-1)
    model = xpgd.LinearRegression(alpha=0.3, penalty="l2")
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert repr(copy) == "LinearRegression(alpha=0.3, penalty='l2')"


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"penalty": "l3"}, "penalty"),
        ({"alpha": -0.1}, "alpha"),
        ({"check_every": 0}, "check_every"),
        ({"backend": "tensorflow"}, "unknown backend 'tensorflow'.*numpy"),
    ],
)
def test_invalid_hyperparameters_raise_on_fit(params, match, rng):
    X, y = make_regression(rng, n=10, p=2)
    model = xpgd.LinearRegression(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_predict_before_fit_and_wrong_feature_count(rng):
    X, y = make_classification(rng, n=30, p=3)
    with pytest.raises(xpgd.NotFittedError, match="not fitted yet"):
        xpgd.LogisticRegression().predict(X)
    model = xpgd.LogisticRegression().fit(X, y)
    with pytest.raises(
        xpgd.InputError, match="X has 2 features, but LogisticRegression is expecting 3"
    ):
        model.predict(X[:, :2])


def test_objective_value_in_history_is_the_documented_objective(rng):
    X, y = make_regression(rng)
    model = xpgd.LinearRegression(penalty="l2", alpha=0.2, tol=None, max_iter=7).fit(X, y)
    w, b = model.coef_, float(model.intercept_)
    assert float(model.loss_history_[-1]) == pytest.approx(
        squared_objective(w, b, X, y, 0.2), rel=1e-12
    )


def test_float32_dataframe_stays_float32_and_missing_values_are_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": np.arange(6, dtype=np.float32), "b": np.ones(6, np.float32)})
    model = xpgd.LinearRegression().fit(df, np.arange(6.0))
    assert model.coef_.dtype == np.float32
    nullable = pd.DataFrame({"a": pd.array([1, None, 3, 4], dtype="Int64"), "b": [1.0] * 4})
    with pytest.raises(xpgd.InputError, match=r"X has 1 NaN .*row 1, column 0"):
        xpgd.LinearRegression().fit(nullable, np.arange(4.0))
