"""The classic exercise: logistic regression from scratch on iris, on any backend.

Setosa vs the rest; the four features z-scored; a bias column; zero start; learning rate
0.05; 1000 iterations of ``xpgd.gradient_descent``; 20% of the rows held out. Prints the
initial and final cost, the confusion matrix and the held-out accuracy, then fits the same
data with ``xpgd.LogisticRegression`` and writes the cost history plot.

    python examples/iris_classic.py [--backend numpy|torch|cupy|array_api_strict|dask]
                                    [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import math
import pathlib

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

import xpgd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpy", choices=xpgd.BACKEND_NAMES[1:])
    parser.add_argument("--out", default="xpgd-output", type=pathlib.Path)
    parser.add_argument("--seed", default=0, type=int)
    args = parser.parse_args()

    iris = load_iris()  # ships with scikit-learn: no download, no file
    X = (iris.data - iris.data.mean(axis=0)) / iris.data.std(axis=0, ddof=1)
    X = np.hstack([np.ones((len(X), 1)), X])  # the classic bias column
    y = (iris.target != 0).astype(np.float64)[:, None]  # setosa = 0, the rest = 1
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, shuffle=True, random_state=args.seed
    )

    # Move the data to the chosen backend once; everything below runs there.
    Xb = xpgd.to_backend(X_train, args.backend)
    yb = xpgd.to_backend(y_train, args.backend)
    params = xpgd.to_backend(np.zeros((X.shape[1], 1)), args.backend)

    cost, params = xpgd.gradient_descent(Xb, yb, params, 0.05, 1000, loss="logistic")
    cost = xpgd.to_numpy(cost)
    print(f"backend: {args.backend}")
    print(f"initial cost: {cost[0]:.6f}  (ln 2 = {math.log(2):.6f}; summed: {120 * cost[0]:.4f})")
    print(f"final cost:   {cost[-1]:.6f}")

    proba = xpgd.predict(xpgd.to_backend(X_test, args.backend), params)
    predicted = np.round(xpgd.to_numpy(proba)).astype(int)[:, 0]
    truth = y_test.astype(int)[:, 0]
    matrix = np.array([[np.sum((truth == i) & (predicted == j)) for j in (0, 1)] for i in (0, 1)])
    print("confusion matrix on the held-out 20% (rows: truth setosa / other):")
    print(matrix)
    print(f"held-out accuracy: {np.mean(predicted == truth):.3f}")

    model = xpgd.LogisticRegression(backend=args.backend).fit(X_train[:, 1:], y_train[:, 0])
    print(
        f"LogisticRegression: {model.n_iter_} iterations, "
        f"held-out accuracy {model.score(X_test[:, 1:], y_test[:, 0]):.3f}"
    )

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'xpgd[plot]'): no plot written")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(len(cost)), cost, "r")
    ax.set_xlabel("Number of iterations")
    ax.set_ylabel("Cost (mean log loss)")
    ax.set_title("Iris, setosa vs the rest: gradient descent, learning rate 0.05")
    fig.tight_layout()
    path = args.out / "iris_cost_history.png"
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
