"""Real datasets that ship with an installed dependency, and CSV reading with clear errors.

iris and diabetes come from scikit-learn's bundled copies (no download, no file); it is
imported only when one of them is loaded (``pip install 'xpgd[examples]'``).
"""

from __future__ import annotations

import pathlib
from typing import Any, NamedTuple

import numpy as np

from xpgd.exceptions import InputError

__all__ = ["Dataset", "load_diabetes", "load_iris", "read_csv"]


class Dataset(NamedTuple):
    """Features, target and names of a bundled dataset (NumPy arrays)."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_names: list[str]
    description: str


def _sklearn_datasets() -> Any:
    try:
        from sklearn import datasets
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError(
            "the bundled datasets come with scikit-learn: pip install 'xpgd[examples]'"
        ) from None
    return datasets


def load_iris(*, binary: bool = True) -> Dataset:
    """Fisher's iris (150 x 4). ``binary=True``: setosa (0) vs the rest (1), the classic
    exercise's view; ``binary=False``: the three species (0, 1, 2).

    Examples
    --------
    >>> data = load_iris()
    >>> data.X.shape, sorted(set(data.y.tolist())), data.target_names
    ((150, 4), [0, 1], ['setosa', 'not setosa'])
    """
    raw = _sklearn_datasets().load_iris()
    names = [n.replace(" (cm)", "") for n in raw.feature_names]
    if binary:
        y = (raw.target != 0).astype(np.int64)
        return Dataset(raw.data, y, names, ["setosa", "not setosa"], "iris, setosa vs rest")
    return Dataset(raw.data, raw.target.astype(np.int64), names, list(raw.target_names), "iris")


def load_diabetes() -> Dataset:
    """The diabetes progression data of Efron et al. (442 x 10, real measurements in
    original units), for linear regression.

    Examples
    --------
    >>> load_diabetes().X.shape
    (442, 10)
    """
    raw = _sklearn_datasets().load_diabetes(scaled=False)
    return Dataset(raw.data, raw.target, list(raw.feature_names), ["progression"], "diabetes")


def read_csv(path: str | pathlib.Path) -> Any:
    """Read a CSV into a DataFrame, with one clear error for each way it can fail."""
    import pandas as pd

    path = pathlib.Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a CSV file")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot parse {path} as CSV: {exc}") from None
    if df.shape[0] == 0:
        raise InputError(f"{path} has a header but no data rows")
    return df
