"""Function: the one way an op is defined, and the node it leaves in the graph.

A subclass gives ``forward(ctx, *args)``, computing an ndarray from the ``.data`` of its Tensor
arguments, and ``backward(ctx, g)``, returning one gradient per argument written with Tensor
ops, so that the backward pass can itself be differentiated. ``apply`` runs forward and, in grad
mode when an input requires grad, makes ``ctx`` the output's ``grad_fn``: the context is the node.

A node keeps ``seq``, its serial number (nodes are numbered as they are made, so a node's consumers
have larger ones), and per forward argument i: ``next[i]``, where argument i's gradient goes next in
backward (the node that made it, or the argument itself if it is a leaf that requires grad, else None),
and ``consts[i]``, the argument itself where ``next[i]`` is None (a constant, or an op parameter such
as an axis). That is the whole graph: enough to run backward and for ``autograd.viz`` to replay forward.
"""

from __future__ import annotations

import itertools
import os
import traceback
from typing import Any

import numpy as np

from ..mode import state
from ..tensor import Tensor, _versions

_new = object.__new__
_made = itertools.count()  # numbers the nodes in the order they are made (see engine)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

class Function:
    """Base class of every op. Subclass it, write the two static methods, call ``apply``.

    ``forward(ctx, *args)`` gets the Tensors (and constants) given to ``apply``, computes on their
    ``.data`` with NumPy and returns an ndarray. ``backward(ctx, g)`` gets d(loss)/d(output) as a
    Tensor and returns the gradient of each argument of forward, in order (a Tensor of that
    argument's shape or None; one alone for one argument; trailing constants may be left out),
    written with Tensor ops so that gradients of gradients work::

        class Cube(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.data ** 3
            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * 3 * x ** 2

        y = Cube.apply(x)

    Inside ``forward``: ``ctx.save_for_backward(*tensors)`` keeps what backward needs (freed after
    backward unless ``retain_graph=True``); ``ctx.needs_input_grad[i]`` says whether backward must
    compute argument i's gradient (it may return None for the others). ``saves_output = True`` on the
    class hands backward the output as ``ctx.output`` (exp, tanh, sigmoid); the node keeps only its
    array, since the output holds the node and holding the output back would make a reference cycle.
    ``inputs`` (a slice) picks the arguments that pictures draw as data; the rest (an axis) are parameters.
    """

    saves_output = False
    inputs = slice(None)
    layout_only = False  # True for ops that only move data in memory: the identity in math
    name: str | None = None  # the name given to its output, for pictures
    # per-node state, set by apply and forward; class-level defaults keep apply short
    next: Any = ()
    consts: Any = ()
    seq = 0
    shape: tuple = ()
    dtype: Any = None
    _saved: Any = ()
    _saved_versions: Any = ()
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
        if state.grad_enabled:
            # per argument: where its gradient goes next (the node that made it, or the leaf itself), else a constant
            record, edges, consts = False, [], []
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    edges.append(a.grad_fn or a)
                    consts.append(None)
                    record = True
                else:
                    edges.append(None)
                    consts.append(a)
            if record:
                ctx.next, ctx.consts, ctx.seq = edges, consts, next(_made)
            else:
                ctx.consts = args  # unrecorded: every argument is a constant (for needs_input_grad)
        else:
            ctx.consts = args
        out = cls.forward(ctx, *args)
        if type(out) is not np.ndarray:  # a forward written with Tensor ops: its own graph is not this op's
            if type(out) is tuple:  # np.asarray would stack the outputs into one array, or fail obscurely
                raise TypeError(f"{cls.__name__}.forward returned a tuple; a Function has one output (an ndarray): "
                                "write one Function per output, or stack them and index the result")
            out = out.data if isinstance(out, Tensor) else np.asarray(out)
        if state.anomaly:
            ctx._stack = traceback.extract_stack()[:-1]
            if out.dtype.kind in "fc" and not np.all(np.isfinite(out)):
                raise FloatingPointError(f"{cls.__name__} produced NaN or Inf in forward; the op was created "
                                         f"at\n{ctx._where()}")
        t = _new(Tensor)
        t.data = out
        if ctx.next and out.dtype.kind == "f":  # integer and bool outputs have no gradient, as in PyTorch
            t.grad_fn, t._requires_grad, ctx.shape, ctx.dtype = ctx, True, out.shape, out.dtype
            if cls.saves_output:
                ctx._out = out
        return t

    def save_for_backward(self, *tensors: Any) -> None:
        self._saved = tensors
        if self.next and _versions:  # remember each tensor's version, to catch in-place changes
            self._saved_versions = [t._version if isinstance(t, Tensor) else None for t in tensors]

    @property
    def needs_input_grad(self) -> list[bool]:
        """Per forward argument: must backward compute its gradient (the argument requires grad)? All
        False when the op is not recorded (under ``no_grad``, or when no argument requires grad)."""
        return [e is not None for e in self.next] if self.next else [False] * len(self.consts)

    @property
    def saved_tensors(self) -> tuple:
        if self._released:
            self._raise_released()
        if _versions:  # every version is 0 before the first in-place change
            self._check_versions()
        return self._saved

    def _check_versions(self, saved: Any = None) -> None:
        for t, version in saved or zip(self._saved, self._saved_versions or [0] * len(self._saved)):
            if isinstance(t, Tensor) and t._version != version:
                raise RuntimeError(f"one of the tensors saved by {type(self).__name__} for backward was modified "
                                   f"in place (its version is {t._version}, it was saved at version {version}); "
                                   "compute on a copy (t.clone()) or change it after backward")

    @property
    def output(self) -> Tensor:
        """The forward output as a Tensor of this node (only with ``saves_output = True``)."""
        if self._released:
            self._raise_released()
        out = Tensor._make(self._out, self, True)
        if _versions:  # a fresh array when forward made it: version 0
            self._check_versions([(out, 0)])
        return out

    def _raise_released(self) -> None:
        raise RuntimeError(f"trying to backward through {type(self).__name__} a second time, but its saved "
                           "tensors were freed by the first backward; pass retain_graph=True to the first "
                           "backward() (or grad()) to keep them")

    def _where(self) -> str:
        """Where the user created this op (with ``detect_anomaly`` on)."""
        if self._stack is None:
            return "  (unknown: run the forward pass under autograd.detect_anomaly() to record it)"
        frames = [f for f in self._stack if not f.filename.startswith(_PACKAGE_DIR)]
        return "".join(traceback.format_list(frames[-3:] or self._stack[-3:]))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.shape}>"
