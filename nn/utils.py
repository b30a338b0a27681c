"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, as ``torch.nn.utils``.

Both rewrite the ``.grad`` arrays of the parameters, outside any graph, and are meant to run
between ``backward()`` and ``optimizer.step()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from autograd import Tensor, get_default_dtype


def _with_grads(parameters: Tensor | Iterable[Tensor], op: str) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected Tensors, got {type(p).__name__}")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale the gradients so that their total norm is at most ``max_norm``; return that norm.

    The total norm treats all gradients as one long vector: (sum_p ||g_p||_q^q)^(1/q) for
    q = ``norm_type`` (``inf``: the largest |g|). When it exceeds ``max_norm`` every gradient is
    multiplied by max_norm / (total + 1e-6), PyTorch's rule. Returns the norm before clipping as a
    0-d Tensor of the first gradient's dtype (the default dtype when no parameter has a gradient);
    a NaN or infinite norm raises ``RuntimeError`` with ``error_if_nonfinite``.
    """
    params = _with_grads(parameters, "clip_grad_norm_")
    q = float(norm_type)
    if not params:
        return Tensor(np.array(0.0, dtype=get_default_dtype()))  # as PyTorch's torch.tensor(0.0)
    # float16 gradients are measured in float32 (as PyTorch): a float16 sum of squares overflows past 65504
    norms = np.array([np.linalg.norm(p.grad.data.ravel().astype(np.promote_types(p.grad.dtype, np.float32)), ord=q)
                      for p in params])
    total = np.linalg.norm(norms, ord=q)  # the q-norm of the per-parameter q-norms is the q-norm of all
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {q} of the gradients is {total}; "
            "pass error_if_nonfinite=False to clip anyway"
        )
    scale = min(float(max_norm) / (float(total) + 1e-6), 1.0)
    if scale != 1.0:  # NaN too, which spreads to the gradients as in PyTorch
        for p in params:
            p.grad.data = (p.grad.data * scale).astype(p.grad.dtype)
    return Tensor(np.asarray(total, dtype=params[0].grad.dtype))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient entry to [-clip_value, clip_value]."""
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    for p in _with_grads(parameters, "clip_grad_value_"):
        p.grad.data = np.clip(p.grad.data, -clip_value, clip_value).astype(p.grad.dtype)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
