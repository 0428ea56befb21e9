"""Fit the same model on every backend and device and measure the agreement.

Users validating a GPU (or any new) setup want to know: does the fit there give the
NumPy float64 answer, to what precision, and how fast? :func:`compare_backends` answers
with one row per (backend, device, dtype).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

from xpgd._backend import available_backends, to_numpy
from xpgd._validation import _host_numeric

__all__ = ["Agreement", "compare_backends", "format_agreement"]

# array-api-strict's extra devices exist to test device handling; two are enough here.
_STRICT_DEVICES = ("CPU_DEVICE", "device1")


class Agreement(NamedTuple):
    """One row of :func:`compare_backends`."""

    backend: str
    device: str
    dtype: str
    coef_max_rel_diff: float
    """max |coef - coef_ref| / max |coef_ref| (with the intercept)."""
    loss_rel_diff: float
    """|final loss - reference final loss| / |reference final loss|."""
    n_iter: int
    seconds: float
    """Wall time of ``fit``, with the result fetched (so a GPU has finished)."""
    error: str
    """Empty, or why the fit failed on this backend."""


def _cases(backends: list[str] | None) -> list[tuple[str, Any]]:
    info = available_backends()
    names = list(info) if backends is None else backends
    cases = []
    for name in names:
        if name not in info:
            cases.append((name, None))  # reported as an error row
            continue
        for dev in info[name].devices:
            if name == "array_api_strict" and _device_label(dev) not in _STRICT_DEVICES:
                continue
            cases.append((name, None if name in ("numpy", "dask") else dev))
    return cases


def _device_label(device: Any) -> str:
    if device is None:
        return "cpu"
    return str(getattr(device, "_device", None) or getattr(device, "id", None) or device)


def _params(model: Any) -> np.ndarray:
    coef = to_numpy(model.coef_).astype(np.float64).reshape(-1)
    return np.concatenate([to_numpy(model.intercept_).astype(np.float64).reshape(-1), coef])


def compare_backends(
    estimator: Any,
    X: Any,
    y: Any,
    backends: list[str] | None = None,
    *,
    dtypes: tuple[str, ...] = ("float64", "float32"),
) -> list[Agreement]:
    """Fit ``estimator`` on every backend, device and dtype; compare with NumPy float64.

    Parameters
    ----------
    estimator : LinearRegression or LogisticRegression
        Its hyperparameters are used for every fit (``backend`` / ``device`` replaced).
    X, y : host arrays (NumPy, pandas, lists)
    backends : list of str, optional
        Backend names; default every available one, on each of its devices.
    dtypes : tuple of str, default ("float64", "float32")

    Returns
    -------
    list of Agreement
        The reference (NumPy float64) first.

    Examples
    --------
    >>> import numpy as np, xpgd
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> rows = xpgd.compare_backends(xpgd.LinearRegression(), X, X @ [1.0, 2.0, 3.0],
    ...                              backends=["numpy"])
    >>> [(r.backend, r.dtype, r.coef_max_rel_diff) for r in rows]
    [('numpy', 'float64', 0.0), ('numpy', 'float32', ...)]
    """
    X = _host_numeric(X, "X").astype(np.float64)
    params = estimator.get_params()

    def fit(name: str, device: Any, dtype: str) -> tuple[Any, float]:
        model = type(estimator)(**{**params, "backend": name, "device": device})
        start = time.perf_counter()
        model.fit(X.astype(dtype), y)
        to_numpy(model.coef_)  # wait for the device
        return model, time.perf_counter() - start

    reference, seconds = fit("numpy", None, "float64")
    ref_params = _params(reference)
    ref_loss = float(to_numpy(reference.loss_history_)[-1])
    rows = [Agreement("numpy", "cpu", "float64", 0.0, 0.0, reference.n_iter_, seconds, "")]
    for name, device in _cases(backends):
        for dtype in dtypes:
            if name == "numpy" and dtype == "float64":
                continue
            label = _device_label(device)
            try:
                model, seconds = fit(name, device, dtype)
            except Exception as exc:  # a report, not a crash: say what failed where
                rows.append(
                    Agreement(
                        name,
                        label,
                        dtype,
                        np.nan,
                        np.nan,
                        0,
                        np.nan,
                        f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            diff = float(np.max(np.abs(_params(model) - ref_params)) / np.max(np.abs(ref_params)))
            loss = float(to_numpy(model.loss_history_)[-1])
            rows.append(
                Agreement(
                    name,
                    label,
                    dtype,
                    diff,
                    abs(loss - ref_loss) / abs(ref_loss),
                    model.n_iter_,
                    seconds,
                    "",
                )
            )
    return rows


def format_agreement(rows: list[Agreement]) -> str:
    """A text table of :func:`compare_backends` rows."""
    header = (
        f"{'backend':18s} {'device':12s} {'dtype':8s} {'coef rel diff':>14s} "
        f"{'loss rel diff':>14s} {'iters':>6s} {'time s':>8s}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        if r.error:
            lines.append(f"{r.backend:18s} {r.device:12s} {r.dtype:8s} failed: {r.error}")
            continue
        lines.append(
            f"{r.backend:18s} {r.device:12s} {r.dtype:8s} {r.coef_max_rel_diff:14.2e} "
            f"{r.loss_rel_diff:14.2e} {r.n_iter:6d} {r.seconds:8.3f}"
        )
    return "\n".join(lines)
