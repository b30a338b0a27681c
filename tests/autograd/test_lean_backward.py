"""Ops that keep less for backward, or do less in it, and still give the same gradients."""

import numpy as np

import autograd as ag
from autograd.testing import gradcheck, gradgradcheck


def test_square_as_x_times_x_has_gradient_two_x_to_second_order(rng):
    x = ag.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    upstream = rng.standard_normal((3, 4))
    (x * x).backward(ag.Tensor(upstream))
    np.testing.assert_allclose(x.grad.data, 2 * x.data * upstream, rtol=1e-15)
    assert gradcheck(lambda t: t * t, x)
    assert gradgradcheck(lambda t: (t * t).sum(axis=0) * t, x)


def test_x_times_x_inside_a_graph_that_also_uses_x_elsewhere(rng):
    x = ag.Tensor(rng.standard_normal(5), requires_grad=True)
    ((x * x) * 3 + x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data + 2, rtol=1e-15)


def test_relu_keeps_a_boolean_mask_instead_of_its_input(rng):
    x = ag.Tensor(rng.standard_normal((4, 6)).astype(np.float32), requires_grad=True)
    y = x.relu()
    (mask,) = y.grad_fn.saved_tensors
    assert mask.dtype == bool and mask.shape == x.shape
    np.testing.assert_array_equal(mask, x.data > 0)
    y.backward(ag.Tensor(np.ones((4, 6), np.float32)))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, (x.data > 0).astype(np.float32))
