"""gradcheck and gradgradcheck on modules and extra parameters, dense and in fast mode."""

import re
from pathlib import Path

import numpy as np
import pytest

import autograd as ag
import nn
from autograd import Function
from autograd.testing import GradcheckError, gradcheck, gradgradcheck
from autograd.testing.gradcheck import first_order_report


class MatmulWrongWeightGrad(Function):
    """y = x @ w, whose backward scales the weight's gradient by 1.5 (the input's is right)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x.data @ w.data

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w.T, 1.5 * (x.T @ g)


class PlantedLinear(nn.Module):
    """A layer whose weight gradient is wrong: only a check of the parameters can see it."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32))
        self.bias = nn.Parameter(np.zeros(2, dtype=np.float32))

    def forward(self, x):
        return MatmulWrongWeightGrad.apply(x, self.weight) + self.bias


class MatmulDetachedInBackward(MatmulWrongWeightGrad):
    """y = x @ w, right at first order, but x's gradient uses w's values cut from the graph."""

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ ag.tensor(w.data.T), x.T @ g


class PlantedSecondOrder(PlantedLinear):
    def forward(self, x):
        return MatmulDetachedInBackward.apply(x, self.weight) + self.bias


class Rows(nn.Module):
    """Rows of a table picked by integer indices: the only floating tensor is the parameter."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(np.arange(15.0).reshape(5, 3))

    def forward(self, idx):
        return self.table[idx] * self.table[idx]


def batch(*shape, seed=0):
    return ag.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("fast_mode", [False, True], ids=["dense", "fast"])
def test_a_modules_weight_and_bias_are_checked(fast_mode):
    conv = nn.Conv2d(2, 3, 3)
    report = first_order_report(conv, [batch(1, 2, 4, 4)], fast_mode=fast_mode)
    assert report.ok
    # input, weight and bias: every entry of their Jacobians, or one projection each
    sizes = [2 * 4 * 4, 3 * 2 * 3 * 3, 3]
    assert report.entries == (3 * 2 * 2 * sum(sizes) if not fast_mode else 3)


@pytest.mark.parametrize("fast_mode", [False, True], ids=["dense", "fast"])
def test_a_planted_error_in_a_modules_weight_gradient_is_caught_and_named(fast_mode):
    layer = PlantedLinear()
    x = batch(4, 3)
    with pytest.raises(GradcheckError, match="failed for parameter 'weight'"):
        gradcheck(layer, x, fast_mode=fast_mode)
    # the input's gradient alone is right: the error is only in the parameter
    assert gradcheck(lambda t: layer(t), x.requires_grad_(), fast_mode=fast_mode)


@pytest.mark.parametrize("fast_mode", [False, True], ids=["dense", "fast"])
def test_gradgradcheck_checks_a_modules_parameters_too(fast_mode):
    assert gradgradcheck(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), batch(2, 3), fast_mode=fast_mode)
    layer = PlantedSecondOrder()
    assert gradcheck(layer, batch(4, 3), fast_mode=fast_mode)  # first order is right
    with pytest.raises(GradcheckError, match=r"second order\) failed for parameter 'weight'"):
        gradgradcheck(layer, batch(4, 3), fast_mode=fast_mode)


def test_the_module_is_restored_dtype_values_grad_and_requires_grad():
    layer = nn.Linear(3, 2)
    layer.bias.requires_grad_(False)
    layer.weight.grad = ag.tensor(np.ones((2, 3), dtype=np.float32))
    weight, grad, bias = layer.weight.data, layer.weight.grad, layer.bias.data.copy()
    assert gradcheck(layer, batch(2, 3))
    assert layer.weight.data is weight and layer.weight.dtype == np.float32
    assert layer.weight.grad is grad
    np.testing.assert_array_equal(layer.bias.data, bias)
    assert layer.bias.dtype == np.float32 and not layer.bias.requires_grad


def test_the_module_is_restored_even_when_the_check_fails():
    layer = PlantedLinear()
    weight = layer.weight.data
    assert not gradcheck(layer, batch(4, 3), raise_exception=False)
    assert layer.weight.data is weight and layer.weight.dtype == np.float32


def test_buffers_updated_by_the_forward_pass_get_their_values_back():
    bn = nn.BatchNorm1d(3)
    mean = bn.running_mean.data.copy()
    assert gradcheck(bn, batch(5, 3))
    np.testing.assert_array_equal(bn.running_mean.data, mean)


def test_params_checks_tensors_that_a_function_closes_over():
    w = ag.tensor(np.array([[1.0, -2.0], [0.5, 3.0]]), requires_grad=True, name="w")
    x = batch(3, 2)
    assert gradcheck(lambda t: MatmulWrongWeightGrad.apply(t, w), x)  # w is not looked at
    with pytest.raises(GradcheckError, match=r"failed for param 0 \('w'\)"):
        gradcheck(lambda t: MatmulWrongWeightGrad.apply(t, w), x, params=[w])
    assert w.dtype == np.float64 and w.grad is None


def test_params_overrides_a_modules_own_parameters():
    layer = PlantedLinear()
    assert gradcheck(layer, batch(4, 3), params=[layer.bias])  # the wrong weight gradient is not looked at
    assert gradcheck(layer, batch(4, 3), params=[])


def test_fast_mode_uses_a_few_evaluations_instead_of_one_per_element():
    calls = []
    layer = nn.Linear(20, 10)

    def counted(t):
        calls.append(1)
        return layer(t)

    gradcheck(counted, batch(4, 20), params=list(layer.parameters()), fast_mode=True)
    fast = len(calls)
    calls.clear()
    gradcheck(counted, batch(4, 20), params=list(layer.parameters()))
    assert fast <= 10 and len(calls) > 2 * (4 * 20 + 10 * 20 + 10)


def test_fast_mode_failure_names_the_projection_and_both_values():
    with pytest.raises(GradcheckError) as info:
        gradcheck(PlantedLinear(), batch(4, 3), fast_mode=True)
    msg = str(info.value)
    assert "random projection v . J . u" in msg and "parameter 'weight'" in msg
    assert "analytic:" in msg and "numerical:" in msg


def test_a_module_without_floating_inputs_is_checked_through_its_parameters():
    report = first_order_report(Rows(), [np.array([0, 2, 2, 4])])
    assert report.ok and report.entries == 4 * 3 * 5 * 3


def test_the_readmes_gradient_testing_examples_run():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Gradient testing") :].split("\n## ")[0]
    layer_block, softplus_block = (
        next(b for b in re.findall(r"```python\n(.*?)```", section, flags=re.S) if key in b)
        for key in ("gradcheck(layer, x", "programs(Softplus.apply)")
    )
    exec(layer_block, {})
    namespace: dict = {}
    exec(softplus_block, namespace)
    namespace["test_softplus_in_programs"]()  # hypothesis runs it over drawn programs


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_a_random_module_is_refused_with_the_reason_not_blamed_on_its_gradients(check):
    # dropout in train mode draws a new mask per call: differences measure the mask, not a slope
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    x = ag.tensor(np.ones((8, 3)))  # 24 outputs: two equal masks have chance 2 ** -24
    with pytest.raises(ValueError, match=rf"{check.__name__}: f gives different outputs at the same inputs.*eval\(\)"):
        check(model, x)
    model.eval()
    assert check(model, x)
