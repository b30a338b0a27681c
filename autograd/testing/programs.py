"""Random programs: small graphs of the ops of `opdb.OPS`, written as data, for fuzzing the engine.

A `Program` is a list of `Step`s ``(op, args, params)``: an op's name and the indices of the
earlier values it reads (value i is the result of step i); an ``"input"`` step (params: its
shape) takes the next input. Being data, a program runs on chainrule Tensors (``program(*xs)``)
and on PyTorch tensors (``program.run_torch(torch, *xs)``, through each op's ``torch_fn``).

Each step picks an op and, among the earlier values (so intermediates fan out), a first operand
that fits the op's first input (shape spec and domain: log sees only positive values); the
further operands get the shapes the op's entry draws from the first, and are earlier values of
that shape or new inputs. A step is kept if its result stays small and finite, also with its
operands moved by +-MARGIN (so a user's op of unknown domain, such as sqrt, is never checked at
its pole); kinks are not avoided (gradcheck accepts subgradients there).

Fuzz your own op among ours: ``cases(my_fn)`` puts ``my_fn`` (a unary function of any shape,
such as ``MyFunction.apply``, or an `OpInfo`) in every program::

    @given(cases(Softplus.apply))
    def test_softplus_in_programs(case):
        xs = case.leaves()
        assert gradcheck(case.program, *xs) and gradgradcheck(case.program, *xs)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..mode import no_grad
from ..tensor import Tensor
from .opdb import OPS, Input, OpInfo
from .sources import DOMAINS, AnyShape, Dims, HypothesisSource, NumpySource, Source

__all__ = ["Case", "Program", "Step", "cases", "generate", "sample"]

MAX_SIZE = 64  # elements per value: Jacobians have (output size x input size) entries
LIMIT = 50.0  # |values| above this make finite differences and comparisons meaningless
MARGIN = 1e-3  # a step must stay tame with its operands moved this far: gradcheck moves them by 1e-6


class Step(NamedTuple):
    """One instruction: ``values.append(op(*values[args]))``, or an input (params: its shape)."""

    op: str
    args: tuple[int, ...]
    params: dict[str, Any]


@dataclass(frozen=True)
class Program:
    """Steps and the indices of the output values (those no later step reads)."""

    steps: tuple[Step, ...]
    outputs: tuple[int, ...]
    ops: dict[str, OpInfo] = field(repr=False, compare=False)

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        """Run on chainrule Tensors; returns the output values."""
        return self._run(inputs, lambda op: op.fn)

    def run_torch(self, torch: Any, *inputs: Any) -> tuple[Any, ...]:
        """Run the same program on PyTorch tensors."""

        def twin(op: OpInfo) -> Callable:
            if op.torch_fn is None:
                raise ValueError(f"run_torch: op {op.name!r} has no torch_fn")
            return lambda *xs: op.torch_fn(torch, *xs)

        return self._run(inputs, twin)

    def _run(self, inputs: Sequence[Any], impl: Callable[[OpInfo], Callable]) -> tuple[Any, ...]:
        values: list[Any] = []
        remaining = iter(inputs)
        for step in self.steps:
            if step.op == "input":
                values.append(next(remaining))
            else:
                values.append(impl(self.ops[step.op])(*(values[i] for i in step.args)))
        return tuple(values[i] for i in self.outputs)

    def __repr__(self) -> str:
        lines = []
        for i, (op, args, params) in enumerate(self.steps):
            if op == "input":
                lines.append(f"v{i} = input{params['shape']}")
            else:
                lines.append(f"v{i} = {op}({', '.join(f'v{a}' for a in args)})")
        lines.append("outputs: " + ", ".join(f"v{i}" for i in self.outputs))
        return "\n".join(lines)


class Case(NamedTuple):
    """A program and the float64 arrays it was drawn for."""

    program: Program
    inputs: tuple[np.ndarray, ...]

    def leaves(self) -> list[Tensor]:
        """Fresh float64 leaves that require grad, one per input."""
        return [Tensor(a.copy(), requires_grad=True) for a in self.inputs]


def as_op(f: OpInfo | Callable) -> OpInfo:
    """An `OpInfo` as is; a function as a unary op on real values of any shape, without a torch twin."""
    if isinstance(f, OpInfo):
        return f
    name = getattr(getattr(f, "__self__", None), "__name__", None) or getattr(f, "__name__", "user_op")
    return OpInfo(name, f, None, (Input(),))


def _fits(inp: Input, value: np.ndarray) -> bool:
    """Whether ``value`` may be the op's first operand. The default shape spec accepts any shape."""
    shape_ok = inp.shape == AnyShape() or getattr(inp.shape, "fits", lambda dims: False)(value.shape)
    return shape_ok and DOMAINS[inp.domain].contains(value)


def _tame(out: Any) -> bool:
    return isinstance(out, Tensor) and 0 < out.size <= MAX_SIZE and bool(np.all(np.abs(out.data) <= LIMIT))


def _tame_value(op: OpInfo, operands: Sequence[np.ndarray]) -> np.ndarray | None:
    """``op``'s value at its operands if it stays small and finite there and with all of them moved
    by +-MARGIN, else None.

    Finite differences evaluate the op near its operands, so it must be defined there: a user's
    op of unknown domain (sqrt, log) must not meet the exact 0 that ``sub(v, v)`` or relu makes.
    """
    with no_grad(), np.errstate(all="ignore"):
        out = op.fn(*(Tensor(v) for v in operands))
        near = (op.fn(*(Tensor(v + d) for v in operands)) for d in (-MARGIN, MARGIN))
        return out.data if _tame(out) and all(_tame(y) for y in near) else None


class _Builder:
    """A program under construction, with the concrete value of every step."""

    def __init__(self, src: Source, max_inputs: int) -> None:
        self.src, self.max_inputs = src, max_inputs
        # input values from NumPy: continuous, unlike hypothesis's favourite values (0, repeats)
        self.values_src = NumpySource(np.random.default_rng(src.integer(0, 2**32 - 1)))
        self.steps: list[Step] = []
        self.values: list[np.ndarray] = []
        self.n_inputs = 0

    def add_input(self, dims: Dims, domain: str = "real") -> int:
        self.steps.append(Step("input", (), {"shape": dims}))
        self.values.append(DOMAINS[domain].draw(self.values_src, dims))
        self.n_inputs += 1
        return len(self.values) - 1

    def operand(self, inp: Input, dims: Dims) -> int | None:
        """An earlier value of shape ``dims`` in the input's domain, or a new input (None if neither)."""
        fits = [i for i, v in enumerate(self.values) if v.shape == dims and DOMAINS[inp.domain].contains(v)]
        room = self.n_inputs < self.max_inputs and math.prod(dims) <= MAX_SIZE
        if not fits and not room:
            return None
        pick = self.src.integer(0, len(fits) - (0 if room else 1))
        return fits[pick] if pick < len(fits) else self.add_input(dims, inp.domain)

    def try_step(self, op: OpInfo, first: int) -> bool:
        """Draw the further operands of ``op`` on value ``first``; keep the step if its value is tame."""
        if not _fits(op.inputs[0], self.values[first]):
            return False
        mark = len(self.steps), self.n_inputs
        args, shapes = [first], [self.values[first].shape]
        for inp in op.inputs[1:]:
            shapes.append(inp.shape(shapes, self.src))
            i = self.operand(inp, shapes[-1])
            if i is None:
                break
            args.append(i)
        else:
            out = _tame_value(op, [self.values[i] for i in args])
            if out is not None:
                self.steps.append(Step(op.name, tuple(args), {}))
                self.values.append(out)
                return True
        # undo the inputs drawn for this attempt
        del self.steps[mark[0] :], self.values[mark[0] :]
        self.n_inputs = mark[1]
        return False

    def case(self, ops: Sequence[OpInfo]) -> Case:
        read = {i for step in self.steps for i in step.args}
        outputs = tuple(i for i, s in enumerate(self.steps) if s.op != "input" and i not in read)
        inputs = tuple(v for s, v in zip(self.steps, self.values) if s.op == "input")
        return Case(Program(tuple(self.steps), outputs, {op.name: op for op in ops}), inputs)


def generate(
    src: Source,
    ops: Sequence[OpInfo] = OPS,
    min_ops: int = 2,
    max_ops: int = 8,
    max_inputs: int = 5,
    include: Sequence[OpInfo | Callable] = (),
) -> Case:
    """Draw a program of ``min_ops`` to ``max_ops`` op steps, and its inputs, from ``src``.

    ``src`` is a `sources` source: ``HypothesisSource`` inside a strategy (what `cases` does) or
    ``NumpySource(np.random.default_rng(seed))`` without hypothesis. Ops of ``include`` are tried
    first at every other step, so each program holds at least one of them. The table must hold
    an op that applies to any shape (``tanh`` does).
    """
    include = [as_op(f) for f in include]
    table = [*include, *(op for op in ops if op.name not in {o.name for o in include})]
    b = _Builder(src, max_inputs)
    for _ in range(src.integer(1, 2)):
        b.add_input(AnyShape()([], src))
    for step in range(src.integer(min_ops, max_ops)):
        first = len(b.values) - 1 - src.integer(0, len(b.values) - 1)  # shrinks towards a chain
        preferred = include if step % 2 == 0 else []
        start = src.integer(0, len(table) - 1)
        rotation = [*preferred, *(table[(start + k) % len(table)] for k in range(len(table)))]
        if not any(b.try_step(op, first) for op in rotation):
            raise ValueError(f"no op of the table applies to a value of shape {b.values[first].shape}")
    return b.case(table)


def cases(
    *include: OpInfo | Callable, ops: Sequence[OpInfo] = OPS, min_ops: int = 2, max_ops: int = 8, max_inputs: int = 5
) -> Any:
    """A hypothesis strategy of `Case`s: random programs with their inputs (see `generate`).

    Functions or `OpInfo`s given in ``include`` appear in every program, among the ops of ``ops``.
    """
    from hypothesis import strategies as st

    ops, include = tuple(ops), tuple(include)
    return st.composite(lambda draw: generate(HypothesisSource(draw), ops, min_ops, max_ops, max_inputs, include))()


def sample(seed: int, **kwargs: Any) -> Case:
    """One `Case` from a seeded NumPy generator: no hypothesis needed."""
    return generate(NumpySource(np.random.default_rng(seed)), **kwargs)
