"""Bad input, one table: every call either raises a clear error (type, and a message naming the op and
the shapes or values at fault) or returns the right answer, computed here independently. Never a
silent wrong number.

A second table runs every op of the op database on read-only and non-contiguous arrays.
"""

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

import autograd as ag
import nn
from autograd import Tensor
from autograd.testing import OPS
from autograd.testing.opdb import sample
from nn import functional as F


def T(*shape: int, dtype: Any = np.float64, requires_grad: bool = True) -> Tensor:  # noqa: N802
    """Ones of ``shape``, a leaf that requires grad where the dtype allows."""
    return Tensor(np.ones(shape, dtype), requires_grad=requires_grad and np.dtype(dtype).kind == "f")


def R(*shape: int, seed: int = 0) -> np.ndarray:  # noqa: N802
    return np.random.default_rng(seed).standard_normal(shape)


class Error(NamedTuple):
    """The call raises ``type`` with a message matching ``pattern``."""

    type: type
    pattern: str


class Result(NamedTuple):
    """The call returns ``value`` (arrays compared with rtol; dtype checked when given), with no warning."""

    value: Any
    dtype: Any = None
    rtol: float = 1e-12


def _grads(f: Callable[..., Tensor], *arrays: np.ndarray, dtype: Any = np.float64) -> list[np.ndarray]:
    """The gradients of sum(f(*leaves)) for leaves made from ``arrays``."""
    leaves = [Tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    f(*leaves).sum().backward()
    return [leaf.grad.data for leaf in leaves]


def _read_only(a: np.ndarray, fortran: bool = True) -> np.ndarray:
    """A read-only, non-C-contiguous copy of ``a`` (column-major, or every other element of a wider array)."""
    if fortran and a.ndim >= 2:
        out = np.asfortranarray(a)
    else:
        wide = np.zeros(a.shape + (2,), a.dtype)
        wide[..., 0] = a
        out = wide[..., 0]
    out.flags.writeable = False
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _state_dict_error(corrupt: Callable[[dict], None]) -> Callable[[], Any]:
    def call():
        model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
        state = model.state_dict()
        corrupt(state)
        return model.load_state_dict(state)

    return call


def _shared_gradient_is_not_aliased():
    """(a + b) hands one gradient to both leaves; zeroing a.grad in place must leave b.grad alone."""
    a, b = T(3), T(3)
    ((a + b) * 2.0).sum().backward()
    a.grad.data *= 0
    return b.grad.data


def _anomaly(f: Callable[[], Any]) -> Callable[[], Any]:
    def call():
        with ag.detect_anomaly():
            return f()

    return call


def _loader(batch_size: Any) -> Callable[[], Any]:
    return lambda: nn.data.DataLoader(nn.data.TensorDataset(np.ones((4, 2))), batch_size=batch_size)


IMAGES = R(2, 3, 6, 5)
KERNEL = R(4, 3, 3, 2, seed=1)
LOGITS = R(4, 3)
LABELS = np.array([0, 2, 1, 2])
CONV_GRADS = _grads(lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=1), IMAGES, KERNEL)

CASES = {
    # --- shape mismatches in every binary op -------------------------------------------------------
    "add": (lambda: T(2, 3) + T(3, 2), Error(ValueError, r"add: cannot broadcast shapes \(2, 3\) and \(3, 2\)")),
    "sub": (lambda: T(2, 3) - T(4), Error(ValueError, r"sub: .*\(2, 3\) and \(4,\)")),
    "mul": (lambda: T(2, 3) * T(2, 2), Error(ValueError, r"mul: .*\(2, 3\) and \(2, 2\)")),
    "div": (lambda: T(2, 3) / T(3, 3), Error(ValueError, r"div: .*\(2, 3\) and \(3, 3\)")),
    "pow": (lambda: T(2, 3) ** T(2), Error(ValueError, r"pow: .*\(2, 3\) and \(2,\)")),
    "maximum": (lambda: ag.maximum(T(2, 3), T(2)), Error(ValueError, r"maximum: .*\(2, 3\) and \(2,\)")),
    "minimum": (lambda: ag.minimum(T(2, 3), T(4)), Error(ValueError, r"minimum: .*\(2, 3\) and \(4,\)")),
    "where": (
        lambda: ag.where(np.ones(2, bool), T(2, 3), T(3)),
        Error(ValueError, r"where: .*\(2,\) and \(2, 3\) and \(3,\)"),
    ),
    "matmul": (lambda: T(2, 3) @ T(2, 3), Error(ValueError, r"matmul: shapes \(2, 3\) and \(2, 3\) do not align")),
    "matmul vector": (lambda: T(3) @ T(2, 4), Error(ValueError, r"matmul: shapes \(3,\) and \(2, 4\)")),
    "matmul 0-d": (lambda: T() @ T(2), Error(ValueError, r"matmul: .*at least one axis.*\(\) and \(2,\)")),
    "matmul batch": (lambda: T(2, 2, 3) @ T(3, 3, 4), Error(ValueError, r"matmul: .*\(2, 2, 3\) and \(3, 3, 4\)")),
    "tensordot": (
        lambda: ag.tensordot(T(2, 3), T(2, 3), axes=1),
        Error(ValueError, r"tensordot: shapes \(2, 3\) and \(2, 3\) differ"),
    ),
    "einsum sizes": (
        lambda: ag.einsum("ij,jk->ik", T(2, 3), T(2, 3)),
        Error(ValueError, r"einsum: subscript 'j' has sizes 3 and 2 in 'ij,jk->ik': \(2, 3\), \(2, 3\)"),
    ),
    "einsum operands": (lambda: ag.einsum("ij->ij", T(2, 3), T(2, 3)), Error(ValueError, "names 1 operands, got 2")),
    "einsum size 1 broadcasts, gradients summed back": (
        lambda: _grads(lambda a, b: ag.einsum("ij,jk->ik", a, b), R(2, 1), R(3, 4)),
        Result([np.full((2, 1), R(3, 4).sum()), np.full((3, 4), R(2, 1).sum())], rtol=1e-10),
    ),
    "concatenate": (
        lambda: ag.concatenate([T(2, 3), T(3, 2)]),
        Error(ValueError, r"concatenate: shapes \(2, 3\), \(3, 2\) differ outside axis 0"),
    ),
    "concatenate ndim": (lambda: ag.concatenate([T(2, 3), T(3)]), Error(ValueError, r"concatenate: .*\(3,\)")),
    "stack": (lambda: ag.stack([T(2, 3), T(3, 2)]), Error(ValueError, r"stack: .*\(2, 3\), \(3, 2\)")),
    "broadcast_to": (lambda: T(2, 3).broadcast_to(3, 3), Error(ValueError, r"broadcast_to: .*\(2, 3\) to \(3, 3\)")),
    "sum_to": (lambda: T(2, 3).sum_to((2,)), Error(ValueError, r"sum_to: shape \(2, 3\) is not a broadcast of \(2,\)")),
    "reshape": (lambda: T(2, 3).reshape(4, 2), Error(ValueError, r"reshape: .*\(2, 3\) into \(4, 2\)")),
    "conv2d channels": (
        lambda: F.conv2d(T(1, 2, 5, 5), T(3, 3, 3, 3)),
        Error(ValueError, r"conv2d: input of shape \(1, 2, 5, 5\) does not fit a weight of shape \(3, 3, 3, 3\)"),
    ),
    "conv2d 2-d input": (lambda: F.conv2d(T(5, 5), T(3, 2, 3, 3)), Error(ValueError, r"conv2d: .*\(5, 5\)")),
    "conv2d bias": (lambda: F.conv2d(T(1, 1, 5, 5), T(2, 1, 3, 3), T(3)), Error(ValueError, r"conv2d: bias .*\(3,\)")),
    "conv2d kernel too big": (
        lambda: F.conv2d(T(1, 1, 2, 2), T(1, 1, 3, 3)),
        Error(ValueError, r"conv2d: kernel \(3, 3\) is larger than .*\(1, 1, 2, 2\)"),
    ),
    "conv2d stride 0": (lambda: F.conv2d(T(1, 1, 5, 5), T(1, 1, 3, 3), stride=0), Error(ValueError, "conv2d: stride")),
    "Conv2d channels": (
        lambda: nn.Conv2d(3, 2, 3)(T(1, 1, 5, 5, dtype=np.float32)),
        Error(ValueError, r"conv2d: input of shape \(1, 1, 5, 5\) does not fit a weight of shape \(2, 3, 3, 3\)"),
    ),
    "linear": (
        lambda: F.linear(T(4, 3), T(5, 4)),
        Error(ValueError, r"linear: input of shape \(4, 3\) does not fit a weight of shape \(5, 4\)"),
    ),
    "Linear": (lambda: nn.Linear(3, 2)(T(4, 4, dtype=np.float32)), Error(ValueError, r"linear: .*\(4, 4\).*\(2, 3\)")),
    "max_pool2d": (lambda: F.max_pool2d(T(1, 1, 2, 2), 3), Error(ValueError, r"max_pool2d: kernel \(3, 3\)")),
    "batch_norm channels": (
        lambda: F.batch_norm(T(4, 3), Tensor(np.zeros(2)), Tensor(np.ones(2)), training=True),
        Error(ValueError, r"batch_norm: running_mean of shape \(2,\) does not fit 3 channels"),
    ),
    "BatchNorm1d channels": (
        lambda: nn.BatchNorm1d(3)(T(4, 4, dtype=np.float32)),
        Error(ValueError, r"BatchNorm1d: input of shape \(4, 4\) has 4 channels, expected 3"),
    ),
    # --- loss targets ----------------------------------------------------------------------------
    "cross_entropy target shape": (
        lambda: F.cross_entropy(T(4, 3), np.zeros((4, 1), np.int64)),
        Error(ValueError, r"cross_entropy: target of shape \(4, 1\) does not fit scores \(4, 3\)"),
    ),
    "cross_entropy float target": (
        lambda: F.cross_entropy(T(4, 3), np.zeros(4)),
        Error(ValueError, "cross_entropy: target must hold integer class indices, got dtype float64"),
    ),
    "cross_entropy bool target": (
        lambda: F.cross_entropy(T(4, 3), np.ones(4, bool)),
        Error(ValueError, "cross_entropy: .*got dtype bool"),
    ),
    "cross_entropy class 3 of 3": (
        lambda: F.cross_entropy(T(4, 3), np.array([0, 1, 2, 3])),
        Error(ValueError, r"cross_entropy: class indices must lie in \[0, 3\), got values from 0 to 3"),
    ),
    "cross_entropy class -1": (  # NumPy would silently pick the last class
        lambda: F.cross_entropy(T(4, 3), np.array([0, 1, 2, -1])),
        Error(ValueError, r"cross_entropy: class indices must lie in \[0, 3\), got values from -1 to 2"),
    ),
    "cross_entropy 1-d scores": (
        lambda: F.cross_entropy(T(3), np.zeros(1, np.int64)),
        Error(ValueError, r"cross_entropy: expected scores of shape \(N, C\), got shape \(3,\)"),
    ),
    "cross_entropy int32 Tensor target": (
        lambda: F.cross_entropy(Tensor(LOGITS), Tensor(LABELS.astype(np.int32))).item(),
        Result(-_log_softmax(LOGITS)[np.arange(4), LABELS].mean()),
    ),
    "nll_loss class 5 of 3": (
        lambda: F.nll_loss(T(4, 3), np.array([0, 1, 2, 5])),
        Error(ValueError, r"nll_loss: class indices must lie in \[0, 3\)"),
    ),
    "svm_loss target shape": (
        lambda: F.svm_loss(T(4, 3), np.zeros(3, np.int64)),
        Error(ValueError, r"svm_loss: target of shape \(3,\) does not fit scores \(4, 3\)"),
    ),
    "multi_margin_loss class 3 of 3": (
        lambda: F.multi_margin_loss(T(2, 3), np.array([0, 3])),
        Error(ValueError, r"multi_margin_loss: class indices"),
    ),
    "mse_loss does not broadcast (4, 1) against (4,)": (
        lambda: F.mse_loss(T(4, 1), T(4)),
        Error(ValueError, r"mse_loss: input of shape \(4, 1\) and target of shape \(4,\) differ"),
    ),
    "bce target shape": (
        lambda: F.binary_cross_entropy_with_logits(T(4), T(4, 1)),
        Error(ValueError, r"binary_cross_entropy_with_logits: input of shape \(4,\) and target of shape \(4, 1\)"),
    ),
    "loss reduction": (
        lambda: F.mse_loss(T(3), T(3), reduction="avg"),
        Error(ValueError, "mse_loss: reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    ),
    # --- integers, bools, and what cannot be a tensor --------------------------------------------
    "requires_grad on int64": (lambda: T(3, dtype=np.int64).requires_grad_(), Error(TypeError, "got dtype int64")),
    "requires_grad on bool": (
        lambda: Tensor(np.ones(3, bool), requires_grad=True),
        Error(TypeError, "only floating-point tensors can require gradients, got dtype bool"),
    ),
    "requires_grad on complex": (
        lambda: Tensor(np.ones(3, complex), requires_grad=True),
        Error(TypeError, "only floating-point tensors can require gradients, got dtype complex128"),
    ),
    "Parameter of ints": (lambda: nn.Parameter(np.arange(3)), Error(TypeError, "got dtype int64")),
    "Tensor(None)": (lambda: Tensor(None), Error(TypeError, "None is not a number")),
    "Tensor([1.0, None])": (lambda: Tensor([1.0, None]), Error(TypeError, "None is not a number")),
    "Tensor('abc')": (lambda: Tensor("abc"), Error(TypeError, "dtype <U3 is not numeric")),
    "Tensor(object array)": (lambda: Tensor(np.array([1, "a"], object)), Error(TypeError, "dtype object")),
    "Tensor ragged list": (lambda: Tensor([[1.0, 2.0], [3.0]]), Error(ValueError, "inhomogeneous")),
    "Tensor(0.1, dtype=float64) is exact": (lambda: Tensor(0.1, dtype=np.float64).item(), Result(0.1, rtol=0)),
    "Tensor([0.1], dtype=float64) is exact": (
        lambda: Tensor([0.1], dtype=np.float64).data,
        Result(np.array([0.1]), np.float64, 0),
    ),
    "negating a bool tensor": (lambda: -Tensor(np.ones(2, bool)), Error(TypeError, "boolean negative")),
    "sigmoid of int64 promotes": (
        lambda: Tensor(np.array([3, -2, 0])).sigmoid().data,
        Result(_sigmoid([3, -2, 0]), np.float32, 1e-6),
    ),
    "sigmoid of uint8 promotes (no wrap-around)": (
        lambda: Tensor(np.array([3, 200], np.uint8)).sigmoid().data,
        Result(_sigmoid([3, 200]), np.float32, 1e-6),
    ),
    "exp of int8 promotes to float32, not float16": (
        lambda: Tensor(np.array([10, -3], np.int8)).exp().data,
        Result(np.exp([10.0, -3.0]), np.float32, 1e-6),
    ),
    "tanh, sin, cos, sqrt, log of bools": (
        lambda: [getattr(Tensor(np.array([True, False])), f)().data for f in ("tanh", "sin", "cos", "sqrt")],
        Result([np.tanh([1.0, 0]), np.sin([1.0, 0]), np.cos([1.0, 0]), np.sqrt([1.0, 0])], np.float32, 1e-6),
    ),
    "log of int16": (
        lambda: Tensor(np.array([1, 1000], np.int16)).log().data,
        Result(np.log([1.0, 1000.0]), np.float32, 1e-6),
    ),
    "int tensor times float leaf: the float leaf's gradient": (
        lambda: _grads(lambda w: (Tensor(np.array([1, 2, 3])) * w).sum(), np.ones(3)),
        Result([np.array([1.0, 2.0, 3.0])]),
    ),
    "uint8 images through conv2d": (
        lambda: F.conv2d(Tensor((IMAGES > 0).astype(np.uint8)), Tensor(KERNEL)).data,
        Result(F.conv2d(Tensor((IMAGES > 0).astype(np.float64)), Tensor(KERNEL)).data),
    ),
    "mean of int64": (lambda: Tensor(np.array([1, 2])).mean().item(), Result(1.5)),
    # --- axes out of range -------------------------------------------------------------------------
    "sum axis 2": (lambda: T(2, 3).sum(axis=2), Error(np.exceptions.AxisError, "axis 2 is out of bounds")),
    "sum axis -3": (lambda: T(2, 3).sum(axis=-3), Error(np.exceptions.AxisError, "axis -3 is out of bounds")),
    "sum repeated axis": (lambda: T(2, 3).sum(axis=(0, 0)), Error(ValueError, "repeated axis")),
    "mean axis": (lambda: T(2, 3).mean(axis=2), Error(np.exceptions.AxisError, "axis 2")),
    "max axis": (lambda: T(2, 3).max(axis=5), Error(np.exceptions.AxisError, "axis 5")),
    "min axis": (lambda: T(2, 3).min(axis=(0, 4)), Error(np.exceptions.AxisError, "axis 4")),
    "var axis": (lambda: T(2, 3).var(axis=2), Error(np.exceptions.AxisError, "axis 2")),
    "logsumexp axis": (lambda: T(2, 3).logsumexp(axis=2), Error(np.exceptions.AxisError, "axis 2")),
    "argmax axis": (lambda: T(2, 3).argmax(axis=2), Error(np.exceptions.AxisError, "axis 2")),
    "softmax axis": (lambda: F.softmax(T(2, 3), axis=2), Error(np.exceptions.AxisError, "axis 2")),
    "log_softmax axis": (lambda: F.log_softmax(T(2, 3), axis=-3), Error(np.exceptions.AxisError, "axis -3")),
    "squeeze axis": (lambda: T(2, 3).squeeze(5), Error(np.exceptions.AxisError, "axis 5")),
    "squeeze a size-2 axis": (
        lambda: T(2, 3).squeeze(0),
        Error(ValueError, r"squeeze: axis 0 of shape \(2, 3\) does not have size 1"),
    ),
    "unsqueeze axis": (lambda: T(2, 3).unsqueeze(4), Error(np.exceptions.AxisError, "axis 4")),
    "transpose axis": (lambda: T(2, 3).transpose(0, 2), Error(np.exceptions.AxisError, "axis 2")),
    "permute repeated": (lambda: T(2, 3).permute(0, 0), Error(ValueError, r"permute: \(0, 0\) is not a permutation")),
    "permute too short": (lambda: T(2, 3, 4).permute(0, 1), Error(ValueError, r"permute: .*\(2, 3, 4\)")),
    "swapaxes": (lambda: T(2, 3).swapaxes(0, 3), Error(np.exceptions.AxisError, "axis 3")),
    "flatten": (lambda: T(2, 3).flatten(3), Error(np.exceptions.AxisError, "axis 3")),
    "concatenate axis": (lambda: ag.concatenate([T(2, 3), T(2, 3)], axis=2), Error(np.exceptions.AxisError, "axis 2")),
    "getitem out of range": (lambda: T(2, 3)[5], Error(IndexError, "index 5 is out of bounds for axis 0 with size 2")),
    "getitem array out of range": (lambda: T(2, 3)[np.array([0, 7])], Error(IndexError, "index 7 is out of bounds")),
    "getitem float": (lambda: T(2, 3)[1.0], Error(IndexError, "only integers")),
    # --- empty tensors -------------------------------------------------------------------------------
    "sum of empty is 0, gradient empty": (
        lambda: (T(0, 3).sum().item(), _grads(lambda x: x.sum(), np.ones((0, 3)))[0].shape),
        Result((0.0, (0, 3))),
    ),
    "mean of empty": (lambda: T(0, 3).mean(), Error(ValueError, r"mean: reduction over an empty axis .*\(0, 3\)")),
    "mean over a full axis of an empty tensor": (lambda: T(0, 3).mean(axis=1).shape, Result((0,))),
    "max of empty": (lambda: T(0, 3).max(), Error(ValueError, r"max: reduction over an empty axis of shape \(0, 3\)")),
    "min of empty": (lambda: T(0).min(), Error(ValueError, r"min: .*empty axis of shape \(0,\)")),
    "max over an empty axis": (lambda: T(3, 0).max(axis=1), Error(ValueError, r"max: .*empty axis of shape \(3, 0\)")),
    "max over a full axis of an empty batch": (lambda: T(0, 3, 4).max(axis=2).shape, Result((0, 3))),
    "max pooling of an empty batch": (lambda: T(0, 3, 4, 4).max(axis=(2, 3)).shape, Result((0, 3))),
    "var of empty": (lambda: T(0).var(), Error(ValueError, "var: 0 elements are too few for ddof=0")),
    "logsumexp of empty": (lambda: T(0).logsumexp().item(), Result(-np.inf)),  # log of an empty sum, as PyTorch
    "logsumexp over a full axis of an empty tensor": (lambda: T(0, 3).logsumexp(axis=1).shape, Result((0,))),
    "argmax of empty": (lambda: T(0).argmax(), Error(ValueError, "empty sequence")),
    "reshape empty": (lambda: (T(0, 3).reshape(3, 0).shape, T(0, 3).reshape(-1, 3).shape), Result(((3, 0), (0, 3)))),
    "reshape empty with -1 and 0": (lambda: T(0, 3).reshape(-1, 0), Error(ValueError, r"reshape: .*\(0, 3\)")),
    "softmax of an empty batch": (lambda: F.softmax(T(0, 3)).shape, Result((0, 3))),
    "cross_entropy of an empty batch": (
        lambda: F.cross_entropy(T(0, 3), np.zeros(0, np.int64)),
        Error(ValueError, "empty axis"),
    ),
    # --- read-only and non-contiguous arrays: right values and gradients, never written ------------------
    "conv2d on read-only column-major arrays": (
        lambda: _grads(lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=1), _read_only(IMAGES), _read_only(KERNEL)),
        Result(CONV_GRADS, rtol=1e-10),
    ),
    "conv2d on read-only strided arrays": (
        lambda: _grads(
            lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=1), _read_only(IMAGES, False), _read_only(KERNEL, False)
        ),
        Result(CONV_GRADS, rtol=1e-10),
    ),
    "linear on read-only arrays": (
        lambda: _grads(lambda x, w: F.linear(x, w) ** 2, _read_only(R(5, 3)), _read_only(R(2, 3, seed=1))),
        Result(_grads(lambda x, w: F.linear(x, w) ** 2, R(5, 3), R(2, 3, seed=1)), rtol=1e-10),
    ),
    "cross_entropy with read-only logits and labels": (
        lambda: F.cross_entropy(Tensor(_read_only(LOGITS)), _read_only(LABELS)).item(),
        Result(-_log_softmax(LOGITS)[np.arange(4), LABELS].mean()),
    ),
    "batch norm on a read-only batch and read-only running stats": (
        lambda: nn.BatchNorm1d(3).double()(Tensor(_read_only(R(4, 3)))).data,
        Result((R(4, 3) - R(4, 3).mean(0)) / np.sqrt(R(4, 3).var(0) + 1e-5), rtol=1e-10),
    ),
    "DataLoader over read-only arrays": (
        lambda: [b.data.tolist() for (b,) in nn.data.DataLoader(nn.data.TensorDataset(_read_only(np.eye(3))), 2)],
        Result([np.eye(3)[:2].tolist(), np.eye(3)[2:].tolist()]),
    ),
    # --- float16: works, stays float16, and sums do not overflow past 65504 -------------------------------
    "float16 mean of 10000 tens": (
        lambda: Tensor(np.full(10_000, 10.0, np.float16)).mean().data,
        Result(np.float16(10.0), np.float16, 0),
    ),
    "float16 var whose sum overflows": (
        lambda: Tensor(np.tile(np.array([99.0, 101.0], np.float16), 500)).var().data,
        Result(1.0, np.float16, 0),
    ),
    "float16 gradient stays float16": (
        lambda: _grads(lambda x: x * x, np.array([1.5, -2.0]), dtype=np.float16)[0],
        Result(np.array([3.0, -4.0]), np.float16, 0),
    ),
    "float16 linear": (
        lambda: F.linear(Tensor(R(2, 3).astype(np.float16)), Tensor(R(4, 3, seed=1).astype(np.float16))).data,
        Result(R(2, 3).astype(np.float16).astype(np.float64) @ R(4, 3, seed=1).astype(np.float16).T, np.float16, 2e-3),
    ),
    "float16 cross_entropy": (
        lambda: F.cross_entropy(Tensor(LOGITS.astype(np.float16)), LABELS).data,
        Result(-_log_softmax(LOGITS)[np.arange(4), LABELS].mean(), np.float16, 5e-3),
    ),
    # --- NaN and Inf under detect_anomaly --------------------------------------------------------------
    "anomaly: log(-1) in forward": (
        _anomaly(lambda: Tensor([-1.0], requires_grad=True).log()),
        Error(FloatingPointError, r"(?s)Log produced NaN or Inf in forward.*test_bad_input\.py"),
    ),
    "anomaly: exp(1000) in forward": (
        _anomaly(lambda: Tensor([1000.0], requires_grad=True).exp()),
        Error(FloatingPointError, "Exp produced NaN or Inf in forward"),
    ),
    "anomaly: 0 / 0 in forward": (
        _anomaly(lambda: T(2) * 0.0 / Tensor([0.0, 1.0])),
        Error(FloatingPointError, "Div produced NaN or Inf in forward"),
    ),
    "anomaly: a NaN input": (
        _anomaly(lambda: Tensor([np.nan], requires_grad=True) * 2.0),
        Error(FloatingPointError, "Mul produced NaN or Inf"),
    ),
    "anomaly: x ** 0.5 at 0 in backward": (
        _anomaly(lambda: (Tensor([0.0, 1.0], requires_grad=True) ** 0.5).sum().backward()),
        Error(FloatingPointError, r"(?s)backward of Pow produced NaN or Inf.*test_bad_input\.py"),
    ),
    # --- gradients, backward misuse --------------------------------------------------------------------
    "a shared gradient is not aliased between leaves": (_shared_gradient_is_not_aliased, Result(np.full(3, 2.0))),
    "backward of a non-scalar": (lambda: (T(3) * 2).backward(), Error(RuntimeError, r"got shape \(3,\)")),
    "backward gradient shape": (
        lambda: (T(3) * 2).backward(np.ones(4)),
        Error(RuntimeError, r"gradient of shape \(4,\) given for an output of shape \(3,\)"),
    ),
    "grad of an unused input": (lambda: ag.grad((T(3) * 2).sum(), T(3)), Error(RuntimeError, "allow_unused=True")),
    "item of 3 elements": (lambda: T(3).item(), Error(ValueError, r"one element, got shape \(3,\)")),
    "clip without bounds": (lambda: T(3).clip(), Error(ValueError, "clip: at least one of min and max")),
    "pad crops more than an axis holds": (lambda: ag.pad(T(2, 3), -2), Error(ValueError, r"pad: .*crops .*\(2, 3\)")),
    "pad too many axes": (lambda: ag.pad(T(2, 3), ((1, 1),) * 3), Error(ValueError, r"pad: .*\(2, 3\)")),
    "unfold kernel too big": (lambda: ag.unfold(T(1, 1, 3, 3), 4), Error(ValueError, r"unfold: kernel \(4, 4\)")),
    "unfold kernel 0": (lambda: ag.unfold(T(1, 1, 3, 3), 0), Error(ValueError, r"unfold: kernel \(0, 0\)")),
    "split unequal": (lambda: ag.split(T(5), 2), Error(ValueError, "split: axis 0 of length 5 does not split into 2")),
    # --- modules, state dicts, data, optimizers ---------------------------------------------------------
    "load_state_dict unexpected key": (
        _state_dict_error(lambda sd: sd.__setitem__("2.weight", np.ones(2, np.float32))),
        Error(ValueError, "unexpected key '2.weight'"),
    ),
    "load_state_dict missing key": (
        _state_dict_error(lambda sd: sd.pop("1.running_var")),
        Error(ValueError, "missing key '1.running_var'"),
    ),
    "load_state_dict wrong shape": (
        _state_dict_error(lambda sd: sd.__setitem__("0.weight", np.ones((3, 2), np.float32))),
        Error(ValueError, r"0\.weight: shape \(3, 2\) in the state, \(2, 3\) in the model"),
    ),
    "load_state_dict wrong dtype": (
        _state_dict_error(lambda sd: sd.__setitem__("1.num_batches_tracked", np.array(0.0))),
        Error(ValueError, r"1\.num_batches_tracked: dtype float64 in the state, int64 in the model"),
    ),
    "load_state_dict object array": (
        _state_dict_error(lambda sd: sd.__setitem__("0.bias", np.array([None, None]))),
        Error(ValueError, "object array"),
    ),
    "DataLoader batch_size 0": (_loader(0), Error(ValueError, "batch_size must be a positive integer, got 0")),
    "DataLoader batch_size -1": (_loader(-1), Error(ValueError, "got -1")),
    "DataLoader batch_size 2.0": (_loader(2.0), Error(ValueError, "got 2.0")),
    "DataLoader batch_size True": (_loader(True), Error(ValueError, "got True")),
    "TensorDataset lengths": (
        lambda: nn.data.TensorDataset(np.ones((4, 2)), np.ones(3)),
        Error(ValueError, r"same first dimension, got shapes \(4, 2\), \(3,\)"),
    ),
    "Linear(0, 3)": (lambda: nn.Linear(0, 3), Error(ValueError, "in_features must be a positive int, got 0")),
    "Dropout p 1.5": (lambda: F.dropout(T(3), p=1.5), Error(ValueError, r"dropout: p must be a probability")),
    "SGD negative lr": (lambda: nn.optim.SGD([T(3)], lr=-1), Error(ValueError, "SGD: invalid learning rate: -1")),
    "Adam beta 1.0": (lambda: nn.optim.Adam([T(3)], betas=(1.0, 0.9)), Error(ValueError, "Adam: invalid betas")),
    "default dtype int32": (lambda: ag.set_default_dtype(np.int32), Error(TypeError, "must be a floating dtype")),
}


def _assert_same(actual: Any, expected: Any, rtol: float, dtype: Any) -> None:
    if isinstance(expected, (list, tuple)) and not isinstance(actual, np.ndarray):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            _assert_same(a, e, rtol, dtype)
    elif isinstance(expected, (np.ndarray, np.generic, float)):
        actual = np.asarray(actual)
        if dtype is not None:
            assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {np.dtype(dtype)}"
        np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol, atol=0)
    else:
        assert actual == expected


@pytest.mark.parametrize(("call", "expected"), list(CASES.values()), ids=list(CASES))
def test_bad_input_gives_a_clear_error_or_the_right_answer(call, expected):
    if isinstance(expected, Error):
        with pytest.raises(expected.type, match=expected.pattern), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own note on a NaN that anomaly mode reports
            call()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a right answer comes without a warning
            actual = call()
        _assert_same(actual, expected.value, expected.rtol, expected.dtype)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@pytest.mark.parametrize("fortran", [True, False], ids=["column-major", "strided"])
def test_read_only_non_contiguous_inputs_give_the_same_values_and_gradients(op, fortran):
    args = sample(op, np.random.default_rng(0))

    def values_and_gradients(arrays):
        leaves = [Tensor(a, requires_grad=x.requires_grad) for a, x in zip(arrays, args)]
        out = op.fn(*leaves)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        seeds = [Tensor(R(*o.shape, seed=1)) for o in outs]
        grads = ag.grad(outs, [t for t in leaves if t.requires_grad], grad_outputs=seeds, allow_unused=True)
        return [o.data for o in outs] + [np.zeros(1) if g is None else g.data for g in grads]

    views = [_read_only(a.data, fortran) for a in args]
    before = [v.copy() for v in views]
    expected = values_and_gradients([a.data.copy() for a in args])
    for actual, wanted in zip(values_and_gradients(views), expected):
        np.testing.assert_allclose(actual, wanted, rtol=1e-12, atol=1e-14)  # only the summation order differs
    for v, b in zip(views, before):
        assert not v.flags.writeable
        np.testing.assert_array_equal(v, b)
