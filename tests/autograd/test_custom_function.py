"""Custom ops written the way a PyTorch user writes them, with `autograd.Function`."""

import numpy as np
import pytest

from autograd import Function, no_grad, tensor


class MulSavingOnlyWhatIsNeeded(Function):
    """Saves an input only when the other one needs a gradient, as PyTorch's tutorials do."""

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(b if need_a else None, a if need_b else None)
        return a.data * b.data

    @staticmethod
    def backward(ctx, g):
        b, a = ctx.saved_tensors
        return (g * b if ctx.needs_input_grad[0] else None, g * a if ctx.needs_input_grad[1] else None)


def test_needs_input_grad_has_one_entry_per_argument_in_grad_mode():
    a = tensor([1.0, 2.0], requires_grad=True)
    b = tensor([3.0, 4.0])
    y = MulSavingOnlyWhatIsNeeded.apply(a, b)
    y.sum().backward()
    assert a.grad.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("grad_mode", [True, False], ids=["no-input-requires-grad", "under-no_grad"])
def test_needs_input_grad_is_all_false_for_an_op_that_is_not_recorded(grad_mode):
    # forward reads needs_input_grad[i]: it must not raise IndexError when nothing is recorded
    a = tensor([1.0, 2.0], requires_grad=not grad_mode)
    b = tensor([3.0, 4.0])
    if grad_mode:
        y = MulSavingOnlyWhatIsNeeded.apply(a, b)
    else:
        with no_grad():
            y = MulSavingOnlyWhatIsNeeded.apply(a, b)
    assert y.tolist() == [3.0, 8.0] and not y.requires_grad and y.grad_fn is None


def test_needs_input_grad_of_an_unrecorded_op_counts_constant_arguments():
    seen = []

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k):
            seen.append(list(ctx.needs_input_grad))
            return x.data * k

    with no_grad():
        Scale.apply(tensor(np.ones(2), requires_grad=True), 2.0)
    assert seen == [[False, False]]


class Power(Function):
    """A PyTorch habit: a keyword argument with a default, and backward returning None for it anyway."""

    @staticmethod
    def forward(ctx, x, p=2.0):
        ctx.save_for_backward(x)
        ctx.p = p
        return x.data ** p

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.p * x ** (ctx.p - 1), None  # one more than the arguments given: the default's


def test_backward_may_return_none_for_a_defaulted_argument_that_was_not_passed_as_in_pytorch():
    x = tensor([1.0, 2.0], requires_grad=True)
    Power.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 4.0])


def test_backward_returning_a_real_gradient_too_many_is_still_an_error_naming_the_function():
    class TwoForOne(Function):
        forward = staticmethod(lambda ctx, x: x.data * 2)
        backward = staticmethod(lambda ctx, g: (g * 2, g))

    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="TwoForOne.backward returned 2 gradients for 1 inputs"):
        TwoForOne.apply(x).sum().backward()


def test_forward_returning_several_outputs_is_a_clear_error_not_one_stacked_tensor():
    class Both(Function):
        forward = staticmethod(lambda ctx, x: (x.data * 2, x.data ** 2))
        backward = staticmethod(lambda ctx, g: g)

    with pytest.raises(TypeError, match="Both.forward returned a tuple; a Function has one output"):
        Both.apply(tensor([1.0, 2.0], requires_grad=True))


def test_an_integer_output_has_no_gradient_so_no_gradient_leaks_back_through_a_cast(torch):
    x = tensor([1.5, 2.0], requires_grad=True)
    assert not x.long().requires_grad and x.long().grad_fn is None
    (x.long() * x).sum().backward()  # d/dx of floor(x) * x with floor a constant: floor(x), as PyTorch
    tx = torch.tensor([1.5, 2.0], requires_grad=True)
    (tx.long() * tx).sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy())
