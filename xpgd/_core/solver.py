"""The optimizer loops: run any :class:`~xpgd._core.optim.Transform` on the device, solve
the normal equations, or run epochs of mini-batches.

Host synchronisation happens only every ``check_every`` iterations (and at the last one),
through :func:`xpgd._backend.host_floats`, which fetches the current loss and the largest
stationarity entry in one transfer. The loss history stays on the device until the end.

At each check the full-batch loop (:func:`run`)

* stops when the largest absolute entry of the gradient (of the minimal subgradient with
  an L1 penalty) is at most ``tol`` (converged);
* stops when a line search has not lowered the loss for ``STALL_EVALUATIONS``
  evaluations: the loss is flat at the precision of the data type (reported as
  ``stalled``, not converged);
* raises :class:`~xpgd.exceptions.DivergenceError` when the loss is not finite or has
  doubled since the start (a step above ``2 / L`` makes gradient descent grow
  geometrically, so a too-large learning rate shows within a few checks, while the
  ripples of accelerated methods and rounding near a perfect fit stay well below that);
  parameters with NaN or inf are never returned.

One iteration is one evaluation of the loss and gradient (one pass over X), whatever the
solver: a line search's rejected trial counts as an iteration, so ``n_iter`` measures
the cost.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from xpgd._backend import (
    RowShuffler,
    host_floats,
    is_lazy,
    linalg_errors,
    own_threads_blas_limit,
    quiet_overflow,
    solve_triangular,
)
from xpgd._core.objective import LinearObjective
from xpgd._core.optim import (
    PROXIMAL,
    SOLVERS,
    STOCHASTIC,
    Transform,
    armijo,
    lbfgs,
)
from xpgd._typing import Array, Namespace
from xpgd.exceptions import DivergenceError, InputError, InvalidParameterError

__all__ = [
    "SCHEDULES",
    "STALL_EVALUATIONS",
    "SolverResult",
    "minimize",
    "run",
    "run_stochastic",
    "solve_normal",
]

#: Evaluations without a lower loss after which a line search counts as stalled.
STALL_EVALUATIONS = 20


class SolverResult(NamedTuple):
    """What the loops return; arrays live in the parameters' namespace and device."""

    theta: Array
    n_iter: int
    loss_history: Array
    """Objective at the start and after each iteration: ``n_iter + 1`` values (the
    stochastic solvers: after each epoch, the mean of its mini-batch losses)."""
    converged: bool
    grad_max: float
    """Largest absolute gradient (stationarity) entry at the last check; NaN for the
    stochastic solvers, which never compute a full gradient."""
    stalled: bool = False
    """The line search could not lower the loss any further before ``tol``."""


def run(
    evaluate: Callable[[Array], tuple[Array, Array]],
    theta0: Array,
    optimizer: Transform,
    *,
    max_iter: int,
    tol: float | None,
    check_every: int,
    xp: Namespace,
    stationarity: Callable[[Array, Array], Array] | None = None,
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
        Number of evaluations after the first, at most.
    tol : float or None
        Stop once ``max(|stationarity|) <= tol``; ``None`` runs exactly ``max_iter``.
    check_every : int
        Iterations between host synchronisations (convergence and divergence checks).
    xp : namespace
        Namespace of the parameters.
    stationarity : callable, optional
        ``(theta, grad) -> array`` that is zero at the optimum (the minimal subgradient
        with an L1 penalty); the gradient itself by default.
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
    # A diverging run overflows between two checks: silence NumPy's warning there, the
    # check raises DivergenceError with the iteration and a fix.
    with quiet_overflow():
        theta = theta0
        state = optimizer.init(theta)
        loss, grad = evaluate(theta)
        window: list[Array] = []  # device scalars since the last check
        history: list[Array] = []  # device arrays, one per completed window
        loss0 = best = math.nan
        best_at = 0
        grad_max = math.inf
        converged = stalled = False
        iteration = 0
        while True:
            updates, state = optimizer.update(grad, state, theta, loss)
            x, f, g = optimizer.current(state, theta, loss, grad)
            window.append(f)
            if iteration % check_every == 0 or iteration == max_iter:
                measure = g if stationarity is None else stationarity(x, g)
                # Host sync, every check_every iterations only: loss and max|grad| together.
                loss_now, grad_max = host_floats(xp.stack([f, xp.max(xp.abs(measure))]))
                if iteration == 0:
                    loss0 = best = loss_now
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
                if not math.isfinite(grad_max) or _diverged(loss_now, loss0, xp.finfo(f.dtype)):
                    _raise_divergence(iteration, loss0, loss_now, safe_learning_rate)
                if loss_now < best:
                    best, best_at = loss_now, iteration
                if tol is not None and grad_max <= tol:
                    converged = True
                elif optimizer.line_search and iteration - best_at >= STALL_EVALUATIONS:
                    stalled = tol is not None
                history.append(xp.stack(window))
                window = []
                if converged or stalled or iteration >= max_iter:
                    break
            theta = theta + updates
            loss, grad = evaluate(theta)
            iteration += 1
    return SolverResult(x, iteration, xp.concat(history), converged, grad_max, stalled)


def _diverged(loss: float, start: float, finfo: object) -> bool:
    """The loop's divergence rule: a non-finite loss, or one that has doubled since the
    start (plus an ulp, so that a start at exactly 0 is not tripped by rounding)."""
    return not math.isfinite(loss) or loss > 2.0 * abs(start) + finfo.eps


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


# ---------------------------------------------------------------------- normal equations


def solve_normal(
    objective: LinearObjective,
    theta0: Array,
    *,
    tol: float | None,
    max_refinements: int = 2,
    verbose: int = 0,
    callback: Callable[[int, float, float], object] | None = None,
) -> SolverResult:
    """Least squares through the normal equations, in the objective's optimizer
    coordinates.

    One pass over X gives the quadratic form ``f(t) = 0.5 t.H t - t.r + c``
    (:meth:`LinearObjective.quadratic_form`: the standardised covariance, the
    cross-moments with y, and the column statistics), so the loss and gradient at
    ``theta0`` cost no pass; then ``theta = theta0 - H^{-1} g`` by a Cholesky solve. The
    objective is quadratic, so one step is exact up to rounding. One evaluation then
    checks it against X itself: while the largest gradient entry stays above ``tol`` the
    step is repeated from that exact gradient (iterative refinement, one more pass each, at
    most ``max_refinements``), which recovers the accuracy the normal equations lose in
    float32. A singular ``H`` (collinear columns without a penalty) falls back to the
    minimum-norm solution in the standardised coordinates, through an eigendecomposition.
    ``n_iter`` counts the solves; ``callback`` and ``verbose`` report after each.
    """
    xp = objective.param_xp
    H, r, c = objective.quadratic_form()
    solve = _spd_solver(H, xp=xp)
    theta = objective.to_optimizer(theta0)
    Ht = H @ theta
    grad = Ht - r
    losses = [0.5 * xp.sum(theta * Ht) - xp.sum(theta * r) + c]
    n_solves = 0
    grad_max = math.inf
    while True:
        theta = theta - solve(grad)
        n_solves += 1
        loss, grad = objective.value_and_grad(theta)
        losses.append(loss)
        # One host sync per solve (at most 1 + max_refinements), never per row.
        loss_now, grad_max = host_floats(xp.stack([loss, xp.max(xp.abs(grad))]))
        if verbose:
            print(f"solve {n_solves}  loss {loss_now:.10g}  max|grad| {grad_max:.3g}")
        if callback is not None:
            callback(n_solves, loss_now, grad_max)
        if not math.isfinite(loss_now):
            raise InputError(
                "the normal equations gave a non-finite solution: the values of X or y "
                "overflow; rescale them"
            )
        if tol is None or grad_max <= tol or n_solves > max_refinements:
            break
    converged = tol is None or grad_max <= tol
    return SolverResult(objective.original(theta), n_solves, xp.stack(losses), converged, grad_max)


def _spd_solver(H: Array, *, xp: Namespace) -> Callable[[Array], Array]:
    """``b -> H^{-1} b`` for a symmetric positive semi-definite ``H``: a Cholesky factor
    (computed once, then two triangular solves per use) when ``H`` is well conditioned,
    else the pseudo-inverse from ``eigh`` (eigenvalues below ``n eps max(eig)`` dropped)."""
    n = H.shape[0]
    eps = xp.finfo(H.dtype).eps
    try:
        L = xp.linalg.cholesky(H)
    except linalg_errors():  # NumPy / torch raise on a matrix that is not positive definite
        L = None
    if L is not None:
        diag = xp.linalg.diagonal(L)
        # One host sync, outside any loop: is the factor usable? (CuPy gives NaN.)
        lo, hi, top = host_floats(
            xp.stack([xp.min(diag), xp.max(diag), xp.max(xp.linalg.diagonal(H))])
        )
        if math.isfinite(lo) and math.isfinite(hi) and lo * lo > 10.0 * n * eps * top:
            Lt = xp.linalg.matrix_transpose(L)

            def cholesky_solve(b: Array) -> Array:
                return solve_triangular(
                    Lt, solve_triangular(L, b, upper=False, xp=xp), upper=True, xp=xp
                )

            return cholesky_solve
    values, vectors = xp.linalg.eigh(H)
    keep = values > n * eps * xp.max(values)
    inverse = xp.where(
        keep, 1.0 / xp.where(keep, values, xp.ones_like(values)), xp.zeros_like(values)
    )

    def pinv_solve(b: Array) -> Array:
        coef = xp.linalg.matrix_transpose(vectors) @ b
        coef = (inverse if b.ndim == 1 else inverse[:, None]) * coef
        return vectors @ coef

    return pinv_solve


# ---------------------------------------------------------------------- stochastic solvers

#: Learning-rate schedules of the stochastic solvers: ``(rate, epoch, epochs) -> rate``.
SCHEDULES: dict[str, Callable[[float, int, int], float]] = {
    "constant": lambda rate, epoch, epochs: rate,
    "invscaling": lambda rate, epoch, epochs: rate / math.sqrt(epoch),
    "cosine": lambda rate, epoch, epochs: (
        rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))
    ),
}


def run_stochastic(
    objective: LinearObjective,
    theta0: Array,
    factory: Callable[..., Transform],
    shuffler: RowShuffler,
    *,
    learning_rate: float,
    auto: bool = False,
    schedule: str,
    batch_size: int,
    max_iter: int,
    tol: float | None,
    n_iter_no_change: int,
    prox: Callable[[Array, Any], Array] | None,
    verbose: int = 0,
    callback: Callable[[int, float, float], object] | None = None,
) -> SolverResult:
    """Epochs of shuffled mini-batches (SGD, Adam), in the objective's optimizer coordinates.

    Each epoch visits the training rows of ``shuffler`` in a fresh seeded order, in batches
    of ``batch_size``; the step of epoch ``e`` is ``SCHEDULES[schedule](learning_rate, e,
    max_iter)``. The optimizer state carries over between epochs. At the end of each epoch
    (the only host sync: one epoch is many updates) the score is the validation loss when
    the shuffler holds rows out (early stopping; the best parameters are restored), else
    the epoch's mean mini-batch loss. The run stops when the score has not improved by
    ``tol`` for ``n_iter_no_change`` epochs (scikit-learn's SGD rule). ``n_iter`` counts
    epochs.
    """
    xp = objective.param_xp
    rule = SCHEDULES[schedule]
    theta = objective.to_optimizer(theta0)
    loss0, _ = objective.value_and_grad(theta)
    (start,) = host_floats(xp.reshape(loss0, (1,)))
    if not math.isfinite(start):
        raise InputError(
            f"the objective is not finite at the starting point (loss {start}): the values "
            "of X, y or the weights overflow; rescale them"
        )
    if shuffler.validation is not None and objective.sample_weight is not None:
        held = xp.take(objective.sample_weight, shuffler.validation, axis=0)
        (held_weight,) = host_floats(xp.reshape(xp.sum(held), (1,)))  # once, at the start
        if not held_weight > 0:
            raise InputError(
                "every validation row of early_stopping has zero weight, so the validation "
                "loss is undefined; change random_state or validation_fraction, or set "
                "early_stopping=False"
            )
    state = factory(learning_rate, xp=xp, prox=prox).init(theta)
    history = [loss0]
    best, best_theta, waited = math.inf, theta, 0
    converged = False
    epoch = 0
    for epoch in range(1, max_iter + 1):
        rate = rule(learning_rate, epoch, max_iter)
        optimizer = factory(rate, xp=xp, prox=prox)
        order = shuffler.epoch()
        n = order.shape[0]
        batch_losses = []
        with quiet_overflow():  # a diverging epoch raises below, with the epoch and a fix
            for lo in range(0, n, batch_size):
                rows = order[lo : min(lo + batch_size, n)]
                loss, grad = objective.batch_value_and_grad(theta, rows)
                updates, state = optimizer.update(grad, state, theta, loss)
                theta = theta + updates
                batch_losses.append(loss)
            epoch_loss = xp.mean(xp.stack(batch_losses))
            history.append(epoch_loss)
            scores = [epoch_loss]
            if shuffler.validation is not None:
                scores.append(objective.subset_value(theta, shuffler.validation))
        # Host sync, once per epoch: the epoch's loss (and the validation loss).
        values = host_floats(xp.stack(scores))
        score = values[-1]
        if verbose:
            print(f"epoch {epoch:5d}  loss {values[0]:.10g}  score {score:.10g}  step {rate:.3g}")
        if callback is not None:
            callback(epoch, values[0], math.nan)
        if not math.isfinite(score) or _diverged(values[0], start, xp.finfo(epoch_loss.dtype)):
            fixes = f"lower learning_rate (below {rate:.3g}) or increase batch_size"
            if not auto:
                fixes += ", or use learning_rate='auto'"
            raise DivergenceError(
                f"solver diverged: the mini-batch loss went from {start:.6g} to "
                f"{values[0]:.6g} by epoch {epoch} with learning rate {rate:.4g}; {fixes}"
            )
        if tol is not None and score > best - tol:
            waited += 1
        else:
            waited = 0
        if score < best:
            best = score
            best_theta = theta
        if tol is not None and waited >= n_iter_no_change:
            converged = True
            break
    if shuffler.validation is not None:
        theta = best_theta
    return SolverResult(objective.original(theta), epoch, xp.stack(history), converged, math.nan)


def _minibatch_step(objective: LinearObjective, batch_size: int, *, xp: Namespace) -> float:
    """``1 / L(b)`` for mini-batches of ``b`` rows drawn without replacement, with the
    expected smoothness of Gower et al. (2019, "SGD: general analysis and improved
    rates")::

        L(b) = n (b - 1) / (b (n - 1)) L + (n - b) / (b (n - 1)) L_max

    between the full gradient's ``L`` (``b = n``) and the worst single row's ``L_max``
    (``b = 1``): the full-batch ``1 / L`` is far too long a step for small batches of
    wide data. Two host syncs, once, before the first epoch."""
    n = objective.n_samples
    b = min(max(batch_size, 1), n)
    full, worst = host_floats(
        xp.stack([xp.reshape(objective.lipschitz(), ()), objective.max_row_curvature()])
    )
    if n == 1:
        return 1.0 / worst
    bound = n * (b - 1) / (b * (n - 1)) * full + (n - b) / (b * (n - 1)) * worst
    return 1.0 / bound


# ---------------------------------------------------------------------- dispatch


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
    line_search: bool = True,
    momentum: float = 0.9,
    stochastic: dict[str, Any] | None = None,
) -> SolverResult:
    """Minimise ``objective`` from ``theta0`` with ``solver``, on the objective's device.

    ``theta0`` and the returned ``theta`` are in the model's coordinates ``(b, w)``; the
    loop runs in the objective's optimizer coordinates (see
    :meth:`LinearObjective.original`).

    ``learning_rate="auto"``: ``"gd"`` runs the Armijo line search (:func:`armijo`, no step
    to choose) when ``line_search``, else the fixed step ``1 / L``; ``"momentum"`` and
    ``"nesterov"`` use ``1 / L`` with ``L`` from :meth:`LinearObjective.lipschitz` (power
    iteration on the device, never fetched); ``"sgd"`` uses ``1 / L(batch_size)``
    (:func:`_minibatch_step`); ``"adam"`` uses 0.001 (Kingma & Ba's default);
    ``"lbfgs"`` needs none (its line search starts from a unit step). ``"normal"`` solves
    the normal equations (squared loss only).

    For lazy (Dask) data, :class:`xpgd._dask.ChunkedObjective` evaluates each iteration as
    one reduction over the chunks and the parameters live in the chunks' namespace.
    ``momentum`` is the ``"momentum"`` solver's ``beta``; ``stochastic`` holds the options
    of :func:`run_stochastic` (``shuffler``, ``schedule``, ``batch_size``,
    ``n_iter_no_change``).
    """
    if solver not in SOLVERS and solver != "normal":
        raise InvalidParameterError(
            f"unknown solver {solver!r}; choose one of {(*SOLVERS, 'normal')}"
        )
    if objective.l1 != 0.0 and solver not in PROXIMAL:
        raise InvalidParameterError(
            f"solver={solver!r} cannot handle an L1 penalty; use one of {PROXIMAL} (proximal steps)"
        )
    lazy = is_lazy(objective.xp)
    if lazy and solver in STOCHASTIC:
        raise InvalidParameterError(
            f"solver={solver!r} draws random rows for each mini-batch, which on a Dask "
            "array would shuffle data between chunks every step; use solver='lbfgs' "
            "(or 'normal' for least squares), which reads each chunk once per iteration"
        )
    with contextlib.ExitStack() as cleanup:
        if solver != "normal" and solver not in STOCHASTIC:
            # full-batch evaluations on our own CPU threads (or Dask's): BLAS's threads,
            # woken by the loop's small products, must not spin on their cores
            cleanup.enter_context(own_threads_blas_limit(objective))
        if lazy:  # closed on the way out: what it keeps on a cluster goes with the fit
            from xpgd._dask import ChunkedObjective

            objective = cleanup.enter_context(ChunkedObjective(objective))
        xp = objective.param_xp
        prox = objective.prox if objective.l1 != 0.0 else None
        if solver == "normal":
            if objective.family.name != "squared":
                raise InvalidParameterError(
                    "solver='normal' solves least squares only; use solver='lbfgs' for the "
                    f"{objective.family.name} loss"
                )
            return solve_normal(objective, theta0, tol=tol, verbose=verbose, callback=callback)

        def lipschitz_step() -> Array:
            return 1.0 / objective.lipschitz()

        if solver in STOCHASTIC:
            options = dict(stochastic or {})
            if learning_rate == "auto" and solver == "sgd":
                rate = _minibatch_step(objective, int(options.get("batch_size", 256)), xp=xp)
            elif learning_rate == "auto":
                rate = 1e-3
            else:
                rate = float(learning_rate)
            return run_stochastic(
                objective,
                theta0,
                SOLVERS[solver],
                learning_rate=rate,
                auto=learning_rate == "auto",
                max_iter=max_iter,
                tol=tol,
                prox=prox,
                verbose=verbose,
                callback=callback,
                **options,
            )

        def safe_learning_rate() -> float:
            return host_floats(xp.reshape(lipschitz_step(), (1,)))[0]

        if solver == "lbfgs":
            length = None if learning_rate == "auto" else float(learning_rate)
            optimizer = lbfgs(length, xp=xp)
        elif solver == "gd" and learning_rate == "auto" and line_search:
            optimizer = armijo(1.0, xp=xp, prox=prox)
        else:
            step = lipschitz_step() if learning_rate == "auto" else float(learning_rate)
            if solver == "momentum":
                optimizer = SOLVERS[solver](step, xp=xp, beta=momentum)
            else:
                optimizer = SOLVERS[solver](step, xp=xp, prox=prox)
        result = run(
            objective.value_and_grad,
            objective.to_optimizer(theta0),
            optimizer,
            max_iter=max_iter,
            tol=tol,
            check_every=check_every,
            xp=xp,
            stationarity=objective.stationarity,
            safe_learning_rate=safe_learning_rate,
            verbose=verbose,
            callback=callback,
        )
        return result._replace(theta=objective.original(result.theta))
