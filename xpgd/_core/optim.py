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

from xpgd._typing import Array

__all__ = ["GradientDescentState", "Transform", "gradient_descent"]


class Transform(NamedTuple):
    """An optimizer: ``init(theta) -> state`` and ``update(grad, state, theta)``."""

    init: Callable[[Array], Any]
    update: Callable[[Array, Any, Array], tuple[Array, Any]]


class GradientDescentState(NamedTuple):
    """Plain gradient descent keeps no state."""


def gradient_descent(learning_rate: float | Array) -> Transform:
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
