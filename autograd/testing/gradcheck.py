"""Numerical differentiation and the gradient checks built on it.

The analytic Jacobian of ``f`` comes from the engine, one row per output element (a backward
pass seeded with a one-hot ``grad_outputs``); the numerical one from differences,

    forward  J+[o, i] = (f(x + eps e_i)[o] - f(x)[o]) / eps
    backward J-[o, i] = (f(x)[o] - f(x - eps e_i)[o]) / eps,    central J = (J+ + J-) / 2,

whose error is O(eps^2) from truncation plus O(machine_eps / eps) from rounding: both about
1e-10 in float64 with eps = 1e-6, which is why every check runs on float64 copies. Where f is
smooth, J+ and J- agree to O(eps); where they disagree, x sits within eps of a kink (relu or abs
at 0, a tie of max, clip at a bound), the central difference averages two slopes, and a correct
engine may return any subgradient: there the entry passes when the analytic value lies between
J+ and J-.

Fast mode replaces the Jacobian by one random projection per checked tensor: v . J . u from one
backward pass, against the directional difference (v . f(x + eps u) - v . f(x - eps u)) / 2 eps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import grad
from ..mode import enable_grad, no_grad
from ..tensor import Tensor
from .report import Block, Probe, Report, second_look, summarize


class GradcheckError(AssertionError):
    """The analytic and numerical gradients of a function disagree."""


# --- inputs, parameters and outputs --------------------------------------------------------------------
def _is_float_tensor(x: Any) -> bool:
    return isinstance(x, Tensor) and x.dtype.kind == "f"


def _float64_copies(inputs: Sequence[Any], requires_grad: Sequence[bool]) -> list[Any]:
    """Fresh float64 leaves for the floating Tensor inputs (writable: they get perturbed in place)."""
    return [
        Tensor(np.array(x.data, dtype=np.float64), requires_grad=r, name=x.name) if _is_float_tensor(x) else x
        for x, r in zip(inputs, requires_grad)
    ]


def _outputs(out: Any) -> tuple[list[Tensor], bool]:
    """f's result as a list of floating Tensors, and whether it was a single Tensor."""
    single = isinstance(out, Tensor)
    outs = [out] if single else list(out) if isinstance(out, (list, tuple)) else None
    if outs is None or not all(_is_float_tensor(o) for o in outs):
        raise TypeError(f"the checked function must return a floating Tensor or a sequence of them, got {out!r}")
    return outs, single


def _values(f: Callable[[], Any]) -> list[np.ndarray]:
    # a copy: an output may be a view of an input that is perturbed next
    return [np.array(o.data, dtype=np.float64) for o in _outputs(f())[0]]


def _labelled_params(f: Any, params: Iterable[Tensor] | None) -> list[tuple[str, Tensor]]:
    """The extra tensors to check: ``params``, or the parameters of a module-like ``f``."""
    if params is None:
        if hasattr(f, "named_parameters"):
            return [(f"parameter {name!r}", p) for name, p in f.named_parameters()]
        params = f.parameters() if callable(getattr(f, "parameters", None)) else ()
    labelled, seen = [], set()
    for k, p in enumerate(params):
        if not _is_float_tensor(p):
            raise TypeError(f"gradcheck: params must be floating Tensors, got {type(p).__name__} at position {k}")
        if id(p) not in seen:  # a shared parameter is checked once
            seen.add(id(p))
            labelled.append((f"param {k} ({p.name!r})" if p.name else f"param {k}", p))
    return labelled


@contextmanager
def _float64_params(f: Any, params: Iterable[Tensor] | None) -> Iterator[list[tuple[str, Tensor]]]:
    """Swap float64 copies into the parameters (requiring grad) for the check, then restore them.

    Each parameter gets back its own array (so its dtype and values), its ``.grad`` and its
    ``requires_grad``; a module's buffers (running statistics that a forward pass may update)
    get back their values.
    """
    labelled = _labelled_params(f, params)
    saved = [(p, p.data, p.grad, p.requires_grad) for _, p in labelled]
    buffers = [(b, b.data, b.data.copy()) for b in (f.buffers() if callable(getattr(f, "buffers", None)) else ())]
    try:
        for p, data, _, _ in saved:
            p.data = np.array(data, dtype=np.float64)
            p.requires_grad_(True)
        yield labelled
    finally:
        for p, data, g, requires_grad in saved:
            p.data, p.grad = data, g
            p.requires_grad_(requires_grad)
        for b, data, values in buffers:
            b.data = data
            b.data[...] = values


# --- differences and the analytic side ----------------------------------------------------------------
def _shifted(
    f: Callable[[], Any], t: Tensor, where: Any, eps: float, multiples: Sequence[int]
) -> list[list[np.ndarray]]:
    """f's output values with ``t`` moved by s * eps for each s of ``multiples``; ``t`` is restored.

    ``where`` is an index (move one element) or an array (move along that direction).
    """
    x, orig, values = t.data, t.data.copy(), []
    direction = where
    if isinstance(where, tuple):
        direction = np.zeros(x.shape)
        direction[where] = 1.0
    for s in multiples:
        x[...] = orig + s * eps * direction
        values.append(_values(f))
    x[...] = orig
    return values


def _numerical(f: Callable[[], Any], wrt: Sequence[Tensor], eps: float) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """``jac[k][j]``: (forward, backward) differences of output j by tensor k, each out.shape + in.shape.

    ``f`` reads the tensors of ``wrt``, which are perturbed in place, one element at a time.
    """
    base = _values(f)
    jac = []
    for t in wrt:
        forward = [np.zeros(o.shape + t.shape) for o in base]
        backward = [np.zeros(o.shape + t.shape) for o in base]
        for idx in np.ndindex(t.shape):
            plus, minus = _shifted(f, t, idx, eps, (1, -1))
            for J_plus, J_minus, p, m, b in zip(forward, backward, plus, minus, base):
                J_plus[(Ellipsis, *idx)] = (p - b) / eps
                J_minus[(Ellipsis, *idx)] = (b - m) / eps
        jac.append(list(zip(forward, backward)))
    return jac


def _analytic(outs: Sequence[Tensor], wrt: Sequence[Tensor]) -> list[list[np.ndarray | None]]:
    """``jac[k][j]`` from backward passes seeded one-hot; None where output j does not reach tensor k."""
    jac: list[list[Any]] = [[None] * len(outs) for _ in wrt]
    for j, out in enumerate(outs):
        if not out.requires_grad:
            continue
        for idx in np.ndindex(out.shape):
            seed = np.zeros(out.shape)
            seed[idx] = 1.0
            row = grad(out, wrt, grad_outputs=Tensor(seed), retain_graph=True, allow_unused=True)
            for k, g in enumerate(row):
                if g is not None:
                    if jac[k][j] is None:
                        jac[k][j] = np.zeros(out.shape + wrt[k].shape)
                    jac[k][j][idx] = g.data
    return jac


def _vjp(outs: Sequence[Tensor], wrt: Sequence[Tensor], vs: Sequence[Any], create_graph: bool = False) -> list:
    """v^T J for every tensor of ``wrt``, in one backward pass (None where no output reaches it)."""
    pairs = [(o, v if isinstance(v, Tensor) else Tensor(v)) for o, v in zip(outs, vs) if o.requires_grad]
    if not pairs:
        return [None] * len(wrt)
    roots, seeds = zip(*pairs)
    return list(grad(list(roots), list(wrt), grad_outputs=list(seeds), create_graph=create_graph, allow_unused=True))


# --- the checks -----------------------------------------------------------------------------------
@dataclass
class _Problem:
    """A function of no arguments that reads the tensors ``wrt`` (perturbed in place), and their labels."""

    f: Callable[[], Any]
    f_values: Callable[[], Any]  # the same values, computed without recording what is not needed
    wrt: list[Tensor]
    labels: list[str]
    output_labels: Callable[[int, bool], list[str]]
    title: str


def _dense(p: _Problem, outs: list[Tensor], out_labels: list[str], eps: float) -> tuple[list[Block], Probe, list]:
    with enable_grad():
        analytic = _analytic(outs, p.wrt)
    numerical = _numerical(p.f_values, p.wrt, eps)
    blocks = [
        Block(k, j, p.labels[k], out_labels[j], t.ndim, a, fw, bw)
        for k, (t, a_row, n_row) in enumerate(zip(p.wrt, analytic, numerical))
        for j, (a, (fw, bw)) in enumerate(zip(a_row, n_row))
    ]
    return blocks, lambda k, idx, ms: _shifted(p.f_values, p.wrt[k], idx, eps, ms), _values(p.f_values)


def _fast(p: _Problem, outs: list[Tensor], eps: float) -> tuple[list[Block], Probe, list]:
    """One block per tensor k: the scalar v . J_k . u_k, with v random normal and u_k a random unit direction."""
    rng = np.random.default_rng(0)
    vs = [rng.standard_normal(o.shape) for o in outs]
    us = [rng.standard_normal(t.shape) for t in p.wrt]
    us = [u / max(float(np.linalg.norm(u)), 1e-300) for u in us]
    with enable_grad():
        grads = _vjp(outs, p.wrt, vs)

    def probe(k: int, idx: tuple, multiples: Sequence[int]) -> list[list[np.ndarray]]:
        shifted = _shifted(p.f_values, p.wrt[k], us[k], eps, multiples)
        return [[np.array(sum(np.vdot(v, y) for v, y in zip(vs, ys)))] for ys in shifted]

    base = [np.array(sum(np.vdot(v, y) for v, y in zip(vs, _values(p.f_values))))]
    blocks = []
    for k, g in enumerate(grads):
        plus, minus = probe(k, (), (1, -1))
        a = None if g is None else np.array(np.vdot(g.data, us[k]))
        blocks.append(
            Block(k, 0, p.labels[k], "v . output", 0, a, (plus[0] - base[0]) / eps, (base[0] - minus[0]) / eps)
        )
    return blocks, probe, base


def _check(p: _Problem, eps: float, atol: float, rtol: float, fast: bool, f_outs: Any = None) -> Report:
    """Compare; ``f_outs``: the outputs of the user's f, where the checked function is another
    (gradgradcheck's first-order gradients), for the precision note."""
    with enable_grad():
        outs, single = _outputs(p.f())
    _require_deterministic(p.title.split()[0], outs, _values(p.f_values))
    blocks, probe, base = _fast(p, outs, eps) if fast else _dense(p, outs, p.output_labels(len(outs), single), eps)
    for b in blocks:
        b.judge(atol, rtol)
    second_look(blocks, probe, base, eps, atol, rtol)
    report = summarize(blocks, p.title, atol, rtol, fast)
    report.notes = _precision_notes(p.title, outs if f_outs is None else f_outs, eps)
    return report


def _require_deterministic(name: str, outs: Sequence[Tensor], again: Sequence[np.ndarray]) -> None:
    """Refuse an f whose outputs change between two calls at the same point: differences of it
    measure its randomness (dropout in train mode), not its slope."""
    for j, (out, value) in enumerate(zip(outs, again)):
        moved = np.argwhere(~(np.abs(out.data - value) <= 1e-9 * (1 + np.abs(value))))
        if len(moved):
            idx = tuple(int(i) for i in moved[0])
            raise ValueError(
                f"{name}: f gives different outputs at the same inputs (output {j} index {idx}: {out.data[idx]:.6g} "
                f"then {value[idx]:.6g}): it is random or keeps state, so finite differences measure nothing; "
                "call model.eval() (dropout) or make f deterministic"
            )


def _precision_notes(title: str, outs: Sequence[Tensor], eps: float) -> list[str]:
    """A warning (and a note for the failure message) where f computes below float64.

    The check runs f on float64 copies; an output in float32 means f casts down somewhere, and a
    difference of size eps then carries a rounding error of about finfo.eps / eps relative to f:
    1e-1 for float32 at eps = 1e-6, enough to fail a correct gradient or pass a wrong one.
    """
    low = {str(o.dtype): o for o in outs if o.requires_grad and o.dtype.itemsize < 8}
    notes = [
        f"an output is {dtype} though the inputs were float64 copies: f computes in {dtype} somewhere "
        f"(.float(), astype), and differences of size eps={eps:g} carry rounding errors of about "
        f"{np.finfo(o.dtype).eps / eps:.0e} relative to f; compute in float64 or pass a larger eps"
        for dtype, o in low.items()
    ]
    for note in notes:
        warnings.warn(f"{title}: {note}", stacklevel=5)  # at the caller of gradcheck
    return notes


def _check_arguments(name: str, f: Any, eps: float, atol: float = 0.0, rtol: float = 0.0) -> None:
    """Refuse what would make every comparison meaningless: eps <= 0 divides by nothing, NaN passes nothing."""
    if not callable(f):
        raise TypeError(f"{name}: f must be callable, got {type(f).__name__}")
    for label, value, low in (("eps", eps, "> 0"), ("atol", atol, ">= 0"), ("rtol", rtol, ">= 0")):
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not number or not np.isfinite(value) or value < 0 or (value == 0 and low == "> 0"):
            raise ValueError(f"{name}: {label} must be a finite number {low}, got {value!r}")


def _prepare(
    name: str, inputs: Sequence[Any], params: list[tuple[str, Tensor]]
) -> tuple[list[Any], list[Tensor], list[str]]:
    """float64 copies of the inputs, the tensors to check and their labels.

    Those are the params and the floating Tensor inputs that require grad or, when none does,
    all of them (so ``gradcheck(f, x)`` works on a plain tensor drawn by a strategy). Each must be
    finite: a difference through NaN or inf compares nothing.
    """
    floats = [i for i, x in enumerate(inputs) if _is_float_tensor(x)]
    wrt = [i for i in floats if inputs[i].requires_grad] or floats
    if not wrt and not params:
        raise _nothing_to_check(name, inputs)
    args = _float64_copies(inputs, [i in wrt for i in range(len(inputs))])
    labels = [f"input {i} ({args[i].name!r})" if args[i].name else f"input {i}" for i in wrt]
    tensors, labels = [args[i] for i in wrt] + [p for _, p in params], labels + [label for label, _ in params]
    for t, label in zip(tensors, labels):
        bad = np.argwhere(~np.isfinite(t.data))
        if len(bad):
            raise ValueError(f"{name}: {label} holds {t.data[tuple(bad[0])]} at index {tuple(int(i) for i in bad[0])}; "
                             "finite differences need finite values")
    return args, tensors, labels


def _nothing_to_check(name: str, inputs: Sequence[Any]) -> ValueError:
    """The error for inputs without a floating Tensor; PyTorch's habit of one tuple of inputs gets a hint."""
    message = f"{name}: no floating-point Tensor among the inputs or params, nothing to check"
    if any(isinstance(x, (tuple, list)) and any(isinstance(t, Tensor) for t in x) for x in inputs):
        message += (f"; pass the inputs as separate arguments, {name}(f, x, y), not as one tuple "
                    f"{name}(f, (x, y)) as torch.autograd.{name} takes them")
    return ValueError(message)


def _numbered(n: int, single: bool) -> list[str]:
    return ["output"] if single else [f"output {j}" for j in range(n)]


def first_order_report(
    f: Callable, inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
    params: Iterable[Tensor] | None = None, fast_mode: bool = False,
) -> Report:  # fmt: skip
    """The comparison behind `gradcheck`, as a `Report`."""
    _check_arguments("gradcheck", f, eps, atol, rtol)
    with _float64_params(f, params) as labelled:
        args, wrt, labels = _prepare("gradcheck", inputs, labelled)
        problem = _Problem(lambda: f(*args), no_grad()(lambda: f(*args)), wrt, labels, _numbered, "gradcheck")
        return _check(problem, eps, atol, rtol, fast_mode)


def second_order_report(
    f: Callable, inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
    grad_outputs: Any = None, params: Iterable[Tensor] | None = None, fast_mode: bool = False,
) -> Report:  # fmt: skip
    """The comparison behind `gradgradcheck`, as a `Report`.

    The checked function is the first-order gradient G(x, v) = v^T df/dx, computed by the engine
    with ``create_graph=True``; its inputs are f's inputs (and params) and the ``grad_outputs`` v
    (a backward pass must be differentiable in both: it is linear in v, and depends on x through
    the op).
    """
    _check_arguments("gradgradcheck", f, eps, atol, rtol)
    with _float64_params(f, params) as labelled:
        args, first, labels = _prepare("gradgradcheck", inputs, labelled)
        with enable_grad():
            outs, _ = _outputs(f(*args))
        if grad_outputs is None:
            rng = np.random.default_rng(0)
            grad_outputs = [rng.standard_normal(o.shape) for o in outs]
        elif isinstance(grad_outputs, (Tensor, np.ndarray)):
            grad_outputs = [grad_outputs]
        vs = [Tensor(np.array(getattr(v, "data", v), dtype=np.float64), requires_grad=True) for v in grad_outputs]
        if [v.shape for v in vs] != [o.shape for o in outs]:
            raise ValueError(
                f"gradgradcheck: grad_outputs of shapes {[v.shape for v in vs]} for outputs of shapes "
                f"{[o.shape for o in outs]}"
            )

        @enable_grad()
        def first_order(create_graph: bool = True) -> list[Tensor]:
            grads = _vjp(_outputs(f(*args))[0], first, vs, create_graph)
            # a tensor that no output reaches has the gradient 0, whatever x and v are
            return [Tensor(np.zeros(t.shape)) if g is None else g for t, g in zip(first, grads)]

        problem = _Problem(
            first_order,
            lambda: first_order(create_graph=False),  # the numerical side needs values, not their graph
            first + vs,
            labels + [f"grad_outputs[{j}]" for j in range(len(vs))],
            lambda n, single: [f"the gradient of {label}" for label in labels],
            "gradgradcheck (second order)",
        )
        report = _check(problem, eps, atol, rtol, fast_mode, f_outs=outs)
        if not report.ok and report.worst is not None and report.worst.analytic is None:
            report.notes.append(
                f"the first-order gradient does not depend on {report.worst.input_label} in the graph: a backward "
                "in f computes on .data, wraps values in a new Tensor or returns an ndarray; write it with Tensor "
                "ops on ctx.saved_tensors and g"
            )
        return report


def _verdict(report: Report, raise_exception: bool) -> bool:
    if not report.ok and raise_exception:
        raise GradcheckError(report.message())
    return report.ok


def gradcheck(
    f: Callable,
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    params: Iterable[Tensor] | None = None,
    fast_mode: bool = False,
) -> bool:
    """Check the gradients the engine computes for ``f`` against finite differences.

    ``f(*inputs)`` returns a Tensor of any shape (or a sequence of Tensors); the whole Jacobian
    d(output)/d(input) is compared, entry by entry, |analytic - numerical| <= atol + rtol |numerical|,
    for every floating Tensor input that requires grad (all floating Tensor inputs if none does),
    and for every tensor of ``params``: when ``params`` is None and ``f`` has a ``parameters()``
    method (an ``nn.Module``), its parameters. Other inputs (ints, index arrays, ...) are passed
    through. The check runs on float64 copies of the inputs and on float64 parameters, which get
    back their arrays, ``.grad`` and ``requires_grad`` afterwards (buffers their values). An output
    below float64 (f casts down: differences of size eps are then rounding noise) gets a warning,
    and a note in the failure message; an f whose outputs change between two calls at the same
    inputs (dropout in train mode) is refused with a ValueError.

    Where the one-sided differences of an entry disagree (a kink: relu at 0, tied maxima), the
    entry passes when the analytic value lies between them. ``fast_mode=True`` compares one random
    projection v . J . u per checked tensor instead of every entry: one backward pass and two
    evaluations per tensor, for layers with thousands of parameters.

    Returns True when they agree. Otherwise raises `GradcheckError` naming the input (or
    parameter), the worst output and input index, both values and their difference; with
    ``raise_exception=False`` returns False instead. A gradient that the engine does not produce
    at all (None) counts as 0.

    >>> from autograd import tensor
    >>> gradcheck(lambda t: t.sin() * t, tensor([0.5, -1.0], requires_grad=True))
    True
    """
    return _verdict(first_order_report(f, inputs, eps, atol, rtol, params, fast_mode), raise_exception)


def gradgradcheck(
    f: Callable,
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    params: Iterable[Tensor] | None = None,
    fast_mode: bool = False,
    grad_outputs: Any = None,
) -> bool:
    """Check second-order gradients: `gradcheck` applied to the backward pass of ``f``.

    The first-order gradients v^T df/dx (v: ``grad_outputs``, one array per output of f; random
    normal with a fixed seed when omitted) are computed with ``create_graph=True`` and their
    Jacobian with respect to the inputs, the parameters (``params``, or a module's, as in
    `gradcheck`) and v is compared with differences of the same first-order gradients; kinks and
    ``fast_mode`` as in `gradcheck`. Failures raise `GradcheckError` (message says "second
    order"), or return False with ``raise_exception=False``.
    """
    report = second_order_report(f, inputs, eps, atol, rtol, grad_outputs, params, fast_mode)
    return _verdict(report, raise_exception)


def numerical_grad(f: Callable, *inputs: Any, eps: float = 1e-6) -> tuple:
    """Central-difference derivatives of ``f`` at ``inputs``, in float64.

    Returns a tuple with one entry per input: for a floating Tensor input, the Jacobian of f's
    output with respect to it, an ndarray of shape ``output.shape + input.shape`` (so for a scalar
    f, the gradient, with the input's shape); None for any other input. If f returns a sequence
    of Tensors, each entry is instead a tuple with one such Jacobian per output. ``f`` runs
    under ``no_grad`` on float64 copies of the inputs, which are left untouched. Inputs without a
    floating Tensor raise ``ValueError``.

    >>> from autograd import tensor
    >>> numerical_grad(lambda t: (t * t).sum(), tensor([1.0, 2.0]))[0].round(6)  # 2 t
    array([2., 4.])
    """
    _check_arguments("numerical_grad", f, eps)
    wrt = [i for i, x in enumerate(inputs) if _is_float_tensor(x)]
    if not wrt:
        raise _nothing_to_check("numerical_grad", inputs)
    args = _float64_copies(inputs, [False] * len(inputs))
    with no_grad():
        single = _outputs(f(*args))[1]
        diffs = _numerical(lambda: f(*args), [args[i] for i in wrt], eps)
    jac = {i: [np.asarray((fw + bw) / 2) for fw, bw in row] for i, row in zip(wrt, diffs)}  # 0-d stays an array
    return tuple((jac[i][0] if single else tuple(jac[i])) if i in jac else None for i in range(len(inputs)))
