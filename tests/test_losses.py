"""Losses, sigmoid and gradients against independent references, on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_classification, make_regression
from hypothesis import given
from hypothesis import strategies as st
from reference import logistic_objective, squared_objective
from scipy.special import expit

import xpgd
from xpgd._core.losses import get_loss
from xpgd._core.objective import LinearObjective
from xpgd.testing import assert_close, dtype_name

EXTREMES = [
    -1e4,
    -745.0,
    -710.0,
    -709.0,
    -88.0,
    -50.0,
    -1e-3,
    0.0,
    1e-3,
    50.0,
    88.0,
    709.0,
    710.0,
    745.0,
    1e4,
]


def _extremes(dtype_name: str) -> np.ndarray:
    big = float(np.finfo(dtype_name).max)
    return np.array([-big, *EXTREMES, big], dtype=dtype_name)


def test_sigmoid_finite_and_exact_for_extreme_inputs(backend, dtype):
    name = dtype_name(dtype)
    z = _extremes(name)
    out = xpgd.sigmoid(backend.asarray(z, dtype))
    expected = expit(z.astype(np.float64)).astype(name)
    assert_close(out, expected, xp=backend.xp, device=backend.device, dtype=dtype, atol=1e-30)


def test_classic_sigmoid_formula_really_fails_where_ours_does_not():
    # The reason for the stable form: exp(x) / (exp(x) + 1) is NaN for x > 709.
    with np.errstate(over="ignore", invalid="ignore"):
        classic = np.exp(710.0) / (np.exp(710.0) + 1.0)
    assert math.isnan(classic)
    assert float(xpgd.sigmoid(np.array(710.0))) == 1.0


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_log_loss_and_derivative_finite_and_exact(backend, dtype, label):
    name = dtype_name(dtype)
    z64 = _extremes(name).astype(np.float64)
    zb = backend.asarray(z64, dtype)
    yb = backend.asarray(np.full_like(z64, label), dtype)
    loss, deriv = get_loss("logistic").value_and_derivative(zb, yb, xp=backend.xp)
    expected_loss = (np.logaddexp(0.0, z64) - label * z64).astype(name)
    expected_deriv = (expit(z64) - label).astype(name)
    assert_close(loss, expected_loss, xp=backend.xp, device=backend.device, dtype=dtype, atol=1e-30)
    assert_close(
        deriv, expected_deriv, xp=backend.xp, device=backend.device, dtype=dtype, atol=1e-30
    )


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, 1.0]))
def test_log_loss_never_nan_or_inf_for_any_finite_float64(z, label):
    import array_api_compat.numpy as xp

    loss, deriv = get_loss("logistic").value_and_derivative(
        xp.asarray([z]), xp.asarray([label]), xp=xp
    )
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(deriv))
    assert float(loss[0]) >= 0.0
    s = xpgd.sigmoid(np.asarray([z]))
    assert 0.0 <= float(s[0]) <= 1.0


def _reference(loss, w, b, X, y, alpha, sw):
    fn = logistic_objective if loss == "logistic" else squared_objective
    return fn(w, b, X, y, alpha, sw)


@pytest.mark.parametrize("loss", ["logistic", "squared"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_value_and_gradient_match_finite_differences(
    backend, loss, fit_intercept, weighted, rng
):
    if loss == "logistic":
        X, y = make_classification(rng, n=60, p=4)
    else:
        X, y = make_regression(rng, n=60, p=4)
    y = y.astype(np.float64)
    sw = rng.uniform(0.1, 3.0, size=len(y)) if weighted else None
    alpha = 0.3
    theta = rng.normal(size=4 + int(fit_intercept))

    def f(t):
        b, w = (t[0], t[1:]) if fit_intercept else (0.0, t)
        return _reference(loss, w, b, X, y, alpha, sw)

    h = 1e-6
    fd = np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])
    xp = backend.xp
    objective = LinearObjective(
        backend.asarray(X),
        backend.asarray(y),
        get_loss(loss),
        sample_weight=None if sw is None else backend.asarray(sw),
        alpha=alpha,
        fit_intercept=fit_intercept,
        xp=xp,
    )
    # Dask keeps the parameters in the chunks' namespace (NumPy); the rest stays lazy.
    theta_b = theta if backend.name == "dask" else backend.asarray(theta)
    value, grad = objective.value_and_grad(theta_b)
    assert float(value) == pytest.approx(f(theta), rel=1e-12)
    assert float(objective.value(theta_b)) == pytest.approx(f(theta), rel=1e-12)
    assert_close(grad, fd, xp=xp, device=backend.device, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss", ["logistic", "squared"])
def test_lipschitz_bound_is_close_to_exact_curvature(loss, rng):
    X, y = make_regression(rng, n=80, p=6)
    X[:, 0] *= 5.0  # make the spectrum uneven
    import array_api_compat.numpy as xp

    objective = LinearObjective(X, y, get_loss(loss), alpha=0.1, xp=xp)
    A = np.c_[np.ones(len(y)), X]
    lam = np.linalg.eigvalsh(A.T @ A / len(y))[-1]
    exact = (1.0 if loss == "squared" else 0.25) * lam + 0.1
    estimate = float(objective.lipschitz())
    # Power iteration approaches from below; 20 iterations get within 1% here, and
    # gradient descent is stable for any step below 2 / L.
    assert 0.99 * exact <= estimate <= exact * (1 + 1e-12)
