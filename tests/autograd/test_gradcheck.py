"""numerical_grad, gradcheck and gradgradcheck: they pass on correct ops and catch wrong ones."""

import numpy as np
import pytest

import autograd as ag
from autograd import Function, tensor
from autograd.testing import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from autograd.testing.gradcheck import first_order_report


def f64(values, **kwargs):
    return tensor(np.asarray(values, dtype=np.float64), **kwargs)


# --- deliberately wrong Functions ------------------------------------------------------------------------
class WrongCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x**2  # d(x^3)/dx is 3 x^2


class MulWrongSecondInput(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.data * b.data

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * b  # the second should be g * a


class ScaleBySumMissingCrossTerms(Function):
    """y = x sum(x): dy_i/dx_j = [i = j] sum(x) + x_i, but the backward forgets the x_i term."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data * x.data.sum()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.sum()  # misses x * sum(g)


class NoGradient(Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x.data

    @staticmethod
    def backward(ctx, g):
        return None


class SquareThroughData(Function):
    """Right at first order, but the backward multiplies by a constant made from ``x.data``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data**2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * tensor(2 * x.data)  # detached: d/dx of the gradient is lost


class SquareDetachingG(Function):
    """Right at first order, but the backward cuts the incoming gradient out of the graph."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data**2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return tensor(g.data) * 2 * x  # d/dg of the gradient is lost


# --- numerical_grad ----------------------------------------------------------------------------------------
def test_numerical_grad_of_a_scalar_function_has_the_inputs_shape():
    x = f64([[1.0, -2.0], [0.5, 3.0]])
    (g,) = numerical_grad(lambda t: (t * t).sum(), x)
    assert g.shape == (2, 2) and g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * x.data, rtol=1e-8)


def test_numerical_grad_of_a_tensor_function_is_the_full_jacobian():
    A = np.array([[1.0, 2.0, 0.0], [-1.0, 0.5, 4.0]])
    x = f64([0.3, -0.7, 1.1])
    (J,) = numerical_grad(lambda t: ag.tensor(A) @ t, x)
    assert J.shape == (2, 3)  # out.shape + in.shape
    np.testing.assert_allclose(J, A, rtol=1e-8)


def test_numerical_grad_gives_one_entry_per_input_and_none_for_constants():
    a, b = f64([1.0, 2.0]), f64(3.0)
    ga, gb, gk = numerical_grad(lambda s, t, k: (s * t).sum() * k, a, b, 2)
    np.testing.assert_allclose(ga, [6.0, 6.0], rtol=1e-8)  # d/ds = k t
    np.testing.assert_allclose(gb, 6.0, rtol=1e-8)  # d/dt = k sum(s)
    assert gk is None


def test_numerical_grad_of_a_scalar_function_of_a_0d_input_is_a_0d_ndarray():
    (g,) = numerical_grad(lambda t: t * t, f64(3.0))
    assert type(g) is np.ndarray and g.shape == () and g.dtype == np.float64  # not a NumPy scalar
    np.testing.assert_allclose(g, 6.0, rtol=1e-8)


def test_numerical_grad_of_several_outputs_gives_one_jacobian_per_output():
    x = f64([1.0, 2.0])
    ((J_sum, J_sq),) = numerical_grad(lambda t: (t.sum(), t * t), x)
    np.testing.assert_allclose(J_sum, [1.0, 1.0], rtol=1e-8)
    np.testing.assert_allclose(J_sq, np.diag([2.0, 4.0]), rtol=1e-8, atol=1e-10)


def test_numerical_grad_works_in_float64_on_float32_inputs_and_leaves_them_alone():
    x = tensor(np.array([1.1, -0.3], dtype=np.float32))
    before = x.data.copy()
    (g,) = numerical_grad(lambda t: (t**3).sum(), x)
    # float32 central differences with eps = 1e-6 would be off by ~10%; float64 ones by ~1e-9
    np.testing.assert_allclose(g, 3 * x.data.astype(np.float64) ** 2, rtol=1e-7)
    np.testing.assert_array_equal(x.data, before)
    assert x.dtype == np.float32


# --- gradcheck passes on correct functions ------------------------------------------------------------------
@pytest.mark.parametrize(
    "f",
    [
        lambda a, b: (a.sin() * b).sum(),
        lambda a, b: a * b,  # broadcast, matrix output
        lambda a, b: (a @ b.T).tanh(),
        lambda a, b: (a.exp(), (a - b).sum(axis=0)),  # several outputs
    ],
    ids=["scalar", "broadcast", "matrix", "several outputs"],
)
def test_gradcheck_passes_on_correct_functions(f, rng):
    a = f64(rng.standard_normal((3, 2)), requires_grad=True)
    b = f64(rng.standard_normal((1, 2)), requires_grad=True)
    assert gradcheck(f, a, b) is True


def test_gradcheck_runs_in_float64_even_for_float32_inputs():
    x = tensor(np.array([0.3, 1.7, -2.2], dtype=np.float32), requires_grad=True)
    assert gradcheck(lambda t: t.exp() * t, x)


def test_gradcheck_leaves_the_inputs_untouched():
    x = f64([0.5, -1.0], requires_grad=True)
    gradcheck(lambda t: t * t, x)
    np.testing.assert_array_equal(x.data, [0.5, -1.0])
    assert x.grad is None


def test_gradcheck_passes_non_tensor_arguments_through():
    x = f64([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert gradcheck(lambda t, axis, idx: t.sum(axis=axis)[idx], x, 0, np.array([1, 1, 0]))


def test_gradcheck_needs_a_floating_tensor():
    with pytest.raises(ValueError, match="no floating-point Tensor"):
        gradcheck(lambda n: ag.tensor(float(n)), 3)


# --- gradcheck fails, and says where ---------------------------------------------------------------------------
def test_gradcheck_error_names_the_input_the_worst_index_and_both_values():
    x = f64([0.5, -1.0, 2.0], requires_grad=True, name="x")
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongCube.apply, x)
    msg = str(info.value)
    # the Jacobian is diagonal: analytic 2 x^2 against numerical 3 x^2, furthest apart at x = 2
    assert "input 0 ('x')" in msg
    assert "output index (2,)" in msg and "input 0 ('x') index (2,)" in msg
    assert "analytic:   8\n" in msg
    assert "numerical:  12\n" in msg
    assert "difference: 4 " in msg


def test_gradcheck_error_is_an_assertion_error_and_can_be_turned_off():
    x = f64([0.5, -1.0], requires_grad=True)
    assert issubclass(GradcheckError, AssertionError)
    assert gradcheck(WrongCube.apply, x, raise_exception=False) is False


def test_gradcheck_names_the_second_input_when_its_gradient_is_wrong():
    a = f64([1.0, 2.0], requires_grad=True, name="a")
    b = f64([3.0, -4.0], requires_grad=True, name="b")
    with pytest.raises(GradcheckError, match=r"failed for input 1 \('b'\)"):
        gradcheck(MulWrongSecondInput.apply, a, b)


def test_gradcheck_checks_only_the_inputs_that_require_grad():
    x = f64([0.5, 2.0])  # the wrong gradient of WrongCube goes to x, which is not checked
    y = f64([1.5, -1.0], requires_grad=True)
    assert gradcheck(lambda s, t: WrongCube.apply(s) * t, x, y)
    x.requires_grad_()
    assert not gradcheck(lambda s, t: WrongCube.apply(s) * t, x, y, raise_exception=False)


def test_gradcheck_checks_off_diagonal_jacobian_entries():
    x = f64([1.0, 2.0, -0.5], requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(ScaleBySumMissingCrossTerms.apply, x)
    # every entry d y_i / d x_j misses x_i: worst where |x_i| is largest, i = 1
    assert "output index (1,)" in str(info.value)


def test_gradcheck_catches_a_missing_gradient():
    x = f64([1.0, -3.0], requires_grad=True, name="x")
    with pytest.raises(GradcheckError, match="None"):
        gradcheck(NoGradient.apply, x)
    with pytest.raises(GradcheckError, match="None"):  # the output was cut from the graph
        gradcheck(lambda t: tensor(t.data * 2), x)


def test_gradcheck_tolerances_decide():
    x = f64([1.0], requires_grad=True)
    # analytic 2, numerical 3: |2 - 3| = 1 <= atol + rtol * 3 only for a loose rtol
    assert gradcheck(WrongCube.apply, x, rtol=0.34)
    assert not gradcheck(WrongCube.apply, x, rtol=0.33, raise_exception=False)


# --- gradgradcheck -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "f",
    [
        lambda a, b: (a.sin() * b).sum(),
        lambda a, b: (a @ b.T).tanh(),
        lambda a, b: (a.sigmoid() / (b * b + 1)).log(),
    ],
    ids=["scalar", "matrix", "broadcast"],
)
def test_gradgradcheck_passes_on_correct_functions(f, rng):
    a = f64(rng.standard_normal((3, 2)), requires_grad=True)
    b = f64(rng.standard_normal((1, 2)), requires_grad=True)
    assert gradgradcheck(f, a, b) is True


def test_gradgradcheck_catches_a_backward_that_uses_data():
    x = f64([0.5, -1.0, 2.0], requires_grad=True, name="x")
    assert gradcheck(SquareThroughData.apply, x)  # first order is right
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(SquareThroughData.apply, x)
    msg = str(info.value)
    assert "second order" in msg
    assert "input 0 ('x')" in msg
    assert "the gradient of input 0 ('x') index" in msg
    assert "analytic:   None" in msg  # the gradient does not depend on x in the graph
    assert "note: the first-order gradient does not depend on input 0 ('x') in the graph" in msg


def test_gradgradcheck_catches_a_backward_that_detaches_the_incoming_gradient():
    x = f64([0.5, -1.0, 2.0], requires_grad=True)
    assert gradcheck(SquareDetachingG.apply, x)
    with pytest.raises(GradcheckError, match=r"second order\) failed for grad_outputs\[0\](.|\n)*note: .*\.data"):
        gradgradcheck(SquareDetachingG.apply, x)


def test_gradgradcheck_takes_given_grad_outputs_of_the_output_shape():
    x = f64([[0.5, -1.0], [2.0, 0.1]], requires_grad=True)
    assert gradgradcheck(lambda t: t.exp() * t, x, grad_outputs=np.ones((2, 2)))
    with pytest.raises(ValueError, match="grad_outputs"):
        gradgradcheck(lambda t: t.exp() * t, x, grad_outputs=np.ones(3))


def test_gradgradcheck_can_return_false():
    x = f64([0.5, 2.0], requires_grad=True)
    assert gradgradcheck(SquareThroughData.apply, x, raise_exception=False) is False


# --- the report --------------------------------------------------------------------------------------------
def test_the_report_gives_the_largest_difference_not_the_entry_with_least_slack():
    x = f64([0.5, -1.0, 2.0])
    report = first_order_report(lambda t: t.exp(), [x])
    (J,) = numerical_grad(lambda t: t.exp(), x)
    differences = np.abs(np.diag(np.exp(x.data)) - J)
    # the off-diagonal zeros agree exactly (the least slack), the diagonal does not
    assert report.ok and report.entries == 9 and report.kinks == 0
    assert report.max_abs_error == pytest.approx(differences.max(), rel=1e-3) and report.max_abs_error > 0
    assert report.max_rel_error == pytest.approx((differences / np.abs(J).clip(1e-300)).max(), rel=1e-3)
    summary = report.summary()
    assert "entries compared: 9" in summary and "0 at kinks" in summary
    assert "tolerance 1e-05 + 0.001 |numerical|" in summary


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("eps", 0, "eps must be a finite number > 0, got 0"),
        ("eps", -1e-6, "eps must be a finite number > 0, got -1e-06"),
        ("eps", "1e-6", "eps must be a finite number > 0, got '1e-6'"),
        ("atol", float("nan"), "atol must be a finite number >= 0, got nan"),
        ("atol", -1.0, "atol must be a finite number >= 0, got -1.0"),
        ("rtol", float("inf"), "rtol must be a finite number >= 0, got inf"),
    ],
)
def test_nonsense_eps_and_tolerances_are_refused_by_name(check, option, value, message):
    # a wrong backward: with eps = 0 or atol = NaN, each would fail or pass for the wrong reason
    with pytest.raises(ValueError, match=f"{check.__name__}: {message}"):
        check(WrongCube.apply, f64([0.5, 2.0], requires_grad=True), **{option: value})


def test_numerical_grad_refuses_a_zero_eps():
    with pytest.raises(ValueError, match="numerical_grad: eps must be a finite number > 0, got 0"):
        numerical_grad(lambda t: t.sin(), f64([0.5]), eps=0)


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck, numerical_grad])
def test_inputs_given_as_one_tuple_as_torch_takes_them_are_refused_with_a_hint(check):
    x = f64([0.5, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=rf"{check.__name__}: no floating-point Tensor .* as separate arguments"):
        check(lambda t: t.sin(), (x,))  # torch.autograd.gradcheck(f, (x,)); here gradcheck(f, x)


def test_numerical_grad_without_a_floating_tensor_input_is_refused():
    with pytest.raises(ValueError, match="numerical_grad: no floating-point Tensor among the inputs"):
        numerical_grad(lambda k: ag.tensor([1.0]) * k, 2)  # it returned (None,): nothing differentiated


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_input_is_refused_naming_it_and_its_index(bad):
    x = f64([[0.5, 1.0], [2.0, bad]], requires_grad=True)
    with pytest.raises(ValueError, match=rf"gradcheck: input 1 holds {bad} at index \(1, 1\)"):
        gradcheck(lambda a, b: a * b, f64([1.0, 2.0], requires_grad=True), x)


def test_something_that_is_not_a_function_is_refused():
    with pytest.raises(TypeError, match="gradcheck: f must be callable, got int"):
        gradcheck(3, f64([1.0], requires_grad=True))


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_a_function_that_computes_in_float32_is_named_as_the_cause_of_a_failure(check):
    # x.float() ** 2 is a correct gradient, but differences of 1e-6 in float32 are rounding noise
    x = f64([0.3, -1.2, 2.5], requires_grad=True)
    warned = pytest.warns(UserWarning, match=rf"{check.__name__}( \(second order\))?: an output is float32")
    with warned, pytest.raises(GradcheckError, match=r"note: an output is float32 .* compute in float64"):
        check(lambda t: t.float() ** 2, x)


def test_a_function_that_keeps_float64_gets_no_precision_note(recwarn):
    x = tensor(np.array([0.3, -1.2], dtype=np.float32), requires_grad=True)
    report = first_order_report(lambda t: t * ag.tensor([2.0, 3.0]), [x])  # float32 constant, float64 result
    assert report.ok and report.notes == [] and not recwarn.list


@pytest.mark.parametrize("module", ["autograd.testing.gradcheck", "autograd.testing.opdb"])
def test_the_docstring_examples_run_and_print_what_they_say(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
