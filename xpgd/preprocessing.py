"""Tabular preprocessing for any CSV or DataFrame: the classic exercise's steps, reusable.

:class:`TabularPreprocessor` does what the car-price exercise did by hand, as a fitted
transform that can be applied to new rows:

* derived columns (``{"Age": "2020 - Year"}``: a pandas ``eval`` expression or a callable);
* dropped columns;
* categorical columns one-hot encoded with ``pandas.get_dummies`` semantics (columns named
  ``<column>_<value>``, values in sorted order, so the column order is stable); a value
  not seen in ``fit`` gets all zeros in its column's group (``handle_unknown="ignore"``,
  the default) or raises (``"error"``);
* numeric columns z-scored with the mean and the sample standard deviation (``ddof=1``,
  as pandas' ``std``) learnt in ``fit``;
* a numeric target optionally z-scored too, its mean and spread remembered so that
  predictions come back in the original units (:meth:`inverse_transform_target`).

This module works on the host (pandas); :func:`prepare` splits, fits on the training rows
only (or, ``fit_on="all"``, on every row before splitting, as the classic code did) and
moves the result to the chosen backend once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from xpgd._backend import resolve_choice, to_backend
from xpgd._typing import Array
from xpgd.exceptions import InputError, InputTypeError, InvalidParameterError, NotFittedError

__all__ = ["PreparedData", "TabularPreprocessor", "is_numeric_column", "prepare"]


class TabularPreprocessor:
    """Derive, drop, one-hot encode and z-score the columns of a DataFrame.

    Parameters
    ----------
    target : str
        Name of the target column.
    categorical : sequence of str, optional
        Columns to one-hot encode. Non-numeric columns (strings, categories, bools) are
        always encoded; list numeric ones (say, ``"Owner"``) here to encode them too.
    drop : sequence of str, default ()
        Columns to leave out (after the derived columns are computed).
    derived : mapping of str to str or callable, optional
        New columns: a ``DataFrame.eval`` expression (``"2020 - Year"``) or a function of
        the DataFrame.
    scale_target : bool, default True
        z-score a numeric target (regression). Class labels are never scaled.
    handle_unknown : {"ignore", "error"}, default "ignore"
        What to do with a category not seen in ``fit``: all zeros in its group, or raise.

    Attributes
    ----------
    feature_names_out_ : list of str
        Columns of the transformed matrix, in order.
    numeric_columns_, categorical_columns_ : list of str
    categories_ : dict of str to list
    mean_, scale_ : dict of str to float
        The z-score parameters of the numeric columns (and of the target when scaled).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"Year": [2010, 2014, 2018], "Fuel": ["Petrol", "Diesel", "Petrol"],
    ...                    "Price": [1.0, 3.0, 5.0]})
    >>> pre = TabularPreprocessor("Price", derived={"Age": "2020 - Year"}, drop=["Year"])
    >>> X, y = pre.fit_transform(df)
    >>> pre.feature_names_out_
    ['Age', 'Fuel_Diesel', 'Fuel_Petrol']
    >>> y.tolist(), pre.inverse_transform_target(y).tolist()
    ([-1.0, 0.0, 1.0], [1.0, 3.0, 5.0])
    """

    def __init__(
        self,
        target: str,
        *,
        categorical: Sequence[str] | None = None,
        drop: Sequence[str] = (),
        derived: Mapping[str, str | Callable[[Any], Any]] | None = None,
        scale_target: bool = True,
        handle_unknown: str = "ignore",
    ) -> None:
        self.target = target
        self.categorical = categorical
        self.drop = drop
        self.derived = derived
        self.scale_target = scale_target
        self.handle_unknown = handle_unknown

    # ------------------------------------------------------------------ fit

    def _frame(self, df: Any, *, need_target: bool) -> Any:
        """Derived columns added, dropped columns removed; checks the columns exist."""
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
        if df.shape[0] == 0:
            raise InputError("the data has no rows; pass a CSV or DataFrame with data rows")
        df = df.copy()
        for name, rule in (self.derived or {}).items():
            try:
                df[name] = rule(df) if callable(rule) else df.eval(rule)
            except Exception as exc:
                raise InputError(f"cannot derive column {name!r} from {rule!r}: {exc}") from None
        missing = [c for c in self.drop if c not in df.columns]
        if missing:
            raise InputError(
                f"cannot drop {missing}: no such column; columns are {list(df.columns)}"
            )
        df = df.drop(columns=list(self.drop))
        if need_target and self.target not in df.columns:
            raise InputError(
                f"target column {self.target!r} not found; columns are {list(df.columns)}"
            )
        return df

    def fit(self, df: Any) -> TabularPreprocessor:
        """Learn the columns, categories and z-score parameters from ``df``.

        Returns
        -------
        self
        """

        if self.handle_unknown not in ("ignore", "error"):
            raise InvalidParameterError(
                f"handle_unknown={self.handle_unknown!r}; use 'ignore' or 'error'"
            )
        df = self._frame(df, need_target=True)
        features = df.drop(columns=[self.target])
        if features.shape[1] == 0:
            raise InputError("no feature columns left after dropping; keep at least one")
        wanted = list(self.categorical or [])
        unknown = [c for c in wanted if c not in features.columns]
        if unknown:
            raise InputError(f"categorical columns {unknown} not found in the data")
        categorical = [
            c for c in features.columns if c in wanted or not is_numeric_column(features[c])
        ]
        numeric = [c for c in features.columns if c not in categorical]
        mean, scale = {}, {}
        for c in numeric:
            col = _numeric_column(features, c)
            mean[c], scale[c] = float(col.mean()), _spread(col)
        categories = {}
        for c in categorical:
            if features[c].isna().any():
                raise InputError(f"column {c!r} has missing values; fill or drop them first")
            categories[c] = sorted(features[c].unique().tolist(), key=_sort_key)
        y = df[self.target]
        self.target_is_numeric_ = is_numeric_column(y)
        if y.isna().any():
            raise InputError(
                f"target column {self.target!r} has {int(y.isna().sum())} missing values; "
                "drop those rows first"
            )
        if self.scale_target and self.target_is_numeric_:
            y = _numeric_column(df, self.target)
            mean[self.target], scale[self.target] = float(y.mean()), _spread(y)
        self.numeric_columns_, self.categorical_columns_ = numeric, categorical
        self.categories_, self.mean_, self.scale_ = categories, mean, scale
        self.feature_names_out_ = self._order(features.columns)
        return self

    def _order(self, columns: Sequence[str]) -> list[str]:
        # Numeric columns first (in data order), then each categorical group: the classic
        # appended get_dummies groups after the remaining columns.
        names = [c for c in columns if c in self.numeric_columns_]
        for c in self.categorical_columns_:
            names += [f"{c}_{v}" for v in self.categories_[c]]
        return names

    # ------------------------------------------------------------------ transform

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_out_"):
            raise NotFittedError("This TabularPreprocessor is not fitted yet; call fit first")

    def transform(self, df: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Apply the fitted steps.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_out), float64
        y : ndarray of shape (n_samples,) or None
            The (scaled) target, or ``None`` when ``df`` has no target column.
        """
        self._check_fitted()
        df = self._frame(df, need_target=False)
        missing = [c for c in self.numeric_columns_ + self.categorical_columns_ if c not in df]
        if missing:
            raise InputError(f"columns {missing} seen in fit are missing from the data")
        blocks = []
        for c in self.numeric_columns_:
            col = _numeric_column(df, c).to_numpy()
            blocks.append(((col - self.mean_[c]) / self.scale_[c])[:, None])
        for c in self.categorical_columns_:
            values = df[c].to_numpy()
            seen = self.categories_[c]
            if self.handle_unknown == "error":
                unseen = sorted(set(values.tolist()) - set(seen), key=_sort_key)
                if unseen:
                    raise InputError(
                        f"column {c!r} has categories {unseen[:5]} not seen in fit; use "
                        "handle_unknown='ignore' to encode them as all zeros"
                    )
            blocks.append(np.stack([values == v for v in seen], axis=1).astype(float))
        X = np.hstack(blocks) if blocks else np.empty((len(df), 0))
        y = None
        if self.target in df.columns:
            y = df[self.target].to_numpy()
            if self.target in self.scale_:
                y = (y.astype(float) - self.mean_[self.target]) / self.scale_[self.target]
        return X, y

    def fit_transform(self, df: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """``fit(df)`` then ``transform(df)``."""
        return self.fit(df).transform(df)

    def inverse_transform_target(self, y: Array) -> Array:
        """Predictions of the scaled target back in the original units (any backend)."""
        self._check_fitted()
        if self.target not in self.scale_:
            return y
        return y * self.scale_[self.target] + self.mean_[self.target]


def is_numeric_column(column: Any) -> bool:
    """Whether a pandas column holds numbers (bools count as categories, not numbers)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def _numeric_column(df: Any, name: str) -> Any:
    """Column ``name`` as floats: every value a finite number, or an error naming it."""
    try:
        col = df[name].astype(float)
    except (TypeError, ValueError) as exc:
        raise InputTypeError(
            f"column {name!r} was numeric in fit but holds non-numbers here ({exc}); fix "
            "the data or list the column as categorical"
        ) from None
    bad = ~np.isfinite(col.to_numpy())
    if bad.any():
        raise InputError(
            f"column {name!r} has {int(bad.sum())} missing or infinite values (first at row "
            f"{int(np.flatnonzero(bad)[0])}); fill or drop them first"
        )
    return col


def _spread(col: Any) -> float:
    sd = float(col.std(ddof=1)) if len(col) > 1 else 0.0
    return sd if sd > 0 and np.isfinite(sd) else 1.0


def _sort_key(v: Any) -> tuple[str, Any]:
    return (type(v).__name__, v)


class PreparedData(NamedTuple):
    """What :func:`prepare` returns: the split, on the chosen backend, and its transform."""

    X_train: Array
    X_test: Array
    y_train: Array
    y_test: Array
    preprocessor: TabularPreprocessor
    train_index: np.ndarray
    test_index: np.ndarray


def prepare(
    df: Any,
    target: str,
    *,
    test_size: float = 0.2,
    random_state: int | None = 0,
    fit_on: str = "train",
    backend: str | None = None,
    device: Any = None,
    dtype: str = "float64",
    **preprocessor_options: Any,
) -> PreparedData:
    """Split ``df``, fit a :class:`TabularPreprocessor`, and move the result once.

    Parameters
    ----------
    df : pandas.DataFrame
    target : str
    test_size : float, default 0.2
        Fraction of rows held out (at least one row each side).
    random_state : int or None, default 0
        Seed of the row shuffle.
    fit_on : {"train", "all"}, default "train"
        Learn the z-scores and categories from the training rows only, or from all rows
        before splitting (the classic exercise's order: it leaks the test rows' statistics
        into the model, so it is offered only to reproduce it).
    backend, device
        Where the arrays go (see :func:`xpgd.set_backend`); features are cast to ``dtype``.
        Class labels that are not numbers stay NumPy arrays.
    **preprocessor_options
        Passed to :class:`TabularPreprocessor`.

    Returns
    -------
    PreparedData
    """
    from xpgd.model_selection import split_indices

    if fit_on not in ("train", "all"):
        raise InvalidParameterError(f"fit_on={fit_on!r}; use 'train' or 'all'")
    train_idx, test_idx = split_indices(len(df), test_size=test_size, random_state=random_state)
    pre = TabularPreprocessor(target, **preprocessor_options)
    if fit_on == "all":
        X, y = pre.fit_transform(df)
    else:
        pre.fit(df.iloc[train_idx])
        X, y = pre.transform(df)
    choice = resolve_choice(backend, device)

    def move(a: np.ndarray, cast: bool) -> Array:
        if cast:
            a = a.astype(dtype)
        elif a.dtype.kind not in "biuf":
            return a
        return to_backend(a, choice.name, choice.device)

    scaled = pre.target in pre.scale_
    return PreparedData(
        move(X[train_idx], True),
        move(X[test_idx], True),
        move(y[train_idx], scaled),
        move(y[test_idx], scaled),
        pre,
        train_idx,
        test_idx,
    )
