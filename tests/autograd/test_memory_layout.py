"""Gradients come back in the memory layout of the values they belong to.

A reshape that has to copy a permuted array, and the adjoint of unfold, lay out their results
like their inputs, so a channels-last forward pass has a channels-last backward pass instead of
one that transposes (slowly) between layouts at every op.
"""

import numpy as np
import pytest

import autograd as ag
from autograd.kernels import compact, contiguous_run, memory_order


def channels_last(rng, shape):
    """A random (N, C, H, W) array laid out NHWC in memory."""
    n, c, h, w = shape
    return rng.standard_normal((n, h, w, c)).transpose(0, 3, 1, 2)


def test_reshape_of_a_permuted_tensor_returns_its_gradient_in_the_same_memory_order(rng):
    x = ag.Tensor(channels_last(rng, (2, 3, 4, 5)), requires_grad=True)
    y = x.reshape(2, 60)  # C order: this copies
    upstream = rng.standard_normal((2, 60))
    y.backward(ag.Tensor(upstream))
    np.testing.assert_array_equal(y.data, np.ascontiguousarray(x.data).reshape(2, 60))
    assert memory_order(x.grad.data) == (0, 2, 3, 1)
    np.testing.assert_array_equal(x.grad.data, upstream.reshape(2, 3, 4, 5))


def test_reshape_of_a_sliced_tensor_returns_a_c_ordered_gradient(rng):
    x = ag.Tensor(rng.standard_normal((4, 6)), requires_grad=True)
    y = x[:, ::2].reshape(-1)
    y.backward(ag.Tensor(np.arange(12.0)))
    expected = np.zeros((4, 6))
    expected[:, ::2] = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(x.grad.data, expected)


def test_the_adjoint_of_unfold_sums_into_the_layout_of_the_window_gradients(rng):
    x = ag.Tensor(channels_last(rng, (2, 3, 6, 7)), requires_grad=True)
    windows = ag.unfold(x, (3, 2), (1, 2))  # (N, C, 4, 3, 3, 2)
    weights = rng.standard_normal((2, 4, 3, 3, 2, 3)).transpose(0, 5, 1, 2, 3, 4)  # channels innermost
    (windows * weights).sum().backward()
    assert memory_order(x.grad.data) == (0, 2, 3, 1)
    expected = np.zeros(x.shape)
    for i in range(3):
        for j in range(2):
            expected[:, :, i : i + 4, j : j + 5 : 2] += weights[..., i, j]
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12, atol=1e-12)


def test_a_transposed_matmul_operand_gets_a_transposed_gradient_so_the_weight_gradient_is_a_c_ordered_array(rng):
    x = ag.Tensor(rng.standard_normal((5, 7)), requires_grad=True)
    weight = ag.Tensor(rng.standard_normal((3, 7)), requires_grad=True)
    upstream = rng.standard_normal((5, 3))
    (x @ weight.T).backward(ag.Tensor(upstream))
    assert weight.grad.data.flags.c_contiguous and x.grad.data.flags.c_contiguous
    assert weight.grad.data.base is None  # the product itself, which backward need not copy for .grad
    np.testing.assert_allclose(weight.grad.data, upstream.T @ x.data, rtol=1e-13)
    np.testing.assert_allclose(x.grad.data, upstream @ weight.data, rtol=1e-13)


def test_transposing_back_gives_the_original_array_and_other_transposes_give_views(rng):
    a = rng.standard_normal((3, 4, 5))
    t = ag.Tensor(a)
    assert t.permute(2, 0, 1).permute(1, 2, 0).data is a
    assert t.T.data.base is a and t.T.T.data is a
    sliced = ag.Tensor(a[:, :2])
    np.testing.assert_array_equal(sliced.T.T.data, a[:, :2])
    assert sliced.T.T.data.shape == (3, 2, 5)


# --- the fast paths for channels-last data: same numbers, same layout, whichever path runs -------------------------
def test_compact_copies_an_array_of_short_runs_into_one_run_in_the_same_memory_order(rng):
    windows = rng.standard_normal((4, 16, 16, 3, 3, 32)).astype(np.float32)  # (N, oh, ow, kh, kw, C) in memory
    part = windows[:, :, :, 1, 2, :].transpose(0, 3, 1, 2)  # one kernel offset, (N, C, oh, ow): runs of 32
    assert contiguous_run(part) == 32
    packed = compact(part)
    np.testing.assert_array_equal(packed, part)
    assert memory_order(packed) == memory_order(part) == (0, 2, 3, 1)
    assert contiguous_run(packed) == part.size
    assert contiguous_run(rng.standard_normal((5, 7))[:, ::2]) == 1


def test_the_adjoint_of_unfold_is_the_same_on_the_fast_path_for_short_runs(rng):
    x = ag.Tensor(channels_last(rng, (4, 16, 18, 18)), requires_grad=True)
    windows = ag.unfold(x, (3, 3), (1, 1))  # (4, 16, 16, 16, 3, 3)
    weights = rng.standard_normal((4, 16, 16, 3, 3, 16)).transpose(0, 5, 1, 2, 3, 4)  # channels innermost
    assert contiguous_run(weights[..., 0, 0]) == 16  # so each offset's slice is compacted first
    (windows * weights).sum().backward()
    assert memory_order(x.grad.data) == (0, 2, 3, 1)
    expected = np.zeros(x.shape)
    for i in range(3):
        for j in range(3):
            expected[:, :, i : i + 16, j : j + 16] += weights[..., i, j]
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12, atol=1e-12)


def test_a_broadcast_meets_a_scalar_once_per_value_inside_and_outside_backward_alike(rng):
    x = ag.Tensor(rng.standard_normal((1, 3)), requires_grad=True)
    forward = (x.expand(4, 3) * 2).data
    np.testing.assert_array_equal(forward, np.broadcast_to(x.data * 2, (4, 3)))
    seen = []
    y = x.expand(4, 3) * 1.0
    y.register_hook(lambda g: seen.append((g * 2.0).data))  # g: a broadcast, as the sum hands it back
    y.sum().backward()
    for out in (forward, seen[0]):  # the same kind of array in both: a read-only broadcast of 3 values
        assert out.strides[0] == 0 and not out.flags.writeable
    np.testing.assert_array_equal(seen[0], np.full((4, 3), 2.0))
    with pytest.raises(RuntimeError, match="add_: cannot write into this tensor"):
        (x.expand(4, 3) * 2).detach().add_(1)
    x = ag.Tensor(rng.standard_normal((40, 5, 30)), requires_grad=True)
    centred = x - x.mean(axis=(0, 2), keepdims=True)
    (centred * centred).mean(axis=(0, 2)).sum().backward()  # d(c * c) meets the broadcast from the mean
    c = x.data - x.data.mean(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(x.grad.data, 2 * c / 1200, rtol=1e-10, atol=1e-15)


def test_a_broadcast_meets_a_nested_list_of_more_axes_as_numpy_does():
    x = ag.Tensor(np.arange(3.0)).expand(2, 3)  # zero strides, as the scalar fast path looks for
    y = x + np.ones((4, 2, 3)).tolist()  # was ValueError: the fast path took the list for a scalar
    np.testing.assert_array_equal(y.data, np.arange(3.0) + np.ones((4, 2, 3)))
