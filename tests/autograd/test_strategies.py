"""autograd.testing.strategies: what each strategy promises, and the contract's example."""

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from autograd import Function, Tensor
from autograd.testing import GradcheckError, gradcheck, gradgradcheck
from autograd.testing.opdb import OPS
from autograd.testing.programs import sample
from autograd.testing.strategies import axes, broadcastable_shapes, programs, shapes, tensors


@given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_their_bounds(shape):
    assert isinstance(shape, tuple)
    assert 1 <= len(shape) <= 3
    assert all(2 <= n <= 4 for n in shape)


@given(shapes())
def test_shapes_default_to_at_most_four_axes_of_at_most_five(shape):
    assert len(shape) <= 4 and all(1 <= n <= 5 for n in shape)


@given(st.data(), shapes(max_dims=3))
def test_broadcastable_shapes_broadcast_with_the_base_shape(data, base):
    other = data.draw(broadcastable_shapes(base, max_dims=4))
    result = np.broadcast_shapes(base, other)  # raises if they do not broadcast
    assert len(other) <= 4
    assert len(result) == max(len(base), len(other))


@given(broadcastable_shapes((3, 1), min_dims=2, max_dims=3, max_side=4))
def test_broadcastable_shapes_keep_sizes_or_ones_where_the_base_has_sizes(shape):
    assert 2 <= len(shape) <= 3
    assert shape[-2] in (1, 3)  # aligned with the base's 3
    assert 1 <= shape[-1] <= 4  # aligned with the base's 1: any size


@pytest.mark.parametrize(
    "wanted",
    [lambda s: len(s) > 2, lambda s: len(s) >= 1 and s[-1] > 1],
    ids=["longer than the base", "larger where the base has 1"],
)
def test_broadcastable_shapes_go_both_ways(wanted):
    find(broadcastable_shapes((3, 1)), wanted, settings=settings(database=None))  # NoSuchExample if never


@given(st.data(), st.integers(0, 4))
def test_axes_are_valid_axis_arguments_for_ndim(data, ndim):
    axis = data.draw(axes(ndim))
    x = np.zeros((2,) * ndim)
    if isinstance(axis, tuple):
        assert len({a % ndim for a in axis}) == len(axis)  # distinct
    if ndim == 0:
        assert axis is None or axis == ()
    np.sum(x, axis=axis)  # NumPy accepts it


@given(axes(3, min_size=2, allow_none=False))
def test_axes_sizes_bound_how_many_axes_are_reduced(axis):
    assert isinstance(axis, tuple) and 2 <= len(axis) <= 3


def test_axes_reject_impossible_sizes():
    with pytest.raises(ValueError, match="axes"):
        axes(2, min_size=3)


@given(tensors(shape=(2, 3), min_value=0.5, max_value=1.5))
def test_tensors_with_a_fixed_shape_and_value_bounds(t):
    assert isinstance(t, Tensor)
    assert t.shape == (2, 3) and t.dtype == np.float64
    assert np.all((t.data >= 0.5) & (t.data <= 1.5))
    assert not t.requires_grad


@given(tensors(shape=shapes(max_dims=2, max_side=3), dtype=np.float32, requires_grad=True, name="w"))
def test_tensors_take_a_shape_strategy_dtype_requires_grad_and_name(t):
    assert t.ndim <= 2 and all(n <= 3 for n in t.shape)
    assert t.dtype == np.float32
    assert t.requires_grad and t.is_leaf and t.name == "w"
    assert np.all(np.isfinite(t.data))


@given(tensors(shape=(4,), elements=st.sampled_from([-1.0, 2.0])))
def test_tensors_draw_their_values_from_elements(t):
    assert set(t.data.tolist()) <= {-1.0, 2.0}


@given(tensors(shape=(5,), dtype=np.int64, min_value=-3, max_value=3))
def test_integer_tensors(t):
    assert t.dtype == np.int64 and np.all(np.abs(t.data) <= 3)


@given(tensors(shape=(3,), dtype=np.float32, min_value=0.1, max_value=0.3))
def test_float32_bounds_that_float32_cannot_hold_are_narrowed_to_its_nearest_numbers_inside(t):
    assert t.dtype == np.float32 and np.all((t.data.astype(np.float64) >= 0.1) & (t.data <= 0.3))


@given(tensors(shape=(8,), dtype=np.uint8), tensors(shape=(4,), dtype=np.int64, min_value=-0.5, max_value=2.5))
def test_integer_bounds_keep_to_the_dtype_and_to_the_integers_inside(unsigned, rounded):
    assert np.all(unsigned.data <= 10)  # the default bounds -10..10, within uint8's 0..255
    assert np.all((rounded.data >= 0) & (rounded.data <= 2))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: shapes(min_dims=3, max_dims=1), ValueError, "shapes: need ints 0 <= min_dims <= max_dims"),
        (lambda: shapes(min_dims=-1), ValueError, "shapes: .*got min_dims=-1"),
        (lambda: shapes(min_side=-3, max_side=-1), ValueError, "shapes: .*got min_side=-3, max_side=-1"),
        (lambda: broadcastable_shapes((-1, 3)), ValueError, r"broadcastable_shapes: shape .* got \(-1, 3\)"),
        (lambda: broadcastable_shapes((2,), min_side=5, max_side=2), ValueError, "broadcastable_shapes: .*min_side=5"),
        (lambda: axes(-1), ValueError, "axes: ndim must be a non-negative int, got -1"),
        (lambda: tensors(shape=(-1, 2)), ValueError, r"tensors: shape .* got \(-1, 2\)"),
        (lambda: tensors(min_value=5.0, max_value=1.0), ValueError, "tensors: need min_value <= max_value"),
        (lambda: tensors(min_value=float("nan")), ValueError, "tensors: need min_value <= max_value, got nan"),
        (lambda: tensors(dtype=np.int64, min_value=0.5, max_value=0.9), ValueError, "no int64 integer lies in"),
        (lambda: tensors(dtype=str), TypeError, "tensors: dtype must be bool, integer or floating, got <U"),
        (lambda: tensors(dtype=np.int64, requires_grad=True), TypeError, "requires_grad=True needs a floating dtype"),
    ],
)
def test_impossible_arguments_are_refused_when_the_strategy_is_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


# --- the contract's example: a user's op, tested in a few lines ------------------------------------------
class Softplus(Function):
    """log(1 + e^x), written by a user, with its derivative sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x.data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.sigmoid()


class SoftplusWithWrongSign(Softplus):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (-x).sigmoid()  # sigmoid(-x) = 1 - sigmoid(x): wrong


@given(tensors(shape=shapes(max_dims=3)))
def test_users_op_passes_gradcheck(x):
    assert gradcheck(Softplus.apply, x)


def test_users_wrong_op_is_caught_by_the_same_property():
    @given(tensors(shape=shapes(max_dims=3)))
    def property_of_wrong_op(x):
        assert gradcheck(SoftplusWithWrongSign.apply, x)

    with pytest.raises(GradcheckError, match="input 0"):
        property_of_wrong_op()


# --- random programs around a user's op ---------------------------------------------------------------
@given(programs(Softplus.apply, max_ops=5))
def test_users_op_in_random_programs_passes_first_and_second_order_checks(case):
    assert any(step.op == "Softplus" for step in case.program.steps)
    xs = case.leaves()
    assert gradcheck(case.program, *xs) and gradgradcheck(case.program, *xs)


def test_users_wrong_op_is_caught_inside_random_programs():
    @given(programs(SoftplusWithWrongSign.apply, max_ops=5))
    def property_of_wrong_op(case):
        assert gradcheck(case.program, *case.leaves())

    with pytest.raises(GradcheckError):
        property_of_wrong_op()


class SqrtOfUnknownDomain(Function):
    """A correct op with a pole at 0 that the programs are not told about."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sqrt(x.data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 0.5 / x.sqrt()


def test_programs_never_check_a_users_op_at_a_pole_that_sub_or_relu_made():
    # sub(v, v) and relu make exact zeros; sqrt there has no derivative, and a failure would
    # blame the user's correct op. A step is kept only where the op is defined around its operands.
    table = [op for op in OPS if op.name in ("sub", "relu", "tanh")]
    for seed in range(40):
        case = sample(seed, ops=table, include=[SqrtOfUnknownDomain.apply], max_ops=4)
        assert gradcheck(case.program, *case.leaves()), case.program
