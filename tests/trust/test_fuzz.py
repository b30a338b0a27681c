"""Random programs of autograd ops: values, first and second derivatives against central differences
and against PyTorch (the same program, interpreted on torch tensors), all in float64.

The default run checks the hypothesis profile's budget of programs per test; `make fuzz` runs the
slow test below with CHAINRULE_FUZZ_EXAMPLES programs and prints how many it checked.
"""

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import autograd as ag
from autograd.testing import gradcheck, gradgradcheck
from autograd.testing.programs import Case, cases, sample

# the torch fixture only switches torch's default dtype, so sharing it across examples is safe
with_torch_fixture = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
)
TOL = {"rtol": 1e-9, "atol": 1e-11}


def check_numerically(case: Case) -> None:
    """Every Jacobian of the program, and of its backward pass, against central differences."""
    xs = case.leaves()
    assert gradcheck(case.program, *xs)
    assert gradgradcheck(case.program, *xs)


def _first_and_second(grad, outs, xs, vs, us, requires_grad):
    """v^T J (the gradients) and the Hessian-vector products d(u . v^T J)/dx, zeros where unused."""
    firsts = grad(outs, xs, grad_outputs=vs, create_graph=True, allow_unused=True)
    pairs = [(g * u).sum() for g, u in zip(firsts, us) if g is not None and requires_grad(g)]
    seconds = [None] * len(xs)
    if pairs:
        seconds = grad([sum(pairs[1:], pairs[0])], xs, allow_unused=True)
    return firsts, seconds


def _numpy(t) -> np.ndarray:
    """A PyTorch result as an array. Cloned first: PyTorch 2.13 can return a Hessian-vector product as a
    strided view of a ZeroTensor (stack along the last axis), and numpy(force=True) of that view reads
    memory that is not there (garbage values, or a segfault, at `make fuzz` seed 1505 of `sample`)."""
    return t.detach().clone().numpy(force=True)


def check_against_torch(case: Case, torch) -> None:
    """Values, gradients and Hessian-vector products equal PyTorch's for the same program."""
    rng = np.random.default_rng(0)
    xs = case.leaves()
    txs = [torch.tensor(a, requires_grad=True) for a in case.inputs]
    outs, touts = case.program(*xs), case.program.run_torch(torch, *txs)
    for i, (o, t) in enumerate(zip(outs, touts)):
        assert o.shape == tuple(t.shape) and o.dtype == np.float64, f"output {i}"
        np.testing.assert_allclose(o.data, _numpy(t), **TOL, err_msg=f"value of output {i}")

    vs = [rng.standard_normal(o.shape) for o in outs]
    us = [rng.standard_normal(x.shape) for x in xs]
    ours = _first_and_second(
        ag.grad, outs, xs, [ag.tensor(v) for v in vs], [ag.tensor(u) for u in us], lambda g: g.requires_grad
    )
    theirs = _first_and_second(
        torch.autograd.grad, touts, txs, [torch.tensor(v) for v in vs], [torch.tensor(u) for u in us],
        lambda g: g.requires_grad,
    )
    for order, mine, ref in zip(("gradient", "Hessian-vector product"), ours, theirs):
        for i, (g, t) in enumerate(zip(mine, ref)):
            expected = np.zeros(xs[i].shape) if t is None else _numpy(t)
            actual = np.zeros(xs[i].shape) if g is None else g.data
            assert actual.shape == xs[i].shape, f"{order} of input {i}"
            np.testing.assert_allclose(actual, expected, **TOL, err_msg=f"{order} of input {i}")


@given(case=cases())
def test_random_programs_agree_with_numerical_first_and_second_derivatives(case):
    check_numerically(case)


@pytest.mark.torch
@with_torch_fixture
@given(case=cases())
def test_random_programs_agree_with_pytorch_values_gradients_and_hessian_vector_products(case, torch):
    check_against_torch(case, torch)


def test_the_generator_makes_varied_programs_with_fan_out_and_several_inputs():
    cases_ = [sample(seed) for seed in range(200)]
    families = {step.op.split("_")[0] for c in cases_ for step in c.program.steps}  # the database's names
    assert families >= {"add", "matmul", "einsum", "getitem", "concatenate", "pad", "unfold", "max", "logsumexp"}
    assert families >= {"reshape", "relu", "abs", "maximum", "where", "log", "sqrt", "div", "tensordot", "std"}
    fan_out = 0
    for c in cases_:
        steps = c.program.steps
        reads = [i for s in steps for i in s.args]
        assert 2 <= sum(s.op != "input" for s in steps) <= 8
        # the outputs are exactly the values that no step reads, so every op reaches an output
        assert c.program.outputs == tuple(i for i, s in enumerate(steps) if s.op != "input" and i not in reads)
        fan_out += any(reads.count(v) > 1 for v in range(len(steps)))
    assert fan_out > 50 and sum(len(c.inputs) > 1 for c in cases_) > 50


def test_a_program_is_data_that_both_interpreters_read():
    case = sample(3)
    assert repr(case.program).splitlines()[-1].startswith("outputs: v")
    again = sample(3)  # the same seed gives the same program and inputs
    assert again.program == case.program
    assert all(np.array_equal(a, b) for a, b in zip(again.inputs, case.inputs))


@pytest.mark.slow
def test_fuzz_random_programs():
    """`make fuzz`: the profile's budget of programs through every check (PyTorch's where installed)."""
    torch = None
    if importlib.util.find_spec("torch") is not None:
        import torch
    checked = []

    @given(cases())
    def check(case):
        check_numerically(case)
        if torch is not None:
            check_against_torch(case, torch)
        checked.append(case)

    check()
    budget = int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "20"))  # the profile's, read where no import can change it
    against = "numerical derivatives and PyTorch" if torch is not None else "numerical derivatives"
    print(f"\nfuzzed {len(checked)} random programs against {against}")
    assert len(checked) >= budget, f"only {len(checked)} of {budget} programs were checked"


@pytest.mark.torch
def test_a_pytorch_result_that_is_a_zero_tensor_view_is_read_as_its_zeros(torch):
    # sample 1505 stacks along the last axis: PyTorch's Hessian-vector product is a strided ZeroTensor view
    check_against_torch(sample(1505), torch)
