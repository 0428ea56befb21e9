"""scikit-learn-compatible estimators: :class:`LinearRegression`, :class:`LogisticRegression`.

Conventions (scikit-learn's): ``__init__`` only stores hyperparameters; ``fit`` validates
them, returns ``self`` and sets the fitted attributes (ending in ``_``) all at once at the
end, so a failed ``fit`` leaves a previously fitted model as it was.

"Everything follows X": ``y`` and ``sample_weight`` are moved to X's namespace and device;
fitted arrays and predictions stay there; float32 in, float32 out. For Dask input the small
fitted parameters live in the chunks' namespace (NumPy or CuPy) and the row-sized outputs
of ``predict`` are lazy Dask arrays.
"""

from __future__ import annotations

import functools
import inspect
import math
import textwrap
import warnings
from typing import Any, ClassVar

import array_api_compat
import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from xpgd._backend import (
    RowShuffler,
    array_device,
    backend_name_of,
    follow,
    follow_params,
    host_array,
    is_host_input,
    is_lazy,
    local_namespace,
    materialize,
    resolve_choice,
    to_numpy,
    use_fast_paths,
)
from xpgd._core.losses import get_loss, log_softmax, sigmoid, softmax
from xpgd._core.objective import LinearObjective
from xpgd._core.optim import PROXIMAL, SOLVERS, STOCHASTIC
from xpgd._core.solver import SCHEDULES, minimize
from xpgd._typing import Array, Namespace
from xpgd._validation import (
    check_sample_weight,
    check_target,
    check_X,
    encode_labels,
    valid_learning_rate,
)
from xpgd.exceptions import (
    BackendError,
    ConvergenceWarning,
    InputError,
    InvalidParameterError,
    NotFittedError,
    OutOfMemoryError,
    SeparationWarning,
    sklearn_compatible,
)
from xpgd.metrics import r2_score

__all__ = ["LinearRegression", "LogisticRegression"]

_PENALTIES = (None, "l2", "l1", "elasticnet")
#: Largest number of features for which LinearRegression's "auto" solver uses the normal
#: equations (cost n p^2 flops, against about 100-200 passes of 2 n p for lbfgs).
NORMAL_MAX_FEATURES = 2000


class _GradientDescentModel:
    """Shared machinery of the two estimators (parameters, fit loop, feature checks)."""

    _loss: ClassVar[str]
    _fitted_attributes: ClassVar[tuple[str, ...]] = (
        "coef_",
        "intercept_",
        "n_iter_",
        "loss_history_",
        "n_features_in_",
        "feature_names_in_",
        "solver_",
    )

    # ------------------------------------------------------------------ parameters

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values() if p.name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters of this estimator, as passed to ``__init__``.

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn compatibility (there are no sub-estimators).

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> _GradientDescentModel:
        """Set hyperparameters; unknown names raise ``InvalidParameterError``.

        Returns
        -------
        self
        """
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise InvalidParameterError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self"
        }
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if not (v is defaults[k] or (type(v) is type(defaults[k]) and v == defaults[k]))
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _validate_hyperparameters(self) -> None:
        def fail(name: str, rule: str) -> None:
            raise InvalidParameterError(
                f"{type(self).__name__}: {name}={getattr(self, name)!r} is invalid; {rule}"
            )

        def is_int(v: Any) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool)

        def is_real(v: Any) -> bool:
            return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)

        if not valid_learning_rate(self.learning_rate):
            fail("learning_rate", "use a positive float or 'auto' (1/L from the data)")
        if not (is_int(self.max_iter) and self.max_iter >= 1):
            fail("max_iter", "use an integer >= 1")
        if not (self.tol is None or (is_real(self.tol) and 0 <= self.tol < math.inf)):
            fail("tol", "use a float >= 0, or None to always run max_iter iterations")
        if self.solver not in self._solvers:
            fail("solver", f"choose one of {self._solvers}")
        if self.penalty not in _PENALTIES:
            fail("penalty", f"choose one of {_PENALTIES}")
        if not (is_real(self.alpha) and 0 <= self.alpha < math.inf):
            fail("alpha", "use a finite float >= 0")
        if not (is_real(self.l1_ratio) and 0 <= self.l1_ratio <= 1):
            fail("l1_ratio", "use a float in [0, 1] (1: pure L1, 0: pure L2)")
        if self.penalty in ("l1", "elasticnet") and self.solver not in (*PROXIMAL, "auto"):
            fail(
                "solver",
                f"it cannot handle penalty={self.penalty!r} (not differentiable); use one of "
                f"{PROXIMAL}, which take proximal steps, or solver='auto'",
            )
        if not isinstance(self.warm_start, bool | np.bool_):
            fail("warm_start", "use True or False")
        if not (
            self.random_state is None
            or is_int(self.random_state)
            or isinstance(self.random_state, np.random.Generator)
        ):
            fail("random_state", "use None, an integer seed or a numpy.random.Generator")
        if not (is_int(self.batch_size) and self.batch_size >= 1):
            fail("batch_size", "use an integer >= 1")
        if self.schedule not in SCHEDULES:
            fail("schedule", f"choose one of {tuple(SCHEDULES)}")
        if not isinstance(self.early_stopping, bool | np.bool_):
            fail("early_stopping", "use True or False")
        if not (is_real(self.validation_fraction) and 0 < self.validation_fraction < 1):
            fail("validation_fraction", "use a float strictly between 0 and 1")
        if self.early_stopping and self.solver not in STOCHASTIC:
            fail(
                "early_stopping",
                f"it holds out rows for the mini-batch solvers {STOCHASTIC} only; use one of "
                f"them, or set early_stopping=False (solver={self.solver!r} stops on tol)",
            )
        if not (is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1):
            fail("n_iter_no_change", "use an integer >= 1")
        if not (is_real(self.momentum) and 0 <= self.momentum < 1):
            fail("momentum", "use a float in [0, 1)")
        if not (is_int(self.check_every) and self.check_every >= 1):
            fail("check_every", "use an integer >= 1")
        if not isinstance(self.fit_intercept, bool | np.bool_):
            fail("fit_intercept", "use True or False")
        if not ((is_int(self.verbose) and self.verbose >= 0) or isinstance(self.verbose, bool)):
            fail("verbose", "use an integer >= 0")

    # ------------------------------------------------------------------ fit

    def _prepare_target(
        self, y: Any, X: Array, xp: Namespace
    ) -> tuple[Array, dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _theta_to_attributes(self, theta: Array, xp: Namespace) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _intercept_and_coef(self, theta: Array, xp: Namespace) -> tuple[Array, Array]:
        """``theta`` split as ``(intercept, coef)`` (per output); a zero intercept when
        ``fit_intercept=False``."""
        if self.fit_intercept:
            return theta[0, ...], theta[1:, ...]
        return xp.zeros(theta.shape[1:], dtype=theta.dtype, device=device_of(theta)), theta

    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, *, callback: Any = None
    ) -> _GradientDescentModel:
        """Fit the model by gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Any supported array (NumPy, CuPy, torch, Dask, array-api-strict), a pandas
            DataFrame or a nested list. Integer and bool data are promoted to the
            namespace's default float, float16 to float32; float32 and float64 data are
            used as they are (float32 stays float32) and never copied.
        y : array-like of shape (n_samples,)
            Targets; moved to X's namespace and device.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; the loss is their weighted mean.
        callback : callable, optional
            ``callback(iteration, loss, grad_max)``, called with host floats every
            ``check_every`` iterations (when the loop syncs anyway): a progress hook.

        Returns
        -------
        self

        Raises
        ------
        InvalidParameterError, InputError, BackendError, DivergenceError
            With a message naming the problem and the fix; a failed fit changes nothing.

        Warns
        -----
        ConvergenceWarning
            When ``max_iter`` is reached before ``tol``.
        """
        self._validate_hyperparameters()
        choice = resolve_choice(self.backend, self.device)
        names = _feature_names(X)
        if self.device is None and array_api_compat.is_dask_array(X):
            from xpgd._dask import keep_on_cluster  # on a cluster: read the data once

            X, y, sample_weight = keep_on_cluster(X, y, sample_weight)
        X, xp = check_X(X, choice)
        target, attributes = self._prepare_target(y, X, xp)
        weights = check_sample_weight(sample_weight, X, xp)
        weights = self._class_weighted(weights, target, attributes, X, xp)
        alpha, l1 = self._penalty_strengths()
        solver = self._resolve_solver(X)
        try:
            objective = LinearObjective(
                X,
                target,
                get_loss(self._family(target)),
                sample_weight=weights,
                alpha=alpha,
                l1=l1,
                fit_intercept=bool(self.fit_intercept),
                standardize=True,
                xp=xp,
            )
            use_fast_paths(objective)
            local_xp = local_namespace(X, xp)
            theta0 = self._start(objective, target, attributes, X, xp, local_xp)
            stochastic = None
            if solver in STOCHASTIC:
                stochastic = {
                    "shuffler": RowShuffler(
                        X.shape[0],
                        self.random_state,
                        X,
                        xp,
                        validation_fraction=(
                            float(self.validation_fraction) if self.early_stopping else None
                        ),
                    ),
                    "schedule": self.schedule,
                    "batch_size": int(self.batch_size),
                    "n_iter_no_change": int(self.n_iter_no_change),
                }
            result = minimize(
                objective,
                theta0,
                learning_rate=self.learning_rate,
                max_iter=int(self.max_iter),
                tol=None if self.tol is None else float(self.tol),
                check_every=int(self.check_every),
                solver=solver,
                verbose=int(self.verbose),
                callback=callback,
                momentum=float(self.momentum),
                stochastic=stochastic,
            )
        except Exception as exc:
            if _is_out_of_memory(exc):
                raise _out_of_memory(X, xp) from exc
            raise
        self._warn_not_converged(result, objective, target, alpha + l1, solver, xp)
        attributes.update(self._theta_to_attributes(result.theta, local_xp))
        attributes.update(
            n_iter_=result.n_iter,
            loss_history_=result.loss_history,
            n_features_in_=X.shape[1],
            feature_names_in_=names,
            solver_=solver,
        )
        # Commit: only now does the estimator change (a failed fit above changed nothing).
        for name in self._fitted_attributes:
            self.__dict__.pop(name, None)
        for name, value in attributes.items():
            if value is not None:
                setattr(self, name, value)
        return self

    def _family(self, target: Array) -> str:
        return self._loss

    def _penalty_strengths(self) -> tuple[float, float]:
        """``(alpha_l2, l1)`` of the objective ``mean loss + alpha * R(w)``."""
        alpha = float(self.alpha)
        if self.penalty == "l2":
            return alpha, 0.0
        if self.penalty == "l1":
            return 0.0, alpha
        if self.penalty == "elasticnet":
            ratio = float(self.l1_ratio)
            return alpha * (1.0 - ratio), alpha * ratio
        return 0.0, 0.0

    def _resolve_solver(self, X: Array) -> str:
        if self.solver != "auto":
            return str(self.solver)
        if self.penalty in ("l1", "elasticnet"):
            return "nesterov"  # FISTA: proximal and accelerated
        return self._auto_solver(X)

    def _auto_solver(self, X: Array) -> str:
        return "lbfgs"

    def _class_weighted(
        self, weights: Array | None, target: Array, attributes: dict[str, Any], X: Array, xp: Any
    ) -> Array | None:
        return weights

    def _start(
        self,
        objective: LinearObjective,
        target: Array,
        attributes: dict[str, Any],
        X: Array,
        xp: Namespace,
        local_xp: Namespace,
    ) -> Array:
        """Zeros, or the fitted parameters with ``warm_start`` (when their shape fits)."""
        shape = (objective.n_params,) + tuple(target.shape[1:])
        zeros = local_xp.zeros(shape, dtype=X.dtype, device=_local_device(X, xp))
        if not (self.warm_start and hasattr(self, "coef_")):
            return zeros
        coef = self._fitted(self.coef_, X, xp, "coef_")
        intercept = self._fitted(self.intercept_, X, xp, "intercept_")
        if coef.ndim == 2:  # (outputs, features): to theta's (features, outputs)
            coef = local_xp.matrix_transpose(coef)
            if len(shape) == 1:  # one output now (binary logistic keeps coef_ as (1, p))
                if coef.shape[1] != 1:
                    return zeros
                coef, intercept = coef[:, 0], local_xp.reshape(intercept, ())
        if tuple(coef.shape) != (shape[0] - int(bool(self.fit_intercept)), *shape[1:]):
            return zeros  # a different number of features, targets or classes: cold start
        coef = local_xp.astype(coef, X.dtype)
        if not self.fit_intercept:
            return coef
        intercept = local_xp.astype(intercept, X.dtype)
        return local_xp.concat([local_xp.expand_dims(intercept, axis=0), coef], axis=0)

    def save(self, path: Any, **metadata: Any) -> Any:
        """Write the fitted model to ``path`` (``.npz``: arrays plus JSON metadata, no
        pickle, written atomically); read it back with :func:`xpgd.load`.

        Returns
        -------
        pathlib.Path
        """
        from xpgd._io import save

        return save(self, path, extra=metadata)

    def _warn_not_converged(
        self,
        result: Any,
        objective: LinearObjective,
        target: Array,
        penalty: float,
        solver: str,
        xp: Any,
    ) -> None:
        """Warn about an optimum at infinity (separable classes, no penalty; checked
        whether or not tol was met, since the gradient vanishes there too) or about
        stopping at ``max_iter`` or on a flat loss."""
        name = type(self).__name__
        if self._loss == "logistic" and penalty == 0.0:
            z = objective.linear_predictor(result.theta)
            if target.ndim == 1:
                margin_ok = xp.all((2.0 * target - 1.0) * z > 0)
            else:  # multinomial: every row's own class scores highest
                own = xp.sum(target * z, axis=1)
                margin_ok = xp.all(own[:, None] - z + target > 0)
            (separated,) = materialize(margin_ok, xp=xp)
            if bool(separated):
                warnings.warn(
                    f"{name}: the classes are perfectly separable, so without a penalty the "
                    "optimum lies at infinity and the coefficients grow for as long as the "
                    f"solver runs (stopped after {result.n_iter} iterations); use "
                    "penalty='l2' with alpha > 0 for a finite optimum",
                    SeparationWarning,
                    stacklevel=3,
                )
                return
        if result.converged or self.tol is None:
            return
        if result.stalled:
            warnings.warn(
                f"{name}: the line search of solver={solver!r} could not lower the loss any "
                f"further after {result.n_iter} iterations, before reaching tol={self.tol} "
                f"(largest gradient entry {result.grad_max:.3g}): the loss is flat at the "
                f"precision of {objective.dtype}; loosen tol"
                + ("" if "64" in str(objective.dtype) else ", or fit float64 data"),
                sklearn_compatible(ConvergenceWarning),
                stacklevel=3,
            )
            return
        if solver == "normal":
            warnings.warn(
                f"{name}: the normal equations left a largest gradient entry of "
                f"{result.grad_max:.3g} > tol={self.tol} after {result.n_iter} solves (the "
                f"rounding of {objective.dtype} on these data); loosen tol, fit float64 "
                "data, or use solver='lbfgs'",
                sklearn_compatible(ConvergenceWarning),
                stacklevel=3,
            )
            return
        if solver in STOCHASTIC:
            warnings.warn(
                f"{name} ran max_iter={self.max_iter} epochs of solver={solver!r} and the "
                f"loss was still improving by more than tol={self.tol}; increase max_iter, "
                "loosen tol, or use a decaying schedule ('invscaling' or 'cosine')",
                sklearn_compatible(ConvergenceWarning),
                stacklevel=3,
            )
            return
        fixes = ["increase max_iter", "loosen tol"]
        if solver != "lbfgs" and self.penalty not in ("l1", "elasticnet"):
            fixes.append("use solver='lbfgs'")
        if self.learning_rate != "auto":
            fixes.append("use learning_rate='auto'")
        warnings.warn(
            f"{name} stopped at max_iter={self.max_iter} iterations before reaching "
            f"tol={self.tol} (largest gradient entry {result.grad_max:.3g}); "
            f"{', '.join(fixes[:-1])} or {fixes[-1]}",
            sklearn_compatible(ConvergenceWarning),
            stacklevel=3,
        )

    # ------------------------------------------------------------------ predict

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coef_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise sklearn_compatible(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _validated_X(self, X: Any, method: str) -> tuple[Array, Namespace]:
        """Validate X for ``method``: fitted, same columns, same library as the model."""
        self._check_fitted()
        _check_feature_names(self, X)
        choice = resolve_choice(self.backend, self.device)
        name = type(self).__name__
        X, xp = check_X(X, choice, n_features=self.n_features_in_, estimator=name)
        have = backend_name_of(self.coef_)
        want = backend_name_of(X._meta if is_lazy(xp) else X)
        if not is_host_input(self.coef_) and have != want:
            raise BackendError(
                f"Inputs passed to {name}.{method}() must use the same namespace and the "
                f"same device as those passed to fit(): this model was fitted on {have} but "
                f"X is a {want} array; pass X as a {have} array, or refit under "
                f"backend={want!r}"
            )
        return X, xp

    def _fitted(self, value: Array, X: Array, xp: Namespace, what: str) -> Array:
        """A fitted array next to ``X`` (small: parameters and labels only; a model fitted
        on the host moves to X's device, one fitted on X's library to X's device)."""
        return follow_params(value, X, xp, what=what)

    def _linear_predictor(self, X: Array, xp: Namespace) -> Array:
        coef = self._fitted(self.coef_, X, xp, "coef_")
        intercept = self._fitted(self.intercept_, X, xp, "intercept_")
        return X @ (coef if coef.ndim == 1 else coef.T) + intercept

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=True),
            input_tags=InputTags(two_d_array=True),
            array_api_support=True,
        )


def _store(estimator: Any, params: dict[str, Any]) -> None:
    """``__init__``'s body: store every hyperparameter as given (scikit-learn's rule)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def _label_key(v: Any) -> Any:
    """A hashable key equal for a label and its NumPy / Python twin (1, 1.0, np.int64(1))."""
    v = v.item() if hasattr(v, "item") else v
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


def _is_out_of_memory(exc: BaseException) -> bool:
    # MemoryError (NumPy, CuPy's OutOfMemoryError) or torch.cuda.OutOfMemoryError.
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


def _out_of_memory(X: Array, xp: Namespace) -> OutOfMemoryError:
    n, p = X.shape
    size = n * p * (4 if "32" in str(X.dtype) else 8) / 1e9
    return OutOfMemoryError(
        f"out of memory fitting X of {n} x {p} {X.dtype} ({size:.2f} GB) on "
        f"{backend_name_of(X)}: pass float32 data (half the memory), or a Dask array with "
        "row chunks (dask.array.from_array(X, chunks=(100_000, -1))) to fit chunk by chunk, "
        "out of core"
    )


def _chunk_labels(index: Array, table: np.ndarray) -> Array:
    """Class labels of one chunk of class indices: numeric labels stay in the chunk's
    namespace and device (CuPy chunks give CuPy labels); strings exist only on the host."""
    if table.dtype.kind not in "biuf" or isinstance(index, np.ndarray):
        return table[to_numpy(index).astype(np.intp)]
    xp = array_namespace(index)
    return xp.take(xp.asarray(table, device=device_of(index)), xp.astype(index, xp.int64), axis=0)


def _local_device(X: Array, xp: Namespace) -> Any:
    return array_device(X) if is_lazy(xp) else device_of(X)


def _feature_names(X: Any) -> np.ndarray | None:
    columns = getattr(X, "columns", None)
    if columns is None or type(X).__module__.split(".")[0] != "pandas":
        return None
    names = np.asarray(columns, dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def _check_feature_names(est: _GradientDescentModel, X: Any) -> None:
    """The scikit-learn contract for column names seen in ``fit`` and ``predict``."""
    fitted = getattr(est, "feature_names_in_", None)
    names = _feature_names(X)
    cls = type(est).__name__
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {cls} was fitted without feature names",
            UserWarning,
            stacklevel=3,
        )
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {cls} was fitted with feature names",
            UserWarning,
            stacklevel=3,
        )
        return
    if len(fitted) == len(names) and np.array_equal(fitted, names):
        return
    message = "The feature names should match those that were passed during fit.\n"
    unseen = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))

    def listing(values: list[str]) -> str:
        shown = [f"- {v}\n" for v in values[:5]]
        return "".join(shown) + ("- ...\n" if len(values) > 5 else "")

    if unseen:
        message += "Feature names unseen at fit time:\n" + listing(unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + listing(missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise InputError(message)


_SHARED_PARAMETERS = """\
    fit_intercept : bool, default True
        Fit an intercept ``b`` (added to ``X @ w``; X is never copied to add a column).
    learning_rate : float or "auto", default "auto"
        Step size. ``"auto"`` needs none: ``"gd"`` runs a backtracking (Armijo) line
        search; ``"momentum"`` and ``"nesterov"`` use ``1 / L``, ``L`` the Lipschitz
        constant of the gradient estimated by power iteration on the device; ``"sgd"``
        uses ``1 / L(batch_size)``, the expected smoothness of mini-batches of that size;
        ``"adam"`` uses 0.001; ``"lbfgs"`` has its own line search (a float caps the
        length of its first step); ``"normal"`` ignores it.
    max_iter : int, default 1000
        Maximum number of iterations: loss-and-gradient evaluations (passes over X; a
        rejected line-search trial counts), or epochs for ``"sgd"`` and ``"adam"``.
    tol : float or None, default 1e-4
        Stop when the largest absolute entry of the gradient (with an L1 penalty, of the
        minimal subgradient), in the internally standardised coordinates, is at most
        ``tol``. For ``"sgd"`` and ``"adam"``: stop when the epoch's loss (the validation
        loss with ``early_stopping``) has not improved by ``tol`` for ``n_iter_no_change``
        epochs. ``None`` always runs ``max_iter`` iterations.
    penalty : {None, "l2", "l1", "elasticnet"}
        The objective is ``mean loss + alpha * R(w)`` with ``R`` 0, ``0.5 ||w||^2``,
        ``||w||_1`` or ``l1_ratio ||w||_1 + (1 - l1_ratio) 0.5 ||w||^2``; the intercept is
        never penalised. ``"l1"`` and ``"elasticnet"`` need a proximal solver
        (``"gd"``, ``"nesterov"``, ``"sgd"``; ``"auto"`` picks ``"nesterov"``).
    alpha : float, default 0.0001
        Strength of the penalty (ignored when ``penalty=None``).
    l1_ratio : float, default 0.15
        Share of L1 in ``"elasticnet"`` (scikit-learn's SGD convention).
    warm_start : bool, default False
        Start ``fit`` from the current ``coef_`` and ``intercept_`` when their shapes
        match the new data (otherwise from zero).
    random_state : None, int or numpy.random.Generator, default None
        Seed of the stochastic solvers' shuffling and validation split (drawn on the
        host, so a seed gives the same rows on every backend).
    batch_size : int, default 256
        Rows per mini-batch of ``"sgd"`` and ``"adam"``.
    schedule : {"constant", "invscaling", "cosine"}, default "constant"
        Learning rate of epoch ``e`` for ``"sgd"`` and ``"adam"``: ``lr``,
        ``lr / sqrt(e)``, or ``lr * (1 + cos(pi (e - 1) / max_iter)) / 2``.
    early_stopping : bool, default False
        ``"sgd"`` and ``"adam"``: hold out ``validation_fraction`` of the rows, stop when
        their loss stops improving and keep the best parameters.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 5
        Epochs without an improvement of ``tol`` before the stochastic solvers stop.
    momentum : float, default 0.9
        ``beta`` of the ``"momentum"`` solver.
    check_every : int, default 10
        Iterations between the loop's host synchronisations (convergence and divergence
        checks). Larger values keep a GPU busier; the run may then take up to
        ``check_every - 1`` iterations more than needed. The stochastic solvers check
        once per epoch.
    verbose : int, default 0
        Print the loss and gradient norm at each check.
    backend : str or None, default None
        Backend to compute on (see :func:`xpgd.set_backend`); ``None`` uses the global
        choice, ``"auto"`` computes where X lives.
    device : optional
        Device of that backend; ``None`` for its default."""


class LinearRegression(_GradientDescentModel):
    """Least-squares linear regression on any Array API backend.

    Minimises ``mean_i s_i * 0.5 * (x_i . w + b - y_i)^2 + alpha * R(w)`` (``R`` from
    ``penalty``; the intercept is never penalised), where ``s`` are the sample weights
    normalised to mean one.

    Parameters
    ----------
    solver : {"auto", "normal", "lbfgs", "nesterov", "momentum", "gd", "adam", "sgd"}
        Default ``"auto"``: ``"normal"`` (the normal equations, exact: one pass over X
        for the moments, a Cholesky solve and one evaluation to check it) for up to 2000
        features, else ``"lbfgs"``; with an L1 penalty ``"nesterov"`` (FISTA). ``"gd"``
        is the classic gradient descent.
    %(shared)s

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
    intercept_ : 0-d array or array of shape (n_targets,)
    n_iter_ : int
        Iterations run (evaluations; epochs for the stochastic solvers; solves for
        ``"normal"``).
    loss_history_ : array of shape (n_iter_ + 1,)
        Objective at the start and after each iteration (line searches: at the accepted
        point), on X's device; for ``"sgd"`` and ``"adam"``, after the start, each
        epoch's mean mini-batch loss (each taken before its step).
    solver_ : str
        The solver used (``"auto"`` resolved).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> import xpgd
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = xpgd.LinearRegression().fit(X, 2 * X[:, 0] + 1)
    >>> np.round(model.coef_, 6), round(float(model.intercept_), 6), model.solver_
    (array([2.]), 1.0, 'normal')
    """

    _loss = "squared"
    _solvers = ("auto", "normal", *SOLVERS)

    def __init__(
        self,
        *,
        solver: str = "auto",
        fit_intercept: bool = True,
        learning_rate: float | str = "auto",
        max_iter: int = 1000,
        tol: float | None = 1e-4,
        penalty: str | None = None,
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        warm_start: bool = False,
        random_state: Any = None,
        batch_size: int = 256,
        schedule: str = "constant",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        momentum: float = 0.9,
        check_every: int = 10,
        verbose: int = 0,
        backend: str | None = None,
        device: Any = None,
    ) -> None:
        _store(self, locals())

    def _auto_solver(self, X: Array) -> str:
        return "normal" if X.shape[1] <= NORMAL_MAX_FEATURES else "lbfgs"

    def _prepare_target(self, y: Any, X: Array, xp: Namespace) -> tuple[Array, dict[str, Any]]:
        return check_target(y, X, xp, allow_2d=True, estimator=type(self).__name__), {}

    def _theta_to_attributes(self, theta: Array, xp: Namespace) -> dict[str, Any]:
        intercept, coef = self._intercept_and_coef(theta, xp)
        return {"coef_": coef if coef.ndim == 1 else coef.T, "intercept_": intercept}

    def predict(self, X: Any) -> Array:
        """Predicted targets ``X @ coef_ + intercept_``, in X's namespace and device.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_targets)
        """
        X, xp = self._validated_X(X, "predict")
        return self._linear_predictor(X, xp)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R^2 (averaged over targets) on ``(X, y)``.

        Returns
        -------
        float
        """
        X, xp = self._validated_X(X, "score")
        y = check_target(y, X, xp, allow_2d=True, estimator=type(self).__name__)
        weights = check_sample_weight(sample_weight, X, xp)
        pred = self._linear_predictor(X, xp)
        if y.ndim == 2 and y.shape[1] == 1 and pred.ndim == 1:
            y = y[:, 0]
        if tuple(y.shape) != tuple(pred.shape):
            raise InputError(
                f"y has shape {tuple(y.shape)} but this model predicts shape "
                f"{tuple(pred.shape)}; pass one target column per fitted output"
            )
        return r2_score(y, pred, sample_weight=weights)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.target_tags.multi_output = True
        return tags


class LogisticRegression(_GradientDescentModel):
    """Logistic regression, binary or multinomial, on any Array API backend.

    Two classes: minimises the mean log loss ``mean_i s_i * log(1 + exp(-t_i z_i))`` with
    ``z = X @ w + b`` and ``t`` the labels as -1/+1. More classes: the multinomial
    (softmax) loss ``mean_i s_i * (logsumexp(z_i) - z_{i, y_i})`` with one column of
    ``W`` per class (scikit-learn's multinomial model). Plus ``alpha * R(W)`` (the default
    ``penalty="l2"`` keeps the optimum finite on separable data; the intercept is never
    penalised). Loss, sigmoid and softmax are computed in forms that never overflow.

    Labels may be of any type (numbers, strings, bools); they are mapped through
    ``classes_`` (sorted); with two classes the second one is the positive one.

    Parameters
    ----------
    solver : {"auto", "lbfgs", "nesterov", "momentum", "gd", "adam", "sgd"}
        Default ``"auto"``: ``"lbfgs"`` (the fewest passes over X to the optimum); with an
        L1 penalty ``"nesterov"`` (FISTA).
    class_weight : None, "balanced" or dict, default None
        Weights of the classes, multiplied into ``sample_weight``: ``"balanced"`` gives
        class ``k`` the weight ``n_samples / (n_classes * n_k)``; a dict maps labels to
        weights (missing labels weigh 1).
    %(shared)s

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
        On X's device for numeric labels; a NumPy array for other label types.
    coef_ : array of shape (1, n_features), or (n_classes, n_features) for more than two
    intercept_ : array of shape (1,) or (n_classes,)
    n_iter_, loss_history_, solver_, n_features_in_, feature_names_in_
        As in :class:`LinearRegression`.

    Examples
    --------
    >>> import numpy as np
    >>> import xpgd
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    >>> clf = xpgd.LogisticRegression().fit(X, ["no", "no", "yes", "yes"])
    >>> clf.predict(np.array([[-3.0], [3.0]]))
    array(['no', 'yes'], dtype='<U3')
    """

    _loss = "logistic"
    _solvers = ("auto", *SOLVERS)
    _fitted_attributes = (*_GradientDescentModel._fitted_attributes, "classes_")

    def __init__(
        self,
        *,
        solver: str = "auto",
        fit_intercept: bool = True,
        learning_rate: float | str = "auto",
        max_iter: int = 1000,
        tol: float | None = 1e-4,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        class_weight: Any = None,
        warm_start: bool = False,
        random_state: Any = None,
        batch_size: int = 256,
        schedule: str = "constant",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        momentum: float = 0.9,
        check_every: int = 10,
        verbose: int = 0,
        backend: str | None = None,
        device: Any = None,
    ) -> None:
        _store(self, locals())

    def _validate_hyperparameters(self) -> None:
        super()._validate_hyperparameters()
        cw = self.class_weight
        if not (cw is None or cw == "balanced" or isinstance(cw, dict)):
            raise InvalidParameterError(
                f"{type(self).__name__}: class_weight={cw!r} is invalid; use None, "
                "'balanced' or a dict {label: weight}"
            )
        if isinstance(cw, dict) and not all(
            isinstance(v, int | float | np.integer | np.floating)
            and not isinstance(v, bool)
            and 0 <= v < math.inf
            for v in cw.values()
        ):
            raise InvalidParameterError(
                f"{type(self).__name__}: class_weight has a weight that is not a finite "
                "number >= 0; use non-negative finite weights"
            )

    def _family(self, target: Array) -> str:
        return "logistic" if target.ndim == 1 else "multinomial"

    def _prepare_target(self, y: Any, X: Array, xp: Namespace) -> tuple[Array, dict[str, Any]]:
        target, classes = encode_labels(y, X, xp, estimator=type(self).__name__)
        return target, {"classes_": classes}

    def _class_weighted(
        self, weights: Array | None, target: Array, attributes: dict[str, Any], X: Array, xp: Any
    ) -> Array | None:
        """Multiply the class weights into the sample weights (on X's device)."""
        cw = self.class_weight
        if cw is None:
            return weights
        onehot = target if target.ndim == 2 else xp.stack([1.0 - target, target], axis=1)
        classes = attributes["classes_"]
        labels = classes if isinstance(classes, np.ndarray) else to_numpy(classes)
        if cw == "balanced":
            # n / (K n_k) from the unweighted counts (scikit-learn's rule); one small sync.
            (counts,) = materialize(xp.sum(onehot, axis=0), xp=xp)
            counts = to_numpy(counts).astype(np.float64)
            per_class = counts.sum() / (len(labels) * counts)
        else:
            known = {_label_key(v) for v in labels.tolist()}
            unknown = [k for k in cw if _label_key(k) not in known]
            if unknown:
                raise InputError(
                    f"class_weight has labels {unknown} that are not in y (classes "
                    f"{labels.tolist()}); use the labels of y as keys"
                )
            table = {_label_key(k): float(v) for k, v in cw.items()}
            per_class = np.array([table.get(_label_key(v), 1.0) for v in labels.tolist()])
        table = xp.astype(follow(per_class.astype(np.float64), X, xp, what="class_weight"), X.dtype)
        per_sample = onehot @ table
        weighted = per_sample if weights is None else weights * per_sample
        (total,) = materialize(xp.sum(weighted), xp=xp)
        if not float(total) > 0:
            raise InputError(
                "class_weight and sample_weight together give every sample zero weight; "
                "give at least one class a positive weight"
            )
        return weighted

    def _theta_to_attributes(self, theta: Array, xp: Namespace) -> dict[str, Any]:
        intercept, coef = self._intercept_and_coef(theta, xp)
        if coef.ndim == 1:  # binary: one row, scikit-learn's shape
            return {
                "coef_": xp.reshape(coef, (1, coef.shape[0])),
                "intercept_": xp.reshape(intercept, (1,)),
            }
        return {"coef_": xp.matrix_transpose(coef), "intercept_": intercept}

    def decision_function(self, X: Any) -> Array:
        """Scores: ``X @ coef_[0] + intercept_[0]`` for two classes (positive means
        ``classes_[1]``), else one column per class.

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_classes)
        """
        X, xp = self._validated_X(X, "decision_function")
        return self._decision(X, xp)

    def _decision(self, X: Array, xp: Namespace) -> Array:
        z = self._linear_predictor(X, xp)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, columns in the order of ``classes_``.

        Returns
        -------
        array of shape (n_samples, n_classes)
        """
        X, xp = self._validated_X(X, "predict_proba")
        z = self._decision(X, xp)
        if z.ndim == 2:
            return softmax(z, xp=xp)
        p = sigmoid(z, xp=xp)
        return xp.stack([1.0 - p, p], axis=1)

    def predict_log_proba(self, X: Any) -> Array:
        """Logarithm of :meth:`predict_proba`, computed without overflow.

        Returns
        -------
        array of shape (n_samples, n_classes)
        """
        X, xp = self._validated_X(X, "predict_log_proba")
        z = self._decision(X, xp)
        if z.ndim == 1:  # two classes: scores (0, z)
            z = xp.stack([xp.zeros_like(z), z], axis=1)
        return log_softmax(z, xp=xp)

    def predict(self, X: Any) -> Array:
        """Predicted class labels.

        Numeric labels are returned in X's namespace and device. Labels of other types
        (strings, objects) exist only on the host: the class indices are then fetched
        once (an explicit transfer) and the labels returned as a NumPy array.

        Returns
        -------
        array of shape (n_samples,)
        """
        X, xp = self._validated_X(X, "predict")
        return self._labels(X, xp)

    def _labels(self, X: Array, xp: Namespace) -> Array:
        z = self._decision(X, xp)
        index = xp.astype(z > 0, xp.int64) if z.ndim == 1 else xp.argmax(z, axis=1)
        classes = self.classes_
        if is_lazy(xp):  # labels looked up chunk by chunk, lazily
            table = classes if isinstance(classes, np.ndarray) else to_numpy(classes)
            lookup = functools.partial(_chunk_labels, table=table)
            return index.map_blocks(lookup, dtype=table.dtype, meta=lookup(index._meta))
        if isinstance(classes, np.ndarray) and classes.dtype.kind not in "biuf":
            return classes[to_numpy(index).astype(np.intp)]
        classes = self._fitted(classes, X, xp, "classes_")
        return xp.take(classes, index, axis=0)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on ``(X, y)`` (weighted by ``sample_weight``).

        Returns
        -------
        float
        """
        X, xp = self._validated_X(X, "score")
        if y is None:
            raise InputError("score needs the true labels y, got None")
        if (len(y) if is_host_input(y) else y.shape[0]) != X.shape[0]:
            n_y = len(y) if is_host_input(y) else y.shape[0]
            raise InputError(f"y has {n_y} rows but X has {X.shape[0]}; pass one label per row")
        pred = self._labels(X, xp)
        if isinstance(pred, np.ndarray) and not isinstance(X, np.ndarray):
            # Host labels (strings) predicted from device data: compare on the host.
            hits = pred == (host_array(y) if is_host_input(y) else to_numpy(y)).reshape(-1)
            w = None if sample_weight is None else to_numpy(sample_weight)
            return float(np.average(hits, weights=w))
        y = follow(y, X, xp, what="y")
        hits = xp.astype(pred == xp.reshape(y, pred.shape), X.dtype)
        weights = check_sample_weight(sample_weight, X, xp)
        if weights is None:
            (value,) = materialize(xp.mean(hits), xp=xp)
        else:
            (value,) = materialize(xp.sum(weights * hits) / xp.sum(weights), xp=xp)
        return float(value)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=True)
        return tags


def _fill_shared_parameters(cls: type) -> None:
    """Put the shared parameter descriptions where ``%(shared)s`` stands, at its indent."""
    doc = cls.__doc__ or ""
    line = next(text for text in doc.splitlines() if text.strip() == "%(shared)s")
    indent = line[: len(line) - len(line.lstrip())]
    shared = textwrap.indent(textwrap.dedent(_SHARED_PARAMETERS), indent)
    cls.__doc__ = doc.replace(line, shared.rstrip("\n"))


_fill_shared_parameters(LinearRegression)
_fill_shared_parameters(LogisticRegression)
