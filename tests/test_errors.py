"""The catalogue of bad inputs: each gives one xpgd exception, of a built-in type users
already catch, whose message names the offending thing; a failed fit leaves a fitted
model exactly as it was; nothing fails from inside the math or returns NaN.

Runs on every backend: data cases put the bad data on the backend under test; host-only
cases (strings, complex, sparse) pass host data with ``backend=`` naming it.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest
from conftest import make_classification, make_regression

import xpgd

LIN, LOG = xpgd.LinearRegression, xpgd.LogisticRegression


def _data(rng):
    X, y = make_regression(rng, n=40, p=3)
    Xc, yc = make_classification(rng, n=40, p=3)
    return X, y, Xc, yc


def _with(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


# (id, model class, hyperparameters, data builder -> (X, y, sample_weight) on the host,
#  exception type, message pattern, whether the bad data go through the backend)
CASES = [
    (
        "nan-X",
        LIN,
        {},
        lambda X, y, Xc, yc: (_with(X, (3, 1), np.nan), y, None),
        xpgd.InputError,
        r"X has 1 NaN .*row 3, column 1",
    ),
    (
        "inf-X",
        LOG,
        {},
        lambda X, y, Xc, yc: (_with(Xc, (0, 0), np.inf), yc, None),
        xpgd.InputError,
        r"X has 0 NaN and 1 infinite",
    ),
    (
        "nan-y",
        LIN,
        {},
        lambda X, y, Xc, yc: (X, _with(y, 5, np.nan), None),
        xpgd.InputError,
        r"y has 1 NaN",
    ),
    (
        "inf-weight",
        LIN,
        {},
        lambda X, y, Xc, yc: (X, y, _with(np.ones(40), 2, np.inf)),
        xpgd.InputError,
        r"sample_weight has 0 NaN and 1 infinite",
    ),
    (
        "negative-weight",
        LIN,
        {},
        lambda X, y, Xc, yc: (X, y, _with(np.ones(40), 2, -1.0)),
        xpgd.InputError,
        r"sample_weight has negative values",
    ),
    (
        "zero-weights",
        LOG,
        {},
        lambda X, y, Xc, yc: (Xc, yc, np.zeros(40)),
        xpgd.InputError,
        r"sample_weight sums to zero",
    ),
    (
        "weight-length",
        LIN,
        {},
        lambda X, y, Xc, yc: (X, y, np.ones(39)),
        xpgd.InputError,
        r"sample_weight.shape == \(39,\), expected \(40,\)",
    ),
    (
        "X-1d",
        LIN,
        {},
        lambda X, y, Xc, yc: (X[:, 0], y, None),
        xpgd.InputError,
        r"X must be 2-D .*got shape \(40,\)",
    ),
    (
        "X-3d",
        LIN,
        {},
        lambda X, y, Xc, yc: (X[:, :, None], y, None),
        xpgd.InputError,
        r"X must be 2-D .*got shape \(40, 3, 1\)",
    ),
    (
        "y-length",
        LIN,
        {},
        lambda X, y, Xc, yc: (X, y[:39], None),
        xpgd.InputError,
        r"y has 39 rows but X has 40",
    ),
    (
        "zero-rows",
        LIN,
        {},
        lambda X, y, Xc, yc: (X[:0], y[:0], None),
        xpgd.InputError,
        r"0 sample\(s\) \(shape=\(0, 3\)\)",
    ),
    (
        "zero-features",
        LIN,
        {},
        lambda X, y, Xc, yc: (X[:, :0], y, None),
        xpgd.InputError,
        r"0 feature\(s\) \(shape=\(40, 0\)\)",
    ),
    (
        "single-class",
        LOG,
        {},
        lambda X, y, Xc, yc: (Xc, np.ones(40, dtype=np.int64), None),
        xpgd.InputError,
        r"y has only 1 class \(1\)",
    ),
    (
        "class-weight-unknown-label",
        LOG,
        {"class_weight": {0: 1.0, 7: 2.0}},
        lambda X, y, Xc, yc: (Xc, yc, None),
        xpgd.InputError,
        r"class_weight has labels \[7\] that are not in y",
    ),
    (
        "class-weight-all-zero",
        LOG,
        {"class_weight": {0: 0.0, 1: 0.0}},
        lambda X, y, Xc, yc: (Xc, yc, None),
        xpgd.InputError,
        r"every sample zero weight",
    ),
    (
        "l1-with-lbfgs",
        LOG,
        {"penalty": "l1", "solver": "lbfgs"},
        None,
        xpgd.InvalidParameterError,
        r"solver='lbfgs' is invalid; it cannot handle penalty='l1'.*'nesterov'",
    ),
    ("l1-ratio", LIN, {"l1_ratio": 1.5}, None, xpgd.InvalidParameterError, r"l1_ratio=1.5"),
    ("class-weight", LOG, {"class_weight": "even"}, None, xpgd.InvalidParameterError, "'even'"),
    ("batch-size", LIN, {"batch_size": 0}, None, xpgd.InvalidParameterError, r"batch_size=0"),
    ("schedule", LIN, {"schedule": "step"}, None, xpgd.InvalidParameterError, r"schedule='step'"),
    ("seed", LIN, {"random_state": "x"}, None, xpgd.InvalidParameterError, r"random_state='x'"),
    (
        "continuous-labels",
        LOG,
        {},
        lambda X, y, Xc, yc: (Xc, y, None),
        xpgd.InputError,
        r"Unknown label type: continuous",
    ),
    (
        "labels-2d",
        LOG,
        {},
        lambda X, y, Xc, yc: (Xc, np.c_[yc, yc], None),
        xpgd.InputError,
        r"y must be 1-D .*\(40, 2\)",
    ),
    ("alpha", LIN, {"alpha": -1.0}, None, xpgd.InvalidParameterError, r"alpha=-1.0 is invalid"),
    ("tol", LIN, {"tol": -1e-3}, None, xpgd.InvalidParameterError, r"tol=-0.001 is invalid"),
    ("max-iter", LOG, {"max_iter": 0}, None, xpgd.InvalidParameterError, r"max_iter=0"),
    ("solver", LIN, {"solver": "bfgs"}, None, xpgd.InvalidParameterError, r"solver='bfgs'"),
    ("penalty", LOG, {"penalty": "l3"}, None, xpgd.InvalidParameterError, r"penalty='l3'"),
    (
        "learning-rate",
        LIN,
        {"learning_rate": "fast"},
        None,
        xpgd.InvalidParameterError,
        r"learning_rate='fast'",
    ),
    ("check-every", LIN, {"check_every": 0}, None, xpgd.InvalidParameterError, r"check_every=0"),
    (
        "fit-intercept",
        LIN,
        {"fit_intercept": "yes"},
        None,
        xpgd.InvalidParameterError,
        r"fit_intercept='yes'",
    ),
    (
        "unknown-backend",
        LIN,
        {"backend": "tensorflow"},
        None,
        xpgd.BackendError,
        r"unknown backend 'tensorflow'.*available backends: auto, numpy",
    ),
    (
        "diverging-rate",
        LIN,
        {"learning_rate": 50.0, "solver": "gd"},
        None,
        xpgd.DivergenceError,
        r"diverged.*by iteration \d+.*learning_rate <= [0-9.]+",
    ),
]

HOST_CASES = [
    (
        "complex-X",
        LIN,
        lambda X, y, Xc, yc: (X + 1j, y, None),
        xpgd.InputError,
        r"Complex data not supported: X has dtype complex128",
    ),
    (
        "string-X",
        LIN,
        lambda X, y, Xc, yc: (np.array([["a", "b", "c"]] * 40), y, None),
        xpgd.InputTypeError,
        r"X contains non-numeric values",
    ),
    (
        "mixed-labels",
        LOG,
        lambda X, y, Xc, yc: (Xc, np.array(["a", 1] * 20, dtype=object), None),
        xpgd.InputError,
        r"y mixes label types \['number', 'str'\]",
    ),
    ("X-none", LIN, lambda X, y, Xc, yc: (None, y, None), xpgd.InputError, r"X is None"),
    (
        "y-none",
        LIN,
        lambda X, y, Xc, yc: (X, None, None),
        xpgd.InputError,
        r"requires y to be passed",
    ),
    (
        "sparse-X",
        LIN,
        lambda X, y, Xc, yc: (__import__("scipy.sparse").sparse.csr_matrix(X), y, None),
        xpgd.InputError,
        r"X is a sparse matrix.*toarray",
    ),
]


def _assert_clean(excinfo, match):
    assert excinfo.match(match)
    frames = [f.filename for f in traceback.extract_tb(excinfo.tb)]
    inner = frames[-1].replace("\\", "/")
    assert not any(
        inner.endswith(f"_core/{m}") for m in ("losses.py", "objective.py", "optim.py")
    ), inner


def _fitted_copy(cls, backend, X, y):
    model = cls(max_iter=50, tol=None).fit(backend.asarray(X), backend.asarray(y))
    return model, xpgd.to_numpy(model.coef_).copy()


@pytest.mark.parametrize(
    ("name", "cls", "params", "build", "exc", "match"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_catalogue(backend, rng, name, cls, params, build, exc, match):
    X, y, Xc, yc = _data(rng)
    good_X, good_y = (X, y) if cls is LIN else (Xc, yc)
    model, coef = _fitted_copy(cls, backend, good_X, good_y)
    bad_X, bad_y, weights = build(X, y, Xc, yc) if build else (good_X, good_y, None)
    model.set_params(**params)
    with pytest.raises(exc) as excinfo:
        model.fit(
            backend.asarray(bad_X),
            backend.asarray(bad_y),
            sample_weight=None if weights is None else backend.asarray(weights),
        )
    _assert_clean(excinfo, match)
    assert isinstance(excinfo.value, ValueError | TypeError | FloatingPointError)
    # The failed fit changed nothing.
    after = xpgd.to_numpy(model.coef_)
    np.testing.assert_array_equal(after, coef)
    assert np.all(np.isfinite(after))


@pytest.mark.parametrize(
    ("name", "cls", "build", "exc", "match"), HOST_CASES, ids=[c[0] for c in HOST_CASES]
)
def test_bad_host_input_catalogue(backend, rng, name, cls, build, exc, match):
    X, y, Xc, yc = _data(rng)
    bad_X, bad_y, weights = build(X, y, Xc, yc)
    model = cls(backend=backend.name, device=None if backend.name == "dask" else backend.device)
    with pytest.raises(exc) as excinfo:
        model.fit(bad_X, bad_y, sample_weight=weights)
    _assert_clean(excinfo, match)


def test_predict_errors(backend, rng):
    X, y, _, _ = _data(rng)
    with pytest.raises(xpgd.NotFittedError, match="not fitted yet"):
        LIN().predict(backend.asarray(X))
    model = LIN().fit(backend.asarray(X), backend.asarray(y))
    with pytest.raises(
        xpgd.InputError, match="X has 2 features, but LinearRegression is expecting 3"
    ):
        model.predict(backend.asarray(X[:, :2]))
    with pytest.raises(xpgd.InputError, match="X has 1 NaN"):
        model.predict(backend.asarray(_with(X, (0, 0), np.nan)))


def test_backend_not_installed_or_gpu_absent(rng):
    X, y, _, _ = _data(rng)
    info = xpgd.available_backends(include_unavailable=True)
    if not info["cupy"].available:
        with pytest.raises(xpgd.BackendError, match=r"backend 'cupy' .*not usable here"):
            LIN(backend="cupy").fit(X, y)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(xpgd.BackendError, match=r"asks for a GPU but torch sees no CUDA"):
            LIN(backend="torch", device="cuda").fit(X, y)


def test_array_of_another_library_is_refused_for_a_named_backend(backend, rng):
    if backend.name == "numpy":
        pytest.skip("NumPy arrays are host input: a named backend moves them by design")
    X, y, _, _ = _data(rng)
    with pytest.raises(
        xpgd.BackendError, match=f"X is a {backend.name} array but the backend in effect is 'numpy'"
    ):
        LIN(backend="numpy").fit(backend.asarray(X), y)


def test_out_of_memory_is_reported_with_the_way_out(monkeypatch, rng):
    import xpgd.linear_model as lm

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.45 GiB")

    monkeypatch.setattr(lm, "minimize", exhausted)
    X, y, _, _ = _data(rng)
    with pytest.raises(
        xpgd.OutOfMemoryError,
        match=r"out of memory fitting X of 40 x 3 "
        r"float64.*float32.*Dask array",
    ):
        LIN().fit(X, y)


def test_separable_classes_without_penalty_warn_and_stay_finite(backend):
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    with pytest.warns(
        xpgd.SeparationWarning, match="perfectly separable.*optimum lies at infinity.*penalty='l2'"
    ):
        model = LOG(penalty=None, max_iter=300).fit(
            backend.asarray(X), backend.asarray([0, 0, 1, 1])
        )
    assert np.all(np.isfinite(xpgd.to_numpy(model.coef_)))
    with pytest.warns(xpgd.ConvergenceWarning):  # SeparationWarning is one
        LOG(penalty=None, max_iter=300).fit(X, [0, 0, 1, 1])
