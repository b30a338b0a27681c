"""Numerical differentiation and the gradient checks built on it.

The analytic Jacobian of ``f`` comes from the engine, one row per output element (a backward
pass seeded with a one-hot ``grad_outputs``); the numerical one from central differences,

    J[o, i] ~ (f(x + eps e_i)[o] - f(x - eps e_i)[o]) / (2 eps),

whose error is O(eps^2) from truncation plus O(machine_eps / eps) from rounding: both about
1e-10 in float64 with eps = 1e-6, which is why every check runs on float64 copies of the inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import grad
from ..mode import enable_grad, no_grad
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients of a function disagree."""


# --- inputs and outputs ---------------------------------------------------------------------------
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


def _values(f: Callable, args: Sequence[Any]) -> list[np.ndarray]:
    # a copy: an output may be a view of an input that is perturbed next
    return [np.array(o.data, dtype=np.float64) for o in _outputs(f(*args))[0]]


# --- the two Jacobians --------------------------------------------------------------------------------
def _numerical(f: Callable, args: Sequence[Any], wrt: Sequence[int], eps: float) -> list[list[np.ndarray]]:
    """``jac[k][j]``: d(output j)/d(input wrt[k]) by central differences, shape out_j.shape + in.shape."""
    base = _values(f, args)
    jac = []
    for i in wrt:
        x = args[i].data
        per_output = [np.zeros(o.shape + x.shape) for o in base]
        for idx in np.ndindex(x.shape):
            orig = x[idx]
            x[idx] = orig + eps
            plus = _values(f, args)
            x[idx] = orig - eps
            minus = _values(f, args)
            x[idx] = orig
            for J, p, m in zip(per_output, plus, minus):
                J[(Ellipsis, *idx)] = (p - m) / (2 * eps)
        jac.append(per_output)
    return jac


def _analytic(outs: Sequence[Tensor], wrt: Sequence[Tensor]) -> list[list[np.ndarray | None]]:
    """``jac[k][j]`` from backward passes seeded one-hot; None where output j does not reach input k."""
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


# --- comparison and report ----------------------------------------------------------------------------
@dataclass
class Report:
    """The outcome of one check, and its worst Jacobian entry (the one with the least slack)."""

    ok: bool
    title: str
    input_label: str = ""
    output_label: str = ""
    out_index: tuple = ()
    in_index: tuple = ()
    analytic: float | None = None  # None: the engine gave no gradient at all for this pair
    numerical: float = 0.0
    tolerance: float = 0.0

    @property
    def worst_error(self) -> float:
        """|analytic - numerical| at the worst entry (0.0 when there was nothing to compare)."""
        return abs((self.analytic or 0.0) - self.numerical)

    def message(self) -> str:
        analytic = "None (no gradient reaches this input)" if self.analytic is None else f"{self.analytic:.10g}"
        return (
            f"{self.title} failed for {self.input_label}: analytic and numerical gradients differ\n"
            f"  worst at {self.output_label} index {self.out_index}, {self.input_label} index {self.in_index}\n"
            f"  analytic:   {analytic}\n"
            f"  numerical:  {self.numerical:.10g}\n"
            f"  difference: {self.worst_error:.4g} > atol + rtol * |numerical| = {self.tolerance:.4g}"
        )


def _compare(
    analytic: list[list[np.ndarray | None]],
    numerical: list[list[np.ndarray]],
    in_ndims: Sequence[int],
    labels: tuple[Sequence[str], Sequence[str]],
    title: str,
    atol: float,
    rtol: float,
) -> Report:
    """Elementwise |a - n| <= atol + rtol |n| over every Jacobian block; report the worst entry.

    A None analytic block counts as zeros, so a missing gradient fails wherever the numerical
    one is not (near) zero.
    """
    input_labels, output_labels = labels
    report, worst_slack = Report(ok=True, title=title), np.inf
    for k, (a_row, n_row) in enumerate(zip(analytic, numerical)):
        for j, (a, n) in enumerate(zip(a_row, n_row)):
            if n.size == 0:
                continue
            tol = atol + rtol * np.abs(n)
            slack = np.nan_to_num(tol - np.abs((0.0 if a is None else a) - n), nan=-np.inf)  # NaN fails
            flat = int(np.argmin(slack))
            if slack.flat[flat] < worst_slack:
                worst_slack = slack.flat[flat]
                idx = tuple(int(i) for i in np.unravel_index(flat, n.shape))
                split = n.ndim - in_ndims[k]  # J has shape out.shape + in.shape
                report = Report(
                    ok=bool(worst_slack >= 0),
                    title=title,
                    input_label=input_labels[k],
                    output_label=output_labels[j],
                    out_index=idx[:split],
                    in_index=idx[split:],
                    analytic=None if a is None else float(a[idx]),
                    numerical=float(n[idx]),
                    tolerance=float(tol[idx]),
                )
    return report


# --- the checks -----------------------------------------------------------------------------------
def _label(i: int, x: Tensor) -> str:
    return f"input {i} ({x.name!r})" if x.name else f"input {i}"


def _prepare(inputs: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """float64 copies of the inputs, and the indices of those to check.

    Those are the floating Tensor inputs that require grad or, when none does, all of them
    (so ``gradcheck(f, x)`` works on a plain tensor drawn by a strategy).
    """
    floats = [i for i, x in enumerate(inputs) if _is_float_tensor(x)]
    wrt = [i for i in floats if inputs[i].requires_grad] or floats
    if not wrt:
        raise ValueError("gradcheck: no floating-point Tensor among the inputs, nothing to check")
    return _float64_copies(inputs, [i in wrt for i in range(len(inputs))]), wrt


def _check(
    f: Callable,
    f_values: Callable,
    args: list[Any],
    wrt: list[int],
    input_labels: list[str],
    output_labels: Callable[[int, bool], list[str]],
    title: str,
    tolerances: tuple[float, float, float],
) -> Report:
    """Compare the analytic and numerical Jacobians of ``f`` at ``args`` for the inputs ``wrt``.

    ``f_values`` computes the same values as ``f`` without recording what is not needed.
    """
    eps, atol, rtol = tolerances
    with enable_grad():
        outs, single = _outputs(f(*args))
        analytic = _analytic(outs, [args[i] for i in wrt])
    numerical = _numerical(f_values, args, wrt, eps)
    labels = (input_labels, output_labels(len(outs), single))
    return _compare(analytic, numerical, [args[i].ndim for i in wrt], labels, title, atol, rtol)


def first_order_report(f: Callable, inputs: Sequence[Any], eps: float, atol: float, rtol: float) -> Report:
    """The comparison behind `gradcheck`, as a `Report`."""
    args, wrt = _prepare(inputs)

    def output_labels(n: int, single: bool) -> list[str]:
        return ["output"] if single else [f"output {j}" for j in range(n)]

    labels = [_label(i, args[i]) for i in wrt]
    return _check(f, no_grad()(f), args, wrt, labels, output_labels, "gradcheck", (eps, atol, rtol))


def second_order_report(
    f: Callable, inputs: Sequence[Any], eps: float, atol: float, rtol: float, grad_outputs: Any = None
) -> Report:
    """The comparison behind `gradgradcheck`, as a `Report`.

    The checked function is the first-order gradient G(x, v) = v^T df/dx, computed by the engine
    with ``create_graph=True``; its inputs are f's inputs and the ``grad_outputs`` v (a backward
    pass must be differentiable in both: it is linear in v, and depends on x through the op).
    """
    args, wrt = _prepare(inputs)
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
    n = len(args)

    @enable_grad()
    def first_order(*xs_and_vs: Any, create_graph: bool = True) -> list[Tensor]:
        xs, v = xs_and_vs[:n], xs_and_vs[n:]
        pairs = [(o, g) for o, g in zip(_outputs(f(*xs))[0], v) if o.requires_grad]
        grads = [None] * len(wrt)
        if pairs:
            roots, seeds = zip(*pairs)
            grads = grad(roots, [xs[i] for i in wrt], grad_outputs=seeds, create_graph=create_graph, allow_unused=True)
        # an input that no output reaches has the gradient 0, whatever x and v are
        return [Tensor(np.zeros(xs[i].shape)) if g is None else g for i, g in zip(wrt, grads)]

    labels = [_label(i, args[i]) for i in wrt] + [f"grad_outputs[{j}]" for j in range(len(vs))]

    def output_labels(n_out: int, single: bool) -> list[str]:
        return [f"the gradient of {_label(i, args[i])}" for i in wrt]

    wrt2 = wrt + list(range(n, n + len(vs)))
    # the numerical side only needs the values of the first-order gradients, not their graph
    values = functools.partial(first_order, create_graph=False)
    title = "gradgradcheck (second order)"
    return _check(first_order, values, args + vs, wrt2, labels, output_labels, title, (eps, atol, rtol))


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
) -> bool:
    """Check the gradients the engine computes for ``f`` against central differences.

    ``f(*inputs)`` returns a Tensor of any shape (or a sequence of Tensors); the whole Jacobian
    d(output)/d(input) is compared, entry by entry, |analytic - numerical| <= atol + rtol |numerical|,
    for every floating Tensor input that requires grad (all floating Tensor inputs if none does).
    Other inputs (ints, index arrays, ...) are passed through unchanged. The check runs on float64
    copies, so the inputs themselves are never modified.

    Returns True when they agree. Otherwise raises `GradcheckError` naming the input, the worst
    output and input index, both values and their difference; with ``raise_exception=False``
    returns False instead. A gradient that the engine does not produce at all (None) counts as 0.

    >>> from autograd import tensor
    >>> gradcheck(lambda t: t.sin() * t, tensor([0.5, -1.0], requires_grad=True))
    True
    """
    return _verdict(first_order_report(f, inputs, eps, atol, rtol), raise_exception)


def gradgradcheck(
    f: Callable,
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    grad_outputs: Any = None,
) -> bool:
    """Check second-order gradients: `gradcheck` applied to the backward pass of ``f``.

    The first-order gradients v^T df/dx (v: ``grad_outputs``, one array per output of f; random
    normal with a fixed seed when omitted) are computed with ``create_graph=True`` and their
    Jacobian with respect to the inputs and to v is compared with central differences of the
    same first-order gradients. Failures raise `GradcheckError` (message says "second order"), or
    return False with ``raise_exception=False``.
    """
    return _verdict(second_order_report(f, inputs, eps, atol, rtol, grad_outputs), raise_exception)


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
        jac = dict(zip(wrt, _numerical(f, args, wrt, eps)))
    return tuple((jac[i][0] if single else tuple(jac[i])) if i in jac else None for i in range(len(inputs)))
