"""The classic functional interface: ``sigmoid``, ``predict``, ``gradient_descent``.

These mirror the well-known "from scratch" exercise, vectorised and backend-agnostic:
the namespace is inferred once from ``X`` and everything is computed there.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np
from array_api_compat import array_namespace

from xpgd._backend import (
    as_lazy,
    follow_params,
    is_host_input,
    local_namespace,
    place,
    resolve_choice,
    use_fast_paths,
)
from xpgd._core import losses
from xpgd._core.objective import LinearObjective
from xpgd._core.optim import FIXED_STEP
from xpgd._core.solver import minimize
from xpgd._typing import Array
from xpgd._validation import check_target, check_X, valid_learning_rate
from xpgd.exceptions import InputError, InputTypeError, InvalidParameterError

__all__ = ["gradient_descent", "predict", "sigmoid"]


def sigmoid(x: Any) -> Array:
    """Logistic function ``1 / (1 + exp(-x))``, finite for every finite input.

    Unlike the classic ``exp(x) / (exp(x) + 1)``, which is NaN for x > 709 in float64, this
    never overflows; the result is in X's namespace, device and dtype.

    Parameters
    ----------
    x : array
        Any Array API array (NumPy, CuPy, torch, Dask, array-api-strict).

    Returns
    -------
    array
        Same shape, namespace, device and dtype as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> import xpgd
    >>> xpgd.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    if is_host_input(x) and not hasattr(x, "dtype"):
        x = place(x, resolve_choice("numpy", None), what="x")
    xp = array_namespace(x)
    return losses.sigmoid(x, xp=xp)


def predict(X: Any, params: Any, *, loss: str = "logistic") -> Array:
    """Predictions of a linear model ``X @ params``, as in the classic exercise.

    Parameters
    ----------
    X : array of shape (n_samples, n_params)
        Data, with a column of ones if the model has a bias term.
    params : array of shape (n_params,) or (n_params, 1)
        Moved to X's namespace and device when given as a host array.
    loss : {"logistic", "squared"}, default "logistic"
        ``"logistic"`` returns probabilities ``sigmoid(X @ params)``; ``"squared"`` the
        linear predictions ``X @ params``.

    Returns
    -------
    array of shape (n_samples,) or (n_samples, 1)
        In X's namespace and device.

    Examples
    --------
    >>> import numpy as np
    >>> import xpgd
    >>> xpgd.predict(np.array([[1.0, 2.0]]), np.array([0.5, 1.0]), loss="squared")
    array([2.5])
    """
    family = losses.get_loss(loss)
    X, xp = check_X(X, resolve_choice("auto", None))
    params = _params(params, X, xp)
    return family.inverse_link(X @ params, xp=xp)


def _params(params: Any, X: Array, xp: Any) -> Array:
    """``params`` checked (shape, numbers, finite) and placed next to X, in X's dtype."""
    if params is None:
        raise InputError(f"params is None; pass an array of shape ({X.shape[1]},)")
    if is_host_input(params):
        params = np.asarray(params)
        if params.dtype.kind not in "biuf":
            raise InputTypeError(f"params has dtype {params.dtype}; pass real numbers")
    local_xp = local_namespace(X, xp)
    params = local_xp.astype(follow_params(params, X, xp, what="params"), X.dtype)
    if (
        params.ndim not in (1, 2)
        or params.shape[0] != X.shape[1]
        or (params.ndim == 2 and params.shape[1] != 1)
    ):
        raise InputError(
            f"params has shape {tuple(params.shape)} but X has {X.shape[1]} columns; pass "
            f"params of shape ({X.shape[1]},) or ({X.shape[1]}, 1)"
        )
    if not bool(local_xp.all(local_xp.isfinite(params))):
        raise InputError("params has NaN or infinite values; start from finite values")
    return params


def gradient_descent(
    X: Any,
    y: Any,
    params: Any,
    learning_rate: float | str,
    num_iters: int,
    *,
    loss: str = "logistic",
    solver: str = "gd",
    check_every: int = 100,
) -> tuple[Array, Array]:
    """Run ``num_iters`` full-batch gradient steps, as in the classic exercise.

    Each step is ``params <- params - learning_rate * X^T (predict(X, params) - y) / n``,
    the gradient of the mean log loss (logistic) or of half the mean squared error
    (squared). ``X`` is used as given: add a column of ones for a bias term.

    Started from zero, the iterates stay in the row space of X, so on collinear X (one-hot
    groups plus a bias column) a run to convergence reaches the minimum-norm least-squares
    solution.

    Parameters
    ----------
    X : array of shape (n_samples, n_params)
        Any Array API array, or a host array (NumPy, pandas, list).
    y : array of shape (n_samples,) or (n_samples, 1)
        Targets (0/1 for logistic); moved to X's namespace and device.
    params : array of shape (n_params,) or (n_params, 1)
        Starting parameters; the result has the same shape.
    learning_rate : float or "auto"
        Step size; ``"auto"`` is ``1 / L`` computed from the data on the device.
    num_iters : int
        Number of steps (exactly: no early stopping).
    loss : {"logistic", "squared"}, default "logistic"
    solver : {"gd", "momentum", "nesterov"}, default "gd"
        ``"gd"`` is the classic update above; ``"momentum"`` adds heavy-ball momentum
        (beta 0.9); ``"nesterov"`` accelerated momentum with adaptive restart (same cost
        per step, far fewer steps on ill-conditioned X).
    check_every : int, default 100
        Steps between the host synchronisations that check for divergence.

    Returns
    -------
    cost_history : array of shape (num_iters + 1,)
        The cost at the starting parameters, then after each step: the mean log loss
        (logistic) or the mean squared error (squared), on X's device.
    params : array
        The final parameters, in X's namespace, device and dtype.

    Raises
    ------
    DivergenceError
        If the cost grows or becomes non-finite (learning rate too large); the message
        names the iteration and a safe learning rate.

    Examples
    --------
    >>> import numpy as np
    >>> import xpgd
    >>> X = np.array([[1.0, -1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> cost, params = xpgd.gradient_descent(X, np.array([0.0, 1.0, 1.0]), np.zeros(2), 0.5, 10)
    >>> cost.shape, bool(cost[-1] < cost[0])
    ((11,), True)
    """
    family = losses.get_loss(loss)
    if solver not in FIXED_STEP:
        raise InvalidParameterError(
            f"unknown solver {solver!r}; choose one of {FIXED_STEP} (fixed-step solvers: "
            "the estimators offer the line searches and stochastic solvers)"
        )
    if not (isinstance(num_iters, int) and num_iters >= 0):
        raise InvalidParameterError(f"num_iters={num_iters!r} is invalid; use an integer >= 0")
    if not valid_learning_rate(learning_rate):
        raise InvalidParameterError(
            f"learning_rate={learning_rate!r} is invalid; use a positive float or 'auto'"
        )
    if not (isinstance(check_every, int) and check_every >= 1):
        raise InvalidParameterError(f"check_every={check_every!r}; use an integer >= 1")
    if array_api_compat.is_dask_array(X):
        from xpgd._dask import keep_on_cluster  # on a cluster: read the data once

        X, y = keep_on_cluster(X, y)
    X, xp = check_X(X, resolve_choice("auto", None))
    params = _params(params, X, xp)
    y = check_target(y, X, xp, allow_2d=True, estimator="gradient_descent")
    if y.ndim == 2 and y.shape[1] != 1:
        raise InputError(
            f"y has shape {tuple(y.shape)}; gradient_descent fits one target: pass y of "
            f"shape ({X.shape[0]},) or ({X.shape[0]}, 1)"
        )
    if params.ndim == 1 and y.ndim == 2:
        y = y[:, 0]
    elif params.ndim == 2 and y.ndim == 1:
        y = y[:, None]
    objective = LinearObjective(X, y, family, fit_intercept=False, xp=xp)
    use_fast_paths(objective)
    result = minimize(
        objective,
        params,
        learning_rate=learning_rate,
        max_iter=num_iters,
        tol=None,
        check_every=check_every,
        solver=solver,
        line_search=False,
    )
    # The objective of the squared loss is half the MSE; the classic cost is the MSE.
    history = 2.0 * result.loss_history if loss == "squared" else result.loss_history
    # Dask: the loop ran on the computed parameters; hand them back in X's namespace.
    return as_lazy(history, xp), as_lazy(result.theta, xp)
