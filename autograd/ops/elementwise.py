"""Elementwise ops. Binary ones broadcast like NumPy; their backward returns gradients of the
output's shape and the engine sums each down to its input's shape (`sum_to`, in one place).

Subgradients at kinks, chosen on purpose and pinned by tests: relu'(0) = 0, abs'(0) = 0,
clip passes the gradient on the closed interval [min, max], maximum/minimum split it equally
between tied inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..mode import config
from ..tensor import Tensor
from ._util import broadcast_shapes, data
from .function import Function


def _floating(x: Tensor) -> np.ndarray:
    """x's array, with integers and bools promoted to the default float dtype (as PyTorch does).

    NumPy would give float16 for small integer types, and sigmoid's arithmetic would wrap in them.
    """
    return x.data if x.data.dtype.kind in "fc" else x.data.astype(config.default_dtype)


def _binary(op: str, ufunc: np.ufunc, a: Any, b: Any) -> np.ndarray:
    """``ufunc`` on the arrays behind two operands, with PyTorch's promotion: a float array with an
    integer or bool array keeps the float dtype (NumPy would widen float32 with int32 to float64)."""
    a, b = data(a), data(b)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype is not b.dtype:
        if a.dtype.kind == "f" and b.dtype.kind in "biu":
            b = b.astype(a.dtype)
        elif b.dtype.kind == "f" and a.dtype.kind in "biu":
            a = a.astype(b.dtype)
    try:
        return kernels.binary(ufunc, a, b)
    except ValueError:
        broadcast_shapes(op, np.shape(a), np.shape(b))
        raise


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return _binary("add", np.add, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g  # the add gate hands the same gradient to both inputs


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return _binary("sub", np.subtract, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("mul", np.multiply, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if a is b:  # x * x: both edges lead to x, so one gradient of 2 x g saves adding two of x g
            return g * (a * 2), None  # g may be a broadcast (from a sum): the product then follows x's layout
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None, g * a if need_b else None)  # the mul gate swaps its inputs


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("div", np.true_divide, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None  # d(a/b)/db = -a / b^2
        return ga, gb


class Pow(Function):
    saves_output = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("pow", np.power, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:  # d(a^b)/da = b a^(b-1), and 0 at a = b = 0 (as PyTorch: a^0 is constant, even at a = 0)
            ga = _zero_where((data(a) == 0) & (data(b) == 0), lambda: g * b * a ** (b - 1))
        if need_b:  # d(a^b)/db = a^b ln a, and 0 where a = 0 and b >= 0 (as PyTorch: 0^b is 0 or 1 there)
            gb = _zero_where((data(a) == 0) & (data(b) >= 0), lambda: g * ctx.output * log(a))
        return ga, gb


def _zero_where(mask: Any, derivative: Any) -> Tensor:
    """``derivative()`` with 0 where ``mask`` holds: the value it takes at the edge of its domain."""
    if not np.any(mask):
        return derivative()
    with np.errstate(divide="ignore", invalid="ignore"):  # the formula's inf and nan there are replaced
        x = derivative()
    return Where.apply(mask, np.zeros((), x.dtype), x)


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x.data

    @staticmethod
    def backward(ctx, g):
        return -g


class Cast(Function):
    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.source = x.data.dtype
        return x.data.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return Cast.apply(g, ctx.source)


class Exp(Function):
    saves_output = True

    @staticmethod
    def forward(ctx, x):
        return np.exp(_floating(x))

    @staticmethod
    def backward(ctx, g):
        return g * ctx.output  # d exp(x) = exp(x)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(_floating(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x


def log(x: Any) -> Any:
    """Natural log of a Tensor, or of a constant (for the exponent rule of Pow)."""
    return Log.apply(x) if isinstance(x, Tensor) else np.log(x)


class Sqrt(Function):
    saves_output = True

    @staticmethod
    def forward(ctx, x):
        return np.sqrt(_floating(x))

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.output)  # d sqrt(x) = 1 / (2 sqrt(x))


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(_floating(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(_floating(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * x.sin()


class Tanh(Function):
    saves_output = True

    @staticmethod
    def forward(ctx, x):
        return np.tanh(_floating(x))

    @staticmethod
    def backward(ctx, g):
        return TanhGrad.apply(g, ctx.output)  # d tanh = 1 - tanh^2


class TanhGrad(Function):
    """g (1 - y^2) for y = tanh(x), fused: one pass and one temporary instead of three."""

    @staticmethod
    def forward(ctx, g, y):
        ctx.save_for_backward(g, y)
        out = np.asarray(np.multiply(y.data, y.data))  # 0-d inputs give NumPy scalars: make an array
        np.subtract(1, out, out=out)
        return np.multiply(out, g.data, out=out)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        need_g, need_y = ctx.needs_input_grad
        return (TanhGrad.apply(gg, y) if need_g else None, gg * g * y * -2 if need_y else None)


class Sigmoid(Function):
    saves_output = True

    @staticmethod
    def forward(ctx, x):
        x = _floating(x)
        z = np.exp(-np.abs(x))  # never overflows: sigma(x) = 1 / (1 + z) for x >= 0, z / (1 + z) below
        return np.asarray(np.where(x >= 0, 1, z) / (1 + z), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        return SigmoidGrad.apply(g, ctx.output)  # d sigma = sigma (1 - sigma)


class SigmoidGrad(Function):
    """g y (1 - y) for y = sigmoid(x), fused."""

    @staticmethod
    def forward(ctx, g, y):
        ctx.save_for_backward(g, y)
        out = np.asarray(np.subtract(1, y.data))
        np.multiply(out, y.data, out=out)
        return np.multiply(out, g.data, out=out)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        need_g, need_y = ctx.needs_input_grad
        return (SigmoidGrad.apply(gg, y) if need_g else None, gg * g * (1 - 2 * y) if need_y else None)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        if any(ctx.needs_input_grad):
            # relu'(0) = 0, and a NaN passes its gradient (as PyTorch); a mask is a quarter of x's memory
            ctx.save_for_backward(~(x.data <= 0))
        return np.maximum(x.data, 0)

    @staticmethod
    def backward(ctx, g):
        (positive,) = ctx.saved_tensors
        return g * positive


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x.data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _sign(x.data)  # abs'(0) = 0


def _sign(x: np.ndarray) -> np.ndarray:
    """-1, 0 or 1 in x's dtype; 0 at NaN, as PyTorch's sign."""
    return (x > 0).astype(x.dtype) - (x < 0)


class Clip(Function):
    """x limited to [lo, hi]. The gradient reaches x on the closed interval, and a bound (a number
    or a Tensor) where it was taken: d/dlo = [x < lo], d/dhi = [x > hi] (as PyTorch's clamp)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        if lo is None and hi is None:
            raise ValueError("clip: at least one of min and max must be given")
        x_, lo_, hi_ = x.data, data(lo), data(hi)
        # where lo > hi the result is hi (NumPy and PyTorch): hi takes the gradient there; a NaN x takes none
        ctx.inside = (x_ >= lo_ if lo is not None else True) & (x_ <= hi_ if hi is not None else True)
        ctx.above = (x_ > hi_) | (lo_ > hi_ if lo is not None else False) if hi is not None else False
        ctx.below = (x_ < lo_) & ~ctx.above if lo is not None else False
        return np.clip(x_, lo_, hi_)

    @staticmethod
    def backward(ctx, g):
        need_x, need_lo, need_hi = ctx.needs_input_grad
        return (g * ctx.inside if need_x else None, g * ctx.below if need_lo else None,
                g * ctx.above if need_hi else None)


class _Extremum2(Function):
    """maximum(a, b) and minimum(a, b). The winner takes the gradient, tied inputs share it equally,
    and a NaN (which wins, as it propagates) passes it to its own input (as PyTorch)."""

    pick: Any = None
    loses: Any = None  # a loses to b where loses(a, b): np.less for maximum

    @classmethod
    def forward(cls, ctx, a, b):
        a_, b_ = data(a), data(b)
        out = _binary(cls.__name__.lower(), cls.pick, a_, b_)
        tie = 0.5 * (a_ == b_)
        # the weights of a and b in the gradient: 1 where it wins, 1/2 at ties, 0 where it loses
        ctx.save_for_backward(1 - cls.loses(a_, b_) - tie, 1 - cls.loses(b_, a_) - tie)
        return out

    @staticmethod
    def backward(ctx, g):
        wa, wb = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * wa.astype(g.dtype, copy=False) if need_a else None,
                g * wb.astype(g.dtype, copy=False) if need_b else None)


class Maximum(_Extremum2):
    pick = staticmethod(np.maximum)
    loses = staticmethod(np.less)


class Minimum(_Extremum2):
    pick = staticmethod(np.minimum)
    loses = staticmethod(np.greater)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = np.asarray(data(cond), dtype=bool)
        broadcast_shapes("where", ctx.cond.shape, np.shape(data(a)), np.shape(data(b)))
        out = np.where(ctx.cond, data(a), data(b))
        if isinstance(a, float) and isinstance(b, float):  # two Python floats give the default dtype
            out = out.astype(config.default_dtype)
        return out

    @staticmethod
    def backward(ctx, g):
        _, need_a, need_b = ctx.needs_input_grad
        zero = np.zeros((), g.dtype)
        ga = Where.apply(ctx.cond, g, zero) if need_a else None
        gb = Where.apply(ctx.cond, zero, g) if need_b else None
        return None, ga, gb


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max of two tensors (or a tensor and a constant), broadcasting."""
    return Maximum.apply(a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min of two tensors (or a tensor and a constant), broadcasting."""
    return Minimum.apply(a, b)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is true, else ``b``; the gradient flows to the chosen side only."""
    return Where.apply(cond, a, b)
