"""Property tests (hypothesis) on every backend, reproducibility, pickling, and a fuzz test
of the CSV pipeline behind ``xpgd fit``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import xpgd
from xpgd.cli import main
from xpgd.testing import assert_close

# The backend fixture is stateless, so sharing it across hypothesis examples is safe.
PROPERTY = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

problems = st.tuples(st.integers(0, 2**32 - 1), st.integers(12, 60), st.integers(1, 5))


def _problem(seed, n, p, kind="linear"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p) + rng.normal(size=p)
    w = rng.normal(size=p)
    if kind == "linear":
        return X, X @ w + rng.normal() + 0.1 * rng.normal(size=n)
    y = (X @ w + rng.normal(size=n) > np.median(X @ w)).astype(np.int64)
    y[:2] = [0, 1]
    return X, y


def _fit(cls, backend, X, y, sample_weight=None, **params):
    params = {"tol": 1e-11, "max_iter": 100_000, "penalty": "l2", "alpha": 0.05, **params}
    sw = None if sample_weight is None else backend.asarray(sample_weight)
    return cls(**params).fit(backend.asarray(X), backend.asarray(y), sample_weight=sw)


def _coef(model):
    return np.r_[np.ravel(xpgd.to_numpy(model.intercept_)), np.ravel(xpgd.to_numpy(model.coef_))]


@PROPERTY
@given(problems, st.sampled_from(["linear", "logistic"]))
def test_permuting_rows_leaves_the_optimum_unchanged(backend, problem, kind):
    X, y = _problem(*problem, kind)
    cls = xpgd.LinearRegression if kind == "linear" else xpgd.LogisticRegression
    order = np.random.default_rng(problem[0]).permutation(len(y))
    a, b = _fit(cls, backend, X, y), _fit(cls, backend, X[order], y[order])
    np.testing.assert_allclose(_coef(a), _coef(b), rtol=1e-7, atol=1e-9)


@PROPERTY
@given(problems, st.sampled_from(["linear", "logistic"]))
def test_duplicating_rows_equals_weight_two(backend, problem, kind):
    X, y = _problem(*problem, kind)
    cls = xpgd.LinearRegression if kind == "linear" else xpgd.LogisticRegression
    twice = np.zeros(len(y), dtype=bool)
    twice[: len(y) // 3] = True
    weights = np.where(twice, 2.0, 1.0)
    dup = np.r_[np.arange(len(y)), np.flatnonzero(twice)]
    a = _fit(cls, backend, X, y, sample_weight=weights)
    b = _fit(cls, backend, X[dup], y[dup])
    np.testing.assert_allclose(_coef(a), _coef(b), rtol=1e-7, atol=1e-9)


@PROPERTY
@given(problems, st.floats(0.01, 100.0))
def test_scaling_y_scales_linear_coefficients(backend, problem, scale):
    X, y = _problem(*problem)
    a = _fit(xpgd.LinearRegression, backend, X, y, penalty=None)
    b = _fit(xpgd.LinearRegression, backend, X, scale * y, penalty=None, tol=1e-11 * scale)
    np.testing.assert_allclose(_coef(b), scale * _coef(a), rtol=1e-7, atol=1e-9 * scale)


@PROPERTY
@given(problems)
def test_predictions_do_not_depend_on_the_backend(backend, problem):
    X, y = _problem(*problem, "logistic")
    ours = _fit(xpgd.LogisticRegression, backend, X, y, tol=None, max_iter=200)
    ref = xpgd.LogisticRegression(tol=None, max_iter=200, penalty="l2", alpha=0.05).fit(X, y)
    assert_close(
        ours.predict_proba(backend.asarray(X)),
        ref.predict_proba(X),
        xp=backend.xp,
        device=backend.device,
    )


def test_same_fit_twice_is_bit_identical(backend, rng):
    X, y = _problem(7, 200, 4, "logistic")
    a = xpgd.LogisticRegression().fit(backend.asarray(X), backend.asarray(y))
    b = xpgd.LogisticRegression().fit(backend.asarray(X), backend.asarray(y))
    np.testing.assert_array_equal(_coef(a), _coef(b))
    np.testing.assert_array_equal(xpgd.to_numpy(a.loss_history_), xpgd.to_numpy(b.loss_history_))


def test_pickled_estimator_predicts_the_same(backend):
    X, y = _problem(3, 50, 3)
    model = xpgd.LinearRegression().fit(backend.asarray(X), backend.asarray(y))
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        xpgd.to_numpy(clone.predict(backend.asarray(X))),
        xpgd.to_numpy(model.predict(backend.asarray(X))),
    )


# ----------------------------------------------------------------------------- CSV fuzz

cells = st.one_of(
    st.just(""),
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["a", "b", "NaN", "inf", "x,y", '"q"', "é", "\t"]),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=4), min_size=0, max_size=8)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows, st.booleans(), st.sampled_from(["utf-8", "latin-1", "utf-16"]))
# found by this test: a value whose square overflows made pandas' std warn, which the
# suite's warnings-as-errors turned into an internal error
@example(
    [["", "0", "", "0"], ["", "1.8961503816218355e+154", "", "1"], ["", "", "", "0"]], True, "utf-8"
)
def test_malformed_csv_gives_one_clear_line_or_a_fit(
    tmp_path_factory, capsys, table, with_header, encoding
):
    folder = tmp_path_factory.mktemp("fuzz")
    lines = (["x1,x2,y"] if with_header else []) + [",".join(r) for r in table]
    (folder / "data.csv").write_bytes("\n".join(lines).encode(encoding, errors="replace"))
    code = main(
        [
            "fit",
            str(folder / "data.csv"),
            "--target",
            "y",
            "--out",
            str(folder),
            "--max-iter",
            "20",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code in (0, 2)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("xpgd: error: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"x1,x2,y\n1,2,3\n4,5,6,7,8\n", "cannot parse"),  # ragged: too many fields
        (b"x1,x2,y\n1,2\n3,4,5\n6,7,8\n", "1 blank values"),  # ragged: too few fields
        (b"x1,x2,y\n1,2,\n3,4,\n", "has no values"),  # a target column of blanks
        (b"", "is empty"),
        (b"x1,x2,y\n", "has a header but no data rows"),
        (b"x1,x2,y\n1,\xff\xfe,2\n3,4,5\n", "cannot parse"),  # not UTF-8
    ],
)
def test_malformed_csv_cases(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["fit", str(path), "--target", "y", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
