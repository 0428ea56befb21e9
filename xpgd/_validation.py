"""Input validation at the boundary of every public function.

Host inputs (NumPy, pandas, lists) are checked and converted on the host with NumPy, then
placed on the backend once (:func:`xpgd._backend.place`); arrays that already live on a
backend are checked there with the Array API, with one host sync for the finiteness test
(at the start of ``fit`` / ``predict``, never inside the loop).

Every failure raises an :mod:`xpgd.exceptions` class whose message names the problem and
the fix.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from xpgd._backend import (
    DEVICE_BLOCK_BYTES,
    _Choice,
    follow,
    host_array,
    is_host_input,
    is_lazy,
    materialize,
    namespace_name,
    place,
    quiet_overflow,
    to_numpy,
)
from xpgd._typing import Array, Namespace
from xpgd.exceptions import (
    DataConversionWarning,
    InputError,
    InputTypeError,
    sklearn_compatible,
)

__all__ = [
    "check_X",
    "check_sample_weight",
    "check_target",
    "default_float",
    "encode_labels",
]


def valid_learning_rate(value: Any) -> bool:
    """``"auto"``, or a finite positive real number (not a bool)."""
    if isinstance(value, str):
        return value == "auto"
    is_real = isinstance(value, int | float | np.integer | np.floating)
    return is_real and not isinstance(value, bool) and 0 < value < math.inf


def default_float(xp: Namespace, device: Any = None) -> Any:
    """The namespace's default real floating dtype (float64 for NumPy, float32 for torch)."""
    return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]


def _host_numeric(X: Any, what: str) -> np.ndarray:
    """A host input as a numeric NumPy array, or an error naming the offending column."""
    if type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "dtypes"):
        dtypes = X.dtypes if X.ndim == 2 else [X.dtype]
        columns = list(X.columns) if X.ndim == 2 else [X.name]
        for j, (col, dt) in enumerate(zip(columns, dtypes, strict=True)):
            if dt.kind not in "biuf":
                raise InputTypeError(
                    f"{what} column {j} ({col!r}) has non-numeric dtype {dt}; encode "
                    "categorical columns (e.g. pandas.get_dummies) or drop them before fit"
                )
        arr = X.to_numpy()  # NumPy's common dtype: float32 columns stay float32
        if arr.dtype.kind == "O":  # nullable extension dtypes with missing values
            arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
        return arr
    try:
        arr = host_array(X)
    except ValueError as exc:  # ragged nested lists
        raise InputError(
            f"{what} cannot be made a rectangular array ({exc}); every row needs the same "
            "number of values"
        ) from None
    if arr.dtype.kind in "OUSV":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(
                f"{what} contains non-numeric values ({exc}); encode categorical columns "
                "(e.g. pandas.get_dummies) or drop them before fit"
            ) from None
    if arr.dtype.kind == "c":
        raise _complex_error(what, arr.dtype)
    return arr


def _all_finite(x: Array, xp: Namespace, block_bytes: int = 1 << 21, *, exact: bool) -> Array:
    """Whether ``x`` has no NaN or inf, over row blocks (Dask arrays are one expression:
    they are chunked already), as a device boolean.

    ``exact=False`` screens: a block's sum is finite unless the block holds a NaN or an
    inf, or its sum overflows, so one read per block, no temporary (on an H200 the
    elementwise test of 10M x 100 float32 took 6.5 ms, the screen 1.9 ms); False then
    needs the exact test to tell an overflow from a bad value. ``exact=True`` is
    ``all(isfinite)`` per block, its boolean temporary one block, not a second copy of X's
    shape. Blocks are cache-sized on NumPy, :data:`~xpgd._backend.DEVICE_BLOCK_BYTES`
    elsewhere (a GPU wants a few large kernels, not thousands of small ones)."""

    def test(part: Array) -> Array:
        return xp.all(xp.isfinite(part)) if exact else xp.isfinite(xp.sum(part))

    if namespace_name(xp) != "numpy":
        block_bytes = max(block_bytes, DEVICE_BLOCK_BYTES)
    rows = x.shape[0] if x.ndim else 1
    itemsize = xp.finfo(x.dtype).bits // 8 if xp.isdtype(x.dtype, "real floating") else 8
    step = max(1, block_bytes // max(1, math.prod(x.shape[1:]) * itemsize))
    if is_lazy(xp) or x.ndim == 0 or rows <= step:
        return test(x)
    ok = None
    for lo in range(0, rows, step):
        part = test(x[lo : min(lo + step, rows), ...])
        ok = part if ok is None else xp.logical_and(ok, part)
    return ok


def _check_finite(x: Array, xp: Namespace, what: str) -> None:
    """Raise if ``x`` has NaN or inf: one read of ``x`` and one host sync (one pass for
    Dask), unless a sum overflows or a value is bad, when the exact test follows."""
    for exact in (False, True):
        with quiet_overflow():  # the screen's sum may overflow: the exact test decides
            (ok,) = materialize(_all_finite(x, xp, exact=exact), xp=xp)
        if bool(ok):
            return
    (n_nan, n_inf) = materialize(
        xp.sum(xp.astype(xp.isnan(x), xp.int64)),
        xp.sum(xp.astype(xp.isinf(x), xp.int64)),
        xp=xp,
    )
    bad = np.argwhere(~np.isfinite(to_numpy(x)))[0]
    where = f"row {bad[0]}" + (f", column {bad[1]}" if bad.size > 1 else "")
    raise InputError(
        f"{what} has {int(n_nan)} NaN and {int(n_inf)} infinite values (first at {where}); "
        "drop or impute them before fit"
    )


def check_X(
    X: Any,
    choice: _Choice,
    *,
    what: str = "X",
    n_features: int | None = None,
    estimator: str = "the model",
) -> tuple[Array, Namespace]:
    """Validate ``X`` and put it where ``choice`` says.

    Returns ``(X, xp)`` with ``X`` 2-D, of a real floating dtype (integer and bool promoted
    to the namespace's default float), finite, on the chosen backend and device. Floating
    input is never copied.
    """
    if X is None:
        raise InputError(f"{what} is None; pass a 2-D array of shape (n_samples, n_features)")
    if _is_sparse(X):
        raise InputError(
            f"{what} is a sparse matrix; xpgd works on dense arrays: convert it with "
            "X.toarray() if it fits in memory"
        )
    if is_host_input(X):
        X = _host_numeric(X, what)
    X = place(X, choice, what=what)
    xp = array_namespace(X)
    if any(isinstance(d, float) and math.isnan(d) for d in X.shape):
        raise InputError(
            f"{what} has unknown chunk sizes (shape {tuple(X.shape)}); call "
            f"{what}.compute_chunk_sizes() first"
        )
    if X.ndim != 2:
        raise InputError(
            f"{what} must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}. "
            "Reshape your data either using X.reshape(-1, 1) if it has a single feature "
            "or X.reshape(1, -1) if it has a single sample"
        )
    n, p = X.shape
    if n == 0 or p == 0:
        count, unit = (n, "sample") if n == 0 else (p, "feature")
        raise InputError(
            f"Found array with {count} {unit}(s) (shape={tuple(X.shape)}) while a minimum of "
            f"1 is required: {what} needs at least one sample and one feature; check the "
            "data loading or column selection"
        )
    X = as_floating(X, xp, what)
    if n_features is not None and p != n_features:
        raise InputError(
            f"{what} has {p} features, but {estimator} is expecting {n_features} features "
            "as input; pass the same columns as in fit"
        )
    _check_finite(X, xp, what)
    return X, xp


def as_floating(X: Array, xp: Namespace, what: str = "X") -> Array:
    """``X`` in the dtype a fit computes in: float32 and float64 as they are, float16 as
    float32 (it cannot hold a gradient step's precision), integers and bools as the
    namespace's default float; complex and other dtypes refused."""
    if xp.isdtype(X.dtype, "complex floating"):
        raise _complex_error(what, X.dtype)
    if xp.isdtype(X.dtype, "real floating") and xp.finfo(X.dtype).bits < 32:
        return xp.astype(X, xp.float32)
    if not xp.isdtype(X.dtype, "real floating"):
        if not xp.isdtype(X.dtype, ("integral", "bool")):
            raise InputError(f"{what} has unsupported dtype {X.dtype}; pass numeric data")
        return xp.astype(X, default_float(xp, device_of(X)))
    return X


def _complex_error(what: str, dtype: Any) -> InputError:
    return InputError(
        f"Complex data not supported: {what} has dtype {dtype}; xpgd fits real-valued "
        "models, so pass the real and imaginary parts as separate real columns"
    )


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "tocsr") or type(x).__module__.startswith("scipy.sparse")


def check_target(y: Any, X: Array, xp: Namespace, *, allow_2d: bool, estimator: str) -> Array:
    """``y`` for regression: numeric, finite, length n, moved to X's namespace and dtype."""
    if y is None:
        raise InputError(
            f"{estimator} requires y to be passed, but the target y is None; pass the "
            "target values to fit"
        )
    if is_host_input(y):
        y = _host_numeric(y, "y")
        if not allow_2d:
            y = _column_to_1d(y)
    y = follow(y, X, xp, what="y")
    if y.ndim == 2 and not allow_2d:
        y = _column_to_1d(y, xp=xp)
    if y.ndim not in ((1, 2) if allow_2d else (1,)):
        shapes = "(n_samples,) or (n_samples, n_targets)" if allow_2d else "(n_samples,)"
        raise InputError(f"y must have shape {shapes}, got shape {tuple(y.shape)}")
    if not xp.isdtype(y.dtype, ("real floating", "integral", "bool")):
        raise InputError(f"y has dtype {y.dtype}; a regression target must be real numbers")
    y = xp.astype(y, X.dtype)
    _check_length(y, X, "y")
    _check_finite(y, xp, "y")
    return y


def _column_to_1d(y: Any, xp: Namespace | None = None) -> Any:
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples,), for example using ravel().",
            sklearn_compatible(DataConversionWarning),
            stacklevel=4,
        )
        return y[:, 0]
    return y


def _check_length(v: Array, X: Array, what: str) -> None:
    if v.shape[0] != X.shape[0]:
        raise InputError(
            f"{what} has {v.shape[0]} rows but X has {X.shape[0]}; pass one {what} value per sample"
        )


def check_sample_weight(sample_weight: Any, X: Array, xp: Namespace) -> Array | None:
    """``sample_weight`` as a finite, non-negative 1-D array on X's device, or ``None``."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, int | float):
        sample_weight = np.full(X.shape[0], float(sample_weight))
    if is_host_input(sample_weight):
        sample_weight = _host_numeric(sample_weight, "sample_weight")
    w = follow(sample_weight, X, xp, what="sample_weight")
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise InputError(
            f"sample_weight.shape == {tuple(w.shape)}, expected ({X.shape[0]},): pass one "
            "weight per sample"
        )
    w = xp.astype(w, X.dtype)
    _check_finite(w, xp, "sample_weight")
    with np.errstate(over="ignore"):  # an overflowing total is reported just below
        (neg, total) = materialize(xp.any(w < 0), xp.sum(w), xp=xp)
    if bool(neg):
        raise InputError("sample_weight has negative values; weights must be >= 0")
    if not np.isfinite(float(total)):
        raise InputError(
            "sample_weight sums to infinity (the weights overflow); rescale them, e.g. "
            "sample_weight / sample_weight.max()"
        )
    if not float(total) > 0:
        raise InputError(
            "sample_weight sums to zero (every weight is zero); give at least one sample a "
            "positive weight"
        )
    return w


def encode_labels(y: Any, X: Array, xp: Namespace, *, estimator: str) -> tuple[Array, Any]:
    """Map class labels of any type to targets in X's namespace, dtype and device.

    Two classes give a 0/1 vector (the second class positive); more give a one-hot matrix
    of shape ``(n_samples, n_classes)``, columns in the order of ``classes``.

    Returns ``(target, classes)``: ``classes`` (sorted) lives on X's device when the labels
    are numeric and the data eager; otherwise it is a NumPy array.
    """
    if y is None:
        raise InputError(
            f"{estimator} requires y to be passed, but the target y is None; pass the "
            "class labels to fit"
        )
    lazy = is_lazy(xp)
    # Numeric labels in a Dask array stay lazy (data larger than memory have labels larger
    # than memory too): a pass for the checks and one for the distinct labels, which alone
    # come to the host. Strings, and labels not in a Dask array, are encoded on the host.
    lazy_numbers = lazy and not is_host_input(y) and getattr(y.dtype, "kind", "") in "biuf"
    if is_host_input(y) or (lazy and not lazy_numbers):
        y_host = host_array(y) if is_host_input(y) else to_numpy(y)
        y_host = _column_to_1d(y_host)
        if y_host.ndim != 1:
            raise InputError(f"y must be 1-D (n_samples,), got shape {tuple(y_host.shape)}")
        _check_length(y_host, X, "y")
        classes = _host_classes(y_host, estimator)
        if len(classes) == 2:
            target = (y_host == classes[1]).astype(np.float64)
        else:
            target = (y_host[:, None] == classes[None, :]).astype(np.float64)
        target = xp.astype(follow(target, X, xp, what="y"), X.dtype)
        if classes.dtype.kind in "biuf" and not lazy:
            return target, follow(classes, X, xp, what="classes_")
        return target, classes
    y = follow(y, X, xp, what="y")
    y = _column_to_1d(y, xp=xp)
    if y.ndim != 1:
        raise InputError(f"y must be 1-D (n_samples,), got shape {tuple(y.shape)}")
    _check_length(y, X, "y")
    if xp.isdtype(y.dtype, "real floating"):
        _check_finite(y, xp, "y")
        if not bool(xp.all(y == xp.round(y))):
            raise _continuous_target(estimator)
    elif not xp.isdtype(y.dtype, ("integral", "bool")):
        raise InputError(f"y has dtype {y.dtype}; class labels must be numbers or strings")
    if lazy:
        (distinct,) = materialize(xp.unique_values(y), xp=xp)
        classes = np.sort(to_numpy(distinct))
        _check_n_classes(len(classes), classes, estimator)
        labels = [c.item() for c in classes]
        if len(labels) == 2:
            return xp.astype(y == labels[1], X.dtype), classes
        return xp.stack([xp.astype(y == c, X.dtype) for c in labels], axis=1), classes
    classes = xp.unique_values(y)
    _check_n_classes(int(classes.shape[0]), to_numpy(classes), estimator)
    if classes.shape[0] == 2:
        return xp.astype(y == classes[1], X.dtype), classes
    return xp.astype(xp.expand_dims(y, axis=1) == classes, X.dtype), classes


def _continuous_target(estimator: str) -> InputError:
    return InputError(
        f"Unknown label type: continuous. {estimator} needs class labels, but y has "
        "non-integer values; use LinearRegression for a continuous target"
    )


def _host_classes(y: np.ndarray, estimator: str) -> np.ndarray:
    kind = y.dtype.kind
    if kind == "f":
        if not np.all(np.isfinite(y)):
            raise InputError("y has NaN or infinite labels; drop those samples before fit")
        if not np.all(y == np.round(y)):
            raise _continuous_target(estimator)
    elif kind == "c":
        raise InputError(f"y has complex dtype {y.dtype}; class labels must be real or strings")
    kinds: set[str] = set()
    if kind == "O":
        kinds = {
            "str" if isinstance(v, str) else "number" if _is_number(v) else type(v).__name__
            for v in y.tolist()
        }
        if len(kinds) > 1 or not kinds <= {"str", "number"}:
            raise InputError(
                f"y mixes label types {sorted(kinds)}; use one type for all labels "
                "(e.g. y.astype(str)) and no missing values"
            )
    if kind == "O" and kinds == {"number"}:  # numbers in an object array stay numbers
        return _host_classes(np.asarray(y.tolist()), estimator)
    classes = np.unique(y)
    _check_n_classes(len(classes), classes, estimator)
    return classes


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and np.isfinite(v)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _check_n_classes(n: int, classes: Any, estimator: str) -> None:
    if n < 2:
        raise InputError(
            f"y has only 1 class ({_plain(classes[0])!r}); {estimator} needs samples of 2 classes"
        )
