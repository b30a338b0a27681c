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
        zeros = ours if theirs is None else theirs.detach().clone().numpy(force=True)
        assert ours is None and theirs is None or not np.any(getattr(zeros, "data", zeros)), what
        return
    np.testing.assert_allclose(ours.data, theirs.detach().clone().numpy(force=True), rtol=RTOL, atol=ATOL, err_msg=what)


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


# --- reductions, movement, linear algebra, nn: third derivatives --------------------------------------------
_IDX = np.array([0, 2, 0, 1])  # a repeated row: its gradients accumulate


def _family_cases(torch):
    tf = torch.nn.functional
    ties = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, 0.0, -1.0, -1.0]])
    return {
        "sum": (lambda x: (x.sum(1) ** 3).sum(), lambda x: (x.sum(1) ** 3).sum()),
        "mean": (lambda x: (x.mean(0) ** 3).sum(), lambda x: (x.mean(0) ** 3).sum()),
        "var": (lambda x: (x.var(1, ddof=1) ** 2).sum(), lambda x: (x.var(1) ** 2).sum()),
        "std": (lambda x: (x.std(1) ** 3).sum(), lambda x: (x.std(1, unbiased=False) ** 3).sum()),
        "norm": (lambda x: x.norm(dim=1).sum() ** 2, lambda x: x.norm(dim=1).sum() ** 2),
        "logsumexp": (lambda x: (x.logsumexp(0) ** 3).sum(), lambda x: (x.logsumexp(0) ** 3).sum()),
        # ties share the gradient equally in every order: PyTorch's amax (its max(dim) picks one index)
        "max_ties": (lambda x: (x.max(axis=1) ** 3).sum(), lambda x: (x.amax(1) ** 3).sum(), ties),
        "min_ties": (lambda x: x.min() ** 3, lambda x: x.amin() ** 3, ties),
        "getitem_advanced": (lambda x: (x[_IDX] ** 3).sum(), lambda x: (x[torch.tensor(_IDX)] ** 3).sum()),
        "getitem_pairs": (lambda x: (x[_IDX[:3], np.array([1, 1, 3])] ** 3).sum(),
                          lambda x: (x[torch.tensor(_IDX[:3]), torch.tensor([1, 1, 3])] ** 3).sum()),
        "pad": (lambda x: (ag.pad(x, 1) ** 3 * Tensor(np.arange(30.0).reshape(5, 6))).sum(),
                lambda x: (tf.pad(x, (1, 1, 1, 1)) ** 3 * torch.arange(30.0).reshape(5, 6)).sum()),
        "concatenate": (lambda x: (ag.concatenate([x, x * x], 1) ** 3).sum(),
                        lambda x: (torch.cat([x, x * x], 1) ** 3).sum()),
        "transpose": (lambda x: ((x.T @ x) ** 2).sum(), lambda x: ((x.T @ x) ** 2).sum()),
        "unfold": (lambda x: (ag.unfold(x.reshape(1, 1, 3, 4), (2, 2), 1) ** 3).sum(),
                   lambda x: (tf.unfold(x.reshape(1, 1, 3, 4), (2, 2)) ** 3).sum()),
        "einsum_diagonal": (lambda x: ag.einsum("ii->i", x[:, :3]).exp().sum(),
                            lambda x: torch.einsum("ii->i", x[:, :3]).exp().sum()),
        "einsum_gram": (lambda x: ag.einsum("ij,kj->ik", x, x).sin().sum(),
                        lambda x: torch.einsum("ij,kj->ik", x, x).sin().sum()),
        "tensordot": (lambda x: ag.tensordot(x, x * x, axes=([0], [0])).sin().sum(),
                      lambda x: torch.tensordot(x, x * x, dims=([0], [0])).sin().sum()),
        "matmul_vector": (lambda x: (x @ x[0]).sin().sum(), lambda x: (x @ x[0]).sin().sum()),
    }


@pytest.mark.torch
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "norm", "logsumexp", "max_ties", "min_ties",
                                  "getitem_advanced", "getitem_pairs", "pad", "concatenate", "transpose", "unfold",
                                  "einsum_diagonal", "einsum_gram", "tensordot", "matmul_vector"])
def test_third_derivatives_of_every_op_family_match_pytorch(torch, name, rng):
    ours, theirs, *x = _family_cases(torch)[name]
    derivatives_match(torch, ours, theirs, x or [rng.standard_normal((3, 4))], order=3)


@pytest.mark.torch
def test_linear_third_derivatives_match_pytorch(torch, rng):
    tf = torch.nn.functional
    arrays = [rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)]
    derivatives_match(torch, lambda x, w, b: F.linear(x, w, b).tanh().sum(),
                      lambda x, w, b: tf.linear(x, w, b).tanh().sum(), arrays, order=3)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["cross_entropy", "weighted_smoothed", "ignore_index", "probabilities", "spatial",
                                  "nll", "mse", "bce_with_logits", "multi_margin"])
def test_loss_second_and_third_derivatives_match_pytorch(torch, name, rng):
    tf = torch.nn.functional
    y, w = np.array([0, 3, 4, 3]), np.abs(rng.standard_normal(5)) + 0.5
    p = np.abs(rng.standard_normal((4, 5)))
    p /= p.sum(1, keepdims=True)
    yt, wt, pt = torch.tensor(y), torch.tensor(w), torch.tensor(p)
    cases = {
        "cross_entropy": (lambda x: F.cross_entropy(x, y), lambda x: tf.cross_entropy(x, yt)),
        "weighted_smoothed": (lambda x: F.cross_entropy(x, y, weight=w, label_smoothing=0.2),
                              lambda x: tf.cross_entropy(x, yt, weight=wt, label_smoothing=0.2)),
        "ignore_index": (lambda x: F.cross_entropy(x, [0, -100, 4, 3]),
                         lambda x: tf.cross_entropy(x, torch.tensor([0, -100, 4, 3]))),
        "probabilities": (lambda x: F.cross_entropy(x, p), lambda x: tf.cross_entropy(x, pt)),
        "spatial": (lambda x: F.cross_entropy(x.reshape(1, 5, 2, 2), y.reshape(1, 2, 2)),
                    lambda x: tf.cross_entropy(x.reshape(1, 5, 2, 2), yt.reshape(1, 2, 2))),
        "nll": (lambda x: F.nll_loss(x.log_softmax(1), y, weight=w),
                lambda x: tf.nll_loss(x.log_softmax(1), yt, weight=wt)),
        "mse": (lambda x: F.mse_loss(x.tanh(), p), lambda x: tf.mse_loss(x.tanh(), pt)),
        "bce_with_logits": (lambda x: F.binary_cross_entropy_with_logits(x, p, pos_weight=w),
                            lambda x: tf.binary_cross_entropy_with_logits(x, pt, pos_weight=wt)),
        # PyTorch has no double backward for multi_margin_loss: its definition, composed (piecewise quadratic)
        "multi_margin": (lambda x: F.multi_margin_loss(x, y, p=2, weight=w), lambda x: _multi_margin(x, yt, wt)),
    }
    derivatives_match(torch, *cases[name], [rng.standard_normal((4, 5))], order=2 if name == "multi_margin" else 3)


def _multi_margin(x, y, w):
    """PyTorch's multi_margin_loss(p=2, margin=1): mean over samples of sum_{j != y} w_y max(0, 1 - x_y + x_j)^2 / C."""
    hinge = (1 - x.gather(1, y[:, None]) + x).clamp(min=0) ** 2
    return (hinge.scatter(1, y[:, None], 0.0).sum(1) * w[y] / x.shape[1]).mean()


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["layer_norm", "batch_norm"])
def test_normalisation_third_derivatives_match_pytorch_composed(torch, kind, rng):
    # PyTorch's fused norms give wrong third derivatives (their double backward is not differentiated
    # exactly); the same normalisation composed of PyTorch primitives is the reference
    axes = (1,) if kind == "layer_norm" else (0, 2, 3)

    def theirs(x, w, b):
        shape = (1, -1) if kind == "layer_norm" else (1, -1, 1, 1)
        centred = x - x.mean(axes, keepdim=True)
        return centred / (centred.pow(2).mean(axes, keepdim=True) + 1e-5).sqrt() * w.reshape(shape) + b.reshape(shape)

    def ours(x, w, b):
        if kind == "layer_norm":
            return F.layer_norm(x, 5, w, b)
        return F.batch_norm(x, None, None, w, b, training=True)

    shape, c = ((4, 5), 5) if kind == "layer_norm" else ((3, 2, 4, 4), 2)
    arrays = [rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)]
    derivatives_match(torch, lambda *t: (ours(*t) ** 3).sum(), lambda *t: (theirs(*t) ** 3).sum(), arrays, order=3)


# --- models: Hessian-vector products, gradient penalty, MAML ---------------------------------------------------
@pytest.mark.torch
def test_hessian_by_double_backward_matches_pytorch(torch, rng):
    # the full Hessian, one row per component of the gradient
    def f(lib, x):
        return (x.tanh() * x.sigmoid()).sum() + (x.softmax(0) * x).sum() + (x[:2] * x[1:]).sum() ** 2

    x0 = rng.standard_normal(3)
    x = Tensor(x0, requires_grad=True)
    (g,) = grad(f(ag, x), x, create_graph=True)
    hessian = np.stack([grad(g[i], x, retain_graph=True)[0].data for i in range(3)])
    expected = torch.autograd.functional.hessian(lambda t: f(torch, t), torch.tensor(x0)).numpy()
    np.testing.assert_allclose(hessian, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-14)


@pytest.mark.torch
def test_hessian_vector_products_through_an_mlp_match_pytorch(torch, rng):
    tf = torch.nn.functional
    x, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 1, 0, 2])

    def ours(w1, b1, w2, b2):
        return F.cross_entropy(F.linear(F.linear(Tensor(x), w1, b1).tanh(), w2, b2).relu(), y)

    def theirs(w1, b1, w2, b2):
        return tf.cross_entropy(tf.linear(tf.linear(torch.tensor(x), w1, b1).tanh(), w2, b2).relu(), torch.tensor(y))

    params = [rng.standard_normal(s) for s in [(5, 4), (5,), (3, 5), (3,)]]
    derivatives_match(torch, ours, theirs, params, order=3)


@pytest.mark.torch
def test_hessian_vector_products_through_a_cnn_match_pytorch(torch, rng):
    # conv -> batch norm (training) -> relu -> max pool -> linear -> cross-entropy, wrt every parameter
    tf = torch.nn.functional
    images, y = rng.standard_normal((4, 2, 6, 6)), np.array([0, 1, 2, 0])

    def net(lib, nf, w, b, gamma, beta, w_out, b_out):
        h = nf.conv2d(lib.tensor(images), w, b, padding=1)
        h = nf.max_pool2d(nf.batch_norm(h, None, None, gamma, beta, training=True).relu(), 2)
        return nf.cross_entropy(nf.linear(h.reshape(4, -1), w_out, b_out), lib.tensor(y))

    params = [rng.standard_normal(s) for s in [(3, 2, 3, 3), (3,), (3,), (3,), (3, 27), (3,)]]
    derivatives_match(torch, lambda *p: net(ag, F, *p), lambda *p: net(torch, tf, *p), params, order=2)


def _leaves(torch, arrays):
    return [Tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


def _critic(nf, x, w1, b1, w2, b2):
    return nf.linear(nf.linear(x, w1, b1).tanh(), w2, b2)


@pytest.mark.torch
def test_wgan_gradient_penalty_backward_into_the_weights_matches_pytorch(torch, rng):
    tf = torch.nn.functional
    x0, params = rng.standard_normal((6, 4)), [rng.standard_normal(s) for s in [(5, 4), (5,), (1, 5), (1,)]]
    ours, theirs = _leaves(torch, params)
    x, xt = Tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    (gx,) = grad(_critic(F, x, *ours).sum(), x, create_graph=True)
    (gxt,) = torch.autograd.grad(_critic(tf, xt, *theirs).sum(), xt, create_graph=True)
    ((gx.norm(dim=1) - 1) ** 2).mean().backward()
    ((gxt.norm(dim=1) - 1) ** 2).mean().backward()
    for p, pt in zip(ours, theirs):
        _close(p.grad, pt.grad)
    _close(x.grad, xt.grad)  # the penalty also reaches x, through its own gradient
    assert ours[-1].grad is None and theirs[-1].grad is None  # the output bias does not move d(output)/dx
    assert not ours[0].grad.requires_grad  # a plain backward leaves a plain .grad


@pytest.mark.torch
def test_maml_inner_step_backward_to_the_initial_weights_matches_pytorch(torch, rng):
    tf = torch.nn.functional
    support, query, target = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.standard_normal((6, 5))

    def meta_loss(lib, nf, w, b):
        inner = nf.mse_loss(nf.linear(lib.tensor(support), w, b).tanh(), lib.tensor(target))
        gw, gb = (torch.autograd.grad if lib is torch else grad)(inner, [w, b], create_graph=True)
        w2, b2 = w - 0.1 * gw, b - 0.1 * gb  # one step, differentiable in w and b
        return nf.mse_loss(nf.linear(lib.tensor(query), w2, b2).tanh(), lib.tensor(target) * 0.5)

    params = [rng.standard_normal((5, 4)), rng.standard_normal(5)]
    ours, theirs = _leaves(torch, params)
    meta_loss(ag, F, *ours).backward()
    meta_loss(torch, tf, *theirs).backward()
    for p, pt in zip(ours, theirs):
        _close(p.grad, pt.grad)
    first_order = [Tensor(p, requires_grad=True) for p in params]  # the Hessian term must matter here
    w, b = first_order
    w2 = w - 0.1 * Tensor(grad(F.mse_loss(F.linear(Tensor(support), w, b).tanh(), Tensor(target)), w)[0].data)
    F.mse_loss(F.linear(Tensor(query), w2, b).tanh(), Tensor(target) * 0.5).backward()
    assert not np.allclose(w.grad.data, ours[0].grad.data, rtol=1e-6)


# --- the engine under create_graph -----------------------------------------------------------------------------
@pytest.mark.torch
def test_grad_outputs_that_require_grad_are_differentiated_too(torch, rng):
    x0, v0 = rng.standard_normal(3), rng.standard_normal(3)
    (x, v), (xt, vt) = _leaves(torch, [x0, v0])
    (g,) = grad(x.sin(), x, grad_outputs=v, create_graph=True)  # v cos x
    (gt,) = torch.autograd.grad(xt.sin(), xt, grad_outputs=vt, create_graph=True)
    for h, ht in zip(grad((g * g).sum(), [x, v]), torch.autograd.grad((gt * gt).sum(), [xt, vt])):
        _close(h, ht)


def test_allow_unused_gives_none_in_every_order():
    x, z = Tensor(np.array([0.3, -0.2]), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    gx, gz = grad((x**3).sum(), [x, z], create_graph=True, allow_unused=True)
    assert gz is None
    hx, hz = grad(gx.sum(), [x, z], retain_graph=True, allow_unused=True)
    np.testing.assert_allclose(hx.data, 6 * x.data)
    assert hz is None
    with pytest.raises(RuntimeError, match="allow_unused"):
        grad(gx.sum(), [x, z])


@pytest.mark.parametrize("op", [lambda x: x.tanh(), lambda x: x * x * x, lambda x: x.exp()])
def test_create_graph_retains_the_forward_graph_unless_told_not_to(op):
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    y = op(x).sum()
    (g,) = grad(y, x, create_graph=True)  # retain_graph defaults to create_graph
    (again,) = grad(y, x)
    np.testing.assert_allclose(again.data, g.data)
    (g,) = grad(op(x).sum(), x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="retain_graph"):  # as PyTorch: the graph of g runs through y's nodes
        grad(g.sum(), x)


@pytest.mark.torch
def test_a_hook_returning_a_graph_tensor_is_differentiated_under_create_graph(torch):
    results = []
    for lib, leaf in ((ag, Tensor(np.array([0.3, -0.2]), requires_grad=True)),
                      (torch, torch.tensor([0.3, -0.2], requires_grad=True))):
        h = leaf * leaf
        h.register_hook(lambda g, h=h: g * h)  # the replaced gradient depends on x itself
        gradient = torch.autograd.grad if lib is torch else grad
        (g,) = gradient(h.sin().sum(), leaf, create_graph=True)
        results.append((g, gradient(g.sum(), leaf)[0]))
    for ours, theirs in zip(*results):
        _close(ours, theirs)


def test_leaf_hooks_run_once_per_order_with_that_orders_gradient():
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))
    (g,) = grad((x**3).sum(), x, create_graph=True)
    grad(g.sum(), x)
    np.testing.assert_allclose(np.array(seen), [3 * x.data**2, 6 * x.data])


def test_retain_grad_under_create_graph_keeps_a_differentiable_grad():
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    h = x * x
    h.retain_grad()
    (h**2).sum().backward(create_graph=True)  # h.grad = 2 h = 2 x^2
    assert h.grad.requires_grad
    np.testing.assert_allclose(h.grad.data, 2 * x.data**2)
    x.grad = None
    h.grad.sum().backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # PyTorch's reference-cycle note
@pytest.mark.parametrize("first_create_graph", [True, False])
def test_dot_grad_accumulated_with_create_graph_is_differentiable(torch, first_create_graph):
    # .grad = d(x^3)/dx + d(sin x)/dx; only the terms whose backward recorded a graph differentiate
    results = []
    for leaf in _leaves(torch, [np.array([0.3, -0.2])]):
        x = leaf[0]
        (x**3).sum().backward(create_graph=first_create_graph)
        x.sin().sum().backward(create_graph=True)
        assert x.grad.requires_grad
        gradient = torch.autograd.grad if isinstance(x, torch.Tensor) else grad
        results.append((x.grad, gradient(x.grad.sum(), x)[0]))
    for ours, theirs in zip(*results):
        _close(ours, theirs)
