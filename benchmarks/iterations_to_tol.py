"""Iterations to reach tol, with and without implicit standardisation, per solver.

Prints a table (no assertions): the estimators optimise in z-scored coordinates without
copying X; this shows what that and Nesterov acceleration buy on badly scaled data.

    python benchmarks/iterations_to_tol.py
"""

from __future__ import annotations

import array_api_compat.numpy as xp
import numpy as np

from xpgd._core.losses import get_loss
from xpgd._core.objective import LinearObjective
from xpgd._core.solver import minimize


def problems():
    rng = np.random.RandomState(0)
    X = rng.normal(loc=100, size=(100, 2))  # scikit-learn's check data: offset 100
    y = rng.normal(size=100)
    yield "offset-100 (100x2)", X, y
    rng = np.random.default_rng(1)
    n, p, rho = 20_000, 20, 0.9  # AR(1) columns with uneven scales
    Z = rng.normal(size=(n, p))
    for j in range(1, p):
        Z[:, j] = rho * Z[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    X = Z * np.logspace(0, 2, p)
    yield "AR(1) 0.9, scales 1..100 (20000x20)", X, Z @ rng.normal(size=p)


def main() -> None:
    print(f"{'problem':38s} {'loss':9s} {'standardize':11s} {'solver':8s} {'iters':>7s} conv")
    for name, X, y in problems():
        for loss, target in (("squared", y), ("logistic", (y > np.median(y)).astype(float))):
            for standardize in (False, True):
                for solver in ("gd", "nesterov"):
                    objective = LinearObjective(
                        X, target, get_loss(loss), alpha=1e-4, standardize=standardize, xp=xp
                    )
                    result = minimize(
                        objective,
                        np.zeros(X.shape[1] + 1),
                        learning_rate="auto",
                        max_iter=100_000,
                        tol=1e-4,
                        check_every=10,
                        solver=solver,
                    )
                    print(
                        f"{name:38s} {loss:9s} {standardize!s:11s} {solver:8s} "
                        f"{result.n_iter:7d} {result.converged}"
                    )


if __name__ == "__main__":
    main()
