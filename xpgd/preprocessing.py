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

A pandas DataFrame is processed on the host; :func:`prepare` splits it, fits on the
training rows only (or, ``fit_on="all"``, on every row before splitting, as the classic
code did) and moves the result to the chosen backend once.

A ``dask.dataframe.DataFrame`` (say from :func:`xpgd.datasets.read_csv` with
``backend="dask"``) is never materialised: ``fit`` learns everything in one pass over its
partitions (each returns a few sums and its distinct categories, combined on the host),
and ``transform`` / :func:`prepare` return lazy Dask arrays built partition by partition
by the same pandas code, with known chunk sizes, ready for the estimators' chunked fit.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from xpgd._backend import resolve_choice, to_backend
from xpgd._typing import Array
from xpgd.exceptions import (
    BackendError,
    InputError,
    InputTypeError,
    InvalidParameterError,
    NotFittedError,
)

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
        the DataFrame. With a Dask DataFrame they are computed partition by partition, so
        they must be row-wise (as an ``eval`` expression of columns is); a callable gets
        each pandas partition.
    scale_target : bool, default True
        z-score a numeric target (regression). Class labels are never scaled.
    handle_unknown : {"ignore", "error"}, default "ignore"
        What to do with a category not seen in ``fit``: all zeros in its group, or raise
        (with Dask, when the partition holding it is computed).

    Attributes
    ----------
    feature_names_out_ : list of str
        Columns of the transformed matrix, in order.
    numeric_columns_, categorical_columns_ : list of str
    categories_ : dict of str to list
    mean_, scale_ : dict of str to float
        The z-score parameters of the numeric columns (and of the target when scaled).

    Notes
    -----
    ``fit`` and ``transform`` take a pandas or a Dask DataFrame. With Dask, ``fit`` costs
    one pass over the data (one ``dask.compute``: per partition, the count, sum and sum of
    squared deviations of each numeric column and its distinct categories; combined on the
    host with Chan et al.'s pairwise update, so the means and standard deviations equal
    pandas' to rounding). ``transform`` returns lazy Dask arrays; their row chunks must be
    known, so it needs each partition's row count: free after ``fit`` on the same frame
    (``fit_transform``), else one pass over the data to count them.

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

    The same on a Dask DataFrame of two partitions gives lazy arrays, equal values:

    >>> import dask.dataframe as dd
    >>> Xd, yd = pre.fit_transform(dd.from_pandas(df, npartitions=2))
    >>> Xd.chunks[0], bool((Xd.compute() == X).all())
    ((2, 1), True)
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

    def _derive(self, df: Any) -> Any:
        """A copy of pandas frame ``df`` with the derived columns added and the dropped
        ones removed (the same code for a whole frame and for one Dask partition)."""
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
        return df.drop(columns=list(self.drop))

    def _frame(self, df: Any, *, need_target: bool) -> Any:
        """Derived columns added, dropped columns removed; checks the columns exist.

        For a Dask DataFrame this works on its ``_meta`` (its empty pandas frame: the
        column names and types), so every column error comes before any data is read.
        """
        import pandas as pd

        if _is_dask_frame(df):
            frame = self._derive(df._meta)
        elif not isinstance(df, pd.DataFrame):
            raise InputError(f"expected a pandas or Dask DataFrame, got {type(df).__name__}")
        elif df.shape[0] == 0:
            raise InputError("the data has no rows; pass a CSV or DataFrame with data rows")
        else:
            frame = self._derive(df)
        if need_target and self.target not in frame.columns:
            raise InputError(
                f"target column {self.target!r} not found; columns are {list(frame.columns)}"
            )
        return frame

    def _check_parameters(self) -> None:
        if self.handle_unknown not in ("ignore", "error"):
            raise InvalidParameterError(
                f"handle_unknown={self.handle_unknown!r}; use 'ignore' or 'error'"
            )

    def _column_kinds(self, features: Any) -> tuple[list[str], list[str]]:
        """``(numeric, categorical)`` feature columns, from their dtypes."""
        if features.shape[1] == 0:
            raise InputError("no feature columns left after dropping; keep at least one")
        wanted = list(self.categorical or [])
        unknown = [c for c in wanted if c not in features.columns]
        if unknown:
            raise InputError(f"categorical columns {unknown} not found in the data")
        categorical = [
            c for c in features.columns if c in wanted or not is_numeric_column(features[c])
        ]
        return [c for c in features.columns if c not in categorical], categorical

    def fit(self, df: Any) -> TabularPreprocessor:
        """Learn the columns, categories and z-score parameters from ``df``.

        Parameters
        ----------
        df : pandas.DataFrame or dask.dataframe.DataFrame
            With Dask: one pass over the data (one ``dask.compute``), nothing materialised.

        Returns
        -------
        self

        Raises
        ------
        InputError
            A missing column, no rows, missing or infinite values in a numeric column
            (counted, with the first row: for Dask, the row of the whole frame), missing
            values in a categorical column or in the target.
        """
        self._check_parameters()
        if _is_dask_frame(df):
            return self._fit_dask(df, _partitions(df))
        df = self._frame(df, need_target=True)
        features = df.drop(columns=[self.target])
        numeric, categorical = self._column_kinds(features)
        mean, scale = {}, {}
        for c in numeric:
            col = _numeric_column(features, c)
            mean[c], scale[c] = float(col.mean()), _spread(col)
        categories = {}
        for c in categorical:
            if features[c].isna().any():
                raise _missing_categories(c)
            categories[c] = sorted(features[c].unique().tolist(), key=_sort_key)
        y = df[self.target]
        target_is_numeric = is_numeric_column(y)
        if y.isna().any():
            raise self._missing_targets(int(y.isna().sum()))
        if self.scale_target and target_is_numeric:
            y = _numeric_column(df, self.target)
            mean[self.target], scale[self.target] = float(y.mean()), _spread(y)
        return self._store(numeric, categorical, categories, mean, scale, features.columns,
                           target_is_numeric)  # fmt: skip

    def _store(
        self,
        numeric: list[str],
        categorical: list[str],
        categories: dict[str, list[Any]],
        mean: dict[str, float],
        scale: dict[str, float],
        columns: Sequence[str],
        target_is_numeric: bool,
    ) -> TabularPreprocessor:
        """Set the fitted attributes (pandas and Dask fits alike)."""
        self.target_is_numeric_ = target_is_numeric
        self.numeric_columns_, self.categorical_columns_ = numeric, categorical
        self.categories_, self.mean_, self.scale_ = categories, mean, scale
        self.feature_names_out_ = self._order(columns)
        return self

    def _missing_targets(self, count: int) -> InputError:
        return InputError(
            f"target column {self.target!r} has {count} missing values; drop those rows first"
        )

    def _fit_dask(
        self, ddf: Any, parts: list[Any], *, rows: Sequence[np.ndarray] | None = None
    ) -> TabularPreprocessor:
        """Fit on a Dask DataFrame in one ``dask.compute``.

        ``parts`` are its partitions (:func:`_partitions`); ``rows``, per partition, the
        bit-packed mask of the rows to learn from (:func:`prepare`'s training rows), or
        None for every row.
        """
        import dask

        frame = self._frame(ddf, need_target=True)
        features = frame.drop(columns=[self.target])
        numeric, categorical = self._column_kinds(features)
        target_is_numeric = is_numeric_column(frame[self.target])
        scale_target = self.scale_target and target_is_numeric
        summarize = dask.delayed(_partition_summary, pure=True)
        summaries = dask.compute(
            *(
                summarize(
                    self,
                    part,
                    numeric,
                    categorical,
                    scale_target,
                    None if rows is None else rows[i],
                )
                for i, part in enumerate(parts)
            )
        )
        offsets = np.cumsum([0] + [s.rows for s in summaries])
        if sum(s.used for s in summaries) == 0:
            raise InputError("the data has no rows; pass a CSV or DataFrame with data rows")
        mean, scale = {}, {}
        for c in numeric:
            _raise_if_not_finite(c, [s.numeric[c] for s in summaries], offsets)
            mean[c], scale[c] = _combine_moments([s.numeric[c] for s in summaries])
        categories = {}
        for c in categorical:
            if any(s.categories[c][0] for s in summaries):
                raise _missing_categories(c)
            seen = set().union(*(s.categories[c][1] for s in summaries))
            categories[c] = sorted(seen, key=_sort_key)
        blanks = sum(s.target_missing for s in summaries)
        if blanks:
            raise self._missing_targets(blanks)
        if scale_target:
            moments = [s.target for s in summaries]
            _raise_if_not_finite(self.target, moments, offsets)
            mean[self.target], scale[self.target] = _combine_moments(moments)
        self._store(numeric, categorical, categories, mean, scale, features.columns,
                    target_is_numeric)  # fmt: skip
        # transform() of this same frame needs the partitions' row counts: learnt here
        # for free, kept (a few integers) so that fit_transform reads the data once.
        self._partition_rows = (ddf._name, tuple(int(s.rows) for s in summaries))
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

    def transform(self, df: Any) -> tuple[Any, Any]:
        """Apply the fitted steps.

        Parameters
        ----------
        df : pandas.DataFrame or dask.dataframe.DataFrame

        Returns
        -------
        X : array of shape (n_samples, n_features_out), float64
            A NumPy array; for a Dask DataFrame a lazy Dask array, one row chunk per
            partition (sizes known).
        y : array of shape (n_samples,) or None
            The (scaled) target, or ``None`` when ``df`` has no target column.

        Raises
        ------
        InputError
            A column seen in fit is missing, or (with ``handle_unknown="error"``) a
            category was not seen in fit; with Dask the latter, and missing or infinite
            numeric values, are found when the partition holding them is computed.
        """
        self._check_fitted()
        if _is_dask_frame(df):
            parts = _partitions(df)
            known = getattr(self, "_partition_rows", (None, ()))
            if known[0] == df._name and len(known[1]) == len(parts):
                lengths = list(known[1])
            else:
                lengths = _partition_lengths(parts)  # one pass over the data
            return self._lazy_rows(df, parts, lengths)
        df = self._frame(df, need_target=False)
        return self._encode(df)

    def _encode(self, df: Any, *, rows: np.ndarray | None = None) -> tuple[Any, Any]:
        """``(X, y)`` as NumPy arrays from pandas frame ``df`` (already derived).

        ``rows``: the row numbers of ``df`` in the whole data, for error messages (a Dask
        partition); by default its positions.
        """
        import pandas as pd

        missing = [c for c in self.numeric_columns_ + self.categorical_columns_ if c not in df]
        if missing:
            raise InputError(f"columns {missing} seen in fit are missing from the data")
        blocks = []
        for c in self.numeric_columns_:
            col = _numeric_column(df, c, rows=rows).to_numpy()
            blocks.append(((col - self.mean_[c]) / self.scale_[c])[:, None])
        for c in self.categorical_columns_:
            seen = self.categories_[c]
            # Position of each value among the categories learnt in fit (-1: not seen, or
            # missing), so every partition gets the same columns whatever it holds.
            codes = pd.Index(seen).get_indexer(df[c])
            if self.handle_unknown == "error" and (codes < 0).any():
                unseen = sorted(set(df[c][codes < 0].tolist()), key=_sort_key)
                raise InputError(
                    f"column {c!r} has categories {unseen[:5]} not seen in fit; use "
                    "handle_unknown='ignore' to encode them as all zeros"
                )
            blocks.append((codes[:, None] == np.arange(len(seen))).astype(float))
        X = np.hstack(blocks) if blocks else np.empty((len(df), 0))
        y = None
        if self.target in df.columns:
            y = df[self.target].to_numpy()
            if self.target in self.scale_:
                y = (y.astype(float) - self.mean_[self.target]) / self.scale_[self.target]
        return X, y

    def _lazy_rows(
        self,
        ddf: Any,
        parts: list[Any],
        lengths: Sequence[int],
        *,
        rows: Sequence[np.ndarray] | None = None,
        counts: Sequence[int] | None = None,
        dtype: str = "float64",
    ) -> tuple[Any, Any]:
        """Lazy ``(X, y)`` from the partitions ``parts`` of ``ddf``: one task per partition
        (reading it, deriving, encoding) whose two outputs are the row chunks of X and y.

        ``lengths``: rows per partition; ``rows``: per partition, the bit-packed mask of
        the rows to keep (``counts``: how many), or None for all.
        """
        import dask
        import dask.array as da

        frame = self._frame(ddf, need_target=False)
        X_meta, y_meta = self._encode(frame)  # the dtypes of the chunks, from no rows
        width = len(self.feature_names_out_)
        scaled = self.target in self.scale_
        y_dtype = np.dtype(dtype) if scaled else y_meta.dtype if y_meta is not None else None
        counts = lengths if counts is None else counts
        # The tasks get a copy: refitting this object later must not change arrays
        # already handed out (their columns and scaling are fixed now).
        fitted = copy.deepcopy(self)
        encode = dask.delayed(_encode_partition, pure=True, nout=2)
        offsets = np.cumsum([0, *lengths])
        X_parts, y_parts = [], []
        for i, part in enumerate(parts):
            if counts[i] == 0 and (X_parts or i < len(parts) - 1):
                continue  # no rows of this partition wanted: no chunk (keep at least one)
            X_i, y_i = encode(
                fitted,
                part,
                int(lengths[i]),
                int(offsets[i]),
                None if rows is None else rows[i],
                dtype,
            )
            X_parts.append(
                da.from_delayed(
                    X_i, (int(counts[i]), width), dtype=dtype, meta=X_meta.astype(dtype)
                )
            )
            if y_meta is not None:
                y_parts.append(
                    da.from_delayed(
                        y_i, (int(counts[i]),), dtype=y_dtype, meta=y_meta.astype(y_dtype)
                    )
                )
        X = da.concatenate(X_parts)
        return X, (da.concatenate(y_parts) if y_parts else None)

    def fit_transform(self, df: Any) -> tuple[Any, Any]:
        """``fit(df)`` then ``transform(df)`` (with Dask: one pass over the data, for fit)."""
        return self.fit(df).transform(df)

    def inverse_transform_target(self, y: Array) -> Array:
        """Predictions of the scaled target back in the original units (any backend)."""
        self._check_fitted()
        if self.target not in self.scale_:
            return y
        return y * self.scale_[self.target] + self.mean_[self.target]


def _missing_categories(column: str) -> InputError:
    return InputError(f"column {column!r} has missing values; fill or drop them first")


def is_numeric_column(column: Any) -> bool:
    """Whether a pandas column holds numbers (bools count as categories, not numbers)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def _as_floats(df: Any, name: str) -> Any:
    """Column ``name`` as floats, or an error naming it."""
    try:
        return df[name].astype(float)
    except (TypeError, ValueError) as exc:
        raise InputTypeError(
            f"column {name!r} was numeric in fit but holds non-numbers here ({exc}); fix "
            "the data or list the column as categorical"
        ) from None


def _numeric_column(df: Any, name: str, *, rows: np.ndarray | None = None) -> Any:
    """Column ``name`` as floats: every value a finite number, or an error naming it (and
    the first bad row: ``rows[i]`` when the rows' numbers are given, else its position)."""
    col = _as_floats(df, name)
    bad = ~np.isfinite(col.to_numpy())
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = (
            f"(first at row {first})"
            if rows is None  # a partition: say which rows were looked at
            else f"in rows {int(rows[0])} to {int(rows[-1])} (first at row {int(rows[first])})"
        )
        raise InputError(
            f"column {name!r} has {int(bad.sum())} missing or infinite values {where}; fill "
            "or drop them first"
        )
    return col


def _spread(col: Any) -> float:
    """The column's standard deviation, or 1 where it is 0 or not finite (values whose
    squares overflow: no warning, the 1 is the answer for them)."""
    with np.errstate(over="ignore", invalid="ignore"):
        sd = float(col.std(ddof=1)) if len(col) > 1 else 0.0
    return sd if sd > 0 and np.isfinite(sd) else 1.0


def _sort_key(v: Any) -> tuple[str, Any]:
    return (type(v).__name__, v)


# --------------------------------------------------------------------------- Dask frames


def _is_dask_frame(df: Any) -> bool:
    """Whether ``df`` is a ``dask.dataframe.DataFrame`` (imports nothing otherwise)."""
    if type(df).__module__.split(".")[0] != "dask":
        return False
    import dask.dataframe as dd

    return isinstance(df, dd.DataFrame)


def _partitions(ddf: Any) -> list[Any]:
    """One ``Delayed`` per partition of ``ddf``, from its optimised graph.

    Every pass (row counts, fit, transform) goes through these, because the partitions of
    an optimised *selection* of columns can differ from the whole frame's (Dask fuses
    Parquet partitions when fewer columns are read).
    """
    return list(ddf.to_delayed())


def _partition_lengths(parts: list[Any]) -> list[int]:
    """Rows of each partition: one pass over the data (each partition is read and
    counted; only the counts travel)."""
    import dask

    return [int(n) for n in dask.compute(*(dask.delayed(len, pure=True)(p) for p in parts))]


def _selection(packed: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if packed is None else np.unpackbits(packed, count=n).astype(bool)


class _Moments(NamedTuple):
    """Of a numeric column in one partition: finite values' count, sum and sum of squared
    deviations from their mean; non-finite values' count and first position."""

    count: int
    total: float
    m2: float
    bad: int
    first_bad: int


def _moments(values: np.ndarray, positions: np.ndarray) -> _Moments:
    finite = np.isfinite(values)
    bad = int(values.size - np.count_nonzero(finite))
    first_bad = int(positions[np.flatnonzero(~finite)[0]]) if bad else -1
    x = values[finite] if bad else values
    if x.size == 0:
        return _Moments(0, 0.0, 0.0, bad, first_bad)
    total = float(x.sum())
    return _Moments(int(x.size), total, float(((x - total / x.size) ** 2).sum()), bad, first_bad)


def _combine_moments(parts: Sequence[_Moments]) -> tuple[float, float]:
    """Mean and spread (``ddof=1`` standard deviation; 1.0 when zero or undefined, as
    :func:`_spread`) from the partitions' moments, by Chan et al.'s pairwise update."""
    n = sum(p.count for p in parts)
    mean = sum(p.total for p in parts) / n
    m2 = sum(p.m2 + p.count * (p.total / p.count - mean) ** 2 for p in parts if p.count)
    sd = float(np.sqrt(m2 / (n - 1))) if n > 1 else 0.0
    return mean, (sd if sd > 0 and np.isfinite(sd) else 1.0)


def _raise_if_not_finite(name: str, parts: Sequence[_Moments], offsets: np.ndarray) -> None:
    bad = sum(p.bad for p in parts)
    if bad:
        i = next(i for i, p in enumerate(parts) if p.bad)
        raise InputError(
            f"column {name!r} has {bad} missing or infinite values (first at row "
            f"{int(offsets[i]) + parts[i].first_bad}); fill or drop them first"
        )


class _Summary(NamedTuple):
    """What one partition contributes to a Dask fit (small: sums and distinct values)."""

    rows: int
    used: int
    numeric: dict[str, _Moments]
    categories: dict[str, tuple[int, set[Any]]]
    target_missing: int
    target: _Moments | None


def _partition_summary(
    pre: TabularPreprocessor,
    part: Any,
    numeric: list[str],
    categorical: list[str],
    scale_target: bool,
    packed_rows: np.ndarray | None,
) -> _Summary:
    # Runs in a task, on one pandas partition.
    df = pre._derive(part)
    n_rows = len(df)
    positions = np.arange(n_rows)
    keep = _selection(packed_rows, n_rows)
    if keep is not None:
        df, positions = df[keep], positions[keep]
    stats = {c: _moments(_as_floats(df, c).to_numpy(), positions) for c in numeric}
    categories = {}
    for c in categorical:
        col = df[c]
        missing = int(col.isna().sum())
        categories[c] = (missing, set(col.dropna().unique().tolist()))
    y = df[pre.target]
    target_missing = int(y.isna().sum())
    target = None
    if scale_target and not target_missing:
        target = _moments(_as_floats(df, pre.target).to_numpy(), positions)
    return _Summary(n_rows, len(df), stats, categories, target_missing, target)


def _encode_partition(
    pre: TabularPreprocessor,
    part: Any,
    n_rows: int,
    offset: int,
    packed_rows: np.ndarray | None,
    dtype: str,
) -> tuple[np.ndarray, Any]:
    # Runs in a task, on one pandas partition: its rows of X (and y), as NumPy arrays.
    if len(part) != n_rows:
        raise InputError(
            f"a partition has {len(part)} rows where {n_rows} were counted: the data "
            "changed since they were counted (fit or prepare again), or partition_lengths "
            "is wrong"
        )
    df = pre._derive(part)
    rows = offset + np.arange(n_rows)
    keep = _selection(packed_rows, n_rows)
    if keep is not None:
        df, rows = df[keep], rows[keep]
    X, y = pre._encode(df, rows=rows)
    if y is not None and pre.target in pre.scale_:
        y = y.astype(dtype, copy=False)
    return X.astype(dtype, copy=False), y


def _dask_target_summary(ddf: Any, target: str, *, max_classes: int) -> dict[str, Any]:
    """Row count per partition and a summary of column ``target``, in one pass.

    Returns ``partition_lengths``, ``missing`` (blank targets), ``values`` (the distinct
    non-missing values, at most ``max_classes + 1`` of them: enough to tell a class count
    up to ``max_classes`` from a continuous target without collecting every value) and
    ``numeric``.
    """
    import dask

    def summary(part: Any) -> tuple[int, int, list[Any]]:
        col = part[target]
        return len(part), int(col.isna().sum()), col.dropna().unique().tolist()[: max_classes + 1]

    parts = _partitions(ddf)
    results = dask.compute(*(dask.delayed(summary, pure=True)(p) for p in parts))
    values: set[Any] = set()
    for _, _, distinct in results:
        if len(values) <= max_classes:
            values.update(distinct)
    return {
        "partition_lengths": [r[0] for r in results],
        "missing": sum(r[1] for r in results),
        "values": sorted(values, key=_sort_key)[: max_classes + 1],
        "numeric": is_numeric_column(ddf._meta[target]),
    }


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
    partition_lengths: Sequence[int] | None = None,
    **preprocessor_options: Any,
) -> PreparedData:
    """Split ``df``, fit a :class:`TabularPreprocessor`, and move the result once.

    Parameters
    ----------
    df : pandas.DataFrame or dask.dataframe.DataFrame
        A Dask DataFrame stays lazy: the results are Dask arrays (see Notes).
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
        Class labels that are not numbers stay NumPy arrays (NumPy chunks with Dask). A
        Dask DataFrame gives Dask arrays: ``backend`` must be None, ``"auto"`` or
        ``"dask"``; ``device="cuda:0"`` makes their chunks CuPy arrays.
    partition_lengths : sequence of int, optional
        Dask only: the rows of each partition of ``df``, when already known (say from
        ``df.map_partitions(len).compute()``); saves the pass that counts them.
    **preprocessor_options
        Passed to :class:`TabularPreprocessor`.

    Returns
    -------
    PreparedData

    Notes
    -----
    With a Dask DataFrame the held-out rows are exactly those of the pandas path for the
    same seed and row count: the rows are counted (one pass, unless
    ``partition_lengths`` is given), the test mask is drawn on the host by
    :func:`~xpgd.model_selection.split_indices` (one bit per row travels to the tasks,
    packed) and each partition keeps its own rows of it. The preprocessor is then fitted
    in one more pass (on the training rows, or ``fit_on="all"``: in the counting pass).
    Train and test rows come in the data's order, as with pandas (which takes them in
    index order); a fit on them equals the pandas-path fit to rounding (the sums are
    added in another order). ``train_index`` / ``test_index`` are the rows' positions in
    the whole frame.

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd
    >>> df = pd.DataFrame({"x": np.arange(10.0), "c": list("ababababab"),
    ...                    "y": np.arange(10.0) ** 2})
    >>> ours = prepare(dd.from_pandas(df, npartitions=3), "y", test_size=0.3)
    >>> ref = prepare(df, "y", test_size=0.3)
    >>> ours.X_train.chunks[0], ref.X_train.shape
    ((3, 1, 3), (7, 3))
    >>> bool(np.allclose(ours.X_test.compute(), ref.X_test, rtol=1e-12, atol=0))
    True
    """
    from xpgd.model_selection import split_indices

    if fit_on not in ("train", "all"):
        raise InvalidParameterError(f"fit_on={fit_on!r}; use 'train' or 'all'")
    if _is_dask_frame(df):
        return _prepare_dask(
            df,
            target,
            test_size=test_size,
            random_state=random_state,
            fit_on=fit_on,
            backend=backend,
            device=device,
            dtype=dtype,
            partition_lengths=partition_lengths,
            options=preprocessor_options,
        )
    if partition_lengths is not None:
        raise InvalidParameterError(
            "partition_lengths is for a Dask DataFrame; leave it out for a pandas one"
        )
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


def _prepare_dask(
    ddf: Any,
    target: str,
    *,
    test_size: float,
    random_state: int | None,
    fit_on: str,
    backend: str | None,
    device: Any,
    dtype: str,
    partition_lengths: Sequence[int] | None,
    options: dict[str, Any],
) -> PreparedData:
    from xpgd._backend import _dask_chunks_on, _normalize_device
    from xpgd.model_selection import split_indices

    choice = resolve_choice(backend, device)
    if choice.name not in ("auto", "dask"):
        raise BackendError(
            f"a Dask DataFrame gives Dask arrays, but the backend is {choice.name!r}; use "
            "backend='dask' (or leave it out), or pass a pandas DataFrame (ddf.compute(), "
            "if it fits in memory)"
        )
    target_device = (
        choice.device if choice.name == "dask" else _normalize_device("dask", choice.device)
    )
    np.dtype(dtype)  # a bad dtype fails here, not in a task
    pre = TabularPreprocessor(target, **options)
    pre._check_parameters()
    pre._frame(ddf, need_target=True)  # column errors before any data is read
    parts = _partitions(ddf)
    if partition_lengths is not None:
        lengths = [int(n) for n in partition_lengths]
        if len(lengths) != len(parts) or min(lengths, default=0) < 0:
            raise InputError(
                f"partition_lengths has {len(lengths)} entries but the frame has "
                f"{len(parts)} partitions; pass one non-negative row count per partition"
            )
    elif fit_on == "all":
        pre._fit_dask(ddf, parts)  # counts the rows in the same pass
        lengths = list(pre._partition_rows[1])
    else:
        lengths = _partition_lengths(parts)
    n = sum(lengths)
    train_idx, test_idx = split_indices(n, test_size=test_size, random_state=random_state)
    held_out = np.zeros(n, dtype=bool)
    held_out[test_idx] = True
    offsets = np.cumsum([0, *lengths])
    pieces = [held_out[offsets[i] : offsets[i + 1]] for i in range(len(parts))]
    # One bit per row in the graph (packed): n / 8 bytes in all.
    test_rows = [np.packbits(p) for p in pieces]
    train_rows = [np.packbits(~p) for p in pieces]
    test_counts = [int(p.sum()) for p in pieces]
    train_counts = [int(p.size) - k for p, k in zip(pieces, test_counts, strict=True)]
    if fit_on == "train":
        pre._fit_dask(ddf, parts, rows=train_rows)
    X_train, y_train = pre._lazy_rows(
        ddf, parts, lengths, rows=train_rows, counts=train_counts, dtype=dtype
    )
    X_test, y_test = pre._lazy_rows(
        ddf, parts, lengths, rows=test_rows, counts=test_counts, dtype=dtype
    )

    def place(a: Any) -> Any:
        return _dask_chunks_on(a, target_device) if a.dtype.kind in "biuf" else a

    return PreparedData(
        place(X_train), place(X_test), place(y_train), place(y_test), pre, train_idx, test_idx
    )
