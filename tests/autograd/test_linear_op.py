"""The linear layer's op, x @ w.T + b as one node, and the kernel that serves it: the same numbers,
gradients and layouts as the composition of transpose, matmul and add that it replaces."""

import numpy as np

import autograd as ag
from autograd.kernels import affine
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


def test_a_matrix_vector_product_is_one_matmul_node_as_on_the_slides():
    # W x with a 1-D x was drawn as Reshape -> MatMul -> Reshape (x lifted to a column and back)
    W, x = ag.tensor(np.ones((2, 3)), requires_grad=True), ag.tensor(np.arange(3.0), requires_grad=True)
    for out, parents in ((W @ x, [W, x]), (x @ W.T, [x, None]), (x @ x, [x, x])):
        assert type(out.grad_fn).__name__ == "MatMul"
        assert all(p is None or e is p for e, p in zip(out.grad_fn.next, parents))
