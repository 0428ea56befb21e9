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


def _l1_quadratic(H, c, lam, u):
    """``argmin_u c.u + u H u / 2 + sum_j lam_j |u_j|`` from ``u``: coordinate descent until
    the sign pattern settles, then the exact solve on that pattern, accepted once it meets
    the subproblem's optimality conditions (to rounding)."""
    diag = np.diag(H)
    Hu = H @ u
    for _sweep in range(10_000):
        for j in range(len(u)):
            r = c[j] + Hu[j] - diag[j] * u[j]
            new = -np.sign(r) * max(abs(r) - lam[j], 0.0) / diag[j]
            if new != u[j]:
                Hu += H[:, j] * (new - u[j])
                u[j] = new
        free, sign = (u != 0) | (lam == 0), np.sign(u)
        v = np.zeros_like(u)
        rhs = -(c[free] + lam[free] * sign[free])
        v[free] = np.linalg.lstsq(H[np.ix_(free, free)], rhs, rcond=None)[0]
        r = c + H @ v
        penalised = free & (lam > 0)
        if (
            np.all(np.sign(v[penalised]) == sign[penalised])
            and np.all(np.abs(r[free] + lam[free] * sign[free]) <= 1e-13)
            and np.all(np.abs(r[~free]) <= lam[~free] + 1e-13)
        ):
            return v
    raise AssertionError("the L1 subproblem of the Newton reference did not converge")


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
        else:
            d = _l1_quadratic(H, g - H @ theta, lam, theta.copy()) - theta
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


def _identifiable(W: np.ndarray, b: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The parameters the predictions depend on, on the scale of z-scored columns:
    ``[b + mean . W; W * sd]``, every entry O(1) whatever the column's units.

    Multinomial scores are centred across the classes, intercepts and coefficients alike:
    adding the same vector to every class's column changes no probability (only the
    penalty, which the objective check sees).
    """
    theta = np.vstack([b + X.mean(axis=0) @ W, W * X.std(axis=0)[:, None]])
    if theta.shape[1] > 1:
        theta = theta - theta.mean(axis=1, keepdims=True)
    return theta


def _curvature_at(loss, X, y, W, b, l2, sample_weight=None) -> float:
    """The smallest eigenvalue of the objective's Hessian at ``(W, b)``, in z-scored
    coordinates (where the solvers' ``tol`` is measured), on the identifiable subspace of
    :func:`_identifiable`: the strong convexity that turns a small gradient into a small
    distance to the optimum. (For multinomial models the class shifts are left out: the
    data do not curve them, only the L2 part of the penalty does, by ``l2 / sd_j^2``.)"""
    n, K = X.shape[0], W.shape[1]
    s = np.full(n, 1.0 / n) if sample_weight is None else sample_weight / sample_weight.sum()
    mean, sd = X.mean(axis=0), X.std(axis=0)
    A = np.c_[np.ones(n), (X - mean) / sd]
    theta = np.vstack([b + mean @ W, W * sd[:, None]])
    l2_diag = np.r_[0.0, l2 / sd**2][:, None] * np.ones((1, K))
    _, _, H = _smooth_terms(loss, theta, A, _onehot(loss, y), s, l2_diag)
    if K > 1:  # an orthonormal basis of the class-centred subspace (H is row-major)
        values, vectors = np.linalg.eigh(np.kron(np.eye(X.shape[1] + 1), np.eye(K) - 1.0 / K))
        basis = vectors[:, values > 0.5]
        H = basis.T @ H @ basis
    return float(np.linalg.eigvalsh(H)[0])


@functools.cache
def _curvature(loss: str, penalty: str | None) -> float:
    """:func:`_curvature_at` the reference optimum of a table problem."""
    X, y = _problem(loss)
    W, b, _ = _reference(loss, penalty)
    return _curvature_at(loss, X, y, W, b, _strengths(penalty)[0])


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


def _once_for_array_api_strict(backend) -> None:
    """Run array-api-strict's many-fit tests on ``device1`` only: the same code as on its
    default device, and it also refuses any silent move to the host."""
    if backend.id == "array_api_strict":
        pytest.skip("array_api_strict: runs on array_api_strict-device1 (the same code)")


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
    is below ``~sqrt(2 L eps |F|)``. Its approximate (Hager-Zhang) acceptance rescues the
    smooth problems, not the proximal (L1) steps, which stall at about 7e-9 in float64
    and 3e-4 in float32 here (a ConvergenceWarning, which this suite turns into an
    error): gd's tol sits a few times above that floor. The other solvers stop on the
    gradient itself, whose rounding floor is ``~eps`` times the gradient's terms.
    """
    if solver == "gd":
        return 1e-7 if _is64(dtype) else 1e-3
    return 1e-9 if _is64(dtype) else 1e-5


@pytest.mark.parametrize(("loss", "solver", "penalty"), TABLE, ids=map(_case_id, TABLE))
def test_solver_reaches_the_reference_optimum(backend, dtype, loss, solver, penalty):
    _once_for_array_api_strict(backend)
    X, y = _problem(loss)
    W_ref, b_ref, best = _reference(loss, penalty)
    l2, l1 = _strengths(penalty)
    tol = _fit_tol(solver, dtype)
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
        tol=tol,
        max_iter=20_000,
    )  # not converging within tol would warn, and warnings are errors here
    assert model.solver_ == solver
    assert model.n_iter_ < 20_000
    W, b = _params(model, backend, dtype)
    ours = _objective(loss, W, b, X, y, l2, l1)

    # The bounds follow from the stopping rule: xpgd stops once every entry of the
    # (minimal sub)gradient in its z-scored coordinates is at most tol, so its 2-norm s is
    # at most sqrt(n_params) tol. In float32 that gradient is the one of the rounded data,
    # which differs from the float64 problem's by about eps32 times the size of the
    # gradient terms (below 1e-6 here): the bounds use tol + 1e-6.
    n_params = W_ref.size + b_ref.size
    s = math.sqrt(n_params) * (tol + (0.0 if _is64(dtype) else 1e-6))
    step = _identifiable(W, b, X) - _identifiable(W_ref, b_ref, X)
    # Convexity: F(ours) - F* <= s . (ours - ref) <= |s| |ours - ref| (all coordinates but
    # the flat shift of the multinomial intercepts, along which the gradient is zero).
    full = np.vstack([step[:1], (W - W_ref) * X.std(axis=0)[:, None]])
    rounding = 1e-14 * best  # float64 evaluation of the two objectives
    assert -rounding <= ours - best <= s * float(np.linalg.norm(full)) + rounding
    if _is64(dtype):
        assert abs(ours - best) <= 1e-6 * best  # the criterion, implied by the above
    # Strong convexity on the identifiable subspace (curvature mu >= 0.06 for every table
    # problem, see test_reference_is_the_optimum): |ours - ref| <= |s| / mu. For the L1
    # problems it is the smooth part's curvature, which the non-smooth part only adds to.
    assert float(np.linalg.norm(step)) <= s / _curvature(loss, penalty)
    if l1 and _is64(dtype):
        # The proximal step sets coefficients to exactly zero: the same support as the
        # reference (whose zeros are exact too, from coordinate descent).
        np.testing.assert_array_equal(W == 0, W_ref == 0)
    # The history's last value is the documented objective at the returned parameters,
    # computed in the data's dtype; float32 rounds X itself (offsets up to 10 move z by
    # ~1e-6) and the 200 loss terms: 1e-5 relative.
    last = float(to_numpy(model.loss_history_)[-1])
    assert last == pytest.approx(ours, rel=1e-12 if _is64(dtype) else 1e-5)


@pytest.mark.parametrize(("loss", "solver", "penalty"), UNSUPPORTED, ids=map(_case_id, UNSUPPORTED))
def test_unsupported_combinations_raise_and_name_the_fix(loss, solver, penalty):
    X, y = _problem(loss)
    model = _estimator(loss, solver=solver, penalty=penalty)
    if solver == "normal" and loss != "squared":  # no normal equations for logistic
        match = r"solver='normal' is invalid; choose one of \('auto', .*'lbfgs'"
    else:
        match = (
            rf"solver='{solver}' is invalid; it cannot handle penalty='{penalty}'.*"
            r"use one of \('gd', 'nesterov', 'sgd'\)"
        )
    with pytest.raises(xpgd.InvalidParameterError, match=match):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


# ---------------------------------------------------------------------- the references


def _gradient(loss, W, b, X, y, l2):
    """Gradient of the smooth part of :func:`_objective` in the model's coordinates."""
    Z = X @ W + b
    Y = _onehot(loss, y)
    if loss == "squared":
        dz = Z - Y
    elif loss == "logistic":
        dz = 0.5 * (1.0 + np.tanh(0.5 * Z)) - Y
    else:
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        dz = P / P.sum(axis=1, keepdims=True) - Y
    n = X.shape[0]
    return dz.sum(axis=0) / n, X.T @ dz / n + l2 * W


def _sklearn_optimum(loss: str, penalty: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The same optimum by another implementation: scikit-learn (its exact Newton solver
    for L2 logistic, SAGA for the L1 ones; ``C = 1 / (n alpha)`` turns its penalised sum
    into our penalised mean), or, where scikit-learn is the reference, the Newton one."""
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    X, y = _problem(loss)
    l2, l1 = _strengths(penalty)
    if loss == "squared":
        if penalty is None:
            fitted = LinearRegression().fit(X, y)
        elif penalty == "l2":  # ||y - Xw - b||^2 + a ||w||^2 = 2n (our objective), a = n l2
            fitted = Ridge(alpha=len(y) * l2, tol=1e-14, solver="cholesky").fit(X, y)
        else:
            return _newton_reference(loss, X, y, l2, l1)
        return fitted.coef_[:, None], np.array([fitted.intercept_])
    solver = "newton-cholesky" if l1 == 0.0 else "saga"
    clf = LogisticRegression(
        C=1.0 / (len(y) * (l1 + l2)),
        l1_ratio=l1 / (l1 + l2),
        solver=solver,
        tol=1e-14,
        max_iter=100_000,
    ).fit(X, y)
    return clf.coef_.T, clf.intercept_


PROBLEMS = sorted({(loss, pen) for loss, _, pen in TABLE}, key=str)


@pytest.mark.parametrize(("loss", "penalty"), PROBLEMS, ids=map(_case_id, PROBLEMS))
def test_reference_is_the_optimum(loss, penalty):
    X, y = _problem(loss)
    l2, l1 = _strengths(penalty)
    W, b, best = _reference(loss, penalty)
    # Optimality, checked from scratch: the intercepts' gradient and the minimal
    # subgradient of the coefficients vanish. The references stop at 1e-13 in z-scored
    # coordinates; columns with sd up to 8 and offsets up to 10 scale that by ~10.
    grad_b, grad_W = _gradient(loss, W, b, X, y, l2)
    sub = np.where(
        W != 0, grad_W + l1 * np.sign(W), np.sign(grad_W) * np.maximum(np.abs(grad_W) - l1, 0)
    )
    assert np.abs(grad_b).max() <= 1e-11
    assert np.abs(sub).max() <= 1e-11
    # Another implementation finds the same point. SAGA stops when an epoch changes the
    # coefficients by less than tol = 1e-14 (relative): it lands within ~1e-11 of the
    # optimum here, so 1e-9 on the z-scored scale (O(1) entries) has room to spare.
    W_other, b_other = _sklearn_optimum(loss, penalty)
    np.testing.assert_allclose(
        _identifiable(W_other, b_other, X), _identifiable(W, b, X), rtol=0, atol=1e-9
    )
    assert _objective(loss, W_other, b_other, X, y, l2, l1) == pytest.approx(best, rel=1e-12)
    # The table's bounds divide by this curvature: it must be well away from zero.
    assert _curvature(loss, penalty) >= 0.06


# ---------------------------------------------------------------------- stochastic solvers

STOCHASTIC_CASES = [
    # (solver, loss, penalty, learning_rate): "auto" is 1/L; Adam's default (1e-3) is
    # meant for long runs, 0.05 reaches the optimum in 100 epochs here.
    ("sgd", "squared", "l2", "auto"),
    ("sgd", "squared", "elasticnet", "auto"),
    ("sgd", "logistic", "l2", "auto"),
    ("sgd", "logistic", "l1", "auto"),
    ("sgd", "multinomial", "l2", "auto"),
    ("adam", "squared", "l2", 0.05),
    ("adam", "logistic", "l2", 0.05),
    ("adam", "multinomial", "l2", 0.05),
]


@pytest.mark.skip_xp_backends("dask", reason="no stochastic solvers on Dask (tested below)")
@pytest.mark.skip_xp_backends(
    "array_api_strict",
    reason="slow per mini-batch; the same-seed test below shows it follows NumPy exactly",
)
@pytest.mark.parametrize(
    ("solver", "loss", "penalty", "learning_rate"),
    STOCHASTIC_CASES,
    ids=map(_case_id, STOCHASTIC_CASES),
)
def test_stochastic_solvers_reach_the_optimum(backend, dtype, solver, loss, penalty, learning_rate):
    X, y = _problem(loss)
    best = _reference(loss, penalty)[2]
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
        learning_rate=learning_rate,
        schedule="cosine",
        batch_size=40,
        max_iter=100,
        tol=None,
        random_state=0,
    )
    assert model.n_iter_ == 100
    W, b = _params(model, backend, dtype)
    gap = _objective(loss, W, b, X, y, l2, l1) - best
    # Mini-batch noise: with a constant step the iterates hover at a noise floor above
    # the optimum, proportional to the step (here 3e-4 to 5e-2 relative with the step
    # 1/L and batches of 40, depending on the seed). The cosine schedule shrinks the
    # steps of the last epochs to ~(pi k / (2 T))^2 of the first (k epochs from the end,
    # T = 100 epochs), which brings the floor down to ~1e-5 (measured over 8 seeds: at
    # most 2e-5); 1e-4 leaves room for the seed. float32's rounding (~1e-7 relative) is
    # far below it.
    assert -1e-12 <= gap <= 1e-4 * best


@pytest.mark.skip_xp_backends("dask", reason="no stochastic solvers on Dask (tested below)")
@pytest.mark.parametrize(("loss", "penalty"), [("squared", "l2"), ("logistic", "l1")])
def test_full_batch_sgd_is_gradient_descent_step_by_step(backend, loss, penalty):
    """One mini-batch of all the rows is one full gradient (proximal) step: ``k`` epochs of
    "sgd" with a constant step are ``k`` iterations of "gd" with that step."""
    X, y = _problem(loss)
    common = {"penalty": penalty, "alpha": ALPHA, "learning_rate": 0.1, "tol": None}
    gd = _fit(backend, backend.xp.float64, loss, X, y, solver="gd", max_iter=25, **common)
    sgd = _fit(
        backend,
        backend.xp.float64,
        loss,
        X,
        y,
        solver="sgd",
        batch_size=N_SAMPLES,
        schedule="constant",
        max_iter=25,
        random_state=0,
        **common,
    )
    assert gd.n_iter_ == sgd.n_iter_ == 25
    # Only the order of the rows in the sums differs (the epoch's batch is shuffled):
    # rounding, ~1e-16 per step, not amplified by a contracting iteration.
    assert_close(sgd.coef_, gd.coef_, rtol=1e-12, atol=1e-15)
    assert_close(sgd.intercept_, gd.intercept_, rtol=1e-12, atol=1e-15)
    # An epoch reports the mean of its mini-batch losses, each taken before that batch's
    # step: for one batch, the loss at the start of the epoch. So the histories agree
    # shifted by one.
    assert_close(sgd.loss_history_[1:], gd.loss_history_[:-1], rtol=1e-12)


@pytest.mark.skip_xp_backends("dask", reason="no stochastic solvers on Dask (tested below)")
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_same_seed_same_fit_on_every_backend(backend, solver):
    X, y = _problem("multinomial")
    params = {
        "solver": solver,
        "learning_rate": 0.05 if solver == "adam" else "auto",
        "batch_size": 16,
        "max_iter": 8,
        "tol": None,
    }
    Xb, yb = backend.asarray(X), backend.asarray(y)
    first = xpgd.LogisticRegression(random_state=7, **params).fit(Xb, yb)
    again = xpgd.LogisticRegression(random_state=7, **params).fit(Xb, yb)
    # Same backend: the same operations in the same order, bit for bit.
    np.testing.assert_array_equal(to_numpy(again.coef_), to_numpy(first.coef_))
    np.testing.assert_array_equal(to_numpy(again.loss_history_), to_numpy(first.loss_history_))
    # The row orders are drawn on the host from the seed, so every backend sees the same
    # batches; only the rounding of its reductions differs (~1e-16 per update, 104
    # updates, no amplification on this strongly convex problem).
    host = xpgd.LogisticRegression(random_state=7, **params).fit(X, y)
    assert_close(
        first.coef_, host.coef_, xp=backend.xp, device=backend.device, rtol=1e-10, atol=1e-13
    )
    other = xpgd.LogisticRegression(random_state=8, **params).fit(Xb, yb)
    assert np.abs(to_numpy(other.coef_) - to_numpy(first.coef_)).max() > 1e-3


def test_early_stopping_restores_the_best_validation_parameters(monkeypatch):
    """Record the parameters and the validation rows at every epoch, recompute each
    epoch's validation objective in NumPy, and check the model is the best epoch's."""
    from xpgd._core.objective import LinearObjective

    seen = []
    real = LinearObjective.subset_value

    def recording(self, theta, rows, **kwargs):
        value = real(self, theta, rows, **kwargs)
        seen.append((to_numpy(self.original(theta)), to_numpy(rows), float(value)))
        return value

    monkeypatch.setattr(LinearObjective, "subset_value", recording)
    X, y = _problem("logistic")
    l2, _ = _strengths("l2")
    # A constant step of 1/L with batches of 10 is noisy: the validation loss stops
    # improving by tol long before max_iter.
    model = xpgd.LogisticRegression(
        solver="sgd",
        alpha=ALPHA,
        batch_size=10,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        tol=1e-4,
        max_iter=500,
        random_state=0,
    ).fit(X, y)
    assert model.n_iter_ < 500
    assert len(seen) == model.n_iter_
    rows = seen[0][1]
    assert len(rows) == 40 and all(np.array_equal(r, rows) for _, r, _ in seen)
    scores = []
    for theta, _, value in seen:
        W, b = theta[1:, None], theta[:1]
        scores.append(_objective("logistic", W, b, X[rows], y[rows], l2))
        assert value == pytest.approx(scores[-1], rel=1e-12)
    best = int(np.argmin(scores))
    assert best < model.n_iter_ - 1  # the last epoch was worse: something to restore
    theta = seen[best][0]
    np.testing.assert_allclose(model.coef_[0], theta[1:], rtol=1e-14)
    np.testing.assert_allclose(model.intercept_, theta[:1], rtol=1e-14)


# ---------------------------------------------------------------------- multinomial: iris


def test_multinomial_iris_reaches_scikit_learns_optimum(backend):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    alpha = 0.01
    sk = LogisticRegression(C=1.0 / (len(y) * alpha), tol=1e-12, max_iter=10_000).fit(X, y)
    sk_loss = _objective("multinomial", sk.coef_.T, sk.intercept_, X, y, alpha)
    W_ref, b_ref = _newton_reference("multinomial", X, y, alpha)
    model = xpgd.LogisticRegression(solver="lbfgs", alpha=alpha, tol=1e-10, max_iter=5000)
    model.fit(backend.asarray(X), backend.asarray(y))
    assert tuple(model.coef_.shape) == (3, 4) and tuple(model.intercept_.shape) == (3,)
    W, b = _params(model, backend, backend.xp.float64)
    ours = _objective("multinomial", W, b, X, y, alpha)
    # The criterion: scikit-learn's lbfgs stops on its own gradient tolerance, so
    # its loss is the optimum's to ~1e-12; ours is at least as low, to rounding.
    assert abs(ours - sk_loss) <= 1e-6 * sk_loss
    assert ours <= sk_loss + 1e-14
    # Coefficients against the exact Newton optimum, within the stopping rule's bound
    # sqrt(n_params) tol / mu (iris is nearly separable: mu ~ 0.006, the bound ~7e-8).
    mu = _curvature_at("multinomial", X, y, W_ref, b_ref, alpha)
    step = _identifiable(W, b, X) - _identifiable(W_ref, b_ref, X)
    assert np.linalg.norm(step) <= math.sqrt(W.size + b.size) * 1e-10 / mu
    Xb = backend.asarray(X)
    proba = model.predict_proba(Xb)
    assert_close(
        backend.xp.sum(proba, axis=1),
        np.ones(len(y)),
        xp=backend.xp,
        device=backend.device,
        dtype=backend.xp.float64,
        rtol=1e-14,
    )
    np.testing.assert_allclose(to_numpy(proba), sk.predict_proba(X), atol=1e-6)
    pred = to_numpy(model.predict(Xb))
    np.testing.assert_array_equal(pred, to_numpy(model.classes_)[np.argmax(to_numpy(proba), 1)])
    assert model.score(Xb, backend.asarray(y)) == pytest.approx(sk.score(X, y))


def test_multinomial_string_labels(backend):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    Xb = backend.asarray(X)
    numeric = xpgd.LogisticRegression(alpha=0.01, tol=1e-10).fit(Xb, backend.asarray(y))
    model = xpgd.LogisticRegression(alpha=0.01, tol=1e-10).fit(Xb, names[y])
    np.testing.assert_array_equal(model.classes_, names)
    # The labels only name the columns: the same problem, the same fit.
    assert_close(model.coef_, numeric.coef_, rtol=1e-12)
    pred = model.predict(Xb)
    if backend.name == "dask":  # looked up chunk by chunk, lazily
        assert array_api_compat.is_dask_array(pred)
        pred = pred.compute()
    assert isinstance(pred, np.ndarray)  # string labels live on the host
    np.testing.assert_array_equal(pred, names[to_numpy(numeric.predict(Xb)).astype(int)])
    assert model.score(Xb, names[y]) == pytest.approx(numeric.score(Xb, backend.asarray(y)))


# ---------------------------------------------------------------------- class weights


def _imbalanced(loss: str) -> tuple[np.ndarray, np.ndarray]:
    """The table's classification data with two thirds of class 0 dropped."""
    X, y = _problem(loss)
    keep = (y != 0) | (np.arange(len(y)) % 3 == 0)
    return X[keep], y[keep]


@pytest.mark.parametrize("loss", ["logistic", "multinomial"])
def test_class_weight_equals_the_matching_sample_weights(backend, loss):
    _once_for_array_api_strict(backend)
    X, y = _imbalanced(loss)
    counts = np.bincount(y)
    K = len(counts)
    balanced = len(y) / (K * counts)  # scikit-learn's "balanced": n / (K n_k)
    table = {0: 2.0, 1: 0.5} if K == 2 else {0: 2.0, 2: 0.5}  # a missing label weighs 1
    per_class = np.array([table.get(k, 1.0) for k in range(K)])
    sw = np.random.default_rng(5).uniform(0.5, 2.0, size=len(y))
    Xb, yb = backend.asarray(X), backend.asarray(y)

    def fit(class_weight=None, sample_weight=None):
        model = xpgd.LogisticRegression(
            solver="lbfgs", alpha=0.01, tol=1e-10, max_iter=5000, class_weight=class_weight
        )
        weights = None if sample_weight is None else backend.asarray(sample_weight)
        return model.fit(Xb, yb, sample_weight=weights)

    # The weights are multiplied into the sample weights before the fit, so each pair is
    # the same objective, solved by the same deterministic solver from the same start:
    # equal up to the rounding of the weights themselves.
    pairs = [
        (fit("balanced"), fit(sample_weight=balanced[y])),
        (fit(table), fit(sample_weight=per_class[y])),
        (fit("balanced", sw), fit(sample_weight=sw * balanced[y])),
    ]
    for by_class, by_sample in pairs:
        assert_close(by_class.coef_, by_sample.coef_, rtol=1e-10, atol=1e-12)
        assert_close(by_class.intercept_, by_sample.intercept_, rtol=1e-10, atol=1e-12)
    # And it is the weighted optimum (the Newton reference with those weights), within
    # the stopping rule's bound sqrt(n_params) tol / mu. (xpgd z-scores with the weighted
    # spreads, these coordinates with the plain ones: a factor 2 covers the difference.)
    weights = balanced[y]
    W_ref, b_ref = _newton_reference(loss, X, y, 0.01, sample_weight=weights)
    W, b = _params(pairs[0][0])
    mu = _curvature_at(loss, X, y, W_ref, b_ref, 0.01, sample_weight=weights)
    step = _identifiable(W, b, X) - _identifiable(W_ref, b_ref, X)
    assert np.linalg.norm(step) <= 2 * math.sqrt(W.size + b.size) * 1e-10 / mu
    unweighted = _params(fit())[0]
    assert np.abs(unweighted - W).max() > 1e-2  # the weights did change the fit


# ---------------------------------------------------------------------- warm start


@pytest.mark.parametrize(
    ("loss", "solver"),
    [("squared", "lbfgs"), ("logistic", "nesterov"), ("multinomial", "lbfgs")],
)
def test_warm_start_from_a_converged_model(backend, loss, solver):
    X, y = _problem(loss)
    W_ref, b_ref, _ = _reference(loss, "l2")
    model = _estimator(loss, solver=solver, penalty="l2", alpha=ALPHA, tol=1e-8, warm_start=True)
    Xb = backend.asarray(X)
    yb = backend.asarray(y)
    model.fit(Xb, yb)  # nothing to start from yet: a cold start
    cold_iterations = model.n_iter_
    W1, b1 = _params(model)
    # Refit at the same tol: the start already meets it, so the first check stops the
    # run; the parameters only make the round trip through the z-scored coordinates.
    model.fit(Xb, yb)
    assert model.n_iter_ == 0
    W2, b2 = _params(model)
    np.testing.assert_allclose(W2, W1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b2, b1, rtol=1e-12, atol=1e-15)
    # A tighter tol: fewer iterations than from zero, to the same optimum.
    model.set_params(tol=1e-12).fit(Xb, yb)
    assert model.n_iter_ < cold_iterations
    W3, b3 = _params(model)
    step = _identifiable(W3, b3, X) - _identifiable(W_ref, b_ref, X)
    assert np.linalg.norm(step) <= math.sqrt(W3.size + b3.size) * 1e-12 / _curvature(loss, "l2")


@pytest.mark.parametrize(
    "change", ["features", "3 classes to 2", "2 classes to 3", "2 targets to 1"]
)
def test_warm_start_falls_back_to_a_cold_start_when_shapes_change(backend, change):
    """The documented rule: a different number of features, targets or classes starts
    from zero, exactly as a fresh model would."""
    X, y = _problem("multinomial")
    binary = (y == 2).astype(np.int64)
    squared = _problem("squared")[1]
    before, after = {
        "features": ((X, y), (X[:, :3], y)),
        "3 classes to 2": ((X, y), (X, binary)),
        "2 classes to 3": ((X, binary), (X, y)),
        "2 targets to 1": ((X, np.c_[squared, 2.0 * squared]), (X, squared)),
    }[change]
    cls = xpgd.LinearRegression if change == "2 targets to 1" else xpgd.LogisticRegression
    warm = cls(solver="lbfgs", tol=1e-8, warm_start=True)
    warm.fit(backend.asarray(before[0]), backend.asarray(before[1]))
    warm.fit(backend.asarray(after[0]), backend.asarray(after[1]))
    cold = cls(solver="lbfgs", tol=1e-8)
    cold.fit(backend.asarray(after[0]), backend.asarray(after[1]))
    # The same start (zero), the same deterministic run.
    assert warm.n_iter_ == cold.n_iter_
    assert_close(warm.coef_, cold.coef_, rtol=0)
    assert_close(warm.intercept_, cold.intercept_, rtol=0)


# ---------------------------------------------------------------------- normal equations


def test_normal_equations_exact_least_squares_and_ridge(backend, rng):
    # Independent standard normal columns: a well-conditioned problem (cond ~ 1.3).
    X = rng.normal(size=(300, 6))
    y = X @ rng.normal(size=6) + 0.5 + 0.1 * rng.normal(size=300)
    sw = rng.uniform(0.5, 2.0, size=300)
    exact = np.linalg.lstsq(np.c_[np.ones(300), X], y, rcond=None)[0]
    xp, dev = _local(backend)
    model = xpgd.LinearRegression(solver="normal").fit(backend.asarray(X), backend.asarray(y))
    assert model.n_iter_ == 1  # one Cholesky solve is exact: no refinement needed
    # Normal equations square the condition number: error ~ cond^2 eps ~ 1e-15.
    assert_close(model.coef_, exact[1:], xp=xp, device=dev, rtol=1e-10)
    assert_close(model.intercept_, np.asarray(exact[0]), xp=xp, device=dev, rtol=1e-10)
    ridge_w, ridge_b = ridge_closed_form(X, y, 0.5, sample_weight=sw)
    model = xpgd.LinearRegression(solver="normal", penalty="l2", alpha=0.5)
    model.fit(backend.asarray(X), backend.asarray(y), sample_weight=backend.asarray(sw))
    assert_close(model.coef_, ridge_w, xp=xp, device=dev, rtol=1e-10)
    assert_close(model.intercept_, np.asarray(ridge_b), xp=xp, device=dev, rtol=1e-10)


def test_normal_equations_float32_refinement(backend):
    X, y = _problem("squared")
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    X64 = X32.astype(np.float64)
    # The reference is the exact least squares of the float32 data themselves (in
    # float64), so only the solver's own rounding is measured.
    exact = np.linalg.lstsq(np.c_[np.ones(len(y)), X64], y32, rcond=None)[0]
    W_ref, b_ref = exact[1:, None], exact[:1]
    cond = np.linalg.cond((X64 - X64.mean(axis=0)) / X64.std(axis=0))  # ~2.9
    eps = float(np.finfo(np.float32).eps)
    errors = {}
    for tol in (None, 1e-6):
        model = xpgd.LinearRegression(solver="normal", tol=tol)
        model.fit(backend.asarray(X32), backend.asarray(y32))
        W, b = _params(model, backend, backend.xp.float32)
        step = _identifiable(W, b, X64) - _identifiable(W_ref, b_ref, X64)
        errors[tol] = (model.n_iter_, float(np.abs(step).max()))
    # tol=None: one solve. The normal equations square the condition number, and the
    # Gram matrix is summed in float32: a few cond^2 eps (4e-6 here).
    assert errors[None][0] == 1
    # Each refinement re-solves for the correction from the gradient at the current
    # point, which brings the error down to what float32 gradients resolve: the bound of
    # a backward-stable least-squares solve, ~cond eps on the z-scored scale (entries
    # O(1)); 2 cond eps = 7e-7, which the single solve does not meet. Refinement runs
    # while the float32 gradient exceeds tol: on NumPy it always does here; on a GPU the
    # gradient of the single solve (fused kernel, float64 block sums) can already be
    # below tol, and then nothing is refined and the single solve's error stands.
    refinements, error = errors[1e-6]
    assert 1 <= refinements <= 3
    if backend.name == "numpy":
        assert refinements > 1
    if refinements > 1:
        assert error <= 2 * cond * eps
    assert errors[1e-6][1] <= errors[None][1]


def test_normal_equations_collinear_columns_take_the_minimum_norm_solution(backend, dtype):
    X, y = _problem("squared")
    X2 = np.c_[X, X[:, 1]]  # a duplicated column: X^T X is singular, Cholesky fails
    ls = np.linalg.lstsq(np.c_[np.ones(len(y)), X], y, rcond=None)[0]
    W_ls, b_ls = ls[1:, None], ls[:1]
    best = _objective("squared", W_ls, b_ls, X, y)
    model = xpgd.LinearRegression(solver="normal").fit(
        backend.asarray(X2, dtype), backend.asarray(y, dtype)
    )
    W, b = _params(model, backend, dtype)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))
    eps = float(np.finfo(dtype_name(dtype)).eps)
    # Error model of the solve in z-scored coordinates: the gradient is summed in raw
    # units and then mapped (divided by sd, minus mean x the intercept's gradient), so
    # its rounding is ~ eps sqrt(n) (1 + max |mean| / sd) (the worst column here has
    # mean -3, sd 0.2); the pseudo-inverse divides it by the smallest eigenvalue it keeps.
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    mu = float(np.linalg.eigvalsh(Z.T @ Z / len(y))[0])
    growth = 1.0 + float(np.max(np.abs(X.mean(axis=0)) / X.std(axis=0)))
    bound = 10 * eps * math.sqrt(len(y)) * growth / mu
    # The minimum-norm solution in z-scored coordinates splits the twins' weight evenly
    # (same spread), and their sum is the least-squares weight of the column.
    sd = X2.std(axis=0)
    assert abs(W[1, 0] - W[5, 0]) * sd[1] <= bound
    merged = W[:5].copy()
    merged[1] += W[5]
    step = _identifiable(merged, b, X) - _identifiable(W_ls, b_ls, X)
    assert np.abs(step).max() <= bound
    # The least-squares loss, to second order in that error (float64: to rounding).
    ours = _objective("squared", W, b, X2, y)
    assert -1e-14 * best <= ours - best <= bound**2 * 10 + 1e-14 * best


# ---------------------------------------------------------------------- multinomial gradient


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_multinomial_objective_and_gradient_match_finite_differences(
    backend, standardize, fit_intercept, weighted
):
    from xpgd._core.losses import get_loss
    from xpgd._core.objective import LinearObjective

    rng = np.random.default_rng(11)
    X, y = _problem("multinomial")
    X, y = X[:60, :4], y[:60]
    Y = _onehot("multinomial", y)
    sw = rng.uniform(0.1, 3.0, size=len(y)) if weighted else None
    l2, l1 = 0.3, 0.2
    P, K = 4 + int(fit_intercept), 3
    theta = rng.normal(size=(P, K))
    objective = LinearObjective(
        backend.asarray(X),
        backend.asarray(Y),
        get_loss("multinomial"),
        sample_weight=None if sw is None else backend.asarray(sw),
        alpha=l2,
        l1=l1,
        fit_intercept=fit_intercept,
        standardize=standardize,
        xp=backend.xp,
    )
    mean = np.zeros(4) if objective.mean is None else to_numpy(objective.mean)
    sd = np.ones(4) if objective.sd is None else to_numpy(objective.sd)

    def model_coordinates(t):  # the optimizer's coordinates to (W, b)
        W = t[-4:] / sd[:, None]
        b = t[0] - mean @ W if fit_intercept else np.zeros(K)
        return W, b

    def f(t, l1=l1):
        W, b = model_coordinates(t)
        return _objective("multinomial", W, b, X, Y.argmax(axis=1), l2, l1, sw)

    # The smooth part only (the gradient leaves the L1 term to the proximal step), with
    # central differences: error ~ h^2 f''' + eps f / h ~ 1e-10 for h = 1e-5.
    h = 1e-5
    fd = np.zeros_like(theta)
    for index in np.ndindex(*theta.shape):
        e = np.zeros_like(theta)
        e[index] = h
        fd[index] = (f(theta + e, 0.0) - f(theta - e, 0.0)) / (2 * h)
    theta_b = theta if backend.name == "dask" else backend.asarray(theta)
    value, grad = objective.value_and_grad(theta_b)
    assert float(value) == pytest.approx(f(theta), rel=1e-12)  # the value includes L1
    assert_close(grad, fd, xp=backend.xp, device=backend.device, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------- Dask


DASK_CASES = [
    ("squared", "normal", None),
    ("squared", "normal", "l2"),
    ("squared", "lbfgs", "l2"),
    ("logistic", "lbfgs", "l2"),
    ("multinomial", "lbfgs", "l2"),
]


@pytest.mark.parametrize(("loss", "solver", "penalty"), DASK_CASES, ids=map(_case_id, DASK_CASES))
def test_dask_matches_numpy(loss, solver, penalty):
    da = pytest.importorskip("dask.array")
    X, y = _problem(loss)
    Xd = da.from_array(X, chunks=(50, -1))  # four row chunks: one reduction over them
    yd = da.from_array(y, chunks=50)
    params = {"solver": solver, "penalty": penalty, "alpha": ALPHA, "tol": 1e-13}
    host = _estimator(loss, **params).fit(X, y)
    lazy = _estimator(loss, **params).fit(Xd, yd)
    assert isinstance(lazy.coef_, np.ndarray)  # the parameters live in the chunks' library
    W_host, b_host = _params(host)
    W_lazy, b_lazy = _params(lazy)
    # Both stop with every z-scored gradient entry below 1e-13, so each is within
    # sqrt(n_params) 1e-13 / mu < 1e-11 of the optimum (mu >= 0.06): together 1e-10.
    np.testing.assert_allclose(
        _identifiable(W_lazy, b_lazy, X), _identifiable(W_host, b_host, X), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_stochastic_solvers_refuse_dask_and_name_lbfgs(solver):
    da = pytest.importorskip("dask.array")
    X, y = _problem("logistic")
    model = xpgd.LogisticRegression(solver=solver)
    with pytest.raises(xpgd.InvalidParameterError, match=rf"solver='{solver}'.*solver='lbfgs'"):
        model.fit(da.from_array(X, chunks=(50, -1)), da.from_array(y, chunks=50))
    assert not hasattr(model, "coef_")
