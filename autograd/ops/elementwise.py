"""Elementwise ops, each with its derivative. Binary ones broadcast like NumPy; their backward returns
gradients of the output's shape and the engine sums each down to its input's shape (`sum_to`).

Subgradients at kinks, chosen on purpose and pinned by tests: relu'(0) = 0, abs'(0) = 0, clip passes
the gradient on the closed interval [min, max], maximum/minimum split it equally between tied inputs.
At NaN inputs and at the edges of domains the gradients are PyTorch's.
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
    """x's array, integers and bools promoted to the default float dtype (NumPy would give float16
    for small integer types, as PyTorch does not)."""
    return x.data if x.data.dtype.kind in "fc" else x.data.astype(config.default_dtype)

def _binary(op: str, ufunc: np.ufunc, a: Any, b: Any) -> np.ndarray:
    """``ufunc`` on the arrays behind two operands, with PyTorch's promotion: a float array with an
    integer or bool array keeps the float dtype (NumPy would widen float32 with int32 to float64)."""
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    if isinstance(a, np.ndarray):
        if isinstance(b, np.ndarray):
            if a.dtype is not b.dtype and (a.dtype.kind == "f") != (b.dtype.kind == "f"):
                floating = a.dtype if a.dtype.kind == "f" else b.dtype
                if np.result_type(a.dtype, b.dtype) != floating:  # NumPy would widen it (float32 with int32)
                    a, b = a.astype(floating, copy=False), b.astype(floating, copy=False)
        elif a.base is not None and 0 in a.strides and np.ndim(b) == 0:  # a broadcast (zero strides) meets a scalar
            return kernels.binary(ufunc, a, b)
    elif isinstance(b, np.ndarray) and b.base is not None and 0 in b.strides and np.ndim(a) == 0:
        return kernels.binary(ufunc, a, b)
    try:
        out = ufunc(a, b)
    except ValueError:
        broadcast_shapes(op, np.shape(a), np.shape(b))
        raise
    return out if out.dtype is not _F64 else _weak_numbers(a, b, out)

_F64 = np.dtype(np.float64)

def _weak_numbers(a: Any, b: Any, out: np.ndarray) -> np.ndarray:
    """A float64 result that no float64 array asked for takes PyTorch's dtype: a NumPy scalar or a list
    counts as a Python number (x * np.sqrt(2) keeps float32), and integers divided or meeting a float
    number give the default dtype (uint8 pixels / 255 are float32), where NumPy gives float64."""
    if (type(a) is np.ndarray and a.dtype is _F64) or (type(b) is np.ndarray and b.dtype is _F64):
        return out
    floats = [x.dtype for x in (a, b) if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
    return out.astype(np.result_type(*floats) if floats else config.default_dtype, copy=False)

def _needed(ctx: Function, *grads: Any) -> tuple:
    """The gradients (callables, evaluated lazily) of the inputs that need one; None for the rest."""
    return tuple(grad() if need else None for grad, need in zip(grads, ctx.needs_input_grad))

class Add(Function):
    forward = staticmethod(lambda ctx, a, b: _binary("add", np.add, a, b))
    backward = staticmethod(lambda ctx, g: (g, g))  # the add gate hands the same gradient to both inputs

class Sub(Function):
    forward = staticmethod(lambda ctx, a, b: _binary("sub", np.subtract, a, b))
    backward = staticmethod(lambda ctx, g: (g, -g if ctx.needs_input_grad[1] else None))  # d(a - b)/db = -1

class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("mul", np.multiply, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if a is b:  # x * x: one gradient 2 x g; g first, since a broadcast g (from a sum) doubles cheaply
            return (g * 2) * a, None
        need_a, need_b = ctx.needs_input_grad
        return g * b if need_a else None, g * a if need_b else None  # the mul gate swaps its inputs

class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("div", np.true_divide, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _needed(ctx, lambda: g / b, lambda: -g * a / (b * b))  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2

class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("pow", np.power, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a0 = data(a) == 0  # where a formula breaks down at a = 0, PyTorch's 0: d/da at b = 0, d/db at b >= 0
        return _needed(ctx, lambda: _zero_where(a0 & (data(b) == 0), a, lambda a: g * b * a ** (b - 1)),  # b a^(b-1)
                       lambda: _zero_where(a0 & (data(b) >= 0), a, lambda a: g * Pow.apply(a, b) * log(a)))  # a^b ln a

def _zero_where(mask: Any, a: Any, derivative: Any) -> Tensor:
    """``derivative(a)`` with 0 where ``mask`` holds: the value it takes at the edge of its domain. There
    the formula runs on a = 1 instead, so that neither it nor its own derivative meets inf: a select alone
    would send 0 * inf = NaN back to a in the next order (the Hessian of x ** 0.0 at x = 0)."""
    if not np.any(mask):
        return derivative(a)
    safe = Where.apply(mask, np.ones((), a.dtype), a) if isinstance(a, Tensor) else np.where(mask, 1, a)
    with np.errstate(divide="ignore", invalid="ignore"):  # the formula's inf and nan elsewhere are the answer
        x = derivative(safe)
    return Where.apply(mask, np.zeros((), x.dtype), x)

class Neg(Function):
    forward = staticmethod(lambda ctx, x: -x.data)
    backward = staticmethod(lambda ctx, g: -g)

class Cast(Function):
    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.source = x.data.dtype
        return x.data.astype(dtype)

    backward = staticmethod(lambda ctx, g: Cast.apply(g, ctx.source))

class Exp(Function):
    saves_output = True
    forward = staticmethod(lambda ctx, x: np.exp(_floating(x)))
    backward = staticmethod(lambda ctx, g: g * ctx.output)  # d/dx exp(x) = exp(x), the output itself

class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(_floating(x))

    backward = staticmethod(lambda ctx, g: g / ctx.saved_tensors[0])  # d/dx log(x) = 1 / x

def log(x: Any) -> Any:
    """Natural log of a Tensor, or of a constant (for the exponent rule of Pow)."""
    return Log.apply(x) if isinstance(x, Tensor) else np.log(x)

class Sqrt(Function):
    saves_output = True
    forward = staticmethod(lambda ctx, x: np.sqrt(_floating(x)))
    backward = staticmethod(lambda ctx, g: g / (2 * ctx.output))  # d/dx sqrt(x) = 1 / (2 sqrt(x))

class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(_floating(x))

    backward = staticmethod(lambda ctx, g: g * ctx.saved_tensors[0].cos())  # d/dx sin(x) = cos(x)

class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(_floating(x))

    backward = staticmethod(lambda ctx, g: -g * ctx.saved_tensors[0].sin())  # d/dx cos(x) = -sin(x)

class Tanh(Function):
    saves_output = True
    forward = staticmethod(lambda ctx, x: np.tanh(_floating(x)))
    backward = staticmethod(lambda ctx, g: TanhGrad.apply(g, ctx.output))  # d/dx tanh(x) = 1 - tanh(x)^2

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
        return _needed(ctx, lambda: TanhGrad.apply(gg, y), lambda: gg * g * y * -2)

class Sigmoid(Function):
    saves_output = True

    @staticmethod
    def forward(ctx, x):
        x = _floating(x)
        z = np.exp(-np.abs(x))  # never overflows: sigma(x) = 1 / (1 + z) for x >= 0, z / (1 + z) below
        return np.asarray(np.where(x >= 0, 1, z) / (1 + z), dtype=x.dtype)

    backward = staticmethod(lambda ctx, g: SigmoidGrad.apply(g, ctx.output))  # d/dx s(x) = s(x) (1 - s(x))

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
        return _needed(ctx, lambda: SigmoidGrad.apply(gg, y), lambda: gg * g * (1 - 2 * y))

class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x.data, 0)
        if ctx.next:  # relu'(0) = 0 and a NaN passes its gradient (as PyTorch); a bool mask: 1/4 of a float32 x
            ctx.save_for_backward(out != 0)  # out is 0 exactly where x <= 0, and NaN where x is
        return out

    backward = staticmethod(lambda ctx, g: g * ctx.saved_tensors[0])

class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x.data)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved_tensors[0].data
        return g * ((x > 0).astype(x.dtype) - (x < 0))  # sign(x): abs'(0) = 0, and 0 at NaN (as PyTorch)

class Clip(Function):
    """x limited to [lo, hi] (numbers or Tensors). The gradient reaches x on the closed interval, and a Tensor
    bound where it cut x off: d/dlo = [x < lo], d/dhi = [x > hi] (as PyTorch's clamp)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        if lo is None and hi is None:
            raise ValueError("clip: at least one of min and max must be given")
        # a NumPy scalar bound counts as a Python number, so np.float64(0.5) leaves a float32 x float32
        x_, lo_, hi_ = x.data, *(v.item() if isinstance(v, np.generic) else v for v in (data(lo), data(hi)))
        # where lo > hi the result is hi (NumPy and PyTorch): hi takes the gradient there; a NaN x takes none
        ctx.inside = (x_ >= lo_ if lo is not None else True) & (x_ <= hi_ if hi is not None else True)
        ctx.above = (x_ > hi_) | (lo_ > hi_ if lo is not None else False) if hi is not None else False
        ctx.below = (x_ < lo_) & ~ctx.above if lo is not None else False
        return np.clip(x_, lo_, hi_)

    backward = staticmethod(lambda ctx, g: _needed(ctx, lambda: g * ctx.inside, lambda: g * ctx.below,
                                                    lambda: g * ctx.above))

class _Extremum2(Function):
    """maximum(a, b) and minimum(a, b). The winner takes the gradient, tied inputs share it equally,
    and where either is NaN (the result is NaN) neither loses: both take the whole gradient (as PyTorch)."""

    pick: Any = None
    loses: Any = None  # a loses to b where loses(a, b): np.less for maximum

    @classmethod
    def forward(cls, ctx, a, b):
        a_, b_ = data(a), data(b)
        out = _binary(cls.__name__.lower(), cls.pick, a_, b_)
        tie = 0.5 * (a_ == b_)  # the weight of each input: 1 where it wins, 1/2 at ties, 0 where it loses
        ctx.save_for_backward(1 - cls.loses(a_, b_) - tie, 1 - cls.loses(b_, a_) - tie)
        return out

    @staticmethod
    def backward(ctx, g):
        wa, wb = ctx.saved_tensors
        return _needed(ctx, lambda: g * wa.astype(g.dtype, copy=False), lambda: g * wb.astype(g.dtype, copy=False))

class Maximum(_Extremum2):
    pick, loses = staticmethod(np.maximum), staticmethod(np.less)

class Minimum(_Extremum2):
    pick, loses = staticmethod(np.minimum), staticmethod(np.greater)

class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = np.asarray(data(cond), dtype=bool)
        broadcast_shapes("where", ctx.cond.shape, np.shape(data(a)), np.shape(data(b)))
        out = np.where(ctx.cond, data(a), data(b))
        # numbers (np.float64 too) and integers take PyTorch's dtype, as in binary ops; two floats the default
        return out if out.dtype is not _F64 else _weak_numbers(data(a), data(b), out)

    @staticmethod
    def backward(ctx, g):
        zero = np.zeros((), g.dtype)
        return (None, *_needed(ctx, lambda: None, lambda: Where.apply(ctx.cond, g, zero),
                               lambda: Where.apply(ctx.cond, zero, g))[1:])

def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max of two tensors (or a tensor and a constant), broadcasting."""
    return Maximum.apply(a, b)

def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min of two tensors (or a tensor and a constant), broadcasting."""
    return Minimum.apply(a, b)

def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is true, else ``b``; the gradient flows to the chosen side only."""
    return Where.apply(cond, a, b)
