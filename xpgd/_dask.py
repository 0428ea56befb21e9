"""Dask evaluation of a :class:`~xpgd._core.objective.LinearObjective`: one reduction
over the chunks per iteration.

Building the whole computation as Dask array expressions would make the task graph grow
with every iteration (or cost tens of milliseconds of graph construction per step). Here
each iteration submits one task per row block, which runs the objective's *block kernel*
(the same Array API code as the eager path) on that block in the chunks' namespace, and
adds the partial sums locally. The parameters are small and live in the chunks'
namespace (NumPy, or CuPy for GPU chunks); they are broadcast to the tasks.

This module is the backend boundary for Dask: it alone imports ``dask``.
"""

from __future__ import annotations

from typing import Any

import dask
from array_api_compat import array_namespace

from xpgd._core.objective import LinearObjective
from xpgd._typing import Array, Namespace

__all__ = ["ChunkedObjective"]


def _row_blocks(a: Any | None, row_chunks: tuple[int, ...]) -> list[Any]:
    """One delayed object per row block of ``a`` (columns in a single block)."""
    if a is None:
        return [None] * len(row_chunks)
    a = a.rechunk((row_chunks,) + tuple((s,) for s in a.shape[1:]))
    return list(a.to_delayed().ravel())


class ChunkedObjective:
    """``value_and_grad`` / ``gram_matvec`` of ``objective`` evaluated chunk by chunk.

    Parameters
    ----------
    objective : LinearObjective
        Built on Dask arrays ``X``, ``y`` (and ``sample_weight``).
    """

    def __init__(self, objective: LinearObjective) -> None:
        self.objective = objective
        X = objective.X
        if X.numblocks[1] != 1:  # the kernels need whole rows
            X = X.rechunk({1: -1})
        rows = X.chunks[0]
        self._X = list(X.to_delayed().ravel())
        self._y = _row_blocks(objective.y, rows)
        self._w = _row_blocks(objective.sample_weight, rows)
        self.xp: Namespace = array_namespace(X._meta)
        (scale,) = dask.compute(objective.scale)
        self.scale = scale

    def _reduce(self, kernel: Any, *args: Any) -> tuple[Any, ...]:
        """Run ``kernel(*args, X_b, ...)`` on every block in one compute; sum the parts."""
        parts = dask.compute(*(kernel(*blocks) for blocks in zip(*args, strict=True)))
        if isinstance(parts[0], tuple):
            return tuple(sum(p[i] for p in parts[1:]) + parts[0][i] for i in range(len(parts[0])))
        return (sum(parts[1:]) + parts[0],)

    def value_and_grad(self, theta: Array) -> tuple[Array, Array]:
        """Objective and gradient: one pass over the chunks, results in the chunks' ns."""
        obj, xp = self.objective, self.xp

        def kernel(Xb: Any, yb: Any, wb: Any) -> Any:
            return dask.delayed(obj.block_terms, pure=True)(theta, Xb, yb, wb, xp=xp)

        loss_sum, grad_sum = self._reduce(kernel, self._X, self._y, self._w)
        return obj.finish(theta, xp.asarray(loss_sum), grad_sum, self.scale, xp=xp)

    def gram_matvec(self, v: Array) -> Array:
        """``[1 X]^T S [1 X] v`` over the chunks."""
        obj, xp = self.objective, self.xp

        def kernel(Xb: Any, wb: Any) -> Any:
            return dask.delayed(obj.block_gram, pure=True)(v, Xb, wb, xp=xp)

        (out,) = self._reduce(kernel, self._X, self._w)
        return out * self.scale

    def lipschitz(self, *, n_iter: int = 20) -> Array:
        """As :meth:`LinearObjective.lipschitz`, with one chunk reduction per iteration."""
        return self.objective.lipschitz(n_iter=n_iter, matvec=self.gram_matvec, xp=self.xp)
