"""Optimizers as small pure transforms, in the style of optax.

An optimizer is a :class:`Transform`, a few pure functions:

* ``init(theta) -> state``: the optimizer's state (a ``NamedTuple`` of arrays living on
  the parameters' device);
* ``update(grad, state, theta, loss) -> (updates, state)``: the step to *add* to
  ``theta``, from the loss and gradient evaluated at ``theta``;
* ``current(state, theta, loss, grad) -> (theta, loss, grad)``: the iterate the loop
  reports and returns. For most transforms it is the point just evaluated; line searches
  evaluate *trial* points and report the last *accepted* one.

They never sync with the host and never allocate on another device, so the loop in
:mod:`xpgd._core.solver` runs every one of them on every backend. Decisions that depend on
values (restart the momentum, accept a trial step, shrink it) are ``xp.where`` on 0-d
arrays, never Python branches: one loop step is one loss-and-gradient evaluation, always.

Parts compose with :func:`chain`, as in optax: ``momentum = chain(trace(beta),
scale(-lr))``, ``adam = chain(scale_by_adam(), scale(-lr))``, and a proximal step
(:func:`proximal`) for an L1 penalty goes last.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from array_api_compat import device as _device

from xpgd._backend import solve_triangular
from xpgd._typing import Array, Namespace

__all__ = [
    "FIXED_STEP",
    "LBFGS_MEMORY",
    "PROXIMAL",
    "SOLVERS",
    "STOCHASTIC",
    "AdamState",
    "ArmijoState",
    "EmptyState",
    "LbfgsConstants",
    "LbfgsState",
    "NesterovState",
    "TraceState",
    "Transform",
    "adam",
    "armijo",
    "chain",
    "gradient_descent",
    "lbfgs",
    "momentum",
    "nesterov",
    "proximal",
    "scale",
    "scale_by_adam",
    "trace",
]

Prox = Callable[[Array, Any], Array]
"""``prox(point, step) -> point``: the proximal map of ``step * h`` (h the non-smooth
part of the objective, an L1 penalty), applied on the device."""


def _evaluated(state: Any, theta: Array, loss: Array, grad: Array) -> tuple[Array, Array, Array]:
    return theta, loss, grad


class Transform(NamedTuple):
    """An optimizer: ``init``, ``update`` and ``current`` (see the module docstring).

    ``line_search`` marks transforms that only ever accept a lower loss (:func:`armijo`,
    :func:`lbfgs`): when their loss stops falling before ``tol``, the loop reports a
    stall (the loss is flat at the data type's precision) instead of running on.
    """

    init: Callable[[Array], Any]
    update: Callable[[Array, Any, Array, Array], tuple[Array, Any]]
    line_search: bool = False
    current: Callable[[Any, Array, Array, Array], tuple[Array, Array, Array]] = _evaluated


def _accepted(state: Any, theta: Array, loss: Array, grad: Array) -> tuple[Array, Array, Array]:
    """``current`` of the line searches: the last accepted point, not the trial."""
    return state.x, state.loss, state.grad


def _nearly_flat(
    loss: Array, reference: Array, slope_trial: Array, slope: Array, *, xp: Namespace
) -> Array:
    """Hager & Zhang's approximate Wolfe test (2005): a trial whose loss is within
    rounding of ``F(x)`` and whose slope along the search direction has fallen to
    ``|slope_trial| <= 0.8 |slope|`` counts as a sufficient decrease. Near the optimum the
    loss no longer resolves the progress but the slope still does; without this test a
    line search stalls above a tight ``tol``."""
    rounding = 100.0 * xp.finfo(loss.dtype).eps * xp.abs(reference)
    return (loss <= reference + rounding) & (slope_trial <= -0.8 * slope)


def _zero(like: Array, xp: Namespace, value: float = 0.0) -> Array:
    return xp.full((), value, dtype=like.dtype, device=_device(like))


# ---------------------------------------------------------------------- building blocks


class EmptyState(NamedTuple):
    """State of the stateless transforms."""


def scale(factor: float | Array) -> Transform:
    """``updates <- factor * updates``. ``factor`` may be a 0-d device array."""

    def init(theta: Array) -> EmptyState:
        return EmptyState()

    def update(u: Array, state: EmptyState, theta: Array, loss: Array) -> tuple[Array, Any]:
        return factor * u, state

    return Transform(init, update)


class TraceState(NamedTuple):
    """State of :func:`trace`: the velocity."""

    velocity: Array


def trace(decay: float, *, xp: Namespace) -> Transform:
    """Heavy-ball momentum (Polyak): ``v <- g + decay * v``; the update is ``v``."""

    def init(theta: Array) -> TraceState:
        return TraceState(xp.zeros_like(theta))

    def update(u: Array, state: TraceState, theta: Array, loss: Array) -> tuple[Array, Any]:
        v = u + decay * state.velocity
        return v, TraceState(v)

    return Transform(init, update)


class AdamState(NamedTuple):
    """State of :func:`scale_by_adam`: moment estimates and the step count."""

    mu: Array
    nu: Array
    count: Array


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, *, xp: Namespace
) -> Transform:
    """Adam's rescaling (Kingma & Ba, 2015), with bias correction::

    m <- b1 m + (1 - b1) g        v <- b2 v + (1 - b2) g^2
    update = m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
    """

    def init(theta: Array) -> AdamState:
        return AdamState(xp.zeros_like(theta), xp.zeros_like(theta), _zero(theta, xp))

    def update(u: Array, state: AdamState, theta: Array, loss: Array) -> tuple[Array, Any]:
        count = state.count + 1.0
        mu = b1 * state.mu + (1.0 - b1) * u
        nu = b2 * state.nu + (1.0 - b2) * (u * u)
        mu_hat = mu / (1.0 - b1**count)
        nu_hat = nu / (1.0 - b2**count)
        return mu_hat / (xp.sqrt(nu_hat) + eps), AdamState(mu, nu, count)

    return Transform(init, update)


def proximal(prox: Prox, step: float | Array) -> Transform:
    """Make the step proximal: ``theta + u`` becomes ``prox(theta + u, step)``.

    Goes last in a :func:`chain` whose updates are ``-step * grad``: the result is the
    proximal-gradient (ISTA) step for an objective ``f + h``.
    """

    def init(theta: Array) -> EmptyState:
        return EmptyState()

    def update(u: Array, state: EmptyState, theta: Array, loss: Array) -> tuple[Array, Any]:
        return prox(theta + u, step) - theta, state

    return Transform(init, update)


def chain(*transforms: Transform) -> Transform:
    """Apply transforms in order, each to the updates of the previous (optax's ``chain``)."""

    def init(theta: Array) -> tuple[Any, ...]:
        return tuple(t.init(theta) for t in transforms)

    def update(
        u: Array, state: tuple[Any, ...], theta: Array, loss: Array
    ) -> tuple[Array, tuple[Any, ...]]:
        states = []
        for t, s in zip(transforms, state, strict=True):
            u, s = t.update(u, s, theta, loss)
            states.append(s)
        return u, tuple(states)

    return Transform(init, update)


# ---------------------------------------------------------------------- optimizers


def gradient_descent(
    learning_rate: float | Array, *, xp: Namespace = None, prox: Prox | None = None
) -> Transform:
    """Fixed-step gradient descent: ``theta <- theta - learning_rate * grad`` (the classic).

    With ``prox``, the proximal-gradient step (ISTA). ``learning_rate`` may be a Python
    float or a 0-d array on the parameters' device (``1 / L`` computed on the device is
    never fetched to the host).
    """
    if prox is None:
        return scale(-learning_rate)
    return chain(scale(-learning_rate), proximal(prox, learning_rate))


def _no_prox(name: str, prox: Prox | None) -> None:
    if prox is not None:
        raise ValueError(f"{name} has no proximal step; use gradient_descent or nesterov")


def momentum(
    learning_rate: float | Array, *, xp: Namespace, beta: float = 0.9, prox: Prox | None = None
) -> Transform:
    """Heavy-ball momentum: ``v <- grad + beta v``, ``theta <- theta - learning_rate v``.

    Stable for a step below ``2 (1 + beta) / L``; not monotone. No proximal step.
    """
    _no_prox("momentum", prox)
    return chain(trace(beta, xp=xp), scale(-learning_rate))


def adam(
    learning_rate: float | Array,
    *,
    xp: Namespace,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    prox: Prox | None = None,
) -> Transform:
    """Adam: :func:`scale_by_adam` followed by ``-learning_rate``. No proximal step."""
    _no_prox("adam", prox)
    return chain(scale_by_adam(b1, b2, eps, xp=xp), scale(-learning_rate))


class NesterovState(NamedTuple):
    """State of :func:`nesterov`: the last gradient-step point and the momentum counter."""

    x: Array
    t: Array


def nesterov(learning_rate: float | Array, *, xp: Namespace, prox: Prox | None = None) -> Transform:
    """Nesterov's accelerated gradient (FISTA momentum) with adaptive restart.

    The parameters the loop evaluates are the extrapolated points ``y_k``; with
    ``g = grad f(y_k)`` and step ``eta``::

        x_{k+1} = prox(y_k - eta * g, eta)       (no prox: the gradient step)
        t       = 1                      if (y_k - x_{k+1}) . (x_{k+1} - x_k) > 0   (restart)
        t_{k+1} = (1 + sqrt(1 + 4 t^2)) / 2
        y_{k+1} = x_{k+1} + (t - 1) / t_{k+1} * (x_{k+1} - x_k)

    The gradient restart (O'Donoghue & Candes, 2015) drops the momentum when it points
    uphill, which recovers linear convergence on strongly convex problems without knowing
    the strong convexity constant: about ``sqrt(L / mu)`` times fewer iterations than plain
    gradient descent on ill-conditioned problems. With ``prox`` it is FISTA (Beck &
    Teboulle, 2009) for L1 penalties. Everything stays on the device: the restart is an
    ``xp.where``, never a host branch.
    """

    def init(theta: Array) -> NesterovState:
        return NesterovState(theta, xp.ones((), dtype=theta.dtype, device=_device(theta)))

    def update(
        grad: Array, state: NesterovState, theta: Array, loss: Array
    ) -> tuple[Array, NesterovState]:
        x_new = theta - learning_rate * grad
        if prox is not None:
            x_new = prox(x_new, learning_rate)
        step = x_new - state.x
        uphill = xp.sum((theta - x_new) * step) > 0
        t = xp.where(uphill, xp.ones_like(state.t), state.t)
        t_new = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * t * t))
        y_new = x_new + ((t - 1.0) / t_new) * step
        return y_new - theta, NesterovState(x_new, t_new)

    return Transform(init, update)


# ---------------------------------------------------------------------- line searches


class ArmijoState(NamedTuple):
    """State of :func:`armijo`: the accepted point, its loss and gradient, the step."""

    x: Array
    loss: Array
    grad: Array
    step: Array


def armijo(
    initial_step: float | Array,
    *,
    xp: Namespace,
    prox: Prox | None = None,
    c: float = 0.5,
    grow: float = 1.25,
    shrink: float = 0.5,
) -> Transform:
    """Gradient descent with a backtracking (Armijo) line search, on the device.

    Each loop step evaluates one trial point ``x_trial = prox(x - eta g, eta)`` from the
    accepted point ``x``; the trial is accepted when it decreases the loss enough::

        F(x_trial) <= F(x) - c / eta * ||x_trial - x||^2     (= F(x) - c eta ||g||^2)

    (``c = 1/2`` accepts any step up to the inverse curvature along ``-g``; with ``prox``
    it is the proximal-gradient sufficient decrease, ``F`` including the non-smooth
    part). Accepted: the step grows by ``grow`` for the next trial. Rejected: the trial is
    dropped and the step shrinks to the minimiser of the quadratic through ``F(x)``, the
    slope and ``F(x_trial)``, kept within ``[0.1, shrink]`` times the step. So no learning
    rate is needed, the loss never increases, and every loop step is one evaluation.
    """

    def init(theta: Array) -> ArmijoState:
        # loss = +inf: the first evaluation (at theta itself) is always accepted.
        step = xp.asarray(initial_step, dtype=theta.dtype, device=_device(theta))
        return ArmijoState(theta, _zero(theta, xp, math.inf), xp.zeros_like(theta), step)

    def update(
        grad: Array, state: ArmijoState, theta: Array, loss: Array
    ) -> tuple[Array, ArmijoState]:
        d = theta - state.x
        dd = xp.sum(d * d)
        slope = xp.sum(state.grad * d)  # F'(x; d) for the smooth part
        # Sufficient decrease, or its approximate form near the optimum (Hager & Zhang;
        # see lbfgs): a loss within rounding of F(x) with a slope that has turned small.
        approx = _nearly_flat(loss, state.loss, xp.sum(grad * d), slope, xp=xp)
        accept = (loss <= state.loss - (c / state.step) * dd) | approx  # False for NaN
        # Quadratic model q(s) = F(x) + s slope + s^2 a along d; its minimiser in units
        # of the current step is -slope / (2 a).
        a = loss - state.loss - slope
        frac = xp.where(
            a > 0, -slope / (2.0 * xp.where(a > 0, a, xp.ones_like(a))), xp.zeros_like(a)
        )
        frac = xp.where(xp.isfinite(frac), frac, xp.zeros_like(frac))
        # min/max, not clip: the compatibility layer's clip indexes with masks (a sync).
        frac = xp.minimum(xp.maximum(frac, xp.full_like(frac, 0.1)), xp.full_like(frac, shrink))
        step = xp.where(accept, state.step * grow, state.step * frac)
        x = xp.where(accept, theta, state.x)
        f = xp.where(accept, loss, state.loss)
        g = xp.where(accept, grad, state.grad)
        trial = x - step * g
        if prox is not None:
            trial = prox(trial, step)
        return trial - theta, ArmijoState(x, f, g, step)

    return Transform(init, update, line_search=True, current=_accepted)


class LbfgsConstants(NamedTuple):
    """Arrays every :func:`lbfgs` step uses, made once by ``init`` on the parameters'
    device and dtype (on a GPU each would otherwise be a kernel launch per step)."""

    upper: Array  # (m, m) bool: the upper triangle, diagonal included
    eye: Array  # (m, m)
    zeros: Array  # (m, m)
    zero: Array  # 0-d
    one: Array  # 0-d
    inf: Array  # 0-d
    true: Array  # (1,) bool


class LbfgsState(NamedTuple):
    """State of :func:`lbfgs`.

    ``x, loss, grad``: the accepted point; ``direction``, ``slope = grad . direction`` and
    ``step``: the current line search (trial point ``x + step * direction``) with its
    bracket ``[lo, hi]`` and trial count; ``s, y``: the last ``m`` curvature pairs as rows
    of ``(m, n_params)`` matrices (flattened parameters), oldest first, with ``valid``
    marking the filled rows (empty rows are zero); ``constants``: see
    :class:`LbfgsConstants`.
    """

    x: Array
    loss: Array
    grad: Array
    direction: Array
    slope: Array
    step: Array
    lo: Array
    hi: Array
    trials: Array
    s: Array
    y: Array
    valid: Array
    constants: LbfgsConstants


#: Curvature pairs L-BFGS keeps. With the compact representation the cost of a direction
#: hardly depends on it (a few small matrix products); more pairs mean fewer passes over
#: X on correlated data (1e5 x 100 AR(1), rho 0.9: 96 evaluations to 1e-6 with 10 pairs,
#: 55 with 30, 48 with 50).
LBFGS_MEMORY = 50


def lbfgs(
    learning_rate: float | Array | None = None,
    *,
    xp: Namespace,
    memory: int = LBFGS_MEMORY,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_trials: int = 10,
) -> Transform:
    """Limited-memory BFGS with a weak-Wolfe line search, entirely on the device.

    The direction is ``-H g``, ``H`` the L-BFGS inverse-Hessian approximation from the
    last ``memory`` pairs ``s = x_{k+1} - x_k``, ``y = g_{k+1} - g_k`` with the initial
    scaling ``gamma = s.y / y.y`` of the newest pair, in the compact representation of
    Byrd, Nocedal & Schnabel (1994; Nocedal & Wright, eq. 7.24)::

        H g = gamma (g - Y^T c) + S^T p1,       c = R^{-1} S g,
        p1 = R^{-T} ((D + gamma Y Y^T) c - gamma Y g)

    with ``S``, ``Y`` the pairs as rows, ``R`` the upper triangle of ``S Y^T`` and ``D``
    its diagonal: about ten matrix products and two ``memory x memory`` solves instead of
    the two-loop recursion's ``4 * memory`` vector operations, so a GPU runs a direction
    in a few kernels. Pairs with ``s.y`` not clearly positive are skipped, which keeps
    ``H`` positive definite; a direction that is not a descent direction resets the
    memory to steepest descent.

    The line search runs one trial per loop step (one evaluation, no host branch): a trial
    ``x + t d`` is accepted when it satisfies the weak Wolfe conditions::

        F(x + t d) <= F(x) + c1 t g.d        (sufficient decrease)
        g(x + t d).d >= c2 g.d               (curvature)

    or, after ``max_trials`` trials, sufficient decrease alone. Sufficient decrease also
    holds in Hager & Zhang's approximate form (a loss within rounding of ``F(x)`` and
    ``g(x + t d).d <= 0.8 |g.d|``), which lets the search converge to a tight ``tol``
    where the loss itself no longer resolves the progress. Otherwise the bracket
    ``[lo, hi]`` is updated (Lewis & Overton's bisection/extension): too long a step sets
    ``hi`` and the next trial is the minimiser of the quadratic through ``F(x)``, the
    slope and ``F(x + t d)``, kept inside the bracket; too short a step sets ``lo`` and
    doubles, or bisects once ``hi`` is known. The first trial of an iteration is ``t = 1``
    (the quasi-Newton step); the very first, along ``-g``, has length
    ``min(learning_rate, ||g||)`` (``learning_rate`` 1 by default, in the standardised
    coordinates the estimators use).

    A step is a hundred-odd small array operations on 0-d, ``(m,)``, ``(m, m)`` and
    ``(m, n_params)`` arrays: on a GPU their launches, not the device, set its time, so
    it is written with few of them (constants made once, shared subexpressions).
    """
    m = int(memory)

    def init(theta: Array) -> LbfgsState:
        dtype, dev = theta.dtype, _device(theta)
        idx = xp.arange(m, device=dev)
        constants = LbfgsConstants(
            upper=idx[:, None] <= idx[None, :],
            eye=xp.eye(m, dtype=dtype, device=dev),
            zeros=xp.zeros((m, m), dtype=dtype, device=dev),
            zero=_zero(theta, xp),
            one=_zero(theta, xp, 1.0),
            inf=_zero(theta, xp, math.inf),
            true=xp.ones((1,), dtype=xp.bool, device=dev),
        )
        size = math.prod(theta.shape)
        empty = xp.zeros((m, size), dtype=dtype, device=dev)
        return LbfgsState(
            x=theta,
            loss=constants.inf,  # the first evaluation is always accepted
            grad=xp.zeros_like(theta),
            direction=xp.zeros_like(theta),
            slope=constants.zero,
            step=constants.zero,
            lo=constants.zero,
            hi=constants.inf,
            trials=constants.zero,
            s=empty,
            y=empty,
            valid=xp.zeros((m,), dtype=xp.bool, device=dev),
            constants=constants,
        )

    def inverse_hessian_times(
        g: Array, S: Array, Y: Array, valid: Array, k: LbfgsConstants
    ) -> Array:
        a = S @ g
        b = Y @ g
        SY = S @ xp.matrix_transpose(Y)
        YY = Y @ xp.matrix_transpose(Y)
        empty = xp.astype(~valid, g.dtype)
        # R: upper triangle of S Y^T (pairs in chronological order); 1 on the diagonal of
        # empty slots, whose rows and columns are otherwise zero, so they drop out (and
        # whose diagonal in S Y^T is zero: D needs no mask).
        R = xp.where(k.upper, SY, k.zeros) + k.eye * empty
        # gamma = s.y / y.y of the newest pair (y.y > 0: pairs are kept only then), 1
        # with no pairs.
        newest_empty = empty[m - 1]
        gamma = (SY[m - 1, m - 1] + newest_empty) / (YY[m - 1, m - 1] + newest_empty)
        c = solve_triangular(R, a, upper=True, xp=xp)  # R^{-1} S g
        rhs = xp.linalg.diagonal(SY) * c + gamma * (YY @ c - b)
        p1 = solve_triangular(xp.matrix_transpose(R), rhs, upper=False, xp=xp)
        return gamma * (g - c @ Y) + p1 @ S

    def update(
        grad: Array, state: LbfgsState, theta: Array, loss: Array
    ) -> tuple[Array, LbfgsState]:
        k = state.constants
        first = ~xp.isfinite(state.loss)
        d = state.direction
        slope_t = xp.sum(grad * d)
        finite = xp.isfinite(loss) & xp.isfinite(slope_t)
        armijo = loss <= state.loss + c1 * state.step * state.slope
        approx = _nearly_flat(loss, state.loss, slope_t, state.slope, xp=xp)
        decrease = finite & (armijo | approx)
        curvature = slope_t >= c2 * state.slope
        trials = state.trials + 1.0
        accept = first | (decrease & (curvature | (trials >= max_trials)))

        # ---- rejected: next trial inside the bracket
        t = state.step
        hi = xp.where(decrease, state.hi, t)
        lo = xp.where(decrease, t, state.lo)
        width = hi - lo
        # too long: the minimiser of the quadratic through F(x), slope, F(x + t d)
        a = loss - state.loss - state.slope * t
        curved = (a > 0) & finite
        t_quad = -state.slope * t * t / (2.0 * xp.where(curved, a, k.one))
        t_quad = xp.where(curved, t_quad, lo + 0.1 * (t - lo))
        t_short = xp.minimum(xp.maximum(t_quad, lo + 0.1 * width), lo + 0.5 * width)
        # too short: extend until hi is known, then bisect
        t_long = xp.where(xp.isfinite(hi), lo + 0.5 * width, 2.0 * t)
        t_next = xp.where(decrease, t_long, t_short)

        # ---- accepted: store the pair, new direction
        g_flat = xp.reshape(grad, (-1,))
        s_new = xp.reshape(theta - state.x, (1, -1))
        y_new = xp.reshape(grad - state.grad, (1, -1))
        sy, yy = xp.sum(s_new * y_new), xp.sum(y_new * y_new)
        # yy > 0 also where y underflows: the scaling gamma below divides by it
        keep = (accept & ~first) & (sy > 1e-10 * yy) & (yy > 0)
        s_hist = xp.where(keep, xp.concat([state.s[1:, :], s_new], axis=0), state.s)
        y_hist = xp.where(keep, xp.concat([state.y[1:, :], y_new], axis=0), state.y)
        valid = xp.where(keep, xp.concat([state.valid[1:], k.true]), state.valid)
        hg = inverse_hessian_times(g_flat, s_hist, y_hist, valid, k)
        g_hg = xp.sum(g_flat * hg)
        descent = g_hg > 0  # False for NaN: restart from steepest descent
        valid = valid & descent
        s_hist = xp.where(descent, s_hist, k.zero)
        y_hist = xp.where(descent, y_hist, k.zero)
        d_acc = -xp.where(descent, xp.reshape(hg, grad.shape), grad)
        gg = xp.sum(grad * grad)
        slope_acc = -xp.where(descent, g_hg, gg)
        # The first step along -g (no curvature known yet) has length learning_rate.
        gnorm = xp.sqrt(gg)
        length = 1.0 if learning_rate is None else learning_rate
        t_first = length / xp.where(gnorm > 0, gnorm, k.one)
        t_acc = xp.where(xp.any(valid), k.one, xp.minimum(t_first, k.one))

        new = LbfgsState(
            x=xp.where(accept, theta, state.x),
            loss=xp.where(accept, loss, state.loss),
            grad=xp.where(accept, grad, state.grad),
            direction=xp.where(accept, d_acc, d),
            slope=xp.where(accept, slope_acc, state.slope),
            step=xp.where(accept, t_acc, t_next),
            lo=xp.where(accept, k.zero, lo),
            hi=xp.where(accept, k.inf, hi),
            trials=xp.where(accept, k.zero, trials),
            s=s_hist,
            y=y_hist,
            valid=valid,
            constants=k,
        )
        trial = new.x + new.step * new.direction
        return trial - theta, new

    return Transform(init, update, line_search=True, current=_accepted)


#: Solvers by name: ``factory(learning_rate, *, xp, prox=None)``; only those in
#: ``PROXIMAL`` accept a ``prox``.
SOLVERS: dict[str, Callable[..., Transform]] = {
    "gd": gradient_descent,
    "momentum": momentum,
    "nesterov": nesterov,
    "adam": adam,
    "sgd": gradient_descent,
    "lbfgs": lbfgs,
}
#: Solvers that take a fixed learning rate and run exactly the steps asked for.
FIXED_STEP = ("gd", "momentum", "nesterov")
#: Solvers with a proximal step, hence able to handle an L1 penalty.
PROXIMAL = ("gd", "nesterov", "sgd")
#: Solvers that run on shuffled mini-batches, epoch by epoch.
STOCHASTIC = ("sgd", "adam")
