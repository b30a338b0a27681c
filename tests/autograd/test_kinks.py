"""The subgradients chosen at kinks and ties, which numerical gradients cannot check.

relu'(0) = 0 and abs'(0) = 0; clip passes the gradient on the closed interval [min, max];
max/min reductions and maximum/minimum split the gradient equally between tied elements;
repeated indices accumulate. All as PyTorch, which the torch tests confirm where installed.
At these points gradcheck accepts any value between the one-sided slopes, and no other.
"""

import numpy as np
import pytest

import autograd as ag
import nn
from autograd import Function, tensor
from autograd.testing import GradcheckError, gradcheck
from autograd.testing.gradcheck import first_order_report, second_order_report


def grad_of(f, *values, upstream=None):
    """Gradients of sum(upstream * f(*inputs)) for inputs made from ``values``."""
    xs = [tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    out = f(*xs)
    out.backward(None if upstream is None else tensor(np.asarray(upstream, dtype=np.float64)))
    return [x.grad.data for x in xs]


def test_relu_derivative_at_zero_is_zero():
    (g,) = grad_of(lambda x: x.relu().sum(), [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


def test_abs_derivative_at_zero_is_zero():
    (g,) = grad_of(lambda x: x.abs().sum(), [-1.5, 0.0, 2.0])
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def test_clip_passes_the_gradient_at_its_bounds():
    (g,) = grad_of(lambda x: x.clip(-1.0, 1.0).sum(), [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_with_one_bound_passes_the_gradient_at_it():
    (g,) = grad_of(lambda x: x.clip(0.0, None).sum(), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0])


def test_max_splits_the_gradient_between_ties():
    (g,) = grad_of(lambda x: x.max(), [1.0, 3.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])


def test_min_splits_the_gradient_between_ties():
    (g,) = grad_of(lambda x: x.min(), [2.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(g, [0.0, 1 / 3, 1 / 3, 1 / 3])


def test_max_along_an_axis_splits_within_each_row():
    (g,) = grad_of(lambda x: x.max(axis=1, keepdims=True), [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], upstream=[[2.0], [4.0]])
    np.testing.assert_array_equal(g, [[0.0, 1.0, 1.0], [2.0, 2.0, 0.0]])


@pytest.mark.parametrize(
    ("op", "ga", "gb"),
    [(ag.maximum, [0.5, 1.0, 0.0], [0.5, 0.0, 1.0]), (ag.minimum, [0.5, 0.0, 1.0], [0.5, 1.0, 0.0])],
    ids=["maximum", "minimum"],
)
def test_maximum_and_minimum_split_the_gradient_at_ties(op, ga, gb):
    a, b = grad_of(lambda s, t: op(s, t).sum(), [1.0, 2.0, 3.0], [1.0, 0.0, 5.0])
    np.testing.assert_array_equal(a, ga)
    np.testing.assert_array_equal(b, gb)


def test_maximum_ties_with_a_broadcast_input_sum_their_halves():
    # b is compared with every element of a: two ties give it 0.5 each, the win over 1.0 gives 1
    a, b = grad_of(lambda s, t: ag.maximum(s, t).sum(), [2.0, 2.0, 1.0], 2.0)
    np.testing.assert_array_equal(a, [0.5, 0.5, 0.0])
    assert b == 0.5 + 0.5 + 1.0


def test_getitem_with_repeated_indices_accumulates():
    (g,) = grad_of(lambda x: x[np.array([0, 0, 2, 0])], [5.0, 6.0, 7.0], upstream=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(g, [1.0 + 2.0 + 4.0, 0.0, 3.0])


def test_getitem_with_repeated_index_pairs_accumulates():
    (g,) = grad_of(lambda x: x[np.array([0, 0, 1]), np.array([1, 1, 0])].sum(), np.zeros((2, 2)))
    np.testing.assert_array_equal(g, [[0.0, 2.0], [1.0, 0.0]])


def test_getitem_with_a_mask_routes_the_gradient_to_the_selected_elements():
    (g,) = grad_of(lambda x: x[x > 0], [1.0, -2.0, 3.0], upstream=[10.0, 20.0])
    np.testing.assert_array_equal(g, [10.0, 0.0, 20.0])


KINKS = [
    ("relu", lambda x: x.relu(), [-1.0, 0.0, 2.0]),
    ("abs", lambda x: x.abs(), [-1.5, 0.0, 2.0]),
    ("clip", lambda x: x.clip(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0]),
    ("max", lambda x: x.max(), [1.0, 3.0, 3.0]),
    ("min_axis", lambda x: x.min(axis=0), [[1.0, 2.0], [1.0, 0.0], [4.0, 0.0]]),
]


@pytest.mark.torch
@pytest.mark.parametrize(("name", "f", "x"), KINKS, ids=[k[0] for k in KINKS])
def test_kinks_agree_with_pytorch(name, f, x, torch):
    torch_f = {
        "relu": lambda t: t.relu(),
        "abs": lambda t: t.abs(),
        "clip": lambda t: t.clamp(-1.0, 1.0),
        "max": lambda t: t.amax(),
        "min_axis": lambda t: t.amin(0),
    }[name]
    (ours,) = grad_of(lambda t: f(t).sum(), x)
    t = torch.tensor(x, requires_grad=True)
    torch_f(t).sum().backward()
    np.testing.assert_array_equal(ours, t.grad.numpy())


@pytest.mark.torch
def test_maximum_ties_agree_with_pytorch(torch):
    a, b = grad_of(lambda s, t: ag.maximum(s, t).sum(), [1.0, 2.0, 3.0], [1.0, 0.0, 5.0])
    ta, tb = torch.tensor([1.0, 2.0, 3.0], requires_grad=True), torch.tensor([1.0, 0.0, 5.0], requires_grad=True)
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_array_equal(a, ta.grad.numpy())
    np.testing.assert_array_equal(b, tb.grad.numpy())


# --- gradcheck at kinks: a subgradient between the one-sided slopes passes, another fails -----------
class ReluWithSlopeTwoAtZero(Function):
    """relu whose derivative at 0 is 2: outside [0, 1], so not a subgradient."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x.data, 0.0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * tensor(np.select([x.data > 0, x.data == 0], [1.0, 2.0], 0.0))


AT_KINKS = [
    ("relu", lambda x: x.relu(), [-1.0, 0.0, 2.0]),
    ("abs", lambda x: x.abs(), [-1.5, 0.0, 2.0]),
    ("clip", lambda x: x.clip(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0]),
    ("max", lambda x: x.max(), [1.0, 3.0, 3.0]),
    ("min_axis", lambda x: x.min(axis=0), [[1.0, 2.0], [1.0, 0.0], [4.0, 0.0]]),
    ("maximum", lambda x: ag.maximum(x, x[::-1]), [1.0, 2.0, 1.0]),
    ("max_pool", lambda x: nn.functional.max_pool2d(x, 2, 1), [[[[1.0, 1.0, 0.0], [1.0, 0.5, 2.0], [2.0, 2.0, 2.0]]]]),
    ("square_then_max", lambda x: (x * x).max(), [-1.0, 1.0, 0.0]),
]


@pytest.mark.parametrize(("name", "f", "x"), AT_KINKS, ids=[k[0] for k in AT_KINKS])
def test_gradcheck_and_gradgradcheck_pass_at_kinks_and_count_them(name, f, x):
    x = tensor(np.asarray(x, dtype=np.float64))
    first = first_order_report(f, [x])
    assert first.ok and first.kinks > 0
    assert second_order_report(f, [x]).ok  # there the gradient itself jumps
    # away from the kinks, nothing is counted
    assert first_order_report(f, [x + 0.1 * np.arange(x.size).reshape(x.shape) + 0.01]).kinks == 0


def test_a_wrong_subgradient_fails_and_the_message_shows_the_one_sided_slopes():
    x = tensor([-1.0, 0.0, 2.0])
    assert gradcheck(ReluWithSlopeTwoAtZero.apply, tensor([-1.0, 0.5, 2.0]))  # right away from 0
    with pytest.raises(GradcheckError) as info:
        gradcheck(ReluWithSlopeTwoAtZero.apply, x)
    msg = str(info.value)
    assert "input 0 index (1,)" in msg and "analytic:   2\n" in msg
    assert "at a kink: one-sided differences 0 and 1" in msg


def test_a_wrong_gradient_next_to_a_kink_still_fails():
    # -1 is a subgradient of abs at 0, but at 2, where abs is smooth, it is simply wrong
    with pytest.raises(GradcheckError, match="index \\(2,\\)"):
        gradcheck(lambda t: AbsWrongSign.apply(t), tensor([-1.0, 0.0, 2.0]))


class AbsWrongSign(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x.data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * tensor(-np.ones_like(x.data))
