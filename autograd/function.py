"""Function: the one way an op is defined, and the node it leaves in the graph.

A subclass gives ``forward(ctx, *args)``, computing an ndarray from the ``.data`` of its Tensor
arguments, and ``backward(ctx, g)``, returning one gradient per argument written with Tensor
ops, so that the backward pass can itself be differentiated. ``apply`` runs forward and, when
any input requires grad, makes the instance ``ctx`` the output's ``grad_fn``.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import numpy as np

from .engine import state
from .tensor import Tensor

_new = object.__new__
KEEP_SMALL = 64  # outputs and gradients up to this many elements stay on their node, for graph pictures
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Function:
    """Base class of every op. Subclass it, write the two static methods, call ``apply``.

    Inside ``forward``: ``ctx.save_for_backward(*tensors)`` keeps what backward needs (released
    after backward unless ``retain_graph=True``), ``ctx.needs_input_grad[i]`` says whether
    argument i needs a gradient. Set ``saves_output = True`` on the class to get the output
    back as ``ctx.output`` in backward (for exp, tanh, sigmoid) without a reference cycle.
    """

    saves_output = False

    # per-node state, set by apply; class-level defaults keep apply short
    next: list = []  # noqa: RUF012 (read-only default; apply sets a fresh list per node)
    shape: tuple = ()
    dtype: Any = None
    value_small: Any = None
    grad_small: Any = None
    _saved: Any = ()
    _out: Any = None
    _released = False
    _hooks: Any = None
    _retained: Any = None
    _stack: Any = None

    @staticmethod
    def forward(ctx: Function, *args: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Function, g: Tensor) -> Any:
        raise NotImplementedError(f"{type(ctx).__name__} has no backward")

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run the op on ``args`` (Tensors and constants) and record it in the graph."""
        ctx = _new(cls)
        edges = None
        if state.grad_enabled:
            # one edge per argument: the parent's node, the leaf itself, or None
            record = False
            edges = []
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    edges.append(a.grad_fn or a)
                    record = True
                else:
                    edges.append(None)
            if record:
                ctx.next = edges
            else:
                edges = None
        try:
            out = cls.forward(ctx, *args)
        except ValueError as exc:
            if "could not be broadcast" not in str(exc):
                raise
            shapes = " and ".join(str(a.shape) for a in args if isinstance(a, (Tensor, np.ndarray)))
            raise ValueError(f"{cls.__name__.lower()}: cannot broadcast shapes {shapes}") from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if state.anomaly:
            cls._check_forward(ctx, out)
        t = _new(Tensor)
        t.data = out
        if edges is None:
            return t
        t.grad_fn = ctx
        t._requires_grad = True
        ctx.shape = out.shape
        ctx.dtype = out.dtype
        if out.size <= KEEP_SMALL:
            ctx.value_small = out
        if cls.saves_output:
            ctx._out = out
        return t

    @classmethod
    def _check_forward(cls, ctx: Function, out: np.ndarray) -> None:
        ctx._stack = traceback.extract_stack()[:-3]
        if out.dtype.kind in "fc" and not np.all(np.isfinite(out)):
            raise FloatingPointError(
                f"{cls.__name__} produced NaN or Inf in forward; the op was created at\n" + ctx._where()
            )

    # --- what forward and backward use ------------------------------------------------------------
    def save_for_backward(self, *tensors: Any) -> None:
        self._saved = tensors

    @property
    def needs_input_grad(self) -> list[bool]:
        """For each forward argument: does it need a gradient?"""
        return [e is not None for e in self.next]

    @property
    def saved_tensors(self) -> tuple:
        if self._released:
            self._raise_released()
        return self._saved

    @property
    def output(self) -> Tensor:
        """The forward output as a Tensor of this node (only with ``saves_output = True``)."""
        if self._released:
            self._raise_released()
        return Tensor._make(self._out, self, True)

    def _raise_released(self) -> None:
        raise RuntimeError(
            f"trying to backward through {type(self).__name__} a second time, but its saved tensors "
            "were freed by the first backward; pass retain_graph=True to the first backward() "
            "(or grad()) to keep them"
        )

    def _release(self) -> None:
        if self._saved or self._out is not None:
            self._saved = ()
            self._out = None
            self._released = True

    def _where(self) -> str:
        """Where the user created this op (with ``detect_anomaly`` on)."""
        if self._stack is None:
            return "  (unknown: run the forward pass under autograd.detect_anomaly() to record it)"
        frames = [f for f in self._stack if not f.filename.startswith(_PACKAGE_DIR)]
        return "".join(traceback.format_list(frames[-3:] or self._stack[-3:]))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.shape}>"
