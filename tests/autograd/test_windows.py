"""Dilated windows, cropping pads and einsum's '...' and repeated subscripts: views where promised,
PyTorch's values, and first and second derivatives against finite differences."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import autograd as ag
from autograd import Tensor
from autograd.testing import gradcheck, gradgradcheck


# --- unfold with dilation ------------------------------------------------------------------------------
def test_dilated_unfold_is_a_view_of_its_input(rng):
    x = Tensor(rng.standard_normal((2, 3, 9, 8)))
    windows = ag.unfold(x, (3, 2), stride=(2, 1), dilation=(3, 2))
    assert windows.shape == (2, 3, 2, 6, 3, 2)  # (9 - 3 * 2 - 1) // 2 + 1 = 2, (8 - 2 - 1) // 1 + 1 = 6
    assert np.shares_memory(windows.data, x.data)


def test_dilated_unfold_and_its_adjoint_match_torch(torch, rng):
    x = rng.standard_normal((2, 3, 9, 8))
    ours = Tensor(x, requires_grad=True)
    windows = ag.unfold(ours, (3, 2), stride=(2, 1), dilation=(3, 2))  # (N, C, oh, ow, kh, kw)
    theirs = torch.tensor(x, requires_grad=True)
    cols = torch.nn.functional.unfold(theirs, (3, 2), dilation=(3, 2), stride=(2, 1))  # (N, C kh kw, oh ow)
    as_cols = windows.permute(0, 1, 4, 5, 2, 3).reshape(2, 3 * 3 * 2, -1)
    np.testing.assert_array_equal(as_cols.data, cols.detach().numpy())
    upstream = rng.standard_normal(cols.shape)
    as_cols.backward(Tensor(upstream))  # the adjoint adds each window's gradient back where it was read
    cols.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-12)


@given(h=st.integers(3, 7), w=st.integers(3, 7), k=st.integers(1, 3), s=st.integers(1, 3), d=st.integers(1, 3))
def test_dilated_unfold_passes_gradcheck_and_gradgradcheck(h, w, k, s, d):
    assume(d * (k - 1) + 1 <= min(h, w))
    x = Tensor(np.random.default_rng(h * w).standard_normal((1, 2, h, w)), requires_grad=True)
    fn = lambda t: ag.unfold(t, k, stride=s, dilation=d)  # noqa: E731
    assert gradcheck(fn, x) and gradgradcheck(fn, x)


def test_unfold_refuses_a_dilated_kernel_larger_than_the_input(rng):
    with pytest.raises(ValueError, match=r"unfold: kernel \(3, 3\) \(dilation \(3, 3\)\) is larger than \(6, 6\)"):
        ag.unfold(Tensor(rng.standard_normal((1, 1, 6, 6))), 3, stride=1, dilation=3)
    with pytest.raises(ValueError, match="unfold: .*dilation"):
        ag.unfold(Tensor(rng.standard_normal((1, 1, 6, 6))), 3, stride=1, dilation=0)


# --- pad with negative widths ----------------------------------------------------------------------------
def test_negative_pad_widths_crop_to_a_view_and_match_torch(torch, rng):
    x = rng.standard_normal((2, 5, 6))
    cropped = ag.pad(Tensor(x), ((0, 0), (-1, -2), (0, -3)))
    assert np.shares_memory(cropped.data, x)
    np.testing.assert_array_equal(cropped.data, torch.nn.functional.pad(torch.tensor(x), (0, -3, -1, -2)).numpy())
    mixed = ag.pad(Tensor(x), ((0, 0), (2, -1), (-2, 1)), value=0.5)  # crop one side, pad the other
    expected = torch.nn.functional.pad(torch.tensor(x), (-2, 1, 2, -1), value=0.5).numpy()
    np.testing.assert_array_equal(mixed.data, expected)


@given(widths=st.lists(st.tuples(st.integers(-2, 2), st.integers(-2, 2)), min_size=2, max_size=2))
def test_cropping_pad_passes_gradcheck_and_gradgradcheck(widths):
    x = Tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    fn = lambda t: ag.pad(t, widths, value=1.5)  # noqa: E731
    assert gradcheck(fn, x) and gradgradcheck(fn, x)


def test_pad_refuses_to_crop_more_than_an_axis_holds(rng):
    with pytest.raises(ValueError, match=r"pad: pad_width .* crops more than the shape \(4, 5\)"):
        ag.pad(Tensor(rng.standard_normal((4, 5))), ((-3, -2), (0, 0)))


# --- einsum: '...' and repeated subscripts ---------------------------------------------------------------
EINSUMS = [
    ("ii->", [(3, 3)]),  # trace
    ("ii->i", [(4, 4)]),  # diagonal
    ("iji->j", [(2, 3, 2)]),
    ("bii->bi", [(2, 3, 3)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("i...->...", [(3, 3)]),
    ("...ik,...j->ij", [(1, 2, 3), (3,)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # batch axes broadcast
    ("...ij", [(2, 3, 4)]),  # implicit output: the '...' axes first
    ("i...,i...", [(2, 3), (2, 3)]),
    ("...ii->...i", [(2, 3, 3)]),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum_with_ellipsis_and_repeated_subscripts_matches_torch(torch, rng, subscripts, shapes):
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ag.einsum(subscripts, *ours), torch.einsum(subscripts, *theirs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    upstream = rng.standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    for x, t in zip(ours, theirs):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("subscripts, shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum_with_ellipsis_and_repeated_subscripts_passes_gradgradcheck(rng, subscripts, shapes):
    args = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    fn = lambda *ts: ag.einsum(subscripts, *ts)  # noqa: E731
    assert gradcheck(fn, *args) and gradgradcheck(fn, *args)


def test_einsum_refuses_unequal_sizes_of_a_repeated_subscript_and_unknown_output_letters(rng):
    with pytest.raises(ValueError, match="einsum: subscript 'i' has sizes 2 and 3"):
        ag.einsum("ii->i", Tensor(rng.standard_normal((2, 3))))
    with pytest.raises(ValueError, match="einsum: 'i->j'"):
        ag.einsum("i->j", Tensor(rng.standard_normal(2)))
