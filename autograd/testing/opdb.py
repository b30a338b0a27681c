"""The op database: every differentiable op of autograd, the one list of them.

Each `OpInfo` calls one op (``fn``), names its PyTorch twin (``torch_fn``, called with torch
tensors by the comparison tests) and describes each input: a value domain that avoids poles
(log on positives, divisors away from 0) and a shape that is drawn freely or from the earlier
inputs' shapes (broadcasting, matching inner sizes). Kinks need no domain: relu is checked at 0
and max at ties, where gradcheck accepts any subgradient.

From this list come the property tests (`inputs`, drawn by hypothesis), ``chainrule gradcheck``
(`run_gradchecks`, on a seeded NumPy generator) and the random programs of
`autograd.testing.programs`. Adding an op is a Function, its Tensor method and one entry here.
"""

from __future__ import annotations

import functools
import math
import operator
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

import autograd as ag

from ..ops.elementwise import SigmoidGrad, TanhGrad
from ..ops.linalg import Linear
from ..tensor import Tensor
from .gradcheck import first_order_report, second_order_report
from .sources import DOMAINS, MAX_SIDE, AnyShape, Dims, Fixed, HypothesisSource, NumpySource, Source, broadcast, same
from .sources import broadcastable as _broadcastable

ShapeSpec = Callable[[list[Dims], Source], Dims]  # (shapes of the earlier inputs, source) -> shape


shape = AnyShape  # shape(min_dims, max_dims, min_side, max_side): any shape within the bounds


# --- the database -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    """One argument of an op: its value domain (a key of `sources.DOMAINS`) and its shape."""

    domain: str = "real"
    shape: ShapeSpec = field(default_factory=AnyShape)
    requires_grad: bool = True


@dataclass(frozen=True)
class OpInfo:
    """An op under test: ``fn(*inputs)``, and ``torch_fn(torch, *inputs)`` on torch tensors."""

    name: str
    fn: Callable[..., Any] = field(repr=False)
    torch_fn: Callable[..., Any] | None = field(repr=False)
    inputs: tuple[Input, ...] = field(repr=False)
    notes: str = field(default="", repr=False)


def _op(
    name: str, fn: Callable, *inputs: Input | ShapeSpec, torch_fn: Callable | None = None, notes: str = ""
) -> OpInfo:
    """An OpInfo; one real input of any shape unless given (a bare shape spec: a real input of that
    shape), the same expression in torch unless given (operators and methods read the same there)."""
    specs = tuple(i if isinstance(i, Input) else Input("real", i) for i in inputs)
    return OpInfo(name, fn, torch_fn or (lambda torch, *xs: fn(*xs)), specs or (Input(),), notes)


def _binary(name: str, fn: Callable, a: str = "real", b: str = "real", torch_fn: Callable | None = None) -> OpInfo:
    """A binary op whose second input's shape broadcasts with the first's, both ways."""
    return _op(name, fn, Input(a), Input(b, broadcast(0)), torch_fn=torch_fn)


def _dims(axis: Any, ndim: int) -> Any:
    """PyTorch's ``dim`` for NumPy's ``axis`` (None means every axis)."""
    return tuple(range(ndim)) if axis is None else axis


_REDUCTIONS: list[tuple[str, str, Callable, str]] = [
    # name, domain, torch reduction taking (x, dims, keepdim)
    ("sum", "real", lambda x, d, k: x.sum(d, keepdim=k), ""),
    ("mean", "real", lambda x, d, k: x.mean(d, keepdim=k), ""),
    ("max", "real", lambda x, d, k: x.amax(d, keepdim=k), "ties split the gradient (tests/autograd/test_kinks.py)"),
    ("min", "real", lambda x, d, k: x.amin(d, keepdim=k), "ties split the gradient (tests/autograd/test_kinks.py)"),
    ("var", "real", lambda x, d, k: x.var(d, correction=0, keepdim=k), ""),
    ("std", "distinct", lambda x, d, k: x.std(d, correction=0, keepdim=k), "sqrt kink at zero variance"),
    ("logsumexp", "real", lambda x, d, k: x.logsumexp(d, keepdim=k), ""),
]
_AXES: list[tuple[str, Any, bool, int]] = [
    ("", None, False, 0),
    ("_axis=-1_keepdims", -1, True, 1),
    ("_axis=(0,-1)", (0, -1), False, 2),
]


def _reduction(
    name: str, domain: str, torch_reduce: Callable, notes: str, suffix: str, axis: Any, keepdims: bool, min_dims: int
) -> OpInfo:
    # std needs two or more elements in each reduced group, or its variance is 0
    spec = shape(max(min_dims, 1), min_side=2) if name == "std" else shape(min_dims)
    return _op(
        name + suffix,
        lambda x: getattr(x, name)(axis=axis, keepdims=keepdims),
        Input(domain, spec),
        torch_fn=lambda torch, x: torch_reduce(x, _dims(axis, x.ndim), keepdims),
        notes=notes,
    )


def _einsum(subscripts: str) -> OpInfo:
    """An einsum over operands whose letters get one drawn size each, shared between operands."""
    operands = subscripts.split("->")[0].split(",")

    def operand_shape(k: int) -> ShapeSpec:
        if k == 0:
            return shape(len(operands[0]), len(operands[0]))

        def spec(prev: list[Dims], src: Source) -> Dims:
            sizes: dict[str, int] = {}
            for letters, s in zip(operands, prev):
                sizes.update(zip(letters, s))
            return tuple(sizes[c] if c in sizes else sizes.setdefault(c, src.integer(1, MAX_SIDE)) for c in operands[k])

        return spec

    return _op(
        f"einsum_{subscripts}",
        lambda *ts: ag.einsum(subscripts, *ts),
        *(Input("real", operand_shape(k)) for k in range(len(operands))),
        torch_fn=lambda torch, *ts: torch.einsum(subscripts, *ts),
    )


def _operand_of(*from_a: int | slice, free: int = 1) -> ShapeSpec:
    """The second operand of a contraction: sizes taken from input 0's axes, then free axes."""

    def spec(prev: list[Dims], src: Source) -> Dims:
        a = prev[0]
        taken = tuple(x for i in from_a for x in (a[i] if isinstance(i, slice) else (a[i],)))
        return taken + shape(0, free)(prev, src)

    return spec


def _batched_operand(prev: list[Dims], src: Source) -> Dims:
    """b for a @ b with stacks of matrices: batch axes broadcast with a's (both ways), rows = a's columns."""
    a = prev[0]
    return _broadcastable(src, a[:-2]) + (a[-1], src.integer(1, MAX_SIDE))


def _setitem(x: Any, index: Any, value: Any) -> Any:
    """``x[index] = value`` as an expression, on a copy of x (``x * 1``, so no leaf is changed in place)."""
    y = x * 1
    y[index] = value
    return y


def _summed_shape(dims: Dims) -> Dims:
    return tuple(1 if i % 2 else n for i, n in enumerate(dims[1:]))


OPS: list[OpInfo] = [
    # arithmetic, with Python scalars too
    _binary("add", lambda a, b: a + b),
    _binary("sub", lambda a, b: a - b),
    _binary("mul", lambda a, b: a * b),
    _binary("div", lambda a, b: a / b, b="away_from_zero"),
    _binary("pow", lambda a, b: a**b, a="positive"),
    _op("add_scalar", lambda x: x + 2.5),
    _op("rsub_scalar", lambda x: 1.5 - x),
    _op("rdiv_scalar", lambda x: 2.0 / x, Input("away_from_zero")),
    _op("pow_int", lambda x: x**3),
    _op("pow_fraction", lambda x: x**-1.5, Input("positive")),
    _op("rpow", lambda x: 2.0**x),
    _op("neg", lambda x: -x),
    # elementwise functions
    _op("exp", lambda x: x.exp()),
    _op("log", lambda x: x.log(), Input("positive")),
    _op("sqrt", lambda x: x.sqrt(), Input("positive")),
    _op("sin", lambda x: x.sin()),
    _op("cos", lambda x: x.cos()),
    _op("tanh", lambda x: x.tanh()),
    _op("sigmoid", lambda x: x.sigmoid()),
    # the fused gradients that tanh and sigmoid use in backward: primitives with backwards of their own
    _op("tanh_grad", TanhGrad.apply, Input(), Input(shape=same(0)), torch_fn=lambda torch, g, y: g * (1 - y * y)),
    _op("sigmoid_grad", SigmoidGrad.apply, Input(), Input(shape=same(0)), torch_fn=lambda torch, g, y: g * y * (1 - y)),
    _op("relu", lambda x: x.relu(), notes="relu'(0) = 0"),
    _op("abs", lambda x: x.abs(), notes="abs'(0) = 0"),
    _op(
        "clip",
        lambda x: x.clip(-1.0, 1.0),
        Input(),
        torch_fn=lambda torch, x: x.clamp(-1.0, 1.0),
        notes="the gradient passes on the closed interval [min, max]",
    ),
    _op("clip_min", lambda x: x.clip(0.0, None), torch_fn=lambda torch, x: x.clamp(min=0.0)),
    _binary("maximum", ag.maximum, torch_fn=lambda torch, a, b: torch.maximum(a, b)),
    _binary("minimum", ag.minimum, torch_fn=lambda torch, a, b: torch.minimum(a, b)),
    _op(
        "where",
        lambda c, a, b: ag.where(c > 0, a, b),
        Input(requires_grad=False),
        broadcast(0),
        broadcast(0, 1),
        torch_fn=lambda torch, c, a, b: torch.where(c > 0, a, b),
        notes="the condition compares the first input with 0; that input gets no gradient",
    ),
    # reductions: over everything, over the last axis keeping it, over a tuple of axes
    *(_reduction(*r, *a) for r in _REDUCTIONS for a in _AXES),
    # shapes
    _op("reshape", lambda x: x.reshape(x.shape[::-1])),
    _op("reshape_flat", lambda x: x.reshape(-1)),
    _op("transpose", lambda x: x.transpose(), torch_fn=lambda torch, x: x.permute(tuple(reversed(range(x.ndim))))),
    _op("permute", lambda x: x.permute(1, 2, 0), shape(3, 3)),
    _op("swapaxes", lambda x: x.swapaxes(0, -1), shape(1)),
    _op("flatten", lambda x: x.flatten()),
    _op("flatten_1_-1", lambda x: x.flatten(1, -1), shape(2)),
    _op("squeeze", lambda x: x.squeeze()),
    _op("squeeze_axis", lambda x: x.squeeze(1), Fixed((3, 1, 2))),
    _op("unsqueeze", lambda x: x.unsqueeze(0)),
    _op("unsqueeze_last", lambda x: x.unsqueeze(-1)),
    # a new leading axis, and every axis of size 1 stretched to 3
    _op("broadcast_to", lambda x: x.broadcast_to((2,) + tuple(3 if n == 1 else n for n in x.shape))),
    _op("expand", lambda x: x.expand(2, *(3 if n == 1 else -1 for n in x.shape))),
    # the adjoint of broadcasting: drop the first axis and sum every other one down to 1
    _op(
        "sum_to",
        lambda x: x.sum_to(_summed_shape(x.shape)),
        torch_fn=lambda torch, x: x.sum_to_size(_summed_shape(x.shape)),
    ),
    # indexing
    _op("getitem_slices", lambda x: x[1:, ::2], shape(2)),
    _op("getitem_reversed", lambda x: x[::-1], shape(1), torch_fn=lambda torch, x: x.flip(0)),
    _op("getitem_int", lambda x: x[1], shape(1, min_side=2)),
    _op("getitem_ellipsis", lambda x: x[..., -1], shape(1)),
    _op("getitem_none", lambda x: x[None, :, None], shape(1)),
    _op(
        "getitem_repeated_indices",
        lambda x: x[np.array([0, 1, 0, 0])],
        shape(1, min_side=2),
        torch_fn=lambda torch, x: x[torch.tensor([0, 1, 0, 0])],
        notes="repeated indices accumulate their gradients",
    ),
    _op(
        "getitem_array_after_slice",
        lambda x: x[:, np.array([[1, 1], [0, 1]])],
        shape(2, min_side=2),
        torch_fn=lambda torch, x: x[:, torch.tensor([[1, 1], [0, 1]])],
    ),
    _op(
        "getitem_mask",
        lambda x: x[x > 0],
        Input("away_from_zero"),
        notes="the mask compares the input with 0, so the input stays away from 0",
    ),
    _op("setitem_slice", lambda x, v: _setitem(x, (slice(1, None),), v), shape(1, min_side=2), Fixed(())),
    _op("setitem_row", lambda x, v: _setitem(x, 0, v), shape(2), lambda prev, src: prev[0][1:]),
    _op(
        "setitem_mask",
        lambda x, v: _setitem(x, x > 0, v),
        Input("away_from_zero"),
        Fixed(()),
        notes="the mask compares the input with 0, so the input stays away from 0",
    ),
    # joining, splitting, padding, windows
    _op(
        "concatenate",
        lambda a, b: ag.concatenate([a, b], axis=0),
        shape(1),
        lambda prev, src: (src.integer(1, MAX_SIDE),) + prev[0][1:],
        torch_fn=lambda torch, a, b: torch.cat([a, b], dim=0),
    ),
    _op(
        "concatenate_last_axis",
        lambda a, b, c: ag.concatenate([a, b, c], axis=-1),
        shape(1),
        same(0),
        same(0),
        torch_fn=lambda torch, a, b, c: torch.cat([a, b, c], dim=-1),
    ),
    _op("stack", lambda a, b: ag.stack([a, b]), Input(), same(0), torch_fn=lambda torch, a, b: torch.stack([a, b])),
    _op(
        "stack_last_axis",
        lambda a, b: ag.stack([a, b], axis=-1),
        Input(),
        same(0),
        torch_fn=lambda torch, a, b: torch.stack([a, b], dim=-1),
    ),
    _op(
        "split_sections",
        lambda x: ag.split(x, 2, axis=0),
        lambda prev, src: (2 * src.integer(1, 2),) + shape(0, 2)(prev, src),
        torch_fn=lambda torch, x: torch.split(x, x.shape[0] // 2, dim=0),  # torch takes the piece size
    ),
    _op(
        "split_indices",
        lambda x: ag.split(x, [1, 3], axis=-1),
        shape(1),
        torch_fn=lambda torch, x: torch.tensor_split(x, [1, 3], dim=-1),
        notes="cut points past the end give empty pieces, as np.split",
    ),
    _op("pad", lambda x: ag.pad(x, 1), shape(1), torch_fn=lambda torch, x: torch.nn.functional.pad(x, (1, 1) * x.ndim)),
    _op(
        "pad_widths_value",
        lambda x: ag.pad(x, ((1, 0), (0, 2)), value=0.5),
        shape(2, 2),
        torch_fn=lambda torch, x: torch.nn.functional.pad(x, (0, 2, 1, 0), value=0.5),  # last axis first
    ),
    _op(
        "unfold",
        lambda x: ag.unfold(x, 2, 1),
        shape(4, 4, min_side=2, max_side=3),
        torch_fn=lambda torch, x: x.unfold(2, 2, 1).unfold(3, 2, 1),
        notes="overlapping windows: each input element is summed over every window that holds it",
    ),
    _op(
        "unfold_strided",
        lambda x: ag.unfold(x, (3, 2), stride=(2, 1)),
        lambda prev, src: (1, src.integer(1, 2), src.integer(3, 5), src.integer(2, 4)),
        torch_fn=lambda torch, x: x.unfold(2, 3, 2).unfold(3, 2, 1),
        notes="windows that do not fit are dropped",
    ),
    _op(
        "unfold_1d", lambda x: ag.unfold(x, (2,), 1), shape(1, min_side=2), torch_fn=lambda torch, x: x.unfold(-1, 2, 1)
    ),
    # linear algebra
    _op("matmul", operator.matmul, shape(2, 2), _operand_of(-1)),
    _op("matmul_vec_mat", operator.matmul, shape(1, 1), _operand_of(-1)),
    _op("matmul_mat_vec", operator.matmul, shape(2, 2), _operand_of(-1, free=0)),
    _op("matmul_vec_vec", operator.matmul, shape(1, 1), _operand_of(-1, free=0)),
    _op("matmul_batched_broadcast", operator.matmul, shape(3, 4, max_side=3), _batched_operand),
    # the linear layer's op x @ w.T + b: x (N, in), w (out, in), b (out,)
    _op(
        "linear",
        Linear.apply,
        shape(2, 2),
        lambda prev, src: (src.integer(1, MAX_SIDE), prev[0][-1]),
        lambda prev, src: prev[1][:1],
        torch_fn=lambda torch, x, w, b: torch.nn.functional.linear(x, w, b),
    ),
    _op(
        "linear_no_bias",
        lambda x, w: Linear.apply(x, w, None),
        shape(2, 2),
        lambda prev, src: (src.integer(1, MAX_SIDE), prev[0][-1]),
        torch_fn=lambda torch, x, w: torch.nn.functional.linear(x, w),
    ),
    _op(
        "tensordot_axes1",
        lambda a, b: ag.tensordot(a, b, axes=1),
        shape(1, 2),
        _operand_of(-1),
        torch_fn=lambda torch, a, b: torch.tensordot(a, b, dims=1),
    ),
    _op(
        "tensordot_axes2",
        lambda a, b: ag.tensordot(a, b, axes=2),
        shape(2, 3, max_side=3),
        _operand_of(slice(-2, None)),
        torch_fn=lambda torch, a, b: torch.tensordot(a, b, dims=2),
    ),
    _op(
        "tensordot_axis_pairs",
        lambda a, b: ag.tensordot(a, b, axes=([0], [0])),
        shape(1, 2),
        _operand_of(0),
        torch_fn=lambda torch, a, b: torch.tensordot(a, b, dims=([0], [0])),
    ),
    _einsum("ij,jk->ik"),
    _einsum("bij,bjk->bik"),
    _einsum("i,j->ij"),
    _einsum("ij,ij->i"),
    _einsum("ijk->kj"),
    _einsum("ij,jk,kl->il"),
]


# --- drawing inputs -----------------------------------------------------------------------------------
def _build(op: OpInfo, src: Source) -> list[Tensor]:
    shapes: list[Dims] = []
    args = []
    for inp in op.inputs:
        shapes.append(inp.shape(shapes, src))
        values = DOMAINS[inp.domain].draw(src, shapes[-1])
        args.append(Tensor(np.asarray(values, dtype=np.float64), requires_grad=inp.requires_grad))
    return args


@functools.cache
def inputs(op: OpInfo) -> Any:
    """A hypothesis strategy for ``op``'s arguments: a list of float64 Tensors.

    >>> from hypothesis import given
    >>> from autograd.testing import gradcheck
    >>> @given(inputs(OPS[0]))
    ... def test_add(args):
    ...     assert gradcheck(OPS[0].fn, *args)
    """
    from hypothesis import strategies as st

    return st.composite(lambda draw: _build(op, HypothesisSource(draw)))()


def sample(op: OpInfo, rng: np.random.Generator) -> list[Tensor]:
    """``op``'s arguments drawn with a NumPy generator: no hypothesis needed."""
    return _build(op, NumpySource(rng))


class CheckResult(NamedTuple):
    """One op through one check; the errors are nan where the check itself raised."""

    op: str
    order: int  # 1: gradcheck, 2: gradgradcheck
    passed: bool
    max_abs_error: float  # max |analytic - numerical| over the smooth entries
    max_rel_error: float  # max |analytic - numerical| / |numerical| where |numerical| > atol
    kinks: int  # entries where the one-sided differences disagree
    seconds: float


def run_gradchecks(
    ops: Sequence[OpInfo] = OPS, seed: int = 0, atol: float = 1e-5, rtol: float = 1e-3
) -> list[CheckResult]:
    """Run every op through gradcheck and gradgradcheck on inputs drawn from NumPy with ``seed``.

    Each op gets its own generator (seeded with ``seed`` and the op's name), so the samples of
    one op do not depend on which others run. An op that raises counts as failed.
    """
    results = []
    for op in ops:
        args = sample(op, np.random.default_rng([seed, zlib.crc32(op.name.encode())]))
        for order, check in ((1, first_order_report), (2, second_order_report)):
            start = time.perf_counter()
            try:
                r = check(op.fn, args, eps=1e-6, atol=atol, rtol=rtol)
                row = (r.ok, r.max_abs_error, r.max_rel_error, r.kinks)
            except Exception:  # the CLI reports a crashing op as failed and goes on
                row = (False, math.nan, math.nan, 0)
            results.append(CheckResult(op.name, order, *row, time.perf_counter() - start))
    return results


def format_results(results: Sequence[CheckResult], atol: float = 1e-5, rtol: float = 1e-3) -> str:
    """The table that ``chainrule gradcheck`` prints: one line per op and order, and a verdict."""
    width = max([len("op"), *(len(r.op) for r in results)])
    lines = [f"{'op':<{width}}  order  result  max|a-n|  max_rel  kinks  time_ms"]
    for r in results:
        lines.append(
            f"{r.op:<{width}}  {r.order:>5}  {'ok' if r.passed else 'FAIL':<6}  {r.max_abs_error:8.1e}  "
            f"{r.max_rel_error:7.1e}  {r.kinks:>5}  {1000 * r.seconds:7.1f}"
        )
    lines.append(
        f"tolerance |a - n| <= {atol:g} + {rtol:g} |n|; kinks: entries whose one-sided differences disagree, "
        f"passed when the analytic value lies between them"
    )
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} of {len(results)} checks passed")
    return "\n".join(lines)
