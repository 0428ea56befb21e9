"""Test configuration: the backend machinery comes from the public ``xpgd.testing`` plugin.

Every test that takes ``xp`` / ``device`` / ``backend`` runs on every importable backend
(numpy, array_api_strict on its default device and on device1, torch CPU, dask, and CuPy
or torch CUDA when a GPU is present); ``XPGD_TEST_BACKENDS='["numpy", "dask"]'`` narrows
the run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import xpgd._backend

# scikit-learn runs its array-API estimator checks (fit on array_api_strict / torch, mixed
# namespaces) only when SciPy's array API mode is on; it must be set before SciPy loads.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

pytest_plugins = ["xpgd.testing"]


@pytest.fixture(autouse=True)
def _fresh_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the default backend choice ("auto", no env override)."""
    monkeypatch.delenv(xpgd._backend.ENV_VAR, raising=False)
    monkeypatch.setattr(xpgd._backend, "_global_choice", None)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def make_regression(rng: np.random.Generator, n: int = 200, p: int = 5, noise: float = 0.1):
    """A well-conditioned regression problem (independent standard normal features)."""
    X = rng.normal(size=(n, p))
    w = rng.normal(size=p)
    y = X @ w + 0.7 + noise * rng.normal(size=n)
    return X, y


def make_classification(rng: np.random.Generator, n: int = 200, p: int = 5):
    """A noisy (not separable) binary problem with 0/1 labels."""
    X = rng.normal(size=(n, p))
    w = rng.normal(size=p)
    y = (X @ w + 0.3 + rng.normal(size=n) > 0).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def cluster_client():
    """A client of a LocalCluster of two worker processes (one thread, 1 GiB each), shared
    by a test module."""
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed: pip install 'xpgd[distributed]'"
    )
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="1GiB",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
