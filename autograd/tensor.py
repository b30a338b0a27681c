"""Tensor: an ndarray plus the node of the graph that produced it.

A Tensor is a thin handle: ``data`` is a NumPy array, ``grad_fn`` is the `Function` node that
computed it (None for leaves), ``grad`` is filled by ``backward()``. Every operator delegates to a
`Function` in ``autograd.ops``, so the whole graph is made of one kind of node.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from . import engine
from .mode import config

_Scalar = (int, float, bool)


def _default_dtype() -> np.dtype:
    return config.default_dtype


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Turn user data into an ndarray following the contract's dtype rules.

    Python floats (and lists of them) take the default dtype; ndarrays and NumPy scalars keep
    theirs; Python ints give int64 and bools give bool, as NumPy does. Anything that is not numbers
    or bools (None, strings, Python objects) raises TypeError rather than becoming NaN or an object array.
    """
    if isinstance(data, Tensor):
        array = data.data
    elif isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
    else:
        array = np.asarray(data)
        if array.dtype == object and any(v is None for v in array.flat):
            raise TypeError("tensor: None is not a number (NumPy would silently turn it into NaN)")
        if array.dtype.kind == "f" or array.dtype == object:
            array = array.astype(_default_dtype() if dtype is None else dtype)  # no detour through float32
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if array.dtype.kind not in "biufc":
        raise TypeError(f"tensor: data of dtype {array.dtype} is not numeric")
    return array


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)``: ``data`` is a Python scalar, a
    nested list, an ndarray or a Tensor. ``requires_grad=True`` asks ``backward()`` to fill
    ``.grad``; it needs a floating dtype.
    """

    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    # defaults live on the class, so that making an op's output sets only what differs
    grad: Tensor | None = None
    grad_fn: Any = None
    name: str | None = None
    _requires_grad = False
    _hooks: list | None = None
    _version = 0  # bumped by every in-place change; saved tensors check it in backward
    next = ()  # as a vertex of the graph, a leaf has no parents (see engine)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data = as_array(data, dtype)
        if name is not None:
            self.name = name
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, grad_fn: Any = None, requires_grad: bool = False) -> Tensor:
        """Internal constructor for op outputs: no conversion, no checks."""
        t = object.__new__(Tensor)
        t.data = data
        if grad_fn is not None:
            t.grad_fn = grad_fn
        if requires_grad:
            t._requires_grad = True
        return t

    # --- attributes -------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":  # complex gradients would need conjugates
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}; "
                f"convert first, e.g. tensor.float()"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be switched off on leaf tensors; use detach()")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's name)
        return self.transpose()

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", precision=4, prefix="tensor(")
        extras = []
        if self.data.dtype != _default_dtype():
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, got {self.data.dtype}")
        return int(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    __hash__ = object.__hash__  # __eq__ is elementwise, identity stays the hash

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.data.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._make(self.data)

    def astype(self, dtype: Any) -> Tensor:
        return Cast.apply(self, np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # --- gradients ----------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is d(loss)/d(self); it may be omitted only when self has one element.
        """
        engine.backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        if self.grad_fn is not None:
            self.grad_fn._retained = weakref.ref(self)

    def register_hook(self, hook: Any) -> engine.HookHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self.grad_fn is not None:
            owner = self.grad_fn
            if owner._hooks is None:
                owner._hooks = []
            hooks = owner._hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return engine.HookHandle(hooks, hook)

    # --- operators ----------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return Div.apply(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return Pow.apply(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return Pow.apply(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    def __neg__(self) -> Tensor:
        return Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return Abs.apply(self)

    def __getitem__(self, index: Any) -> Tensor:
        return GetItem.apply(self, index)

    # comparisons give bool tensors outside the graph
    def __lt__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self.data < _raw(other)))

    def __le__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self.data <= _raw(other)))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self.data > _raw(other)))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self.data >= _raw(other)))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._make(np.asarray(self.data == _raw(other)))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._make(np.asarray(self.data != _raw(other)))

    # --- elementwise --------------------------------------------------------------------------
    def exp(self) -> Tensor:
        return Exp.apply(self)

    def log(self) -> Tensor:
        return Log.apply(self)

    def sqrt(self) -> Tensor:
        return Sqrt.apply(self)

    def sin(self) -> Tensor:
        return Sin.apply(self)

    def cos(self) -> Tensor:
        return Cos.apply(self)

    def tanh(self) -> Tensor:
        return Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return Relu.apply(self)

    def abs(self) -> Tensor:
        return Abs.apply(self)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (NumPy's names)
        return Clip.apply(self, min, max)

    clamp = clip

    # --- reductions ---------------------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return Sum.apply(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return Max.apply(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return Min.apply(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return var(self, axis, keepdims, ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return var(self, axis, keepdims, ddof).sqrt()

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return logsumexp(self, axis, keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._make(np.asarray(np.argmax(self.data, axis=axis, keepdims=keepdims)))

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return Tensor._make(np.asarray(np.argmin(self.data, axis=axis, keepdims=keepdims)))

    # --- shape --------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return Reshape.apply(self, _shape_arg(shape))

    view = reshape

    def transpose(self, *axes: Any) -> Tensor:
        return Transpose.apply(self, _shape_arg(axes) if axes else None)

    def permute(self, *axes: Any) -> Tensor:
        return Transpose.apply(self, _shape_arg(axes))

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return swapaxes(self, axis1, axis2)

    def flatten(self, start: int = 0, end: int = -1) -> Tensor:
        return flatten(self, start, end)

    def squeeze(self, axis: Any = None) -> Tensor:
        return squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return unsqueeze(self, axis)

    def broadcast_to(self, *shape: Any) -> Tensor:
        return BroadcastTo.apply(self, _shape_arg(shape))

    def expand(self, *shape: Any) -> Tensor:
        return expand(self, _shape_arg(shape))

    def sum_to(self, shape: tuple[int, ...]) -> Tensor:
        return sum_to(self, shape)

    def contiguous(self, memory_format: str | None = None) -> Tensor:
        """The same values, stored contiguously: in C order, or ``memory_format="channels_last"``
        (an (N, C, H, W) tensor stored as NHWC, as PyTorch's ``torch.channels_last``)."""
        if memory_format not in (None, "channels_last", "contiguous_format"):
            raise ValueError(f"contiguous: unknown memory_format {memory_format!r}")
        if memory_format == "channels_last":
            if self.ndim != 4:
                raise ValueError(f"contiguous: channels_last needs a 4-d (N, C, H, W) tensor, got shape {self.shape}")
            return Relayout.apply(self, (0, 2, 3, 1))
        return self if self.data.flags.c_contiguous else Relayout.apply(self, None)


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _shape_arg(args: tuple) -> tuple:
    """Accept both f(2, 3) and f((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    """Same as ``Tensor(...)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


# The ops import Tensor, so they come after it.
from .ops.elementwise import (  # noqa: E402
    Abs,
    Add,
    Cast,
    Clip,
    Cos,
    Div,
    Exp,
    Log,
    Mul,
    Neg,
    Pow,
    Relu,
    Sigmoid,
    Sin,
    Sqrt,
    Sub,
    Tanh,
)
from .ops.linalg import matmul  # noqa: E402
from .ops.movement import (  # noqa: E402
    BroadcastTo,
    GetItem,
    Relayout,
    Reshape,
    Transpose,
    expand,
    flatten,
    squeeze,
    sum_to,
    swapaxes,
    unsqueeze,
)
from .ops.reduce import Max, Min, Sum, logsumexp, mean, var  # noqa: E402
