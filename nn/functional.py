"""Every layer, activation and loss as a function of Tensors, composed from autograd's primitives.

Nothing here writes a gradient: each function is a short composition of differentiable ops
(reshape, unfold, matmul, reductions, where, ...), so its backward pass, and the backward pass of
that backward pass, come from the ops themselves. Argument order follows ``torch.nn.functional``;
reductions are named ``axis`` as in NumPy.

Images are NCHW: (batch, channels, height, width). conv2d and pooling return them channels-last in
memory (NHWC strides), the layout their matmul and window reductions are fast in, and elementwise
ops and batch norm keep it; shapes and results do not depend on the layout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autograd import Tensor, generator, get_default_dtype, where
from autograd.ops.linalg import Linear


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _pair(value: int | tuple[int, int], name: str, op: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    pair = pair * 2 if len(pair) == 1 else pair  # PyTorch reads (k,) as (k, k)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in pair):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


# --- linear -------------------------------------------------------------------------------------------
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias: x (..., in), weight (out, in), bias (out,) -> (..., out)."""
    x, weight = _as_tensor(x), _as_tensor(weight)
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit a weight of shape {weight.shape} (out, in)")
    bias = None if bias is None else _as_tensor(bias)
    row_bias = bias is None or (bias.ndim <= 1 and bias.dtype.kind == "f")  # else it is added on its own
    out = Linear.apply(x if x.ndim == 2 else x.reshape(-1, x.shape[-1]), weight, bias if row_bias else None)
    out = out if x.ndim == 2 else out.reshape(*x.shape[:-1], weight.shape[0])  # back from a batch of rows
    return out if row_bias else out + bias


# --- normalisation and regularisation ---------------------------------------------------------------
def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (axis 1) of x (N, C, ...) to zero mean and unit variance, then scale.

    y = (x - mean) / sqrt(var + eps) * weight + bias, per channel. In training the mean and the
    (biased) variance are the batch's, over every axis but 1, and the running statistics, when
    given, are updated in place outside the graph as PyTorch does:
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance
    (divided by m - 1, m the number of values per channel). Otherwise the running statistics
    are used, so each sample's output is independent of the rest of the batch.
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got shape {x.shape}")
    if x.dtype == np.float16:  # statistics in float32 (as PyTorch): squares of activations past 256 overflow float16
        args = running_mean, running_var, weight, bias, training, momentum, eps
        return batch_norm(x.astype(np.float32), *args).astype(np.float16)
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} of shape {t.shape} does not fit {c} channels of input {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    axes = (0, *range(2, x.ndim))
    per_channel = (1, c) + (1,) * (x.ndim - 2)  # broadcasts a (C,) vector over axis 1
    if training:
        m = x.size // c
        if m == 0:  # an empty batch: an empty output, and the running statistics stay as they are (PyTorch's)
            out = x if weight is None else x * weight.reshape(per_channel)
            return out if bias is None else out + bias.reshape(per_channel)
        if m == 1:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        centred = x + (-mean)  # negating the (1, C, 1, ...) mean, not the full-size gradient, in backward
        var = (centred * centred).mean(axis=axes, keepdims=True)
        if running_mean is not None:  # on the arrays, outside the graph
            unbiased = var.data.reshape(c) * (m / (m - 1))
            for running, batch in ((running_mean, mean.data.reshape(c)), (running_var, unbiased)):
                running.data = ((1 - momentum) * running.data + momentum * batch).astype(running.dtype)
    else:
        if running_mean is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        # one affine map per channel: y = x * a + (bias - mean * a), a = weight / sqrt(var + eps);
        # the constants are folded on C numbers, so the batch is read twice rather than three times
        mean = running_mean.data.astype(x.dtype, copy=False)
        a = ((running_var.data.astype(x.dtype, copy=False) + eps) ** -0.5).astype(x.dtype, copy=False)
        if weight is not None:
            a = weight * a
        shift = -mean * a if bias is None else bias - mean * a
        return x * a.reshape(per_channel) + shift.reshape(per_channel)
    scale = (var + eps) ** -0.5
    if weight is not None:
        scale = scale * weight.reshape(per_channel)
    out = centred * scale
    return out if bias is None else out + bias.reshape(per_channel)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).

    The expected output equals x, so evaluation (``training=False``) is the identity. The mask is
    drawn from ``autograd.generator()``. ``inplace`` is taken for PyTorch's signature; the result
    is always a new tensor (as for every ``inplace=`` here).
    """
    _check_probability(p, "dropout")
    return _drop(x, p, x.shape) if training else x


def _drop(x: Tensor, p: float, mask_shape: tuple[int, ...]) -> Tensor:
    """x times a mask of ``mask_shape`` (broadcast over x), 0 with probability p and 1 / (1 - p) otherwise."""
    if p == 0:
        return x
    if p == 1:  # every element dropped: zeros, and a zero gradient (PyTorch's; 1 / (1 - p) would be infinite)
        return x * 0.0
    keep = generator().random(mask_shape) >= p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def _check_probability(p: float, op: str) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p!r}")


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout: zero each whole feature map of x (N, C, H, W) (each channel of an unbatched
    (C, H, W)) with probability p and scale the rest by 1 / (1 - p); the identity in evaluation.

    A 3-D input is one unbatched image, as the contract says and as PyTorch announces it will read
    it (PyTorch 2 still reads it as (N, C, L), with a warning).
    """
    _check_probability(p, "dropout2d")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected images of shape (N, C, H, W) or (C, H, W), got shape {x.shape}")
    return _drop(x, p, x.shape[:-2] + (1, 1)) if training else x


def layer_norm(
    x: Tensor, normalized_shape: int | tuple[int, ...], weight: Tensor | None = None, bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise x over its last axes, ``normalized_shape``, to zero mean and unit variance, then scale.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the mean and the biased variance taken
    over those axes for each leading index (each sample, each token); weight and bias have shape
    ``normalized_shape``. Unlike batch norm, nothing depends on the rest of the batch.
    """
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not shape or x.shape[max(x.ndim - len(shape), 0):] != shape:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {name} of shape {t.shape} does not fit normalized_shape {shape}")
    if x.dtype == np.float16:  # statistics in float32, as in batch_norm
        return layer_norm(x.astype(np.float32), shape, weight, bias, eps).astype(np.float16)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    var = (centred * centred).mean(axis=axes, keepdims=True)
    out = centred * (var + eps) ** -0.5
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """x / max(||x||_p, eps) along ``dim``, as PyTorch's: unit vectors, and a zero vector stays zero (its
    gradient is then upstream / eps, the norm's own subgradient at 0 being 0)."""
    x = _as_tensor(input)
    if x.ndim == 0:  # a scalar is a vector of one along dim 0 (or -1), as PyTorch reads it
        return normalize(x.reshape(1), p, dim, eps).reshape(())
    return x / x.norm(p=p, dim=dim, keepdim=True).clip(min=eps)


# --- activations ---------------------------------------------------------------------------------
def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); relu'(0) = 0."""
    return x.relu()


def _positive(x: Tensor) -> np.ndarray:
    """1 where x > 0 and 0 elsewhere (at 0 too), in x's dtype (the default dtype for integers, as
    sigmoid and elu give them): a constant of the graph."""
    return (x.data > 0).astype(x.dtype if x.dtype.kind == "f" else get_default_dtype())


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (so the slope at 0 is ``negative_slope``, as PyTorch).

    x times a constant map of slopes, p + (1 - p) s with p = [x > 0]: exactly 1 or s, and no select
    (np.where is ~10x slower than this arithmetic when the signs of x are mixed).
    """
    positive = _positive(x)
    return x * (positive + (1 - positive) * negative_slope)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """leaky_relu with a learned slope: one for all channels (weight () or (1,)) or one per channel of axis 1.

    x times a map of slopes, 1 where x > 0 and the weight elsewhere, so the weight's gradient is
    the sum of g * x over the non-positive inputs of its channel.
    """
    if weight.ndim > 1 or weight.size not in (1, x.shape[1] if x.ndim > 1 else 1):
        raise ValueError(f"prelu: weight of shape {weight.shape} does not fit an input of shape {x.shape}")
    slope = weight.reshape((1, -1) + (1,) * (x.ndim - 2)) if weight.size > 1 else weight.reshape(())
    positive = _positive(x)
    return x * (slope * (1 - positive) + positive)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise; the slope at 0 is alpha, and a NaN input takes
    the x branch (as PyTorch). exp only ever sees min(x, 0), so large inputs cannot overflow."""
    negative = x.data <= 0
    return where(negative, (x.masked_fill(~negative, 0).exp() - 1) * alpha, x)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None, dtype: Any = None) -> Tensor:
    """x - logsumexp(x) along ``axis`` (or ``dim=``), computed in ``dtype`` if given (see ``Tensor.log_softmax``)."""
    return (x if dtype is None else x.astype(dtype)).log_softmax(axis if dim is None else dim)


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (or ``dim=``), computed in ``dtype`` if given."""
    return (x if dtype is None else x.astype(dtype)).softmax(axis if dim is None else dim)


def maxout(x: Tensor, weight: Tensor, bias: Tensor | None = None, pieces: int = 2) -> Tensor:
    """max over ``pieces`` linear functions: x (..., in) -> (..., out).

    weight is (out * pieces, in) and bias (out * pieces,); row o * pieces + k holds piece k of
    output unit o, so ``linear`` gives (..., out * pieces), reshaped to (..., out, pieces).
    """
    if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1 or weight.shape[0] % pieces:
        raise ValueError(f"maxout: {weight.shape[0]} weight rows do not split into pieces={pieces!r}")
    z = linear(x, weight, bias)
    return z.reshape(z.shape[:-1] + (z.shape[-1] // pieces, pieces)).max(axis=-1)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x sigmoid(x) (the swish)."""
    return x * x.sigmoid()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x), Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt(2))), as PyTorch's gelu.

    ``approximate="tanh"`` gives 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) instead. autograd
    has no erf primitive, so the exact form composes one (``_erf``), equal to erf to a few units in
    the last place of float64, its gradient included; its polynomial (ten terms in float64, six
    below) makes it about eight times slower than the tanh form (3.8 ms against 0.48 ms, forward and
    backward of (256, 512) float32, one thread).
    """
    if approximate == "tanh":
        return x * ((((x * x * 0.044715 + 1) * x) * math.sqrt(2 / math.pi)).tanh() + 1) * 0.5
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return x * (_erf(x * (1 / math.sqrt(2))) + 1) * 0.5


def _erf_taylor_table(step: float, top: float, degree: int) -> np.ndarray:
    """Taylor coefficients a_0..a_degree of erf at each grid point c = 0, step, ..., top (one row each).

    erf' = (2 / sqrt(pi)) g with g = exp(-x^2). From g' = -2 x g, g's Taylor coefficients at c obey
    (n + 1) b_{n+1} = -2 (c b_n + b_{n-1}), b_0 = g(c); then a_{n+1} = (2 / sqrt(pi)) b_n / (n + 1).
    """
    c = np.arange(0.0, top + step / 2, step)
    b = np.zeros((len(c), degree))
    b[:, 0] = np.exp(-c * c)
    b[:, 1] = -2 * c * b[:, 0]
    for n in range(1, degree - 1):
        b[:, n + 1] = -2 * (c * b[:, n] + b[:, n - 1]) / (n + 1)
    a = np.empty((len(c), degree + 1))
    a[:, 0] = [math.erf(v) for v in c]
    a[:, 1:] = 2 / math.sqrt(math.pi) * b / np.arange(1, degree + 1)
    return a


_ERF_STEP, _ERF_TOP = 1 / 16, 6.0
_ERF_TABLE = _erf_taylor_table(_ERF_STEP, _ERF_TOP, 9).T  # (coefficient, grid point)


def _erf(x: Tensor) -> Tensor:
    """erf as a composition: Taylor polynomials of degree 9 about the grid points 0, 1/16, ..., 6.

    Each |x| is at most 1/32 from its grid point, where the polynomial is within 2e-16 of erf and
    its derivative within 1e-15 of 2 / sqrt(pi) exp(-x^2). erf is odd, so x = s |x| with s = +-1 a
    constant (s = 1 at 0, so the slope there is the polynomial's), and past 6 erf is 1 - 2e-17:
    |x| is clipped there, losing a gradient below 1e-16. Below float64 the polynomial stops at
    degree 5, within 5e-11 of erf and 1e-8 of its derivative (float32's eps is 1.2e-7): half the
    ops: gelu of (4096, 512) float32, forward and backward, 151 -> 101 ms (minimum of 5 interleaved runs).
    """
    degree = 9 if x.dtype.itemsize >= 8 else 5
    sign = np.where(x.data < 0, -1.0, 1.0).astype(x.dtype)
    z = (x * sign).clip(max=_ERF_TOP)
    k = np.rint(np.fmin(z.data, _ERF_TOP) / _ERF_STEP).astype(np.intp)  # fmin: NaN gets a grid point too
    coefficients = _ERF_TABLE[: degree + 1].astype(x.dtype, copy=False)[:, k]  # a row per power
    offset = z - (k * _ERF_STEP).astype(x.dtype)
    poly = coefficients[-1]
    for c in coefficients[-2::-1]:  # Horner's rule
        poly = offset * poly + c
    return poly * sign


# --- embedding and adaptive pooling ----------------------------------------------------------------
def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002 (PyTorch's name)
    """Rows of ``weight`` (num_embeddings, dim) picked by integer indices of any shape: (...) -> (..., dim).

    The gradient of a row is the sum of the gradients of every position that picked it (indexing's
    adjoint is a scatter-add). The row ``padding_idx`` is returned but gets no gradient, as PyTorch.
    """
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim), got shape {weight.shape}")
    if idx.dtype.kind not in "iu":
        raise ValueError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"embedding: indices must lie in [0, {n}), got values from {idx.min()} to {idx.max()}")
    out = weight[idx]
    if padding_idx is None:
        return out
    return where((idx != padding_idx % n)[..., None], out, out.detach())


def _adaptive_bins(out_size: int, size: int, dtype: np.dtype) -> np.ndarray:
    """(out_size, size) matrix averaging bin i = [floor(i size / out), ceil((i + 1) size / out))."""
    i = np.arange(out_size)
    start, end = (i * size) // out_size, -((-(i + 1) * size) // out_size)
    cols = np.arange(size)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(x: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average x (N, C, H, W) or (C, H, W) over an (oh, ow) grid of bins covering it, as PyTorch.

    Bin i of an axis of length H spans [floor(i H / oh), ceil((i + 1) H / oh)) (bins may overlap);
    ``None`` keeps an axis's size. When oh divides H the bins tile the axis and the mean is over a
    reshape; otherwise each axis is averaged by a matrix holding 1 / len(bin) on each bin's entries.
    """
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected images of shape (N, C, H, W) or (C, H, W), got {x.shape}")
    h, w = x.shape[-2:]
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) == 2:
        sizes = tuple(n if s is None else s for s, n in zip(sizes, (h, w)))
    oh, ow = _pair(sizes, "output_size", "adaptive_avg_pool2d", 1)
    if h % oh == 0 and w % ow == 0:
        return x.reshape(*x.shape[:-2], oh, h // oh, ow, w // ow).mean(axis=(-3, -1))
    return Tensor(_adaptive_bins(oh, h, x.dtype)) @ x @ Tensor(_adaptive_bins(ow, w, x.dtype).T)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Class indices (...) -> int64 indicators (..., num_classes), 1 at each index; no gradient.

    ``num_classes=-1`` takes one more than the largest index, as PyTorch does.
    """
    labels = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: class indices must be integers, got dtype {labels.dtype}")
    if num_classes == -1 and not labels.size:
        raise ValueError("one_hot: no indices to infer num_classes from; pass num_classes")
    n = int(labels.max()) + 1 if num_classes == -1 else int(num_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        lo, hi = labels.min(), labels.max()
        raise ValueError(f"one_hot: class indices must lie in [0, {n}), got values from {lo} to {hi}")
    return Tensor((labels[..., None] == np.arange(n)).astype(np.int64))


# --- convolution, pooling and losses --------------------------------------------------------------
# They live in functional_conv and functional_losses (this file's length); imported last, as they build on
# what is above.
from .functional_conv import avg_pool2d, conv2d, max_pool2d, pad  # noqa: E402, F401 (re-exported)
from .functional_losses import (  # noqa: E402, F401 (re-exported)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    multi_margin_loss,
    nll_loss,
    smooth_l1_loss,
    svm_loss,
)
