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

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine import enable_grad, grad, no_grad
from ..tensor import Tensor


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
Probe = Callable[[int, Any, Sequence[int]], list[list[np.ndarray]]]


def _shifted(
    f: Callable[[], Any], t: Tensor, where: Any, eps: float, multiples: Sequence[int]
) -> list[list[np.ndarray]]:
    """f's output values with ``t`` moved by s * eps for each s of ``multiples``; ``t`` is restored.

    ``where`` is an index (move one element) or an array (move along that direction).
    """
    x, values = t.data, []
    one = isinstance(where, tuple)
    orig = x[where] if one else x.copy()
    for s in multiples:
        if one:
            x[where] = orig + s * eps
        else:
            x[...] = orig + s * eps * where
        values.append(_values(f))
    if one:
        x[where] = orig
    else:
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


def _vjp(outs: Sequence[Tensor], wrt: Sequence[Tensor], vs: Sequence[np.ndarray]) -> list[Tensor | None]:
    """v^T J for every tensor of ``wrt``, in one backward pass."""
    pairs = [(o, Tensor(v)) for o, v in zip(outs, vs) if o.requires_grad]
    if not pairs:
        return [None] * len(wrt)
    roots, seeds = zip(*pairs)
    return list(grad(list(roots), list(wrt), grad_outputs=list(seeds), allow_unused=True))


# --- comparison and report ----------------------------------------------------------------------------
@dataclass
class Entry:
    """One compared Jacobian entry (or, in fast mode, one projection v . J . u)."""

    input_label: str
    output_label: str
    out_index: tuple
    in_index: tuple
    analytic: float | None  # None: the engine gave no gradient at all for this pair
    numerical: float  # the central difference
    one_sided: tuple[float, float]  # the forward and backward differences
    tolerance: float
    kink: bool  # the one-sided slopes disagree: x is within eps of a kink


@dataclass
class Report:
    """The outcome of one check: the verdict, honest error statistics, and the worst entry.

    ``max_abs_error`` and ``max_rel_error`` (|a - n| / |n| over entries with |n| > atol) are taken
    over the smooth entries; entries at kinks are counted in ``kinks``.
    ``worst`` is the entry with the least slack against the tolerance (the failing one, if any).
    """

    ok: bool
    title: str
    atol: float
    rtol: float
    fast_mode: bool = False
    entries: int = 0
    kinks: int = 0
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: Entry | None = field(default=None, repr=False)

    def summary(self) -> str:
        """One line: the errors, the tolerance and the kinks."""
        what = "projections" if self.fast_mode else "entries"
        return (
            f"{self.entries} {what}, max |analytic - numerical| {self.max_abs_error:.2e}, "
            f"max relative error {self.max_rel_error:.2e}, tolerance {self.atol:g} + {self.rtol:g} |numerical|, "
            f"{self.kinks} at kinks"
        )

    def message(self) -> str:
        """The failure message: where, both values, the difference and the tolerance."""
        w = self.worst
        assert w is not None
        analytic = "None (no gradient reaches this input)" if w.analytic is None else f"{w.analytic:.10g}"
        if self.fast_mode:
            where = f"  in the random projection v . J . u of {w.output_label} onto {w.input_label} (fast mode)"
        else:
            where = f"  worst at {w.output_label} index {w.out_index}, {w.input_label} index {w.in_index}"
        lines = [
            f"{self.title} failed for {w.input_label}: analytic and numerical gradients differ",
            where,
            f"  analytic:   {analytic}",
            f"  numerical:  {w.numerical:.10g}",
            f"  difference: {abs((w.analytic or 0.0) - w.numerical):.4g} > atol + rtol * |numerical| = "
            f"{w.tolerance:.4g}",
        ]
        if w.kink:
            lo, hi = sorted(w.one_sided)
            lines.append(f"  at a kink: one-sided differences {lo:.6g} and {hi:.6g}; a subgradient lies between")
        return "\n".join([*lines, f"  ({self.summary()})"])


@dataclass
class _Block:
    """The analytic and numerical values of the pair (tensor k, output j), and how they compare."""

    k: int
    j: int
    input_label: str
    output_label: str
    in_ndim: int
    analytic: np.ndarray | None
    forward: np.ndarray
    backward: np.ndarray

    def judge(self, atol: float, rtol: float) -> None:
        """Slack of each entry: >= 0 where |a - n| <= tol, or a lies between differing one-sided slopes."""
        self.a = np.zeros_like(self.forward) if self.analytic is None else self.analytic
        self.n = (self.forward + self.backward) / 2
        self.tol = atol + rtol * np.abs(self.n)
        self.err = np.abs(self.a - self.n)
        self.kink = np.zeros(self.n.shape, dtype=bool)
        self.slack = np.array(np.nan_to_num(self.tol - self.err, nan=-np.inf))  # NaN fails
        self.rescue(self.forward, self.backward, atol, rtol, (Ellipsis,), far=False)

    def rescue(self, left: np.ndarray, right: np.ndarray, atol: float, rtol: float, at: tuple, far: bool) -> None:
        """Where the entries ``at`` sit at a kink, pass them if the analytic value lies between the
        one-sided slopes ``left`` and ``right``.

        A kink: the slopes differ or, for slopes measured away from x (``far``), the central
        difference does not lie between them (a jump at x, as the gradient of max has at a tie).
        """
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        tol = self.tol[at]
        kink = hi - lo > atol + rtol * np.maximum(np.abs(lo), np.abs(hi))
        if far:
            kink |= np.minimum(self.n[at] - lo, hi - self.n[at]) + tol < 0
        between = np.nan_to_num(np.minimum(self.a[at] - lo, hi - self.a[at]) + tol, nan=-np.inf)
        self.slack[at] = np.where(kink, np.maximum(self.slack[at], between), self.slack[at])
        self.kink[at] = self.kink[at] | kink

    def failing_columns(self) -> set[tuple]:
        """The input indices of the entries that fail."""
        split = self.n.ndim - self.in_ndim  # the block has shape out.shape + in.shape
        return {
            tuple(int(i) for i in np.unravel_index(f, self.n.shape)[split:]) for f in np.flatnonzero(self.slack < 0)
        }


def _second_look(
    blocks: Sequence[_Block], probe: Probe, base: list[np.ndarray], eps: float, atol: float, rtol: float
) -> None:
    """Look again at each input element with a failing entry, with slopes that do not touch x.

    (f(x + 2 eps) - f(x + eps)) / eps and (f(x - eps) - f(x - 2 eps)) / eps are the slopes of the
    two pieces of f around a kink or jump at x (a tie at second order, where the gradient jumps);
    a correct subgradient lies between them, a wrong gradient of a smooth f does not.
    """
    columns: dict[int, set[tuple]] = {}
    for b in blocks:
        columns.setdefault(b.k, set()).update(b.failing_columns())
    for k, cols in columns.items():
        for idx in sorted(cols):
            far_plus, far_minus = probe(k, idx, (2, -2))
            for b in (b for b in blocks if b.k == k):
                at = (Ellipsis, *idx)
                right = (far_plus[b.j] - base[b.j]) / eps - b.forward[at]
                left = (base[b.j] - far_minus[b.j]) / eps - b.backward[at]
                b.rescue(left, right, atol, rtol, at, far=True)


def _report(blocks: Sequence[_Block], title: str, atol: float, rtol: float, fast: bool) -> Report:
    report, worst_slack = Report(ok=True, title=title, atol=atol, rtol=rtol, fast_mode=fast), np.inf
    for b in blocks:
        if b.n.size == 0:
            continue
        report.entries += b.n.size
        report.kinks += int(b.kink.sum())
        smooth = ~b.kink
        if smooth.any():
            report.max_abs_error = max(report.max_abs_error, float(np.nan_to_num(b.err[smooth], nan=np.inf).max()))
            big = smooth & (np.abs(b.n) > atol)
            if big.any():
                report.max_rel_error = max(report.max_rel_error, float((b.err[big] / np.abs(b.n[big])).max()))
        flat = int(np.argmin(b.slack))
        if b.slack.flat[flat] < worst_slack:
            worst_slack = b.slack.flat[flat]
            idx = tuple(int(i) for i in np.unravel_index(flat, b.n.shape))
            split = b.n.ndim - b.in_ndim
            one_sided = (float(b.forward[idx]), float(b.backward[idx]))
            analytic = None if b.analytic is None else float(b.a[idx])
            report.worst = Entry(b.input_label, b.output_label, idx[:split], idx[split:], analytic,
                                 float(b.n[idx]), one_sided, float(b.tol[idx]), bool(b.kink[idx]))  # fmt: skip
    report.ok = bool(worst_slack >= 0)
    return report


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


def _dense(p: _Problem, outs: list[Tensor], out_labels: list[str], eps: float) -> tuple[list[_Block], Probe, list]:
    with enable_grad():
        analytic = _analytic(outs, p.wrt)
    numerical = _numerical(p.f_values, p.wrt, eps)
    blocks = [
        _Block(k, j, p.labels[k], out_labels[j], t.ndim, a, fw, bw)
        for k, (t, a_row, n_row) in enumerate(zip(p.wrt, analytic, numerical))
        for j, (a, (fw, bw)) in enumerate(zip(a_row, n_row))
    ]
    return blocks, lambda k, idx, ms: _shifted(p.f_values, p.wrt[k], idx, eps, ms), _values(p.f_values)


def _fast(p: _Problem, outs: list[Tensor], eps: float) -> tuple[list[_Block], Probe, list]:
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
            _Block(k, 0, p.labels[k], "v . output", 0, a, (plus[0] - base[0]) / eps, (base[0] - minus[0]) / eps)
        )
    return blocks, probe, base


def _check(p: _Problem, eps: float, atol: float, rtol: float, fast: bool) -> Report:
    with enable_grad():
        outs, single = _outputs(p.f())
    blocks, probe, base = _fast(p, outs, eps) if fast else _dense(p, outs, p.output_labels(len(outs), single), eps)
    for b in blocks:
        b.judge(atol, rtol)
    _second_look(blocks, probe, base, eps, atol, rtol)
    return _report(blocks, p.title, atol, rtol, fast)


def _label(i: int, x: Tensor) -> str:
    return f"input {i} ({x.name!r})" if x.name else f"input {i}"


def _prepare(inputs: Sequence[Any], n_params: int) -> tuple[list[Any], list[int]]:
    """float64 copies of the inputs, and the indices of those to check.

    Those are the floating Tensor inputs that require grad or, when none does, all of them
    (so ``gradcheck(f, x)`` works on a plain tensor drawn by a strategy).
    """
    floats = [i for i, x in enumerate(inputs) if _is_float_tensor(x)]
    wrt = [i for i in floats if inputs[i].requires_grad] or floats
    if not wrt and not n_params:
        raise ValueError("gradcheck: no floating-point Tensor among the inputs or params, nothing to check")
    return _float64_copies(inputs, [i in wrt for i in range(len(inputs))]), wrt


def _single_or_numbered(n: int, single: bool) -> list[str]:
    return ["output"] if single else [f"output {j}" for j in range(n)]


def first_order_report(
    f: Callable, inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
    params: Iterable[Tensor] | None = None, fast_mode: bool = False,
) -> Report:  # fmt: skip
    """The comparison behind `gradcheck`, as a `Report`."""
    with _float64_params(f, params) as labelled:
        args, wrt = _prepare(inputs, len(labelled))
        problem = _Problem(
            lambda: f(*args),
            no_grad()(lambda: f(*args)),
            [args[i] for i in wrt] + [p for _, p in labelled],
            [_label(i, args[i]) for i in wrt] + [label for label, _ in labelled],
            _single_or_numbered,
            "gradcheck",
        )
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
    with _float64_params(f, params) as labelled:
        args, wrt = _prepare(inputs, len(labelled))
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
        first = [args[i] for i in wrt] + [p for _, p in labelled]
        labels = [_label(i, args[i]) for i in wrt] + [label for label, _ in labelled]

        @enable_grad()
        def first_order(create_graph: bool = True) -> list[Tensor]:
            pairs = [(o, g) for o, g in zip(_outputs(f(*args))[0], vs) if o.requires_grad]
            grads = [None] * len(first)
            if pairs:
                roots, seeds = zip(*pairs)
                grads = grad(roots, first, grad_outputs=seeds, create_graph=create_graph, allow_unused=True)
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
        return _check(problem, eps, atol, rtol, fast_mode)


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
    back their arrays, ``.grad`` and ``requires_grad`` afterwards (buffers their values).

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
    under ``no_grad`` on float64 copies of the inputs, which are left untouched.

    >>> from autograd import tensor
    >>> numerical_grad(lambda t: (t * t).sum(), tensor([1.0, 2.0]))[0].round(6)  # 2 t
    array([2., 4.])
    """
    wrt = [i for i, x in enumerate(inputs) if _is_float_tensor(x)]
    args = _float64_copies(inputs, [False] * len(inputs))
    with no_grad():
        single = _outputs(f(*args))[1]
        diffs = _numerical(lambda: f(*args), [args[i] for i in wrt], eps)
    jac = {i: [(fw + bw) / 2 for fw, bw in row] for i, row in zip(wrt, diffs)}
    return tuple((jac[i][0] if single else tuple(jac[i])) if i in jac else None for i in range(len(inputs)))
