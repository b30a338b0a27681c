"""Hypothesis strategies for property tests of your own ops.

Shapes are drawn by the same code that draws the op database's inputs (`autograd.testing.sources`);
`programs` is `autograd.testing.programs.cases`: random programs of our ops around yours.

from hypothesis import given
from autograd.testing import gradcheck, gradgradcheck
from autograd.testing.strategies import programs, shapes, tensors

@given(tensors(shape=shapes(max_dims=3)))
def test_my_op(x):
    assert gradcheck(my_op, x)

@given(programs(my_op))
def test_my_op_in_programs(case):
    assert gradgradcheck(case.program, *case.leaves())
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..tensor import Tensor
from .opdb import OpInfo, inputs
from .programs import cases as programs
from .sources import AnyShape, HypothesisSource, broadcastable

__all__ = ["OpInfo", "axes", "broadcastable_shapes", "inputs", "programs", "shapes", "tensors"]


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5) -> st.SearchStrategy:
    """Shape tuples with ``min_dims`` to ``max_dims`` axes, each of size ``min_side`` to ``max_side``.

    Example: ``shapes(max_dims=2)`` draws ``()``, ``(3,)``, ``(1, 5)``, ...
    """
    _check_range("shapes", "dims", min_dims, max_dims)
    _check_range("shapes", "side", min_side, max_side)
    spec = AnyShape(min_dims, max_dims, min_side, max_side)
    return st.composite(lambda draw: spec([], HypothesisSource(draw)))()


def broadcastable_shapes(
    shape: tuple[int, ...],
    min_dims: int = 0,
    max_dims: int | None = None,
    min_side: int = 1,
    max_side: int | None = None,
) -> st.SearchStrategy:
    """Shapes that broadcast with ``shape``, in both directions.

    Aligned from the right, each axis has shape's size or 1 where ``shape`` has a size, and any
    size where ``shape`` has 1 or no axis; so the drawn shape may be longer than ``shape`` and
    the broadcast result may be larger than both. ``max_dims`` defaults to ``len(shape) + 2``.

    Example: for ``shape=(3, 1)``: ``()``, ``(1,)``, ``(3, 4)``, ``(2, 1, 1)``, ...; then
    ``np.broadcast_shapes(shape, drawn)`` always succeeds.
    """
    if not isinstance(shape, (tuple, list)) or not all(_is_int(n) and n >= 0 for n in shape):
        raise ValueError(f"broadcastable_shapes: shape must be a tuple of non-negative ints, got {shape!r}")
    shape = tuple(shape)
    max_dims = len(shape) + 2 if max_dims is None else max_dims
    max_side = max((*shape, min_side)) + 2 if max_side is None else max_side
    _check_range("broadcastable_shapes", "dims", min_dims, max_dims)
    _check_range("broadcastable_shapes", "side", min_side, max_side)
    return st.composite(
        lambda draw: broadcastable(HypothesisSource(draw), shape, min_dims, max_dims, min_side, max_side)
    )()


def axes(ndim: int, min_size: int = 0, max_size: int | None = None, allow_none: bool = True) -> st.SearchStrategy:
    """Valid ``axis`` arguments of a reduction over an ``ndim``-dimensional tensor.

    None (every axis, when ``allow_none``), an int in ``[-ndim, ndim)`` (negative allowed), or a
    tuple of ``min_size`` to ``max_size`` distinct axes (each may be negative, none repeated
    modulo ndim). ``min_size``/``max_size`` bound how many axes are reduced: None counts as ndim,
    an int as 1.

    Example: ``axes(3)`` draws ``None``, ``-1``, ``2``, ``()``, ``(0, -1)``, ...
    """
    if not _is_int(ndim) or ndim < 0:
        raise ValueError(f"axes: ndim must be a non-negative int, got {ndim!r}")
    max_size = ndim if max_size is None else min(max_size, ndim)
    options = [hnp.valid_tuple_axes(ndim, min_size=min_size, max_size=max_size)] if min_size <= max_size else []
    if ndim > 0 and min_size <= 1 <= max_size:
        options.append(st.integers(-ndim, ndim - 1))
    if allow_none and min_size <= ndim <= max_size:
        options.append(st.none())
    if not options:
        raise ValueError(f"axes: no axis argument reduces {min_size} to {max_size} of {ndim} axes")
    return st.one_of(*options)


def tensors(
    shape: Any = None,
    dtype: Any = np.float64,
    elements: st.SearchStrategy | None = None,
    requires_grad: bool = False,
    min_value: float = -10.0,
    max_value: float = 10.0,
    name: str | None = None,
) -> st.SearchStrategy:
    """Tensors of ``shape`` (a tuple, or a strategy of tuples; default ``shapes()``) and ``dtype``.

    Values come from ``elements`` if given, else from finite numbers in ``[min_value, max_value]``
    (floats for a floating dtype, rounded inward to the nearest numbers it can hold; integers for
    an integer one, within its range). ``requires_grad`` and ``name`` are passed
    to the Tensor.

    Example: ``tensors(shape=(2, 3), min_value=0.1, max_value=1.0)`` draws 2x3 float64 tensors of
    values in [0.1, 1]; ``tensors(shape=shapes(max_dims=3), requires_grad=True)`` draws leaves to
    differentiate.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"tensors: dtype must be bool, integer or floating, got {dtype}")
    if requires_grad and dtype.kind != "f":
        raise TypeError(f"tensors: requires_grad=True needs a floating dtype, got {dtype}")
    if isinstance(shape, (tuple, list)) and not all(_is_int(n) and n >= 0 for n in shape):
        raise ValueError(f"tensors: shape must be a tuple of non-negative ints, got {shape!r}")
    if elements is None:
        if dtype.kind == "f":
            low, high = _float_bounds(dtype, min_value, max_value)
            elements = st.floats(low, high, width=8 * dtype.itemsize, allow_nan=False, allow_infinity=False)
        elif dtype.kind == "b":
            elements = st.booleans()
        else:
            elements = st.integers(*_integer_bounds(dtype, min_value, max_value))
    array = hnp.arrays(dtype, shapes() if shape is None else shape, elements=elements)
    return array.map(lambda a: Tensor(a, requires_grad=requires_grad, name=name))


def _is_int(n: Any) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool)


def _check_range(function: str, what: str, low: Any, high: Any) -> None:
    """Refuse bounds that draw nothing or draw impossible shapes: ints with 0 <= low <= high."""
    if not (_is_int(low) and _is_int(high) and 0 <= low <= high):
        raise ValueError(f"{function}: need ints 0 <= min_{what} <= max_{what}, got min_{what}={low!r}, "
                         f"max_{what}={high!r}")


def _float_bounds(dtype: np.dtype, low: float, high: float) -> tuple[float, float]:
    """[low, high] narrowed to the nearest numbers of ``dtype`` inside it (0.1 is not a float32)."""
    info = np.finfo(dtype)
    if not (low <= high):  # also NaN
        raise ValueError(f"tensors: need min_value <= max_value, got {low!r} and {high!r}")
    inner_low, inner_high = dtype.type(max(low, float(info.min))), dtype.type(min(high, float(info.max)))
    if float(inner_low) < low:
        inner_low = np.nextafter(inner_low, dtype.type(np.inf))
    if float(inner_high) > high:
        inner_high = np.nextafter(inner_high, dtype.type(-np.inf))
    if not inner_low <= inner_high:
        raise ValueError(f"tensors: no {dtype} number lies in [{low!r}, {high!r}]")
    return float(inner_low), float(inner_high)


def _integer_bounds(dtype: np.dtype, low: float, high: float) -> tuple[int, int]:
    """The integers of ``dtype`` in [low, high]."""
    info = np.iinfo(dtype)
    if not (low <= high):
        raise ValueError(f"tensors: need min_value <= max_value, got {low!r} and {high!r}")
    inner_low, inner_high = max(int(np.ceil(low)), int(info.min)), min(int(np.floor(high)), int(info.max))
    if inner_low > inner_high:
        raise ValueError(f"tensors: no {dtype} integer lies in [{low!r}, {high!r}]")
    return inner_low, inner_high
