"""NumPy's protocols for Tensors: ufuncs and functions that have an op dispatch to it and stay in the
graph (``np.exp(t)`` is ``t.exp()``); any other refuses a tensor that requires grad, since it would
drop the graph, and otherwise computes on the arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from . import elementwise as ew
from . import linalg as la
from . import movement as mv
from ._util import as_tensor, data


def numpy_call(name: str, fn: Any, args: Any, kwargs: dict) -> Any:
    """A NumPy function with no autograd op: computed on the arrays, unless it would drop a graph."""
    flat = [*args, *kwargs.values()]
    flat += [t for a in flat if isinstance(a, (list, tuple)) for t in a]
    if graphs := [a.shape for a in flat if isinstance(a, Tensor) and a._requires_grad]:
        how = f"np.{name} with {', '.join(f'{k}=' for k in kwargs)}" if kwargs else f"np.{name}"  # out=: a += t
        raise TypeError(f"{how} has no chainrule op, so it would drop the graph of a tensor of shape {graphs[0]} "
                        f"that requires grad; use an autograd op, or call it on t.detach().numpy()")

    def unwrap(a: Any) -> Any:
        return a.data if isinstance(a, Tensor) else type(a)(map(unwrap, a)) if isinstance(a, (list, tuple)) else a

    return fn(*map(unwrap, args), **{k: unwrap(v) for k, v in kwargs.items()})


def _comparison(ufunc: np.ufunc) -> Any:
    return lambda a, b: Tensor._make(np.asarray(ufunc(data(a), data(b))))


def _reduction(method: str) -> Any:
    def call(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        if dtype is not None or out is not None:
            raise TypeError(f"np.{method} on a Tensor: dtype= and out= are not supported")
        return getattr(as_tensor(a), method)(axis, keepdims, **kw)
    return call


def _pad(a: Any, width: Any, mode: str = "constant", **kw: Any) -> Any:
    """``np.pad`` with one constant is ``pad`` (whose negative widths crop, where NumPy's are an error)."""
    value = kw.get("constant_values", 0)
    if mode == "constant" and set(kw) <= {"constant_values"} and np.ndim(value) == 0 and np.min(width) >= 0:
        return mv.pad(a, width, value)
    return numpy_call("pad", np.pad, (a, width, mode), kw)


UFUNCS = {getattr(np, name): op for name, op in dict(
    add=ew.Add.apply, subtract=ew.Sub.apply, multiply=ew.Mul.apply, true_divide=ew.Div.apply, power=ew.Pow.apply,
    negative=ew.Neg.apply, exp=ew.Exp.apply, log=ew.Log.apply, sqrt=ew.Sqrt.apply, sin=ew.Sin.apply,
    cos=ew.Cos.apply, tanh=ew.Tanh.apply, absolute=ew.Abs.apply, maximum=ew.maximum, minimum=ew.minimum,
    square=lambda x: ew.Pow.apply(x, 2),
    matmul=la.matmul, **{c: _comparison(getattr(np, c)) for c in
                         ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")},
).items()}

FUNCTIONS = {getattr(np, name): op for name, op in dict(
    **{m: _reduction(m) for m in ("sum", "mean", "max", "min", "var", "std")}, amax=_reduction("max"),
    amin=_reduction("min"), pad=_pad,
    argmax=lambda a, axis=None, **kw: as_tensor(a).argmax(axis, **kw),
    argmin=lambda a, axis=None, **kw: as_tensor(a).argmin(axis, **kw),
    concatenate=lambda ts, axis=0: mv.concatenate(ts, axis), stack=lambda ts, axis=0: mv.stack(ts, axis),
    split=lambda a, sections, axis=0: mv.split(a, sections, axis),
    where=lambda cond, *ab: ew.where(cond, *ab) if ab else numpy_call("where", np.where, (cond,), {}),
    reshape=lambda a, shape, order="C": as_tensor(a).reshape(shape) if order == "C" else numpy_call(
        "reshape", np.reshape, (a, shape, order), {}),  # F order: NumPy's answer, or the refusal that names it
    transpose=lambda a, axes=None: as_tensor(a).transpose(*((tuple(axes),) if axes is not None else ())),
    swapaxes=lambda a, i, j: as_tensor(a).swapaxes(i, j), squeeze=lambda a, axis=None: mv.squeeze(a, axis),
    expand_dims=lambda a, axis: mv.unsqueeze(a, axis),
    clip=lambda a, a_min=None, a_max=None: ew.Clip.apply(a, a_min, a_max),
    dot=lambda a, b: la.matmul(a, b) if np.ndim(b) < 3 else la.tensordot(a, b, ([-1], [-2])),  # not batched
    tensordot=la.tensordot, einsum=lambda *args, optimize=False: la.einsum(*args), shape=lambda a: a.shape,
    ndim=lambda a: a.ndim, size=lambda a, axis=None: a.numel() if axis is None else a.shape[axis],
).items()}
