"""Activation functions as modules (each calls its ``nn.functional`` counterpart).

``inplace=`` is taken where PyTorch takes it, so model code such as ``nn.ReLU(inplace=True)`` runs
unchanged; the result is always a new tensor (in PyTorch the flag saves memory, not a value).
"""

from __future__ import annotations

import numpy as np

from autograd import Tensor, get_default_dtype

from . import functional as F
from .layers import _check_positive, _empty_parameter, reset_affine
from .module import Module, Parameter


class ReLU(Module):
    """max(x, 0)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return _inplace(self)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace(self, ", ")


class PReLU(Module):
    """Leaky ReLU whose negative slope is learned: ``weight`` of shape (num_parameters,), all ``init``.

    One slope shared by every channel (num_parameters=1) or one per channel of axis 1.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        _check_positive("PReLU", num_parameters=num_parameters)
        self.num_parameters = num_parameters
        self.weight = Parameter(np.full(num_parameters, init, dtype=get_default_dtype()))

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace(self, ", ")


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """(exp(x) - exp(-x)) / (exp(x) + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    """x Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` for the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x sigmoid(x)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)

    def extra_repr(self) -> str:
        return _inplace(self)


class Maxout(Module):
    """The max of ``pieces`` affine functions of the input: (..., in_features) -> (..., out_features).

    ``weight`` is (out_features * pieces, in_features) and ``bias`` (out_features * pieces,): rows
    o * pieces to o * pieces + pieces - 1 are the pieces of output unit o. Initialised as a
    Linear layer of that shape.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2):
        super().__init__()
        _check_positive("Maxout", in_features=in_features, out_features=out_features, pieces=pieces)
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.weight = _empty_parameter(out_features * pieces, in_features)
        self.bias = _empty_parameter(out_features * pieces)
        reset_affine(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.maxout(x, self.weight, self.bias, self.pieces)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``axis`` (PyTorch's ``dim=`` too; -1 when neither is given)."""

    def __init__(self, axis: int | None = None, *, dim: int | None = None):
        super().__init__()
        if axis is not None and dim is not None:
            raise TypeError(f"{type(self).__name__}: give axis= or dim=, not both")
        self.axis = -1 if axis is None and dim is None else (axis if dim is None else dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"dim={self.axis}"  # as PyTorch prints it


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``axis``, computed stably."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.axis)


def _inplace(module: Module, sep: str = "") -> str:
    """PyTorch's repr of ``inplace=``: shown only when set."""
    return f"{sep}inplace=True" if module.inplace else ""


__all__ = [
    "ELU", "GELU", "LeakyReLU", "LogSoftmax", "Maxout", "PReLU", "ReLU", "SiLU", "Sigmoid", "Softmax", "Tanh",
]
