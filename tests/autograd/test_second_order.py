"""Gradients of gradients against PyTorch in float64, as a researcher uses them: Hessians by double
backward, Hessian-vector products through an MLP and a CNN, gradient penalties, MAML inner steps,
third derivatives, and the engine's create_graph semantics (grad_outputs, allow_unused,
retain_graph, hooks, retain_grad, accumulation into .grad).

Where PyTorch's own higher derivative is an artefact rather than a convention, the test compares
with PyTorch composed of primitives (layer and batch norm) or with the exact value (pow at 0).
"""

import zlib

import numpy as np
import pytest

import autograd as ag
import nn.functional as F
from autograd import Tensor, grad
from autograd.testing import OPS
from autograd.testing.opdb import sample

RTOL, ATOL = 1e-9, 1e-11


def _close(ours, theirs, what=""):
    if ours is None or theirs is None:
        zeros = ours if theirs is None else theirs.detach().numpy(force=True)
        assert ours is None and theirs is None or not np.any(getattr(zeros, "data", zeros)), what
        return
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(force=True), rtol=RTOL, atol=ATOL, err_msg=what)


def derivatives_match(torch, ours, theirs, arrays, order=3, seed=1):
    """f, its gradient, and the gradients of <gradient, u> up to ``order``, for random u each time:
    each order differentiates the previous one's graph, so a wrong backward of a backward shows."""
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    s, st = ours(*xs), theirs(*ts)
    _close(s, st, "value")
    rng = np.random.default_rng(seed)
    for k in range(1, order + 1):
        last = k == order
        gs = grad(s, xs, create_graph=not last, allow_unused=True)
        gts = torch.autograd.grad(st, ts, create_graph=not last, allow_unused=True)
        for i, (g, gt) in enumerate(zip(gs, gts)):
            _close(g, gt, f"derivative {k} of input {i}")
        if last:
            return
        us = [rng.standard_normal(a.shape) for a in arrays]
        s = sum((g * Tensor(u)).sum() for g, u in zip(gs, us) if g is not None and g.requires_grad)
        st = sum((g * torch.tensor(u)).sum() for g, u in zip(gts, us) if g is not None and g.requires_grad)
        assert not isinstance(s, int), f"derivative {k} has no graph"


# --- every op of the database: one Hessian-vector product, wrt the inputs and the upstream gradient ------------
@pytest.mark.torch
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_double_backward_of_every_op_matches_pytorch(op, torch):
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))
    for _ in range(3):
        args = sample(op, rng)
        wrt = [i for i, a in enumerate(args) if a.requires_grad]
        targs = [torch.tensor(a.data, requires_grad=a.requires_grad) for a in args]
        outs, touts = op.fn(*args), op.torch_fn(torch, *targs)
        outs, touts = (list(o) if isinstance(o, (list, tuple)) else [o] for o in (outs, touts))
        vs = [rng.standard_normal(o.shape) for o in outs]
        us = [rng.standard_normal(args[i].shape) for i in wrt]
        v_ours = [Tensor(v, requires_grad=True) for v in vs]
        v_theirs = [torch.tensor(v, requires_grad=True) for v in vs]
        gs = grad(outs, [args[i] for i in wrt], grad_outputs=v_ours, create_graph=True, allow_unused=True)
        gts = torch.autograd.grad(touts, [targs[i] for i in wrt], grad_outputs=v_theirs, create_graph=True,
                                  allow_unused=True)
        # <J^T v, u> is linear in v: always differentiable wrt v, and wrt x unless the op is linear
        s = sum((g * Tensor(u)).sum() for g, u in zip(gs, us) if g is not None)
        st = sum((g * torch.tensor(u)).sum() for g, u in zip(gts, us) if g is not None)
        inputs, their_inputs = [args[i] for i in wrt] + v_ours, [targs[i] for i in wrt] + v_theirs
        hs = grad(s, inputs, allow_unused=True)
        hts = torch.autograd.grad(st, their_inputs, allow_unused=True) if st.requires_grad else [None] * len(hs)
        for j, (h, ht) in enumerate(zip(hs, hts)):
            _close(h, ht, f"{op.name}: second derivative wrt input {j} at {args}")


# --- higher derivatives of elementwise ops, at kinks and edges -----------------------------------------------
def _derivatives(f, x, order):
    """f(x), f'(x), ... up to ``order`` at a 0-d float64 point, by repeated grad with create_graph."""
    x = Tensor(np.float64(x), requires_grad=True)
    out = [f(x)]
    for k in range(order):
        out.append(grad(out[-1], x, create_graph=k < order - 1)[0])
    return [d.item() for d in out]


@pytest.mark.parametrize(("f", "expected"), [
    (lambda x: x**0.0, [1.0, 0.0, 0.0]),             # a constant: no NaN from 0 * 0^(-1) in the next order
    (lambda x: x**1.0, [0.0, 1.0, 0.0, 0.0]),        # x: no NaN from 0 * 0^(-2)
    (lambda x: x**0.0 * x, [0.0, 1.0, 0.0]),
    (lambda x: x**2.0, [0.0, 0.0, 2.0, 0.0]),
    (lambda x: 0.0**x, [1.0, 0.0, 0.0]),             # exponent gradient of 0^b (b >= 0) is 0, and so is its slope
])
def test_pow_at_zero_has_finite_higher_derivatives(f, expected):
    assert _derivatives(f, 0.0, len(expected) - 1) == expected


def test_pow_with_a_tensor_exponent_has_the_exact_mixed_derivative_at_exponent_zero():
    # d2(a^b)/da db = a^(b-1) (1 + b ln a): 1/2 at a = 2, b = 0. PyTorch says 0 there (its a-gradient is
    # masked wherever b = 0, a mask only a = 0 needs), so this checks the formula instead.
    a, b = Tensor(2.0, requires_grad=True, dtype=np.float64), Tensor(0.0, requires_grad=True, dtype=np.float64)
    (da,) = grad(a**b, a, create_graph=True)
    assert grad(da, b)[0].item() == pytest.approx(0.5, rel=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "exp", "pow", "softmax", "log_softmax", "logsumexp", "gelu",
                                  "gelu_tanh", "silu", "sqrt", "log", "sin"])
def test_third_derivatives_of_elementwise_ops_match_pytorch(torch, name, rng):
    tf = torch.nn.functional
    cases = {
        "tanh": (lambda x: (x.tanh() ** 2).sum(), lambda x: (x.tanh() ** 2).sum()),
        "sigmoid": (lambda x: (x.sigmoid() * x).sum(), lambda x: (x.sigmoid() * x).sum()),
        "exp": (lambda x: (x.exp() * x).sum(), lambda x: (x.exp() * x).sum()),
        "pow": (lambda x: ((x * x + 0.5) ** x.sin()).sum(), lambda x: ((x * x + 0.5) ** x.sin()).sum()),
        "softmax": (lambda x: (x.softmax(1) * Tensor(np.arange(4.0))).sum(),
                    lambda x: (x.softmax(1) * torch.arange(4.0)).sum()),
        "log_softmax": (lambda x: (x.log_softmax(0) ** 2).sum(), lambda x: (x.log_softmax(0) ** 2).sum()),
        "logsumexp": (lambda x: (x.logsumexp(1) ** 3).sum(), lambda x: (x.logsumexp(1) ** 3).sum()),
        "gelu": (lambda x: F.gelu(x).sum(), lambda x: tf.gelu(x).sum()),
        "gelu_tanh": (lambda x: F.gelu(x, "tanh").sum(), lambda x: tf.gelu(x, approximate="tanh").sum()),
        "silu": (lambda x: F.silu(x).sum(), lambda x: tf.silu(x).sum()),
        "sqrt": (lambda x: (x * x + 1).sqrt().sum(), lambda x: (x * x + 1).sqrt().sum()),
        "log": (lambda x: (x * x + 1).log().sum(), lambda x: (x * x + 1).log().sum()),
        "sin": (lambda x: (x.sin() * x.cos() * x).sum(), lambda x: (x.sin() * x.cos() * x).sum()),
    }
    derivatives_match(torch, *cases[name], [rng.standard_normal((3, 4))], order=3)


@pytest.mark.torch
def test_tensor_exponent_third_derivatives_match_pytorch(torch, rng):
    a, b = np.abs(rng.standard_normal((3, 2))) + 0.3, rng.standard_normal((3, 2))
    derivatives_match(torch, lambda a, b: (a**b).sum(), lambda a, b: (a**b).sum(), [a, b], order=3)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["relu", "abs", "leaky_relu", "clip", "maximum", "elu", "norm1"])
def test_second_derivatives_at_kinks_match_pytorch(torch, name):
    # x holds 0, -0 and the clip bound; every op's second derivative is 0 or its branch's there
    x = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0])
    tf = torch.nn.functional
    cases = {
        "relu": (lambda x: (x.relu() * x).sum(), lambda x: (x.relu() * x).sum()),
        "abs": (lambda x: (x.abs() * x).sum(), lambda x: (x.abs() * x).sum()),
        "leaky_relu": (lambda x: (F.leaky_relu(x, 0.1) * x).sum(), lambda x: (tf.leaky_relu(x, 0.1) * x).sum()),
        "clip": (lambda x: (x.clip(0.0, 1.0) * x).sum(), lambda x: (x.clamp(0.0, 1.0) * x).sum()),
        "maximum": (lambda x: (ag.maximum(x, Tensor(np.zeros(6))) * x).sum(),
                    lambda x: (torch.maximum(x, torch.zeros(6)) * x).sum()),
        "elu": (lambda x: (F.elu(x) * x).sum(), lambda x: (tf.elu(x) * x).sum()),
        "norm1": (lambda x: x.norm(1) ** 2, lambda x: x.norm(1) ** 2),
    }
    derivatives_match(torch, *cases[name], [x], order=2)


def test_elu_takes_the_negative_branch_at_zero_in_every_order():
    # elu(x) = alpha (e^x - 1) for x <= 0: every derivative at 0 is alpha (PyTorch's second derivative
    # there is 0, the positive branch's, while its first is alpha: an arbitrary mix, not followed)
    assert _derivatives(lambda x: F.elu(x, alpha=2.0), 0.0, 3) == [0.0, 2.0, 2.0, 2.0]


def test_norm_has_a_zero_hessian_at_zero():
    # the norm's gradient at 0 is 0 (PyTorch's); so is its Hessian here, where PyTorch's is NaN
    x = Tensor(np.zeros(3), requires_grad=True)
    (g,) = grad(x.norm(), x, create_graph=True)
    (h,) = grad((g * Tensor(np.ones(3))).sum(), x)
    assert not np.any(g.data) and not np.any(h.data)
