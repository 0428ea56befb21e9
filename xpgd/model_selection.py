"""A seeded train/test split that works on every backend.

The row permutation is drawn once on the host (NumPy's PCG64, so a seed gives the same
split everywhere) and applied where each array lives (``xp.take``); pandas objects are
split with ``iloc``. No array is moved to another device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from xpgd._backend import is_host_input, is_lazy
from xpgd.exceptions import InputError, InvalidParameterError

__all__ = ["split_indices", "train_test_split"]


def split_indices(
    n_samples: int,
    *,
    test_size: float | int = 0.2,
    random_state: int | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` for ``n_samples`` rows.

    ``test_size`` is a fraction in (0, 1) (rounded up, as scikit-learn does) or a count;
    both sides get at least one row.
    """
    if isinstance(test_size, float) and 0 < test_size < 1:
        n_test = math.ceil(test_size * n_samples)
    elif isinstance(test_size, int) and not isinstance(test_size, bool) and test_size > 0:
        n_test = test_size
    else:
        raise InvalidParameterError(
            f"test_size={test_size!r}; use a fraction in (0, 1) or a positive row count"
        )
    if n_test >= n_samples:
        raise InputError(
            f"cannot hold out {n_test} of {n_samples} rows and keep any for training; "
            "use a smaller test_size or more data"
        )
    order = (
        np.random.default_rng(random_state).permutation(n_samples)
        if shuffle
        else np.arange(n_samples)
    )
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def train_test_split(
    *arrays: Any,
    test_size: float | int = 0.2,
    random_state: int | None = None,
    shuffle: bool = True,
) -> list[Any]:
    """Split arrays of equal length into train and test rows, each where it lives.

    Parameters
    ----------
    *arrays : arrays or pandas objects of equal length
    test_size : float or int, default 0.2
    random_state : int or None
        Seed; the same seed gives the same rows on every backend.
    shuffle : bool, default True

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``.

    Examples
    --------
    >>> import numpy as np
    >>> X_train, X_test = train_test_split(np.arange(10.0)[:, None], test_size=0.2,
    ...                                    random_state=0)
    >>> X_train.shape, X_test.shape
    ((8, 1), (2, 1))
    """
    if not arrays:
        raise InputError("pass at least one array to split")
    lengths = {len(a) if is_host_input(a) else a.shape[0] for a in arrays}
    if len(lengths) != 1:
        raise InputError(f"arrays have different numbers of rows: {sorted(lengths)}")
    train, test = split_indices(
        lengths.pop(), test_size=test_size, random_state=random_state, shuffle=shuffle
    )
    out = []
    for a in arrays:
        for idx in (train, test):
            out.append(_take(a, idx))
    return out


def _take(a: Any, idx: np.ndarray) -> Any:
    if hasattr(a, "iloc"):
        return a.iloc[idx]
    if is_host_input(a):
        return np.asarray(a)[idx]
    xp = array_namespace(a)
    if is_lazy(xp):
        return a[idx]
    return xp.take(a, xp.asarray(idx, device=device_of(a)), axis=0)
