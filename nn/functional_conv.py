"""Convolution and pooling of ``nn.functional`` (re-exported there), composed from autograd's primitives.

Images are NCHW, (batch, channels, height, width), or one unbatched (C, H, W) image, as PyTorch
takes them. conv2d and pooling return them channels-last in memory (NHWC strides), the layout
their matmul and window reductions are fast in, and elementwise ops and batch norm keep it
(grouped convolution works and returns them channels first: see conv2d); shapes and results do
not depend on the layout. Every function is pad -> unfold (a zero-copy view
of the windows) -> a product or a reduction, so its backward pass is the adjoints of those.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor, unfold
from autograd import pad as _pad_numpy

from .functional import _as_tensor, _pair, linear

_Pair = int | tuple[int, int]


def _batched(x: Tensor, op: str) -> tuple[Tensor, bool]:
    """x as an (N, C, H, W) batch, and whether it came as one unbatched (C, H, W) image.

    An ndarray is taken as a constant Tensor, as ``linear`` takes it, so a model runs on a NumPy batch."""
    x = _as_tensor(x)
    _check_images(x, op)
    return (x, False) if x.ndim == 4 else (x.reshape((1, *x.shape)), True)


def _check_images(x: Tensor, op: str) -> None:
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected images of shape (N, C, H, W) or (C, H, W), got shape {x.shape}")


def _unbatch(out: Tensor, unbatched: bool) -> Tensor:
    return out.reshape(out.shape[1:]) if unbatched else out


def _pad(x: Tensor, widths: tuple[tuple[int, int], tuple[int, int]], fill: float) -> Tensor:
    """x (N, C, H, W) with (top, bottom) rows and (left, right) columns of ``fill``; negative widths crop."""
    return _pad_numpy(x, ((0, 0), (0, 0), *widths), value=fill)


# Conv2d's padding modes, by NumPy's names for the same index rules ("zeros" is conv2d's own padding)
_PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_by_mode(x: Tensor, widths: Any, mode: str, op: str = "Conv2d") -> Tensor:
    """x padded on its last len(widths) axes, (before, after) each, e.g. (top, bottom) rows and (left,
    right) columns, with copies of itself: ``"reflect"`` mirrors it (the edge not repeated),
    ``"replicate"`` repeats the edge, ``"circular"`` wraps around, as PyTorch's ``padding_mode``. Each axis
    is picked by an index array (np.pad's rule applied to arange), so the gradient of an entry is the sum
    over its copies. A negative width crops that side, as PyTorch does: after reflecting or replicating
    (their index rules), before wrapping around (circular wraps what is left)."""
    for axis, (lo, hi) in enumerate(widths, start=x.ndim - len(widths)):
        size = x.shape[axis]
        crop, grow = (max(-lo, 0), max(-hi, 0)), (max(lo, 0), max(hi, 0))
        kept = size - sum(crop) if mode == "circular" else size
        if size + lo + hi < 0 or kept < 0 or kept == 0 and max(grow) > 0:
            raise ValueError(f"{op}: padding {(lo, hi)} does not fit an axis of {size}")
        if mode == "reflect" and max(grow) >= kept or mode == "circular" and max(grow) > kept:
            raise ValueError(f"{op}: padding {(lo, hi)} is too large for {mode} padding of an axis of {size}")
        index = np.arange(size)
        if mode == "circular":
            index = np.pad(index[crop[0] : size - crop[1]], grow, mode="wrap")
        else:
            index = np.pad(index, grow, mode=_PADDING_MODES[mode])
            index = index[crop[0] : len(index) - crop[1]]
        x = x[(slice(None),) * axis + (index,)]
    return x


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """PyTorch's ``F.pad``: ``pad`` is a flat sequence of (before, after) widths, the last axis first:
    ``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the last two, and so on.

    ``mode``: ``"constant"`` (fill with ``value``, 0 by default; a negative width crops), or
    ``"reflect"``, ``"replicate"``, ``"circular"`` (copies of the input, as Conv2d's ``padding_mode``).
    ``autograd.pad`` is NumPy's ``np.pad`` instead: one pair per axis, the first axis first.
    """
    x = _as_tensor(input)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad={tuple(pad)} needs (before, after) pairs for at most the {x.ndim} axes of a "
                         f"tensor of shape {x.shape}")
    if not all(isinstance(w, (int, np.integer)) for w in pad):  # 1.5 is refused, not truncated (as PyTorch)
        raise TypeError(f"pad: widths must be ints, got pad={tuple(pad)}")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(len(pad) - 2, -1, -2)]  # the first padded axis first
    if mode == "constant":
        return _pad_numpy(x, [(0, 0)] * (x.ndim - len(pairs)) + pairs, value=0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value:
        raise ValueError(f"pad: mode {mode!r} takes no value, got value={value!r}")
    return _pad_by_mode(x, pairs, mode, "pad")


def _channels_last(x: Tensor) -> Tensor:
    """x (N, C, H, W), stored channels-last (NHWC in memory): windows then gather whole pixels."""
    strides = [abs(s) for s in x.data.strides]
    return x if strides[1] <= min(strides[2:]) else x.contiguous(memory_format="channels_last")


def _channels_first(x: Tensor) -> Tensor:
    """x (N, C, H, W), stored with each channel's image contiguous (NCHW or CNHW in memory)."""
    strides = [abs(s) for s in x.data.strides]
    return x if strides[1] > strides[2] > strides[3] else x.contiguous()


# --- convolution -----------------------------------------------------------------------------------
def _conv_padding(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int],
                  stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(before, after) padding per spatial axis. ``"same"`` pads d (k - 1) in all, half before and
    the odd one after (PyTorch's rule; stride 1 only), ``"valid"`` pads nothing."""
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"conv2d: padding must be 'same', 'valid', an int or a pair of ints, got {padding!r}")
        if padding == "same" and stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' needs stride 1, got stride {stride}")
        total = [d * (k - 1) if padding == "same" else 0 for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)
    ph, pw = _pair(padding, "padding", "conv2d", 0)
    return (ph, ph), (pw, pw)


def conv2d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: _Pair = 1, padding: _Pair | str = 0,
    dilation: _Pair = 1, groups: int = 1,
) -> Tensor:
    """2-D cross-correlation, as PyTorch's conv2d.

    x (N, C, H, W) or (C, H, W), weight (F, C / groups, kh, kw), bias (F,) -> (N, F, oh, ow) with
    oh = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1 (windows that do not fit are dropped),
    likewise ow. ``padding`` is an int, a pair, ``"valid"`` (none) or ``"same"`` (output as large
    as the input, stride 1). ``dilation`` d spaces the kernel's taps d pixels apart. ``groups`` G
    splits the channels into G groups convolved separately, filter group g seeing input group g
    only (G = C: depthwise).

    im2col, channels last: out[(n, p), f] = sum_k cols[(n, p), k] W[f, k] + b[f], where p runs over
    the output pixels and k over the kernel taps and channels (i, j, c). The padded input is copied
    channels-last (NHWC in memory), so each row of cols gathers runs of whole pixels, and one
    linear layer over those rows gives the output as (N, oh, ow, F), returned as an NCHW view of that memory
    (channels-last, like the activations, pooling and batch norm after it). The backward is two
    matmuls, and the adjoint of unfold adds the window gradients back, one strided add per kernel
    offset (i, j).

    With groups, one matmul batched over them (never a loop): out[g, f, (n, p)] =
    sum_k W[g, f, k] cols[g, k, (n, p)], channels first, so that a row of cols is a run of output
    pixels of one channel: a depthwise channel has a single number per pixel, and gathering those
    from a channels-last copy made the depthwise-separable step of 64 x 32 x 32 x 32 images 1.8x
    slower (0.35 -> 0.20 s). The output is (F, N, oh, ow) in memory, returned as an NCHW view.
    """
    x, unbatched = _batched(x, "conv2d")
    stride = _pair(stride, "stride", "conv2d", 1)
    dilation = _pair(dilation, "dilation", "conv2d", 1)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    n, c, h, w = x.shape
    if weight.ndim != 4 or weight.shape[1] * groups != c or weight.shape[0] % groups:
        raise ValueError(f"conv2d: input of shape {x.shape} does not fit a weight of shape {weight.shape} "
                         f"(out, in / groups, kh, kw) with groups={groups}")
    f, cg, kh, kw = weight.shape
    if bias is not None and bias.shape != (f,):
        raise ValueError(f"conv2d: bias of shape {bias.shape} does not fit {f} filters")
    widths = _conv_padding(padding, (kh, kw), dilation, stride)
    for size, (lo, hi), k, d in zip((h, w), widths, (kh, kw), dilation):
        if size + lo + hi < d * (k - 1) + 1:
            raise ValueError(f"conv2d: kernel ({kh}, {kw}) is larger than the padded input of shape {x.shape} "
                             f"(dilation {dilation})")
    if groups == 1:  # channels last: rows of cols are runs of whole pixels
        windows = unfold(_pad(_channels_last(x), widths, 0.0), (kh, kw), stride, dilation)  # (N, C, oh, ow, kh, kw)
        n, _, oh, ow = windows.shape[:4]
        cols = windows.permute(0, 2, 3, 4, 5, 1).reshape(n * oh * ow, kh * kw * c)
        # a linear layer over the windows, bias included: out[(n, p), f] = sum_k cols[(n, p), k] W[f, k] + b[f]
        out = linear(cols, weight.permute(0, 2, 3, 1).reshape(f, kh * kw * c), bias).reshape(n, oh, ow, f)
        to_nchw = (0, 3, 1, 2)
    else:  # channels first: a row of cols is a run of output pixels, one per (group, tap)
        windows = unfold(_pad(_channels_first(x), widths, 0.0), (kh, kw), stride, dilation)
        n, _, oh, ow = windows.shape[:4]
        k = cg * kh * kw
        cols = windows.reshape(n, groups, cg, oh, ow, kh, kw).permute(1, 2, 5, 6, 0, 3, 4).reshape(groups, k, -1)
        out = (weight.reshape(groups, f // groups, k) @ cols).reshape(f, n, oh, ow)  # (G, F / G, k) @ (G, k, N oh ow)
        to_nchw = (1, 0, 2, 3)
        if bias is not None:
            out = out + bias.reshape(f, 1, 1, 1)
    return _unbatch(out.permute(*to_nchw), unbatched)


# --- pooling -------------------------------------------------------------------------------------
def _pool_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's number of windows along an axis: floor (or ceil) of (size + 2p - d (k - 1) - 1) / s, plus
    one; with ceil_mode the last window must still start inside the input or its left padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    return out - 1 if ceil_mode and (out - 1) * s >= size + p else out


def _pool(
    x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool, fill: float, op: str,
) -> tuple[Tensor, tuple[int, int], dict[str, tuple[int, int]]]:
    """The pooling windows of an NCHW batch, the two axes to reduce, and the geometry by name.

    The input is padded with ``fill`` to exactly the extent the windows cover (ceil_mode may
    reach past the padding, windows that do not fit are cropped away) and the work is done
    channels-last (NHWC in memory): a reduction then runs elementwise across the window's kh * kw
    slices, each a long run of whole pixels, where NumPy is fast. Windows that tile the image
    (stride = kernel, no dilation) are a reshape of it, (N, C, oh, kh, ow, kw); others come from
    ``unfold``, (N, C, oh, ow, kh, kw).
    """
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    stride = _pair(kernel if no_stride else stride, "stride", op, 1)
    padding, dilation = _pair(padding, "padding", op, 0), _pair(dilation, "dilation", op, 1)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    size = x.shape[-2:]
    out = tuple(map(_pool_size, size, kernel, stride, padding, dilation, (ceil_mode,) * 2))
    if min(out) < 1:
        raise ValueError(f"{op}: kernel {kernel} (dilation {dilation}) is larger than the padded input of "
                         f"shape {x.shape}")
    extent = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out, stride, dilation, kernel)]
    x = _pad(_channels_last(x), tuple((p, e - n - p) for p, e, n in zip(padding, extent, size)), fill)
    geometry = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation, "size": size,
                "out": out}
    if stride == kernel and dilation == (1, 1):
        return x.reshape(*x.shape[:2], out[0], kernel[0], out[1], kernel[1]), (3, 5), geometry
    return unfold(x, kernel, stride, dilation), (4, 5), geometry


def max_pool2d(
    x: Tensor, kernel_size: _Pair, stride: _Pair | None = None, padding: _Pair = 0, dilation: _Pair = 1,
    ceil_mode: bool = False, return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Max over each (kh, kw) window of x (N, C, H, W) or (C, H, W); ``stride`` defaults to the kernel.

    Output size floor((H + 2 p - d (k - 1) - 1) / s) + 1 as PyTorch (ceil instead with
    ``ceil_mode``, as long as the last window starts inside the input or its left padding);
    padding is -inf; ``dilation`` d takes every d-th pixel. ``return_indices`` also returns, for
    each output, the flat index h * W + w of its maximum in its (H, W) plane (the first of tied
    maxima), as int64. The gradient goes to the window's maximum; tied maxima share it equally
    (PyTorch gives it all to the first one).
    """
    x, unbatched = _batched(x, "max_pool2d")
    windows, axes, geometry = _pool(x, kernel_size, stride, padding, dilation, ceil_mode, -np.inf, "max_pool2d")
    out = _unbatch(windows.max(axis=axes), unbatched)
    if not return_indices:
        return out
    indices = _unbatch(Tensor(_argmax_indices(np.moveaxis(windows.data, axes, (4, 5)), **geometry)), unbatched)
    return out, indices


def _argmax_indices(windows: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                    padding: tuple[int, int], dilation: tuple[int, int], size: tuple[int, int],
                    out: tuple[int, int]) -> np.ndarray:
    """For windows (N, C, oh, ow, kh, kw), the flat index row * W + column of each window's maximum."""
    i, j = np.divmod(np.argmax(windows.reshape(*windows.shape[:4], -1), axis=-1), kernel[1])
    rows = np.arange(out[0])[:, None] * stride[0] - padding[0] + i * dilation[0]
    cols = np.arange(out[1]) * stride[1] - padding[1] + j * dilation[1]
    return (rows * size[1] + cols).astype(np.int64)


def avg_pool2d(
    x: Tensor, kernel_size: _Pair, stride: _Pair | None = None, padding: _Pair = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None,
) -> Tensor:
    """Mean over each (kh, kw) window of x (N, C, H, W) or (C, H, W), as PyTorch.

    The window's sum is divided by its size, zero padding included (``count_include_pad=True``,
    PyTorch's default) or not; a window that ``ceil_mode`` lets run past the padded edge counts
    only up to that edge. ``divisor_override`` divides every sum by that number instead.
    """
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a nonzero int, got {divisor_override!r}")
    x, unbatched = _batched(x, "avg_pool2d")
    windows, axes, geometry = _pool(x, kernel_size, stride, padding, 1, ceil_mode, 0.0, "avg_pool2d")
    counts = []  # the divisor of each window along each axis, as PyTorch counts it
    for k, s, p, n, o in zip(*(geometry[key] for key in ("kernel", "stride", "padding", "size", "out"))):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    divisor = counts[0][:, None] * counts[1] if divisor_override is None else np.full(geometry["out"], divisor_override)
    if (divisor == np.prod(geometry["kernel"])).all():
        return _unbatch(windows.mean(axis=axes), unbatched)
    return _unbatch(windows.sum(axis=axes) / divisor.astype(x.dtype), unbatched)
