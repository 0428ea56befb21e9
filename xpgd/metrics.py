"""Metrics written against the Array API: they run where the predictions are.

Scores that are one number come back as Python floats (one host sync each); the
confusion matrix and per-class scores stay arrays in the inputs' namespace and device.
Labels of non-numeric types (strings) live on the host, so they are compared with NumPy.
``y_true`` follows ``y_pred`` (moved to its namespace and device when given on the host).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from xpgd._backend import follow, is_host_input, is_lazy, materialize, to_numpy
from xpgd._typing import Array, Namespace
from xpgd._validation import default_float
from xpgd.exceptions import InputError

__all__ = [
    "ClassScores",
    "RegressionScores",
    "accuracy_score",
    "classification_report",
    "classification_report_from_matrix",
    "confusion_matrix",
    "mean_absolute_error",
    "mean_squared_error",
    "precision_recall_f1",
    "r2_score",
    "regression_scores",
    "root_mean_squared_error",
]


def _pair(y_true: Any, y_pred: Any) -> tuple[Array, Array, Namespace]:
    """``(y_true, y_pred, xp)`` in the predictions' namespace, 1-D or 2-D, same length."""
    if y_true is None or y_pred is None:
        raise InputError("y_true and y_pred are both required; got None")
    if is_host_input(y_pred):
        y_pred = np.asarray(y_pred)
    xp = array_namespace(y_pred)
    y_true = follow(y_true, y_pred, xp, what="y_true")
    if y_true.ndim == 0 or y_pred.ndim == 0 or y_pred.shape[0] == 0:
        raise InputError(
            f"metrics need at least one sample: got y_true of shape {tuple(y_true.shape)} "
            f"and y_pred of shape {tuple(y_pred.shape)}"
        )
    if y_true.shape[0] != y_pred.shape[0]:
        raise InputError(
            f"y_true has {y_true.shape[0]} samples but y_pred has {y_pred.shape[0]}; pass "
            "predictions for the same rows"
        )
    if y_true.ndim == 2 and y_true.shape[1] == 1 and y_pred.ndim == 1:
        y_true = y_true[:, 0]
    if y_pred.ndim == 2 and y_pred.shape[1] == 1 and y_true.ndim == 1:
        y_pred = y_pred[:, 0]
    return y_true, y_pred, xp


def _float_pair(y_true: Any, y_pred: Any) -> tuple[Array, Array, Namespace]:
    y_true, y_pred, xp = _pair(y_true, y_pred)
    dtype = y_pred.dtype
    if not xp.isdtype(dtype, "real floating"):
        dtype = default_float(xp, device_of(y_pred))
    return xp.astype(y_true, dtype), xp.astype(y_pred, dtype), xp


def _scalar(value: Array, xp: Namespace) -> float:
    (value,) = materialize(value, xp=xp)
    return float(value)


def _mean(values: Array, sample_weight: Any, like: Array, xp: Namespace) -> Array:
    if sample_weight is None:
        return xp.mean(values, axis=0)
    w = xp.astype(follow(sample_weight, like, xp, what="sample_weight"), values.dtype)
    if tuple(w.shape) != (values.shape[0],):
        raise InputError(f"sample_weight has shape {tuple(w.shape)}, expected ({values.shape[0]},)")
    if values.ndim == 2:
        w = w[:, None]
    return xp.sum(w * values, axis=0) / xp.sum(w, axis=0)


def mean_squared_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Mean of ``(y_true - y_pred)^2`` (averaged over outputs for 2-D targets).

    Examples
    --------
    >>> import numpy as np
    >>> mean_squared_error(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    2.0
    """
    t, p, xp = _float_pair(y_true, y_pred)
    return _scalar(xp.mean(_mean((t - p) ** 2, sample_weight, p, xp)), xp)


def root_mean_squared_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Square root of :func:`mean_squared_error` (per output, then averaged)."""
    t, p, xp = _float_pair(y_true, y_pred)
    return _scalar(xp.mean(xp.sqrt(_mean((t - p) ** 2, sample_weight, p, xp))), xp)


def mean_absolute_error(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Mean of ``|y_true - y_pred|`` (averaged over outputs)."""
    t, p, xp = _float_pair(y_true, y_pred)
    return _scalar(xp.mean(_mean(xp.abs(t - p), sample_weight, p, xp)), xp)


def r2_score(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (averaged over outputs).

    A constant ``y_true`` scores 1.0 when predicted exactly and 0.0 otherwise, as in
    scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> r2_score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    1.0
    """
    t, p, xp = _float_pair(y_true, y_pred)
    mean = _mean(t, sample_weight, p, xp)
    res = _mean((t - p) ** 2, sample_weight, p, xp)
    tot = _mean((t - mean) ** 2, sample_weight, p, xp)
    res, tot = (np.atleast_1d(to_numpy(a)) for a in materialize(res, tot, xp=xp))
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(tot > 0, 1.0 - res / np.where(tot > 0, tot, 1.0), (res == 0) * 1.0)
    return float(np.mean(scores))


class RegressionScores(NamedTuple):
    """:func:`regression_scores`: the four regression metrics, as Python floats."""

    mse: float
    rmse: float
    mae: float
    r2: float


def regression_scores(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> RegressionScores:
    """MSE, RMSE, MAE and R^2 together, in two streaming passes over the data.

    The same numbers as :func:`mean_squared_error`, :func:`root_mean_squared_error`,
    :func:`mean_absolute_error` and :func:`r2_score` (to rounding), for data that should
    be read as few times as possible: lazy Dask arrays whose chunks are re-read (say, a
    CSV parsed again) at each computation. The first pass sums the weights, the squared
    and absolute errors and ``y_true``; the second, given the mean, the squared
    deviations of ``y_true``. Each is a plain reduction, so no chunk is held in memory
    between them (:func:`r2_score` computes the mean and the deviations in one graph,
    which keeps ``y_true``'s chunks until the mean is known).

    Examples
    --------
    >>> import numpy as np
    >>> scores = regression_scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    >>> scores.mse, scores.mae, scores.r2
    (1.3333333333333333, 0.6666666666666666, -1.0)
    """
    t, p, xp = _float_pair(y_true, y_pred)
    dev = device_of(p)
    if sample_weight is None:
        w, weight = None, float(t.shape[0])
    else:
        w = xp.astype(follow(sample_weight, p, xp, what="sample_weight"), t.dtype)
        if tuple(w.shape) != (t.shape[0],):
            raise InputError(f"sample_weight has shape {tuple(w.shape)}, expected ({t.shape[0]},)")
        if t.ndim == 2:
            w = w[:, None]

    def wsum(v: Array) -> Array:
        return xp.sum(v if w is None else w * v, axis=0)

    d = t - p
    parts = [wsum(d * d), wsum(xp.abs(d)), wsum(t)]
    if w is not None:
        parts.append(xp.sum(w))
    sums = [np.atleast_1d(to_numpy(a)).astype(np.float64) for a in materialize(*parts, xp=xp)]
    if w is not None:
        weight = float(sums.pop()[0])
    sq, ab, mean = sums[0] / weight, sums[1] / weight, sums[2] / weight
    centre = xp.asarray(mean if t.ndim == 2 else mean[0], dtype=t.dtype, device=dev)
    (tot,) = materialize(wsum((t - centre) ** 2), xp=xp)
    tot = np.atleast_1d(to_numpy(tot)).astype(np.float64) / weight
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(tot > 0, 1.0 - sq / np.where(tot > 0, tot, 1.0), (sq == 0) * 1.0)
    return RegressionScores(
        float(np.mean(sq)), float(np.mean(np.sqrt(sq))), float(np.mean(ab)), float(np.mean(r2))
    )


def accuracy_score(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Fraction (or weighted fraction) of exactly matching labels."""
    t, p, xp = _label_pair(y_true, y_pred)
    hits = xp.astype(t == p, default_float(xp, device_of(p)))
    return _scalar(_mean(hits, sample_weight, p, xp), xp)


def _label_pair(y_true: Any, y_pred: Any) -> tuple[Array, Array, Namespace]:
    host = [is_host_input(v) and np.asarray(v).dtype.kind not in "biuf" for v in (y_true, y_pred)]
    if any(host):  # string labels exist only on the host
        t = to_numpy(y_true) if not is_host_input(y_true) else np.asarray(y_true)
        p = to_numpy(y_pred) if not is_host_input(y_pred) else np.asarray(y_pred)
        return _pair(t.reshape(-1), p.reshape(-1))
    return _pair(y_true, y_pred)


def confusion_matrix(
    y_true: Any, y_pred: Any, *, labels: Any = None
) -> tuple[Array, Array | np.ndarray]:
    """Counts of (true label, predicted label) pairs.

    Computed as one matrix product of one-hot indicators, where the labels are.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
    labels : array-like, optional
        The label order (rows and columns); default the sorted union of both inputs.

    Returns
    -------
    matrix : array of shape (n_labels, n_labels)
        ``matrix[i, j]``: samples of true label ``labels[i]`` predicted as ``labels[j]``,
        as int64 in the predictions' namespace.
    labels : array
        The labels, in order.

    Examples
    --------
    >>> import numpy as np
    >>> cm, labels = confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    >>> cm
    array([[1, 1],
           [0, 2]])
    """
    t, p, xp = _label_pair(y_true, y_pred)
    if is_lazy(xp):  # a few labels, computed once; Dask broadcasts NumPy against chunks
        labels = np.unique(to_numpy(xp.concat([t, p]))) if labels is None else labels
        labels = np.asarray(labels)
    elif labels is None:
        labels = xp.unique_values(xp.concat([t, p]))
    else:
        labels = xp.asarray(labels, device=device_of(p))
    # Integer counts (a float matmul of one-hot indicators loses counts past 2**24 in
    # float32); k^2 reductions for k labels, each one pass over the samples.
    k = labels.shape[0]
    true_is = [t == labels[i] for i in range(k)]
    pred_is = [p == labels[j] for j in range(k)]
    rows = [xp.stack([xp.sum(xp.astype(ti & pj, xp.int64)) for pj in pred_is]) for ti in true_is]
    return xp.stack(rows), labels


class ClassScores(NamedTuple):
    """Per-class precision, recall, F1 and support (arrays in the inputs' namespace)."""

    labels: Array
    precision: Array
    recall: Array
    f1: Array
    support: Array


def precision_recall_f1(y_true: Any, y_pred: Any, *, labels: Any = None) -> ClassScores:
    """Precision, recall, F1 and support for each class (0 where undefined)."""
    cm, labels = confusion_matrix(y_true, y_pred, labels=labels)
    return _class_scores(cm, labels)


def _class_scores(cm: Array, labels: Any) -> ClassScores:
    """Per-class scores from a confusion matrix (in its namespace)."""
    xp = array_namespace(cm)
    counts = xp.astype(cm, default_float(xp, device_of(cm)))
    hits = _diag(counts, xp)
    predicted, support = xp.sum(counts, axis=0), xp.sum(counts, axis=1)
    zero = xp.zeros_like(hits)
    precision = xp.where(predicted > 0, hits / xp.where(predicted > 0, predicted, 1.0), zero)
    recall = xp.where(support > 0, hits / xp.where(support > 0, support, 1.0), zero)
    total = precision + recall
    f1 = xp.where(total > 0, 2 * precision * recall / xp.where(total > 0, total, 1.0), zero)
    return ClassScores(labels, precision, recall, f1, xp.astype(support, xp.int64))


def _diag(a: Array, xp: Namespace) -> Array:
    n = a.shape[0]
    eye = xp.eye(n, dtype=a.dtype, device=device_of(a))
    return xp.sum(a * eye, axis=1)


def classification_report(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Any = None,
    target_names: list[str] | None = None,
    digits: int = 3,
) -> str:
    """A text report of per-class precision, recall, F1 and support, with averages.

    ``labels`` fixes the row order (default: sorted). The numbers are computed where the
    labels are; only the small table is fetched.
    """
    scores = precision_recall_f1(y_true, y_pred, labels=labels)
    xp = array_namespace(scores.precision)
    labels = to_numpy(scores.labels)
    table = materialize(scores.precision, scores.recall, scores.f1, scores.support, xp=xp)
    accuracy = accuracy_score(y_true, y_pred)  # over every sample, as scikit-learn reports it
    n = int(_label_pair(y_true, y_pred)[1].shape[0])
    return _report(labels, [to_numpy(a) for a in table], accuracy, n, target_names, digits)


def classification_report_from_matrix(
    matrix: Any, labels: Any, *, target_names: list[str] | None = None, digits: int = 3
) -> str:
    """:func:`classification_report` from a confusion matrix of counts.

    For data read as few times as possible (a lazy Dask array, re-read at each
    computation): compute :func:`confusion_matrix` once, then the report, accuracy
    included (the matrix's trace over its total: every sample, when ``labels`` covers
    every label present), comes from its k x k counts alone.

    Examples
    --------
    >>> import numpy as np
    >>> cm, labels = confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    >>> print(classification_report_from_matrix(cm, labels))  # doctest: +NORMALIZE_WHITESPACE
                 precision    recall  f1-score   support
    <BLANKLINE>
               0     1.000     0.500     0.667         2
               1     0.667     1.000     0.800         2
    <BLANKLINE>
        accuracy                         0.750         4
       macro avg     0.833     0.750     0.733         4
    weighted avg     0.833     0.750     0.733         4
    """
    cm = np.asarray(to_numpy(matrix)).astype(np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InputError(f"matrix must be square (n_labels, n_labels), got {cm.shape}")
    labels = np.asarray(to_numpy(labels) if not is_host_input(labels) else labels)
    if labels.shape != (cm.shape[0],):
        raise InputError(f"{labels.shape[0]} labels for a {cm.shape[0]} x {cm.shape[0]} matrix")
    scores = _class_scores(cm, labels)
    table = [scores.precision, scores.recall, scores.f1, scores.support]
    total = int(cm.sum())
    accuracy = float(np.trace(cm) / total) if total else 0.0
    return _report(labels, table, accuracy, total, target_names, digits)


def _report(
    labels: np.ndarray,
    rows: list[np.ndarray],
    accuracy: float,
    n: int,
    target_names: list[str] | None,
    digits: int,
) -> str:
    names = [str(v) for v in labels] if target_names is None else list(target_names)
    if len(names) != len(labels):
        raise InputError(f"target_names has {len(names)} names for {len(labels)} labels")
    width = max(12, *(len(n) for n in names))
    header = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"
    lines = [header, ""]
    for i, name in enumerate(names):
        p, r, f, s = (rows[0][i], rows[1][i], rows[2][i], rows[3][i])
        lines.append(f"{name:>{width}} {p:9.{digits}f} {r:9.{digits}f} {f:9.{digits}f} {s:9d}")
    support = rows[3]
    total = int(support.sum())
    lines.append("")
    lines.append(f"{'accuracy':>{width}} {'':>9} {'':>9} {accuracy:9.{digits}f} {n:9d}")
    for avg, weights in (("macro avg", None), ("weighted avg", support if total else None)):
        p, r, f = (float(np.average(rows[k], weights=weights)) for k in range(3))
        lines.append(f"{avg:>{width}} {p:9.{digits}f} {r:9.{digits}f} {f:9.{digits}f} {total:9d}")
    return "\n".join(lines)
