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

The data terms are computed by *block kernels* (:meth:`LinearObjective.block_terms`,
:meth:`LinearObjective.block_gram`) that sum over whatever rows they are given, in the
namespace they are given: the eager path calls them once on all of ``X``; the Dask path
(:mod:`xpgd._dask`) calls them on each chunk, in the chunks' namespace, and adds the
partial sums, so one iteration is one reduction over the chunks.
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
        self.sample_weight = sample_weight
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.n_samples, self.n_features = X.shape
        self.dtype, self.device = X.dtype, device_of(X)
        # 1 / (total weight), computed once (a 0-d array with weights; lazy for Dask).
        self.scale = 1.0 / self.total_weight()

    @property
    def n_params(self) -> int:
        """Length of ``theta`` (first axis): features, plus one for the intercept."""
        return self.n_features + int(self.fit_intercept)

    def split(self, theta: Array) -> tuple[Array | None, Array]:
        """``(intercept or None, coefficients)`` views of ``theta``."""
        if self.fit_intercept:
            return theta[0, ...], theta[1:, ...]
        return None, theta

    def total_weight(self) -> Array | float:
        """``n``, or the sum of the sample weights (0-d array; lazy for Dask)."""
        if self.sample_weight is None:
            return float(self.n_samples)
        return self.xp.sum(self.sample_weight)

    # ------------------------------------------------------------------ block kernels

    def _head(self, theta: Array, X: Array) -> Array:
        b, w = self.split(theta)
        z = X @ w
        return z if b is None else z + b

    def _stack(self, dz: Array, X: Array, *, xp: Namespace) -> Array:
        """``[sum(dz); X^T dz]`` (or just ``X^T dz`` without intercept)."""
        head = X.T @ dz
        if not self.fit_intercept:
            return head
        return xp.concat([xp.expand_dims(xp.sum(dz, axis=0), axis=0), head], axis=0)

    def block_terms(
        self, theta: Array, X: Array, y: Array, sample_weight: Array | None, *, xp: Namespace
    ) -> tuple[Array, Array]:
        """Unnormalised data terms over the rows given: ``sum_i s_i l_i`` and its gradient.

        One evaluation of ``X @ w`` serves both.
        """
        z = self._head(theta, X)
        loss, dz = self.family.value_and_derivative(z, y, xp=xp)
        if sample_weight is not None:
            s = sample_weight if y.ndim == 1 else sample_weight[:, None]
            loss, dz = s * loss, s * dz
        return xp.sum(loss), self._stack(dz, X, xp=xp)

    def block_gram(
        self, v: Array, X: Array, sample_weight: Array | None, *, xp: Namespace
    ) -> Array:
        """Unnormalised ``[1 X]^T S [1 X] v`` over the rows given (Hessian of l2 loss)."""
        u = self._head(v, X)
        if sample_weight is not None:
            u = (sample_weight if u.ndim == 1 else sample_weight[:, None]) * u
        return self._stack(u, X, xp=xp)

    def finish(
        self, theta: Array, loss_sum: Array, grad_sum: Array, scale: Array | float, *,
        xp: Namespace
    ) -> tuple[Array, Array]:
        """Objective and gradient from the summed data terms: scale, add the penalty."""
        value, grad = loss_sum * scale, grad_sum * scale
        if self.alpha == 0.0:
            return value, grad
        _, w = self.split(theta)
        value = value + 0.5 * self.alpha * xp.sum(w * w)
        if self.fit_intercept:
            zero = xp.zeros_like(theta[0:1, ...])
            return value, grad + self.alpha * xp.concat([zero, w], axis=0)
        return value, grad + self.alpha * w

    # ------------------------------------------------------------------ eager path

    def value_and_grad(self, theta: Array) -> tuple[Array, Array]:
        """Objective and its gradient at ``theta``, from one evaluation of ``X @ w``.

        Returns
        -------
        loss : 0-d array
        grad : array shaped like ``theta``
        """
        xp = self.xp
        loss_sum, grad_sum = self.block_terms(theta, self.X, self.y, self.sample_weight, xp=xp)
        return self.finish(theta, loss_sum, grad_sum, self.scale, xp=xp)

    def value(self, theta: Array) -> Array:
        """Objective at ``theta`` (a 0-d array; lazy for Dask)."""
        return self.value_and_grad(theta)[0]

    def gram_matvec(self, v: Array) -> Array:
        """``[1 X]^T S [1 X] v`` with ``S`` the normalised weights."""
        xp = self.xp
        return self.block_gram(v, self.X, self.sample_weight, xp=xp) * self.scale

    def lipschitz(
        self, *, n_iter: int = 20, matvec: object = None, xp: Namespace | None = None
    ) -> Array:
        """Upper estimate of the Lipschitz constant ``L`` of the gradient (0-d array).

        ``L = curvature * lambda_max([1 X]^T S [1 X]) + alpha``, with ``lambda_max`` from
        ``n_iter`` power iterations on the device (no host sync). Power iteration
        approaches ``lambda_max`` from below, so ``1 / L`` may exceed the exact ``1 / L``
        slightly; gradient descent stays stable for any step below ``2 / L``.

        ``matvec`` and ``xp`` replace :meth:`gram_matvec` and the data namespace (the Dask
        path passes its chunked product and the chunks' namespace).
        """
        xp = self.xp if xp is None else xp
        matvec = self.gram_matvec if matvec is None else matvec
        # A fixed, varied, positive start: deterministic and almost never orthogonal to
        # the top eigenvector (which has entries of one sign for uncentred data).
        device = None if xp is not self.xp else self.device
        idx = xp.arange(self.n_params, dtype=self.dtype, device=device)
        v = 1.5 + xp.cos(idx * (math.pi * (3.0 - math.sqrt(5.0))))
        tiny = xp.finfo(self.dtype).smallest_normal
        for _ in range(n_iter):
            v = v / (xp.sqrt(xp.sum(v * v)) + tiny)
            v = matvec(v)
        v = v / (xp.sqrt(xp.sum(v * v)) + tiny)
        lam = xp.sum(v * matvec(v))
        return self.family.curvature * lam + self.alpha + tiny
