"""Backend-parametrized testing, for xpgd's own tests and for yours.

Use it as a pytest plugin, in your ``conftest.py``::

    pytest_plugins = ["xpgd.testing"]

and every test that asks for the ``xp`` fixture runs on every importable backend:

* NumPy;
* array-api-strict on its default device and on ``device1`` (which refuses conversion to
  NumPy, so a test on it proves nothing was silently moved to the host);
* PyTorch on the CPU, and on each CUDA device, if installed;
* Dask (NumPy chunks), if installed;
* CuPy on each CUDA device, only when a device is present.

Fixtures: ``backend`` (a :class:`BackendCase`), ``xp`` (its namespace), ``device`` (its
device), ``dtype`` (float32 and float64 of that namespace). Markers:
``@pytest.mark.skip_xp_backends("dask", reason=...)``,
``@pytest.mark.xfail_xp_backends("torch", reason=...)`` (names or case ids; a reason is
required) and ``@pytest.mark.gpu``. The environment variable ``XPGD_TEST_BACKENDS``, a JSON
list of backend names or case ids, narrows the run; an unknown name is an error.

:func:`assert_close` checks namespace, device, dtype and shape before values, with a
dtype-aware default tolerance.

Importing this module imports pytest and every installed backend: it is for tests only.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any, NamedTuple

import array_api_compat
import numpy as np
import pytest

from xpgd._backend import (
    _move_host,
    _probe,
    namespace,
    namespace_name,
    same_device,
    to_numpy,
)
from xpgd._typing import Array, Device, Namespace

__all__ = [
    "ENV_VAR",
    "BackendCase",
    "asarray",
    "assert_close",
    "backend_cases",
    "default_rtol",
    "dtype_name",
]

ENV_VAR = "XPGD_TEST_BACKENDS"


class BackendCase(NamedTuple):
    """One (backend, device) pair the tests run on."""

    name: str
    """Backend name as accepted by :func:`xpgd.set_backend`."""
    id: str
    """Test id: the name, plus the device where the backend has several."""
    xp: Namespace
    device: Device
    gpu: bool

    def asarray(self, x: Any, dtype: Any = None) -> Array:
        """Host data as an array of this backend, on its device (see :func:`asarray`)."""
        return asarray(x, xp=self.xp, device=self.device, dtype=dtype)


def _all_cases() -> list[BackendCase]:
    cases = [BackendCase("numpy", "numpy", namespace("numpy"), "cpu", False)]
    if _probe("array_api_strict").available:
        xps = namespace("array_api_strict")
        cases.append(BackendCase("array_api_strict", "array_api_strict", xps, None, False))
        cases.append(
            BackendCase(
                "array_api_strict",
                "array_api_strict-device1",
                xps,
                xps.Device("device1"),
                False,
            )
        )
    if _probe("torch").available:
        xpt = namespace("torch")
        for dev in _probe("torch").devices:
            cases.append(BackendCase("torch", f"torch-{dev}", xpt, dev, dev.type == "cuda"))
    if _probe("dask").available:
        cases.append(BackendCase("dask", "dask", namespace("dask"), "cpu", False))
    if _probe("cupy").available:
        import cupy

        for i in _probe("cupy").devices:
            cases.append(
                BackendCase("cupy", f"cupy-cuda{i}", namespace("cupy"), cupy.cuda.Device(i), True)
            )
    return cases


def backend_cases(names: Iterable[str] | None = None) -> list[BackendCase]:
    """The backend cases to test: every importable one, narrowed by ``names``.

    Parameters
    ----------
    names : iterable of str, optional
        Backend names or case ids. Defaults to the JSON list in ``XPGD_TEST_BACKENDS`` when
        set, else all.

    Raises
    ------
    ValueError
        If a name is neither a known backend nor a case id, or names a backend that is not
        installed here.
    """
    cases = _all_cases()
    if names is None:
        raw = os.environ.get(ENV_VAR)
        if not raw:
            return cases
        try:
            names = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ENV_VAR} must be a JSON list of names, got {raw!r}") from exc
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{ENV_VAR} must be a JSON list of strings, got {raw!r}")
    names = list(names)
    known = {c.name for c in cases} | {c.id for c in cases}
    for n in names:
        if n not in known:
            info = (
                _probe(n) if n in ("numpy", "cupy", "torch", "array_api_strict", "dask") else None
            )
            why = f": {info.reason}" if info is not None else ""
            raise ValueError(
                f"unknown or unavailable test backend {n!r}{why}; available: {sorted(known)}"
            )
    return [c for c in cases if c.name in names or c.id in names]


def asarray(x: Any, *, xp: Namespace, device: Device = None, dtype: Any = None) -> Array:
    """Convert host data to an array of namespace ``xp`` on ``device``.

    ``dtype`` may be a dtype of ``xp`` or a name (``"float32"``).
    """
    arr = np.asarray(x)
    if isinstance(dtype, str):
        dtype = getattr(xp, dtype)
    out = _move_host(arr, namespace_name(xp), device, None)
    return out if dtype is None else xp.astype(out, dtype)


def default_rtol(dtype: Any) -> float:
    """``4 * sqrt(eps)`` of the dtype: 6.0e-8 for float64, 1.4e-3 for float32; 0 (exact)
    for integer and bool dtypes."""
    name = dtype_name(dtype)
    if not name.startswith(("float", "complex")):
        return 0.0
    eps = np.finfo(name).eps
    return 4.0 * math.sqrt(float(eps))


def dtype_name(dtype: Any) -> str:
    """The standard name (``"float32"``...) of a dtype of any namespace."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]


def _namespace_name(xp: Namespace) -> str:
    return xp.__name__


def assert_close(
    actual: Array,
    desired: Any,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    xp: Namespace | None = None,
    device: Device = None,
    dtype: Any = None,
    err_msg: str = "",
) -> None:
    """Assert ``actual`` matches ``desired`` in namespace, device, dtype, shape and values.

    Parameters
    ----------
    actual : array
    desired : array or array-like
        The expected value. When ``xp`` is omitted it must be an array of the same
        namespace as ``actual``, and its device and dtype are the expected ones. When ``xp``
        is given, ``desired`` may be a NumPy reference (say, a float64 result).
    rtol : float, optional
        Relative tolerance; default :func:`default_rtol` of the expected dtype.
    atol : float, default 0
    xp : namespace, optional
        Expected namespace of ``actual``.
    device : optional
        Expected device (default: desired's device, or xp's default device).
    dtype : optional
        Expected dtype (default: desired's dtype).
    err_msg : str
        Added to the failure message.
    """
    __tracebackhide__ = True
    prefix = f"{err_msg}: " if err_msg else ""
    try:
        actual_xp = array_api_compat.array_namespace(actual)
    except TypeError:
        raise AssertionError(f"{prefix}actual is not an array: {type(actual)}") from None
    desired_is_array = array_api_compat.is_array_api_obj(desired)
    if xp is None:
        if not desired_is_array:
            raise AssertionError(f"{prefix}pass xp= when desired is not an array")
        xp = array_api_compat.array_namespace(desired)
    if _namespace_name(actual_xp) != _namespace_name(xp):
        raise AssertionError(
            f"{prefix}namespace {_namespace_name(actual_xp)} != expected {_namespace_name(xp)}"
        )
    same_ns = desired_is_array and _namespace_name(
        array_api_compat.array_namespace(desired)
    ) == _namespace_name(xp)
    if device is None:
        # desired's device, or the default device of the expected namespace.
        device = (
            array_api_compat.device(desired)
            if same_ns
            else xp.__array_namespace_info__().default_device()
        )
    if device is not None and not same_device(array_api_compat.device(actual), device):
        raise AssertionError(
            f"{prefix}device {array_api_compat.device(actual)!r} != expected {device!r}"
        )
    if dtype is None and desired_is_array:
        dtype = desired.dtype
    if dtype is not None and dtype_name(actual.dtype) != dtype_name(dtype):
        raise AssertionError(f"{prefix}dtype {actual.dtype} != expected {dtype}")
    desired_np = to_numpy(desired) if desired_is_array else np.asarray(desired)
    if tuple(actual.shape) != tuple(desired_np.shape):
        raise AssertionError(
            f"{prefix}shape {tuple(actual.shape)} != expected {tuple(desired_np.shape)}"
        )
    if rtol is None:
        rtol = default_rtol(actual.dtype)
    np.testing.assert_allclose(to_numpy(actual), desired_np, rtol=rtol, atol=atol, err_msg=err_msg)


# --------------------------------------------------------------------------- pytest plugin


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "gpu: needs a CUDA device (CuPy or torch.cuda)",
        "skip_xp_backends(*names, reason): skip these backends, with a reason",
        "xfail_xp_backends(*names, reason): expect these backends to fail, with a reason",
    ):
        config.addinivalue_line("markers", line)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = ["xpgd test backends: " + ", ".join(c.id for c in backend_cases())]
    missing = [
        f"{name} ({info.reason})" for name, info in _probe_all().items() if not info.available
    ]
    if missing:
        lines.append("xpgd backends not tested here: " + "; ".join(missing))
    return lines


def _probe_all() -> dict[str, Any]:
    return {n: _probe(n) for n in ("numpy", "cupy", "torch", "array_api_strict", "dask")}


def _case_params() -> list[Any]:
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.gpu] if case.gpu else [])
        for case in backend_cases()
    ]


def _apply_backend_markers(request: pytest.FixtureRequest, case: BackendCase) -> None:
    for kind in ("skip_xp_backends", "xfail_xp_backends"):
        for marker in request.node.iter_markers(kind):
            reason = marker.kwargs.get("reason")
            if not reason:
                raise pytest.UsageError(f"@pytest.mark.{kind} needs reason=...")
            if case.name in marker.args or case.id in marker.args:
                if kind == "skip_xp_backends":
                    pytest.skip(f"{case.id}: {reason}")
                request.applymarker(pytest.mark.xfail(reason=f"{case.id}: {reason}", strict=True))


@pytest.fixture(params=_case_params())
def backend(request: pytest.FixtureRequest) -> BackendCase:
    """The backend case of this test (namespace, device, id)."""
    case = request.param
    _apply_backend_markers(request, case)
    return case


@pytest.fixture
def xp(backend: BackendCase) -> Namespace:
    """The Array API namespace under test."""
    return backend.xp


@pytest.fixture
def device(backend: BackendCase) -> Device:
    """The device under test (``None`` for the namespace's default)."""
    return backend.device


@pytest.fixture(params=["float32", "float64"])
def dtype(request: pytest.FixtureRequest, xp: Namespace) -> Any:
    """float32 and float64 of the namespace under test."""
    return getattr(xp, request.param)
