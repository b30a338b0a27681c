"""Every float64 sample of PyTorch's OpInfo database for the ops chainrule has: values and
gradients match PyTorch's, or chainrule refuses the call with an error that names the op.

Never a silent mismatch, never an unrelated crash. The samples come from
``torch.testing._internal.common_methods_invocations.op_db`` (opinfo_cases.py maps the ops);
a run prints a per-op table of matched / refused / mismatched / crashed samples. Samples that
fail today because of known bugs are strict xfails: the fix turns each into a failure that asks
for its entry in ``KNOWN_BUGS`` to be removed.
"""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is an optional reference: `make torch`")
try:
    import opinfo_cases
except ModuleNotFoundError as error:  # op_db imports test-only packages, e.g. expecttest
    pytest.skip(f"PyTorch's OpInfo database needs the {error.name!r} package (pip install {error.name})",
                allow_module_level=True)

from autograd import Function  # noqa: E402 (after the skips: the module needs torch first)

pytestmark = [
    pytest.mark.torch,
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # NumPy on the extremal samples: inf, NaN, 0 ** -1
    pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),  # PyTorch on one conv2d sample
]


# case id -> why the sample does not match today; each is a strict xfail, so a change that makes it
# match fails the run until its entry goes
KNOWN_BUGS: dict[str, str] = {
    **{f"nn.functional.elu-{i}": "PyTorch disagrees with itself at NaN inputs: its vectorised elu kernel (this "
       "(128, 128) sample) gives a NaN gradient, its scalar path (the (9,) samples) gives 1, as chainrule does"
       for i in (13, 27)},
}

CASES = opinfo_cases.plan()


def _param(case):
    marks = pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case.id]) if case.id in KNOWN_BUGS else ()
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES if case.status == "run"])
def test_sample_matches_torch_or_is_refused_clearly(case, request):
    outcome, detail = opinfo_cases.run_case(case)
    request.node.user_properties.append(("opinfo", (case.entry.key, outcome, case.describe(), detail)))
    if outcome == "torch fails":
        pytest.skip(f"PyTorch itself fails on this sample, so there is no reference: {detail}")
    assert outcome in ("matched", "refused"), f"{case.entry.key} {case.describe()}: {outcome}: {detail}"


def test_every_known_bug_names_a_sample_that_runs():
    runnable = {case.id for case in CASES if case.status == "run"}
    assert sorted(set(KNOWN_BUGS) - runnable) == []


# --- the harness itself: it must see what it is there to see -------------------------------------
def _with_call(case_id, call, **changes):
    case = next(case for case in CASES if case.id == case_id)
    return dataclasses.replace(case, entry=dataclasses.replace(case.entry, call=call, **changes))


class _ExpWithWrongGradient(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.exp(x.data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.exp() * 1.001


def _raise(error):
    def call(*args, **kwargs):
        raise error

    return call


@pytest.mark.parametrize(
    ("call", "outcome", "detail"),
    [
        (lambda x: x.exp(), "matched", "values and gradients"),
        (lambda x: x.exp() * (1 + 1e-6), "mismatched", "output 0"),
        (_ExpWithWrongGradient.apply, "mismatched", "gradient of input 0"),
        (lambda x: x.exp().astype(np.float32), "mismatched", "dtype float32"),
        (_raise(ValueError("exp: this shape is refused")), "refused", "ValueError: exp: this shape"),
        (_raise(ValueError("zero-size array to reduction operation")), "crashed", "ValueError"),
        (_raise(IndexError("exp: index 3 is out of bounds")), "crashed", "IndexError"),
        (_raise(TypeError("_exp() got an unexpected keyword argument")), "crashed", "TypeError"),
    ],
    ids=["right", "wrong-value", "wrong-gradient", "wrong-dtype", "clear-refusal", "unnamed-error",
         "index-error", "adapter-name"],
)
def test_the_harness_tells_matches_refusals_mismatches_and_crashes_apart(call, outcome, detail):
    got, message = opinfo_cases.run_case(_with_call("exp-2", call, names=("exp",)))
    assert got == outcome and detail in message, message
