"""The modes every other module reads: grad mode, anomaly mode, the default dtype.

This is the ground of the package: it imports nothing of ours. Grad and anomaly mode are per
thread (as in PyTorch); the default dtype is global.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np


class _ThreadState(threading.local):
    grad_enabled = True  # class attributes are each new thread's defaults
    anomaly = False


state = _ThreadState()


class _Config:
    default_dtype = np.dtype(np.float32)
    generator = np.random.default_rng()  # behind rand, randn, nn.init, dropout and normal_/uniform_


config = _Config()


def manual_seed(seed: int) -> None:
    """Seed the generator behind ``rand``, ``randn``, ``nn.init``, dropout and ``normal_``/``uniform_``."""
    config.generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The library's random generator (reseeded by ``manual_seed``)."""
    return config.generator


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats become (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"the default dtype must be a floating dtype, got {dtype}")
    config.default_dtype = dtype


def get_default_dtype() -> np.dtype:
    return config.default_dtype


def is_grad_enabled() -> bool:
    return state.grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode for the current thread."""

    enabled: bool

    def __enter__(self) -> None:
        self._prev = state.grad_enabled
        state.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Run without recording the graph: outputs do not require grad."""

    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Record the graph again inside a ``no_grad`` region."""

    enabled = True


class set_grad_enabled(_GradMode):  # noqa: N801
    def __init__(self, mode: bool) -> None:
        self.enabled = bool(mode)
        self._prev = state.grad_enabled
        state.grad_enabled = self.enabled  # also works as a plain call, as in PyTorch

    def __enter__(self) -> None:
        pass


class detect_anomaly:  # noqa: N801
    """Raise ``FloatingPointError`` at the first NaN or Inf produced in forward or backward.

    The error names the op and the line of user code that created it. Slow: use for debugging.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def __enter__(self) -> detect_anomaly:
        self._prev = state.anomaly
        state.anomaly = self.enabled
        return self

    def __exit__(self, *exc: object) -> None:
        state.anomaly = self._prev
