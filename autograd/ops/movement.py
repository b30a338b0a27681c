"""Ops that move data around without arithmetic: shapes, broadcasting, indexing, windows.

Adjoint pairs: reshape <- reshape, transpose <- transpose, broadcast_to <- sum_to,
getitem <- scatter_add, concatenate <- getitem, pad <- getitem, unfold <- fold.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import kernels
from ..tensor import Tensor
from ._util import as_tensor, axes_of, axis_index
from .function import Function


# --- shapes -------------------------------------------------------------------------------------
class Reshape(Function):
    """Reshape in C order; the gradient is reshaped back (and laid out in memory as the input was)."""

    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        try:
            out = x.data.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} into {tuple(shape)}") from None
        ctx.in_order = None
        if not x.data.flags.c_contiguous and not np.may_share_memory(out, x.data):
            ctx.in_order = kernels.dense_order(x.data)  # a copy of a permuted array (None for other views)
        return out

    @staticmethod
    def backward(ctx, g):
        g = Reshape.apply(g, ctx.in_shape)
        return g if ctx.in_order is None else Copy.apply(g, ctx.in_order)

class Copy(Function):
    """The identity, as a copy laid out in memory in axis ``order`` ("K": as x is; None: C order), or
    x itself when it is laid out so already. Some ops are faster on some layouts (`kernels.in_order`);
    the math does not change, so pictures skip this op."""

    inputs = slice(0, 1)
    layout_only = True

    @staticmethod
    def forward(ctx, x, order):
        if order == "K":
            return x.data.copy(order="K")
        if order is not None and kernels.dense_order(x.data) == tuple(order):
            return x.data
        return kernels.in_order(x.data, order)

    backward = staticmethod(lambda ctx, g: g)

class Transpose(Function):
    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, axes):
        if axes is None:
            axes = tuple(reversed(range(x.ndim)))
        elif sorted(axis_index(a, x.ndim, "permute") for a in axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {tuple(axes)} is not a permutation of the axes of shape {x.shape} "
                             "(swapaxes(i, j) swaps two, as PyTorch's transpose)")
        ctx.axes = axes
        return kernels.transpose(x.data, axes)

    backward = staticmethod(lambda ctx, g: Transpose.apply(g, tuple(np.argsort([a % g.ndim for a in ctx.axes]))))

class BroadcastTo(Function):
    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        try:
            return np.broadcast_to(x.data, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {tuple(shape)}") from None

    backward = staticmethod(lambda ctx, g: sum_to(g, ctx.in_shape))

class SumTo(Function):
    """Sum a broadcast result back down to ``shape``: the adjoint of broadcasting."""

    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        lead = x.ndim - len(shape)
        if lead < 0 or any(s != 1 and s != n for s, n in zip(shape, x.shape[lead:])):
            raise ValueError(f"sum_to: shape {x.shape} is not a broadcast of {tuple(shape)}")
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
        return kernels.sum_kept(x.data, axes).reshape(shape)

    backward = staticmethod(lambda ctx, g: BroadcastTo.apply(g, ctx.in_shape))

def sum_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``x`` down to ``shape`` over the axes that broadcasting ``shape`` to ``x.shape`` added or stretched."""
    return x if x.shape == shape else SumTo.apply(x, tuple(shape))

def expand(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``broadcast_to`` where -1 keeps the size of that axis (PyTorch's expand)."""
    lead = len(shape) - x.ndim
    shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    return BroadcastTo.apply(x, shape)

def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    axes = list(range(x.ndim))
    a, b = axis_index(axis1, x.ndim, "swapaxes"), axis_index(axis2, x.ndim, "swapaxes")
    axes[a], axes[b] = axes[b], axes[a]
    return Transpose.apply(x, tuple(axes))

def flatten(x: Tensor, start: int = 0, end: int = -1) -> Tensor:
    """Merge axes ``start`` to ``end`` (inclusive) into one."""
    if x.ndim == 0:
        return Reshape.apply(x, (1,))
    start, end = axis_index(start, x.ndim, "flatten"), axis_index(end, x.ndim, "flatten")
    shape = x.shape[:start] + (int(np.prod(x.shape[start : end + 1])),) + x.shape[end + 1 :]
    return Reshape.apply(x, shape)

def squeeze(x: Tensor, axis: Any = None) -> Tensor:
    """Drop axes of size 1 (all of them, or those in ``axis``)."""
    if axis is None:
        return Reshape.apply(x, tuple(n for n in x.shape if n != 1))
    axes = axes_of(axis, x.ndim, "squeeze")
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f"squeeze: axis {axis} of shape {x.shape} does not have size 1")
    return Reshape.apply(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))

def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert an axis of size 1 at ``axis`` (counted in the result, as NumPy's expand_dims)."""
    if axis is None:
        raise TypeError("unsqueeze: give the axis to insert (axis= or dim=)")
    axis = axis_index(axis, x.ndim + 1, "unsqueeze")
    return Reshape.apply(x, x.shape[:axis] + (1,) + x.shape[axis:])

# --- indexing -----------------------------------------------------------------------------------
def _index(index: Any) -> Any:
    """Replace Tensors and lists in an index by ndarrays."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index

def _is_advanced(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.dtype != bool for p in parts)

class GetItem(Function):
    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, index):
        index = _index(index)
        ctx.index, ctx.in_shape = index, x.shape
        out = x.data[index]
        if type(out) is not np.ndarray:  # an int per axis gives NumPy's copy; PyTorch's (and now our) 0-d view
            out = x.data[(*(p for p in (index if isinstance(index, tuple) else (index,)) if p is not Ellipsis), ...)]
        return out

    backward = staticmethod(lambda ctx, g: ScatterAdd.apply(g, ctx.index, ctx.in_shape))

class ScatterAdd(Function):
    """A zero tensor of ``shape`` with ``x`` added at ``index``; repeated indices accumulate."""

    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=x.dtype)
        if _is_advanced(index):
            np.add.at(out, index, x.data)
        else:  # basic indexing and boolean masks never repeat an element
            out[index] = x.data
        return out

    backward = staticmethod(lambda ctx, g: GetItem.apply(g, ctx.index))

def write(out: np.ndarray, index: Any, value: Any) -> np.ndarray:
    """``out[index] = value`` in place, and ``out``; read-only memory (a broadcast an op handed back, a read-only
    input) is copied first. NumPy's ValueError for a value that does not fit comes back naming both shapes."""
    if not out.flags.writeable:
        out = np.array(out)
    try:
        out[_index(index)] = value
    except ValueError as exc:
        raise ValueError(f"t[index] = value: cannot write a value of shape {np.shape(value)} at that index of a tensor "
                         f"of shape {out.shape} ({exc})") from None
    return out

class SetItem(Function):
    """x with ``value`` written at ``index``, as ``x[index] = value`` in the graph: the places written over
    pass no gradient back to x, and value gets the gradient read at index (summed to its shape)."""

    inputs = slice(0, None, 2)  # x and value; the index is a parameter

    @staticmethod
    def forward(ctx, x, index, value):
        ctx.index = _index(index)
        out = x.data.copy()
        write(out, ctx.index, value.data if isinstance(value, Tensor) else value)
        return out

    @staticmethod
    def backward(ctx, g):
        need_x, _, need_value = ctx.needs_input_grad
        return (SetItem.apply(g, ctx.index, 0) if need_x else None, None,
                GetItem.apply(g, ctx.index) if need_value else None)

# --- joining and splitting ------------------------------------------------------------------------
class Concatenate(Function):
    inputs = slice(1, None)

    @staticmethod
    def forward(ctx, axis, *tensors):
        arrays = [t.data for t in tensors]
        axis = axis_index(axis, arrays[0].ndim, "concatenate")
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}") from None
        ctx.axis = axis
        ctx.bounds = np.cumsum([0] + [a.shape[axis] for a in arrays])
        return out

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.axis
        return (None,) + tuple(
            g[lead + (slice(lo, hi),)] if need else None
            for lo, hi, need in zip(ctx.bounds[:-1], ctx.bounds[1:], ctx.needs_input_grad[1:])
        )

def concatenate(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``dim=`` is PyTorch's name for it); None: flattened, as NumPy."""
    axis = axis if dim is None else dim
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    if axis is None:  # NumPy's: flatten them all first
        return concatenate([as_tensor(t).reshape(-1) for t in tensors])
    return Concatenate.apply(axis, *[as_tensor(t) for t in tensors])

def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors of one shape along a new axis (``dim=`` is PyTorch's name for it)."""
    axis = axis if dim is None else dim
    if len(tensors) == 0:
        raise ValueError("stack: need at least one tensor")
    tensors = [as_tensor(t) for t in tensors]
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need one shape, got {sorted(shapes)}")
    axis = axis_index(axis, tensors[0].ndim + 1, "stack")
    return Concatenate.apply(axis, *[unsqueeze(t, axis) for t in tensors])

def split(x: Tensor, indices_or_sections: Any, axis: int = 0, *, dim: int | None = None) -> list[Tensor]:
    """Split into pieces along ``axis`` (or ``dim=``), as ``np.split``: a number of equal sections or cut points."""
    axis = axis if dim is None else dim
    axis = axis_index(axis, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f"split: axis {axis} of length {n} does not split into {indices_or_sections} equal parts")
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = list(indices_or_sections)
    lead = (slice(None),) * axis
    return [x[lead + (slice(lo, hi),)] for lo, hi in zip([0, *cuts], [*cuts, n])]

# --- padding and windows --------------------------------------------------------------------------
class Pad(Function):
    """Pad with a constant (laid out in memory like x); the adjoint cuts the padding off again."""

    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.window = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths.tolist(), x.shape))
        return kernels.pad(x.data, widths, value)

    backward = staticmethod(lambda ctx, g: g[ctx.window])

def pad(x: Tensor, pad_width: Any, value: float = 0) -> Tensor:
    """Pad with a constant. ``pad_width`` as NumPy: an int, ``(before, after)``, or one pair per axis;
    a negative width crops instead (the result is then a slice). All zero: x itself, no op."""
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width} does not fit a tensor of shape {x.shape}") from None
    if (widths < 0).any():
        if (np.minimum(widths, 0).sum(axis=1) + x.shape < 0).any():
            raise ValueError(f"pad: pad_width {widths.tolist()} crops more than the shape {x.shape}")
        x = x[tuple(slice(-lo, n + hi) for (lo, hi), n in zip(np.minimum(widths, 0).tolist(), x.shape))]
        widths = np.maximum(widths, 0)
    return x if not widths.any() else Pad.apply(x, widths, value)

def _window_args(x_ndim: int, kernel_size: Any, stride: Any, dilation: Any = 1) -> tuple[tuple[int, ...], ...]:
    kernel = (kernel_size,) * min(2, x_ndim) if isinstance(kernel_size, int) else tuple(kernel_size)
    stride = kernel if stride is None else stride
    stride, dilation = ((v,) * len(kernel) if isinstance(v, int) else tuple(v) for v in (stride, dilation))
    lengths = {len(kernel), len(stride), len(dilation)}
    if len(lengths) > 1 or len(kernel) > x_ndim or min(kernel + stride + dilation) < 1:
        raise ValueError(f"unfold: kernel {kernel}, stride {stride}, dilation {dilation} do not fit {x_ndim} axes")
    return kernel, stride, dilation

class Unfold(Function):
    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, x, kernel, stride, dilation):
        k = len(kernel)
        spatial, extent = x.shape[x.ndim - k :], [d * (w - 1) + 1 for w, d in zip(kernel, dilation)]
        if any(n < e for n, e in zip(spatial, extent)):
            raise ValueError(f"unfold: kernel {kernel} (dilation {dilation}) is larger than {spatial} of {x.shape}")
        ctx.in_shape, ctx.args = x.shape, (kernel, stride, dilation)
        # windows of the dilated extent, then every d-th element of each: still a view
        windows = sliding_window_view(x.data, extent, axis=tuple(range(x.ndim - k, x.ndim)))
        return windows[(Ellipsis,) + tuple(slice(None, None, s) for s in stride + dilation)]

    backward = staticmethod(lambda ctx, g: Fold.apply(g, ctx.in_shape, *ctx.args))

class Fold(Function):
    """Sum windows back into an array of ``shape``: the adjoint of `Unfold`.

    One strided add per kernel offset (kh * kw of them), never a loop over output positions.
    """

    inputs = slice(0, 1)

    @staticmethod
    def forward(ctx, g, shape, kernel, stride, dilation):
        ctx.args = kernel, stride, dilation
        k = len(kernel)
        n_out = g.shape[g.ndim - 2 * k : g.ndim - k]
        # lay the sum out in memory like the windows' leading axes, so the adds below run along memory
        order = kernels.memory_order(g.data[(Ellipsis,) + (0,) * k])
        out = np.zeros([shape[a] for a in order], dtype=g.dtype).transpose(np.argsort(order))
        for offset in itertools.product(*(range(w) for w in kernel)):
            start = [o * d for o, d in zip(offset, dilation)]
            target = tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(start, stride, n_out))
            kernels.add_window_slice(out[(Ellipsis,) + target], g.data[(Ellipsis,) + offset])
        return out

    backward = staticmethod(lambda ctx, g: Unfold.apply(g, *ctx.args))

def unfold(x: Tensor, kernel_size: Any, stride: Any = None, dilation: Any = 1) -> Tensor:
    """Sliding windows over the trailing axes, as a zero-copy view.

    ``kernel_size`` is a tuple (one entry per trailing axis) or an int (a square window over
    the last two axes); ``stride`` defaults to the kernel; ``dilation`` d spaces a window's
    elements d apart. For x of shape (N, C, H, W) and a (kh, kw) kernel the result has shape
    (N, C, oh, ow, kh, kw), oh = (H - d (kh - 1) - 1) // sh + 1: windows that do not fit are
    dropped, as PyTorch does.
    """
    return Unfold.apply(x, *_window_args(x.ndim, kernel_size, stride, dilation))
