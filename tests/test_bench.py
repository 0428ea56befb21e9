"""The benchmark runs end to end on small data (it measures; it asserts no time)."""

from __future__ import annotations

import numpy as np

from xpgd._backend import _numba_kernels
from xpgd.bench import make_ar1
from xpgd.cli import main


def test_ar1_data_have_the_requested_correlation():
    X, y_class, y_real = make_ar1(20_000, 4, rho=0.9, seed=3)
    corr = np.corrcoef(X, rowvar=False)
    np.testing.assert_allclose(np.diag(corr, 1), 0.9, atol=0.02)
    np.testing.assert_allclose(X.std(axis=0), 1.0, atol=0.03)
    assert set(np.unique(y_class)) == {0.0, 1.0} and y_real.shape == (20_000,)
    again, _, _ = make_ar1(20_000, 4, rho=0.9, seed=3)
    np.testing.assert_array_equal(X, again)


def test_bench_command_prints_the_table(capsys):
    assert main(["bench", "--rows", "3000", "--features", "5", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    for line in (
        "floor: one read of X",
        "ours: one squared iteration",
        "ours: one logistic iteration",
        "peak extra memory",
        "peer: NumPy normal equations",
        "peer: scikit-learn LogisticRegression lbfgs",
        "peer: scikit-learn SGDClassifier",
        "peer: scikit-learn Ridge",
    ):
        assert line in out, line
    compiled_floor = "floor: one read of X (compiled sum, every core)"
    assert (compiled_floor in out) == (_numba_kernels() is not None)
