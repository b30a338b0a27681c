"""Reductions. ``max``/``min`` split the gradient equally among tied elements (as PyTorch)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..kernels import reduce_windows, sum_kept
from ..tensor import Tensor
from ._util import axes_of, axis_index, count, keepdims_shape
from .elementwise import where
from .function import Function
from .movement import BroadcastTo, Reshape


class Sum(Function):
    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = axes_of(axis, x.ndim, "sum")
        ctx.in_shape, ctx.kept = x.shape, keepdims_shape(x.shape, axes)
        out = sum_kept(x.data, axes)
        return out if keepdims else out.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        # every input element contributes once: broadcast the gradient back (reshaped if it lost axes inside)
        return BroadcastTo.apply(g if g.ndim == 0 or g.shape == ctx.kept else Reshape.apply(g, ctx.kept), ctx.in_shape)

class _Extremum(Function):
    inputs = slice(0, 1)
    pick: Any = None  # np.maximum or np.minimum

    @classmethod
    def forward(cls, ctx, x, axis, keepdims):
        axes = axes_of(axis, x.ndim, cls.__name__.lower())
        if count(x.shape, axes) == 0:  # an empty batch is fine; an empty axis has no maximum
            raise ValueError(f"{cls.__name__.lower()}: reduction over an empty axis of shape {x.shape}")
        best = reduce_windows(cls.pick, x.data, axes)
        if any(ctx.needs_input_grad):
            hits = x.data == best
            if best.dtype.kind in "fc" and np.isnan(best).any():
                hits |= np.isnan(x.data)  # a NaN result comes from NaNs, and they take its gradient
            ctx.save_for_backward(hits)
            ctx.kept = best.shape
            # Tied elements share the gradient equally, 1 / (number of hits) each. Every output has a
            # hit, so as many hits as outputs means no ties, and the mask alone routes the gradient.
            ctx.share = None
            if np.count_nonzero(hits) != best.size:  # uint8 counts: kernels sum <= 16 per output, NumPy's sum widens
                ctx.share = np.divide(1, reduce_windows(np.add, hits.view(np.uint8), axes), dtype=x.dtype)
        return best if keepdims else best.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        (hits,) = ctx.saved_tensors
        g = Reshape.apply(g, ctx.kept)
        return (g if ctx.share is None else g * ctx.share) * hits

class Max(_Extremum):
    pick = staticmethod(np.maximum)

class Min(_Extremum):
    pick = staticmethod(np.minimum)

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
    n = count(x.shape, axes_of(axis, x.ndim, "mean"))
    if n == 0:
        raise ValueError(f"mean: reduction over an empty axis of shape {x.shape}")
    return Sum.apply(x, axis, keepdims) * (1.0 / n)  # d(mean x)/dx_i = 1/n

@_float32_for_float16
def var(x: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """The sum of squared deviations from the mean, divided by ``n - ddof`` (NumPy's convention)."""
    n = count(x.shape, axes_of(axis, x.ndim, "var"))
    if n - ddof <= 0:
        raise ValueError(f"var: {n} elements are too few for ddof={ddof}")
    d = x - mean(x, axis, keepdims=True)
    return Sum.apply(d * d, axis, keepdims) * (1.0 / (n - ddof))

@_float32_for_float16
def std(x: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """The square root of ``var``, taken before rounding to float16 (a variance past 65504 overflows)."""
    return root(var(x, axis, keepdims, ddof))

@_float32_for_float16
def norm(x: Tensor, p: float = 2, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The p-norm over ``axis``: (sum |x|^p)^(1/p); p = inf gives max |x|, -inf min |x|, p = 0 the count of
    nonzero entries (gradient 0). The gradient at a zero norm is 0, as PyTorch's."""
    if p == 0:  # a count: x stays in the graph only as the never-taken branch of a select, so its gradient is 0
        return Sum.apply(where(np.zeros(x.shape, bool), x, (x.data != 0).astype(x.dtype)), axis, keepdims)
    if p in (np.inf, -np.inf):
        a = x.abs()
        return Max.apply(a, axis, keepdims) if p > 0 else Min.apply(a, axis, keepdims)
    return root(Sum.apply(x * x if p == 2 else x.abs() ** p, axis, keepdims), p)

def root(s: Tensor, p: float = 2) -> Tensor:
    """s^(1/p) of s >= 0 (a norm, a standard deviation) with gradient 0 where s = 0, as PyTorch: the root's
    slope is infinite there (inf * 0 would be NaN), so the inner where hands the root 1 there instead."""
    live = s.data != 0  # a NaN stays NaN
    safe = where(live, s, 1.0)
    return where(live, safe.sqrt() if p == 2 else safe ** (1 / p), 0.0)

def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))), shifted by the (constant) max so exp never overflows; its gradient is softmax(x)."""
    axes = axes_of(axis, x.ndim, "logsumexp")
    if count(x.shape, axes) == 0:  # the log of an empty sum: -inf, as PyTorch
        with np.errstate(divide="ignore"):
            return Sum.apply(x.exp(), axes, keepdims).log()
    shift = np.max(x.data, axis=axes, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0)  # all -inf rows stay -inf, not NaN
    with np.errstate(divide="ignore"):  # log(0) = -inf there, which is the answer
        out = Sum.apply((x - shift).exp(), axes, True).log() + shift
    return out if keepdims else Reshape.apply(out, tuple(n for i, n in enumerate(x.shape) if i not in axes))

def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, shifted by the (detached) max first: exact, since softmax is
    shift-invariant, and exp never overflows. An empty axis gives an empty result (as PyTorch)."""
    if x.ndim == 0:  # PyTorch's: a 0-d tensor has the axis 0 (or -1) of one element
        return Reshape.apply(log_softmax(Reshape.apply(x, (1,)), axis), ())
    if x.shape[axis_index(axis, x.ndim, "log_softmax")] == 0:
        return x * 1.0
    shifted = x - np.max(x.data, axis=axis, keepdims=True)
    return shifted - Sum.apply(shifted.exp(), axis, True).log()

def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the detached max as in `log_softmax`."""
    if x.ndim == 0:
        return Reshape.apply(softmax(Reshape.apply(x, (1,)), axis), ())
    if x.shape[axis_index(axis, x.ndim, "softmax")] == 0:
        return x * 1.0
    e = (x - np.max(x.data, axis=axis, keepdims=True)).exp()
    return e / Sum.apply(e, axis, True)
