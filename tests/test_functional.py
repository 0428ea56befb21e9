"""The classic functional interface: xpgd.gradient_descent / predict / sigmoid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_regression
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

import xpgd
from xpgd.testing import assert_close, dtype_name


def classic_iris(seed: int = 0):
    """The classic exercise's data: setosa (0) vs the rest (1), z-scored, bias column."""
    iris = load_iris()
    X = iris.data
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)  # pandas' std, as in the exercise
    X = np.hstack([np.ones((len(X), 1)), X])
    y = (iris.target != 0).astype(np.float64)[:, None]
    return train_test_split(X, y, test_size=0.2, shuffle=True, random_state=seed)


def test_classic_iris_experiment_on_every_backend(backend, dtype):
    X_train, X_test, y_train, y_test = classic_iris()
    assert X_train.shape == (120, 5)
    Xb, yb = backend.asarray(X_train, dtype), backend.asarray(y_train, dtype)
    params0 = backend.asarray(np.zeros((5, 1)), dtype)

    cost, params = xpgd.gradient_descent(Xb, yb, params0, 0.05, 1000, loss="logistic")

    assert cost.shape == (1001,)
    assert params.shape == (5, 1)
    assert dtype_name(params.dtype) == dtype_name(dtype)
    host_cost = xpgd.to_numpy(cost)
    # Zero start: every probability is 1/2, so the mean log loss is exactly ln 2.
    assert host_cost[0] == pytest.approx(math.log(2.0), rel=1e-6)
    assert np.all(np.diff(host_cost) < 0), "the cost must decrease at every step"
    proba = xpgd.predict(backend.asarray(X_test, dtype), params, loss="logistic")
    accuracy = float(np.mean(np.round(xpgd.to_numpy(proba)) == y_test))
    assert accuracy == 1.0


def test_gradient_descent_matches_a_plain_numpy_loop():
    # The update rule, written out independently: params -= lr * X^T (pred - y) / n.
    X_train, _, y_train, _ = classic_iris(seed=3)
    params = np.zeros((5, 1))
    costs = []
    for _ in range(50):
        pred = 1.0 / (1.0 + np.exp(-(X_train @ params)))
        params = params - 0.05 * X_train.T @ (pred - y_train) / len(y_train)
        z = X_train @ params
        costs.append(float(np.mean(np.logaddexp(0.0, z) - y_train * z)))
    cost, ours = xpgd.gradient_descent(X_train, y_train, np.zeros((5, 1)), 0.05, 50)
    np.testing.assert_allclose(ours, params, rtol=1e-12)
    np.testing.assert_allclose(cost[1:], costs, rtol=1e-12)


def test_squared_loss_reports_the_classic_mse_and_reaches_least_squares(backend, rng):
    X, y = make_regression(rng, n=100, p=3)
    A = np.c_[np.ones(len(y)), X]
    Ab, yb = backend.asarray(A), backend.asarray(y)
    cost, params = xpgd.gradient_descent(
        Ab, yb, backend.asarray(np.zeros(4)), "auto", 500, loss="squared"
    )
    exact = np.linalg.lstsq(A, y, rcond=None)[0]
    assert_close(params, exact, xp=backend.xp, device=backend.device, rtol=1e-10)
    mse = float(np.mean((A @ exact - y) ** 2))
    assert float(xpgd.to_numpy(cost)[-1]) == pytest.approx(mse, rel=1e-10)
    assert float(xpgd.to_numpy(cost)[0]) == pytest.approx(float(np.mean(y**2)), rel=1e-12)
    pred = xpgd.predict(Ab, params, loss="squared")
    assert_close(pred, A @ exact, xp=backend.xp, device=backend.device, rtol=1e-9)


def test_gradient_descent_accepts_host_params_and_column_y():
    X_train, _, y_train, _ = classic_iris()
    _, p1 = xpgd.gradient_descent(X_train, y_train[:, 0], np.zeros(5), 0.05, 10)
    _, p2 = xpgd.gradient_descent(X_train, y_train, [0.0] * 5, 0.05, 10)
    assert p1.shape == (5,) and p2.shape == (5,)
    np.testing.assert_allclose(p1, p2, rtol=1e-14)


def test_diverging_learning_rate_raises_with_iteration_and_safe_rate(rng):
    X, y = make_regression(rng, n=50, p=3)
    with pytest.raises(xpgd.DivergenceError, match=r"iteration \d+.*learning_rate <= [0-9.]+"):
        xpgd.gradient_descent(X, y, np.zeros(3), 50.0, 1000, loss="squared", check_every=10)


def test_functional_errors_name_the_problem(rng):
    X, y = make_regression(rng, n=20, p=3)
    with pytest.raises(xpgd.InputError, match="params has shape"):
        xpgd.gradient_descent(X, y, np.zeros(4), 0.1, 5, loss="squared")
    with pytest.raises(xpgd.InvalidParameterError, match="unknown loss 'hinge'"):
        xpgd.gradient_descent(X, y, np.zeros(3), 0.1, 5, loss="hinge")
    with pytest.raises(xpgd.InvalidParameterError, match="learning_rate"):
        xpgd.gradient_descent(X, y, np.zeros(3), -1.0, 5)
