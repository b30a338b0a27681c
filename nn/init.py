"""Weight initialisation, as ``torch.nn.init``: in place, dtype kept, outside the graph (as any in-place
change, it moves the tensor's version counter on).

The random draws come from ``autograd.generator()``, so ``autograd.manual_seed`` makes every
model's initial weights reproducible.

Variance-preserving schemes scale by the fans of a weight: for a (out, in, *kernel) array,
fan_in = in * prod(kernel) and fan_out = out * prod(kernel).
- Kaiming / He: std = gain / sqrt(fan), keeping activations' variance through ReLU-like layers.
- Xavier / Glorot: std = gain * sqrt(2 / (fan_in + fan_out)), a compromise between forward and
  backward variance for symmetric activations.
A uniform distribution on [-b, b] has std b / sqrt(3), hence the sqrt(3) in the uniform variants.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from autograd import Tensor, generator, no_grad

_LINEAR_GAINS = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d",
                 "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which ``nonlinearity`` shrinks the std of its input, to be undone by init.

    linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + slope^2)) (slope
    ``param``, default 0.01), selu 3/4.
    """
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel); needs at least 2 axes."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 axes, got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:], dtype=np.int64))
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _no_elements(tensor: Tensor, op: str) -> bool:
    """True (with PyTorch's warning) for a tensor with an axis of size 0: it has no fan to scale by, and
    no value to fill, so kaiming init leaves it as it is, as PyTorch does."""
    if 0 not in tensor.shape:
        return False
    warnings.warn(f"{op}: initializing a zero-element tensor is a no-op", stacklevel=3)
    return True


def _fill(tensor: Tensor, values: np.ndarray | float) -> Tensor:
    """Write ``values`` into the tensor's array in place, cast to its dtype, outside the graph.

    An in-place change as any other (PyTorch's init runs its ``normal_``, ``fill_``, ... under
    ``no_grad``): the tensor's version moves on, so a backward through an op that saved the old
    values raises instead of using the new ones.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init works on Tensors, got {type(tensor).__name__}")
    with no_grad():
        return tensor.copy_(values)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples of U(a, b)."""
    return _fill(tensor, generator().uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    return _fill(tensor, generator().normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """U(-b, b) with b = sqrt(3) * gain / sqrt(fan); ``a`` is the negative slope for leaky_relu.

    PyTorch's default for Linear and Conv2d weights is ``a=sqrt(5)``, which gives b = 1 / sqrt(fan_in).
    A tensor with no elements is left as it is, with a warning (PyTorch's).
    """
    if _no_elements(tensor, "kaiming_uniform_"):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan); ``a`` is the negative slope for leaky_relu.

    A tensor with no elements is left as it is, with a warning (PyTorch's)."""
    if _no_elements(tensor, "kaiming_normal_"):
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)))


__all__ = [
    "calculate_fan_in_and_fan_out", "calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]
