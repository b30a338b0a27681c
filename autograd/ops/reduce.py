"""Reductions. ``max``/``min`` split the gradient equally among tied elements (as PyTorch)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from ._util import axes_of, count, keepdims_shape
from .movement import BroadcastTo, Reshape


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.in_shape = x.shape
        ctx.kept = keepdims_shape(x.shape, axes_of(axis, x.ndim))
        return np.sum(x.data, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        # every input element contributes once: broadcast the gradient back
        return BroadcastTo.apply(Reshape.apply(g, ctx.kept), ctx.in_shape)


class _Extremum(Function):
    pick: Any = None

    @classmethod
    def forward(cls, ctx, x, axis, keepdims):
        if x.size == 0:
            raise ValueError(f"{cls.__name__.lower()}: reduction of an empty tensor of shape {x.shape}")
        axes = axes_of(axis, x.ndim)
        best = cls.pick(x.data, axis=axes, keepdims=True)
        hits = x.data == best
        # each tied element gets an equal share of the gradient
        ctx.save_for_backward(hits / hits.sum(axis=axes, keepdims=True, dtype=x.dtype))
        ctx.kept = best.shape
        return best if keepdims else best.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved_tensors
        return Reshape.apply(g, ctx.kept) * share


class Max(_Extremum):
    pick = staticmethod(np.max)


class Min(_Extremum):
    pick = staticmethod(np.min)


def _float32_for_float16(reduction: Callable) -> Callable:
    """Run the reduction of a float16 tensor in float32 and round once at the end, as PyTorch does:
    a float16 sum overflows past 65504 even where the mean or variance is small."""

    @functools.wraps(reduction)
    def wrapper(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if x.dtype == np.float16:
            return reduction(x.astype(np.float32), *args, **kwargs).astype(np.float16)
        return reduction(x, *args, **kwargs)

    return wrapper


@_float32_for_float16
def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    n = count(x.shape, axes_of(axis, x.ndim))
    if n == 0:
        raise ValueError(f"mean: reduction over an empty axis of shape {x.shape}")
    return Sum.apply(x, axis, keepdims) * (1.0 / n)


@_float32_for_float16
def var(x: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Mean squared deviation, divided by ``n - ddof`` (NumPy's convention)."""
    n = count(x.shape, axes_of(axis, x.ndim))
    if n - ddof <= 0:
        raise ValueError(f"var: {n} elements are too few for ddof={ddof}")
    d = x - mean(x, axis, keepdims=True)
    return Sum.apply(d * d, axis, keepdims) * (1.0 / (n - ddof))


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably by shifting with the (constant) max."""
    axes = axes_of(axis, x.ndim)
    if count(x.shape, axes) == 0:
        raise ValueError(f"logsumexp: reduction over an empty axis of shape {x.shape}")
    shift = np.max(x.data, axis=axes, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0)  # all -inf rows stay -inf, not NaN
    with np.errstate(divide="ignore"):  # log(0) = -inf there, which is the answer
        out = Sum.apply((x - shift).exp(), axes, True).log() + shift
    return out if keepdims else Reshape.apply(out, tuple(n for i, n in enumerate(x.shape) if i not in axes))
