"""Reductions over many small windows (pooling, maxout) and over the outer axes of large arrays.

Both have fast paths: a few elements per output are reduced slice by slice, and sums over the
outer axes in memory are a matrix-vector product. These tests use arrays large enough to take
them and check them against NumPy's own reductions, including ties and NaN for max and min.
"""

import numpy as np
import pytest

import autograd as ag
from autograd.kernels import sum_kept

# (8, 4, 8, 2, 8, 2): 2x2 windows over axes (3, 5) of a batch of 8x4 16x16 images
WINDOWED = (8, 4, 8, 2, 8, 2)


def tie_split_reference(x: np.ndarray, axes: tuple[int, ...], pick, upstream: np.ndarray) -> np.ndarray:
    """The gradient of pick(x, axes) for that upstream gradient, ties sharing it equally."""
    best = pick(x, axis=axes, keepdims=True)
    hits = x == best
    return np.expand_dims(upstream, axes) * hits / hits.sum(axis=axes, keepdims=True)


@pytest.mark.parametrize("axes", [(3, 5), (1,), (0, 2)], ids=["windows", "one-axis", "many-per-output"])
@pytest.mark.parametrize(("name", "pick"), [("max", np.max), ("min", np.min)])
def test_max_and_min_of_windows_with_many_ties_match_numpy(rng, axes, name, pick):
    x = rng.integers(-2, 3, WINDOWED).astype(np.float32)  # five values: most windows have ties
    t = ag.Tensor(x, requires_grad=True)
    out = getattr(t, name)(axis=axes)
    np.testing.assert_array_equal(out.data, pick(x, axis=axes))
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(ag.Tensor(upstream))
    assert t.grad.dtype == np.float32
    np.testing.assert_allclose(t.grad.data, tie_split_reference(x, axes, pick, upstream), rtol=1e-6)


def test_max_of_windows_without_ties_routes_each_gradient_to_one_element(rng):
    x = rng.permutation(np.prod(WINDOWED)).reshape(WINDOWED).astype(np.float64)  # all distinct
    t = ag.Tensor(x, requires_grad=True)
    out = t.max(axis=(3, 5))
    upstream = rng.standard_normal(out.shape)
    out.backward(ag.Tensor(upstream))
    winners = x == x.max(axis=(3, 5), keepdims=True)
    np.testing.assert_array_equal(t.grad.data, np.where(winners, np.expand_dims(upstream, (3, 5)), 0.0))


def test_max_of_a_window_holding_nan_is_nan_and_passes_its_gradient_to_the_nans(rng):
    x = rng.standard_normal(WINDOWED)
    x[0, 0, 0, 0, 0, 1] = np.nan  # one NaN in the first window
    x[1, 0, 0, :, 0, 0] = np.nan  # two in another: they share it
    t = ag.Tensor(x, requires_grad=True)
    out = t.max(axis=(3, 5))
    assert np.isnan(out.data[0, 0, 0, 0]) and np.isnan(out.data[1, 0, 0, 0])
    assert np.isfinite(np.delete(out.data.ravel(), [0, out.data[0].size])).all()
    out.sum().backward()
    g = t.grad.data
    assert np.isfinite(g).all()
    assert g[0, 0, 0, 0, 0, 1] == 1.0 and g[0, 0, 0, :, 0, :].sum() == 1.0
    np.testing.assert_array_equal(g[1, 0, 0, :, 0, 0], [0.5, 0.5])
    np.testing.assert_array_equal(g.sum(axis=(3, 5)), np.ones(out.shape))  # every window passes 1 on


@pytest.mark.parametrize("axes", [(3, 5), (0, 1, 2, 4)], ids=["windows", "outer"])
def test_sum_of_windows_matches_numpy(rng, axes):
    x = rng.standard_normal(WINDOWED).astype(np.float32)
    t = ag.Tensor(x, requires_grad=True)
    out = t.sum(axis=axes)
    np.testing.assert_allclose(out.data, x.astype(np.float64).sum(axis=axes), rtol=1e-5, atol=1e-3)
    assert out.dtype == np.float32
    out.backward(ag.Tensor(np.ones(out.shape, np.float32)))
    np.testing.assert_array_equal(t.grad.data, np.ones(x.shape))


@pytest.mark.parametrize("layout", [(0, 1, 2, 3), (0, 2, 3, 1), (3, 2, 1, 0)], ids=["nchw", "nhwc", "reversed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_over_axes_of_any_memory_layout_match_numpy(rng, layout, dtype):
    # an (N, C, H, W) batch laid out in memory in the order ``layout``
    shape = (16, 8, 12, 10)
    x = rng.standard_normal([shape[i] for i in layout]).astype(dtype).transpose(np.argsort(layout))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for axes in [(0, 2, 3), (0,), (1,), (0, 1), (2, 3), (0, 1, 2, 3)]:
        got = sum_kept(x, axes)
        assert got.shape == np.sum(x, axis=axes, keepdims=True).shape and got.dtype == dtype
        np.testing.assert_allclose(got, x.astype(np.float64).sum(axis=axes, keepdims=True), rtol=tol, atol=tol * 100)


def test_sums_of_integers_and_bools_widen_as_numpy_does():
    x = np.ones((64, 512), dtype=np.int8)
    assert sum_kept(x, (0,)).dtype == np.sum(x, axis=0).dtype and sum_kept(x, (0,))[0, 0] == 64
    assert sum_kept(x.astype(bool), (0,))[0, 0] == 64


@pytest.mark.parametrize("window", [2, 3])
def test_windows_of_a_channels_last_batch_reduce_as_numpy_does(rng, window):
    # memory (N, H/k, k, W/k, k, C), seen as (N, C, H/k, k, W/k, k): the axes are taken slowest-first
    memory = rng.integers(-2, 3, (8, 6, window, 6, window, 16)).astype(np.float32)
    x = memory.transpose(0, 5, 1, 2, 3, 4)
    for name, pick in (("max", np.max), ("min", np.min), ("sum", np.sum)):
        t = ag.Tensor(x, requires_grad=True)
        out = getattr(t, name)(axis=(3, 5))
        np.testing.assert_array_equal(out.data, pick(x, axis=(3, 5)))
        if name != "sum":
            upstream = rng.standard_normal(out.shape).astype(np.float32)
            out.backward(ag.Tensor(upstream))
            np.testing.assert_allclose(t.grad.data, tie_split_reference(x, (3, 5), pick, upstream), rtol=1e-6)


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


@pytest.mark.parametrize("shape", [(65536, 32), (4099, 8), (3 * 5 * 7 * 11 * 13, 5)], ids=["pow2", "prime", "odd"])
def test_bias_gradient_sums_of_long_narrow_matrices_match_numpy(rng, shape):
    # a linear layer's bias gradient: (batch rows, out) summed over the rows, in rows of any count
    x = rng.standard_normal(shape).astype(np.float32)
    got = sum_kept(x, (0,))
    assert got.shape == (1, shape[1]) and got.dtype == np.float32
    np.testing.assert_allclose(got, x.astype(np.float64).sum(axis=0, keepdims=True), rtol=1e-4, atol=1e-3)
