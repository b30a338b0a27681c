"""Named NumPy fast paths the ops call. Each computes a plain-array result that one line of NumPy
would also give, only faster, and says which row of ``benchmarks/run.py`` it moves and by how much.

The figures are ms per step of that row's chainrule cell with the routine and with the plain NumPy
call its docstring names: either each call replayed on its own (``python benchmarks/kernel_replay.py
cnn cnninfer``, minimum of 7 runs), or, where a trick also speeds up the ops after it (a layout, a
gradient that needs no copy), the whole step with the trick switched off in a copy of the tree (one
BLAS thread, minimum of a few interleaved runs). 2 cores shared with other jobs.

NumPy's elementwise loops and reductions pay a fixed cost per contiguous run of memory, so the
recurring theme is long runs: channels-last images (NHWC in memory, NCHW in shape) keep whole
pixels together, and the routines below keep or exploit that layout. The math never depends on
the layout: every routine returns the same numbers as the plain call named in its docstring.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

FEW = 16  # reductions of at most this many elements per output, over a large array, go slice by slice
SHORT_RUN = 256  # fewer contiguous elements than this per run, and NumPy's per-run cost dominates


# --- layouts ----------------------------------------------------------------------------------------
def memory_order(a: np.ndarray) -> tuple[int, ...]:
    """The axes of ``a`` from the slowest to the fastest in memory (by stride). A helper of the
    routines below; it computes no array and moves no row by itself."""
    return tuple(sorted(range(a.ndim), key=lambda i: -abs(a.strides[i])))


def dense_order(a: np.ndarray) -> tuple[int, ...] | None:
    """The memory order of ``a`` if it is a contiguous array with permuted axes, else None (helper)."""
    order = memory_order(a)
    return order if a.transpose(order).flags.c_contiguous else None


def in_order(a: np.ndarray, order: tuple[int, ...] | None) -> np.ndarray:
    """``a`` copied into memory laid out in axis ``order`` (slowest first); same shape and values.
    ``np.ascontiguousarray(a)`` for ``order=None``."""
    if order is None:
        return np.ascontiguousarray(a)
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def contiguous_run(a: np.ndarray) -> int:
    """How many elements of ``a`` lie back to back in memory along its fastest axes (helper)."""
    run, step = 1, a.itemsize
    for axis in reversed(memory_order(a)):
        if a.shape[axis] == 1:
            continue
        if a.strides[axis] != step:
            break
        run *= a.shape[axis]
        step *= a.shape[axis]
    return run


def compact(a: np.ndarray) -> np.ndarray:
    """``np.ascontiguousarray`` of ``a`` in a's own memory order, copying each short run of the
    fastest axis as one record of bytes (NumPy would pay its per-run cost every few numbers).
    A helper of `add_window_slice`, whose figure it shares."""
    order = memory_order(a)
    t = a.transpose(order)
    fast = order[-1]
    if a.ndim > 1 and a.strides[fast] == a.itemsize and a.shape[fast] > 1:
        record = np.dtype((np.void, a.itemsize * a.shape[fast]))
        t = np.ascontiguousarray(t.view(record)).view(a.dtype).reshape(t.shape)
    else:
        t = np.ascontiguousarray(t)
    return t.transpose(np.argsort(order))


def transpose(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``a.transpose(axes)``; undoing a transpose gives back the whole array itself, not a view of it,
    so a gradient that comes back through ``weight.T`` reaches ``weight.grad`` without a copy (the
    engine copies views it hands to ``.grad``). With `is_transposed_matrix`, for models that write
    ``x @ W.T + b`` themselves (the notebooks' classifiers, PyTorch habits): the 784-512-256-10 MLP
    step of row 5 written so, 9.60 -> 8.32 ms (one BLAS thread, minimum of three interleaved runs).
    The rows' own layers are `Linear` nodes now and no longer take this path."""
    out = a.transpose(axes)
    base = out.base
    if isinstance(base, np.ndarray) and base.shape == out.shape and base.strides == out.strides:
        return base if base.dtype == out.dtype else out
    return out


def is_transposed_matrix(a: np.ndarray) -> bool:
    """Is ``a`` a transposed view of a C-ordered matrix (``weight.T`` in a linear layer)? A test, not
    a fast path: MatMul's backward uses it to lay ``weight.grad`` out like the weight."""
    return a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


def affine(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``x @ w.T + b``. The product is a fresh array, so the bias goes into it in place (unless that
    would widen its dtype or shape): one full-size temporary less per linear layer. With the `Linear`
    op it serves (one node where transpose, matmul and add were three, and 11 fewer op calls per
    MLP step in backward), MLP step 7.85 -> 7.56 ms, 1.12x -> 1.09x the hand-written step (median of
    60 interleaved runs); the in-place add alone is 1.10x -> 1.09x of that."""
    out = np.matmul(x, w.T)
    if b is not None:
        out = np.add(out, b, out=out if b.ndim <= 1 and b.dtype == out.dtype else None)
    return out


def pad(a: np.ndarray, widths: np.ndarray, value: Any) -> np.ndarray:
    """``np.pad(a, widths, constant_values=value)``, laid out in memory like ``a`` (a channels-last
    batch stays channels-last, where convolution gathers whole pixels: see `conv2d`). CNN row: the
    two pads 0.46 -> 0.18 ms, and the second convolution's im2col gather from the padded batch
    2.16 -> 0.79 ms (np.pad would hand it an NCHW array), about 1.7 ms of the 83 ms step (2%)."""
    order = dense_order(a) or tuple(range(a.ndim))
    shape = [n + lo + hi for n, (lo, hi) in zip(a.shape, widths.tolist())]
    out = np.empty([shape[i] for i in order], a.dtype).transpose(np.argsort(order))
    out.fill(value)
    out[tuple(slice(lo, lo + n) for (lo, _), n in zip(widths.tolist(), a.shape))] = a
    return out


# --- elementwise --------------------------------------------------------------------------------------
def binary(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    """``ufunc(a, b)`` for an array that is itself a broadcast (zero strides, as a sum hands its
    gradient back) and a scalar: computed once per distinct value, and the result is that broadcast
    again, a read-only view. That is batch norm's backward, d(c * c) = g * 2 * c with g broadcast
    from the variance: one full-size temporary less per layer, 83 -> 74 ms and 5,600 -> 3,000 page
    faults per CNN step (before `keep_freed_memory`)."""
    spread, first = (a, True) if isinstance(a, np.ndarray) else (b, False)
    core = spread[tuple(slice(0, 1) if step == 0 else slice(None) for step in spread.strides)]
    return np.broadcast_to(ufunc(core, b) if first else ufunc(a, core), spread.shape)


# --- reductions --------------------------------------------------------------------------------------
def reduce_windows(ufunc: np.ufunc, a: np.ndarray, axes: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """``ufunc.reduce(a, axis=axes, keepdims=True)``.

    Many outputs of a few elements each (pooling windows, maxout pieces) are reduced by applying
    ``ufunc`` across the slices of one reduced axis at a time: a few passes over long runs of memory,
    where NumPy's own reduction would run its inner loop over the short windows. The axis slowest in
    memory goes first, so every later pass runs over a smaller array. CNN row: the two max pools
    (and their tie counts) 6.4 -> 1.3 ms per step, 6% of it; CNN inference 3.3 -> 0.9 ms, 11%.
    Below about 100 n outputs of n elements NumPy's reduction is the faster one (crossovers measured
    at 400 outputs for n = 4, 700 for 10, 2,000 for 16): the MLP's (256, 10) log-softmax sums.
    """
    n = math.prod(a.shape[i] for i in axes)
    if not 1 < n <= FEW or a.size < 100 * n * n:
        return ufunc.reduce(a, axis=axes, keepdims=True, dtype=dtype)
    for axis in sorted(axes, key=lambda i: -abs(a.strides[i])):
        if a.shape[axis] == 1:
            continue
        index = (slice(None),) * axis
        parts = [a[index + (slice(k, k + 1),)] for k in range(a.shape[axis])]
        out = ufunc(parts[0], parts[1], dtype=dtype)
        for part in parts[2:]:
            ufunc(out, part, out=out)
        a = out
    return a


def sum_kept(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``np.sum(a, axis=axes, keepdims=True)``.

    When the summed axes are the outer ones in memory of a large float array (the per-channel sums
    of a channels-last batch, a bias gradient) the sum is one BLAS matrix-vector product with a
    vector of ones, in the same precision, over rows of r * C numbers rather than C (r, a divisor of
    the summed count, makes them about 1,024 long; the r partial sums are added at the end). CNN row:
    the per-channel sums of a step (batch-norm statistics and bias gradients) 2.6 -> 0.4 ms replayed
    alone; the whole step 70.4 -> 64.8 ms (one BLAS thread, minimum of three interleaved runs each);
    a (65536, 32) bias gradient of its convolutions 3.95 -> 0.51 ms. Rows of SHORT_RUN numbers or
    more (a wide linear layer's bias gradient) are left to NumPy's own sum, which adds them faster:
    the MLP step's sums 0.18 -> 0.08 ms (BLAS's matrix-vector product reads them from a cold cache).
    """
    if a.dtype.kind not in "fc":
        return np.sum(a, axis=axes, keepdims=True)  # which widens small integers and bools
    if a.dtype in (np.float32, np.float64) and a.size >= 2**14 and 0 < len(axes) < a.ndim:
        m = math.prod(a.shape[i] for i in axes)
        k = a.size // m
        order = dense_order(a) if k < SHORT_RUN else None
        if order is not None and set(order[: len(axes)]) == set(axes):
            kept = order[len(axes):]
            r = max(d for d in range(1, max(1, 1024 // k) + 1) if m % d == 0)  # rows of about 1,024 numbers
            out = np.ones(m // r, a.dtype) @ a.transpose(order).reshape(m // r, r * k)
            if r > 1:
                out = out.reshape(r, k).sum(axis=0)
            out = out.reshape([a.shape[i] for i in kept]).transpose(np.argsort(kept))
            return out.reshape([1 if i in axes else n for i, n in enumerate(a.shape)])
    return reduce_windows(np.add, a, axes)


# --- windows ------------------------------------------------------------------------------------------
def add_window_slice(out: np.ndarray, part: np.ndarray) -> None:
    """``out += part``, where ``part`` is one kernel offset's slice of a window gradient. In a
    channels-last batch it is made of runs of C numbers; copied into long runs first (`compact`),
    the add runs along memory: CNN step 66.4 -> 64.1 ms (one BLAS thread, minimum of four
    interleaved runs each)."""
    if part.size >= 2**14 and contiguous_run(part) < SHORT_RUN:
        part = compact(part)
    out += part


# --- memory -------------------------------------------------------------------------------------------
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed large blocks for reuse rather than hand them back to the kernel
    (M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 1 GiB: `benchmarks/run.py --tune-malloc`). A training
    step allocates the same large temporaries every time, and a block fresh from the kernel costs a
    page fault per 4 KiB it touches: CNN step 71 -> 63 ms, 5,300 -> 1 page faults per step (one BLAS
    thread). The memory stays with the process for its next step, as with PyTorch's caching allocator.
    Called when autograd is imported, unless CHAINRULE_KEEP_FREED_MEMORY=0; False where there is no glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
