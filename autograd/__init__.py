"""chainrule's autograd: a Tensor that records a dynamic graph, and backward over it."""

import os as _os

from .creation import (
    arange,
    eye,
    full,
    generator,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
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

__all__ = [
    "Function", "Tensor", "arange", "cat", "concatenate", "detect_anomaly", "einsum", "enable_grad", "eye",
    "full", "generator", "get_default_dtype", "grad", "is_grad_enabled", "manual_seed", "matmul",
    "maximum", "minimum", "no_grad", "ones", "ones_like", "pad", "rand", "randn", "set_default_dtype",
    "set_grad_enabled", "split", "stack", "tensor", "tensordot", "unfold", "where", "zeros", "zeros_like",
]

if _os.environ.get("CHAINRULE_KEEP_FREED_MEMORY", "1") != "0":
    from .kernels import keep_freed_memory

    keep_freed_memory()
