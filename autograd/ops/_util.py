"""Shape helpers shared by the op families."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.exceptions import AxisError
from numpy.lib.array_utils import normalize_axis_tuple

from ..tensor import Tensor


def data(x: Any) -> Any:
    """The ndarray behind a Tensor; constants pass through."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x: Any) -> Tensor:
    """x itself if it is a Tensor, else a new constant Tensor of it."""
    return x if isinstance(x, Tensor) else Tensor(x)

def axes_of(axis: Any, ndim: int, op: str = "reduction") -> tuple[int, ...]:
    """Normalise ``axis`` (None, int or tuple) to a sorted tuple of non-negative axes; NumPy's
    AxisError (a ValueError and an IndexError) naming ``op`` for one out of range."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, without NumPy's normaliser
        return (axis % ndim,)
    try:
        return tuple(sorted(normalize_axis_tuple(axis, ndim)))
    except AxisError:
        bad = next(a for a in np.atleast_1d(axis).tolist() if not -ndim <= a < ndim)
        raise AxisError(f"{op}: axis {bad} is out of bounds for a tensor with {ndim} axes") from None

def axis_index(axis: int, ndim: int, op: str) -> int:
    """One axis, normalised to 0 <= axis < ndim, as `axes_of`."""
    return axes_of(axis, ndim, op)[0]

def keepdims_shape(in_shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(in_shape))

def count(in_shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return math.prod(in_shape[i] for i in axes)

def broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape the operands broadcast to; a ValueError that names ``op`` and the shapes if none."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: cannot broadcast shapes {' and '.join(map(str, shapes))}") from None
