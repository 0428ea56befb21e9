"""The objective of a linear model, its gradient and a bound on its curvature.

Pure Array API (``*, xp``), shared by every solver, the functional interface and the
estimators::

    f(theta) = sum_i s_i * l(x_i . w + b, y_i) + alpha * 0.5 * ||w||^2

with ``s`` the sample weights normalised to sum to one (``1/n`` without weights), ``l`` a
:class:`~xpgd._core.losses.LossFamily` and the intercept ``b`` never penalised.

Parameters are one array ``theta``: ``theta[0]`` is the intercept when ``fit_intercept``,
``theta[1:]`` the coefficients, so optimizers see a single array. ``theta`` may be 1-D
``(p [+1],)`` or 2-D ``(p [+1], k)`` (a column vector, or k outputs); the math is the same.

The intercept is added to ``X @ w`` rather than stored as a column of ones in ``X``, which
would copy the whole matrix.
"""

from __future__ import annotations

import math

from array_api_compat import device as device_of

from xpgd._core.losses import LossFamily
from xpgd._typing import Array, Namespace

__all__ = ["LinearObjective"]


class LinearObjective:
    """Loss, gradient and Lipschitz bound of a (penalised) linear model on fixed data.

    Parameters
    ----------
    X : array, shape (n, p)
        Floating-point data, in namespace ``xp``; never copied.
    y : array, shape (n,) or (n, k)
        Targets, same namespace, device and dtype as ``X``.
    family : LossFamily
    sample_weight : array of shape (n,) or None
        Non-negative weights with a positive sum (validated by the caller).
    alpha : float
        Strength of the L2 penalty ``alpha * 0.5 * ||w||^2``.
    fit_intercept : bool
        Whether ``theta[0]`` is an unpenalised intercept.
    xp : namespace
    """

    def __init__(
        self,
        X: Array,
        y: Array,
        family: LossFamily,
        *,
        sample_weight: Array | None = None,
        alpha: float = 0.0,
        fit_intercept: bool = True,
        xp: Namespace,
    ) -> None:
        self.X, self.y, self.family, self.xp = X, y, family, xp
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.n_samples, self.n_features = X.shape
        self.dtype, self.device = X.dtype, device_of(X)
        if sample_weight is None:
            self.weights = None
        else:
            self.weights = sample_weight / xp.sum(sample_weight)
            if y.ndim == 2:
                self.weights = self.weights[:, None]

    @property
    def n_params(self) -> int:
        """Length of ``theta`` (first axis): features, plus one for the intercept."""
        return self.n_features + int(self.fit_intercept)

    def split(self, theta: Array) -> tuple[Array | None, Array]:
        """``(intercept or None, coefficients)`` views of ``theta``."""
        if self.fit_intercept:
            return theta[0, ...], theta[1:, ...]
        return None, theta

    def linear_predictor(self, theta: Array) -> Array:
        """``z = X @ w + b``."""
        b, w = self.split(theta)
        z = self.X @ w
        return z if b is None else z + b

    def _average(self, values: Array) -> Array:
        xp = self.xp
        if self.weights is None:
            return xp.sum(values) * (1.0 / self.n_samples)
        return xp.sum(self.weights * values)

    def _penalty(self, w: Array) -> Array | float:
        if self.alpha == 0.0:
            return 0.0
        return 0.5 * self.alpha * self.xp.sum(w * w)

    def value(self, theta: Array) -> Array:
        """Objective at ``theta`` (a 0-d array; lazy for Dask)."""
        z = self.linear_predictor(theta)
        loss, _ = self.family.value_and_derivative(z, self.y, xp=self.xp)
        return self._average(loss) + self._penalty(self.split(theta)[1])

    def value_and_grad(self, theta: Array) -> tuple[Array, Array]:
        """Objective and its gradient at ``theta``, from one evaluation of ``X @ w``.

        Returns
        -------
        loss : 0-d array
        grad : array shaped like ``theta``
        """
        xp = self.xp
        b, w = self.split(theta)
        z = self.linear_predictor(theta)
        loss, dz = self.family.value_and_derivative(z, self.y, xp=xp)
        if self.weights is None:
            dz = dz * (1.0 / self.n_samples)
        else:
            dz = self.weights * dz
        value = self._average(loss)
        grad_w = self.X.T @ dz
        if self.alpha != 0.0:
            value = value + self._penalty(w)
            grad_w = grad_w + self.alpha * w
        if b is None:
            return value, grad_w
        grad_b = xp.sum(dz, axis=0)
        return value, xp.concat([xp.expand_dims(grad_b, axis=0), grad_w], axis=0)

    def _gram_matvec(self, v: Array) -> Array:
        """``[1 X]^T S [1 X] v`` (the Hessian of the mean squared loss), implicitly."""
        xp = self.xp
        b, w = self.split(v)
        u = self.X @ w
        if b is not None:
            u = u + b
        u = u * (1.0 / self.n_samples) if self.weights is None else self.weights * u
        head = self.X.T @ u
        if b is None:
            return head
        return xp.concat([xp.expand_dims(xp.sum(u, axis=0), axis=0), head], axis=0)

    def lipschitz(self, *, n_iter: int = 20) -> Array:
        """Upper estimate of the Lipschitz constant ``L`` of the gradient (0-d array).

        ``L = curvature * lambda_max([1 X]^T S [1 X]) + alpha``, with ``lambda_max`` from
        ``n_iter`` power iterations on the device (no host sync). Power iteration
        approaches ``lambda_max`` from below, so ``1 / L`` may exceed the exact ``1 / L``
        slightly; gradient descent stays stable for any step below ``2 / L``.
        """
        xp = self.xp
        # A fixed, varied, positive start: deterministic and almost never orthogonal to
        # the top eigenvector (which has entries of one sign for uncentred data).
        idx = xp.arange(self.n_params, dtype=self.dtype, device=self.device)
        v = 1.5 + xp.cos(idx * (math.pi * (3.0 - math.sqrt(5.0))))
        tiny = xp.finfo(self.dtype).smallest_normal
        for _ in range(n_iter):
            v = v / (xp.sqrt(xp.sum(v * v)) + tiny)
            v = self._gram_matvec(v)
        v = v / (xp.sqrt(xp.sum(v * v)) + tiny)
        lam = xp.sum(v * self._gram_matvec(v))
        return self.family.curvature * lam + self.alpha + tiny
