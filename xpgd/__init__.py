"""xpgd: linear and logistic regression by gradient descent on any Array API backend.

The math is written once against the Python Array API standard, so the same code runs on
NumPy, CuPy, PyTorch, Dask and array-api-strict. Importing xpgd imports only NumPy and
array-api-compat; backends are imported when first used.
"""

from __future__ import annotations

from xpgd._backend import (
    BACKEND_NAMES,
    available_backends,
    get_backend,
    get_device,
    set_backend,
    to_backend,
    to_numpy,
    use_backend,
)
from xpgd._functional import gradient_descent, predict, sigmoid
from xpgd._io import load
from xpgd.exceptions import (
    BackendError,
    ConvergenceWarning,
    DataConversionWarning,
    DivergenceError,
    InputError,
    InputTypeError,
    InvalidParameterError,
    NotFittedError,
    OutOfMemoryError,
    SeparationWarning,
)
from xpgd.linear_model import LinearRegression, LogisticRegression

__version__ = "0.1.0"

__all__ = [
    "BACKEND_NAMES",
    "BackendError",
    "ConvergenceWarning",
    "DataConversionWarning",
    "DivergenceError",
    "InputError",
    "InputTypeError",
    "InvalidParameterError",
    "LinearRegression",
    "LogisticRegression",
    "NotFittedError",
    "OutOfMemoryError",
    "SeparationWarning",
    "__version__",
    "available_backends",
    "compare_backends",
    "get_backend",
    "get_device",
    "gradient_descent",
    "load",
    "predict",
    "set_backend",
    "sigmoid",
    "to_backend",
    "to_numpy",
    "use_backend",
]


def __getattr__(name: str) -> object:
    # compare_backends imports nothing heavy, but keeps `import xpgd` minimal.
    if name == "compare_backends":
        from xpgd.compare import compare_backends

        return compare_backends
    raise AttributeError(f"module 'xpgd' has no attribute {name!r}")
