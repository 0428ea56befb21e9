"""Backend selection and the host/device boundary.

This module and :mod:`xpgd._validation` (which uses it for host inputs) are where xpgd
knows backends by name and imports NumPy. The math in :mod:`xpgd._core` never does: it
receives ``xp`` and arrays that already live where the computation runs.

What happens here, and nowhere else:

* the backend choice: :func:`set_backend`, :func:`use_backend`, ``XPGD_BACKEND``,
  :func:`get_backend`, :func:`available_backends`;
* moving *host* inputs (NumPy, pandas, lists) to the chosen backend, once, at the start of
  ``fit`` / ``predict``; an array that already lives on another library or device is never
  moved silently: it raises :class:`~xpgd.exceptions.BackendError` with the fix;
* explicit transfers to the host (:func:`to_numpy`, :func:`host_floats`) for labels, plots,
  I/O and the loop's periodic convergence check;
* :func:`materialize`, which computes lazy (Dask) results so that the optimizer's small
  state stays local and the task graph never grows with the iterations.

Optional backends (CuPy, torch, Dask, array-api-strict) are imported only when asked for.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from xpgd._typing import Array, Device, Namespace
from xpgd.exceptions import BackendError, InputError

__all__ = [
    "BACKEND_NAMES",
    "BackendInfo",
    "available_backends",
    "get_backend",
    "get_device",
    "set_backend",
    "to_backend",
    "to_numpy",
    "use_backend",
]

ENV_VAR = "XPGD_BACKEND"

#: Every name the selector accepts. ``"auto"`` computes where the input lives.
BACKEND_NAMES = ("auto", "numpy", "cupy", "torch", "array_api_strict", "dask")

# name -> (module to import, distribution whose version we report)
_MODULES = {
    "numpy": ("numpy", "numpy"),
    "cupy": ("cupy", None),
    "torch": ("torch", "torch"),
    "array_api_strict": ("array_api_strict", "array-api-strict"),
    "dask": ("dask.array", "dask"),
}


class BackendInfo(NamedTuple):
    """What :func:`available_backends` reports about one backend."""

    name: str
    available: bool
    version: str | None
    devices: tuple[Any, ...]
    reason: str
    """Why the backend is not available (empty when it is)."""


class _Choice(NamedTuple):
    name: str
    device: Any


# --------------------------------------------------------------------------- discovery


def _version(module: Any, dist: str | None) -> str | None:
    version = getattr(module, "__version__", None)
    if version is None and dist is not None:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            version = importlib.metadata.version(dist)
    return None if version is None else str(version)


@functools.cache
def _probe(name: str) -> BackendInfo:
    """Import backend ``name`` and list its devices (cached: CUDA probing is slow)."""
    module_name, dist = _MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or a broken install (CUDA libraries missing)
        return BackendInfo(name, False, None, (), f"cannot import {module_name}: {exc}")
    if name == "dask":
        module = importlib.import_module("dask")
    version = _version(module, dist)
    if name in ("numpy", "dask"):
        return BackendInfo(name, True, version, ("cpu",), "")
    if name == "array_api_strict":
        devices = tuple(module.__array_namespace_info__().devices())
        return BackendInfo(name, True, version, devices, "")
    if name == "torch":
        devices = [module.device("cpu")]
        if module.cuda.is_available():
            devices += [module.device(f"cuda:{i}") for i in range(module.cuda.device_count())]
        return BackendInfo(name, True, version, tuple(devices), "")
    # cupy: importable is not enough, it needs a CUDA device.
    try:
        count = module.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return BackendInfo(name, False, version, (), f"no usable CUDA device: {exc}")
    if count == 0:
        return BackendInfo(name, False, version, (), "no CUDA device found")
    return BackendInfo(name, True, version, tuple(range(count)), "")


def available_backends(*, include_unavailable: bool = False) -> dict[str, BackendInfo]:
    """Report the backends xpgd can compute on, with versions and devices.

    Parameters
    ----------
    include_unavailable : bool, default False
        Also list the backends that cannot be used here, each with the reason.

    Returns
    -------
    dict of str to BackendInfo
        Keyed by backend name (``"numpy"``, ``"cupy"``, ``"torch"``,
        ``"array_api_strict"``, ``"dask"``), in that order.

    Examples
    --------
    >>> import xpgd
    >>> info = xpgd.available_backends()
    >>> info["numpy"].available, info["numpy"].devices
    (True, ('cpu',))
    """
    report = {name: _probe(name) for name in _MODULES}
    if include_unavailable:
        return report
    return {name: info for name, info in report.items() if info.available}


def _names_message() -> str:
    parts = []
    for name, info in available_backends(include_unavailable=True).items():
        parts.append(name if info.available else f"{name} (unavailable: {info.reason})")
    return "available backends: auto, " + ", ".join(parts)


def _check_name(name: Any, *, source: str) -> str:
    if not isinstance(name, str) or name not in BACKEND_NAMES:
        raise BackendError(
            f"unknown backend {name!r} from {source}; choose one of "
            f"{', '.join(BACKEND_NAMES)} ({_names_message()})"
        )
    if name != "auto":
        info = _probe(name)
        if not info.available:
            raise BackendError(
                f"backend {name!r} from {source} is not usable here: {info.reason}; "
                f"install it (e.g. pip install 'xpgd[{_extra(name)}]') or pick another "
                f"({_names_message()})"
            )
    return name


def _extra(name: str) -> str:
    return {"cupy": "gpu-cuda13", "array_api_strict": "test"}.get(name, name)


@functools.cache
def namespace(name: str) -> Namespace:
    """The Array API namespace of backend ``name`` (wrapped by array-api-compat)."""
    _check_name(name, source="the backend argument")
    if name == "array_api_strict":
        return importlib.import_module("array_api_strict")
    if name == "dask":
        return importlib.import_module("array_api_compat.dask.array")
    return importlib.import_module(f"array_api_compat.{name}")


# --------------------------------------------------------------------------- selection

_global_choice: _Choice | None = None
_local_choice: ContextVar[_Choice | None] = ContextVar("xpgd_backend", default=None)


def set_backend(name: str, device: Device | None = None) -> None:
    """Choose where xpgd computes, for the whole process.

    Parameters
    ----------
    name : {"auto", "numpy", "cupy", "torch", "array_api_strict", "dask"}
        ``"auto"`` (the default) computes where the input lives. A named backend moves host
        inputs (NumPy arrays, pandas objects, lists) to it once, at the start of ``fit`` or
        ``predict``; arrays of another library are refused, never moved silently.
    device : optional
        A device of that backend (``"cuda:1"`` for torch, ``1`` for CuPy, ``"device1"``
        for array-api-strict); ``None`` is the backend's default device.

    Raises
    ------
    BackendError
        If the name is unknown or the backend is not installed; the message lists the
        available ones.

    Examples
    --------
    >>> import xpgd
    >>> xpgd.set_backend("numpy")
    >>> xpgd.get_backend()
    'numpy'
    >>> xpgd.set_backend("auto")
    """
    global _global_choice
    name = _check_name(name, source="set_backend()")
    _global_choice = _Choice(name, _normalize_device(name, device))


@contextlib.contextmanager
def use_backend(name: str, device: Device | None = None) -> Iterator[None]:
    """Context manager: compute on backend ``name`` inside the ``with`` block.

    The choice is local to the current thread / context and restored on exit. Parameters
    are those of :func:`set_backend`.

    Examples
    --------
    >>> import xpgd
    >>> with xpgd.use_backend("numpy"):
    ...     xpgd.get_backend()
    'numpy'
    """
    name = _check_name(name, source="use_backend()")
    token = _local_choice.set(_Choice(name, _normalize_device(name, device)))
    try:
        yield
    finally:
        _local_choice.reset(token)


def _current_choice() -> _Choice:
    choice = _local_choice.get()
    if choice is not None:
        return choice
    if _global_choice is not None:
        return _global_choice
    env = os.environ.get(ENV_VAR)
    if env:
        return _Choice(_check_name(env.strip(), source=f"the {ENV_VAR} variable"), None)
    return _Choice("auto", None)


def get_backend() -> str:
    """Name of the backend in effect (``use_backend`` > ``set_backend`` > env > ``"auto"``).

    Examples
    --------
    >>> import xpgd
    >>> xpgd.get_backend() in xpgd.BACKEND_NAMES
    True
    """
    return _current_choice().name


def get_device() -> Device | None:
    """The device chosen with the backend in effect, or ``None`` for its default."""
    return _current_choice().device


def resolve_choice(backend: str | None, device: Device | None) -> _Choice:
    """The effective choice for one call: estimator parameters override the global one."""
    if backend is None:
        choice = _current_choice()
        if device is None:
            return choice
        return _Choice(choice.name, _normalize_device(choice.name, device))
    name = _check_name(backend, source="the backend parameter")
    return _Choice(name, _normalize_device(name, device))


# --------------------------------------------------------------------------- devices


def _normalize_device(name: str, device: Device | None) -> Device | None:
    """Turn a user's device spec into the backend's device object (validated)."""
    if device is None:
        return None
    if name == "auto":
        return device  # checked against the input's own namespace later
    if name == "numpy" or (name == "dask" and device == "cpu"):
        if device != "cpu":
            raise BackendError(f"backend {name!r} has only the 'cpu' device, not {device!r}")
        return "cpu"
    if name == "dask":  # a GPU: CuPy chunks on that device
        cupy_info = _probe("cupy")
        if not cupy_info.available:
            raise BackendError(
                f"device {device!r} for backend 'dask' means CuPy chunks on a GPU, but CuPy "
                f"is not usable here ({cupy_info.reason}); use device='cpu' (NumPy chunks)"
            )
        return _normalize_device("cupy", device)
    info = _probe(name)
    if name == "array_api_strict":
        module = importlib.import_module("array_api_strict")
        dev = device if isinstance(device, module.Device) else module.Device(str(device))
    elif name == "torch":
        module = importlib.import_module("torch")
        try:
            dev = module.device(device)
        except (RuntimeError, TypeError) as exc:
            raise BackendError(f"{device!r} is not a torch device ({exc})") from None
        if dev.type == "cuda" and not module.cuda.is_available():
            raise BackendError(
                f"device {device!r} asks for a GPU but torch sees no CUDA device here; "
                f"use device='cpu' (torch's devices here are {list(info.devices)})"
            )
        if dev.type == "cuda" and dev.index is None:
            dev = module.device("cuda", module.cuda.current_device())
    else:  # cupy: an int, "cuda:N", "N" or a cupy Device
        text = str(getattr(device, "id", device)).removeprefix("cuda").lstrip(":")
        try:
            dev = int(text or 0)
        except ValueError:
            raise BackendError(f"{device!r} is not a CUDA device number for CuPy") from None
    if dev not in info.devices:
        raise BackendError(
            f"device {device!r} is not a device of backend {name!r}; "
            f"its devices are {list(info.devices)}"
        )
    if name == "cupy":
        return importlib.import_module("cupy").cuda.Device(dev)
    return dev


def same_device(a: Device, b: Device) -> bool:
    """Device equality that tolerates the different device types of the backends."""
    if a == b:
        return True
    ida, idb = getattr(a, "id", None), getattr(b, "id", None)  # CuPy Device vs int
    return (ida if ida is not None else a) == (idb if idb is not None else b)


# --------------------------------------------------------------------------- conversion


def is_host_input(x: Any) -> bool:
    """True for inputs that live on the host and are not Array API arrays of a backend.

    NumPy arrays, pandas objects, lists, tuples and Python scalars are host inputs; an
    explicitly named backend may move them. Arrays of CuPy, torch, Dask or
    array-api-strict are not: xpgd never moves those silently.
    """
    if isinstance(x, np.ndarray | np.generic | list | tuple | int | float | bool):
        return True
    module = type(x).__module__.split(".")[0]
    if module == "pandas":
        return True
    # Other objects that only offer NumPy's __array__ protocol (and not the Array API).
    return hasattr(x, "__array__") and not array_api_compat.is_array_api_obj(x)


def host_array(x: Any) -> np.ndarray:
    """A NumPy view (or, for pandas and lists, an array) of a host input."""
    if type(x).__module__.split(".")[0] == "pandas":
        return x.to_numpy()
    return np.asarray(x)


def to_numpy(x: Array) -> np.ndarray:
    """Copy ``x`` to a NumPy array on the host: an explicit transfer (plots, I/O, tests).

    Parameters
    ----------
    x : array
        An array of any supported backend, on any device; lazy Dask arrays are computed.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import array_api_strict as xps
    >>> x = xps.asarray([1.0, 2.0], device=xps.Device("device1"))
    >>> to_numpy(x)
    array([1., 2.])
    """
    if isinstance(x, np.ndarray | np.generic):
        return np.asarray(x)
    if array_api_compat.is_dask_array(x):
        return to_numpy(x.compute())
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if is_host_input(x):
        return host_array(x)
    module = type(x).__module__.split(".")[0]
    if module == "array_api_strict":
        xps = importlib.import_module("array_api_strict")
        return np.asarray(x.to_device(xps.Device("CPU_DEVICE")))
    return np.asarray(array_api_compat.to_device(x, "cpu"))


def host_floats(x: Array) -> list[float]:
    """The values of a small 1-D array as Python floats, in one device-to-host transfer.

    This is the solver's only synchronisation point; it runs every ``check_every``
    iterations, not every iteration.
    """
    return [float(v) for v in to_numpy(x).tolist()]


def _move_host(x: np.ndarray, name: str, device: Device | None, like: Array | None) -> Array:
    """Move a NumPy array to backend ``name`` (explicitly chosen by the user)."""
    if name == "numpy":
        return x
    if name == "dask":
        da = importlib.import_module("dask.array")
        if (
            like is not None
            and array_api_compat.is_dask_array(like)
            and x.ndim >= 1
            and x.shape[0] == like.shape[0]  # else the caller's length check reports it
        ):
            chunks = (like.chunks[0],) + tuple((s,) for s in x.shape[1:])
        elif x.size == 0 or x.ndim == 0:
            chunks = -1  # nothing to split (Dask cannot auto-chunk empty arrays)
        else:
            chunks = ("auto",) + (-1,) * (x.ndim - 1)
        return _dask_chunks_on(da.from_array(x, chunks=chunks), device)
    if name == "torch":
        torch = importlib.import_module("torch")
        with warnings.catch_warnings():
            # torch warns that a read-only NumPy array is shared; xpgd never writes to X.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.asarray(x, device=device)
    if name == "cupy":
        cupy = importlib.import_module("cupy")
        with device if device is not None else contextlib.nullcontext():
            return cupy.asarray(x)
    xps = importlib.import_module("array_api_strict")
    return xps.asarray(x, device=device)


def array_device(x: Array) -> Device:
    """The device of ``x``; for a Dask array, that of its chunks: ``"cpu"`` for NumPy
    chunks, the CuPy ``Device`` for CuPy chunks."""
    if array_api_compat.is_dask_array(x):
        meta = x._meta
        return meta.device if array_api_compat.is_cupy_array(meta) else "cpu"
    return array_api_compat.device(x)


def _cupy_chunk(block: Any, device_id: int) -> Any:
    cupy = importlib.import_module("cupy")
    with cupy.cuda.Device(device_id):
        return cupy.asarray(block)


def _numpy_chunk(block: Any) -> Any:
    return importlib.import_module("cupy").asnumpy(block)


def _dask_chunks_on(x: Array, device: Device | None) -> Array:
    """Dask array ``x`` with its chunks on ``device`` (``"cpu"``: NumPy; a CuPy device:
    CuPy). Lazy: each chunk is moved when it is computed, once, in its own task."""
    have = array_device(x)
    if device is None or same_device(have, device):
        return x
    if device == "cpu":
        return x.map_blocks(_numpy_chunk, dtype=x.dtype, meta=np.empty((0,) * x.ndim, x.dtype))
    cupy = importlib.import_module("cupy")
    device_id = int(getattr(device, "id", device))
    with cupy.cuda.Device(device_id):
        meta = cupy.empty((0,) * x.ndim, dtype=x.dtype)
    return x.map_blocks(
        functools.partial(_cupy_chunk, device_id=device_id), dtype=x.dtype, meta=meta
    )


def namespace_name(xp: Namespace) -> str:
    """The xpgd backend name of a namespace (``xp.__name__`` for unknown ones)."""
    tests = (
        ("numpy", array_api_compat.is_numpy_namespace),
        ("cupy", array_api_compat.is_cupy_namespace),
        ("torch", array_api_compat.is_torch_namespace),
        ("dask", array_api_compat.is_dask_namespace),
        ("array_api_strict", array_api_compat.is_array_api_strict_namespace),
    )
    for name, test in tests:
        if test(xp):
            return name
    return str(xp.__name__)


def backend_name_of(x: Array) -> str:
    """The xpgd backend name of a (non-host) array."""
    if array_api_compat.is_dask_array(x):
        return "dask"
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    module = type(x).__module__.split(".")[0]
    return module


def place(x: Any, choice: _Choice, *, what: str = "X") -> Array:
    """Put input ``x`` where ``choice`` says: host inputs move once, arrays stay put.

    Raises
    ------
    BackendError
        If ``x`` is an array of another library, or on another device, than the one
        chosen: xpgd does not move such data silently.
    """
    if is_host_input(x):
        name = "numpy" if choice.name == "auto" else choice.name
        # Under "auto" a device belongs to the input's backend: NumPy has only "cpu".
        device = choice.device
        if choice.name == "auto":
            device = _normalize_device(name, device)
        return _move_host(host_array(x), name, device, None)
    if not array_api_compat.is_array_api_obj(x):
        raise BackendError(
            f"{what} of type {type(x).__name__} is not an array; pass a NumPy, CuPy, "
            "torch, Dask or array-api-strict array, a pandas object or a list"
        )
    have = backend_name_of(x)
    if choice.name not in ("auto", have):
        raise BackendError(
            f"{what} is a {have} array but the backend in effect is {choice.name!r}; "
            f"xpgd does not move arrays between libraries silently: pass {what} as a NumPy "
            f"array (it will be moved to {choice.name}) or use backend='auto'"
        )
    wanted = choice.device
    if wanted is not None and choice.name == "auto":
        wanted = _normalize_device(have, wanted)  # validated against X's own backend
    if wanted is not None and not same_device(array_device(x), wanted):
        raise BackendError(
            f"{what} is on device {array_device(x)!r} but device "
            f"{wanted!r} was requested; move it explicitly first "
            "(e.g. array_api_compat.to_device) or leave device=None"
        )
    return _detached(x)


def _detached(x: Array) -> Array:
    """A torch tensor without autograd history (a view): xpgd's loop must not record
    every iteration in an autograd graph. Other arrays pass through."""
    if array_api_compat.is_torch_array(x) and x.requires_grad:
        return x.detach()
    return x


def to_backend(x: Any, backend: str | None = None, device: Device | None = None) -> Array:
    """Move host data (NumPy, pandas, lists) to a backend, explicitly, once.

    Parameters
    ----------
    x : array-like
        Host data, or an array already on ``backend`` (returned as is).
    backend : str, optional
        Backend name; default the one in effect (``"auto"`` keeps host data on NumPy).
    device : optional
        Device of that backend.

    Returns
    -------
    array

    Raises
    ------
    BackendError
        If ``x`` is an array of another library or device (never moved silently).

    Examples
    --------
    >>> import xpgd
    >>> x = xpgd.to_backend([1.0, 2.0], "array_api_strict", device="device1")
    >>> x.device
    array_api_strict.Device('device1')
    """
    return place(x, resolve_choice(backend, device), what="x")


def follow(v: Any, X: Array, xp: Namespace, *, what: str) -> Array:
    """Move ``v`` (``y``, ``sample_weight``, fitted parameters) to ``X``'s namespace/device.

    "Everything follows X": host inputs, arrays of X's library on another device and
    arrays of another library (through the host) are moved, once, at the start of the
    call. Only X decides where the computation runs.
    """
    dev = array_device(X)
    if is_host_input(v):
        return _move_host(host_array(v), backend_name_of(X), dev, like=X)
    have, want = backend_name_of(v), backend_name_of(X)
    if have != want:
        # "Everything follows X": an array of another library is copied through the host
        # (an explicit, documented transfer, done once at the start of the call).
        return _move_host(to_numpy(v), want, dev, like=X)
    v = _detached(v)
    if want == "dask":
        if v.ndim >= 1 and v.shape[0] == X.shape[0] and v.chunks[0] != X.chunks[0]:
            v = v.rechunk((X.chunks[0],) + tuple((s,) for s in v.shape[1:]))
        return _dask_chunks_on(v, dev)
    if not same_device(array_api_compat.device(v), dev):
        v = array_api_compat.to_device(v, dev)
    return v


def follow_params(v: Any, X: Array, xp: Namespace, *, what: str) -> Array:
    """Small arrays (parameters, labels) next to ``X``: like :func:`follow`, except that
    for Dask data they go to the chunks' namespace, where the optimizer's state lives."""
    if is_lazy(xp):
        if array_api_compat.is_dask_array(v):
            v = v.compute()
        return follow(v, X._meta, local_namespace(X, xp), what=what)
    return follow(v, X, xp, what=what)


# --------------------------------------------------------------------------- CPU fast path

#: Bytes of X per row block on the CPU path: big enough that matmul runs at full speed,
#: small enough that the block is still in cache for its second use (X_b.T @ r_b).
BLOCK_BYTES = 2 << 20

_POOL: Any = None
_BLAS: Any = None


def _forget_threads() -> None:
    """In a forked child: the parent's helper threads do not exist there, so the pools
    are made anew on first use (submitting to them would wait forever)."""
    global _POOL, _BLAS_THREAD, _BLAS_USERS, _BLAS_LIMIT, _BLAS_LOCK
    _POOL = _BLAS_THREAD = _BLAS_LIMIT = None
    _BLAS_USERS = 0
    _BLAS_LOCK = threading.Lock()  # a parent's thread may have held it at the fork


def _pool(workers: int) -> Any:
    global _POOL
    if _POOL is None or _POOL._max_workers != workers:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(workers, thread_name_prefix="xpgd-rows")
    return _POOL


def _blas_controller() -> Any:
    """threadpoolctl's controller (created once, under the lock: two controllers made by
    concurrent first fits would each restore their own view of the limits), or None when
    threadpoolctl is not installed. Call with ``_BLAS_LOCK`` held."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - it is a dependency
            _BLAS = False
        else:
            _BLAS = ThreadpoolController()
    return _BLAS or None


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0
_BLAS_LIMIT: Any = None
_BLAS_THREAD: Any = None
os.register_at_fork(after_in_child=_forget_threads)


def _blas_thread() -> Any:
    """The one long-lived helper thread that sets and restores BLAS's limit.

    threadpoolctl (3.8+) lets only one Python thread at a time change OpenBLAS's
    process-wide thread count (the "controlling thread"; calls from other threads are
    silently ignored) and releases that control when the same thread exits its limit.
    Concurrent fits share one limit that the first to enter sets and the last to leave
    restores, which may be different threads; doing both on this one thread keeps
    threadpoolctl's ownership count balanced, so the restore is never ignored and
    control is released afterwards. Call with ``_BLAS_LOCK`` held.
    """
    global _BLAS_THREAD
    if _BLAS_THREAD is None:
        from concurrent.futures import ThreadPoolExecutor

        _BLAS_THREAD = ThreadPoolExecutor(1, thread_name_prefix="xpgd-blas")
    return _BLAS_THREAD


def _blas_controlled_elsewhere() -> bool:
    """Whether a live thread other than :func:`_blas_thread` controls OpenBLAS's thread
    count: a ``threadpool_limits`` in progress there (threadpoolctl 3.8+ records it)."""
    try:
        from threadpoolctl import OpenBLASController

        owner = OpenBLASController._SHARED_STATE.controlling_thread
    except (ImportError, AttributeError):  # an older threadpoolctl: no such owner
        return False
    if owner is None or not owner.is_alive():
        return False
    return owner is not _blas_thread().submit(threading.current_thread).result()


def _leave_limit(entered: Any) -> None:
    """On the helper thread, after the limit's entry (one worker: in submission order):
    its exit, unless the entry failed."""
    if entered.exception() is None:
        entered.result().__exit__(None, None, None)


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """BLAS at one thread while any xpgd pass on its own (or Dask's) threads runs (a fit's
    loop, :func:`own_threads_blas_limit`; a matmul-bound row-block pass), in any thread.

    threadpoolctl's limit is process-wide, so concurrent fits share one limit: the first
    to enter sets it, the last to leave restores the original (a lock and a count; both
    done on one helper thread, see :func:`_blas_thread`), and an unrelated NumPy call
    finishing meanwhile never leaves BLAS stuck at one thread. The limit counts as taken
    before it is waited for, so an interrupt while it is being set still restores it.

    Left to the user: inside their own ``threadpool_limits`` (in any thread, entered
    before the pass) nothing is changed. Not covered: a ``threadpool_limits`` entered
    in another thread *during* the pass records the one thread as its original and
    restores it when it ends; a process forked during the pass keeps one thread.
    """
    global _BLAS_USERS, _BLAS_LIMIT
    with _BLAS_LOCK:
        controller = _blas_controller()
        if controller is None or (_BLAS_USERS == 0 and _blas_controlled_elsewhere()):
            entered = None
        else:
            if _BLAS_USERS == 0:
                _BLAS_LIMIT = _blas_thread().submit(
                    lambda: controller.limit(limits=1, user_api="blas").__enter__()
                )
            _BLAS_USERS += 1
            entered = _BLAS_LIMIT
    if entered is None:
        yield
        return
    try:
        entered.result()  # in effect before the pass starts
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                first, _BLAS_LIMIT = _BLAS_LIMIT, None
                _blas_thread().submit(_leave_limit, first).result()


def own_threads_blas_limit(objective: Any) -> Any:
    """A context for the whole loop of a full-batch solver on ``objective``: BLAS at one
    thread (:func:`_single_threaded_blas`) where its evaluations run on xpgd's own CPU
    threads (the compiled kernel's or :class:`ThreadedRows`') or on Dask's (NumPy chunks,
    more than one row chunk: with Dask's threads they run in this process; with worker
    processes the limit only reaches the loop's own small products), else nothing.
    Everything else in the process that calls BLAS meanwhile (the user's callback, other
    threads) also runs single-threaded.

    The loop's own small products (L-BFGS's ``memory x n_params`` matrices) cross
    OpenBLAS's threading threshold from about 100 features on; its threads then spin for
    some 0.1 s after each product, on the cores the next evaluation needs. Measured on 2
    cores, 1M x 200 float32, logistic lbfgs: evaluations took 58-116 ms instead of 36 ms,
    the fit 4.7-5.0 s instead of 2.05 s; with Dask's threads (4 chunks) 4.0-4.2 s instead
    of 2.8-3.0 s. At one thread those products take microseconds.
    """
    X, fused = objective.X, objective.fused_terms
    if is_lazy(objective.xp):
        threaded = isinstance(X._meta, np.ndarray) and X.numblocks[0] > 1
    else:  # NumPy's fused kernel is the compiled one, parallel unless made for Dask's tasks
        threaded = isinstance(X, np.ndarray) and (
            isinstance(objective.row_reduce, ThreadedRows) or (fused is not None and fused.parallel)
        )
    return _single_threaded_blas() if threaded else contextlib.nullcontext()


def usable_cpus() -> int:
    """CPUs this process may run on (affinity and container limits), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class ThreadedRows:
    """Row ranges summed on ``workers`` threads, each running single-threaded BLAS over
    blocks of its contiguous share of the rows (NumPy releases the GIL in matmul and in
    ufuncs). The parts are added in a fixed order, so results are deterministic."""

    def __init__(self, block_rows: int, workers: int) -> None:
        self.block_rows, self.workers = block_rows, workers

    def __call__(self, part: Any, n: int, *, matmul_bound: bool = False) -> tuple[Any, ...]:
        from xpgd._core.objective import add_parts, sum_row_range

        share = -(-n // self.workers)
        share = -(-share // self.block_rows) * self.block_rows  # whole blocks per thread
        bounds = [(lo, min(lo + share, n)) for lo in range(0, n, share)]
        # An evaluation leaves the process-wide BLAS setting alone: a fit holds BLAS at
        # one thread around its whole loop (own_threads_blas_limit; float32 block
        # products were threaded by OpenBLAS on top of ours, 1.6x slower evaluations).
        # Passes marked matmul_bound (the normal equations' D^T D, which BLAS would
        # thread on top of ours, 2.5x slower) take the limit themselves.
        limit = _single_threaded_blas() if matmul_bound else contextlib.nullcontext()
        with limit:
            futures = [
                _pool(self.workers).submit(sum_row_range, part, lo, hi, self.block_rows)
                for lo, hi in bounds
            ]
            return add_parts([f.result() for f in futures])


def row_reducer(X: Array, xp: Namespace, *, threads: int | None = None) -> Any:
    """How the objective sums over rows for data ``X`` (see
    :data:`xpgd._core.objective.RowReduce`).

    NumPy on the CPU: blocks of about :data:`BLOCK_BYTES`, on up to ``threads`` threads
    (default: the CPUs this process may use): one read of X per evaluation, every core
    busy. Other eager backends (GPUs): all rows at once (large matmuls), except the passes
    marked ``matmul_bound`` (the normal equations' moments, the column statistics), in
    blocks of at most :data:`DEVICE_BLOCK_BYTES` and 2.5% of X (their centred block
    ``X_b - origin`` is a temporary). Dask: all rows (it has its own chunks).
    """
    from xpgd._core.objective import row_blocks, whole_rows

    if X.ndim != 2 or is_lazy(xp):
        return whole_rows
    if namespace_name(xp) != "numpy":
        return _device_rows(X, xp)
    n, p = X.shape
    block = max(256, BLOCK_BYTES // max(1, p * X.dtype.itemsize))
    if n < 2 * block:
        return whole_rows
    workers = min(threads or usable_cpus(), -(-n // block))
    return row_blocks(block) if workers <= 1 else ThreadedRows(block, workers)


#: Bytes of X per block of the blocked passes on a GPU (the normal equations' moments,
#: the column statistics), at most; also at most 2.5% of X. Each such pass holds two
#: temporaries of a block's size (``X_b - origin`` and its square or weighted copy), so
#: together they stay within 5% of X, never a copy of all of it.
DEVICE_BLOCK_BYTES = 128 << 20


def _device_rows(X: Array, xp: Namespace) -> Any:
    from xpgd._core.objective import row_blocks

    n, p = X.shape
    row_bytes = max(1, p * (xp.finfo(X.dtype).bits // 8))
    limit = min(DEVICE_BLOCK_BYTES, n * row_bytes // 40)
    blocked = row_blocks(max(1, limit // row_bytes))

    def reduce(part: Any, n: int, *, matmul_bound: bool = False) -> tuple[Array, ...]:
        return blocked(part, n) if matmul_bound else part(0, n)

    return reduce


# --------------------------------------------------------------------------- fused kernels

#: Set to "0" to turn the fused kernels off (every backend then takes the plain path).
FUSED_ENV_VAR = "XPGD_FUSED_KERNELS"

#: Smallest NumPy X (rows x columns) for the compiled CPU kernel: below it the blocked
#: BLAS path is as fast, and nothing needs compiling (or importing Numba).
CPU_FUSED_MIN_ELEMENTS = 1 << 20


def fusable(X: Array, y: Array, sample_weight: Array | None, loss: str, array_type: type) -> bool:
    """Whether a fused kernel can take these data: arrays of ``array_type``, all
    C-contiguous; X 2-D with rows, float32 or float64; y and the weights 1-D, one entry
    per row of X, of X's dtype (the kernels index them by X's rows unchecked); a
    single-output loss (squared or binary logistic)."""
    parts = [X, y] + ([] if sample_weight is None else [sample_weight])
    return (
        all(isinstance(a, array_type) and a.flags.c_contiguous for a in parts)
        and X.ndim == 2
        and X.shape[0] > 0
        and str(X.dtype) in ("float32", "float64")
        and all(tuple(a.shape) == (X.shape[0],) for a in parts[1:])
        and all(a.dtype == X.dtype for a in parts[1:])
        and loss in ("squared", "logistic")
    )


@functools.cache
def _numba_kernels() -> Any:
    """:mod:`xpgd._numba`, or None where Numba is missing or cannot be imported (a Numba
    that does not support this NumPy, say): the plain path then runs."""
    import importlib.util

    if importlib.util.find_spec("numba") is None:
        return None
    try:
        return importlib.import_module("xpgd._numba")
    except Exception:  # a broken or incompatible install: fall back, never fail a fit
        return None


def fused_terms(
    X: Array,
    y: Array,
    sample_weight: Array | None,
    family: Any,
    fit_intercept: bool,
    *,
    parallel: bool = True,
) -> Any:
    """The fused loss-and-gradient kernel for these data, one read of X per evaluation:
    CuPy's (:mod:`xpgd._cuda`) on a GPU, Numba's (:mod:`xpgd._numba`) for large NumPy
    data when Numba is installed; or None where none applies, and the plain path
    (:func:`xpgd._core.objective.block_terms`) runs. ``parallel=False`` keeps the CPU
    kernel on the calling thread, for callers that run in parallel themselves (Dask's
    per-chunk tasks)."""
    if os.environ.get(FUSED_ENV_VAR) == "0":
        return None
    if array_api_compat.is_cupy_array(X):
        from xpgd import _cuda

        return _cuda.fused_terms(X, y, sample_weight, family.name, fit_intercept)
    if isinstance(X, np.ndarray) and X.size >= CPU_FUSED_MIN_ELEMENTS:
        kernels = _numba_kernels()
        if kernels is not None:
            return kernels.fused_terms(
                X, y, sample_weight, family.name, fit_intercept, parallel=parallel
            )
    return None


def use_fast_paths(objective: Any) -> Any:
    """``objective`` (a :class:`~xpgd._core.objective.LinearObjective`) set to evaluate
    as eager fits do on its data: this backend's row reducer and its fused kernel where
    one applies (:func:`row_reducer`, :func:`fused_terms`). Returns it."""
    X = objective.X
    objective.row_reduce = row_reducer(X, objective.xp)
    objective.fused_terms = fused_terms(
        X, objective.y, objective.sample_weight, objective.family, objective.fit_intercept
    )
    return objective


# --------------------------------------------------------------------------- lazy arrays


def is_lazy(xp: Namespace) -> bool:
    """True for namespaces whose arrays are task graphs (Dask)."""
    return array_api_compat.is_dask_namespace(xp)


def local_namespace(X: Array, xp: Namespace) -> Namespace:
    """Namespace in which the optimizer's small state lives for data ``X``.

    It is ``xp`` itself, except for Dask, where it is the namespace of the chunks (NumPy,
    or CuPy for GPU chunks): the parameters are computed there once per iteration and
    broadcast into the next iteration's graph, so the graph never grows.
    """
    if is_lazy(xp):
        return array_api_compat.array_namespace(X._meta)
    return xp


def as_lazy(v: Array, xp: Namespace) -> Array:
    """A small computed array wrapped back into a lazy (Dask) namespace; else unchanged."""
    if not is_lazy(xp):
        return v
    return importlib.import_module("dask.array").from_array(v, chunks=-1)


def materialize(*arrays: Array, xp: Namespace) -> tuple[Array, ...]:
    """Compute lazy arrays in one pass over the data; eager arrays pass through."""
    if not is_lazy(xp):
        return arrays
    dask = importlib.import_module("dask")
    return tuple(dask.compute(*arrays))


# --------------------------------------------------------------------------- shuffling


class RowShuffler:
    """Seeded row orders for the stochastic solvers.

    Orders come from NumPy's generator on the host (``random_state`` as in scikit-learn:
    None, an int or a ``numpy.random.Generator``), so a seed gives the same rows in the
    same order on every backend; each epoch's order is moved to X's device in one
    explicit transfer (``n`` integers), before the epoch's updates, never inside them.
    With ``validation_fraction``, that share of the rows (drawn once) is held out.
    """

    def __init__(
        self,
        n: int,
        random_state: Any,
        X: Array,
        xp: Namespace,
        *,
        validation_fraction: float | None = None,
    ) -> None:
        self._X, self._xp = X, xp
        self._rng = np.random.default_rng(random_state)
        rows = np.arange(n, dtype=np.int64)
        self.validation: Array | None = None
        if validation_fraction:
            if n < 2:
                raise InputError(
                    f"early_stopping holds out validation rows but there are only {n}; "
                    "pass more rows or set early_stopping=False"
                )
            size = min(n - 1, max(1, round(n * validation_fraction)))  # both sides non-empty
            held = self._rng.permutation(n)[:size]
            mask = np.zeros(n, dtype=bool)
            mask[held] = True
            rows = rows[~mask]
            self.validation = follow(np.flatnonzero(mask), X, xp, what="validation rows")
        self.train = rows

    def epoch(self) -> Array:
        """The training rows in a fresh random order, on X's device."""
        return follow(self._rng.permutation(self.train), self._X, self._xp, what="row order")


# --------------------------------------------------------------------------- small solves


def solve_triangular(A: Array, B: Array, *, upper: bool, xp: Namespace) -> Array:
    """``A^{-1} B`` for a small triangular ``A`` (``B`` 1-D or 2-D), without a host sync.

    The standard has no triangular solve, and ``linalg.solve`` synchronises with the
    host on CUDA (torch documents it; CuPy checks the factorisation's status), which the
    L-BFGS direction and the normal equations would pay at every use. So: torch's and
    CuPy's own triangular solves; ``xp.linalg.solve`` elsewhere (the host). A zero on
    ``A``'s diagonal gives non-finite values on every backend (``linalg.solve`` would
    raise on the host only): the L-BFGS step then restarts from steepest descent.
    """
    if array_api_compat.is_torch_namespace(xp):
        import torch

        vector = B.ndim == 1
        out = torch.linalg.solve_triangular(A, B[:, None] if vector else B, upper=upper)
        return out[:, 0] if vector else out
    if array_api_compat.is_cupy_namespace(xp):
        from cupyx.scipy.linalg import solve_triangular as cupy_solve_triangular

        return cupy_solve_triangular(A, B, lower=not upper)
    try:
        if B.ndim == 1:
            return xp.linalg.solve(A, B[:, None])[:, 0]
        return xp.linalg.solve(A, B)
    except linalg_errors():  # singular: NaN, as torch's and CuPy's solves give
        return xp.full(B.shape, float("nan"), dtype=B.dtype, device=array_api_compat.device(B))


def linalg_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failed factorisation raises in the loaded libraries (NumPy and
    array-api-strict: ``numpy.linalg.LinAlgError``; torch: ``torch.linalg.LinAlgError``;
    CuPy returns NaN instead, which the callers check)."""
    errors: list[type[BaseException]] = [np.linalg.LinAlgError]
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "linalg"):
        errors.append(getattr(torch.linalg, "LinAlgError", RuntimeError))
    return tuple(errors)


def quiet_overflow() -> contextlib.AbstractContextManager[Any]:
    """Silence NumPy's overflow / invalid-value warnings inside a solver loop.

    A diverging run overflows between two checks; the loop then raises
    :class:`~xpgd.exceptions.DivergenceError` naming the iteration and a fix, which says
    more than NumPy's ``RuntimeWarning`` (and, under ``-W error``, would be pre-empted
    by it). Non-finite values never leave the loop: the checks catch them.
    """
    return np.errstate(over="ignore", invalid="ignore")
