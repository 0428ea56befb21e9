"""Type aliases shared by the package.

The Array API standard has no single array class, so ``Array`` is ``Any`` with a name that
documents intent; ``Namespace`` is the module-like object returned by
``array_api_compat.array_namespace``.
"""

from __future__ import annotations

from typing import Any

Array = Any
"""An array of any Array-API-conforming library (NumPy, CuPy, torch, Dask, ...)."""

Namespace = Any
"""An Array API namespace (``xp``), as returned by ``array_namespace``."""

Device = Any
"""A device object of some namespace (``"cpu"``, ``torch.device("cuda:0")``, ...)."""

__all__ = ["Array", "Device", "Namespace"]
