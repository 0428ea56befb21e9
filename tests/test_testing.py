"""The public test harness (xpgd.testing) catches what it promises to catch."""

from __future__ import annotations

import numpy as np
import pytest

from xpgd import testing


def test_assert_close_checks_namespace_device_dtype_and_shape(backend):
    a = backend.asarray([1.0, 2.0], "float64")
    testing.assert_close(a, backend.asarray([1.0, 2.0], "float64"))
    with pytest.raises(AssertionError, match="dtype"):
        testing.assert_close(a, backend.asarray([1.0, 2.0], "float32"))
    with pytest.raises(AssertionError, match="shape"):
        testing.assert_close(a, np.array([1.0, 2.0, 3.0]), xp=backend.xp, device=backend.device)
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        testing.assert_close(a, backend.asarray([1.0, 2.1], "float64"))
    if backend.name != "numpy":
        with pytest.raises(AssertionError, match="namespace"):
            testing.assert_close(a, np.array([1.0, 2.0]))


def test_assert_close_detects_a_wrong_device():
    import array_api_strict as xps

    a = xps.asarray([1.0], device=xps.Device("device1"))
    b = xps.asarray([1.0], device=xps.Device("device2"))
    with pytest.raises(AssertionError, match="device"):
        testing.assert_close(a, b)


def test_a_numpy_reference_implies_the_default_device():
    import array_api_strict as xps

    a = xps.asarray([1.0], device=xps.Device("device1"))
    with pytest.raises(AssertionError, match="device"):
        testing.assert_close(a, np.array([1.0]), xp=xps)
    testing.assert_close(a, np.array([1.0]), xp=xps, device=xps.Device("device1"))


def test_default_rtol_is_dtype_aware():
    assert testing.default_rtol(np.float64) == pytest.approx(4 * np.sqrt(2.0**-52))
    assert testing.default_rtol(np.float32) == pytest.approx(4 * np.sqrt(2.0**-23))
    assert testing.default_rtol(np.int64) == 0.0


def test_cases_cover_strict_device1_and_narrow_by_env(monkeypatch):
    ids = [c.id for c in testing.backend_cases()]
    assert "numpy" in ids and "array_api_strict-device1" in ids
    monkeypatch.setenv(testing.ENV_VAR, '["numpy", "array_api_strict-device1"]')
    assert [c.id for c in testing.backend_cases()] == ["numpy", "array_api_strict-device1"]
    monkeypatch.setenv(testing.ENV_VAR, '["numpy", "jax"]')
    with pytest.raises(ValueError, match="unknown or unavailable test backend 'jax'"):
        testing.backend_cases()
    monkeypatch.setenv(testing.ENV_VAR, "numpy")
    with pytest.raises(ValueError, match="JSON list"):
        testing.backend_cases()


def test_device1_refuses_silent_conversion_to_numpy():
    # The reason array_api_strict's device1 is in the matrix: any np.asarray inside the
    # library on such an array fails loudly.
    import array_api_strict as xps

    with pytest.raises(RuntimeError, match="Can't convert"):
        np.asarray(xps.asarray([1.0], device=xps.Device("device1")))


@pytest.mark.skip_xp_backends("numpy", reason="demonstrates the marker")
def test_skip_marker_skips_the_named_backend(backend):
    assert backend.name != "numpy"


@pytest.mark.xfail_xp_backends("dask", reason="demonstrates the marker: dask is lazy")
def test_xfail_marker_expects_failure_on_the_named_backend(backend):
    x = backend.asarray([1.0])
    assert not hasattr(x, "compute"), "lazy array"
