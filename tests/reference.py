"""Independent NumPy float64 references: objectives and optima computed without xpgd."""

from __future__ import annotations

import numpy as np


def logistic_objective(w, b, X, y, alpha, sample_weight=None):
    """mean_s [log(1 + exp(z)) - y z] + alpha/2 ||w||^2 with z = X w + b, y in {0, 1}."""
    z = X @ w + b
    return float(np.average(np.logaddexp(0.0, z) - y * z, weights=sample_weight)) + (
        0.5 * alpha * float(w @ w)
    )


def squared_objective(w, b, X, y, alpha, sample_weight=None):
    """mean_s 0.5 (X w + b - y)^2 + alpha/2 ||w||^2."""
    r = X @ w + b - y
    return float(np.average(0.5 * r * r, weights=sample_weight)) + 0.5 * alpha * float(w @ w)


def ridge_closed_form(X, y, alpha, sample_weight=None, fit_intercept=True):
    """Exact minimiser of ``squared_objective`` (intercept unpenalised): normal equations."""
    n = X.shape[0]
    s = np.full(n, 1.0 / n) if sample_weight is None else sample_weight / sample_weight.sum()
    A = np.c_[np.ones(n), X] if fit_intercept else X
    G = A.T @ (s[:, None] * A)
    reg = alpha * np.eye(A.shape[1])
    if fit_intercept:
        reg[0, 0] = 0.0
    theta = np.linalg.solve(G + reg, A.T @ (s * y))
    return (theta[1:], theta[0]) if fit_intercept else (theta, 0.0)


def sklearn_logistic_optimum(X, y, alpha, sample_weight=None):
    """scikit-learn's optimum of the same objective: C = 1 / (sum(s) * alpha)."""
    from sklearn.linear_model import LogisticRegression

    total = len(y) if sample_weight is None else float(np.sum(sample_weight))
    clf = LogisticRegression(C=1.0 / (total * alpha), tol=1e-12, max_iter=100_000)
    clf.fit(X, y, sample_weight=sample_weight)
    return clf.coef_[0], float(clf.intercept_[0])
