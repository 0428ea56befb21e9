"""The optimizer loop: runs any :class:`~xpgd._core.optim.Transform` on the device.

Host synchronisation happens only every ``check_every`` iterations (and at the last one),
through :func:`xpgd._backend.host_floats`, which fetches the current loss and gradient
norm in one transfer. The loss history stays on the device until the end.

At each check the loop

* stops when the largest absolute gradient entry is at most ``tol`` (converged);
* raises :class:`~xpgd.exceptions.DivergenceError` when the loss is not finite or has grown
  above its starting value (gradient descent with a step below ``2 / L`` decreases the
  loss at every iteration, so growth means the step is too large; accelerated methods
  are not monotone, so for them the loss must have doubled); parameters with NaN or inf
  are never returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from xpgd._backend import host_floats, is_lazy
from xpgd._core.objective import LinearObjective
from xpgd._core.optim import SOLVERS, Transform
from xpgd._typing import Array, Namespace
from xpgd.exceptions import DivergenceError, InputError

__all__ = ["SolverResult", "minimize", "run"]


class SolverResult(NamedTuple):
    """What :func:`run` returns; arrays live in the parameters' namespace and device."""

    theta: Array
    n_iter: int
    loss_history: Array
    """Objective at the start and after each iteration: ``n_iter + 1`` values."""
    converged: bool
    grad_max: float
    """Largest absolute gradient entry at the last check."""


def run(
    evaluate: Callable[[Array], tuple[Array, Array]],
    theta0: Array,
    optimizer: Transform,
    *,
    max_iter: int,
    tol: float | None,
    check_every: int,
    xp: Namespace,
    safe_learning_rate: Callable[[], float] | None = None,
    verbose: int = 0,
    callback: Callable[[int, float, float], object] | None = None,
) -> SolverResult:
    """Minimise the objective behind ``evaluate`` from ``theta0``.

    Parameters
    ----------
    evaluate : callable
        ``theta -> (loss, grad)``, eager arrays in namespace ``xp``.
    theta0 : array
        Starting parameters.
    optimizer : Transform
    max_iter : int
        Number of updates at most.
    tol : float or None
        Stop once ``max(|grad|) <= tol``; ``None`` runs exactly ``max_iter`` updates.
    check_every : int
        Iterations between host synchronisations (convergence and divergence checks).
    xp : namespace
        Namespace of the parameters.
    safe_learning_rate : callable, optional
        Called only when the run diverges, to suggest a learning rate in the message.
    verbose : int
        Print the loss and gradient norm at each check when > 0.
    callback : callable, optional
        ``callback(iteration, loss, grad_max)`` at each check, with host floats already
        fetched (no extra sync): a progress hook.

    Raises
    ------
    DivergenceError
        If the loss becomes non-finite or grows above its starting value.
    """
    growth = 1e-3 if optimizer.monotone else 1.0
    theta = theta0
    state = optimizer.init(theta)
    loss, grad = evaluate(theta)
    window = [loss]  # device scalars since the last check
    history = []  # device arrays, one per completed window
    loss0 = math.nan
    grad_max = math.inf
    converged = False
    iteration = 0
    while True:
        at_check = iteration % check_every == 0 or iteration == max_iter
        if at_check:
            # Host sync, every check_every iterations only: loss and max|grad| together.
            loss_now, grad_max = host_floats(xp.stack([loss, xp.max(xp.abs(grad))]))
            if iteration == 0:
                loss0 = loss_now
            if verbose:
                print(f"iter {iteration:6d}  loss {loss_now:.10g}  max|grad| {grad_max:.3g}")
            if callback is not None:
                callback(iteration, loss_now, grad_max)
            if iteration == 0 and not (math.isfinite(loss_now) and math.isfinite(grad_max)):
                raise InputError(
                    f"the objective is not finite at the starting point (loss {loss_now}, "
                    f"largest gradient entry {grad_max}): the values of X, y, the weights or "
                    "the starting parameters overflow; rescale them"
                )
            if not (math.isfinite(loss_now) and math.isfinite(grad_max)) or (
                loss_now > loss0 + growth * abs(loss0)
            ):
                _raise_divergence(iteration, loss0, loss_now, safe_learning_rate)
            if tol is not None and grad_max <= tol:
                converged = True
            history.append(xp.stack(window))
            window = []
            if converged or iteration >= max_iter:
                break
        updates, state = optimizer.update(grad, state, theta)
        theta = theta + updates
        loss, grad = evaluate(theta)
        window.append(loss)
        iteration += 1
    return SolverResult(theta, iteration, xp.concat(history), converged, grad_max)


def _raise_divergence(
    iteration: int, loss0: float, loss: float, safe: Callable[[], float] | None
) -> None:
    hint = "lower the learning rate"
    if safe is not None:
        hint = f"use learning_rate <= {safe():.4g} (1/L for these data) or learning_rate='auto'"
    raise DivergenceError(
        f"gradient descent diverged: the loss went from {loss0:.6g} to {loss:.6g} by "
        f"iteration {iteration}; the learning rate is too large for these data: {hint}"
    )


def minimize(
    objective: LinearObjective,
    theta0: Array,
    *,
    learning_rate: float | str,
    max_iter: int,
    tol: float | None,
    check_every: int,
    solver: str = "gd",
    verbose: int = 0,
    callback: Callable[[int, float, float], object] | None = None,
) -> SolverResult:
    """Minimise ``objective`` from ``theta0`` with ``solver``, on the objective's device.

    ``theta0`` and the returned ``theta`` are in the model's coordinates ``(b, w)``; the
    loop runs in the objective's optimizer coordinates (see
    :meth:`LinearObjective.original`). ``learning_rate="auto"`` uses ``1 / L`` with ``L``
    from :meth:`LinearObjective.lipschitz`, computed on the device and never fetched. For
    lazy (Dask) data, :class:`xpgd._dask.ChunkedObjective` evaluates each iteration as one
    reduction over the chunks and the parameters live in the chunks' namespace.
    """
    if is_lazy(objective.xp):
        from xpgd._dask import ChunkedObjective

        objective = ChunkedObjective(objective)
    xp = objective.param_xp

    def safe_learning_rate() -> float:
        return 1.0 / host_floats(xp.reshape(objective.lipschitz(), (1,)))[0]

    step = 1.0 / objective.lipschitz() if learning_rate == "auto" else float(learning_rate)
    result = run(
        objective.value_and_grad,
        objective.to_optimizer(theta0),
        SOLVERS[solver](step, xp=xp),
        max_iter=max_iter,
        tol=tol,
        check_every=check_every,
        xp=xp,
        safe_learning_rate=safe_learning_rate,
        verbose=verbose,
        callback=callback,
    )
    return result._replace(theta=objective.original(result.theta))
