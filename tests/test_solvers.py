"""The solvers' table-driven test: every solver x loss x penalty x backend x dtype reaches an
independent reference optimum.

The references are computed in NumPy float64 without xpgd: least squares by
``numpy.linalg.lstsq``, ridge in closed form, the L1 / elastic-net least squares by
scikit-learn's coordinate descent (``ElasticNet``, the same objective as ours), and the
logistic and multinomial optima by a damped (proximal) Newton method written here, whose
own optimality is certified by its KKT residual and checked against scikit-learn.

The data are small (200 x 5) with AR(1)-correlated columns of very different scales and
offsets, so the estimators' internal standardisation matters.
"""

from __future__ import annotations

import functools
import math

import array_api_compat
import numpy as np
import pytest
from reference import ridge_closed_form

import xpgd
from xpgd._backend import same_device, to_numpy
from xpgd.testing import assert_close, dtype_name

N_SAMPLES, N_FEATURES = 200, 5
SCALES = np.array([1.0, 8.0, 0.2, 3.0, 0.5])
OFFSETS = np.array([0.0, 5.0, -3.0, 10.0, 1.0])
ALPHA, L1_RATIO = 0.05, 0.5

# ---------------------------------------------------------------------- data


def _design(rng: np.random.Generator, n: int = N_SAMPLES, rho: float = 0.6) -> np.ndarray:
    """AR(1)-correlated standard columns (corr(x_j, x_k) = rho^|j-k|), then scaled and
    shifted: standardisation changes the conditioning by orders of magnitude."""
    Z = np.empty((n, N_FEATURES))
    Z[:, 0] = rng.normal(size=n)
    for j in range(1, N_FEATURES):
        Z[:, j] = rho * Z[:, j - 1] + math.sqrt(1.0 - rho * rho) * rng.normal(size=n)
    return Z * SCALES + OFFSETS


@functools.cache
def _problem(loss: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: y float for "squared", labels 0/1 for "logistic", 0/1/2 for "multinomial".

    The true standardised coefficients have zeros, so the L1 optima are sparse.
    """
    rng = np.random.default_rng({"squared": 1, "logistic": 2, "multinomial": 3}[loss])
    X = _design(rng)
    centred = (X - OFFSETS) / SCALES
    if loss == "squared":
        y = centred @ np.array([1.0, -0.7, 0.0, 0.5, 0.0]) + 0.7 + 0.3 * rng.normal(size=N_SAMPLES)
    elif loss == "logistic":
        z = centred @ np.array([1.2, -0.8, 0.0, 0.6, 0.0]) + 0.3
        y = (rng.uniform(size=N_SAMPLES) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    else:
        W = np.array([[1.0, -0.5, 0.0], [0.0, 0.8, -0.8], [0.0, 0.0, 0.0], [-0.6, 0.0, 0.6]])
        scores = centred[:, :4] @ W
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        y = (rng.uniform(size=(N_SAMPLES, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return X, y


def _onehot(loss: str, y: np.ndarray) -> np.ndarray:
    """Targets as an (n, K) float matrix: K = 1 for squared and binary, one-hot otherwise."""
    if loss == "multinomial":
        return (y[:, None] == np.arange(y.max() + 1)[None, :]).astype(np.float64)
    return y.astype(np.float64)[:, None]


# ---------------------------------------------------------------------- references


def _strengths(penalty: str | None, alpha: float = ALPHA, l1_ratio: float = L1_RATIO):
    """``(l2, l1)`` of ``alpha * R(w)``, from the documented definition of each penalty."""
    return {
        None: (0.0, 0.0),
        "l2": (alpha, 0.0),
        "l1": (0.0, alpha),
        "elasticnet": (alpha * (1.0 - l1_ratio), alpha * l1_ratio),
    }[penalty]


def _objective(loss, W, b, X, y, l2=0.0, l1=0.0, sample_weight=None) -> float:
    """The documented objective in float64: weighted mean loss + l2/2 ||W||^2 + l1 ||W||_1.

    ``W`` is (p, K) and ``b`` (K,); K = 1 for the squared and binary logistic losses.
    """
    Y = _onehot(loss, y)
    Z = X @ W + b
    if loss == "squared":
        terms = 0.5 * (Z[:, 0] - Y[:, 0]) ** 2
    elif loss == "logistic":
        terms = np.logaddexp(0.0, Z[:, 0]) - Y[:, 0] * Z[:, 0]
    else:
        top = Z.max(axis=1)
        lse = top + np.log(np.exp(Z - top[:, None]).sum(axis=1))
        terms = lse - (Y * Z).sum(axis=1)
    data = float(np.average(terms, weights=sample_weight))
    return data + 0.5 * l2 * float(np.sum(W * W)) + l1 * float(np.sum(np.abs(W)))


def _smooth_terms(loss, theta, A, Y, s, l2_diag):
    """Value, gradient and Hessian of the smooth part in the coordinates of ``A``."""
    Z = A @ theta
    K = theta.shape[1]
    if loss == "squared":
        r = Z - Y
        value = float(s @ (0.5 * r[:, 0] ** 2))
        dz, curvature = r, np.ones((len(s), 1, 1))
    elif loss == "logistic":
        z = Z[:, 0]
        value = float(s @ (np.logaddexp(0.0, z) - Y[:, 0] * z))
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # the sigmoid, without overflow
        dz, curvature = (p - Y[:, 0])[:, None], (p * (1.0 - p))[:, None, None]
    else:
        top = Z.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(Z - top).sum(axis=1))
        value = float(s @ (lse - (Y * Z).sum(axis=1)))
        p = np.exp(Z - lse[:, None])
        dz = p - Y
        curvature = np.einsum("ik,km->ikm", p, np.eye(K)) - np.einsum("ik,im->ikm", p, p)
    value += 0.5 * float(np.sum(l2_diag * theta**2))
    grad = A.T @ (s[:, None] * dz) + l2_diag * theta
    size = theta.size
    H = np.einsum("i,ij,il,ikm->jklm", s, A, A, curvature).reshape(size, size)
    return value, grad.ravel(), H + np.diag(l2_diag.ravel())


def _newton_reference(loss, X, y, l2, l1=0.0, sample_weight=None, tol=1e-13):
    """The optimum of :func:`_objective` by a damped proximal Newton method, float64.

    It works on the z-scored columns (its own standardisation, plain NumPy) with the
    intercept unpenalised; each step minimises the quadratic model plus the L1 term
    exactly (coordinate descent; a least-squares solve without L1, which also handles the
    multinomial intercepts' flat direction), then backtracks (Armijo) until the decrement
    is below rounding, where full steps converge quadratically. It stops when the minimal
    subgradient is below ``tol``, which certifies the optimum.

    Returns ``(W (p, K), b (K,))``.
    """
    n, p = X.shape
    s = np.full(n, 1.0 / n) if sample_weight is None else sample_weight / sample_weight.sum()
    Y = _onehot(loss, y)
    K = Y.shape[1]
    mean, sd = X.mean(axis=0), X.std(axis=0)
    A = np.c_[np.ones(n), (X - mean) / sd]
    l2_diag = np.r_[0.0, l2 / sd**2][:, None] * np.ones((1, K))
    lam = (np.r_[0.0, l1 / sd][:, None] * np.ones((1, K))).ravel()

    def total(t):
        value, grad, H = _smooth_terms(loss, t.reshape(p + 1, K), A, Y, s, l2_diag)
        return value + float(lam @ np.abs(t)), grad, H

    theta = np.zeros((p + 1) * K)
    f, g, H = total(theta)
    for _ in range(200):
        sub = np.where(
            theta != 0, g + lam * np.sign(theta), np.sign(g) * np.maximum(np.abs(g) - lam, 0.0)
        )
        if np.abs(sub).max() <= tol:
            break
        if l1 == 0.0:
            d = -np.linalg.lstsq(H, g, rcond=None)[0]
        else:  # min_u (g - H theta).u + u H u / 2 + lam |u|, coordinate by coordinate
            u, diag, c = theta.copy(), np.diag(H), g - H @ theta
            Hu = H @ u
            for _sweep in range(100_000):
                largest = 0.0
                for j in range(len(u)):
                    r = c[j] + Hu[j] - diag[j] * u[j]
                    new = -np.sign(r) * max(abs(r) - lam[j], 0.0) / diag[j]
                    if new != u[j]:
                        Hu += H[:, j] * (new - u[j])
                        largest = max(largest, abs(new - u[j]))
                        u[j] = new
                if largest <= 1e-16:
                    break
            d = u - theta
        decrement = g @ d + float(lam @ (np.abs(theta + d) - np.abs(theta)))
        step = 1.0
        while True:
            f_new, g_new, H_new = total(theta + step * d)
            if f_new <= f + 0.25 * step * decrement or -decrement <= 1e-12 * abs(f):
                break
            step *= 0.5
        theta, f, g, H = theta + step * d, f_new, g_new, H_new
    else:
        raise AssertionError("the Newton reference did not converge")
    T = theta.reshape(p + 1, K)
    W = T[1:] / sd[:, None]
    return W, T[0] - mean @ W


@functools.cache
def _reference(loss: str, penalty: str | None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(W, b, objective)`` at the reference optimum of a table problem."""
    X, y = _problem(loss)
    l2, l1 = _strengths(penalty)
    if loss == "squared" and penalty is None:
        coef = np.linalg.lstsq(np.c_[np.ones(len(y)), X], y, rcond=None)[0]
        W, b = coef[1:, None], coef[:1]
    elif loss == "squared" and penalty == "l2":
        w, b0 = ridge_closed_form(X, y, l2)
        W, b = w[:, None], np.array([b0])
    elif loss == "squared":
        from sklearn.linear_model import ElasticNet

        # 1/(2n) ||y - Xw - b||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio)/2 ||w||^2
        enet = ElasticNet(alpha=l1 + l2, l1_ratio=l1 / (l1 + l2), tol=1e-15, max_iter=1_000_000)
        enet.fit(X, y)
        W, b = enet.coef_[:, None], np.array([enet.intercept_])
    else:
        W, b = _newton_reference(loss, X, y, l2, l1)
    return W, b, _objective(loss, W, b, X, y, l2, l1)


def _standardised(W: np.ndarray, b: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Parameters on the scale of z-scored columns, ``[b + mean . W; W * sd]``, where every
    entry is O(1) whatever the column's units; multinomial intercepts are centred (the
    softmax does not change when a constant is added to every class's score)."""
    c = b + X.mean(axis=0) @ W
    if c.shape[0] > 1:
        c = c - c.mean()
    return np.vstack([c, W * X.std(axis=0)[:, None]])


# ---------------------------------------------------------------------- helpers


def _local(backend):
    """Where fitted parameters live: X's namespace, or the chunks' (NumPy) for Dask."""
    if backend.name == "dask":
        return xpgd._backend.namespace("numpy"), "cpu"
    return backend.xp, backend.device


def _estimator(loss: str, **params):
    cls = xpgd.LinearRegression if loss == "squared" else xpgd.LogisticRegression
    return cls(**params)


def _fit(backend, dtype, loss, X, y, *, sample_weight=None, **params):
    Xb = backend.asarray(X, dtype)
    yb = backend.asarray(y, dtype) if loss == "squared" else backend.asarray(y)
    sw = None if sample_weight is None else backend.asarray(sample_weight, dtype)
    return _estimator(loss, **params).fit(Xb, yb, sample_weight=sw)


def _params(model, backend=None, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """``(W (p, K), b (K,))`` in float64 NumPy, after checking that the fitted arrays
    live in X's namespace, on its device, in its dtype."""
    if backend is not None:
        xp, dev = _local(backend)
        for name in ("coef_", "intercept_"):
            a = getattr(model, name)
            assert array_api_compat.array_namespace(a).__name__ == xp.__name__, name
            if dev is not None:
                assert same_device(array_api_compat.device(a), dev), name
            assert dtype_name(a.dtype) == dtype_name(dtype), name
    coef = to_numpy(model.coef_).astype(np.float64)
    b = to_numpy(model.intercept_).astype(np.float64).reshape(-1)
    W = coef[:, None] if coef.ndim == 1 else coef.T
    return W, b


def _is64(dtype) -> bool:
    return dtype_name(dtype) == "float64"


# ---------------------------------------------------------------------- the table

# Which penalties each (loss, solver) pair handles, and which it must refuse. L1 and the
# elastic net are not differentiable: only the proximal solvers ("gd", "nesterov", "sgd")
# take them. "normal" exists for least squares only.
SUPPORT = [
    # (loss, solver, converges with, must raise with)
    ("squared", "gd", (None, "l2", "l1", "elasticnet"), ()),
    ("squared", "momentum", (None, "l2"), ("l1", "elasticnet")),
    ("squared", "nesterov", (None, "l2", "l1", "elasticnet"), ()),
    ("squared", "lbfgs", (None, "l2"), ("l1", "elasticnet")),
    ("squared", "normal", (None, "l2"), ("l1", "elasticnet")),
    ("squared", "adam", (), ("l1", "elasticnet")),
    ("logistic", "gd", ("l2", "l1", "elasticnet"), ()),
    ("logistic", "momentum", ("l2",), ("l1", "elasticnet")),
    ("logistic", "nesterov", ("l2", "l1", "elasticnet"), ()),
    ("logistic", "lbfgs", ("l2",), ("l1", "elasticnet")),
    ("logistic", "normal", (), ("l2",)),
    ("logistic", "adam", (), ("l1",)),
    ("multinomial", "gd", ("l2", "l1", "elasticnet"), ()),
    ("multinomial", "momentum", ("l2",), ("l1", "elasticnet")),
    ("multinomial", "nesterov", ("l2", "l1", "elasticnet"), ()),
    ("multinomial", "lbfgs", ("l2",), ("l1", "elasticnet")),
    ("multinomial", "normal", (), ("l2",)),
]
TABLE = [(loss, solver, pen) for loss, solver, ok, _ in SUPPORT for pen in ok]
UNSUPPORTED = [(loss, solver, pen) for loss, solver, _, bad in SUPPORT for pen in bad]


def _case_id(case) -> str:
    return "-".join(str(v) for v in case)


def _fit_tol(solver: str, dtype) -> float:
    """The ``tol`` each solver can certify in each dtype.

    ``"gd"`` (``learning_rate="auto"``) runs an Armijo line search, which accepts a step by
    comparing two loss values: a step with gradient ``g`` lowers the loss by about
    ``|g|^2 / (2 L)``, which is lost in the rounding of the loss (``~eps |F|``) once ``|g|``
    is below ``~sqrt(2 L eps |F|)``: about 1e-8 in float64 and 3e-4 in float32 here. There
    the line search stalls (a ConvergenceWarning, which this suite turns into an error), so
    its tol sits a few times above that floor. The other solvers stop on the gradient
    itself, whose rounding floor is ``~eps`` times the gradient's terms.
    """
    if solver == "gd":
        return 1e-7 if _is64(dtype) else 1e-3
    return 1e-9 if _is64(dtype) else 1e-5


@pytest.mark.parametrize(("loss", "solver", "penalty"), TABLE, ids=map(_case_id, TABLE))
def test_solver_reaches_the_reference_optimum(backend, dtype, loss, solver, penalty):
    X, y = _problem(loss)
    W_ref, b_ref, best = _reference(loss, penalty)
    l2, l1 = _strengths(penalty)
    model = _fit(
        backend,
        dtype,
        loss,
        X,
        y,
        solver=solver,
        penalty=penalty,
        alpha=ALPHA,
        l1_ratio=L1_RATIO,
        tol=_fit_tol(solver, dtype),
        max_iter=20_000,
    )
    assert model.solver_ == solver
    assert model.n_iter_ < 20_000
    W, b = _params(model, backend, dtype)
    ours = _objective(loss, W, b, X, y, l2, l1)
    if _is64(dtype):
        # The criterion. The stopping rule bounds the gap far below it: with the
        # stationarity measure at most tol in the standardised coordinates and mu the
        # smallest curvature there, F - F* <= n_params tol^2 / (2 mu) (below 1e-9 for every
        # case here, the worst being the multinomial elastic net, mu = l2 / sd_max^2).
        assert abs(ours - best) <= 1e-6 * best
        # Parameter error <= sqrt(n_params) tol / mu on the z-scored scale, where every
        # entry is O(1).
        coef_atol = 1e-5
    else:
        # X and y rounded to float32 move the optimum by about eps32 * cond ~ 1e-6 (in
        # the standardised coordinates); tol (1e-5, gd 1e-3) bounds what is left, and
        # F - F* <= n_params tol^2 / (2 mu) ~ 1e-5 |F*| for gd's tol.
        assert best - 1e-12 <= ours <= best * (1.0 + 1e-4)
        coef_atol = 2e-2 if solver == "gd" else 1e-3
    np.testing.assert_allclose(
        _standardised(W, b, X), _standardised(W_ref, b_ref, X), rtol=0, atol=coef_atol
    )
    if l1 and _is64(dtype):
        # The proximal step sets coefficients to exactly zero: the same support as the
        # reference (whose zeros are exact too, from coordinate descent).
        np.testing.assert_array_equal(W == 0, W_ref == 0)
    # The history's last value is the documented objective at the returned parameters,
    # computed in the data's dtype (float32: rounding of 200 loss terms and of X itself).
    last = float(to_numpy(model.loss_history_)[-1])
    assert last == pytest.approx(ours, rel=1e-12 if _is64(dtype) else 2e-5)


@pytest.mark.parametrize(
    ("loss", "solver", "penalty"), UNSUPPORTED, ids=map(_case_id, UNSUPPORTED)
)
def test_unsupported_combinations_raise_and_name_the_fix(loss, solver, penalty):
    X, y = _problem(loss)
    model = _estimator(loss, solver=solver, penalty=penalty)
    if solver == "normal":  # LogisticRegression has no normal equations
        match = r"solver='normal' is invalid; choose one of \('auto', .*'lbfgs'"
    else:
        match = (
            rf"solver='{solver}' is invalid; it cannot handle penalty='{penalty}'.*"
            r"use one of \('gd', 'nesterov', 'sgd'\)"
        )
    with pytest.raises(xpgd.InvalidParameterError, match=match):
        model.fit(X, y)
    assert not hasattr(model, "coef_")
