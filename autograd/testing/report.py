"""How analytic and numerical derivatives are compared, entry by entry, and the report of a check.

An entry passes when |analytic - numerical| <= atol + rtol |numerical| (numerical: the central
difference) or, at a kink, when the analytic value lies between the one-sided slopes there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# (tensor k, an index or (), multiples s) -> f's output values with tensor k moved by s * eps there
Probe = Callable[[int, Any, Sequence[int]], list[list[np.ndarray]]]


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
    """The outcome of one check. ``max_abs_error`` and ``max_rel_error`` (|a - n| / |n| where
    |n| > atol) cover every entry but the kinks that pass (counted in ``kinks``); ``worst`` is the
    entry with the least slack against the tolerance (the failing one, if any)."""

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
    notes: list[str] = field(default_factory=list)  # what makes this check less trustworthy

    def summary(self) -> str:
        """One line: the errors, the tolerance and the kinks."""
        what = "projections" if self.fast_mode else "entries"
        return (
            f"{what} compared: {self.entries}, max |analytic - numerical| {self.max_abs_error:.2e}, "
            f"max relative error {self.max_rel_error:.2e}, tolerance {self.atol:g} + {self.rtol:g} |numerical|, "
            f"{self.kinks} at kinks"
        )

    def message(self) -> str:
        """The failure message: where, both values, the difference and the tolerance."""
        w = self.worst
        assert w is not None
        analytic = "None (no gradient reaches this input)" if w.analytic is None else f"{w.analytic:.10g}"
        if self.fast_mode:
            where = f"  in the random projection v . J . u (v over the outputs, u over {w.input_label}; fast mode)"
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
        return "\n".join([*lines, *(f"  note: {note}" for note in self.notes), f"  ({self.summary()})"])


@dataclass
class Block:
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


def second_look(
    blocks: Sequence[Block], probe: Probe, base: list[np.ndarray], eps: float, atol: float, rtol: float
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


def summarize(blocks: Sequence[Block], title: str, atol: float, rtol: float, fast: bool) -> Report:
    report, worst_slack = Report(ok=True, title=title, atol=atol, rtol=rtol, fast_mode=fast), np.inf
    for b in blocks:
        if b.n.size == 0:
            continue
        report.entries += b.n.size
        report.kinks += int(b.kink.sum())
        smooth = ~b.kink | (b.slack < 0)  # a kink entry that fails counts too
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
