"""Real datasets that ship with an installed dependency, synthetic data of any size, and
CSV / Parquet reading with clear errors, whole (pandas) or lazily in blocks (Dask).

iris and diabetes come from scikit-learn's bundled copies (no download, no file); it is
imported only when one of them is loaded (``pip install 'xpgd[examples]'``).

:func:`make_regression` and :func:`make_classification` generate seeded data with
AR(1)-correlated columns (a controllable condition number) on any backend, lazily for
Dask: every block of :data:`GENERATION_ROWS` rows has its own seed, so the same seed gives
the same rows whatever the backend, the dtype's precision aside, and whatever the chunks.
"""

from __future__ import annotations

import contextlib
import functools
import pathlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from xpgd.exceptions import InputError

__all__ = [
    "GENERATION_ROWS",
    "Dataset",
    "ar1_columns",
    "csv_read_errors",
    "load_diabetes",
    "load_iris",
    "make_classification",
    "make_regression",
    "read_csv",
    "read_npy",
    "read_parquet",
    "read_table",
    "save_npy",
]

#: Rows per independently seeded generation block of the synthetic datasets.
GENERATION_ROWS = 65_536


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


# --------------------------------------------------------------------------- tables

#: Compression suffixes after ``.csv`` (``data.csv.gz``), which pandas and Dask recognise.
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
#: Suffixes read as Parquet (a file, or a folder of files as Dask and Spark write them).
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


def _frame_backend(backend: str | None) -> str:
    name = "pandas" if backend is None else backend
    if name not in ("pandas", "dask"):
        from xpgd.exceptions import InvalidParameterError

        raise InvalidParameterError(
            f"backend={backend!r}; use 'pandas' (the whole file in memory) or 'dask' "
            "(lazily, one block at a time)"
        )
    return name


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # dask itself, or the pyarrow that dask.dataframe needs
        raise InputError(
            f"reading through Dask needs dask.dataframe and pyarrow ({exc}): "
            "pip install 'xpgd[dask]'"
        ) from None
    return dd


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(
            "reading Parquet needs pyarrow: pip install 'xpgd[parquet]' (or 'pyarrow>=14')"
        ) from None


def _is_csv(path: pathlib.Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".csv"]:
        return True
    return len(suffixes) >= 2 and suffixes[-2] == ".csv" and suffixes[-1] in _COMPRESSED


def _existing(path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    return path


def read_table(
    path: str | pathlib.Path, *, backend: str | None = "pandas", blocksize: Any = None
) -> Any:
    """Read a CSV or Parquet file, the format told by its suffix.

    ``.csv`` (also ``.csv.gz`` and the other compressed forms) goes to :func:`read_csv`,
    ``.parquet`` / ``.pq`` / ``.parq`` (a file or a folder of files) to
    :func:`read_parquet`; ``backend`` and ``blocksize`` as there.

    Raises
    ------
    InputError
        If the file is missing, its suffix names neither format, or it cannot be read.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "data.csv"
    >>> pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}).to_csv(path, index=False)
    >>> read_table(path).shape
    (2, 2)
    >>> read_table(path, backend="dask").npartitions
    1
    """
    path = _existing(path)
    if _is_csv(path):
        return read_csv(path, backend=backend, blocksize=blocksize)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return read_parquet(path, backend=backend, blocksize=blocksize)
    raise InputError(
        f"cannot tell the format of {path} from its suffix {path.suffix or '(none)'!r}; "
        "use a .csv or .parquet file (rename it if it is one of those)"
    )


def read_csv(
    path: str | pathlib.Path, *, backend: str | None = "pandas", blocksize: Any = None
) -> Any:
    """Read a CSV into a DataFrame, with one clear error for each way it can fail.

    Parameters
    ----------
    path : str or pathlib.Path
    backend : {"pandas", "dask"}, default "pandas"
        ``"pandas"`` reads the whole file into memory. ``"dask"`` returns a lazy
        ``dask.dataframe.DataFrame`` read one block of ``blocksize`` bytes per partition,
        only when (and where) a partition is computed: a file bigger than memory can go
        through :func:`xpgd.preprocessing.prepare` and a fit. Dask infers the column
        types from the start of the file; a column whose values change type further
        down gives an error when that block is read. A compressed file cannot be split:
        it is one partition.
    blocksize : int or str, optional
        Bytes per partition with Dask (``"64MB"``, ``2**26``); default Dask's.

    Returns
    -------
    pandas.DataFrame or dask.dataframe.DataFrame

    Raises
    ------
    InputError
        If the file is missing, a directory, empty, has a header but no rows, or is not
        parseable CSV (for Dask: checked on its first row here, on every block when read).
    """

    name = _frame_backend(backend)
    path = _existing(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a CSV file")
    if name == "dask":
        dd = _dask_dataframe()
        # The first row, read here (a few bytes), gives the same errors as pandas for an
        # empty file, a header without rows or an unparseable start; Dask reads its own
        # sample of the file for the column types below.
        head = _read_csv_pandas(path, nrows=1)
        if head.shape[0] == 0:
            raise InputError(f"{path} has a header but no data rows")
        compressed = path.suffix.lower() in _COMPRESSED
        with csv_read_errors(path):
            return dd.read_csv(
                str(path),
                blocksize=None if compressed else ("default" if blocksize is None else blocksize),
            )
    df = _read_csv_pandas(path)
    if df.shape[0] == 0:
        raise InputError(f"{path} has a header but no data rows")
    return df


def _read_csv_pandas(path: pathlib.Path, **options: Any) -> Any:
    import pandas as pd

    with csv_read_errors(path):
        return pd.read_csv(path, **options)


@contextlib.contextmanager
def csv_read_errors(path: str | pathlib.Path) -> Iterator[None]:
    """Turn pandas' and Dask's CSV parsing errors into one :class:`InputError` naming
    ``path``: wrap reads, and with Dask every computation that reads the file (a block is
    parsed only then)."""
    import pandas as pd

    try:
        yield
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        message = str(exc).split("Original Message:")[-1].strip()
        raise InputError(f"cannot parse {path} as CSV: {message}") from None
    except ValueError as exc:
        if not str(exc).startswith("Mismatched dtypes found in `pd.read_csv`"):
            raise
        columns = _mismatched_columns(str(exc))
        raise InputError(
            f"the values of column{'s' if len(columns) != 1 else ''} {columns} in {path} "
            "change type after the start of the file, from which Dask infers the types; "
            "make each column one type, read it with dask.dataframe.read_csv(path, "
            "dtype={...}), or read it whole with pandas (without --backend dask)"
        ) from None


def _mismatched_columns(message: str) -> list[str]:
    """The column names in the table of Dask's "Mismatched dtypes" error."""
    names = []
    for line in message.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and line.startswith("|") and cells[0] != "Column":
            names.append(cells[0])
    return names


def read_parquet(
    path: str | pathlib.Path, *, backend: str | None = "pandas", blocksize: Any = None
) -> Any:
    """Read a Parquet file (or a folder of them) into a DataFrame, with clear errors.

    Needs ``pyarrow`` (``pip install 'xpgd[parquet]'``; the ``dask`` extra has it too).

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.parquet`` file, or a folder of them (as Dask and Spark write).
    backend : {"pandas", "dask"}, default "pandas"
        ``"pandas"`` reads it all into memory; ``"dask"`` returns a lazy
        ``dask.dataframe.DataFrame`` whose partitions (row groups, or groups of them up to
        ``blocksize``) are read only when computed.
    blocksize : int or str, optional
        With Dask, the most bytes per partition (row groups are never split); default
        Dask's.

    Returns
    -------
    pandas.DataFrame or dask.dataframe.DataFrame

    Raises
    ------
    InputError
        If pyarrow is missing, the path is missing, it is not Parquet, or (a single file)
        it has no rows.
    """
    name = _frame_backend(backend)
    path = _existing(path)
    _require_pyarrow()
    if name == "dask":
        dd = _dask_dataframe()
        try:
            ddf = dd.read_parquet(
                str(path), blocksize="default" if blocksize is None else blocksize
            )
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            message = str(exc).split("Original Message:")[-1].strip()
            raise InputError(f"cannot read {path} as Parquet: {message}") from None
        if path.is_file():  # the row count is in the footer: no data read
            import pyarrow.parquet as pq

            if pq.read_metadata(path).num_rows == 0:
                raise InputError(f"{path} has no data rows")
        return ddf
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path} as Parquet: {exc}") from None
    if df.shape[0] == 0:
        raise InputError(f"{path} has no data rows")
    return df


# --------------------------------------------------------------------------- synthetic


def ar1_columns(X: Any, rho: float) -> Any:
    """Turn independent standard-normal columns into AR(1) ones, in place (NumPy or CuPy):
    ``x_j = rho x_{j-1} + sqrt(1 - rho^2) e_j``, so every column stays standard normal and
    neighbours correlate by ``rho``. Returns ``X``."""
    c = float(np.sqrt(1.0 - rho * rho))
    for j in range(1, X.shape[1]):
        X[:, j] *= c
        X[:, j] += rho * X[:, j - 1]
    return X


def _true_coef(seed: int, n_features: int, n_outputs: int) -> np.ndarray:
    """The generating coefficients: ``(n_features,)`` or ``(n_features, n_outputs)``."""
    rng = np.random.default_rng([seed, 0])
    coef = rng.normal(size=(n_features, n_outputs)) / np.sqrt(n_features)
    return coef[:, 0] if n_outputs == 1 else coef


def _generation_block(
    seed: int, index: int, n_features: int, rho: float, kind: str, coef: np.ndarray, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``index * GENERATION_ROWS`` onwards (a whole block), float64, from their own
    seed ``[seed, index + 1]``."""
    rng = np.random.default_rng([seed, index + 1])
    X = ar1_columns(rng.standard_normal((GENERATION_ROWS, n_features)), rho)
    z = X @ coef
    if kind == "regression":
        return X, z + noise * rng.standard_normal(GENERATION_ROWS)
    if coef.ndim == 1:  # logistic model: P(y = 1) = sigmoid(z)
        return X, (z + rng.logistic(size=GENERATION_ROWS) > 0).astype(np.int64)
    # multinomial logit: argmax of scores plus Gumbel noise
    return X, np.argmax(z + rng.gumbel(size=z.shape), axis=1).astype(np.int64)


def _generate_rows(
    seed: int, n_features: int, rho: float, kind: str, coef: Any, noise: float, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[lo, hi)``: the generation blocks they overlap, sliced."""
    first, last = lo // GENERATION_ROWS, (hi - 1) // GENERATION_ROWS
    parts = [
        _generation_block(seed, b, n_features, rho, kind, coef, noise)
        for b in range(first, last + 1)
    ]
    X = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    y = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    start = lo - first * GENERATION_ROWS
    return X[start : start + hi - lo], y[start : start + hi - lo]


def _synthetic(
    kind: str,
    n_samples: int,
    n_features: int,
    *,
    rho: float,
    noise: float,
    n_classes: int,
    random_state: int,
    dtype: str,
    chunks: int | None,
    backend: str | None,
    device: Any,
) -> tuple[Any, Any, np.ndarray]:
    from xpgd._backend import _dask_chunks_on, resolve_choice, to_backend
    from xpgd.exceptions import InvalidParameterError

    for name, value, low in (("n_samples", n_samples, 1), ("n_features", n_features, 1)):
        if not (isinstance(value, int | np.integer) and value >= low):
            raise InvalidParameterError(f"{name}={value!r} is invalid; use an integer >= {low}")
    if not (0.0 <= rho < 1.0):
        raise InvalidParameterError(f"rho={rho!r} is invalid; use 0 <= rho < 1")
    if dtype not in ("float32", "float64"):
        raise InvalidParameterError(f"dtype={dtype!r} is invalid; use 'float32' or 'float64'")
    if not isinstance(random_state, int | np.integer) or random_state < 0:
        raise InvalidParameterError(
            f"random_state={random_state!r} is invalid; use an integer seed >= 0 (the data "
            "are seeded per block, so a generator object cannot reproduce them)"
        )
    outputs = 1 if kind == "regression" or n_classes == 2 else n_classes
    coef = _true_coef(int(random_state), n_features, outputs)
    args = (int(random_state), n_features, float(rho), kind, coef, float(noise))
    choice = resolve_choice(backend, device)
    name = "numpy" if choice.name == "auto" else choice.name
    if name == "dask":
        from xpgd._dask import from_row_generator

        X, y = from_row_generator(
            functools.partial(_generate_rows, *args),  # (lo, hi) -> rows
            n_samples,
            n_features,
            chunk_rows=int(chunks or 2 * GENERATION_ROWS),
            y_dtype=np.float64 if kind == "regression" else np.int64,
        )
        X = _dask_chunks_on(X.astype(dtype), choice.device)  # CuPy chunks for a GPU device
        y = _dask_chunks_on(y.astype(dtype) if kind == "regression" else y, choice.device)
        return X, y, coef
    X, y = _generate_rows(*args, 0, n_samples)
    X = X.astype(dtype)
    y = y.astype(dtype) if kind == "regression" else y
    return to_backend(X, name, choice.device), to_backend(y, name, choice.device), coef


def make_regression(
    n_samples: int,
    n_features: int,
    *,
    noise: float = 1.0,
    rho: float = 0.0,
    random_state: int = 0,
    dtype: str = "float64",
    chunks: int | None = None,
    backend: str | None = None,
    device: Any = None,
) -> tuple[Any, Any, np.ndarray]:
    """Seeded linear-regression data: ``y = X @ coef + noise * e``.

    The columns are standard normal with AR(1) correlation ``rho`` between neighbours
    (condition number of ``X^T X / n`` about ``((1 + rho) / (1 - rho))``); ``coef`` is drawn
    once from the seed. Rows are generated in blocks of :data:`GENERATION_ROWS`, each from
    its own seed, so the data do not depend on the backend or the chunks.

    Parameters
    ----------
    n_samples, n_features : int
    noise : float, default 1.0
    rho : float, default 0.0
        Correlation of neighbouring columns, in [0, 1).
    random_state : int, default 0
    dtype : {"float64", "float32"}
    chunks : int, optional
        Rows per chunk for Dask (default ``2 * GENERATION_ROWS``).
    backend, device : optional
        Where to put the data (see :func:`xpgd.set_backend`). ``"dask"`` builds a lazy
        array: each chunk is generated when (and where) it is computed, so data larger
        than memory can be streamed to a fit; with ``device="cuda:0"`` its chunks are
        CuPy arrays on that GPU (each moved there by its own task).

    Returns
    -------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
    coef : numpy.ndarray of shape (n_features,)

    Examples
    --------
    >>> from xpgd.datasets import make_regression
    >>> X, y, coef = make_regression(1000, 3, rho=0.5, random_state=1)
    >>> X.shape, y.shape, coef.shape
    ((1000, 3), (1000,), (3,))
    """
    return _synthetic(
        "regression",
        n_samples,
        n_features,
        rho=rho,
        noise=noise,
        n_classes=1,
        random_state=random_state,
        dtype=dtype,
        chunks=chunks,
        backend=backend,
        device=device,
    )


def make_classification(
    n_samples: int,
    n_features: int,
    *,
    n_classes: int = 2,
    rho: float = 0.0,
    random_state: int = 0,
    dtype: str = "float64",
    chunks: int | None = None,
    backend: str | None = None,
    device: Any = None,
) -> tuple[Any, Any, np.ndarray]:
    """Seeded classification data from a logistic model: ``P(y = 1) = sigmoid(X @ coef)``
    for two classes, a multinomial logit (``argmax`` of ``X @ coef`` plus Gumbel noise)
    for more. Columns, seeding and chunks as in :func:`make_regression`; labels are
    ``int64`` in ``0 .. n_classes - 1``.

    Returns
    -------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,), int64
    coef : numpy.ndarray of shape (n_features,) or (n_features, n_classes)

    Examples
    --------
    >>> from xpgd.datasets import make_classification
    >>> X, y, coef = make_classification(500, 4, n_classes=3, random_state=2)
    >>> sorted(set(y.tolist())), coef.shape
    ([0, 1, 2], (4, 3))
    """
    from xpgd.exceptions import InvalidParameterError

    if not (isinstance(n_classes, int | np.integer) and n_classes >= 2):
        raise InvalidParameterError(f"n_classes={n_classes!r} is invalid; use an integer >= 2")
    return _synthetic(
        "classification",
        n_samples,
        n_features,
        rho=rho,
        noise=0.0,
        n_classes=int(n_classes),
        random_state=random_state,
        dtype=dtype,
        chunks=chunks,
        backend=backend,
        device=device,
    )


# --------------------------------------------------------------------------- .npy files


def save_npy(x: Any, path: str | pathlib.Path) -> pathlib.Path:
    """Write an array to ``path`` (``.npy``); a Dask array is written chunk by chunk, so
    data larger than memory (say from :func:`make_regression` with ``backend="dask"``)
    go to disk without ever being held whole.

    Returns
    -------
    pathlib.Path
    """
    from xpgd._backend import to_numpy

    path = pathlib.Path(path)
    if type(x).__module__.split(".")[0] == "dask":
        from xpgd._dask import to_npy

        to_npy(x, str(path))
    else:
        np.save(path, to_numpy(x))
    return path


def read_npy(
    path: str | pathlib.Path,
    *,
    chunks: int = 2 * GENERATION_ROWS,
    backend: str | None = "dask",
    device: Any = None,
) -> Any:
    """Read a ``.npy`` file: lazily for ``backend="dask"`` (the default; each chunk of
    ``chunks`` rows is read from the memory-mapped file by its own task, on the worker that
    computes it: out of core; ``device="cuda:0"`` makes the chunks CuPy arrays on that
    GPU), else whole, onto the backend and device.

    Raises
    ------
    InputError
        If the file is missing or not a ``.npy`` array.
    """
    from xpgd._backend import _dask_chunks_on, resolve_choice, to_backend

    path = pathlib.Path(path)
    try:
        header = np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable .npy array ({exc})") from None
    choice = resolve_choice(backend, device)
    name = "numpy" if choice.name == "auto" else choice.name
    if name == "dask":
        from xpgd._dask import from_npy

        return _dask_chunks_on(from_npy(str(path), chunk_rows=int(chunks)), choice.device)
    return to_backend(np.array(header), name, choice.device)
