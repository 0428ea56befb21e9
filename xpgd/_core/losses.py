"""Loss families: sigmoid, log loss, squared loss and their derivatives.

Pure Array API: every function takes ``*, xp`` and uses nothing but the standard.

Numerical stability is built in, not patched: with ``e = exp(-|z|)``, which lies in
``(0, 1]`` and so never overflows,

* ``sigmoid(z) = 1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` for ``z < 0``;
* ``softplus(z) = log(1 + exp(z)) = max(z, 0) + log1p(e)``;
* the log loss of a label ``y`` in {0, 1} is ``softplus(z) - y * z``, the negative
  log-likelihood ``-(y log s + (1 - y) log(1 - s))`` with ``s = sigmoid(z)``, without ever
  forming ``log(0)``;
* the multinomial (softmax) loss of scores ``z`` (one column per class) and a one-hot
  ``y`` is ``logsumexp(z) - y . z``, with the row maximum subtracted before ``exp``.

The classic ``exp(z) / (exp(z) + 1)`` returns NaN for z > 709 in float64 (inf / inf);
these forms are finite for every finite input, in float32 and float64.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from xpgd._typing import Array, Namespace
from xpgd.exceptions import InvalidParameterError

__all__ = ["LOSSES", "LossFamily", "get_loss", "log_softmax", "sigmoid", "softmax"]


def sigmoid(z: Array, *, xp: Namespace) -> Array:
    """Logistic function ``1 / (1 + exp(-z))``, finite and in [0, 1] for every finite z."""
    e = xp.exp(-xp.abs(z))
    return _sigmoid_from_e(z, e, xp=xp)


def _sigmoid_from_e(z: Array, e: Array, *, xp: Namespace) -> Array:
    inv = 1.0 / (1.0 + e)
    return xp.where(z >= 0, inv, e * inv)


class _PointwiseFn(Protocol):
    def __call__(self, z: Array, y: Array, *, xp: Namespace) -> tuple[Array, Array]: ...


class LossFamily(NamedTuple):
    """A pointwise loss ``l(z, y)`` of the linear predictor ``z`` and the target ``y``.

    Attributes
    ----------
    name : str
        Registry key (``"squared"``, ``"logistic"``).
    value_and_derivative : callable
        ``(z, y, *, xp) -> (l(z, y), dl/dz)``, elementwise, sharing intermediate results.
    curvature : float
        An upper bound of ``d2l/dz2`` over all z: the Lipschitz constant of the gradient
        is ``curvature * lambda_max(X^T W X)`` (plus the L2 penalty).
    inverse_link : callable
        Maps ``z`` to the prediction (identity, or the sigmoid probability).
    """

    name: str
    value_and_derivative: _PointwiseFn
    curvature: float
    inverse_link: object


def _squared(z: Array, y: Array, *, xp: Namespace) -> tuple[Array, Array]:
    # l = (z - y)^2 / 2, dl/dz = z - y: the classic exercise's step X^T (Xw - y) / n.
    r = z - y
    return 0.5 * (r * r), r


def _logistic(z: Array, y: Array, *, xp: Namespace) -> tuple[Array, Array]:
    # l = softplus(z) - y z, dl/dz = sigmoid(z) - y; one exp and one log1p per entry.
    # max(z, 0) is written z/2 + |z|/2, reusing |z| (halved first, so it cannot overflow;
    # far cheaper than a clip through the compatibility layer on this hot path).
    a = xp.abs(z)
    e = xp.exp(-a)
    loss = (0.5 * z + 0.5 * a) + xp.log1p(e) - y * z
    return loss, _sigmoid_from_e(z, e, xp=xp) - y


def _multinomial(z: Array, y: Array, *, xp: Namespace) -> tuple[Array, Array]:
    # z: (n, K) scores, y: (n, K) one-hot. l = logsumexp(z) - y . z, dl/dz = softmax(z) - y.
    # Shifting by the row maximum keeps every exp in (0, 1]: no overflow for any finite z.
    top = xp.max(z, axis=1, keepdims=True)
    e = xp.exp(z - top)
    total = xp.sum(e, axis=1, keepdims=True)
    lse = top + xp.log(total)
    return xp.sum(y * (lse - z), axis=1), e / total - y


def softmax(z: Array, *, xp: Namespace) -> Array:
    """Row-wise ``exp(z) / sum(exp(z))``, finite for every finite z."""
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def log_softmax(z: Array, *, xp: Namespace) -> Array:
    """Row-wise ``z - logsumexp(z)``, without overflow (the row maximum is subtracted
    before ``exp``)."""
    top = xp.max(z, axis=1, keepdims=True)
    return z - (top + xp.log(xp.sum(xp.exp(z - top), axis=1, keepdims=True)))


def _identity(z: Array, *, xp: Namespace) -> Array:
    return z


LOSSES: dict[str, LossFamily] = {
    "squared": LossFamily("squared", _squared, 1.0, _identity),
    "logistic": LossFamily("logistic", _logistic, 0.25, sigmoid),
    # The softmax loss's Hessian in z is diag(p) - p p^T <= 1/2 I (Boehning, 1992).
    "multinomial": LossFamily("multinomial", _multinomial, 0.5, softmax),
}


def get_loss(name: str) -> LossFamily:
    """Look a loss family up by name; unknown names raise with the list of known ones."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise InvalidParameterError(
            f"unknown loss {name!r}; choose one of {', '.join(map(repr, LOSSES))}"
        ) from None
