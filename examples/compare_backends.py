"""Fit the same model on every available backend and device; compare with NumPy float64.

    python examples/compare_backends.py [--rows N] [--features P]

Prints the agreement table (max relative difference of the coefficients and of the final
loss against NumPy float64, iterations, time). The same as ``xpgd compare``.
"""

from __future__ import annotations

import argparse

import numpy as np

import xpgd
from xpgd.compare import format_agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features))
    y = (X @ rng.normal(size=args.features) + rng.normal(size=args.rows) > 0).astype(int)
    estimator = xpgd.LogisticRegression(alpha=1e-3, tol=None, max_iter=300)
    print(f"LogisticRegression, {args.rows} x {args.features}, 300 iterations everywhere")
    print(format_agreement(xpgd.compare_backends(estimator, X, y)))


if __name__ == "__main__":
    main()
