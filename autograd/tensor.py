"""Tensor: an ndarray plus the node of the graph that produced it.

A Tensor is a thin handle: ``data`` is a NumPy array, ``grad_fn`` is the `Function` node that
computed it (None for leaves), ``grad`` is filled by ``backward()``. Every operator delegates to a
`Function` in ``autograd.ops``, so the whole graph is made of one kind of node. NumPy's functions
and ufuncs dispatch here too (``np.exp(t)`` is ``t.exp()``), and any that has no op refuses a
tensor that requires grad rather than silently dropping its graph.
"""

from __future__ import annotations

import math
import weakref
from collections import namedtuple
from contextlib import nullcontext
from typing import Any

import numpy as np

from . import engine
from .mode import config, generator, no_grad, state

_versions: dict[int, int] = {}  # id of a base array -> how many in-place changes it has had

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
        if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) and v._requires_grad for v in data):
            raise TypeError("tensor: a list of tensors that require grad would drop their graph; use autograd.stack")
        array = np.asarray(data)
        if array.dtype == object and any(v is None for v in array.flat):
            raise TypeError("tensor: None is not a number (NumPy would silently turn it into NaN)")
        if array.dtype.kind == "f" or array.dtype == object:
            array = array.astype(config.default_dtype if dtype is None else dtype)  # no detour through float32
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if array.dtype.kind not in "biufc":
        raise TypeError(f"tensor: data of dtype {array.dtype} is not numeric")
    return array

def _base(a: np.ndarray) -> np.ndarray:
    """The array that owns the memory of ``a`` (views share their base's version counter)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a

class Size(int):
    """``t.size``: NumPy's element count, and callable as PyTorch's ``size()`` (the shape) or ``size(d)``."""

    def __new__(cls, shape: tuple[int, ...]) -> Size:
        self = super().__new__(cls, math.prod(shape))
        self.shape = shape
        return self

    def __call__(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

MaxResult = namedtuple("MaxResult", ["values", "indices"])  # what max/min(dim=) return, as torch.return_types

def _axis(axis: Any, keepdims: Any, dim: Any, keepdim: Any, op: str) -> tuple[Any, bool]:
    """NumPy's ``axis=``/``keepdims=`` or PyTorch's ``dim=``/``keepdim=``, not both."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: give axis= or dim=, not both")
        axis = dim
    if keepdim is not None:
        if keepdims is not None:
            raise TypeError(f"{op}: give keepdims= or keepdim=, not both")
        keepdims = keepdim
    return axis, bool(keepdims)

class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)``: ``data`` is a Python scalar, a nested list,
    an ndarray or a Tensor. Python floats take the default dtype (float32, see ``set_default_dtype``); an
    ndarray keeps its dtype and memory (as ``np.asarray``: ``t[0] = 1`` writes through; ``a.copy()`` for a copy)
    unless ``dtype`` is given. ``requires_grad=True`` asks ``backward()`` to fill ``.grad``; on a non-floating
    dtype it raises ``TypeError``. ``name`` labels the tensor in graph pictures (``autograd.viz``).

    Attributes: ``data`` (the ndarray), ``shape``, ``ndim``, ``size`` (NumPy's element count;
    ``size()`` is the shape, as PyTorch), ``dtype``, ``T``, ``grad`` (a Tensor or None),
    ``requires_grad``, ``is_leaf``, ``grad_fn`` (the op that made it; None for leaves), ``name``.
    ``numpy()`` returns ``data`` itself, not a copy; ``detach()`` a new leaf sharing it; ``item()``
    the one element as a Python number (``ValueError`` for more); ``tolist()`` nested lists.

    Operators ``+ - * / ** @``, comparisons (bool tensors, no gradient), indexing, elementwise
    methods (``exp``, ``log``, ``tanh``, ``relu``, ``clip``, ...), reductions (``sum``, ``mean``,
    ``max``, ``var``, ... with ``axis=``/``keepdims=`` or ``dim=``/``keepdim=``), shape methods
    (``reshape``, ``transpose(*axes)`` as NumPy, ``permute``, ``swapaxes``, ``flatten``, ``squeeze``,
    ...) are recorded for ``backward()`` unless under ``no_grad()``. Inputs broadcast as in NumPy; a
    shape mismatch raises ``ValueError`` naming the op and both shapes. In-place ``add_``, ``mul_``,
    ``+=``, ... change the tensor itself; on a leaf that requires grad they need ``no_grad()``
    (``RuntimeError`` otherwise), as in a hand-written optimizer step.
    """

    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    # defaults live on the class, so that making an op's output sets only what differs
    grad: Tensor | None = None
    grad_fn: Any = None
    _name: str | None = None
    _requires_grad = False
    _hooks: list | None = None
    next = ()  # as a vertex of the graph, a leaf is where gradients stop: nothing comes next (see engine)
    _retained = None  # a leaf always keeps its .grad

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
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value
        if self.grad_fn is not None:  # a picture labels the op that made a named intermediate: "q = Add"
            self.grad_fn.name = value

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":  # complex gradients would need conjugates
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}; "
                            f"convert first, e.g. tensor.float()")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be switched off on leaf tensors; use detach()")
        self._requires_grad = bool(requires_grad)
        return self

    is_leaf = property(lambda self: self.grad_fn is None)
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: Size(self.data.shape))
    T = property(lambda self: self.transpose())
    _version = property(lambda self: _versions.get(id(_base(self.data)), 0) if _versions else 0)

    def dim(self) -> int: return self.data.ndim
    def numel(self) -> int: return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("a 0-d tensor has no len() and cannot be iterated; use item() for its value")
        return len(self.data)

    def __iter__(self) -> Any: return map(self.__getitem__, range(len(self)))  # rows; a 0-d tensor raises

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", precision=4, prefix="tensor(")
        extras = [f"dtype={self.data.dtype}"] if self.data.dtype != config.default_dtype else []
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    def __bool__(self) -> bool: return bool(self.data)
    def __format__(self, spec: str) -> str:  # f"{loss:.4f}": a 0-d tensor formats its value, as PyTorch and NumPy
        if spec and self.data.ndim:
            raise TypeError(f"format spec {spec!r} needs a 0-d tensor, got shape {self.shape}")
        return format(self.data.item(), spec) if self.data.ndim == 0 else str(self)
    def __float__(self) -> float: return float(self.data)
    def __int__(self) -> int: return int(self.data)

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, got {self.data.dtype}")
        return int(self.data)

    __hash__ = object.__hash__  # __eq__ is elementwise, identity stays the hash

    # --- conversion -----------------------------------------------------------------------------
    def numpy(self) -> np.ndarray: return self.data
    def tolist(self) -> Any: return self.data.tolist()
    def detach(self) -> Tensor: return Tensor._make(self.data)  # a new leaf sharing this data
    def clone(self) -> Tensor: return mv.Copy.apply(self, "K")
    def astype(self, dtype: Any) -> Tensor: return ew.Cast.apply(self, np.dtype(dtype))
    def float(self) -> Tensor: return self.astype(np.float32)
    def double(self) -> Tensor: return self.astype(np.float64)
    def long(self) -> Tensor: return self.astype(np.int64)
    def int(self) -> Tensor: return self.astype(np.int32)
    def bool(self) -> Tensor: return self.astype(np.bool_)
    def type_as(self, other: Tensor) -> Tensor: return self.astype(other.dtype)

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.data.shape}")
        return self.data.item()

    def to(self, dtype: Any = None, device: Any = None) -> Tensor:
        """``to(dtype)``; a device is accepted only as "cpu", the one there is."""
        if isinstance(dtype, str) and dtype.split(":")[0] in ("cpu", "cuda", "mps", "xpu"):
            dtype, device = None, dtype
        if device not in (None, "cpu"):
            raise ValueError(f"to: chainrule runs on the CPU only, got device {device!r}")
        return self if dtype is None else self.astype(dtype)

    def cpu(self) -> Tensor: return self  # the one device there is
    def cuda(self, device: Any = None) -> Tensor: return self.to(device="cuda")  # refused, naming the device

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self.data, dtype, copy=copy)  # np.array(t) copies, as it would an ndarray

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        op = interop.UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
        if op is None:
            return interop.numpy_call(ufunc.__name__, getattr(ufunc, method), inputs, kwargs)
        return op(*inputs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        op = interop.FUNCTIONS.get(func)
        return op(*args, **kwargs) if op is not None else interop.numpy_call(func.__name__, func, args, kwargs)

    # --- gradients ----------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad (``+=`` across calls).

        ``gradient`` is d(loss)/d(self), of self's shape; it may be omitted only when self has one
        element (otherwise ``RuntimeError``). The graph's saved tensors are freed afterwards: a second
        backward through it raises ``RuntimeError`` unless the first passed ``retain_graph=True``.
        ``create_graph=True`` records the backward pass too, so the gradients can be differentiated
        again. Non-leaf tensors keep ``.grad`` only after ``retain_grad()``. Returns None.
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
        owner = self.grad_fn if self.grad_fn is not None else self
        if owner._hooks is None:
            owner._hooks = []
        owner._hooks.append(hook)
        return engine.HookHandle(owner._hooks, hook)

    # --- operators ----------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor: return ew.Add.apply(self, other)
    def __radd__(self, other: Any) -> Tensor: return ew.Add.apply(other, self)
    def __sub__(self, other: Any) -> Tensor: return ew.Sub.apply(self, other)
    def __rsub__(self, other: Any) -> Tensor: return ew.Sub.apply(other, self)
    def __mul__(self, other: Any) -> Tensor: return ew.Mul.apply(self, other)
    def __rmul__(self, other: Any) -> Tensor: return ew.Mul.apply(other, self)
    def __truediv__(self, other: Any) -> Tensor: return ew.Div.apply(self, other)
    def __rtruediv__(self, other: Any) -> Tensor: return ew.Div.apply(other, self)
    def __pow__(self, other: Any) -> Tensor: return ew.Pow.apply(self, other)
    def __rpow__(self, other: Any) -> Tensor: return ew.Pow.apply(other, self)
    def __matmul__(self, other: Any) -> Tensor: return la.matmul(self, other)
    def __rmatmul__(self, other: Any) -> Tensor: return la.matmul(other, self)
    def __neg__(self) -> Tensor: return ew.Neg.apply(self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return ew.Abs.apply(self)
    add, sub, mul, div, pow, matmul, neg = __add__, __sub__, __mul__, __truediv__, __pow__, __matmul__, __neg__
    def __getitem__(self, index: Any) -> Tensor: return mv.GetItem.apply(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value``: in place, as NumPy and PyTorch; recorded (`SetItem`) when a gradient flows."""
        if state.grad_enabled and (self._requires_grad or getattr(value, "_requires_grad", False)):
            self._in_place("t[index] = value", mv.SetItem.apply, index, value)
        else:
            self.data = mv.write(self.data, index, data(value))
            self._bump_version()

    # comparisons give bool tensors outside the graph
    def __lt__(self, other: Any) -> Tensor: return Tensor._make(np.asarray(self.data < data(other)))
    def __le__(self, other: Any) -> Tensor: return Tensor._make(np.asarray(self.data <= data(other)))
    def __gt__(self, other: Any) -> Tensor: return Tensor._make(np.asarray(self.data > data(other)))
    def __ge__(self, other: Any) -> Tensor: return Tensor._make(np.asarray(self.data >= data(other)))
    def __eq__(self, other: Any) -> Tensor: return Tensor._make(np.asarray(self.data == data(other)))  # type: ignore[override]
    def __ne__(self, other: Any) -> Tensor: return Tensor._make(np.asarray(self.data != data(other)))  # type: ignore[override]
    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__

    # --- in place -------------------------------------------------------------------------------
    def _in_place(self, op: str, update: Any, *args: Any) -> Tensor:
        """Change this tensor itself to ``update(self, *args)``, as PyTorch's in-place ops.

        Outside the graph (no_grad, or nothing requires grad) the array is overwritten; in grad
        mode the op is recorded and the tensor takes its place in the graph. Either way the
        version counter of the memory moves on, so backward refuses saved tensors changed since.
        """
        tracked = state.grad_enabled and self.data.dtype.kind == "f" and any(  # an integer tensor stays out of graphs
            isinstance(a, Tensor) and a._requires_grad for a in (self, *args))
        if tracked and self.grad_fn is None and self._requires_grad:
            raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be changed in place while the graph "
                               f"is recorded; do it under `with no_grad():` (as optimizers do)")
        if tracked and self.data.base is not None and self.data.flags.writeable:  # read-only: no one sees writes
            raise RuntimeError(f"{op}: this tensor is a view of another one's memory; an in-place change in grad "
                               f"mode would not reach it: use the out-of-place op")
        with no_grad() if not tracked else nullcontext():
            # in the graph, the op's input is a stand-in for the old value: the new one takes this tensor
            out = update(self if not tracked else Tensor._make(self.data, self.grad_fn, self._requires_grad), *args)
        if tracked:  # retain_grad() follows the tensor to its new value, as PyTorch's; hooks stay with the old one
            old, self.data, self.grad_fn, self._requires_grad = self.grad_fn, out.data, out.grad_fn, out._requires_grad
            if old is not None and old._retained is not None:
                old._retained, self.grad_fn._retained = None, old._retained
        else:
            try:
                np.copyto(self.data, out.data, casting="same_kind")
            except TypeError:
                raise TypeError(f"{op}: the result has dtype {out.dtype}, which cannot be stored in a tensor "
                                f"of dtype {self.dtype} (PyTorch refuses this too)") from None
            except ValueError as exc:
                raise RuntimeError(f"{op}: cannot write into this tensor ({exc}); use the out-of-place op") from None
        self._bump_version()
        return self

    def _bump_version(self) -> None:
        """Count one in-place change of this tensor's memory (so of its views too), as PyTorch's in-place
        ops do; nn's optimizers call it after writing a step into ``data``."""
        base = _base(self.data)
        if id(base) not in _versions:
            weakref.finalize(base, _versions.pop, id(base), None)  # the count goes with the memory
        _versions[id(base)] = _versions.get(id(base), 0) + 1

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        return self._in_place("add_", ew.Add.apply, other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        return self._in_place("sub_", ew.Sub.apply, other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor: return self._in_place("mul_", ew.Mul.apply, other)
    def div_(self, other: Any) -> Tensor: return self._in_place("div_", ew.Div.apply, other)
    def pow_(self, other: Any) -> Tensor: return self._in_place("pow_", ew.Pow.apply, other)
    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (PyTorch's names)
        return self._in_place("clamp_", ew.Clip.apply, min, max)

    def copy_(self, src: Any) -> Tensor: return self._in_place("copy_", _broadcast_like, src)
    def fill_(self, value: Any) -> Tensor: return self._in_place("fill_", _broadcast_like, value)
    def zero_(self) -> Tensor: return self.fill_(0)

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self.copy_(generator().normal(mean, std, self.shape))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return self.copy_(generator().uniform(a, b, self.shape))

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    # --- elementwise --------------------------------------------------------------------------
    def exp(self) -> Tensor: return ew.Exp.apply(self)
    def log(self) -> Tensor: return ew.Log.apply(self)
    def sqrt(self) -> Tensor: return ew.Sqrt.apply(self)
    def sin(self) -> Tensor: return ew.Sin.apply(self)
    def cos(self) -> Tensor: return ew.Cos.apply(self)
    def tanh(self) -> Tensor: return ew.Tanh.apply(self)
    def sigmoid(self) -> Tensor: return ew.Sigmoid.apply(self)
    def relu(self) -> Tensor: return ew.Relu.apply(self)
    def abs(self) -> Tensor: return ew.Abs.apply(self)
    def clip(self, min: Any = None, max: Any = None) -> Tensor: return ew.Clip.apply(self, min, max)  # noqa: A002
    def masked_fill(self, mask: Any, value: Any) -> Tensor: return ew.where(mask, value, self)
    clamp = clip

    # --- reductions: NumPy's axis=/keepdims= or PyTorch's dim=/keepdim= -------------------------------
    def _reduction(name: str, reduce: Any) -> Any:  # noqa: N805 (runs in the class body, makes methods)
        def method(self: Tensor, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None
                   ) -> Tensor:
            return reduce(self, *_axis(axis, keepdims, dim, keepdim, name))
        method.__name__ = method.__qualname__ = name
        return method

    sum = _reduction("sum", lambda x, axis, keep: rd.Sum.apply(x, axis, keep))
    mean = _reduction("mean", lambda x, axis, keep: rd.mean(x, axis, keep))
    logsumexp = _reduction("logsumexp", lambda x, axis, keep: rd.logsumexp(x, axis, keep))
    argmax = _reduction("argmax", lambda x, axis, keep: Tensor(np.argmax(x.data, axis, keepdims=keep)))
    argmin = _reduction("argmin", lambda x, axis, keep: Tensor(np.argmin(x.data, axis, keepdims=keep)))

    def var(self, axis: Any = None, keepdims: Any = None, ddof: int = 0, *, dim: Any = None, keepdim: Any = None,
            unbiased: bool | None = None, correction: int | None = None) -> Tensor:
        """Variance with NumPy's ``ddof`` (default 0), or PyTorch's ``unbiased=``/``correction=``."""
        ddof = correction if correction is not None else int(unbiased) if unbiased is not None else ddof
        return rd.var(self, *_axis(axis, keepdims, dim, keepdim, "var"), ddof)

    def std(self, axis: Any = None, keepdims: Any = None, ddof: int = 0, *, dim: Any = None, keepdim: Any = None,
            unbiased: bool | None = None, correction: int | None = None) -> Tensor:
        ddof = correction if correction is not None else int(unbiased) if unbiased is not None else ddof
        return rd.std(self, *_axis(axis, keepdims, dim, keepdim, "std"), ddof)  # gradient 0 at zero variance

    del _reduction

    def max(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Any:
        """Values (NumPy), or with ``dim=`` PyTorch's ``(values, indices)``; ``max(tensor)`` is maximum."""
        return self._extremum(rd.Max, axis, keepdims, dim, keepdim)

    def min(self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None) -> Any:
        return self._extremum(rd.Min, axis, keepdims, dim, keepdim)

    def _extremum(self, op: Any, axis: Any, keepdims: Any, dim: Any, keepdim: Any) -> Any:
        if isinstance(axis, Tensor):
            return (ew.maximum if op is rd.Max else ew.minimum)(self, axis)
        axis, keep = _axis(axis, keepdims, dim, keepdim, op.__name__.lower())
        values = op.apply(self, axis, keep)
        if dim is None:
            return values
        pick = np.argmax if op is rd.Max else np.argmin
        return MaxResult(values, Tensor._make(np.asarray(pick(self.data, axis=axis, keepdims=keep))))

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The p-norm over ``dim`` (all axes by default): (sum |x|^p)^(1/p); p = inf gives max |x|, -inf min |x|.
        The gradient at a zero norm is 0, as PyTorch's."""
        return rd.norm(self, p, *_axis(dim, keepdim, None, None, "norm"))

    def softmax(self, dim: int = -1) -> Tensor: return rd.softmax(self, dim)
    def log_softmax(self, dim: int = -1) -> Tensor: return rd.log_softmax(self, dim)

    # --- shape --------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor: return mv.Reshape.apply(self, _shape_arg(shape))
    def transpose(self, *axes: Any) -> Tensor:
        if self.ndim == 2 and len(axes) == 2 and all(type(a) is int and a % 2 == i for i, a in enumerate(axes)):
            raise ValueError("transpose(0, 1) of a 2-D tensor is the identity to NumPy and a swap to PyTorch: write "
                             "t.T or t.swapaxes(0, 1) to swap, t.permute(0, 1) to keep the order")
        return mv.Transpose.apply(self, _shape_arg(axes) if axes else None)

    def permute(self, *axes: Any) -> Tensor: return mv.Transpose.apply(self, _shape_arg(axes))
    def swapaxes(self, axis1: int, axis2: int) -> Tensor: return mv.swapaxes(self, axis1, axis2)
    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor: return mv.flatten(self, start_dim, end_dim)
    def squeeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        return mv.squeeze(self, _axis(axis, None, dim, None, "squeeze")[0])
    def unsqueeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        return mv.unsqueeze(self, _axis(axis, None, dim, None, "unsqueeze")[0])
    def broadcast_to(self, *shape: Any) -> Tensor: return mv.BroadcastTo.apply(self, _shape_arg(shape))
    def expand(self, *shape: Any) -> Tensor: return mv.expand(self, _shape_arg(shape))
    def sum_to(self, shape: tuple[int, ...]) -> Tensor: return mv.sum_to(self, shape)
    view = reshape

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 axes, got shape {self.shape}; use transpose")
        return self.transpose()

    def contiguous(self, memory_format: str | None = None) -> Tensor:
        """The same values, stored contiguously: in C order, or ``memory_format="channels_last"``
        (an (N, C, H, W) tensor stored as NHWC, as PyTorch's ``torch.channels_last``)."""
        if memory_format not in (None, "channels_last", "contiguous_format"):
            raise ValueError(f"contiguous: unknown memory_format {memory_format!r}")
        if memory_format == "channels_last":
            if self.ndim != 4:
                raise ValueError(f"contiguous: channels_last needs a 4-d (N, C, H, W) tensor, got shape {self.shape}")
            return mv.Copy.apply(self, (0, 2, 3, 1))
        return self if self.data.flags.c_contiguous else mv.Copy.apply(self, None)

def _broadcast_like(t: Tensor, value: Any) -> Tensor:
    """``value`` (a number, an array or a Tensor) in t's dtype, broadcast to t's shape."""
    return as_tensor(value).astype(t.dtype).broadcast_to(t.shape)

def _shape_arg(args: tuple) -> tuple:
    """Accept both f(2, 3) and f((2, 3))."""
    return tuple(args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args)

def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    """Same as ``Tensor(...)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


# The ops import Tensor, so they come after it.
from .ops import elementwise as ew  # noqa: E402
from .ops import interop  # noqa: E402
from .ops import linalg as la  # noqa: E402
from .ops import movement as mv  # noqa: E402
from .ops import reduce as rd  # noqa: E402
from .ops._util import as_tensor, data  # noqa: E402
