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


# --------------------------------------------------------------------------- Dask + CuPy


def _dask_cupy_case():
    cupy = _cupy_case()
    pytest.importorskip("dask", reason="Dask is not installed: pip install 'xpgd[dask]'")
    return cupy


def _data(kind, backend, device=None):
    from xpgd.datasets import make_classification as classification
    from xpgd.datasets import make_regression as regression

    chunks = {"chunks": 1_500} if backend == "dask" else {}
    if kind == "linear":
        X, y, _ = regression(
            6_000, 5, rho=0.7, random_state=11, backend=backend, device=device, **chunks
        )
    else:
        classes = 3 if kind == "multinomial" else 2
        X, y, _ = classification(
            6_000,
            5,
            n_classes=classes,
            rho=0.7,
            random_state=11,
            backend=backend,
            device=device,
            **chunks,
        )
    return X, y


@pytest.mark.gpu
@pytest.mark.parametrize("solver", ["gd", "momentum", "nesterov", "lbfgs", "normal"])
@pytest.mark.parametrize("kind", ["linear", "logistic", "multinomial"])
def test_dask_with_cupy_chunks_follows_cupy_and_numpy_step_by_step(solver, kind):
    # The same 60 iterations as on CuPy without Dask: the runs differ only in the order
    # of the partial sums (chunks there, all rows here), so the iterates agree to
    # rounding, as Dask's NumPy chunks agree with NumPy (test_distributed.py). Against
    # NumPy on the CPU every operation also rounds differently (FMA contraction, cuBLAS's
    # blocked sums), and 60 steps amplify that: 1e-8. Rounding perturbs every component
    # alike, so the errors are measured against the largest coefficient (norm-wise).
    cupy = _dask_cupy_case()
    if solver == "normal" and kind != "linear":
        pytest.skip("the normal equations are for LinearRegression only")
    cls = xpgd.LinearRegression if kind == "linear" else xpgd.LogisticRegression
    params = {"solver": solver, "penalty": "l2"}
    params |= {"tol": 1e-10} if solver == "normal" else {"tol": None, "max_iter": 60}
    X, y = _data(kind, "numpy")
    Xd, yd = _data(kind, "dask", "cuda:0")
    assert isinstance(Xd._meta, cupy.ndarray) and isinstance(yd._meta, cupy.ndarray)
    ours = cls(**params).fit(Xd, yd)
    eager = cls(**params).fit(cupy.asarray(X), cupy.asarray(y))
    ref = cls(**params).fit(X, y)
    assert ours.n_iter_ == eager.n_iter_ == ref.n_iter_
    assert isinstance(ours.coef_, cupy.ndarray)  # the parameters live with the chunks
    for other, rtol in ((eager, 1e-10), (ref, 1e-8)):
        want = np.concatenate(
            [np.ravel(xpgd.to_numpy(getattr(other, a))) for a in ("intercept_", "coef_")]
        )
        got = np.concatenate(
            [np.ravel(xpgd.to_numpy(getattr(ours, a))) for a in ("intercept_", "coef_")]
        )
        np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())
    pred = ours.predict(Xd)
    assert isinstance(pred._meta, cupy.ndarray)  # lazy, and on the GPU
    got = pred.compute()
    assert isinstance(got, cupy.ndarray)
    want = eager.predict(cupy.asarray(X)).get()
    if kind == "linear":
        # |x . (w1 - w2)| <= 1e-10 sum_j |x_j w_j|: relative to the largest prediction.
        np.testing.assert_allclose(got.get(), want, atol=1e-10 * np.abs(want).max())
    else:
        np.testing.assert_array_equal(got.get(), want)
    assert ours.score(Xd, yd) == pytest.approx(eager.score(cupy.asarray(X), y), rel=1e-10)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_cupy_chunks_on_a_cluster_are_held_on_the_gpu(kind):
    # On a dask.distributed cluster the CuPy chunks are held by one actor per worker
    # (xpgd._dask._ChunkHolder), called once per iteration with CuPy parameters: the same
    # fit as eager CuPy, to rounding.
    cupy = _dask_cupy_case()
    distributed = pytest.importorskip("distributed", reason="pip install 'xpgd[distributed]'")
    import array_api_compat.cupy as xp_cp
    import array_api_compat.dask.array as xp_da

    from xpgd._core.losses import get_loss
    from xpgd._core.objective import LinearObjective
    from xpgd._dask import ChunkedObjective

    cls = xpgd.LinearRegression if kind == "linear" else xpgd.LogisticRegression
    X, y = _data(kind, "numpy")
    Xd, yd = _data(kind, "dask", "cuda:0")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        family = get_loss("squared" if kind == "linear" else "logistic")
        target = yd.astype(Xd.dtype)
        with ChunkedObjective(LinearObjective(Xd, target, family, xp=xp_da)) as chunked:
            assert len(chunked._holders) == 2
            theta = cupy.linspace(-0.5, 0.5, 6)
            eager_objective = LinearObjective(
                cupy.asarray(X), cupy.asarray(y, dtype=X.dtype), family, xp=xp_cp
            )
            got, want = chunked.value_and_grad(theta), eager_objective.value_and_grad(theta)
            assert isinstance(got[1], cupy.ndarray)  # the gradient stays on the GPU
            for a, b in zip(got, want, strict=True):
                np.testing.assert_allclose(xpgd.to_numpy(a), xpgd.to_numpy(b), rtol=1e-12)
        ours = cls(solver="lbfgs", tol=None, max_iter=40).fit(Xd, yd)
    eager = cls(solver="lbfgs", tol=None, max_iter=40).fit(cupy.asarray(X), cupy.asarray(y))
    assert ours.n_iter_ == eager.n_iter_
    assert isinstance(ours.coef_, cupy.ndarray)
    want, got = xpgd.to_numpy(eager.coef_), xpgd.to_numpy(ours.coef_)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.abs(want).max())


@pytest.mark.gpu
def test_dask_with_cupy_chunks_takes_host_labels_and_strings(rng):
    # Host y follows the GPU chunks (moved once per chunk); string labels are looked up
    # on the host, numeric ones on the device.
    cupy = _dask_cupy_case()
    import dask.array as da

    X, y = make_classification(rng, n=4000, p=6)
    Xd = da.from_array(X, chunks=(1000, -1)).map_blocks(cupy.asarray)
    names = np.array(["no", "yes"])[y]
    model = xpgd.LogisticRegression(tol=1e-10).fit(Xd, names)
    ref = xpgd.LogisticRegression(tol=1e-10).fit(X, names)
    np.testing.assert_allclose(xpgd.to_numpy(model.coef_), ref.coef_, rtol=1e-8, atol=1e-10)
    labels = model.predict(Xd).compute()
    assert isinstance(labels, np.ndarray)
    np.testing.assert_array_equal(labels, ref.predict(X))
    numeric = xpgd.LogisticRegression(tol=1e-10).fit(Xd, y)
    assert isinstance(numeric.predict(Xd).compute(), cupy.ndarray)


@pytest.mark.gpu
def test_npy_file_streams_into_cupy_chunks(tmp_path):
    cupy = _dask_cupy_case()
    from xpgd.datasets import read_npy, save_npy

    X, y = _data("linear", "numpy")
    save_npy(X, tmp_path / "X.npy")
    Xd = read_npy(tmp_path / "X.npy", chunks=1000, device="cuda:0")
    assert isinstance(Xd._meta, cupy.ndarray) and Xd.numblocks[0] == 6
    ours = xpgd.LinearRegression(solver="lbfgs", tol=1e-10).fit(Xd, y)
    exact = np.linalg.lstsq(np.c_[np.ones(len(y)), X], y, rcond=None)[0]
    np.testing.assert_allclose(xpgd.to_numpy(ours.coef_), exact[1:], rtol=1e-7)


def test_a_gpu_device_for_dask_needs_cupy():
    info = xpgd.available_backends(include_unavailable=True)["cupy"]
    if info.available:
        pytest.skip("CuPy is usable here: the error for its absence cannot be shown")
    pytest.importorskip("dask", reason="Dask is not installed: pip install 'xpgd[dask]'")
    with pytest.raises(xpgd.BackendError, match=r"CuPy chunks on a GPU.*device='cpu'"):
        from xpgd.datasets import make_regression as regression

        regression(100, 2, backend="dask", device="cuda:0")


# --------------------------------------------------------------------------- fused kernel


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize(("n", "p"), [(1, 1), (7, 31), (1001, 33), (10_007, 100), (3000, 512)])
def test_fused_kernel_equals_the_plain_path(dtype, loss, weighted, intercept, n, p, rng):
    # The same sums as block_terms (the reference), in another order: float64 to 1e-12,
    # float32 within its rounding over the rows.
    cupy = _cupy_case()
    from xpgd._backend import fused_terms, namespace
    from xpgd._core.losses import get_loss
    from xpgd._core.objective import block_terms

    X = rng.normal(size=(n, p)) + 0.5
    y = (rng.uniform(size=n) < 0.4).astype(float) if loss == "logistic" else rng.normal(size=n)
    sw = rng.uniform(0.2, 3.0, size=n) if weighted else None
    theta = rng.normal(size=p + intercept) / np.sqrt(p)
    Xc, yc, thc = (cupy.asarray(a, dtype=dtype) for a in (X, y, theta))
    swc = None if sw is None else cupy.asarray(sw, dtype=dtype)
    family = get_loss(loss)
    fused = fused_terms(Xc, yc, swc, family, intercept)
    assert fused is not None
    value, grad = fused(thc)
    assert value.dtype == Xc.dtype and grad.dtype == Xc.dtype and grad.shape == thc.shape
    ref_value, ref_grad = block_terms(
        theta, X, y, sw, family=family, fit_intercept=intercept, xp=namespace("numpy")
    )
    rtol = 1e-12 if dtype == "float64" else 1e-5
    scale = float(np.abs(ref_grad).max()) + 1.0
    np.testing.assert_allclose(float(value), ref_value, rtol=rtol)
    np.testing.assert_allclose(grad.get(), ref_grad, rtol=rtol, atol=rtol * scale)


@pytest.mark.gpu
def test_fused_kernel_applies_only_where_it_can(rng):
    cupy = _cupy_case()
    from xpgd._backend import fused_terms
    from xpgd._core.losses import get_loss

    X = cupy.asarray(rng.normal(size=(50, 4)))
    y = cupy.asarray(rng.normal(size=50))
    squared = get_loss("squared")
    assert fused_terms(X, y, None, squared, True) is not None
    wide = cupy.zeros((5, 513))
    assert fused_terms(wide, cupy.zeros(5), None, squared, True) is None  # > MAX_FEATURES
    assert fused_terms(cupy.asfortranarray(X), y, None, squared, True) is None
    assert fused_terms(X, y[:, None] * cupy.ones(3), None, get_loss("multinomial"), True) is None
    assert fused_terms(rng.normal(size=(5, 2)), np.zeros(5), None, squared, True) is None


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_fits_take_the_fused_kernel_and_match_the_plain_path(kind, monkeypatch, rng):
    cupy = _cupy_case()
    import xpgd._cuda

    calls = []
    real = xpgd._cuda.FusedTerms.__call__
    monkeypatch.setattr(
        xpgd._cuda.FusedTerms, "__call__", lambda self, t: calls.append(1) or real(self, t)
    )
    make = make_regression if kind == "linear" else make_classification
    cls = xpgd.LinearRegression if kind == "linear" else xpgd.LogisticRegression
    X, y = make(rng, n=20_000, p=12)
    Xc, yc = cupy.asarray(X), cupy.asarray(y)
    params = {"solver": "lbfgs", "tol": 1e-10, "penalty": "l2", "alpha": 1e-3}
    fused = cls(**params).fit(Xc, yc)
    assert len(calls) >= fused.n_iter_  # every iteration evaluates through the kernel
    monkeypatch.setenv("XPGD_FUSED_KERNELS", "0")
    calls.clear()
    plain = cls(**params).fit(Xc, yc)
    assert calls == []
    np.testing.assert_allclose(fused.coef_.get(), plain.coef_.get(), rtol=1e-9, atol=1e-12)
    # float32 on the fused path: within 1e-4 of the float64 optimum.
    single = cls(**params | {"tol": 1e-5}).fit(Xc.astype(cupy.float32), yc)
    np.testing.assert_allclose(single.coef_.get(), plain.coef_.get(), rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_bench_command_runs_on_the_gpu(capsys):
    """``xpgd bench --backend cupy`` end to end on small data (it measures, asserts no
    time): the copy-bandwidth floor, the kernel against the plain path, the fits and the
    GPU peers, each on the device."""
    _cupy_case()
    from xpgd.cli import main

    assert main(["bench", "--backend", "cupy", "--rows", "4000", "--features", "6"]) == 0
    out = capsys.readouterr().out
    for line in (
        "floor: device copy bandwidth",
        "ours: one squared iteration",
        "plain path (X @ w, then X.T @ d): one logistic iteration",
        "ours: LogisticRegression fit",
        "peak extra memory",
        "peer: CuPy normal equations",
        "peer: scikit-learn LogisticRegression lbfgs (array API, CuPy)",
    ):
        assert line in out, line
