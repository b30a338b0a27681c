"""The ground of the package, importing nothing of ours: grad mode and anomaly mode (per thread,
as in PyTorch), the default dtype and the random generator (global)."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

import numpy as np


class _ThreadState(threading.local):
    grad_enabled = True  # class attributes are each new thread's defaults
    anomaly = False

class _Config:
    default_dtype = np.dtype(np.float32)
    generator = np.random.default_rng()  # behind rand, randn, nn.init, dropout and normal_/uniform_

state, config = _ThreadState(), _Config()

def manual_seed(seed: int) -> None:
    """Seed the generator behind ``rand``, ``randn``, ``nn.init``, dropout and ``normal_``/``uniform_``;
    a negative seed counts back from 2**64, as PyTorch's does."""
    config.generator = np.random.default_rng(seed % 2**64)

def generator() -> np.random.Generator:
    """The library's random generator (reseeded by ``manual_seed``)."""
    return config.generator

def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats become (float32 or float64)."""
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"the default dtype must be a floating dtype, got {np.dtype(dtype)}")
    config.default_dtype = np.dtype(dtype)

def get_default_dtype() -> np.dtype: return config.default_dtype
def is_grad_enabled() -> bool: return state.grad_enabled

class _Mode:
    """Context manager and decorator that sets a mode of the current thread for its duration."""

    name, value = "grad_enabled", True

    def __new__(cls, *args: Any) -> Any:
        if len(args) == 1 and callable(args[0]):  # a bare decorator, @no_grad, as PyTorch allows
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self) -> Any:
        self._prev = getattr(state, self.name)
        setattr(state, self.name, self.value)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(state, self.name, self._prev)

    def _copy(self) -> _Mode:
        """A fresh manager for the same mode, for one call of a decorated function."""
        return type(self)()

    def __call__(self, fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):
            return self._generator(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._copy():
                return fn(*args, **kwargs)

        return wrapper

    def _generator(self, fn: Callable) -> Callable:
        """A generator runs in the mode while it computes each value, and the caller gets its own
        mode back at every ``yield`` (a decorated generator that only entered the mode when it was
        created would run its body in the caller's mode)."""
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            gen = fn(*args, **kwargs)
            resume, value = gen.send, None
            while True:
                try:
                    with self._copy():
                        out = resume(value)
                except StopIteration as stop:
                    return stop.value
                try:
                    resume, value = gen.send, (yield out)
                except GeneratorExit:
                    with self._copy():
                        gen.close()
                    raise
                except BaseException as exc:  # thrown in by the caller: raise it where the generator waits
                    resume, value = gen.throw, exc

        return wrapper

class no_grad(_Mode):  # noqa: N801 (PyTorch's names)
    """Run without recording the graph: outputs do not require grad (evaluation, optimizer steps).

    A context manager (``with no_grad(): ...``) and a decorator (``@no_grad`` or ``@no_grad()``); it sets the mode
    of the current thread only, and restores the previous mode on exit.
    """

    value = False

class enable_grad(_Mode):  # noqa: N801
    """Record the graph again inside a ``no_grad`` region; a context manager and a decorator, per thread."""

class set_grad_enabled(_Mode):  # noqa: N801
    """Set grad mode: as a context manager, or as a plain call (as in PyTorch)."""

    def __init__(self, mode: bool) -> None:
        self.value, self._prev = bool(mode), state.grad_enabled
        state.grad_enabled = self.value

    def __enter__(self) -> Any:
        return self

    def _copy(self) -> _Mode:
        return set_grad_enabled(self.value)

    def __call__(self, fn: Callable) -> Callable:
        state.grad_enabled = self._prev  # decorating sets the mode only for the calls, not from now on
        return super().__call__(fn)

class detect_anomaly(_Mode):  # noqa: N801
    """Raise ``FloatingPointError`` at the first NaN or Inf produced in forward or backward, naming
    the op and the line of user code that created it. Slow: use for debugging."""

    name = "anomaly"

    def __init__(self, enabled: bool = True) -> None:
        self.value = enabled

    def _copy(self) -> _Mode:
        return detect_anomaly(self.value)
