"""Saving and loading fitted models: arrays plus JSON metadata in one ``.npz`` file.

Portable (any backend can load it), never unpickles code (``allow_pickle=False``), and
written atomically (a temporary file in the same folder, then a rename), so a crash never
leaves half a model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
import zipfile
from typing import Any

import numpy as np

from xpgd._backend import resolve_choice, to_backend, to_numpy
from xpgd.exceptions import InputError

__all__ = ["load", "save"]

FORMAT = "xpgd-model"
FORMAT_VERSION = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _label(key: Any) -> Any:
    """A class label back from JSON (lists come back for tuples; numbers stay numbers)."""
    return tuple(key) if isinstance(key, list) else key


def _digest(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the metadata (without the digest) and of every array's dtype, shape
    and bytes, in a fixed order."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(
    model: Any, path: str | pathlib.Path, *, extra: dict[str, Any] | None = None
) -> pathlib.Path:
    """Write a fitted estimator (and optional JSON-able ``extra`` metadata) to ``path``."""
    from xpgd import __version__

    model._check_fitted()
    path = pathlib.Path(path)
    params = {k: v for k, v in model.get_params().items() if k not in ("backend", "device")}
    if isinstance(params.get("class_weight"), dict):  # JSON keys are strings: keep pairs
        params["class_weight"] = {"pairs": [[k, v] for k, v in params["class_weight"].items()]}
    if isinstance(params.get("random_state"), np.random.Generator):
        params["random_state"] = None  # a generator's state is not a hyperparameter to keep
    arrays = {
        "coef_": to_numpy(model.coef_),
        "intercept_": to_numpy(model.intercept_),
        "loss_history_": to_numpy(model.loss_history_),
    }
    classes = getattr(model, "classes_", None)
    if classes is not None:
        classes = to_numpy(classes)
        if classes.dtype.kind == "O":
            classes = classes.astype(str)
        arrays["classes_"] = classes
    names = getattr(model, "feature_names_in_", None)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xpgd_version": __version__,
        "estimator": type(model).__name__,
        "params": _jsonable(params),
        "n_iter_": int(model.n_iter_),
        "solver_": getattr(model, "solver_", None),
        "n_features_in_": int(model.n_features_in_),
        "feature_names_in_": None if names is None else [str(n) for n in names],
        "extra": _jsonable(extra or {}),
    }
    meta["sha256"] = _digest(meta, arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __metadata__=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | pathlib.Path, *, backend: str | None = None, device: Any = None) -> Any:
    """Read a model written by :func:`save`, onto ``backend`` / ``device``."""
    import xpgd

    path = pathlib.Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__metadata__"]))
            arrays = {k: data[k] for k in data.files if k != "__metadata__"}
    except FileNotFoundError:
        raise InputError(f"no such model file: {path}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path} is not a readable xpgd model file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path} is not an xpgd model file")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise InputError(
            f"{path} was written by xpgd {meta.get('xpgd_version')} in a newer format "
            f"(version {meta.get('format_version')}); upgrade xpgd to read it"
        )
    if meta.get("sha256") != _digest(meta, arrays):
        raise InputError(
            f"{path} is corrupted or was modified after it was written (checksum mismatch); "
            "save the model again"
        )
    cls = {
        "LinearRegression": xpgd.LinearRegression,
        "LogisticRegression": xpgd.LogisticRegression,
    }.get(meta.get("estimator"))
    if cls is None:
        raise InputError(f"{path}: unknown estimator {meta.get('estimator')!r}")
    params = dict(meta["params"])
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = {_label(k): v for k, v in params["class_weight"]["pairs"]}
    model = cls(**params, backend=backend, device=device)
    choice = resolve_choice(backend, device)
    name = "numpy" if choice.name == "auto" else choice.name
    for key, value in arrays.items():
        if key == "classes_" and value.dtype.kind not in "biuf":
            setattr(model, key, value)
            continue
        # Fitted arrays of a Dask model live in the chunks' namespace (NumPy).
        setattr(model, key, value if name == "dask" else to_backend(value, name, choice.device))
    model.n_iter_ = meta["n_iter_"]
    if meta.get("solver_") is not None:
        model.solver_ = meta["solver_"]
    model.n_features_in_ = meta["n_features_in_"]
    if meta.get("feature_names_in_") is not None:
        model.feature_names_in_ = np.asarray(meta["feature_names_in_"], dtype=object)
    return model
