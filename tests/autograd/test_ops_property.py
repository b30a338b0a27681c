"""Every op of the database through gradcheck and gradgradcheck, on inputs drawn by hypothesis."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd import Function
from autograd.testing import OPS, OpInfo, gradcheck, gradgradcheck, run_gradchecks
from autograd.testing.opdb import Input, inputs, sample
from autograd.testing.sources import DOMAINS, NumpySource

by_name = pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])


@by_name
@given(data=st.data())
def test_first_order_gradients_match_central_differences(op, data):
    args = data.draw(inputs(op), label="inputs")
    assert gradcheck(op.fn, *args)


@by_name
@given(data=st.data())
def test_second_order_gradients_match_central_differences(op, data):
    args = data.draw(inputs(op), label="inputs")
    assert gradgradcheck(op.fn, *args)


# --- the database itself ------------------------------------------------------------------------------
CONTRACT_OPS = [
    *("add", "sub", "mul", "div", "pow", "rpow", "neg"),
    *("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "clip", "maximum", "minimum", "where"),
    *("sum", "mean", "max", "min", "var", "std", "logsumexp"),
    *("reshape", "transpose", "permute", "swapaxes", "flatten", "squeeze", "unsqueeze", "broadcast_to", "expand"),
    *("getitem", "concatenate", "stack", "split", "pad", "unfold", "matmul", "tensordot", "einsum"),
]


@pytest.mark.parametrize("name", CONTRACT_OPS)
def test_every_public_op_of_the_contract_is_in_the_database(name):
    assert any(op.name == name or op.name.startswith(name + "_") for op in OPS)


def test_op_names_are_unique():
    names = [op.name for op in OPS]
    assert len(names) == len(set(names))


def test_reductions_come_with_axis_and_keepdims_variants():
    for name in ("sum", "mean", "max", "min", "var", "std", "logsumexp"):
        assert {name, f"{name}_axis=-1_keepdims", f"{name}_axis=(0,-1)"} <= {op.name for op in OPS}


def test_getitem_covers_every_kind_of_index():
    fns = {op.name: op.fn for op in OPS if op.name.startswith("getitem")}
    x = ag.tensor(np.arange(12.0).reshape(3, 4) - 5.5)
    # ints, slices, None, Ellipsis, integer arrays with repeats and boolean masks all appear
    assert fns["getitem_int"](x).shape == (4,)
    assert fns["getitem_slices"](x).shape == (2, 2)
    assert fns["getitem_none"](x).shape == (1, 3, 1, 4)
    assert fns["getitem_ellipsis"](x).shape == (3,)
    assert fns["getitem_repeated_indices"](x).shape == (4, 4)
    assert fns["getitem_mask"](x).shape == (6,)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_sampled_inputs_lie_in_their_domains_and_the_op_accepts_them(op):
    rng = np.random.default_rng(1)
    for _ in range(3):
        args = sample(op, rng)
        for spec, x in zip(op.inputs, args):
            assert x.dtype == np.float64 and x.requires_grad == spec.requires_grad
            if spec.domain in ("positive", "away_from_zero"):
                assert np.all(np.abs(x.data) >= 0.2)
            if spec.domain == "distinct" and x.size > 1:
                assert np.diff(np.sort(x.data, axis=None)).min() >= 0.1 - 1e-12
        op.fn(*args)


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_each_domain_contains_what_it_draws_and_not_what_it_avoids(name):
    domain = DOMAINS[name]
    drawn = domain.draw(NumpySource(np.random.default_rng(2)), (50,))
    assert domain.contains(drawn)
    if name != "real":
        assert not domain.contains(np.zeros(3))  # a pole (0 or zero variance) is outside


def test_kinks_are_no_longer_avoided():
    kinked = ("relu", "abs", "clip", "clip_min", "maximum", "minimum", "max", "min", "where")
    assert all(op.inputs[0].domain == "real" for op in OPS if op.name in kinked)


def test_numpy_samples_are_reproducible_from_the_seed():
    op = next(op for op in OPS if op.name == "matmul_batched_broadcast")
    first, second = sample(op, np.random.default_rng(5)), sample(op, np.random.default_rng(5))
    assert [x.shape for x in first] == [x.shape for x in second]
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x.data, y.data)


# --- run_gradchecks, the CLI's entry point ------------------------------------------------------------
def test_run_gradchecks_reports_both_orders_for_each_op():
    ops = [op for op in OPS if op.name in ("mul", "logsumexp_axis=-1_keepdims", "unfold")]
    results = run_gradchecks(ops, seed=3)
    assert [(r.op, r.order) for r in results] == [(op.name, k) for op in ops for k in (1, 2)]
    assert all(r.passed and 0 <= r.max_abs_error < 1e-6 and r.max_rel_error < 1e-6 for r in results)
    assert all(r.seconds > 0 and r.kinks == 0 for r in results)


class _WrongCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x**2  # should be 3 x^2


class _Broken(Function):
    @staticmethod
    def forward(ctx, x):
        return x.data

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("boom")


def test_run_gradchecks_reports_a_wrong_op_as_failed_and_a_crashing_one_with_nan():
    wrong = OpInfo("cube", _WrongCube.apply, None, (Input("away_from_zero"),))
    broken = OpInfo("broken", _Broken.apply, None, (Input(),))
    first, _, crash, _ = run_gradchecks([wrong, broken])
    assert not first.passed and first.max_abs_error > 0.01
    assert not crash.passed and math.isnan(crash.max_abs_error)

