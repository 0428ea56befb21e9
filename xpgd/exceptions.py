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
    "InvalidParameterError",
    "NotFittedError",
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


class NotFittedError(XpgdError, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class DivergenceError(XpgdError, FloatingPointError):
    """The loss grew or became non-finite: the learning rate is too large.

    The message names the iteration and a learning rate that is safe for the data.
    """


class ConvergenceWarning(UserWarning):
    """The solver stopped at ``max_iter`` before meeting ``tol``.

    The message gives the iteration count, the remaining gradient norm and what to change.
    """


class DataConversionWarning(UserWarning):
    """An input was converted in a way the user may not expect (a column-vector ``y``)."""
