"""Random programs: small graphs of autograd ops, written as data, for fuzzing the engine.

A `Program` is a list of `Step`s ``(op, args, params)``: the name of an op, the indices of the
earlier values it reads (value i is the result of step i) and its constant parameters. An
``"input"`` step takes the next input. Because a program is only data, one interpreter runs it on
chainrule Tensors (``program(*tensors)``) and on PyTorch tensors (``program.run_torch(torch,
*tensors)``): the same computation is checked against numerical derivatives and against PyTorch.

`cases()` (a hypothesis strategy) and `generate(source)` draw programs together with their float64
inputs. Each step picks an op and a first operand among the earlier values (so intermediates fan
out), and the further operands it needs (a broadcastable partner, a matrix, a piece to join) among
the earlier values of the right shape, or as new inputs. Each step is evaluated as it is drawn,
and an op is kept only if its result stays small, finite and away from its kinks (relu at 0, ties
of max, ...), where analytic and numerical derivatives legitimately differ; otherwise the next op
of the table is tried. Domains are kept safe by construction: log and sqrt see ``x*x + 0.5``, a
divisor is ``y*y + 0.5``.

Fuzz your own op by adding a `ProgramOp` to the table::

    my_ops = (*PROGRAM_OPS, ProgramOp("cube", lambda x: x ** 3, plan=elementwise))

    @given(cases(ops=my_ops))
    def test_cube_in_programs(case):
        assert gradcheck(case.program, *case.leaves())
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

import autograd as ag

from ..mode import no_grad
from ..tensor import Tensor
from .opdb import MAX_SIDE, HypothesisSource, NumpySource, Source, _broadcastable

__all__ = [
    "BROADCAST",
    "PROGRAM_OPS",
    "Case",
    "Program",
    "ProgramOp",
    "Step",
    "binary",
    "cases",
    "elementwise",
    "generate",
    "sample",
]

Shape = tuple[int, ...]
MAX_SIZE = 64  # elements per value: Jacobians have (output size x input size) entries
LIMIT = 50.0  # |values| above this make central differences and comparisons meaningless
MARGIN = 1e-3  # smallest distance to a kink that central differences (eps = 1e-6) cannot cross
BROADCAST = "broadcast"  # an operand request: any shape that broadcasts with the first operand's

# (shapes of the operands after the first, params), or None where the op does not apply
Plan = tuple[tuple[Any, ...], dict[str, Any]] | None


class Step(NamedTuple):
    """One instruction: ``values.append(op(*values[args], **params))``."""

    op: str
    args: tuple[int, ...]
    params: dict[str, Any]


@dataclass(frozen=True)
class ProgramOp:
    """An op that programs may use.

    ``fn(*tensors, **params)`` computes it on chainrule Tensors and ``torch_fn(torch, *tensors,
    **params)`` on PyTorch tensors (by default ``fn`` itself, for expressions that read the same in
    both). ``plan(source, shape)`` is given the first operand's shape and returns the shapes of the
    further operands (or `BROADCAST`) and the params, or None if the op does not apply to that
    shape. ``kink(*arrays, **params)`` gives the distance of the operands to the nearest point
    where the op is not differentiable, ignoring exact hits (0.0), which are structural (x - x) and
    handled by the chosen subgradients; None for smooth ops.
    """

    name: str
    fn: Callable[..., Tensor] = field(repr=False)
    torch_fn: Callable[..., Any] | None = field(default=None, repr=False)
    plan: Callable[[Source, Shape], Plan] = field(default=lambda src, shape: ((), {}), repr=False)
    kink: Callable[..., float] | None = field(default=None, repr=False)

    def torch(self, torch: Any) -> Callable[..., Any]:
        """The op on PyTorch tensors, called like ``fn``."""
        if self.torch_fn is None:
            return self.fn
        return lambda *xs, **params: self.torch_fn(torch, *xs, **params)


@dataclass(frozen=True)
class Program:
    """Steps and the indices of the output values (those no later step reads)."""

    steps: tuple[Step, ...]
    outputs: tuple[int, ...]
    ops: dict[str, ProgramOp] = field(repr=False, compare=False)

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        """Run on chainrule Tensors; returns the output values."""
        return self._run(inputs, {name: op.fn for name, op in self.ops.items()})

    def run_torch(self, torch: Any, *inputs: Any) -> tuple[Any, ...]:
        """Run the same program on PyTorch tensors."""
        return self._run(inputs, {name: op.torch(torch) for name, op in self.ops.items()})

    def _run(self, inputs: Sequence[Any], table: dict[str, Callable]) -> tuple[Any, ...]:
        values: list[Any] = []
        remaining = iter(inputs)
        for step in self.steps:
            if step.op == "input":
                values.append(next(remaining))
            else:
                values.append(table[step.op](*(values[i] for i in step.args), **step.params))
        return tuple(values[i] for i in self.outputs)

    def __repr__(self) -> str:
        lines = []
        for i, (op, args, params) in enumerate(self.steps):
            if op == "input":
                lines.append(f"v{i} = input{params['shape']}")
            else:
                operands = [f"v{a}" for a in args] + [f"{k}={v!r}" for k, v in params.items()]
                lines.append(f"v{i} = {op}({', '.join(operands)})")
        lines.append("outputs: " + ", ".join(f"v{i}" for i in self.outputs))
        return "\n".join(lines)


class Case(NamedTuple):
    """A program and the float64 arrays it was drawn for."""

    program: Program
    inputs: tuple[np.ndarray, ...]

    def leaves(self) -> list[Tensor]:
        """Fresh float64 leaves that require grad, one per input."""
        return [Tensor(a.copy(), requires_grad=True) for a in self.inputs]


# --- plans ---------------------------------------------------------------------------------------
def elementwise(src: Source, shape: Shape) -> Plan:
    """A unary op: no further operands, no params."""
    return (), {}


def binary(src: Source, shape: Shape) -> Plan:
    """A binary op whose second operand broadcasts with the first."""
    return (BROADCAST,), {}


def _drawn_shape(src: Source, max_dims: int = 3) -> Shape:
    return tuple(src.integer(1, MAX_SIDE) for _ in range(src.integer(0, max_dims)))


def _reduction_plan(src: Source, shape: Shape) -> Plan:
    ndim = len(shape)
    kind = src.integer(0, 2) if ndim else 0
    if kind == 0:
        axis: Any = None
    elif kind == 1 or ndim < 2:
        axis = src.integer(-ndim, ndim - 1)
    else:
        order = src.permutation(ndim)
        axis = (int(order[0]), int(order[1]) - ndim)  # a tuple, one axis counted from the end
    return (), {"axis": axis, "keepdims": bool(src.integer(0, 1))}


def _reshape_plan(src: Source, shape: Shape) -> Plan:
    size = math.prod(shape)
    divisors = [d for d in range(2, size) if size % d == 0]
    targets = [(size,), tuple(reversed(shape)), (1, *shape)]
    if divisors:
        d = divisors[src.integer(0, len(divisors) - 1)]
        targets.append((d, size // d))
    target = list(targets[src.integer(0, len(targets) - 1)])
    if target and src.integer(0, 1):
        target[src.integer(0, len(target) - 1)] = -1  # let reshape infer one size
    return (), {"shape": tuple(target)}


def _transpose_plan(src: Source, shape: Shape) -> Plan:
    if len(shape) < 2:
        return None
    return (), {"axes": tuple(int(a) for a in src.permutation(len(shape)))}


def _getitem_plan(src: Source, shape: Shape) -> Plan:
    """Basic and integer-array indexing (one array at most, with repeats, and then no ints).

    Parts: ``("slice", start, stop, step)``, ``("int", i)``, ``("array", (i, ...))``,
    ``("none",)``, ``("ellipsis",)``; `_index` turns them into a real index.
    """
    if not shape:
        return None
    n_axes = src.integer(1, len(shape))
    trailing = src.integer(0, 1) == 1  # index the last axes after an Ellipsis
    sides = shape[len(shape) - n_axes :] if trailing else shape[:n_axes]
    parts: list[tuple] = [("ellipsis",)] if trailing else []
    has_array = src.integer(0, 2) == 0
    for k, n in enumerate(sides):
        if has_array and k == 0:
            parts.append(("array", tuple(src.integer(-n, n - 1) for _ in range(src.integer(1, 4)))))
            continue
        kind = src.integer(0, 2 if has_array else 3)  # no ints next to an array: NumPy would move axes
        if kind == 0:
            start = src.integer(0, n - 1)
            parts.append(("slice", start, src.integer(start + 1, n + 1), src.integer(1, 2)))
        elif kind == 1:
            parts += [("none",), ("slice", None, None, None)]
        elif kind == 2:
            parts.append(("slice", None, None, None))
        else:
            parts.append(("int", src.integer(-n, n - 1)))
    return (), {"index": tuple(parts)}


def _index(parts: tuple, make_array: Callable[[list[int]], Any]) -> tuple:
    out: list[Any] = []
    for kind, *rest in parts:
        if kind == "slice":
            out.append(slice(*rest))
        elif kind == "int":
            out.append(rest[0])
        elif kind == "array":
            out.append(make_array(list(rest[0])))
        elif kind == "none":
            out.append(None)
        else:
            out.append(Ellipsis)
    return tuple(out)


def _concatenate_plan(src: Source, shape: Shape) -> Plan:
    if not shape:
        return None
    axis = src.integer(-len(shape), len(shape) - 1)
    pieces = []
    for _ in range(src.integer(1, 2)):
        piece = list(shape)
        piece[axis] = src.integer(1, 3)
        pieces.append(tuple(piece))
    return tuple(pieces), {"axis": axis}


def _pad_plan(src: Source, shape: Shape) -> Plan:
    if not shape:
        return None
    widths = tuple((src.integer(0, 1), src.integer(0, 1)) for _ in shape)
    return (), {"pad_width": widths, "value": (0.0, 0.5)[src.integer(0, 1)]}


def _torch_pad(torch: Any, x: Any, pad_width: tuple, value: float) -> Any:
    flat = [w for pair in reversed(pad_width) for w in pair]  # torch lists the last axis first
    return torch.nn.functional.pad(x, flat, value=value)


def _unfold_plan(src: Source, shape: Shape) -> Plan:
    if not shape:
        return None
    k = src.integer(1, min(2, len(shape)))
    kernel = tuple(src.integer(1, n) for n in shape[len(shape) - k :])
    stride = tuple(src.integer(1, 2) for _ in kernel)
    return (), {"kernel_size": kernel, "stride": stride}


def _torch_unfold(torch: Any, x: Any, kernel_size: tuple, stride: tuple) -> Any:
    first = x.ndim - len(kernel_size)
    for i, (w, s) in enumerate(zip(kernel_size, stride)):
        x = x.unfold(first + i, w, s)  # each call appends its window axis at the end
    return x


def _matmul_plan(src: Source, shape: Shape) -> Plan:
    if not shape:
        return None
    k, m = shape[-1], src.integer(1, MAX_SIDE)
    kind = src.integer(0, 2)
    if kind == 0:
        other: Shape = (k,)
    elif kind == 1:
        other = (k, m)
    else:
        other = _broadcastable(src, shape[:-2]) + (k, m)  # batch axes broadcast both ways
    return (other,), {}


def _einsum_plan(src: Source, shape: Shape) -> Plan:
    """``"ij,jl->li"``-like: the partner takes some of the first operand's letters, maybe a new one."""
    if not 1 <= len(shape) <= 3:
        return None
    first = "ijk"[: len(shape)]
    sizes = dict(zip(first, shape))
    order = src.permutation(len(first))
    second = [first[i] for i in order[: src.integer(1, len(first))]]
    if src.integer(0, 1):
        second.append("l")
        sizes["l"] = src.integer(1, MAX_SIDE)
    letters = first + ("l" if "l" in sizes else "")
    out = [letters[i] for i in src.permutation(len(letters))][: src.integer(0, len(letters))]
    subscripts = f"{first},{''.join(second)}->{''.join(out)}"
    partner = tuple(sizes[c] if c == "l" or src.integer(0, 3) else 1 for c in second)  # size 1 broadcasts
    return (partner,), {"subscripts": subscripts}


# --- kinks ---------------------------------------------------------------------------------------
def _nearest(distances: np.ndarray) -> float:
    """The smallest nonzero distance (inf if none): exact hits are structural, not accidents."""
    d = np.abs(distances)
    d = d[d > 0]
    return float(d.min()) if d.size else math.inf


def _extremum_gap(x: np.ndarray, axis: Any, keepdims: bool, best: Callable) -> float:
    """How close the runner-up of each reduced group comes to the winner."""
    return _nearest(best(x, axis=axis, keepdims=True) - x)


def _dims(axis: Any, ndim: int) -> tuple[int, ...] | int:
    """PyTorch's ``dim`` for NumPy's ``axis``."""
    return tuple(range(ndim)) if axis is None else axis


def _positive(x: Any) -> Any:
    return x * x + 0.5  # > 0 for any x, and smooth


def _reduction(name: str, torch_name: str, kink: Callable | None = None, **torch_kwargs: Any) -> ProgramOp:
    return ProgramOp(
        name,
        lambda x, axis, keepdims: getattr(x, name)(axis=axis, keepdims=keepdims),
        lambda torch, x, axis, keepdims: getattr(x, torch_name)(_dims(axis, x.ndim), keepdim=keepdims, **torch_kwargs),
        _reduction_plan,
        kink,
    )


PROGRAM_OPS: tuple[ProgramOp, ...] = (
    # elementwise, smooth
    ProgramOp("neg", lambda x: -x),
    ProgramOp("exp", lambda x: x.exp()),
    ProgramOp("log", lambda x: _positive(x).log()),
    ProgramOp("sqrt", lambda x: _positive(x).sqrt()),
    ProgramOp("sin", lambda x: x.sin()),
    ProgramOp("cos", lambda x: x.cos()),
    ProgramOp("tanh", lambda x: x.tanh()),
    ProgramOp("sigmoid", lambda x: x.sigmoid()),
    ProgramOp("square", lambda x: x**2),
    # elementwise, with kinks
    ProgramOp("relu", lambda x: x.relu(), kink=lambda x: _nearest(x)),
    ProgramOp("abs", lambda x: x.abs(), kink=lambda x: _nearest(x)),
    ProgramOp("clip", lambda x: x.clip(-1.0, 1.0), kink=lambda x: min(_nearest(x - 1), _nearest(x + 1))),
    # binary, broadcasting
    ProgramOp("add", lambda a, b: a + b, plan=binary),
    ProgramOp("sub", lambda a, b: a - b, plan=binary),
    ProgramOp("mul", lambda a, b: a * b, plan=binary),
    ProgramOp("div", lambda a, b: a / _positive(b), plan=binary),
    ProgramOp("pow", lambda a, b: _positive(a) ** b, plan=binary),
    ProgramOp("maximum", ag.maximum, lambda torch, a, b: torch.maximum(a, b), binary, lambda a, b: _nearest(a - b)),
    ProgramOp("minimum", ag.minimum, lambda torch, a, b: torch.minimum(a, b), binary, lambda a, b: _nearest(a - b)),
    ProgramOp(
        "where",
        lambda a, b: ag.where(a > 0, a, b),
        lambda torch, a, b: torch.where(a > 0, a, b),
        binary,
        lambda a, b: _nearest(a),
    ),
    # reductions
    _reduction("sum", "sum"),
    _reduction("mean", "mean"),
    _reduction("max", "amax", lambda x, axis, keepdims: _extremum_gap(x, axis, keepdims, np.max)),
    _reduction("min", "amin", lambda x, axis, keepdims: _extremum_gap(-x, axis, keepdims, np.max)),
    _reduction("var", "var", correction=0),
    _reduction("logsumexp", "logsumexp"),
    # movement
    ProgramOp("reshape", lambda x, shape: x.reshape(shape), plan=_reshape_plan),
    ProgramOp("permute", lambda x, axes: x.permute(*axes), plan=_transpose_plan),
    ProgramOp(
        "getitem",
        lambda x, index: x[_index(index, np.asarray)],
        lambda torch, x, index: x[_index(index, torch.tensor)],
        _getitem_plan,
    ),
    ProgramOp(
        "concatenate",
        lambda *xs, axis: ag.concatenate(xs, axis),
        lambda torch, *xs, axis: torch.cat(xs, dim=axis),
        _concatenate_plan,
    ),
    ProgramOp("pad", ag.pad, _torch_pad, _pad_plan),
    ProgramOp("unfold", ag.unfold, _torch_unfold, _unfold_plan),
    # linear algebra
    ProgramOp("matmul", lambda a, b: a @ b, plan=_matmul_plan),
    ProgramOp(
        "einsum",
        lambda a, b, subscripts: ag.einsum(subscripts, a, b),
        lambda torch, a, b, subscripts: torch.einsum(subscripts, a, b),
        _einsum_plan,
    ),
)


# --- drawing -------------------------------------------------------------------------------------
class _Builder:
    """A program under construction, with the concrete value of every step."""

    def __init__(self, src: Source, ops: Sequence[ProgramOp], max_inputs: int) -> None:
        self.src, self.ops, self.max_inputs = src, ops, max_inputs
        self.rng = np.random.default_rng(src.integer(0, 2**32 - 1))
        self.steps: list[Step] = []
        self.values: list[np.ndarray] = []
        self.n_inputs = 0

    def add_input(self, shape: Shape) -> int:
        self.steps.append(Step("input", (), {"shape": shape}))
        self.values.append(np.asarray(self.rng.uniform(-2.0, 2.0, size=shape), dtype=np.float64))
        self.n_inputs += 1
        return len(self.values) - 1

    def operand(self, request: Any, first: Shape) -> int | None:
        """An earlier value that fits ``request``, or a new input (None if neither may be had)."""
        if request == BROADCAST:
            fits = [i for i, v in enumerate(self.values) if _broadcasts(v.shape, first)]
            fits = [i for i in fits if _size(self.values[i].shape, first) <= MAX_SIZE]
        else:
            fits = [i for i, v in enumerate(self.values) if v.shape == request]
        room = self.n_inputs < self.max_inputs
        pick = self.src.integer(0, len(fits) - (0 if room else 1)) if fits or room else None
        if pick is None:
            return None
        if pick < len(fits):
            return fits[pick]
        shape = _broadcastable(self.src, first) if request == BROADCAST else request
        if _size(shape, first if request == BROADCAST else ()) > MAX_SIZE:
            return None
        return self.add_input(shape)

    def try_step(self, op: ProgramOp, first: int) -> bool:
        """Draw operands and params for ``op`` on value ``first``; keep the step if its value is tame."""
        mark = len(self.steps), self.n_inputs
        plan = op.plan(self.src, self.values[first].shape)
        if plan is not None:
            requests, params = plan
            args = [first]
            for request in requests:
                i = self.operand(request, self.values[first].shape)
                if i is None:
                    break
                args.append(i)
            else:
                arrays = [self.values[i] for i in args]
                with no_grad():
                    out = op.fn(*(Tensor(a) for a in arrays), **params).data
                if _tame(out) and (op.kink is None or op.kink(*arrays, **params) >= MARGIN):
                    self.steps.append(Step(op.name, tuple(args), params))
                    self.values.append(out)
                    return True
        # undo the inputs drawn for this attempt
        del self.steps[mark[0] :], self.values[mark[0] :]
        self.n_inputs = mark[1]
        return False

    def program(self) -> Case:
        read = {i for step in self.steps for i in step.args}
        outputs = tuple(i for i, s in enumerate(self.steps) if s.op != "input" and i not in read)
        inputs = tuple(v for s, v in zip(self.steps, self.values) if s.op == "input")
        return Case(Program(tuple(self.steps), outputs, {op.name: op for op in self.ops}), inputs)


def _broadcasts(a: Shape, b: Shape) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _size(a: Shape, b: Shape) -> int:
    return math.prod(np.broadcast_shapes(a, b))


def _tame(out: np.ndarray) -> bool:
    return 0 < out.size <= MAX_SIZE and bool(np.all(np.abs(out) <= LIMIT))  # False for NaN too


def generate(
    src: Source, ops: Sequence[ProgramOp] = PROGRAM_OPS, min_ops: int = 2, max_ops: int = 8, max_inputs: int = 5
) -> Case:
    """Draw a program of ``min_ops`` to ``max_ops`` op steps, and its inputs, from ``src``.

    ``src`` is an `autograd.testing.opdb` source: ``HypothesisSource`` inside a strategy (what
    `cases` does) or ``NumpySource(np.random.default_rng(seed))`` without hypothesis. Input
    values are uniform in [-2, 2], from a NumPy generator seeded by one drawn integer: continuous
    values, unlike hypothesis's favourite ones (0, repeats), avoid ties and kinks.
    The table must hold an op that applies to any shape and never fails (``tanh`` does).
    """
    b = _Builder(src, ops, max_inputs)
    for _ in range(src.integer(1, 2)):
        b.add_input(_drawn_shape(src))
    for _ in range(src.integer(min_ops, max_ops)):
        first = len(b.values) - 1 - src.integer(0, len(b.values) - 1)  # shrinks towards a chain
        start = src.integer(0, len(ops) - 1)
        if not any(b.try_step(ops[(start + k) % len(ops)], first) for k in range(len(ops))):
            raise ValueError(f"no op of the table applies to a value of shape {b.values[first].shape}")
    return b.program()


def cases(ops: Sequence[ProgramOp] = PROGRAM_OPS, min_ops: int = 2, max_ops: int = 8, max_inputs: int = 5) -> Any:
    """A hypothesis strategy of `Case`s: random programs with their inputs (see `generate`)."""
    from hypothesis import strategies as st

    ops = tuple(ops)
    return st.composite(lambda draw: generate(HypothesisSource(draw), ops, min_ops, max_ops, max_inputs))()


def sample(seed: int, **kwargs: Any) -> Case:
    """One `Case` from a seeded NumPy generator: no hypothesis needed."""
    return generate(NumpySource(np.random.default_rng(seed)), **kwargs)
