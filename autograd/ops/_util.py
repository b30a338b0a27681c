"""Small helpers shared by the op families."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from ..engine import state
from ..tensor import Tensor


def data(x: Any) -> Any:
    """The ndarray behind a Tensor; constants pass through."""
    return x.data if isinstance(x, Tensor) else x


def axes_of(axis: Any, ndim: int) -> tuple[int, ...]:
    """Normalise ``axis`` (None, int or tuple) to a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(normalize_axis_tuple(axis, ndim)))


def keepdims_shape(in_shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(in_shape))


def count(in_shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return math.prod(in_shape[i] for i in axes)


FEW = 16  # reductions of at most this many elements per output, over a large array, go slice by slice


def reduce_kept(ufunc: np.ufunc, a: np.ndarray, axes: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """``ufunc.reduce`` of ``a`` over ``axes``, keeping them with size 1.

    Many outputs of a few elements each (pooling windows, maxout pieces) are reduced by applying
    ``ufunc`` across the slices of one reduced axis at a time, a few passes over long runs of
    memory. NumPy's own reduction would run its inner loop over the short reduced axes instead,
    which is many times slower. The axis slowest in memory goes first: its slices are the longest
    runs (whole rows of a channels-last image for the rows of a pooling window), and every later
    pass runs over a smaller array.
    """
    n = count(a.shape, axes)
    if not 1 < n <= FEW or a.size < 256 * n:
        return ufunc.reduce(a, axis=axes, keepdims=True, dtype=dtype)
    for axis in sorted(axes, key=lambda i: -abs(a.strides[i])):
        if a.shape[axis] == 1:
            continue
        index = (slice(None),) * axis
        parts = [a[index + (slice(k, k + 1),)] for k in range(a.shape[axis])]
        out = ufunc(parts[0], parts[1], dtype=dtype)
        for part in parts[2:]:
            ufunc(out, part, out=out)
        a = out
    return a


def memory_order(a: np.ndarray) -> tuple[int, ...]:
    """The axes of ``a`` from the slowest to the fastest in memory (by stride)."""
    return tuple(sorted(range(a.ndim), key=lambda i: -abs(a.strides[i])))


def dense_order(a: np.ndarray) -> tuple[int, ...] | None:
    """The memory order of ``a`` if it is a contiguous array with permuted axes, else None."""
    order = memory_order(a)
    return order if a.transpose(order).flags.c_contiguous else None


SHORT_RUN = 256  # NumPy loops over the innermost contiguous run with a fixed cost per run: shorter is slow


def contiguous_run(a: np.ndarray) -> int:
    """How many elements of ``a`` lie back to back in memory along its fastest axes."""
    run, step = 1, a.itemsize
    for axis in reversed(memory_order(a)):
        if a.shape[axis] == 1:
            continue
        if a.strides[axis] != step:
            break
        run *= a.shape[axis]
        step *= a.shape[axis]
    return run


def compact(a: np.ndarray) -> np.ndarray:
    """A contiguous copy of ``a`` that keeps its memory order (channels-last stays channels-last).

    An array made of many short contiguous runs, such as one kernel offset's slice of a
    channels-last window gradient (runs of C numbers), copies slowly: NumPy pays its per-run cost
    every C numbers. Each run is moved here as one record of its bytes instead.
    """
    order = memory_order(a)
    t = a.transpose(order)
    fast = order[-1]
    if a.ndim > 1 and a.strides[fast] == a.itemsize and a.shape[fast] > 1:
        record = np.dtype((np.void, a.itemsize * a.shape[fast]))
        t = np.ascontiguousarray(t.view(record)).view(a.dtype).reshape(t.shape)
    else:
        t = np.ascontiguousarray(t)
    return t.transpose(np.argsort(order))


def widen(small: Any, big: np.ndarray) -> Any:
    """``small``, which broadcasts against ``big``, copied along big's fastest axes in big's memory order.

    A per-channel vector (1, C, 1, 1) against a channels-last batch varies along big's fastest
    axis and is broadcast along the next ones, so NumPy would loop over runs of only C elements.
    Copied over the next axes (C * W numbers: a row of the image), it runs in rows instead.
    Anything else is returned as it is.
    """
    if not isinstance(small, np.ndarray) or big.size < 2**15 or not 0 < small.ndim <= big.ndim:
        return small
    shape = (1,) * (big.ndim - small.ndim) + small.shape
    order = dense_order(big)
    if order is None or shape == big.shape or any(s not in (1, n) for s, n in zip(shape, big.shape)):
        return small
    fast = order[-1]
    if shape[fast] == 1 or big.shape[fast] >= SHORT_RUN:
        return small  # NumPy already runs along big's fastest axis
    target, run = list(shape), 1
    for axis in reversed(order):
        if run >= SHORT_RUN:
            break
        target[axis] = big.shape[axis]
        run *= big.shape[axis]
    if math.prod(target) * 8 > big.size:
        return small
    wide = np.broadcast_to(small.reshape(shape), target).transpose(order)
    return np.ascontiguousarray(wide).transpose(np.argsort(order))


def binary(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    """``ufunc(a, b)`` on the arrays behind Tensors (or constants).

    Two shortcuts, same numbers. In a backward pass, a gradient that is itself a broadcast (as a
    sum hands it back) meets a constant once per distinct value and is broadcast again: the result
    is a read-only view, which is fine for a gradient on its way through the graph but not for a
    value a user may write into, so forward ops always return fresh arrays. And a small operand
    broadcast against a large array is widened first (see `widen`).
    """
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    if isinstance(a, np.ndarray):
        if isinstance(b, np.ndarray):
            if a.size != b.size:
                if a.size > b.size:
                    b = widen(b, a)
                else:
                    a = widen(a, b)
        elif 0 in a.strides and np.ndim(b) == 0 and state.in_backward:
            return _on_distinct(ufunc, a, b, first=True)
    elif isinstance(b, np.ndarray) and 0 in b.strides and np.ndim(a) == 0 and state.in_backward:
        return _on_distinct(ufunc, b, a, first=False)
    return ufunc(a, b)


def _on_distinct(ufunc: np.ufunc, spread: np.ndarray, constant: Any, first: bool) -> np.ndarray:
    """ufunc between a broadcast array and a constant, on one copy of each repeated value."""
    core = spread[tuple(slice(0, 1) if step == 0 else slice(None) for step in spread.strides)]
    out = ufunc(core, constant) if first else ufunc(constant, core)
    return np.broadcast_to(out, spread.shape)


def sum_kept(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The sum of ``a`` over ``axes``, keeping them with size 1.

    When the summed axes are the outer ones in memory of a large float array, such as the
    per-channel sums of a channels-last image batch or a bias gradient, the sum is one
    matrix-vector product with a vector of ones: BLAS runs it many times faster than NumPy's
    reduction over the outer axes, and accumulates in the same precision.
    """
    if a.dtype.kind not in "fc":
        return np.sum(a, axis=axes, keepdims=True)  # which widens small integers and bools
    if a.dtype in (np.float32, np.float64) and a.size >= 2**14 and 0 < len(axes) < a.ndim:
        order = dense_order(a)
        if order is not None and set(order[: len(axes)]) == set(axes):
            kept = order[len(axes) :]
            m = count(a.shape, axes)
            k = a.size // m
            # short rows (k numbers: one per channel) are slow for BLAS too: take the innermost
            # summed axis into the rows (k * r numbers each) and add its r partial sums at the end
            r = a.shape[order[len(axes) - 1]] if k < SHORT_RUN else 1
            out = np.ones(m // r, a.dtype) @ a.transpose(order).reshape(m // r, r * k)
            if r > 1:
                out = out.reshape(r, k).sum(axis=0)
            out = out.reshape([a.shape[i] for i in kept]).transpose(np.argsort(kept))
            return out.reshape(keepdims_shape(a.shape, axes))
    return reduce_kept(np.add, a, axes)
