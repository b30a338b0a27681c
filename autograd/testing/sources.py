"""Where random choices come from, and the value domains and shapes drawn with them.

Every random thing in `autograd.testing` (an op's inputs, a random program, a strategy's shape)
is drawn from a *source* of choices: hypothesis inside a strategy (so failures shrink), or a
seeded NumPy generator (no hypothesis needed), through the same code.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

MAX_SIDE = 4  # small inputs: a Jacobian has (output size x input size) entries
Dims = tuple[int, ...]


class Source(Protocol):
    """Where choices come from: ``integer(lo, hi)`` in [lo, hi]; ``reals(shape, intervals)``, a
    float64 array with values in the union of the closed intervals; ``permutation(n)`` of range(n)."""

    def integer(self, lo: int, hi: int) -> int: ...

    def reals(self, shape: Dims, intervals: Sequence[tuple[float, float]]) -> np.ndarray: ...

    def permutation(self, n: int) -> np.ndarray: ...


class NumpySource:
    """Choices from a seeded ``np.random.Generator`` (no hypothesis needed)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def reals(self, shape: Dims, intervals: Sequence[tuple[float, float]]) -> np.ndarray:
        bounds = np.asarray(intervals, dtype=np.float64)
        widths = bounds[:, 1] - bounds[:, 0]
        which = self.rng.choice(len(bounds), size=shape, p=widths / widths.sum())
        return np.asarray(bounds[which, 0] + self.rng.uniform(size=shape) * widths[which], dtype=np.float64)

    def permutation(self, n: int) -> np.ndarray:
        return self.rng.permutation(n)


class HypothesisSource:
    """Choices drawn by hypothesis inside a ``@composite`` strategy, so failures shrink."""

    def __init__(self, draw: Callable) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        from hypothesis import strategies as st

        return self.draw(st.integers(lo, hi))

    def reals(self, shape: Dims, intervals: Sequence[tuple[float, float]]) -> np.ndarray:
        from hypothesis.extra import numpy as hnp

        return self.draw(hnp.arrays(np.float64, shape, elements=_elements(tuple(intervals))))

    def permutation(self, n: int) -> np.ndarray:
        from hypothesis import strategies as st

        return np.asarray(self.draw(st.permutations(range(n))), dtype=np.int64)


@functools.cache
def _elements(intervals: tuple[tuple[float, float], ...]) -> Any:
    from hypothesis import strategies as st

    return st.one_of(*(st.floats(lo, hi) for lo, hi in intervals))


# --- value domains ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Domain:
    """Where an op is differentiable: how to draw values there, and whether given values are there.

    Only poles and discontinuities need a domain: kinks (relu at 0, ties of max) need none, since
    gradcheck accepts any subgradient there.
    """

    draw: Callable[[Source, Dims], np.ndarray]
    contains: Callable[[np.ndarray], bool]


def _union(*intervals: tuple[float, float]) -> Callable[[Source, Dims], np.ndarray]:
    return lambda src, shape: src.reals(shape, intervals)


def _distinct(src: Source, shape: Dims) -> np.ndarray:
    """Values at least 0.1 apart: a shuffled grid of step 0.2, each value moved by up to 0.1."""
    n = math.prod(shape)
    grid = src.permutation(n).reshape(shape) - (n - 1) / 2
    return 0.2 * (grid + src.reals(shape, [(0.0, 0.5)]))


DOMAINS: dict[str, Domain] = {
    "real": Domain(_union((-2.0, 2.0)), lambda x: True),
    # log, sqrt, x ** fraction: away from the pole at 0
    "positive": Domain(_union((0.2, 2.0)), lambda x: bool(np.all(x >= 0.2))),
    # divisors; masks x[x > 0], whose shape jumps at 0
    "away_from_zero": Domain(_union((-2.0, -0.2), (0.2, 2.0)), lambda x: bool(np.all(np.abs(x) >= 0.2))),
    # std: no zero variance, where sqrt has its pole
    "distinct": Domain(_distinct, lambda x: x.size < 2 or bool(np.diff(np.sort(x, axis=None)).min() >= 0.1)),
}


# --- shapes -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnyShape:
    """A shape spec: any shape within the bounds (whatever the earlier inputs' shapes)."""

    min_dims: int = 0
    max_dims: int = 3
    min_side: int = 1
    max_side: int = MAX_SIDE

    def __call__(self, prev: Sequence[Dims], src: Source) -> Dims:
        ndim = src.integer(self.min_dims, self.max_dims)
        return tuple(src.integer(self.min_side, self.max_side) for _ in range(ndim))

    def fits(self, dims: Dims) -> bool:
        """Whether ``dims`` could have been drawn."""
        return self.min_dims <= len(dims) <= self.max_dims and all(self.min_side <= n <= self.max_side for n in dims)


@dataclass(frozen=True)
class Fixed:
    """A shape spec: always ``dims``."""

    dims: Dims

    def __call__(self, prev: Sequence[Dims], src: Source) -> Dims:
        return self.dims

    def fits(self, dims: Dims) -> bool:
        return dims == self.dims


def broadcastable(
    src: Source, base: Dims, min_dims: int = 0, max_dims: int | None = None, min_side: int = 1, max_side: int = MAX_SIDE
) -> Dims:
    """A shape that broadcasts with ``base`` in both directions.

    Right-aligned, each axis is base's size or 1 where base has a size, and any size where base
    has 1 or no axis; ``max_dims`` defaults to one axis more than base, three at most (unless base
    has more).
    """
    max_dims = max(len(base), min(len(base) + 1, 3)) if max_dims is None else max_dims
    sides = []
    for k in range(1, src.integer(min_dims, max_dims) + 1):
        b = base[-k] if k <= len(base) else 1
        sides.append(src.integer(min_side, max_side) if b == 1 else (b, 1)[src.integer(0, 1)])
    return tuple(reversed(sides))


def same(i: int = 0) -> Callable[[Sequence[Dims], Source], Dims]:
    """A shape spec: the shape of input ``i``."""
    return lambda prev, src: prev[i]


def broadcast(*of: int) -> Callable[[Sequence[Dims], Source], Dims]:
    """A shape spec: broadcasts with the broadcast of inputs ``of`` (input 0 by default)."""
    return lambda prev, src: broadcastable(src, np.broadcast_shapes(*(prev[i] for i in of or (0,))))
