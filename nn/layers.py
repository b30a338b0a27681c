"""Layers: thin modules that hold parameters and call ``nn.functional``.

Parameter names, shapes and default initialisation are PyTorch's, so state dicts move between the
two libraries unchanged: ``Linear.weight`` is (out, in), ``Conv2d.weight`` is (out, in, kh, kw),
batch norm keeps ``weight``, ``bias``, ``running_mean``, ``running_var`` and
``num_batches_tracked``.
"""

from __future__ import annotations

import math

import numpy as np

from autograd import Tensor, get_default_dtype

from . import functional as F
from . import init
from .functional_conv import _PADDING_MODES, _conv_padding, _pad_by_mode
from .module import Module, Parameter


def _check_positive(op: str, **values: int) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{op}: {name} must be a positive int, got {v!r}")


def _empty_parameter(*shape: int) -> Parameter:
    return Parameter(np.empty(shape, dtype=get_default_dtype()))


def reset_affine(weight: Parameter, bias: Parameter | None) -> None:
    """PyTorch's default for Linear and Conv2d: kaiming_uniform_ with a = sqrt(5), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and the same range for the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b: (..., in_features) -> (..., out_features). weight (out, in), bias (out,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        _check_positive("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty_parameter(out_features, in_features)
        self.register_parameter("bias", _empty_parameter(out_features) if bias else None)
        reset_affine(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution over NCHW images (see ``functional.conv2d``); weight (out, in / groups, kh, kw),
    bias (out,). ``padding`` is an int, a pair, ``"valid"`` or ``"same"``; ``padding_mode`` fills it
    with ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"`` copies of the image, as PyTorch."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ):
        super().__init__()
        _check_positive("Conv2d", in_channels=in_channels, out_channels=out_channels, groups=groups)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {', '.join(map(repr, _PADDING_MODES))}, "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels {in_channels} and out_channels {out_channels} must be "
                             f"divisible by groups={groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F._pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = F._pair(stride, "stride", "Conv2d", 1)
        self.dilation = F._pair(dilation, "dilation", "Conv2d", 1)
        if padding == "same" and self.stride != (1, 1):
            raise ValueError(f"Conv2d: padding='same' needs stride 1, got stride {self.stride}")
        self.padding = padding if isinstance(padding, str) else F._pair(padding, "padding", "Conv2d", 0)
        if self.padding not in ("same", "valid") and isinstance(self.padding, str):
            raise ValueError(f"Conv2d: padding must be 'same', 'valid', an int or a pair of ints, got {padding!r}")
        self.weight = _empty_parameter(out_channels, in_channels // groups, *self.kernel_size)
        self.register_parameter("bias", _empty_parameter(out_channels) if bias else None)
        reset_affine(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding_mode == "zeros":
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        widths = _conv_padding(self.padding, self.kernel_size, self.dilation, self.stride)
        x = _pad_by_mode(F._as_tensor(x), widths, self.padding_mode)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        text += "" if self.bias is not None else ", bias=False"
        return text + ("" if self.padding_mode == "zeros" else f", padding_mode={self.padding_mode}")


class _Pool2d(Module):
    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0, ceil_mode: bool = False,
    ):
        super().__init__()
        op = type(self).__name__
        # checked now, kept as given (PyTorch's repr shows them that way)
        F._pair(kernel_size, "kernel_size", op, 1)
        F._pair(padding, "padding", op, 0)
        if stride is not None:
            F._pair(stride, "stride", op, 1)
        self.kernel_size, self.padding, self.ceil_mode = kernel_size, padding, ceil_mode
        self.stride = kernel_size if stride is None else stride

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max over each window of an NCHW batch (see ``functional.max_pool2d``); ``stride`` defaults to
    ``kernel_size``; with ``return_indices`` the call returns (output, indices)."""

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        F._pair(dilation, "dilation", "MaxPool2d", 1)
        self.dilation, self.return_indices = dilation, return_indices

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class AvgPool2d(_Pool2d):
    """Mean over each window of an NCHW batch (see ``functional.avg_pool2d``); ``stride`` defaults to
    ``kernel_size``."""

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
        divisor_override: int | None = None,
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class _BatchNorm(Module):
    """Batch normalisation over axis 1 (see ``functional.batch_norm``).

    Training uses the batch's statistics and updates the running ones (``momentum=None`` makes
    them a plain average over all batches seen); evaluation uses the running ones. With
    ``track_running_stats=False`` there are no running statistics and the batch's are always used.
    ``affine`` adds the learned per-channel ``weight`` and (unless ``bias=False``) ``bias``.
    """

    _input_dims: tuple[int, ...] = ()

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
        track_running_stats: bool = True, *, bias: bool = True,
    ):
        super().__init__()
        _check_positive(type(self).__name__, num_features=num_features)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = get_default_dtype()
        self.register_parameter("weight", Parameter(np.ones(num_features, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_features, dtype)) if affine and bias else None)
        tracked = track_running_stats
        self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)) if tracked else None)
        self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)) if tracked else None)
        self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)) if tracked else None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._input_dims:
            shapes = " or ".join(f"{d}-D" for d in self._input_dims)
            raise ValueError(f"{type(self).__name__}: expected {shapes} input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: input of shape {x.shape} has {x.shape[1]} channels, "
                f"expected {self.num_features}"
            )
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if momentum is None:  # cumulative average: the n-th batch gets weight 1/n
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=self.training or not self.track_running_stats, momentum=momentum, eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) inputs, per feature C."""

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) images, per channel C."""

    _input_dims = (4,)


class Dropout(Module):
    """Inverted dropout with drop probability ``p`` in training; the identity in evaluation.

    ``inplace`` is taken for PyTorch's signature; the result is always a new tensor."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        F._check_probability(p, "Dropout")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Channel dropout: whole feature maps of (N, C, H, W) or (C, H, W) images are zeroed in training."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed layer); takes any arguments."""

    def __init__(self, *args: object, **kwargs: object):
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class LayerNorm(Module):
    """Layer normalisation over the last axes, ``normalized_shape`` (see ``functional.layer_norm``).

    With ``elementwise_affine``, a learned ``weight`` (ones) and ``bias`` (zeros, unless
    ``bias=False``) of shape ``normalized_shape``, as PyTorch.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        _check_positive("LayerNorm", **{f"normalized_shape[{i}]": n for i, n in enumerate(shape)})
        self.normalized_shape, self.eps, self.elementwise_affine = tuple(int(n) for n in shape), eps, elementwise_affine
        dtype = get_default_dtype()
        affine = elementwise_affine
        self.register_parameter("weight", Parameter(np.ones(self.normalized_shape, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(self.normalized_shape, dtype)) if affine and bias else None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: integer indices (...) -> rows of ``weight`` (num_embeddings, embedding_dim), (..., dim).

    ``weight`` starts as N(0, 1), as PyTorch; the row ``padding_idx``, if given, starts at 0 and
    gets no gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None):
        super().__init__()
        _check_positive("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"Embedding: padding_idx must lie in [-{num_embeddings}, {num_embeddings}), "
                             f"got {padding_idx!r}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = None if padding_idx is None else padding_idx % num_embeddings
        self.weight = _empty_parameter(num_embeddings, embedding_dim)
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices: Tensor | np.ndarray) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        )


class AdaptiveAvgPool2d(Module):
    """Average NCHW images over a fixed (oh, ow) grid of bins, whatever their size (``None`` keeps an axis)."""

    def __init__(self, output_size: int | tuple[int | None, int | None]):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(Module):
    """Merge axes ``start_dim`` to ``end_dim`` (inclusive) into one: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "Dropout2d", "Embedding",
    "Flatten", "Identity", "LayerNorm", "Linear", "MaxPool2d",
]
