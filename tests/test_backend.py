"""The backend selector, the host/device boundary and the package's import footprint."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_classification, make_regression

import xpgd

PACKAGE = pathlib.Path(xpgd.__file__).parent


def test_default_is_auto_and_set_backend_changes_it():
    assert xpgd.get_backend() == "auto"
    xpgd.set_backend("array_api_strict", device="device1")
    assert xpgd.get_backend() == "array_api_strict"
    assert str(xpgd.get_device()) == str(
        xpgd._backend.namespace("array_api_strict").Device("device1")
    )


def test_use_backend_is_scoped_and_nests():
    xpgd.set_backend("numpy")
    with xpgd.use_backend("array_api_strict"):
        assert xpgd.get_backend() == "array_api_strict"
        with xpgd.use_backend("auto"):
            assert xpgd.get_backend() == "auto"
        assert xpgd.get_backend() == "array_api_strict"
    assert xpgd.get_backend() == "numpy"


def test_env_var_selects_backend_and_the_estimator_follows(monkeypatch, rng):
    monkeypatch.setenv("XPGD_BACKEND", "array_api_strict")
    assert xpgd.get_backend() == "array_api_strict"
    X, y = make_regression(rng, n=40, p=3)
    model = xpgd.LinearRegression().fit(X, y)
    assert type(model.coef_).__module__.startswith("array_api_strict")
    # The estimator's parameter overrides the global choice.
    model = xpgd.LinearRegression(backend="numpy").fit(X, y)
    assert isinstance(model.coef_, np.ndarray)


@pytest.mark.parametrize("call", ["set", "use", "env", "param"])
def test_unknown_backend_error_lists_what_is_available(call, monkeypatch, rng):
    match = r"unknown backend 'jaxx'.*available backends: auto, numpy"
    with pytest.raises(xpgd.BackendError, match=match):
        if call == "set":
            xpgd.set_backend("jaxx")
        elif call == "use":
            with xpgd.use_backend("jaxx"):
                pass
        elif call == "env":
            monkeypatch.setenv("XPGD_BACKEND", "jaxx")
            xpgd.get_backend()
        else:
            X, y = make_regression(rng, n=10, p=2)
            xpgd.LinearRegression(backend="jaxx").fit(X, y)


def test_uninstalled_backend_error_says_why_and_how_to_install():
    if xpgd.available_backends().get("cupy"):
        pytest.skip("CuPy with a CUDA device is present here, so it is not unavailable")
    with pytest.raises(xpgd.BackendError, match=r"'cupy' .* not usable here: .*pip install"):
        xpgd.set_backend("cupy")


def test_available_backends_reports_versions_and_devices():
    info = xpgd.available_backends()
    assert info["numpy"].version == np.__version__
    assert info["numpy"].devices == ("cpu",)
    every = xpgd.available_backends(include_unavailable=True)
    assert set(every) == {"numpy", "cupy", "torch", "array_api_strict", "dask"}
    for entry in every.values():
        assert entry.available or entry.reason


def test_named_backend_moves_host_input_and_predicts_there(rng):
    X, y = make_classification(rng, n=50, p=3)
    model = xpgd.LogisticRegression(backend="torch").fit(X, y)
    import torch

    assert isinstance(model.coef_, torch.Tensor)
    assert isinstance(model.predict(X), torch.Tensor)


def test_arrays_of_another_library_are_not_moved_silently(rng):
    torch = pytest.importorskip("torch")
    X, y = make_regression(rng, n=30, p=2)
    with pytest.raises(
        xpgd.BackendError,
        match=r"torch array but the backend in effect is 'numpy'.*does not move arrays",
    ):
        xpgd.LinearRegression(backend="numpy").fit(torch.asarray(X), y)
    model = xpgd.LinearRegression().fit(torch.asarray(X), y)  # auto: computes on torch
    with pytest.raises(
        xpgd.BackendError,
        match=r"LinearRegression.predict\(\) must use the "
        "same namespace",
    ):
        model.predict(X)


def test_requested_device_mismatch_is_refused(rng):
    import array_api_strict as xps

    X, y = make_regression(rng, n=30, p=2)
    X1 = xps.asarray(X, device=xps.Device("device1"))
    with pytest.raises(xpgd.BackendError, match="requested; move it explicitly"):
        xpgd.LinearRegression(backend="array_api_strict", device="device2").fit(X1, y)


def test_y_and_sample_weight_follow_x(rng):
    import array_api_strict as xps

    X, y = make_regression(rng, n=30, p=2)
    X1 = xps.asarray(X, device=xps.Device("device1"))
    y2 = xps.asarray(y, device=xps.Device("device2"))
    model = xpgd.LinearRegression().fit(X1, y2, sample_weight=np.ones(30))
    assert model.coef_.device == xps.Device("device1")


def test_import_xpgd_is_light():
    code = (
        "import sys, json, xpgd\n"
        "heavy = ['cupy', 'torch', 'dask', 'matplotlib', 'sklearn', 'scipy', 'pandas']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_math_modules_import_no_backend_library():
    """The layering rule: xpgd/_core uses only the Array API through ``xp``."""
    offenders = []
    for path in (PACKAGE / "_core").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {
                    "numpy",
                    "cupy",
                    "torch",
                    "dask",
                    "scipy",
                    "sklearn",
                }:
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
