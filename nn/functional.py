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

from typing import Any

import numpy as np

from autograd import Tensor, generator, maximum, pad, unfold, where

_REDUCTIONS = ("mean", "sum", "none")


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _pair(value: int | tuple[int, int], name: str, op: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in pair):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_images(x: Tensor, op: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a batch of images of shape (N, C, H, W), got shape {x.shape}")


# --- linear and convolution ------------------------------------------------------------------------
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias: x (..., in), weight (out, in), bias (out,) -> (..., out)."""
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit a weight of shape {weight.shape} (out, in)")
    out = x @ weight.T
    return out if bias is None else out + bias


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """2-D cross-correlation, as PyTorch's conv2d.

    x (N, C, H, W), weight (F, C, kh, kw), bias (F,) -> (N, F, oh, ow) with
    oh = floor((H + 2 ph - kh) / sh) + 1 (windows that do not fit are dropped), likewise ow.

    im2col, channels last: out[(n, p), f] = sum_k cols[(n, p), k] W[k, f], where p runs over the
    output pixels and k over the kernel offsets and channels (i, j, c). The padded input is copied
    channels-last (NHWC in memory), so each row of cols gathers runs of kw * C contiguous numbers,
    and one matmul gives the output as (N, oh, ow, F), which is returned as an NCHW view of that
    memory (channels-last, like the activations, pooling and batch norm after it). The backward
    is two matmuls, and the adjoint of unfold adds the window gradients back, one strided add per
    kernel offset (i, j).
    """
    _check_images(x, "conv2d")
    sh, sw = _pair(stride, "stride", "conv2d", 1)
    ph, pw = _pair(padding, "padding", "conv2d", 0)
    if weight.ndim != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"conv2d: input of shape {x.shape} does not fit a weight of shape {weight.shape} (out, in, kh, kw)"
        )
    n, c, h, w = x.shape
    f, _, kh, kw = weight.shape
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"conv2d: kernel ({kh}, {kw}) is larger than the padded input of shape {x.shape}")
    if bias is not None and bias.shape != (f,):
        raise ValueError(f"conv2d: bias of shape {bias.shape} does not fit {f} filters")
    windows = unfold(_pad(_channels_last(x), ph, pw, 0.0), (kh, kw), (sh, sw))  # (N, C, oh, ow, kh, kw), a view
    oh, ow = windows.shape[2:4]
    cols = windows.permute(0, 2, 3, 4, 5, 1).reshape(n * oh * ow, kh * kw * c)
    out = (cols @ weight.permute(2, 3, 1, 0).reshape(kh * kw * c, f)).reshape(n, oh, ow, f)
    if bias is not None:
        out = out + bias
    return out.permute(0, 3, 1, 2)


def _pad(x: Tensor, ph: int, pw: int, fill: float) -> Tensor:
    """x (N, C, H, W) with ph rows and pw columns of ``fill`` on each side (x itself for no padding)."""
    return pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), value=fill)


def _channels_last(x: Tensor) -> Tensor:
    """x (N, C, H, W), stored channels-last (NHWC in memory): windows then gather whole pixels."""
    strides = [abs(s) for s in x.data.strides]
    return x if strides[1] <= min(strides[2:]) else x.contiguous(memory_format="channels_last")


# --- pooling -------------------------------------------------------------------------------------
def _pool(x: Tensor, kernel_size: Any, stride: Any, padding: Any, fill: float, reduce: str, op: str) -> Tensor:
    """Reduce (``"max"`` or ``"mean"``) every pooling window of an NCHW batch.

    The work is done channels-last (NHWC in memory; the input is copied into that layout when it
    is padded or laid out otherwise): the reduction then runs elementwise across the window's
    kh * kw slices, each a long run of whole pixels, where NumPy is fast. Windows that tile the
    image (stride = kernel) are a reshape of it, (N, C, oh, kh, ow, kw); others come from ``unfold``.
    """
    _check_images(x, op)
    kh, kw = _pair(kernel_size, "kernel_size", op, 1)
    sh, sw = _pair(kernel_size if stride is None else stride, "stride", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding ({ph}, {pw}) must be at most half of kernel_size ({kh}, {kw})")
    n, c, h, w = x.shape
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"{op}: kernel ({kh}, {kw}) is larger than the (padded) input of shape {x.shape}")
    x = _pad(_channels_last(x), ph, pw, fill)
    h, w = h + 2 * ph, w + 2 * pw
    if (sh, sw) == (kh, kw):
        oh, ow = h // kh, w // kw
        if (oh * kh, ow * kw) != (h, w):
            x = x[:, :, : oh * kh, : ow * kw]  # windows that do not fit are dropped
        windows, axes = x.reshape(n, c, oh, kh, ow, kw), (3, 5)
    else:
        windows, axes = unfold(x, (kh, kw), (sh, sw)), (4, 5)  # (N, C, oh, ow, kh, kw), a view
    return windows.max(axis=axes) if reduce == "max" else windows.mean(axis=axes)


def max_pool2d(
    x: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """Max over each (kh, kw) window of an (N, C, H, W) batch; ``stride`` defaults to the kernel.

    Output size floor((H + 2 p - k) / s) + 1, as PyTorch; padding is -inf. The gradient goes to
    the window's maximum; tied maxima share it equally (PyTorch gives it all to the first one).
    """
    return _pool(x, kernel_size, stride, padding, -np.inf, "max", "max_pool2d")


def avg_pool2d(
    x: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """Mean over each (kh, kw) window; zero padding counts in the mean (PyTorch's default)."""
    return _pool(x, kernel_size, stride, padding, 0.0, "mean", "avg_pool2d")


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
        if m < 2:
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
        centred = x - running_mean.data.reshape(per_channel).astype(x.dtype, copy=False)
        var = running_var.data.reshape(per_channel).astype(x.dtype, copy=False)
    scale = (var + eps) ** -0.5
    if weight is not None:
        scale = scale * weight.reshape(per_channel)
    out = centred * scale
    return out if bias is None else out + bias.reshape(per_channel)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).

    The expected output equals x, so evaluation (``training=False``) is the identity. The mask is
    drawn from ``autograd.generator()``.
    """
    _check_probability(p, "dropout")
    if not training or p == 0:
        return x
    keep = generator().random(x.shape) >= p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def _check_probability(p: float, op: str) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"{op}: p must be a probability in [0, 1), got {p!r}")


# --- activations ---------------------------------------------------------------------------------
def relu(x: Tensor) -> Tensor:
    """max(x, 0); relu'(0) = 0."""
    return x.relu()


def _positive(x: Tensor) -> np.ndarray:
    """1 where x > 0 and 0 elsewhere (at 0 too), in x's dtype: a constant of the graph."""
    return (x.data > 0).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (so the slope at 0 is ``negative_slope``, as PyTorch).

    x times a constant map of slopes, p + (1 - p) s with p = [x > 0]: exactly 1 or s, and no select
    (np.where is ~10x slower than this arithmetic when the signs of x are mixed).
    """
    positive = _positive(x)
    return x * (positive + (1 - positive) * negative_slope)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """leaky_relu with a learned slope: one for all channels (weight (1,)) or one per channel of axis 1.

    x times a map of slopes, 1 where x > 0 and the weight elsewhere, so the weight's gradient is
    the sum of g * x over the non-positive inputs of its channel.
    """
    if weight.ndim != 1 or weight.shape[0] not in (1, x.shape[1] if x.ndim > 1 else 1):
        raise ValueError(f"prelu: weight of shape {weight.shape} does not fit an input of shape {x.shape}")
    slope = weight.reshape((1, -1) + (1,) * (x.ndim - 2)) if weight.shape[0] > 1 else weight.reshape(())
    positive = _positive(x)
    return x * (slope * (1 - positive) + positive)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise; the slope at 0 is alpha, and a NaN input takes
    the x branch (as PyTorch). exp only ever sees min(x, 0), so large inputs cannot overflow."""
    return where(x.data <= 0, (x.clip(max=0).exp() - 1) * alpha, x)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``.

    Shifting x by its (detached) max first is exact, because softmax is shift-invariant, and
    keeps exp from overflowing: the largest shifted value is 0.
    """
    shifted = x - np.max(x.data, axis=axis, keepdims=True)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the detached max as in ``log_softmax``."""
    e = (x - np.max(x.data, axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def maxout(x: Tensor, weight: Tensor, bias: Tensor | None = None, pieces: int = 2) -> Tensor:
    """max over ``pieces`` linear functions: x (..., in) -> (..., out).

    weight is (out * pieces, in) and bias (out * pieces,); row o * pieces + k holds piece k of
    output unit o, so ``linear`` gives (..., out * pieces), reshaped to (..., out, pieces).
    """
    if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1 or weight.shape[0] % pieces:
        raise ValueError(f"maxout: {weight.shape[0]} weight rows do not split into pieces={pieces!r}")
    z = linear(x, weight, bias)
    return z.reshape(z.shape[:-1] + (z.shape[-1] // pieces, pieces)).max(axis=-1)


# --- losses --------------------------------------------------------------------------------------
def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    """Per-sample losses -> their mean, their sum, or themselves."""
    _check_reduction(reduction, op)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}")


def _class_targets(scores: Tensor, target: Any, op: str) -> np.ndarray:
    """Validate (N, C) scores and integer class labels (N,) in [0, C); return the labels."""
    labels = target.data if isinstance(target, Tensor) else np.asarray(target)
    if scores.ndim != 2:
        raise ValueError(f"{op}: expected scores of shape (N, C), got shape {scores.shape}")
    n, c = scores.shape
    if labels.shape != (n,):
        raise ValueError(f"{op}: target of shape {labels.shape} does not fit scores {scores.shape}; expected ({n},)")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{op}: target must hold integer class indices, got dtype {labels.dtype}")
    if n and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"{op}: class indices must lie in [0, {c}), got values from {labels.min()} to {labels.max()}")
    return labels


def _pick(scores: Tensor, labels: np.ndarray) -> Tensor:
    """scores[i, labels[i]] for every row i: shape (N,)."""
    return scores[np.arange(len(labels)), labels]


def nll_loss(log_probs: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """-log_probs[i, target[i]]: log_probs (N, C) (e.g. from ``log_softmax``), target (N,) ints."""
    labels = _class_targets(log_probs, target, "nll_loss")
    return _reduce(-_pick(log_probs, labels), reduction, "nll_loss")


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy: -log softmax(logits)[i, target[i]], logits (N, C), target (N,) ints.

    Computed as log_softmax then picking, so it stays finite for any finite logits.
    """
    labels = _class_targets(logits, target, "cross_entropy")
    return _reduce(-_pick(log_softmax(logits, axis=1), labels), reduction, "cross_entropy")


def _hinge(scores: Tensor, target: Any, margin: float, op: str) -> Tensor:
    """sum over j != y of max(0, margin - s_y + s_j) for each row: shape (N,)."""
    labels = _class_targets(scores, target, op)
    correct = _pick(scores, labels).reshape(-1, 1)
    wrong = np.ones(scores.shape, dtype=bool)
    wrong[np.arange(len(labels)), labels] = False
    return where(wrong, (scores - correct + margin).relu(), 0.0).sum(axis=1)


def svm_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The lecture's multiclass SVM loss: L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin)."""
    return _reduce(_hinge(scores, target, margin, "svm_loss"), reduction, "svm_loss")


def multi_margin_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """PyTorch's multi-class hinge loss: the SVM loss of each sample divided by the number of classes C."""
    per_sample = _hinge(scores, target, margin, "multi_margin_loss") * (1.0 / scores.shape[1])
    return _reduce(per_sample, reduction, "multi_margin_loss")


def _same_shape(x: Tensor, target: Any, op: str) -> Tensor:
    target = _as_tensor(target)
    if target.shape != x.shape:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {target.shape} differ")
    return target


def mse_loss(x: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """(x - target)^2 elementwise, reduced over every element."""
    d = x - _same_shape(x, target, "mse_loss")
    return _reduce(d * d, reduction, "mse_loss")


def binary_cross_entropy_with_logits(x: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """-[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] elementwise, from logits x.

    Written as max(x, 0) - x t + log(1 + exp(-|x|)), which never overflows. At x = 0 the two
    kinks cancel correctly: maximum splits its gradient (1/2) and |x|' = 0, giving
    sigmoid(0) - t.
    """
    t = _same_shape(x, target, "binary_cross_entropy_with_logits")
    loss = maximum(x, 0.0) - x * t + ((-x.abs()).exp() + 1).log()
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")
