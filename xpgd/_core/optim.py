"""Optimizers as small pure transforms, in the style of optax.

An optimizer is a pair of functions:

* ``init(theta) -> state``: the optimizer's state (a ``NamedTuple`` of arrays living on
  the parameters' device);
* ``update(grad, state, theta) -> (updates, state)``: the step to *add* to ``theta``.

They never sync with the host and never allocate on another device, so the loop in
:mod:`xpgd._core.solver` can run any of them on any backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from array_api_compat import device as _device

from xpgd._typing import Array

__all__ = [
    "SOLVERS",
    "GradientDescentState",
    "NesterovState",
    "Transform",
    "gradient_descent",
    "nesterov",
]


class Transform(NamedTuple):
    """An optimizer: ``init(theta) -> state`` and ``update(grad, state, theta)``.

    ``monotone`` says whether the loss decreases at every step when the learning rate is
    at most ``1 / L`` (plain gradient descent); the loop's divergence check uses it.
    """

    init: Callable[[Array], Any]
    update: Callable[[Array, Any, Array], tuple[Array, Any]]
    monotone: bool = True


class GradientDescentState(NamedTuple):
    """Plain gradient descent keeps no state."""


def gradient_descent(learning_rate: float | Array, *, xp: Any = None) -> Transform:
    """Fixed-step gradient descent: ``theta <- theta - learning_rate * grad``.

    ``learning_rate`` may be a Python float or a 0-d array on the parameters' device (the
    ``"auto"`` step ``1 / L``, computed on the device, is never fetched to the host).
    """

    def init(theta: Array) -> GradientDescentState:
        return GradientDescentState()

    def update(
        grad: Array, state: GradientDescentState, theta: Array
    ) -> tuple[Array, GradientDescentState]:
        return -learning_rate * grad, state

    return Transform(init, update)


class NesterovState(NamedTuple):
    """State of :func:`nesterov`: the last gradient-step point and the momentum counter."""

    x: Array
    t: Array


def nesterov(learning_rate: float | Array, *, xp: Any) -> Transform:
    """Nesterov's accelerated gradient (FISTA momentum) with adaptive restart.

    The parameters the loop evaluates are the extrapolated points ``y_k``; with
    ``g = grad f(y_k)`` and step ``eta``::

        x_{k+1} = y_k - eta * g
        t       = 1                      if g . (x_{k+1} - x_k) > 0   (restart)
        t_{k+1} = (1 + sqrt(1 + 4 t^2)) / 2
        y_{k+1} = x_{k+1} + (t - 1) / t_{k+1} * (x_{k+1} - x_k)

    The gradient restart (O'Donoghue & Candes, 2015) drops the momentum when it points
    uphill, which recovers linear convergence on strongly convex problems without knowing
    the strong convexity constant: about ``sqrt(L / mu)`` times fewer iterations than plain
    gradient descent on ill-conditioned problems. Everything stays on the device: the
    restart is an ``xp.where``, never a host branch.
    """

    def init(theta: Array) -> NesterovState:
        return NesterovState(theta, xp.ones((), dtype=theta.dtype, device=_device(theta)))

    def update(grad: Array, state: NesterovState, theta: Array) -> tuple[Array, NesterovState]:
        x_new = theta - learning_rate * grad
        step = x_new - state.x
        uphill = xp.sum(grad * step) > 0
        t = xp.where(uphill, xp.ones_like(state.t), state.t)
        t_new = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * t * t))
        y_new = x_new + ((t - 1.0) / t_new) * step
        return y_new - theta, NesterovState(x_new, t_new)

    return Transform(init, update, monotone=False)


#: Solvers by name, as accepted by the estimators' ``solver`` parameter.
SOLVERS: dict[str, Callable[..., Transform]] = {
    "gd": gradient_descent,
    "nesterov": nesterov,
}
