"""chainrule's autograd: a Tensor that records a dynamic graph, and backward over it."""

import os as _os

import numpy as _np

from .creation import (
    arange,
    eye,
    full,
    generator,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from .engine import grad
from .mode import (
    detect_anomaly,
    enable_grad,
    get_default_dtype,
    is_grad_enabled,
    no_grad,
    set_default_dtype,
    set_grad_enabled,
)
from .ops.elementwise import maximum, minimum, where
from .ops.function import Function
from .ops.linalg import einsum, matmul, tensordot
from .ops.movement import concatenate, pad, split, stack, unfold
from .tensor import Tensor, tensor  # noqa: I001 (Tensor first: the ops import it)

cat = concatenate  # PyTorch's name


def _module_level(name: str) -> object:
    """``autograd.exp(x)`` is ``x.exp()``: PyTorch's module-level spelling of a Tensor method. As
    ``torch.max(x, 1)``, max and min take a positional dim as ``dim=`` (values and indices), and
    max(a, b) of two tensors is the elementwise maximum."""
    def function(input: object, *args: object, **kwargs: object) -> object:  # noqa: A002 (PyTorch's name)
        t = input if isinstance(input, Tensor) else tensor(input)
        if name in ("max", "min") and args:
            if isinstance(args[0], Tensor):
                return (maximum if name == "max" else minimum)(t, *args)
            kwargs["dim"], args = args[0], args[1:]
            if args:  # torch.max(x, 1, True): keepdim comes third
                kwargs["keepdim"], args = args[0], args[1:]
        return getattr(t, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``autograd.{name}(x, ...)`` is ``x.{name}(...)``, as PyTorch's ``torch.{name}``."
    return function


# not std and var: torch.std(x, 1) is unbiased, x.std(1) NumPy's ddof=0, and one name must not mean both
_METHODS = ("abs", "argmax", "argmin", "clip", "exp", "flatten", "log", "log_softmax", "max", "mean", "min",
            "norm", "permute", "relu", "reshape", "sigmoid", "softmax", "sqrt", "squeeze", "sum", "tanh", "unsqueeze")
globals().update({_name: _module_level(_name) for _name in _METHODS})
clamp = clip  # noqa: F821 (made just above)
float16, float32, float64, int32, int64 = _np.float16, _np.float32, _np.float64, _np.int32, _np.int64
long = int64  # PyTorch's names for its dtypes: x.to(autograd.float64), dtype=autograd.long


def from_numpy(array: _np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory and dtype, as ``torch.from_numpy``."""
    if not isinstance(array, _np.ndarray):
        raise TypeError(f"from_numpy: expected an ndarray, got {type(array).__name__}")
    return Tensor(array)


def as_tensor(data: object, dtype: object = None) -> Tensor:
    """``data`` itself when it is already a Tensor of that dtype, else a Tensor of it, as ``torch.as_tensor``."""
    if isinstance(data, Tensor):  # another dtype is a cast in the graph (torch.as_tensor's too)
        return data if dtype is None or _np.dtype(dtype) == data.dtype else data.to(dtype)
    return tensor(data, dtype=dtype)

__all__ = [  # abs, max, min and sum stay out, so that `from autograd import *` keeps Python's builtins
    *(n for n in _METHODS if n not in ("abs", "max", "min", "sum")), "as_tensor", "clamp", "float16", "float32",
    "float64", "from_numpy", "int32", "int64", "long", "rand_like", "randn_like",
    "Function", "Tensor", "arange", "cat", "concatenate", "detect_anomaly", "einsum", "enable_grad", "eye",
    "full", "generator", "get_default_dtype", "grad", "is_grad_enabled", "manual_seed", "matmul",
    "maximum", "minimum", "no_grad", "ones", "ones_like", "pad", "rand", "randn", "set_default_dtype",
    "set_grad_enabled", "split", "stack", "tensor", "tensordot", "unfold", "where", "zeros", "zeros_like",
]

if _os.environ.get("CHAINRULE_KEEP_FREED_MEMORY", "1") != "0":
    from .kernels import keep_freed_memory

    keep_freed_memory()
