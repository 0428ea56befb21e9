"""The objective of a linear model, its gradient and a bound on its curvature.

Pure Array API (``*, xp``), shared by every solver, the functional interface and the
estimators::

    f(b, w) = sum_i s_i * l(x_i . w + b, y_i) + alpha * 0.5 * ||w||^2 + l1 * ||w||_1

with ``s`` the sample weights normalised to sum to one (``1/n`` without weights), ``l`` a
:class:`~xpgd._core.losses.LossFamily` and the intercept ``b`` never penalised. The L1
term is not differentiable: :meth:`LinearObjective.value_and_grad` includes it in the
value but returns the gradient of the smooth part; solvers handle it through
:meth:`LinearObjective.prox` (soft thresholding) and measure optimality with
:meth:`LinearObjective.stationarity`.

Parameters are one array ``theta``: ``theta[0]`` is the intercept when ``fit_intercept``,
``theta[1:]`` the coefficients, so optimizers see a single array. ``theta`` may be 1-D
``(p [+1],)`` or 2-D ``(p [+1], k)`` (a column vector, or k outputs); the math is the same.

The intercept is added to ``X @ w`` rather than stored as a column of ones in ``X``, which
would copy the whole matrix.

**Implicit standardisation.** With ``standardize=True`` the optimizer works in the
coordinates of the z-scored data, ``w' = w * sd`` and ``b' = b + mean . w``, without ever
forming ``(X - mean) / sd``: :meth:`LinearObjective.original` maps ``theta'`` to
``(b, w)``, the data terms are computed from ``X @ w + b`` as usual, and
:meth:`LinearObjective.pullback` applies the chain rule to the gradient (two length-p
vector operations per iteration). It is a change of variables, so the optimum is the
same; it only removes the ill-conditioning that unscaled or uncentred features cause
(columns with mean 100 and unit spread make plain gradient descent thousands of times
slower).

**Block kernels.** The data terms are computed by kernels
(:func:`block_terms`, :func:`block_gram`) that sum over
whatever rows they are given, in the namespace they are given: the eager path calls them
once on all of ``X``; the Dask path (:mod:`xpgd._dask`) calls them on each chunk, in the
chunks' namespace, and adds the partial sums, so one iteration is one reduction over the
chunks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from array_api_compat import device as device_of
from array_api_compat import is_lazy_array, is_torch_namespace

from xpgd._core.losses import LossFamily
from xpgd._typing import Array, Namespace

__all__ = [
    "LinearObjective",
    "RowReduce",
    "add_parts",
    "block_column_sums",
    "block_gram",
    "block_moments",
    "block_terms",
    "column_stats",
    "row_blocks",
    "stats_from_moments",
    "sum_row_range",
    "whole_rows",
]


# ---------------------------------------------------------------------- block kernels
# Module-level functions of small, picklable arguments, so that Dask can ship them to
# the workers with one row block each.


def _head(theta: Array, X: Array, fit_intercept: bool) -> Array:
    """``X @ w + b``."""
    if not fit_intercept:
        return X @ theta
    return X @ theta[1:, ...] + theta[0, ...]


def _stack(dz: Array, X: Array, fit_intercept: bool, *, xp: Namespace) -> Array:
    """``[sum(dz); X^T dz]`` (or just ``X^T dz`` without intercept)."""
    head = X.T @ dz
    if not fit_intercept:
        return head
    return xp.concat([xp.expand_dims(xp.sum(dz, axis=0), axis=0), head], axis=0)


def _weighted(values: Array, sample_weight: Array | None) -> Array:
    if sample_weight is None:
        return values
    return (sample_weight if values.ndim == 1 else sample_weight[:, None]) * values


def _column_sums(A: Array, sample_weight: Array | None, *, xp: Namespace) -> Array:
    """``sum_i S_i A_i``: the (weighted) sum of the rows of a 2-D block, as a
    vector-matrix product where that is fast and accurate: CuPy's ``sum(axis=0)`` of a
    tall C-ordered block reads it at about 30 GB/s (3.4 ms for 100 MB on an H200, against
    4 TB/s for a product), and NumPy's adds it row by row (float32 column sums of 2M x 4
    off by 2e-5 relative, against 7e-6 for BLAS's product). torch keeps its own sum: its
    cascade summation is the accurate one there (6e-8 relative at 4M x 3 float32, against
    1.5e-5 for its CPU product). Lazy (Dask) blocks keep ``xp.sum``, which follows their
    chunks."""
    if is_lazy_array(A) or is_torch_namespace(xp):
        return xp.sum(_weighted(A, sample_weight), axis=0)
    if sample_weight is None:
        sample_weight = xp.ones((A.shape[0],), dtype=A.dtype, device=device_of(A))
    return sample_weight @ A


def block_terms(
    theta: Array,
    X: Array,
    y: Array,
    sample_weight: Array | None,
    *,
    family: LossFamily,
    fit_intercept: bool,
    xp: Namespace,
) -> tuple[Array, Array]:
    """Unnormalised data terms over the rows given: ``sum_i s_i l_i`` and its gradient
    with respect to ``(b, w)``. One evaluation of ``X @ w`` serves both."""
    z = _head(theta, X, fit_intercept)
    loss, dz = family.value_and_derivative(z, y, xp=xp)
    return xp.sum(_weighted(loss, sample_weight)), _stack(
        _weighted(dz, sample_weight), X, fit_intercept, xp=xp
    )


def block_gram(
    v: Array, X: Array, sample_weight: Array | None, *, fit_intercept: bool, xp: Namespace
) -> Array:
    """Unnormalised ``[1 X]^T S [1 X] v`` over the rows given (Hessian of the l2 loss)."""
    u = _weighted(_head(v, X, fit_intercept), sample_weight)
    return _stack(u, X, fit_intercept, xp=xp)


def block_moments(
    X: Array,
    y: Array,
    sample_weight: Array | None,
    origin: Array | None,
    *,
    xp: Namespace,
) -> tuple[Array, Array, Array, Array, Array]:
    """The normal equations' sums over the rows given, with ``D = X - origin`` (``D = X``
    without an origin) and ``S`` the weights: ``D^T S D``, ``sum S D``, ``D^T S y``,
    ``sum S y`` and ``sum S y^2`` (a scalar over all outputs). One read of the block.

    Shifting by a data row before the products keeps the cancellation of
    ``E[x x^T] - E[x] E[x]^T`` small for columns with a large offset.
    """
    D = X if origin is None else X - origin  # a block-sized temporary, never all of X
    DS = _weighted(D, sample_weight)
    yS = _weighted(y, sample_weight)
    y_sum = xp.sum(yS) if y.ndim == 1 else _column_sums(y, sample_weight, xp=xp)
    return DS.T @ D, _column_sums(D, sample_weight, xp=xp), DS.T @ y, y_sum, xp.sum(yS * y)


RowReduce = Callable[..., tuple[Array, ...]]
"""``reduce(part, n, *, matmul_bound=False)``: the sum over row ranges ``[lo, hi)``
covering ``0..n`` of ``part(lo, hi)`` (a tuple of arrays). How the rows are cut, and
whether the parts run in parallel, is the backend's choice
(:func:`xpgd._backend.row_reducer`); the math only needs the sum. ``matmul_bound`` marks
parts dominated by matrix products (the normal equations' ``D^T D``), for which the CPU
path keeps BLAS single-threaded inside its own threads."""


def whole_rows(
    part: Callable[[int, int], tuple[Array, ...]], n: int, *, matmul_bound: bool = False
) -> tuple[Array, ...]:
    """All rows at once: one ``X @ w`` and one ``X.T @ r`` (the plain path; the GPU's)."""
    return part(0, n)


def row_blocks(block_rows: int) -> RowReduce:
    """Rows in blocks of ``block_rows``: each block of X is read from memory once per
    evaluation (its second use, ``X_b.T @ r_b``, finds it in cache) and the temporaries
    are block-sized, not n-sized."""

    def reduce(
        part: Callable[[int, int], tuple[Array, ...]], n: int, *, matmul_bound: bool = False
    ) -> tuple[Array, ...]:
        return sum_row_range(part, 0, n, block_rows)

    return reduce


def sum_row_range(
    part: Callable[[int, int], tuple[Array, ...]], lo: int, hi: int, block_rows: int
) -> tuple[Array, ...]:
    """``part`` summed over ``[lo, hi)`` in blocks, in a fixed order (deterministic)."""
    return add_parts([part(s, min(s + block_rows, hi)) for s in range(lo, hi, block_rows)])


def add_parts(parts: list[tuple[Array, ...]]) -> tuple[Array, ...]:
    """Element-wise sum of tuples of partial sums, in list order (deterministic)."""
    total = parts[0]
    for piece in parts[1:]:
        total = tuple(a + b for a, b in zip(total, piece, strict=True))
    return total


def block_column_sums(
    X: Array, sample_weight: Array | None, origin: Array, *, xp: Namespace
) -> tuple[Array, Array]:
    """``sum S d`` and ``sum S d^2`` over the rows given, with ``d = X - origin`` (a
    temporary the size of the rows given) and ``S`` the weights."""
    d = X - origin
    return _column_sums(d, sample_weight, xp=xp), _column_sums(d * d, sample_weight, xp=xp)


def column_stats(
    X: Array,
    sample_weight: Array | None,
    *,
    xp: Namespace,
    reduce: RowReduce | None = None,
    block_bytes: int = 1 << 21,
) -> tuple[Array, Array]:
    """Weighted column means and standard deviations of X, in one pass over row blocks.

    The weights make fitting with integer weights identical to fitting repeated rows
    (and zero weights identical to dropped rows). Deviations are taken from the first
    row, which avoids the cancellation of ``E[x^2] - E[x]^2`` for columns with a large
    offset; temporaries are one block, never a copy of X. A zero spread becomes 1: any
    positive scale gives the same optimum (it is a change of variables).

    The blocks are ``reduce``'s (the backend's reducer, with ``matmul_bound``: on a GPU
    a few large blocks, on the CPU cache-sized blocks on every core); without one, blocks
    of ``block_bytes`` (Dask: one expression over its own chunks).
    """
    n = X.shape[0]
    if reduce is None:
        itemsize = xp.finfo(X.dtype).bits // 8
        block_rows = max(1, block_bytes // max(1, X.shape[1] * itemsize))
        reduce = whole_rows if is_lazy_array(X) else row_blocks(block_rows)
    origin = X[0, :]
    total = float(n) if sample_weight is None else xp.sum(sample_weight)

    def part(lo: int, hi: int) -> tuple[Array, Array]:
        if lo == 0 and hi == n:
            return block_column_sums(X, sample_weight, origin, xp=xp)
        sw = None if sample_weight is None else sample_weight[lo:hi]
        return block_column_sums(X[lo:hi, :], sw, origin, xp=xp)

    first, second = reduce(part, n, matmul_bound=True)
    shift = first / total
    return stats_from_moments(origin, shift, second / total - shift * shift, xp=xp)


def stats_from_moments(
    origin: Array, shift: Array, var: Array, *, xp: Namespace
) -> tuple[Array, Array]:
    """Means ``origin + shift`` and spreads ``sqrt(var)`` of columns whose deviations from
    ``origin`` have mean ``shift`` and variance ``var``; a spread at rounding level
    becomes 1 (any positive scale gives the same optimum)."""
    sd = xp.sqrt(xp.where(var > 0, var, xp.zeros_like(var)))
    tiny = xp.finfo(var.dtype).eps * (xp.abs(origin) + xp.abs(shift) + 1.0)
    return origin + shift, xp.where(sd > tiny, sd, xp.ones_like(sd))


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
    l1 : float
        Strength of the L1 penalty ``l1 * ||w||_1`` (elastic net: both).
    fit_intercept : bool
        Whether ``theta[0]`` is an unpenalised intercept.
    standardize : bool
        Optimise in z-scored coordinates (implicitly; see the module docstring). Centring
        needs an intercept to absorb it, so without one only the scale is used.
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
        l1: float = 0.0,
        fit_intercept: bool = True,
        standardize: bool = False,
        xp: Namespace,
    ) -> None:
        self.X, self.y, self.family, self.xp = X, y, family, xp
        self.sample_weight = sample_weight
        self.alpha = float(alpha)
        self.l1 = float(l1)
        self.fit_intercept = bool(fit_intercept)
        self.n_samples, self.n_features = X.shape
        self.dtype, self.device = X.dtype, device_of(X)
        # 1 / (total weight), computed once (a 0-d array with weights; lazy for Dask).
        self.scale = 1.0 / self.total_weight()
        self.standardize = bool(standardize)
        # (mean or None, sd or None), computed on first use (the normal equations take
        # them from their own pass instead).
        self._stats: tuple[Array | None, Array | None] | None = (
            None if self.standardize else (None, None)
        )
        self.param_xp = xp
        self.row_reduce: RowReduce = whole_rows
        # A backend's fused kernel for data_sums (theta -> sums over all rows), or None:
        # set by the caller (xpgd._backend.fused_terms), checked against the plain path.
        self.fused_terms: Callable[[Array], tuple[Array, Array]] | None = None

    @property
    def mean(self) -> Array | None:
        """Weighted column means (the centring), or None without standardisation or
        intercept."""
        return self._column_stats()[0]

    @property
    def sd(self) -> Array | None:
        """Weighted column spreads (the scaling), or None without standardisation."""
        return self._column_stats()[1]

    def _column_stats(self) -> tuple[Array | None, Array | None]:
        if self._stats is None:
            mean, sd = column_stats(self.X, self.sample_weight, xp=self.xp, reduce=self.row_reduce)
            self._stats = (mean if self.fit_intercept else None, sd)
        return self._stats

    def first_row(self) -> Array:
        """``X[0, :]`` in the parameters' namespace: the origin of the moment pass."""
        return self.X[0, :]

    @property
    def n_params(self) -> int:
        """Length of ``theta`` (first axis): features, plus one for the intercept."""
        return self.n_features + int(self.fit_intercept)

    def split(self, theta: Array) -> tuple[Array | None, Array]:
        """``(intercept or None, coefficients)`` views of ``theta``."""
        if self.fit_intercept:
            return theta[0, ...], theta[1:, ...]
        return None, theta

    def _join(self, b: Array | None, w: Array, *, xp: Namespace) -> Array:
        if b is None:
            return w
        return xp.concat([xp.expand_dims(b, axis=0), w], axis=0)

    def total_weight(self) -> Array | float:
        """``n``, or the sum of the sample weights (0-d array; lazy for Dask)."""
        if self.sample_weight is None:
            return float(self.n_samples)
        return self.xp.sum(self.sample_weight)

    def linear_predictor(self, theta: Array) -> Array:
        """``X @ w + b`` for model coordinates ``theta`` (on X's namespace; lazy for Dask)."""
        return _head(theta, self.X, self.fit_intercept)

    # ------------------------------------------------------------------ coordinates

    def _column(self, v: Array, like: Array) -> Array:
        return v if like.ndim == 1 else v[:, None]

    def original(self, theta: Array) -> Array:
        """Map optimizer coordinates to the model's ``(b, w)`` (identity when not
        standardising). Linear, so it also maps directions."""
        if self.sd is None:
            return theta
        xp = self.param_xp
        b, w = self.split(theta)
        w = w / self._column(self.sd, w)
        if b is not None and self.mean is not None:
            b = b - xp.sum(self._column(self.mean, w) * w, axis=0)
        return self._join(b, w, xp=xp)

    def to_optimizer(self, theta: Array) -> Array:
        """Inverse of :meth:`original`: model ``(b, w)`` to optimizer coordinates."""
        if self.sd is None:
            return theta
        xp = self.param_xp
        b, w = self.split(theta)
        if b is not None and self.mean is not None:
            b = b + xp.sum(self._column(self.mean, w) * w, axis=0)
        return self._join(b, w * self._column(self.sd, w), xp=xp)

    def pullback(self, grad: Array) -> Array:
        """Chain rule: gradient w.r.t. ``(b, w)`` to the optimizer's coordinates."""
        if self.sd is None:
            return grad
        xp = self.param_xp
        gb, gw = self.split(grad)
        if gb is not None and self.mean is not None:
            gw = gw - self._column(self.mean, gw) * gb
        return self._join(gb, gw / self._column(self.sd, gw), xp=xp)

    # ------------------------------------------------------------------ sums over the data

    def _rows(self, lo: int, hi: int) -> tuple[Array, Array, Array | None]:
        """Views of rows ``lo:hi`` of X, y and the weights (no copy)."""
        if lo == 0 and hi == self.n_samples:
            return self.X, self.y, self.sample_weight
        s = self.sample_weight
        return self.X[lo:hi, ...], self.y[lo:hi, ...], None if s is None else s[lo:hi]

    def data_sums(self, theta: Array) -> tuple[Array, Array]:
        """:func:`block_terms` summed over the rows, in the blocks of ``row_reduce`` (or by
        the backend's fused kernel, when one is set)."""
        if self.fused_terms is not None:
            return self.fused_terms(theta)

        def part(lo: int, hi: int) -> tuple[Array, Array]:
            X, y, s = self._rows(lo, hi)
            return block_terms(
                theta, X, y, s, family=self.family, fit_intercept=self.fit_intercept, xp=self.xp
            )

        return self.row_reduce(part, self.n_samples)

    def gram_sums(self, v: Array) -> Array:
        """:func:`block_gram` summed over the rows, in the blocks of ``row_reduce``."""

        def part(lo: int, hi: int) -> tuple[Array]:
            X, _, s = self._rows(lo, hi)
            return (block_gram(v, X, s, fit_intercept=self.fit_intercept, xp=self.xp),)

        return self.row_reduce(part, self.n_samples)[0]

    # ------------------------------------------------------------------ objective

    def value_and_grad(self, theta: Array) -> tuple[Array, Array]:
        """Objective and its gradient at ``theta`` (optimizer coordinates).

        Returns
        -------
        loss : 0-d array
        grad : array shaped like ``theta``
        """
        model = self.original(theta)
        loss_sum, grad_sum = self.data_sums(model)
        return self._penalise(model, loss_sum * self.scale, grad_sum * self.scale)

    def _penalise(self, model: Array, value: Array, grad: Array) -> tuple[Array, Array]:
        """Add the penalty to the mean data terms at ``model``; gradient to optimizer
        coordinates."""
        if self.alpha != 0.0:
            grad = grad + self.alpha * self._penalised(model, xp=self.param_xp)
        return self._penalty_value(model, value), self.pullback(grad)

    def _penalty_value(self, model: Array, value: Array) -> Array:
        xp = self.param_xp
        _, w = self.split(model)
        if self.alpha != 0.0:
            value = value + 0.5 * self.alpha * xp.sum(w * w)
        if self.l1 != 0.0:
            value = value + self.l1 * xp.sum(xp.abs(w))
        return value

    def subset_value(self, theta: Array, rows: Array, *, block_rows: int = 8192) -> Array:
        """The objective (mean loss over ``rows`` plus the penalty) at ``theta``, gathering
        the rows in blocks (never a copy of X): the validation score of early stopping."""
        xp = self.xp
        model = self.original(theta)
        loss_sum = total = None
        n = rows.shape[0]
        for lo in range(0, n, block_rows):
            r = rows[lo : min(lo + block_rows, n)]
            z = _head(model, xp.take(self.X, r, axis=0), self.fit_intercept)
            loss, _ = self.family.value_and_derivative(z, xp.take(self.y, r, axis=0), xp=xp)
            s = None if self.sample_weight is None else xp.take(self.sample_weight, r, axis=0)
            part = xp.sum(_weighted(loss, s))
            weight = float(r.shape[0]) if s is None else xp.sum(s)
            loss_sum = part if loss_sum is None else loss_sum + part
            total = weight if total is None else total + weight
        return self._penalty_value(model, loss_sum / total)

    def batch_value_and_grad(self, theta: Array, rows: Array) -> tuple[Array, Array]:
        """The objective over the rows ``rows`` only (an index array on X's device): the
        mini-batch estimate of :meth:`value_and_grad`, with the full penalty. The rows are
        gathered (a batch-sized copy); the standardisation is the whole data's."""
        xp = self.xp
        model = self.original(theta)
        X, y = xp.take(self.X, rows, axis=0), xp.take(self.y, rows, axis=0)
        s = None if self.sample_weight is None else xp.take(self.sample_weight, rows, axis=0)
        loss_sum, grad_sum = block_terms(
            model, X, y, s, family=self.family, fit_intercept=self.fit_intercept, xp=xp
        )
        # Divided by the batch's expected weight (its rows times the mean weight), not by
        # its own: unbiased, and never zero when a batch happens to hold only zero weights.
        scale = self.scale * (self.n_samples / rows.shape[0])
        return self._penalise(model, loss_sum * scale, grad_sum * scale)

    def max_row_curvature(self, *, block_rows: int = 8192) -> Array:
        """The largest per-row smoothness constant in optimizer coordinates,
        ``max_i c s_i n / W ||[1, x'_i]||^2 + alpha max_j 1 / sd_j^2`` (``x'`` the
        standardised row, ``c`` the loss's curvature bound): the Lipschitz constant of
        the worst single-row gradient, which bounds a mini-batch's step. One blocked pass;
        0-d array on the device."""
        xp = self.xp
        mean, sd = self.mean, self.sd
        top = None
        for lo in range(0, self.n_samples, block_rows):
            X, _, s = self._rows(lo, min(lo + block_rows, self.n_samples))
            d = X if mean is None else X - mean
            d = d if sd is None else d / sd
            size = xp.sum(d * d, axis=1) + float(self.fit_intercept)
            if s is not None:
                size = size * s
            block_top = xp.max(size)
            top = block_top if top is None else xp.maximum(top, block_top)
        weight = 1.0 if self.sample_weight is None else self.scale * self.n_samples
        bound = self.family.curvature * top * weight
        if self.alpha != 0.0:
            bound = bound + self.alpha * (1.0 if sd is None else xp.max(1.0 / (sd * sd)))
        return bound

    # ------------------------------------------------------------------ L1 penalty

    def _l1_thresholds(self, w: Array) -> Array:
        """``l1`` per coefficient in optimizer coordinates (``l1 / sd``), shaped for ``w``."""
        if self.sd is None:
            lam = self.param_xp.full((w.shape[0],), self.l1, dtype=w.dtype, device=device_of(w))
        else:
            lam = self.l1 / self.sd
        return self._column(lam, w)

    def prox(self, theta: Array, step: Array | float) -> Array:
        """Proximal map of ``step * l1 * ||w||_1`` in optimizer coordinates: soft
        thresholding of each coefficient by ``step * l1 / sd_j`` (the intercept is free)."""
        xp = self.param_xp
        b, w = self.split(theta)
        threshold = step * self._l1_thresholds(w)
        size = xp.abs(w) - threshold
        w = xp.sign(w) * xp.where(size > 0, size, xp.zeros_like(size))
        return self._join(b, w, xp=xp)

    def stationarity(self, theta: Array, grad: Array) -> Array:
        """The minimal-norm subgradient of the objective at ``theta`` (optimizer
        coordinates): zero exactly at the optimum, so the loop's ``tol`` applies to it.
        ``grad`` is the smooth part's gradient; without an L1 term it is returned as is."""
        if self.l1 == 0.0:
            return grad
        xp = self.param_xp
        _, w = self.split(theta)
        gb, gw = self.split(grad)
        lam = self._l1_thresholds(w)
        size = xp.abs(gw) - lam
        at_zero = xp.sign(gw) * xp.where(size > 0, size, xp.zeros_like(size))
        gw = xp.where(w != 0, gw + lam * xp.sign(w), at_zero)
        return self._join(gb, gw, xp=xp)

    # ------------------------------------------------------------------ normal equations

    def moment_sums(self, origin: Array | None) -> tuple[Array, ...]:
        """:func:`block_moments` summed over the rows, in the blocks of ``row_reduce``."""

        def part(lo: int, hi: int) -> tuple[Array, ...]:
            X, y, s = self._rows(lo, hi)
            return block_moments(X, y, s, origin, xp=self.xp)

        return self.row_reduce(part, self.n_samples, matmul_bound=True)

    def quadratic_form(self) -> tuple[Array, Array, Array]:
        """The squared-loss objective as ``f(t) = 0.5 t.H t - t.r + c`` in optimizer
        coordinates (summed over outputs for a 2-D ``t``), from one pass over the rows.

        With the implicit standardisation ``H = [[1, 0], [0, C / (sd sd^T)]]`` plus the
        penalty ``alpha diag(1 / sd^2)`` and ``r = [mean(y); cov(x, y) / sd]``, ``C`` the
        weighted covariance of the columns; without an intercept the moments are
        uncentred (``C + mean mean^T``, ``E[x y]``). The moments are taken around the
        first row (:func:`block_moments`), which keeps the cancellation small for columns
        with a large offset, and they also give the column means and spreads: when those
        are not known yet, this pass is the only one. Requires ``standardize=True``.

        Returns
        -------
        H : array of shape (n_params, n_params)
        r : array shaped like ``t``
        c : 0-d array
        """
        if not self.standardize:
            raise ValueError("quadratic_form needs standardize=True")
        xp = self.param_xp
        origin = self.first_row()
        gram, col_sum, cross, y_sum, y_square = self.moment_sums(origin)
        scale = self.scale
        shift, y_mean = col_sum * scale, y_sum * scale
        cov = gram * scale - shift[:, None] * shift[None, :]
        if self._stats is None:
            mean, sd = stats_from_moments(origin, shift, xp.linalg.diagonal(cov), xp=xp)
            self._stats = (mean if self.fit_intercept else None, sd)
        sd = self.sd
        mean = origin + shift
        column = sd if cross.ndim == 1 else sd[:, None]
        if self.fit_intercept:  # centred: cov(x, y) = E[d y] - E[d] E[y]
            second = cov
            xy = cross * scale - (shift * y_mean if cross.ndim == 1 else shift[:, None] * y_mean)
        else:  # uncentred: E[x x^T], E[x y] = E[d y] + origin E[y]
            second = cov + mean[:, None] * mean[None, :]
            xy = cross * scale + (origin * y_mean if cross.ndim == 1 else origin[:, None] * y_mean)
        H = second / (sd[:, None] * sd[None, :])
        if self.alpha != 0.0:
            H = H + xp.eye(H.shape[0], dtype=H.dtype, device=device_of(H)) * (
                self.alpha / (sd * sd)
            )
        r = xy / column
        c = 0.5 * y_square * scale
        if not self.fit_intercept:
            return H, r, c
        p = H.shape[0]
        dev = device_of(H)
        top = xp.concat(
            [
                xp.ones((1, 1), dtype=H.dtype, device=dev),
                xp.zeros((1, p), dtype=H.dtype, device=dev),
            ],
            axis=1,
        )
        rest = xp.concat([xp.zeros((p, 1), dtype=H.dtype, device=dev), H], axis=1)
        r = xp.concat([xp.expand_dims(y_mean, axis=0), r], axis=0)
        return xp.concat([top, rest], axis=0), r, c

    def value(self, theta: Array) -> Array:
        """Objective at ``theta`` (a 0-d array; lazy for Dask)."""
        return self.value_and_grad(theta)[0]

    def _penalised(self, model: Array, *, xp: Namespace) -> Array:
        """``model`` with the intercept zeroed: the gradient direction of the penalty."""
        b, w = self.split(model)
        return self._join(None if b is None else xp.zeros_like(b), w, xp=xp)

    def curvature_matvec(self, v: Array) -> Array:
        """A bound of the Hessian applied to ``v``, in optimizer coordinates:
        ``J^T (c [1 X]^T S [1 X] + alpha P) J v`` (``c`` the loss's curvature bound, ``P``
        the penalty's projection, ``J`` the map of :meth:`original`)."""
        u = self.original(v)
        hu = self.gram_sums(u) * (self.scale * self.family.curvature)
        if self.alpha != 0.0:
            hu = hu + self.alpha * self._penalised(u, xp=self.param_xp)
        return self.pullback(hu)

    def lipschitz(
        self, *, n_iter: int = 20, matvec: Callable[[Array], Array] | None = None
    ) -> Array:
        """Estimate of the Lipschitz constant ``L`` of the gradient (0-d array).

        ``L = lambda_max`` of :meth:`curvature_matvec` (itself an upper bound of the
        Hessian: the loss's curvature bound), from ``n_iter`` power iterations on the
        device (no host sync). Power iteration approaches ``lambda_max`` from below, so
        ``1 / L`` may exceed the exact ``1 / L`` slightly: gradient descent stays stable for
        any step below ``2 / L``, and the accelerated methods' adaptive restart absorbs
        the rest.
        """
        xp = self.param_xp
        matvec = self.curvature_matvec if matvec is None else matvec
        # A fixed, varied, positive start: deterministic and almost never orthogonal to
        # the top eigenvector (which has entries of one sign for uncentred data).
        device = self.device if xp is self.xp else None
        idx = xp.arange(self.n_params, dtype=self.dtype, device=device)
        v = 1.5 + xp.cos(idx * (math.pi * (3.0 - math.sqrt(5.0))))
        tiny = xp.finfo(self.dtype).smallest_normal
        for _ in range(n_iter):
            v = v / (xp.sqrt(xp.sum(v * v)) + tiny)
            v = matvec(v)
        v = v / (xp.sqrt(xp.sum(v * v)) + tiny)
        return xp.sum(v * matvec(v)) + tiny
