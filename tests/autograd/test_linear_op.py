"""The linear layer's op, x @ w.T + b as one node, and the kernels that serve it: the same numbers,
gradients and layouts as the composition of transpose, matmul and add that it replaces."""

import numpy as np
import pytest

import autograd as ag
from autograd.kernels import affine, sum_kept
from autograd.ops.linalg import Linear
from autograd.testing import gradcheck, gradgradcheck


def test_affine_is_the_product_plus_the_bias(rng):
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    np.testing.assert_allclose(affine(x, w, b), x @ w.T + b, rtol=1e-13)
    np.testing.assert_allclose(affine(x, w, None), x @ w.T, rtol=1e-13)


def test_affine_widens_the_dtype_for_a_wider_bias_as_numpy_adds_do(rng):
    x, w = rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(3)  # float64: the float32 product cannot hold the sum in place
    out = affine(x, w, b)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, (x @ w.T).astype(np.float64) + b, rtol=1e-6)


def test_the_linear_op_matches_transpose_matmul_add_in_value_and_gradients(rng):
    arrays = rng.standard_normal((6, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    fused = [ag.Tensor(a, requires_grad=True) for a in arrays]
    plain = [ag.Tensor(a, requires_grad=True) for a in arrays]
    g = rng.standard_normal((6, 3))
    out = Linear.apply(*fused)
    out.backward(ag.Tensor(g))
    x, w, b = plain
    (x @ w.T + b).backward(ag.Tensor(g))
    np.testing.assert_allclose(out.data, arrays[0] @ arrays[1].T + arrays[2], rtol=1e-13)
    for f, p in zip(fused, plain):
        np.testing.assert_allclose(f.grad.data, p.grad.data, rtol=1e-13)
    assert fused[1].grad.data.flags.c_contiguous  # dW = dy^T x comes out laid out like W


def test_the_linear_op_is_one_node_whose_gradients_are_differentiable(rng):
    x = ag.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = ag.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = ag.Tensor(rng.standard_normal(2), requires_grad=True)
    out = Linear.apply(x, w, b)
    assert type(out.grad_fn) is Linear and list(out.grad_fn.next) == [x, w, b]
    assert gradcheck(Linear.apply, x, w, b) and gradgradcheck(Linear.apply, x, w, b)
    assert gradgradcheck(lambda x, w: Linear.apply(x, w, None), x, w)


def test_the_linear_op_leaves_constant_inputs_without_gradients(rng):
    x = ag.Tensor(rng.standard_normal((4, 3)))
    w = ag.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    Linear.apply(x, w, ag.Tensor(np.ones(2))).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.data, np.ones((4, 2)).T @ x.data, rtol=1e-13)


@pytest.mark.parametrize("shape, axes", [((256, 512), (0,)), ((16, 6, 6, 32), (0, 1, 2))],
                         ids=["long-rows", "channels-last"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_over_the_outer_axes_match_numpy_for_long_and_short_rows(rng, shape, axes, dtype):
    # a bias gradient (N, out) has rows of out numbers, left to NumPy; per-channel sums of a
    # channels-last batch have rows of C numbers, summed by one BLAS product
    x = rng.standard_normal(shape).astype(dtype)
    got = sum_kept(x, axes)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert got.shape == np.sum(x, axis=axes, keepdims=True).shape and got.dtype == dtype
    np.testing.assert_allclose(got, x.astype(np.float64).sum(axis=axes, keepdims=True), rtol=tol, atol=tol * 100)
