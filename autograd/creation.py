"""Tensor factories and the random generator they share with ``nn.init``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .mode import config, generator, manual_seed  # noqa: F401 (re-exported)
from .tensor import Tensor, _shape_arg


def _make(array: np.ndarray, dtype: Any, requires_grad: bool) -> Tensor:
    return Tensor(array.astype(dtype or config.default_dtype, copy=False), requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape_arg(shape)), dtype, requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape_arg(shape)), dtype, requires_grad)


def full(shape: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.full(_shape_arg((shape,)), fill_value), dtype, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.eye(n, m), dtype, requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Like ``np.arange``; integer arguments give int64 unless ``dtype`` says otherwise."""
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and array.dtype.kind == "f":
        dtype = config.default_dtype
    return Tensor(array if dtype is None else array.astype(dtype), requires_grad=requires_grad)


def zeros_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(_array(t), dtype=dtype), requires_grad=requires_grad)


def ones_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(_array(t), dtype=dtype), requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _make(generator().random(_shape_arg(shape)), dtype, requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    return _make(generator().standard_normal(_shape_arg(shape)), dtype, requires_grad)


def rand_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) of ``t``'s shape and (floating) dtype."""
    return _random_like(generator().random, t, dtype, requires_grad)


def randn_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples of ``t``'s shape and (floating) dtype."""
    return _random_like(generator().standard_normal, t, dtype, requires_grad)


def _random_like(draw: Any, t: Any, dtype: Any, requires_grad: bool) -> Tensor:
    """``draw(shape)`` in ``t``'s floating dtype; an integer t gives the default dtype (PyTorch refuses)."""
    data = _array(t)
    return _make(draw(data.shape), dtype or (data.dtype if data.dtype.kind == "f" else None), requires_grad)


def _array(t: Any) -> np.ndarray:
    """The array behind a Tensor, or ``t`` as an array."""
    return t.data if isinstance(t, Tensor) else np.asarray(t)
