#!/usr/bin/env python
"""What each routine of autograd/kernels.py buys on a benchmark row, measured call by call.

    python benchmarks/kernel_replay.py cnn         # or cnninfer, mlp, ... (the keys of run.py's rows)

One step of the row's chainrule cell runs with every kernel call recorded; each recorded call is
then replayed with the kernel and with the plain NumPy call it stands for (the one its docstring
names), taking the minimum CPU time (time.process_time) of a few runs of each. The sums are the
ms per step the routine takes with and without its trick. Replaying single calls, rather than
timing whole steps with a trick switched off, keeps the figures steady on a busy machine; what
it cannot see is an effect on later ops (a layout that makes the next op faster): `pad` is such
a case, and its docstring gives that figure separately.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import run  # noqa: E402

PLAIN = {
    "binary": lambda ufunc, a, b: ufunc(a, b),
    "reduce_windows": lambda ufunc, a, axes, dtype=None: ufunc.reduce(a, axis=axes, keepdims=True, dtype=dtype),
    "sum_kept": lambda a, axes: np.sum(a, axis=axes, keepdims=True),
    "add_window_slice": lambda out, part: out.__iadd__(part),
    "pad": lambda a, widths, value: np.pad(a, widths.tolist(), constant_values=value),
}


def record(step) -> dict:
    """{routine: [(args, kwargs), ...]} for one call of ``step``; the ops' references are patched
    for the call and restored after it."""
    from autograd import kernels
    from autograd.ops import reduce

    calls = collections.defaultdict(list)
    patched = [(kernels, name) for name in ("binary", "add_window_slice", "pad")]
    patched += [(reduce, name) for name in ("reduce_windows", "sum_kept")]
    saved = [(mod, name, getattr(mod, name)) for mod, name in patched]

    def recorder(name, fn):
        def call(*args, **kwargs):
            calls[name].append((args, kwargs))
            return fn(*args, **kwargs)
        return call

    try:
        for mod, name, fn in saved:
            setattr(mod, name, recorder(name, fn))
        step()
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)
    return calls


def _fresh_like(a: np.ndarray) -> np.ndarray:
    """Zeros with the strides of ``a`` (a slice of a larger array), so that an in-place replay writes
    into the same layout without touching the original."""
    span = sum((n - 1) * abs(s) for n, s in zip(a.shape, a.strides)) // a.itemsize + 1
    return np.lib.stride_tricks.as_strided(np.zeros(span, a.dtype), a.shape, a.strides)


def _best(fn, args, kwargs, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        fn(*args, **kwargs)
        times.append(time.process_time() - t0)
    return min(times)


def replay(row_key: str, reps: int = 7) -> dict:
    """{routine: (calls per step, ms with the kernel, ms with the plain call)} for one row."""
    from autograd import kernels

    row = next(r for r in run.ROWS if r.key == row_key and not r.memory)
    step = row.makers["chainrule"]()
    step()
    step()
    result = {}
    for name, calls in record(step).items():
        fast, plain, n = 0.0, 0.0, 0
        for args, kwargs in calls:
            if name == "add_window_slice":
                args = (_fresh_like(args[0]), args[1])
            fast += _best(getattr(kernels, name), args, kwargs, reps)
            plain += _best(PLAIN[name], args, kwargs, reps)
            n += 1
        result[name] = (n, fast * 1e3, plain * 1e3)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", nargs="+", help="row keys of benchmarks/run.py (cnn, cnninfer, mlp, ...)")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args(argv)
    for key in args.rows:
        for name, (n, fast, plain) in replay(key, args.reps).items():
            print(f"{key:9s} {name:17s} {n:3d} calls/step: {fast:7.2f} ms with the kernel, {plain:7.2f} ms plain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
