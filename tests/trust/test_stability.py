"""Numerical stability at extreme inputs: ±1e4, ±1e30, -inf entries, all-equal logits, in float32 and
float64. Outputs are finite wherever the mathematics is, gradients are finite and right, and nothing
warns (overflow, invalid value, divide by zero).

The reference values and gradients are SciPy's stable implementations (``scipy.special``: softmax,
log_softmax, logsumexp, expit, log_expit) with the derivatives written out by hand; where PyTorch is
installed, the float64 results are compared with PyTorch's too.
"""

import warnings

import numpy as np
import pytest

import nn.functional as F
from autograd import Tensor

special = pytest.importorskip("scipy.special", reason="SciPy (a scikit-learn dependency) gives the references")

inf = np.inf
ROWS = np.array([
    [1e4, -1e4, 0.0],
    [-1e4, -1e4, 1e4],
    [1e30, -1e30, 0.0],
    [-1e30, -1e30, -1e30],  # all equal, hugely negative
    [1e30, 1e30, 1e30],
    [7.0, 7.0, 7.0],
    [-inf, 0.0, 1.0],  # a masked class
    [-inf, -inf, 3.0],
])
TARGETS = np.array([0, 1, 1, 2, 0, 1, 2, 2])  # never a -inf logit: every loss is finite
LOGITS = np.array([1e4, -1e4, 1e30, -1e30, 0.0, 30.0, -30.0, 1e-30])
LABELS = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.0, 1.0, 0.25])


def _softmax_reference(x, v):
    s = special.softmax(x, axis=1)
    return s, s * (v - (v * s).sum(axis=1, keepdims=True))  # J^T v of softmax: s (v - <v, s>)


def _log_softmax_reference(x, v):
    s = special.softmax(x, axis=1)
    return special.log_softmax(x, axis=1), v - s * v.sum(axis=1, keepdims=True)


def _logsumexp_reference(x, v):
    return special.logsumexp(x, axis=1), v[:, None] * special.softmax(x, axis=1)  # d lse / dx = softmax


def _cross_entropy_reference(x, v):
    n = len(x)
    one_hot = np.eye(x.shape[1])[TARGETS]
    loss = -special.log_softmax(x, axis=1)[np.arange(n), TARGETS].mean()
    return loss, v * (special.softmax(x, axis=1) - one_hot) / n


def _sigmoid_reference(x, v):
    s = special.expit(x)
    return s, v * s * (1 - s)


def _bce_reference(x, v):
    loss = -(LABELS * special.log_expit(x) + (1 - LABELS) * special.log_expit(-x))
    return loss, v * (special.expit(x) - LABELS)


CASES = {
    # name: (ours, PyTorch's, reference (value, gradient), input)
    "softmax": (lambda x: F.softmax(x, axis=1), lambda torch, x: torch.softmax(x, 1), _softmax_reference, ROWS),
    "log_softmax": (
        lambda x: F.log_softmax(x, axis=1), lambda torch, x: torch.log_softmax(x, 1), _log_softmax_reference, ROWS
    ),
    "logsumexp": (lambda x: x.logsumexp(axis=1), lambda torch, x: x.logsumexp(1), _logsumexp_reference, ROWS),
    "cross_entropy": (
        lambda x: F.cross_entropy(x, TARGETS),
        lambda torch, x: torch.nn.functional.cross_entropy(x, torch.tensor(TARGETS)),
        _cross_entropy_reference,
        ROWS,
    ),
    "sigmoid": (lambda x: x.sigmoid(), lambda torch, x: x.sigmoid(), _sigmoid_reference, LOGITS),
    "binary_cross_entropy_with_logits": (
        lambda x: F.binary_cross_entropy_with_logits(x, Tensor(LABELS, dtype=x.dtype), reduction="none"),
        lambda torch, x: torch.nn.functional.binary_cross_entropy_with_logits(
            x, torch.tensor(LABELS), reduction="none"
        ),
        _bce_reference,
        LOGITS,
    ),
}


def _ours(fn, x: np.ndarray, v: np.ndarray):
    """Value and J^T v, with every warning an error."""
    t = Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(t)
        out.backward(Tensor(v.astype(x.dtype)))
    return out, t.grad


def _upstream(shape):
    return np.random.default_rng(0).uniform(0.5, 1.5, shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_extreme_inputs_give_finite_right_values_and_gradients_without_warnings(name, dtype):
    fn, _, reference, x = CASES[name]
    x = x.astype(dtype)
    v = _upstream(fn(Tensor(x)).shape)
    value, gradient = reference(x.astype(np.float64), v)  # on the same (rounded) inputs
    out, grad = _ours(fn, x, v)

    assert out.dtype == dtype and grad.dtype == dtype
    # finite exactly where the mathematics is (log_softmax of a -inf logit is -inf)
    np.testing.assert_array_equal(np.isfinite(out.data), np.isfinite(value))
    assert np.all(np.isfinite(grad.data))
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(out.data, value, **tol)
    np.testing.assert_allclose(grad.data, gradient, **tol)


@pytest.mark.torch
@pytest.mark.parametrize("name", list(CASES))
def test_extreme_inputs_match_pytorch_in_float64(name, torch):
    fn, torch_fn, _, x = CASES[name]
    if name == "logsumexp":
        # PyTorch's backward, exp(x - lse), loses lse = max + log(k) to rounding when k entries tie at a max
        # beyond 2^53, and hands each of them the whole gradient instead of 1/k (SciPy and we give 1/k)
        ties = (x == x.max(axis=1, keepdims=True)).sum(axis=1) > 1
        x = x[~(ties & (np.abs(x.max(axis=1)) > 2.0**53))]
    out, grad = _ours(fn, x, _upstream(fn(Tensor(x)).shape))
    tx = torch.tensor(x, requires_grad=True)
    tout = torch_fn(torch, tx)
    tout.backward(torch.tensor(_upstream(tuple(tout.shape))))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_of_an_all_minus_inf_row_is_minus_inf_without_warnings(dtype):
    x = Tensor(np.array([[-inf, -inf, -inf], [0.0, -inf, 0.0]], dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = x.logsumexp(axis=1)
    np.testing.assert_array_equal(out.data, [-inf, np.log(2.0, dtype=dtype)])
    assert out.dtype == dtype
