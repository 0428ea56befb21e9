"""Edge cases of the solvers found in review: each test failed before its fix.

(The table-driven convergence tests are in ``test_solvers.py``.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpgd
from xpgd.testing import dtype_name


def _wide(rng: np.random.Generator, n: int = 2000, p: int = 50) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(size=(n, p))
    return X, X @ rng.normal(size=p) + 0.5 * rng.normal(size=n)


def test_sgd_auto_step_accounts_for_small_batches(rng):
    # The full-data 1/L is far too long a step for 16-row batches of 50 columns: the loss
    # used to climb to 1e198 and the fit still counted as converged.
    X, y = _wide(rng)
    model = xpgd.LinearRegression(solver="sgd", batch_size=16, random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpgd.ConvergenceWarning)
        model.fit(X, y)
    history = xpgd.to_numpy(model.loss_history_)
    assert np.all(np.isfinite(history)) and history[-1] < 0.1 * history[0]
    assert model.score(X, y) > 0.95


def test_a_growing_stochastic_loss_raises_with_the_epoch(rng):
    X, y = _wide(rng, p=20)
    model = xpgd.LinearRegression(solver="sgd", batch_size=8, learning_rate=5.0, random_state=0)
    with pytest.raises(xpgd.DivergenceError, match=r"by epoch \d+ .*lower learning_rate"):
        model.fit(X, y)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_batches_of_zero_weight_rows_stay_finite(solver, rng):
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    weights = np.r_[np.zeros(50), np.ones(50)]
    model = xpgd.LinearRegression(
        solver=solver, batch_size=1, random_state=0, max_iter=30, learning_rate=0.01
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpgd.ConvergenceWarning)
        model.fit(X, y, sample_weight=weights)
    assert np.all(np.isfinite(model.coef_))


def test_early_stopping_keeps_rows_on_both_sides():
    X = np.arange(20.0).reshape(10, 2)
    y = X[:, 0] - X[:, 1]
    model = xpgd.LinearRegression(
        solver="sgd", early_stopping=True, validation_fraction=0.96, max_iter=3, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpgd.ConvergenceWarning)
        model.fit(X, y)  # 9 rows held out, 1 trained on
    with pytest.raises(xpgd.InputError, match=r"only 1; pass more rows or set early_stopping"):
        model.fit(X[:1], y[:1])


def test_early_stopping_needs_a_stochastic_solver():
    with pytest.raises(xpgd.InvalidParameterError, match=r"early_stopping=True is invalid.*sgd"):
        xpgd.LogisticRegression(solver="lbfgs", early_stopping=True).fit([[0.0], [1.0]], [0, 1])


@pytest.mark.parametrize("class_weight", ["balanced", {0: 2.0}])
def test_class_weight_keeps_the_dtype(backend, dtype, class_weight, rng):
    # A float64 table of class weights times a float32 one-hot matrix failed on torch.
    X = rng.normal(size=(60, 3))
    y = np.arange(60) % 3
    model = xpgd.LogisticRegression(class_weight=class_weight)
    model.fit(backend.asarray(X, dtype), backend.asarray(y))
    assert dtype_name(model.coef_.dtype) == dtype_name(dtype)


def test_warm_start_near_a_perfect_fit_is_not_divergence(rng):
    # Rounding moved a 7e-11 loss to 8e-11, which the old 0.1% growth rule called divergence.
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 3.0])).astype(np.float32)
    model = xpgd.LinearRegression(solver="lbfgs", tol=1e-7, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpgd.ConvergenceWarning)
        model.fit(X, y)
        model.set_params(solver="gd", learning_rate=0.5).fit(X, y)
    np.testing.assert_allclose(model.coef_, [1.0, -2.0, 0.5, 3.0], rtol=1e-4)


def test_a_tiny_fixed_step_is_not_called_a_stalled_line_search(rng):
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    with pytest.warns(xpgd.ConvergenceWarning, match=r"max_iter=50 .*learning_rate='auto'"):
        xpgd.LinearRegression(solver="gd", learning_rate=1e-9, max_iter=50).fit(X, y)


def test_normal_equations_report_to_the_callback(rng):
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.1 * rng.normal(size=100)
    calls = []
    model = xpgd.LinearRegression(solver="normal").fit(
        X, y, callback=lambda *args: calls.append(args)
    )
    assert [c[0] for c in calls] == list(range(1, model.n_iter_ + 1))
    assert calls[-1][1] == pytest.approx(float(model.loss_history_[-1]))


def test_normal_equations_take_one_pass_before_the_check(monkeypatch, rng):
    # The loss and gradient at the start come from the moments: the only evaluation over
    # X is the check after the solve.
    from xpgd._core.objective import LinearObjective

    evaluations = []
    real = LinearObjective.value_and_grad
    monkeypatch.setattr(
        LinearObjective,
        "value_and_grad",
        lambda self, theta: evaluations.append(1) or real(self, theta),
    )
    X = rng.normal(size=(100, 3))
    model = xpgd.LinearRegression(solver="normal").fit(X, X @ np.array([1.0, 2.0, 3.0]))
    assert model.n_iter_ == 1 and len(evaluations) == 1
    loss0 = float(np.mean((X @ np.array([1.0, 2.0, 3.0])) ** 2) / 2)
    assert float(model.loss_history_[0]) == pytest.approx(loss0, rel=1e-12)


def test_triangular_solve_of_a_singular_factor_gives_nan_not_an_error(backend):
    """A zero on the diagonal of L-BFGS's small triangular factor: torch and CuPy give
    non-finite values (the step then restarts from steepest descent); the host's
    ``linalg.solve`` raised instead, which would have ended the fit."""
    from xpgd._backend import is_lazy, solve_triangular

    if is_lazy(backend.xp):
        pytest.skip("dask: the solvers' small matrices live in the chunks' namespace")
    R = backend.asarray(np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 1.0], [0.0, 0.0, 3.0]]))
    for b in (backend.asarray(np.ones(3)), backend.asarray(np.ones((3, 2)))):
        for upper, A in ((True, R), (False, backend.xp.matrix_transpose(R))):
            out = solve_triangular(A, b, upper=upper, xp=backend.xp)
            assert tuple(out.shape) == tuple(b.shape)
            assert not np.all(np.isfinite(xpgd.to_numpy(out)))
