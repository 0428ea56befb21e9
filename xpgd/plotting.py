"""PNG plots with matplotlib (``pip install 'xpgd[plot]'``); no display needed.

Arrays reach the host only here, through :func:`xpgd.to_numpy`. Each function writes one
PNG file and returns its path.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from xpgd._backend import to_numpy
from xpgd.exceptions import InputError

__all__ = ["plot_confusion_matrix", "plot_cost_history", "plot_predictions"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'xpgd[plot]'") from None
    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    fig.clf()
    _pyplot().close(fig)
    return path


def plot_cost_history(
    history: Any,
    path: str | pathlib.Path,
    *,
    title: str = "Cost per iteration",
    ylabel: str = "Cost",
) -> pathlib.Path:
    """The cost at the start and after each iteration (the classic red line)."""
    plt = _pyplot()
    cost = to_numpy(history).reshape(-1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(np.arange(cost.size), cost, "r", linewidth=1.8)
    ax.set_xlabel("Number of iterations")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if cost.size:
        ax.annotate(
            f"start {cost[0]:.4g}",
            (0, cost[0]),
            textcoords="offset points",
            xytext=(8, -4),
            fontsize=9,
        )
        ax.annotate(
            f"end {cost[-1]:.4g}",
            (cost.size - 1, cost[-1]),
            textcoords="offset points",
            xytext=(-60, 8),
            fontsize=9,
        )
    return _save(fig, path)


def plot_confusion_matrix(
    matrix: Any, labels: Any, path: str | pathlib.Path, *, title: str = "Confusion matrix"
) -> pathlib.Path:
    """A labelled heat map of counts (rows: true label, columns: predicted label)."""
    plt = _pyplot()
    cm = to_numpy(matrix)
    names = [str(v) for v in to_numpy(labels).tolist()]
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(names), 1.2 + 1.0 * len(names)))
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, labels=names)
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                str(int(cm[i, j])),
                ha="center",
                va="center",
                fontsize=12,
                color="white" if cm[i, j] > threshold else "black",
            )
    return _save(fig, path)


def plot_predictions(
    y_true: Any,
    y_pred: Any,
    path: str | pathlib.Path,
    *,
    title: str = "Predicted and true values for the test set",
    unit: str = "",
) -> pathlib.Path:
    """Two panels: the classic line plot of predictions and truth per test row, and a
    scatter of predicted against true values with the identity line."""
    plt = _pyplot()
    t, p = to_numpy(y_true).reshape(-1), to_numpy(y_pred).reshape(-1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = np.arange(t.size)
    left.plot(rows, p, "r", label="Predicted values")
    left.plot(rows, t, "b", label="Real values")
    left.set_xlabel("Test row")
    left.set_ylabel(f"Value{f' ({unit})' if unit else ''}")
    left.set_title(title)
    left.legend()
    right.scatter(t, p, s=18, alpha=0.75)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    right.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="identity (perfect prediction)")
    right.set_xlabel(f"True{f' ({unit})' if unit else ''}")
    right.set_ylabel(f"Predicted{f' ({unit})' if unit else ''}")
    right.set_title("Predicted vs true")
    right.legend()
    right.set_aspect("equal", adjustable="datalim")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return _save(fig, path)
