"""GPU checks: the same fits on a CUDA device as on NumPy float64.

They run only where CuPy (or torch) sees a CUDA device, and otherwise skip with the
reason. The backend-parametrized tests in the other files also run on every GPU case
(``cupy-cuda0``, ``torch-cuda:0``) when one is present.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_classification, make_regression

import xpgd
from xpgd.testing import assert_close


def _cupy_case():
    info = xpgd.available_backends(include_unavailable=True)["cupy"]
    if not info.available:
        pytest.skip(f"no GPU test: CuPy is not usable here ({info.reason})")
    import cupy

    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_fit_matches_numpy_and_stays_on_device(dtype, rng):
    cupy = _cupy_case()
    X, y = make_classification(rng, n=5000, p=20)
    ref = xpgd.LogisticRegression(alpha=1e-3, tol=None, max_iter=200).fit(X, y)
    model = xpgd.LogisticRegression(alpha=1e-3, tol=None, max_iter=200)
    model.fit(cupy.asarray(X, dtype=dtype), cupy.asarray(y))
    assert isinstance(model.coef_, cupy.ndarray)
    assert isinstance(model.loss_history_, cupy.ndarray)
    assert_close(
        model.coef_,
        ref.coef_,
        xp=xpgd._backend.namespace("cupy"),
        dtype=getattr(cupy, dtype),
    )


@pytest.mark.gpu
def test_cupy_named_backend_moves_host_data_once(rng):
    cupy = _cupy_case()
    X, y = make_regression(rng, n=2000, p=10)
    model = xpgd.LinearRegression(backend="cupy", tol=1e-10, max_iter=5000).fit(X, y)
    exact = np.linalg.lstsq(np.c_[np.ones(len(y)), X], y, rcond=None)[0]
    assert isinstance(model.predict(X), cupy.ndarray)
    np.testing.assert_allclose(xpgd.to_numpy(model.coef_), exact[1:], rtol=1e-8)
