"""Elementwise ops. Binary ones broadcast like NumPy; their backward returns gradients of the
output's shape and the engine sums each down to its input's shape (`sum_to`, in one place).

Subgradients at kinks, chosen on purpose and pinned by tests: relu'(0) = 0, abs'(0) = 0,
clip passes the gradient on the closed interval [min, max], maximum/minimum split it equally
between tied inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import config
from ..function import Function
from ..tensor import Tensor
from ._util import binary, data


def _floating(x: Tensor) -> np.ndarray:
    """x's array, with integers and bools promoted to the default float dtype (as PyTorch does).

    NumPy would give float16 for small integer types, and sigmoid's arithmetic would wrap in them.
    """
    return x.data if x.data.dtype.kind in "fc" else x.data.astype(config.default_dtype)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return binary(np.add, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g  # the add gate hands the same gradient to both inputs


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return binary(np.subtract, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return binary(np.multiply, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if a is b:  # x * x: both edges lead to x, so one gradient of 2 x g saves adding two of x g
            return (g * 2) * a, None  # g first: when g is a broadcast (from a sum), g * 2 is small
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None, g * a if need_b else None)  # the mul gate swaps its inputs


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return binary(np.true_divide, a, b)

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
        return np.power(data(a), data(b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g * b * a ** (b - 1) if need_a else None  # d(a^b)/da = b a^(b-1)
        gb = g * ctx.output * log(a) if need_b else None  # d(a^b)/db = a^b ln a
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x.data

    @staticmethod
    def backward(ctx, g):
        return -g


class Cast(Function):
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
        # exp never overflows: z = e^-|x|, and sigma = 1/(1+z) for x >= 0, z/(1+z) below; the
        # branches are joined by a factor max(z, [x >= 0]), which is 1 or z exactly, since a select
        # (np.where) costs more than all the arithmetic when the signs of x are mixed
        z = np.exp(-np.abs(x))
        return np.asarray((1 / (1 + z)) * np.maximum(z, x >= 0), dtype=x.dtype)

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
            ctx.save_for_backward(x.data > 0)  # relu'(0) = 0; a boolean mask is a quarter of x's memory
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
        return g * np.sign(x.data)  # abs'(0) = 0


class Clip(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        if lo is None and hi is None:
            raise ValueError("clip: at least one of min and max must be given")
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return np.clip(x.data, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        inside = np.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x.data >= lo
        if hi is not None:
            inside &= x.data <= hi
        return g * inside


class _Extremum2(Function):
    """maximum(a, b) and minimum(a, b); tied inputs share the gradient equally."""

    pick: Any = None

    @classmethod
    def forward(cls, ctx, a, b):
        a_, b_ = data(a), data(b)
        out = cls.pick(a_, b_)
        # weight of a in the gradient: 1 where a wins, 1/2 at ties, 0 where b wins
        ctx.save_for_backward((out == a_) * (1.0 - 0.5 * (a_ == b_)))
        return out

    @staticmethod
    def backward(ctx, g):
        (wa,) = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        wa = wa.astype(g.dtype, copy=False)
        return (g * wa if need_a else None, g * (1 - wa) if need_b else None)


class Maximum(_Extremum2):
    pick = staticmethod(np.maximum)


class Minimum(_Extremum2):
    pick = staticmethod(np.minimum)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = np.asarray(data(cond), dtype=bool)
        return np.where(ctx.cond, data(a), data(b))

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
