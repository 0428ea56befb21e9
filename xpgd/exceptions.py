"""Every exception and warning xpgd raises, in one place.

Each class also derives from the built-in exception users already catch (``ValueError``,
``TypeError``, ...), as scikit-learn's do, so ``except ValueError`` keeps working.
Messages name the problem and the fix.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConvergenceWarning",
    "DataConversionWarning",
    "DivergenceError",
    "InputError",
    "InputTypeError",
    "InvalidParameterError",
    "NotFittedError",
    "OutOfMemoryError",
    "SeparationWarning",
    "XpgdError",
]


class XpgdError(Exception):
    """Base class of every error raised by xpgd."""


class BackendError(XpgdError, ValueError):
    """A backend name is unknown, not installed, or the inputs live on different backends.

    The message lists the backends that are available.
    """


class InvalidParameterError(XpgdError, ValueError):
    """A hyperparameter has an invalid value (negative ``alpha``, unknown ``penalty``...)."""


class InputError(XpgdError, ValueError):
    """``X``, ``y`` or ``sample_weight`` cannot be used as given (NaN, wrong shape...)."""


class InputTypeError(InputError, TypeError):
    """``X`` (or ``y``) holds values that are not numbers (strings, dicts, objects)."""


class NotFittedError(XpgdError, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class DivergenceError(XpgdError, FloatingPointError):
    """The loss grew or became non-finite: the learning rate is too large.

    The message names the iteration and a learning rate that is safe for the data.
    """


class OutOfMemoryError(XpgdError, MemoryError):
    """The device (or host) ran out of memory during ``fit``; the message says how to fit
    anyway (float32, Dask row chunks)."""


class ConvergenceWarning(UserWarning):
    """The solver stopped at ``max_iter`` before meeting ``tol``.

    The message gives the iteration count, the remaining gradient norm and what to change.
    """


class SeparationWarning(ConvergenceWarning):
    """Unpenalised logistic regression on perfectly separable classes: the optimum lies at
    infinity, so the coefficients grow for as long as the solver runs."""


class DataConversionWarning(UserWarning):
    """An input was converted in a way the user may not expect (a column-vector ``y``)."""


_SKLEARN_FLAVOURED: dict[type, type] = {}


def sklearn_compatible(cls: type) -> type:
    """``cls``, or a subclass that also derives from scikit-learn's class of the same name.

    When scikit-learn is already imported (never imported here: ``import xpgd`` stays
    light), the errors and warnings xpgd raises are also instances of
    ``sklearn.exceptions.NotFittedError``, ``ConvergenceWarning`` and
    ``DataConversionWarning``, so code and meta-estimators that catch or filter
    scikit-learn's classes handle xpgd's too. They remain instances of ``cls``.
    """
    import sys

    module = sys.modules.get("sklearn.exceptions")
    base = getattr(module, cls.__name__, None) if module is not None else None
    if base is None or issubclass(cls, base):
        return cls
    if cls not in _SKLEARN_FLAVOURED:
        _SKLEARN_FLAVOURED[cls] = type(
            cls.__name__,
            (cls, base),
            {"__module__": cls.__module__, "__doc__": cls.__doc__},
        )
    return _SKLEARN_FLAVOURED[cls]
