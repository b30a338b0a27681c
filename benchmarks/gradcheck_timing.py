#!/usr/bin/env python
"""gradcheck on a layer with thousands of parameters: fast mode against the dense check.

    python benchmarks/gradcheck_timing.py              # Conv2d(16, 32, 3) on (2, 16, 8, 8), both modes
    python benchmarks/gradcheck_timing.py --fast-only  # skip the dense check (it takes a while)
    python benchmarks/gradcheck_timing.py --repeat 5   # median of 5 runs of each

The layer has 32*16*3*3 + 32 = 4,640 parameters and the input 2,048 elements. The dense check
builds the whole Jacobian: one backward pass per output element (2 * 32 * 6 * 6 = 2,304) and two
forward passes per input and parameter element (13,376). Fast mode compares one random
projection v . J . u per tensor (input, weight, bias): one backward pass and 2 forward passes per
tensor, plus one forward pass. Both run in float64 on copies; the layer is restored.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import nn
from autograd import tensor
from autograd.testing.gradcheck import first_order_report


def timed(fast_mode: bool, repeat: int) -> tuple[float, str]:
    """Median seconds of ``repeat`` checks, and the last report's summary."""
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(16, 32, 3)
    x = tensor(rng.standard_normal((2, 16, 8, 8)).astype(np.float32))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        report = first_order_report(conv, [x], fast_mode=fast_mode)
        times.append(time.perf_counter() - start)
        assert report.ok, report.message()
    return statistics.median(times), report.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode (median); default 3")
    parser.add_argument("--fast-only", action="store_true", help="skip the dense check")
    args = parser.parse_args()
    print("gradcheck(nn.Conv2d(16, 32, 3), x) with x of shape (2, 16, 8, 8): 4,640 parameters")
    modes = [("fast", True)] + ([] if args.fast_only else [("dense", False)])
    results = {}
    for name, fast_mode in modes:
        results[name], summary = timed(fast_mode, args.repeat if fast_mode else 1)
        print(f"  {name:<5}  {results[name]:8.3f} s   {summary}")
    if "dense" in results:
        print(f"  fast mode is {results['dense'] / results['fast']:.0f}x faster")


if __name__ == "__main__":
    main()
