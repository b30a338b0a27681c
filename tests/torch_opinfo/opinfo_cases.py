"""PyTorch's OpInfo database as a source of test samples for chainrule's ops.

``torch.testing._internal.common_methods_invocations.op_db`` lists, for each PyTorch op, a
function that yields sample calls (an input, positional and keyword arguments) chosen by
PyTorch's developers to reach the corner cases: broadcasting both ways, 0-d and empty tensors,
negative axes, keepdim, every keyword. ``ENTRIES`` maps the OpInfos that chainrule has an
equivalent for to a chainrule call with PyTorch's signature; ``plan()`` turns every float64
sample of them into a ``Case``; ``run_case`` feeds a case to chainrule and to PyTorch and says
how they compare.

Importing this module needs torch and, for op_db, the ``expecttest`` package.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.testing._internal.common_methods_invocations import op_db

import autograd as ag
import nn
from autograd import Tensor

F = nn.functional
MAX_SAMPLES = 40  # per OpInfo: max_pool2d alone has 1,440; evenly spaced ones keep its variety
RTOL, ATOL = 1e-7, 1e-10  # float64 on both sides: only the order of sums differs


# --- translating PyTorch's spelling into chainrule's -----------------------------------------------
def _axis(dim: Any) -> Any:
    """PyTorch's ``dim`` as NumPy's ``axis``: a list becomes a tuple, and ``dim=[]`` means all axes."""
    if isinstance(dim, (list, tuple)):
        return tuple(dim) if dim else None
    return dim


def _scaled(x: Tensor, alpha: float) -> Tensor:
    return x if alpha == 1 else x * alpha


def _reduction(method: str) -> Callable:
    def call(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
        return getattr(x, method)(axis=_axis(dim), keepdims=keepdim)

    return call


def _spread(method: str) -> Callable:
    """var/std: PyTorch's default is the unbiased estimate (ddof 1); NumPy's is ddof 0."""

    def call(x: Tensor, *args: Any, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
             correction: float | None = None) -> Tensor:
        if args and isinstance(args[0], bool):  # the overload var(input, unbiased)
            unbiased = args[0]
        elif args:
            dim = args[0]
        ddof = correction if correction is not None else (0 if unbiased is False else 1)
        return getattr(x, method)(axis=_axis(dim), keepdims=keepdim, ddof=ddof)

    return call


def _max_with_dim(method: str, arg: str) -> Callable:
    """PyTorch's ``max(x, dim)``: the values and the indices of a NumPy-style reduction."""

    def call(x: Tensor, dim: int, keepdim: bool = False) -> tuple[Tensor, Tensor]:
        return getattr(x, method)(axis=dim, keepdims=keepdim), getattr(x, arg)(axis=dim, keepdims=keepdim)

    return call


def _softmax(function: Callable) -> Callable:
    def call(x: Tensor, dim: int, dtype: np.dtype | None = None) -> Tensor:
        return function(x if dtype is None else x.astype(dtype), axis=dim)

    return call


def _split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> list[Tensor]:
    """PyTorch gives piece sizes (one size, the last piece shorter, or a list); NumPy cut points."""
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        cuts = list(range(split_size_or_sections, n, split_size_or_sections))
    else:
        cuts = np.cumsum(split_size_or_sections)[:-1].tolist()
    return ag.split(x, cuts, axis=dim)


def _kwarg(name: str, *allowed: Any) -> Callable[[Any], str | None]:
    """A sample that passes ``name`` with a value outside ``allowed`` has no chainrule spelling."""

    def check(sample: Any) -> str | None:
        value = sample.kwargs.get(name, allowed[0] if allowed else None)
        return None if value in allowed else f"{name}={value!r}"

    return check


@dataclasses.dataclass(frozen=True)
class Entry:
    """One OpInfo and the chainrule call that stands for it.

    ``call`` takes the sample's arguments in PyTorch's order (tensors converted to chainrule's);
    ``needs`` names the chainrule function it uses, so that a function not written yet shows as
    absent instead of failing; ``names`` are the words a clear refusal must contain;
    ``untranslatable`` says why a sample has no chainrule spelling at all (or None);
    ``reference`` takes OpInfo's reference inputs (the samples plus extremal values: zeros, NaN,
    infinities, large and tiny numbers), which suit elementwise ops, where every float input is
    differentiable.
    """

    name: str
    variant: str = ""
    call: Callable | None = None
    needs: str = ""
    names: tuple[str, ...] = ()
    untranslatable: Callable[[Any], str | None] | None = None
    reference: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}.{self.variant}" if self.variant else self.name

    def resolve(self) -> Callable | None:
        """The chainrule callable, or None when the function it needs does not exist (yet)."""
        needs = self.needs or ("" if self.call else self.name)
        if needs:
            module, _, attr = needs.rpartition(".")
            owner = {"": ag, "Tensor": Tensor, "nn.functional": F}[module]
            if not hasattr(owner, attr):
                return None
            return self.call or getattr(owner, attr)
        return self.call

    def op_names(self) -> tuple[str, ...]:
        return self.names or ((self.needs or self.name).rpartition(".")[2],)


def _unary(method: str) -> Entry:
    return Entry(method, call=lambda x: getattr(x, method)(), names=(method,), reference=True)


def _functional(name: str, **options: Any) -> Entry:
    """An ``nn.functional`` op called exactly as PyTorch's, same argument order and keywords."""
    return Entry(f"nn.functional.{name}", **options)


ENTRIES = [
    # elementwise
    *[_unary(name) for name in ("abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid")],
    Entry("neg", call=lambda x: -x, names=("neg",), reference=True),
    Entry("square", call=lambda x: x**2, names=("pow",), reference=True),
    # alpha scales the second operand: x + alpha * y, spelled with chainrule's operators
    Entry("add", call=lambda x, y, alpha=1: x + _scaled(y, alpha), names=("add", "mul"), reference=True),
    Entry("sub", call=lambda x, y, alpha=1: x - _scaled(y, alpha), names=("sub", "mul"), reference=True),
    Entry("rsub", call=lambda x, y, alpha=1: y - _scaled(x, alpha), names=("sub", "mul"), reference=True),
    Entry("mul", call=lambda x, y: x * y, names=("mul",), reference=True),
    Entry("div", "no_rounding_mode", call=lambda x, y: x / y, names=("div",), reference=True),
    Entry("div", "trunc_rounding", untranslatable=_kwarg("rounding_mode"), names=("div",)),
    Entry("div", "floor_rounding", untranslatable=_kwarg("rounding_mode"), names=("div",)),
    Entry("true_divide", call=lambda x, y: x / y, names=("div",), reference=True),
    Entry("pow", call=lambda x, y: x**y, names=("pow",), reference=True),
    Entry("clamp", call=lambda x, min=None, max=None: x.clip(min, max), names=("clip", "clamp"), reference=True),  # noqa: A006
    Entry("maximum", names=("maximum",), reference=True),
    Entry("minimum", names=("minimum",), reference=True),
    Entry("max", "binary", call=ag.maximum, needs="maximum"),
    Entry("min", "binary", call=ag.minimum, needs="minimum"),
    Entry("where", call=lambda x, condition, other: ag.where(condition, x, other), names=("where",), reference=True),
    # reductions
    *[Entry(name, call=_reduction(name), names=(name,)) for name in ("sum", "mean", "logsumexp")],
    Entry("amax", call=_reduction("max"), names=("max", "amax")),
    Entry("amin", call=_reduction("min"), names=("min", "amin")),
    Entry("max", "reduction_no_dim", call=lambda x: x.max(), names=("max",)),
    Entry("min", "reduction_no_dim", call=lambda x: x.min(), names=("min",)),
    Entry("max", "reduction_with_dim", call=_max_with_dim("max", "argmax"), names=("max", "argmax")),
    Entry("min", "reduction_with_dim", call=_max_with_dim("min", "argmin"), names=("min", "argmin")),
    *[Entry(name, variant, call=_spread(name), names=(name, "var"))
      for name in ("var", "std") for variant in ("", "unbiased")],
    Entry("softmax", call=_softmax(F.softmax), names=("softmax",)),
    Entry("softmax", "with_dtype", call=_softmax(F.softmax), names=("softmax",)),
    Entry("log_softmax", call=_softmax(F.log_softmax), names=("log_softmax",)),
    Entry("log_softmax", "with_dtype", call=_softmax(F.log_softmax), names=("log_softmax",)),
    # linear algebra
    *[Entry(name, call=ag.matmul, needs="matmul", names=("matmul",)) for name in ("matmul", "mm", "bmm")],
    Entry("bmm", "triton_optimized", call=ag.matmul, needs="matmul", names=("matmul",)),
    Entry("tensordot", call=lambda x, y, dims=2: ag.tensordot(x, y, axes=dims)),
    Entry("einsum", call=lambda tensors, equation: ag.einsum(equation, *tensors)),
    # movement
    Entry("reshape", call=lambda x, shape: x.reshape(shape), names=("reshape",)),
    Entry("view", call=lambda x, shape: x.reshape(shape), names=("reshape", "view")),
    Entry("transpose", call=lambda x, dim0, dim1: x.swapaxes(dim0, dim1), names=("swapaxes", "transpose")),
    Entry("permute", call=lambda x, dims: x.permute(*dims), names=("permute", "transpose")),
    Entry("squeeze", call=lambda x, dim=None: x.squeeze(_axis(dim)), names=("squeeze",)),
    Entry("squeeze", "multiple", call=lambda x, dim=None: x.squeeze(tuple(dim)), names=("squeeze",)),
    Entry("unsqueeze", call=lambda x, dim: x.unsqueeze(dim), names=("unsqueeze",)),
    Entry("flatten", call=lambda x, start_dim=0, end_dim=-1: x.flatten(start_dim, end_dim), names=("flatten",)),
    Entry("cat", call=lambda tensors, dim=0: ag.concatenate(tensors, axis=dim), needs="concatenate",
          names=("concatenate", "cat")),
    Entry("stack", call=lambda tensors, dim=0: ag.stack(tensors, axis=dim)),
    Entry("split", call=_split, names=("split",)),
    Entry("split", "list_args", call=_split, names=("split",)),
    *[_functional("pad", variant=mode)
      for mode in ("constant", "reflect", "replicate", "replicate_negative", "circular")],
    # layers, activations and losses, called with PyTorch's own arguments
    *[_functional(name, reference=True) for name in ("relu", "leaky_relu", "elu", "gelu", "silu")],
    *[_functional(name) for name in (
        "conv2d", "max_pool2d", "avg_pool2d", "linear", "prelu", "layer_norm", "batch_norm", "cross_entropy",
        "nll_loss", "binary_cross_entropy_with_logits", "multi_margin_loss", "binary_cross_entropy", "l1_loss",
        "smooth_l1_loss", "huber_loss", "normalize")],
    _functional("embedding", call=lambda weight, idx, **kwargs: F.embedding(idx, weight, **kwargs),
                needs="nn.functional.embedding"),
]


# --- cases -------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Case:
    entry: Entry
    index: int  # the sample's position in the OpInfo's float64 samples
    sample: Any  # torch's SampleInput
    status: str  # "run", "absent" (no chainrule function yet) or "untranslatable"
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.entry.key}-{self.index}"

    def describe(self) -> str:
        """The sample's shapes and arguments, compactly: ``(5, 1) (5,) alpha=2``."""
        parts = [_describe(self.sample.input), *map(_describe, self.sample.args)]
        parts += [f"{k}={_describe(v)}" for k, v in self.sample.kwargs.items()]
        return " ".join(parts)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        dtype = "" if value.dtype == torch.float64 else f":{str(value.dtype).removeprefix('torch.')}"
        return f"{tuple(value.shape)}{dtype}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
        return "[" + ", ".join(map(_describe, value)) + "]"
    return repr(value)


@functools.cache
def plan() -> tuple[Case, ...]:
    """Every float64 sample of every entry (at most ``MAX_SAMPLES`` per OpInfo), in a fixed order."""
    infos = {(op.name, op.variant_test_name): op for op in op_db}
    cases = []
    for entry in ENTRIES:
        info = infos[entry.name, entry.variant]
        torch.manual_seed(0)  # sample values are drawn from torch's generator
        if entry.reference:
            samples = [sample.transform(_differentiable) for sample in info.reference_inputs("cpu", torch.float64)]
        else:
            samples = list(info.sample_inputs("cpu", torch.float64, requires_grad=True))
        step = math.ceil(len(samples) / MAX_SAMPLES)
        available = entry.resolve() is not None
        for index in range(0, len(samples), step):
            sample = samples[index]
            reason = _outside_chainrule(sample) or (entry.untranslatable(sample) if entry.untranslatable else None)
            if reason:
                status = "untranslatable"
            elif not available:
                status, reason = "absent", f"chainrule has no {entry.needs or entry.name} yet"
            else:
                status = "run"
            cases.append(Case(entry, index, sample, status, reason or ""))
    return tuple(cases)


def not_run_counts() -> dict[str, dict[str, int]]:
    """Per entry, how many samples never became tests: {"absent": n, "untranslatable": m}."""
    counts: dict[str, dict[str, int]] = {}
    for case in plan():
        if case.status != "run":
            per_op = counts.setdefault(case.entry.key, {})
            per_op[case.status] = per_op.get(case.status, 0) + 1
    return counts


def _outside_chainrule(sample: Any) -> str | None:
    """Samples that no chainrule op could take: Python numbers only, or complex numbers."""
    values = [sample.input, *sample.args, *sample.kwargs.values()]
    tensors = _leaves(values, torch.Tensor)
    if not tensors:
        return "Python numbers only, no tensor"
    if any(t.is_complex() for t in tensors) or _leaves(values, complex):
        return "complex numbers"
    return None


def _differentiable(t: Any) -> Any:
    return t.detach().clone().requires_grad_(t.is_floating_point()) if isinstance(t, torch.Tensor) else t


def torch_op(entry: Entry) -> Any:
    return next(op for op in op_db if (op.name, op.variant_test_name) == (entry.name, entry.variant))


# --- running a case ----------------------------------------------------------------------------------
def _to_chainrule(value: Any) -> Any:
    """Torch tensors become chainrule Tensors of the same dtype (and requires_grad); dtypes NumPy's."""
    if isinstance(value, torch.Tensor):
        array = value.detach().numpy().copy()
        return Tensor(array, requires_grad=value.requires_grad and value.is_floating_point())
    if isinstance(value, torch.dtype):
        return torch.empty((), dtype=value).numpy().dtype
    if isinstance(value, (list, tuple)):
        return type(value)(_to_chainrule(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_chainrule(v) for k, v in value.items()}
    return value


def _leaves(value: Any, kind: type) -> list:
    """The objects of type ``kind`` in a nest of lists, tuples and dicts, in order."""
    if isinstance(value, kind):
        return [value]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v, kind)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v, kind)]
    return []


def names_op(message: str, names: tuple[str, ...]) -> bool:
    """Whether an error message names the op as a word (``max`` in "max: axis 3", not in "_max")."""
    return any(re.search(rf"(?<![\w]){re.escape(name)}(?!\w)", message) for name in names)


def run_case(case: Case) -> tuple[str, str]:
    """Feed one sample to chainrule and to PyTorch: (outcome, detail).

    The outcome is "matched", "refused", "mismatched", "crashed", or "torch fails" when PyTorch
    itself cannot run the sample (then there is nothing to compare with).

    Values are compared, then the gradients of every input that requires grad for a random
    weighted sum of the outputs (the same weights on both sides), with ``RTOL``/``ATOL``.
    """
    sample, entry = case.sample, case.entry
    inputs = (sample.input, sample.args, sample.kwargs)
    ours_in = _to_chainrule(inputs)  # before torch runs: batch_norm updates its running statistics
    try:
        expected = torch_op(entry)(sample.input, *sample.args, **sample.kwargs)
    except Exception as error:  # noqa: BLE001 (then there is nothing to compare with)
        return "torch fails", f"{type(error).__name__}: {error}"
    try:
        actual = entry.resolve()(ours_in[0], *ours_in[1], **ours_in[2])
    except Exception as error:  # noqa: BLE001 (how it fails is the finding)
        return _failure(error, entry, "")
    expected_out, actual_out = _leaves(expected, torch.Tensor), _leaves(actual, Tensor)
    if len(expected_out) != len(actual_out):
        return "mismatched", f"{len(actual_out)} outputs, torch gives {len(expected_out)}"
    for i, (want, got) in enumerate(zip(expected_out, actual_out)):
        problem = _differs(got.data, want.detach().numpy())
        if problem:
            return "mismatched", f"output {i}: {problem}"

    torch_in = [t for t in _leaves(inputs, torch.Tensor) if t.requires_grad]
    ours = [t for t in _leaves(ours_in, Tensor) if t.requires_grad]
    pairs = [(w, g) for w, g in zip(expected_out, actual_out) if w.requires_grad]
    if not torch_in or not pairs:
        return "matched", "values"
    rng = np.random.default_rng(case.index)
    weights = [rng.standard_normal(w.shape) for w, _ in pairs]
    torch_loss = sum((w * torch.from_numpy(v)).sum() for (w, _), v in zip(pairs, weights))
    try:
        torch_grads = torch.autograd.grad(torch_loss, torch_in, allow_unused=True)
    except RuntimeError as error:  # e.g. clamp's backward when the bounds broadcast the output larger
        return "torch fails", f"backward: {error}"
    try:
        loss = sum((g * Tensor(v)).sum() for (_, g), v in zip(pairs, weights))
        if loss.requires_grad:
            loss.backward()
    except Exception as error:  # noqa: BLE001
        return _failure(error, entry, "backward: ")
    for i, (tensor, want) in enumerate(zip(ours, torch_grads)):
        got = np.zeros(tensor.shape) if tensor.grad is None else tensor.grad.data
        problem = _differs(got, np.zeros(tensor.shape) if want is None else want.numpy(), check_dtype=False)
        if problem:
            return "mismatched", f"gradient of input {i}: {problem}"
    return "matched", "values and gradients"


def _failure(error: Exception, entry: Entry, where: str) -> tuple[str, str]:
    """A refusal is a ValueError, TypeError or NotImplementedError whose message names the op."""
    text = f"{where}{type(error).__name__}: {error}"
    if isinstance(error, (ValueError, TypeError, NotImplementedError)) and names_op(str(error), entry.op_names()):
        return "refused", text
    return "crashed", text


def _differs(got: np.ndarray, want: np.ndarray, check_dtype: bool = True) -> str:
    """What differs between two arrays ("" when nothing does): shape, dtype, or the worst value."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {got.shape}, torch {want.shape}"
    if check_dtype and got.dtype != want.dtype:
        return f"dtype {got.dtype}, torch {want.dtype}"
    if want.dtype == bool or got.size == 0:
        return "" if np.array_equal(got, want) else "values differ"
    got, want = got.astype(np.float64), want.astype(np.float64)
    close = np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    if close.all():
        return ""
    worst = np.unravel_index(np.argmax(~close), close.shape)
    where = tuple(map(int, worst))
    return f"{(~close).sum()} of {close.size} values differ, e.g. at {where}: {got[worst]!r}, torch {want[worst]!r}"
