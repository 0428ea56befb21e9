"""Dask evaluation of a :class:`~xpgd._core.objective.LinearObjective`: one reduction
over the chunks per iteration.

Building the whole computation as Dask array expressions would make the task graph grow
with every iteration (or cost tens of milliseconds of graph construction per step). Here
each iteration submits one task per row block, which runs the objective's block kernel
(:func:`~xpgd._core.objective.block_terms`, the same Array API code as the eager path) on
that block in the chunks' namespace, and adds the partial sums locally. The parameters are
small and live in the chunks' namespace (NumPy, or CuPy for GPU chunks); they are
broadcast to the tasks.

This module is the backend boundary for Dask: it alone imports ``dask``.
"""

from __future__ import annotations

from typing import Any

import dask
from array_api_compat import array_namespace

from xpgd._core.losses import LossFamily
from xpgd._core.objective import (
    LinearObjective,
    add_parts,
    block_gram,
    block_moments,
    block_terms,
)
from xpgd._typing import Array

__all__ = ["ChunkedObjective"]


def _row_blocks(a: Any | None, row_chunks: tuple[int, ...]) -> list[Any]:
    """One delayed object per row block of ``a`` (columns in a single block)."""
    if a is None:
        return [None] * len(row_chunks)
    a = a.rechunk((row_chunks,) + tuple((s,) for s in a.shape[1:]))
    return list(a.to_delayed().ravel())


def _chunk_terms(
    theta: Array,
    X: Array,
    y: Array,
    w: Array | None,
    family: LossFamily,
    fit_intercept: bool,
) -> tuple[Array, Array]:
    # Runs on a worker, on one chunk: the namespace is that of the chunk.
    return block_terms(
        theta, X, y, w, family=family, fit_intercept=fit_intercept, xp=array_namespace(X)
    )


def _chunk_gram(v: Array, X: Array, w: Array | None, fit_intercept: bool) -> Array:
    return block_gram(v, X, w, fit_intercept=fit_intercept, xp=array_namespace(X))


def _chunk_moments(X: Array, y: Array, w: Array | None, origin: Array | None) -> tuple[Array, ...]:
    return block_moments(X, y, w, origin, xp=array_namespace(X))


class ChunkedObjective(LinearObjective):
    """The same objective, with the data sums taken chunk by chunk.

    Built from a :class:`LinearObjective` on Dask arrays; its small statistics (total
    weight, column means and spreads) are computed once here, in one pass.
    """

    def __init__(self, objective: LinearObjective) -> None:
        self.__dict__.update(objective.__dict__)
        X = objective.X
        if X.numblocks[1] != 1:  # the kernels need whole rows
            X = X.rechunk({1: -1})
        rows = X.chunks[0]
        self._blocks = (
            list(X.to_delayed().ravel()),
            _row_blocks(objective.y, rows),
            _row_blocks(objective.sample_weight, rows),
        )
        self.param_xp = array_namespace(X._meta)
        self.device = None
        self.scale, mean, sd = dask.compute(objective.scale, objective.mean, objective.sd)
        self._stats = (mean, sd)

    def first_row(self) -> Array:
        return self.X[0, :].compute()

    def data_sums(self, theta: Array) -> tuple[Array, Array]:  # one task per chunk
        X_blocks, y_blocks, w_blocks = self._blocks
        task = dask.delayed(_chunk_terms, pure=True)
        parts = dask.compute(
            *(
                task(theta, Xb, yb, wb, self.family, self.fit_intercept)
                for Xb, yb, wb in zip(X_blocks, y_blocks, w_blocks, strict=True)
            )
        )
        loss, grad = add_parts(list(parts))
        return self.param_xp.asarray(loss), grad

    def gram_sums(self, v: Array) -> Array:
        X_blocks, _, w_blocks = self._blocks
        task = dask.delayed(_chunk_gram, pure=True)
        parts = dask.compute(
            *(
                (task(v, Xb, wb, self.fit_intercept),)
                for Xb, wb in zip(X_blocks, w_blocks, strict=True)
            )
        )
        return add_parts(list(parts))[0]

    def moment_sums(self, origin: Array | None) -> tuple[Array, ...]:
        X_blocks, y_blocks, w_blocks = self._blocks
        task = dask.delayed(_chunk_moments, pure=True)
        parts = dask.compute(
            *(
                task(Xb, yb, wb, origin)
                for Xb, yb, wb in zip(X_blocks, y_blocks, w_blocks, strict=True)
            )
        )
        return add_parts(list(parts))
