#!/usr/bin/env python
"""chainrule against PyTorch (CPU) and against the same math written by hand in NumPy.

    python benchmarks/run.py                 # full run, 1-2 minutes on an idle 2-core machine
    python benchmarks/run.py --quick         # smoke run: same sizes, fewer repetitions
    python benchmarks/run.py --only cnn      # one row (or a comma list: 1,3 / tanh,mlp)
    python benchmarks/run.py --json out.json # also dump every number
    python benchmarks/run.py --tune-malloc   # rerun under tuned glibc malloc settings (see below)
    python benchmarks/run.py --threads 1     # torch and NumPy's BLAS on one thread each
    python benchmarks/run.py --rounds 3      # each row three times, columns in turn: medians

Rows (keys for --only in brackets):
  1 [tanh]    per-op overhead: x (16,) requires grad, 1,000 x `y = (y * 1.0001 + 0.0001).tanh()`,
              then y.sum().backward(); time / 3,000 ops.
  2 [scalar]  a 2-16-16-1 ReLU MLP built one scalar op at a time (0-d tensors; the hand column
              is a micrograd-style Value class on Python floats); time / graph op nodes.
  3 [matmul]  sum(tanh(tanh(X @ W1) @ W2)), X (512, 1024), W (1024, 1024), float32.
  4 [cnn]     one SGD training step of the lecture CNN on a batch of 64 3x32x32 images, and the
              step's peak memory.
  5 [mlp]     one SGD training step of a 784-512-256-10 ReLU MLP, batch 256, and its peak memory.
  6 [tinymlp] row 2's MLP as matrix ops, x (1, 2) @ W1 (2, 16) ...: sum(out).backward(), ms/step.
  7 [cnninfer] row 4's CNN forward in eval mode under no_grad (running statistics), batch 64.
  8 [dwsep]   depthwise 3x3 conv (groups=32, padding 1) then pointwise 1x1 32->64 on a batch of
              64 x 32 x 32 x 32; sum(out).backward() into the input and both weights.

Method (the same for the three columns):
- --rounds N measures each row N times, taking the columns in turn, and reports each cell's
  median, so a burst of load from other jobs on a shared machine touches all columns alike.
- Each cell runs in a fresh Python process (--same-process runs them all in this one), so no
  column inherits the heap or the thread pools that an earlier one left behind: after torch's
  large frees, glibc serves the next column's big arrays without page faults, and that column
  would look faster than it is on its own.
- Each cell builds its model and data untimed, runs warm-up calls, then times repetitions of one
  call with time.perf_counter and reports the median (the minimum goes to --json). The gradient
  is cleared inside each timed call (as a training loop would), so backward never accumulates
  into a previous repetition's gradient.
- Before each timed repetition gc.collect() runs, and the cyclic garbage collector is disabled
  during it (as timeit does), so no repetition pays for another one's garbage; --gc keeps the
  collector enabled during the timed call instead.
- Threads: torch.set_num_threads(2); NumPy uses its BLAS's default threads (printed on top).
  Cells run one after the other with a short pause between them, so BLAS / OpenMP threads that
  spin after their last call do not steal cores from the next cell. On a machine shared with
  other jobs, multi-threaded BLAS and OpenMP barriers slow down far more than the load suggests;
  --threads 1 (torch and NumPy's BLAS single-threaded) gives steadier numbers there.
- A cell that fails (chainrule is still being written; torch may be missing) or runs past its
  time limit prints "n/a (reason)" and the table goes on.
- Peak memory per step: for chainrule and NumPy, tracemalloc (NumPy reports its buffers to it):
  one traced step to reach steady state, then the peak of the next step above the memory held
  before it. PyTorch's allocations are invisible to tracemalloc, so its cell is the growth of the
  peak resident set size over one full step in a fresh subprocess, after a warm-up step on a tiny
  batch (Linux: the peak is reset through /proc/self/clear_refs and read from VmHWM; elsewhere
  ru_maxrss); such cells are marked "(rss)". --mem rss measures all three columns that way.
- glibc malloc: large freed blocks go back to the kernel (munmap, or a trim of the heap top), and
  their pages fault in again, zero-filled, on the next step; the minor page faults per training
  step are printed under the table. The header says whether MALLOC_MMAP_THRESHOLD_ and
  MALLOC_TRIM_THRESHOLD_ are set. --tune-malloc re-runs this script with both set (TUNED_MALLOC),
  which takes those faults to about zero; setting MALLOC_MMAP_THRESHOLD_ alone is not enough (it
  also freezes the trim threshold at its 128 KiB default). The settings reach all three columns,
  since torch's CPU allocator is malloc too.
- The OpenBLAS environment (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, ...) is reported, never changed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import handwritten as hw  # noqa: E402

IMPLS = ("chainrule", "torch", "hand")
HEADERS = {"chainrule": "chainrule", "torch": "torch", "hand": "numpy-by-hand"}
THREADS = {"torch": 2}            # --threads N also limits NumPy's BLAS (threadpoolctl)
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**30)}
ENV_REPORTED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")

TANH_STEPS = 1000
SCALAR_NODES = hw.scalar_mlp_nodes()
MATMUL_SHAPES = ((512, 1024), (1024, 1024), (1024, 1024))
CNN_BATCH = 64
MLP_BATCH = 256
TINY_X = np.array([[0.3, -0.7]], np.float32)
DWSEP_SHAPE = (64, 32, 32)     # batch, channels, height = width
DWSEP_OUT = 64
LR = 0.01


class CellError(Exception):
    """A cell that cannot run; the message becomes the cell's n/a reason."""


class CellTimeout(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Lazy imports: every row imports what it needs when it runs.

_torch_cache: dict = {}


def get_torch():
    if "mod" not in _torch_cache:
        try:
            import torch
        except Exception as e:  # ImportError, or a broken install
            _torch_cache["mod"] = None
            _torch_cache["err"] = f"no torch: {type(e).__name__}"
        else:
            torch.set_num_threads(THREADS["torch"])
            _torch_cache["mod"] = torch
    if _torch_cache["mod"] is None:
        raise CellError(_torch_cache["err"])
    return _torch_cache["mod"]


def get_chainrule():
    """(autograd, nn, nn.functional, nn.optim), imported on first use."""
    autograd = importlib.import_module("autograd")
    nn = importlib.import_module("nn")
    functional = getattr(nn, "functional", None) or importlib.import_module("nn.functional")
    optim = getattr(nn, "optim", None) or importlib.import_module("nn.optim")
    return autograd, nn, functional, optim


def _clear_grad(*tensors):
    """Drop the previous repetition's gradient so backward does not accumulate into it."""
    for t in tensors:
        with contextlib.suppress(AttributeError):   # grad not assignable: accumulate instead
            t.grad = None


def _load_chainrule_params(model, params: dict) -> None:
    """Start from the same numbers as the other columns when the model accepts them; timing does
    not depend on the values, so a model that cannot load them keeps its own initialisation."""
    with contextlib.suppress(Exception):
        model.load_state_dict({k: v.copy() for k, v in params.items()}, strict=False)


# --------------------------------------------------------------------------------------------
# Row 1: per-op overhead on a (16,) tensor.

def _tanh_x():
    return np.random.default_rng(0).standard_normal(16).astype(np.float32)


def _tanh_step(x):
    """The same chain for any tensor type with ``*``, ``+``, ``tanh``, ``sum`` and ``backward``."""
    def step():
        _clear_grad(x)
        y = x
        for _ in range(TANH_STEPS):
            y = (y * 1.0001 + 0.0001).tanh()
        y.sum().backward()
    return step


def tanh_chainrule(batch=None):
    autograd = get_chainrule()[0]
    return _tanh_step(autograd.Tensor(_tanh_x(), requires_grad=True))


def tanh_torch(batch=None):
    torch = get_torch()
    return _tanh_step(torch.tensor(_tanh_x(), requires_grad=True))


def tanh_hand(batch=None):
    x = _tanh_x()
    return lambda: hw.tanh_chain(x, TANH_STEPS)


# --------------------------------------------------------------------------------------------
# Row 2: a scalar graph.

def _scalar_step(make_scalar, relu, zero):
    layers = hw.scalar_mlp_init(0)
    params = [[([make_scalar(w, True) for w in ws], make_scalar(b, True)) for ws, b in layer]
              for layer in layers]
    flat = [p for layer in params for ws, b in layer for p in (*ws, b)]
    inputs = [make_scalar(0.3, False), make_scalar(-0.7, False)]

    def step():
        for p in flat:
            p.grad = zero
        out = hw.scalar_mlp_forward(params, inputs, relu)
        out.backward()
    return step


def scalar_chainrule(batch=None):
    autograd = get_chainrule()[0]
    return _scalar_step(lambda v, g: autograd.Tensor(v, requires_grad=g), lambda t: t.relu(), None)


def scalar_torch(batch=None):
    torch = get_torch()
    return _scalar_step(lambda v, g: torch.tensor(v, requires_grad=g), torch.relu, None)


def scalar_hand(batch=None):
    return _scalar_step(lambda v, g: hw.Value(v), hw.Value.relu, 0.0)


# --------------------------------------------------------------------------------------------
# Row 3: a matmul-bound chain.

def _matmul_data():
    rng = np.random.default_rng(0)
    x, w1, w2 = (rng.standard_normal(s).astype(np.float32) for s in MATMUL_SHAPES)
    w1 /= np.float32(32.0)      # 1 / sqrt(1024): keeps tanh out of saturation
    w2 /= np.float32(32.0)
    return x, w1, w2


def matmul_chainrule(batch=None):
    autograd = get_chainrule()[0]
    x, w1, w2 = _matmul_data()
    x = autograd.Tensor(x)
    w1, w2 = autograd.Tensor(w1, requires_grad=True), autograd.Tensor(w2, requires_grad=True)

    def step():
        _clear_grad(w1, w2)
        ((x @ w1).tanh() @ w2).tanh().sum().backward()
    return step


def matmul_torch(batch=None):
    torch = get_torch()
    x, w1, w2 = (torch.from_numpy(a) for a in _matmul_data())
    w1.requires_grad_()
    w2.requires_grad_()

    def step():
        _clear_grad(w1, w2)
        torch.tanh(torch.tanh(x @ w1) @ w2).sum().backward()
    return step


def matmul_hand(batch=None):
    x, w1, w2 = _matmul_data()
    return lambda: hw.matmul_chain(x, w1, w2)


# --------------------------------------------------------------------------------------------
# Rows 4 and 5: training steps.

def _cnn_data(batch):
    rng = np.random.default_rng(1)
    return rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, batch)


def _mlp_data(batch):
    rng = np.random.default_rng(1)
    return rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch)


def _chainrule_train_step(build, params, x, target):
    autograd, nn, functional, optim = get_chainrule()
    model = build(nn)
    _load_chainrule_params(model, params)
    model.train()
    opt = optim.SGD(model.parameters(), lr=LR)
    xt = autograd.Tensor(x)

    def step():
        opt.zero_grad()
        loss = functional.cross_entropy(model(xt), target)
        loss.backward()
        opt.step()
    return step


def _torch_train_step(model, x, target):
    torch = get_torch()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), tt)
        loss.backward()
        opt.step()
    return step


def _hand_train_step(model, x, target):
    return lambda: model.step(x, target)


def _chainrule_cnn(nn):
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4096, 10))


def cnn_chainrule(batch=CNN_BATCH):
    return _chainrule_train_step(_chainrule_cnn, hw.cnn_init(0), *_cnn_data(batch))


def cnn_torch(batch=CNN_BATCH):
    return _torch_train_step(hw.torch_cnn(get_torch(), hw.cnn_init(0)), *_cnn_data(batch))


def cnn_hand(batch=CNN_BATCH):
    return _hand_train_step(hw.HandCNN(hw.cnn_init(0), lr=LR), *_cnn_data(batch))


def mlp_chainrule(batch=MLP_BATCH):
    def build(nn):
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    return _chainrule_train_step(build, hw.mlp_init(0), *_mlp_data(batch))


def mlp_torch(batch=MLP_BATCH):
    return _torch_train_step(hw.torch_mlp(get_torch(), hw.mlp_init(0)), *_mlp_data(batch))


def mlp_hand(batch=MLP_BATCH):
    return _hand_train_step(hw.HandMLP(hw.mlp_init(0), lr=LR), *_mlp_data(batch))


# --------------------------------------------------------------------------------------------
# Row 6: the scalar row's MLP as matrix ops on a (1, 2) row: per-op overhead of small arrays.

def _tiny_mlp_step(x, params, relu):
    """sum(MLP(x)).backward() for any tensor type with ``@``, ``+``, ``sum`` and ``backward``."""
    flat = [p for wb in params for p in wb]
    last = len(params) - 1

    def step():
        _clear_grad(*flat)
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < last:
                h = relu(h)
        h.sum().backward()
    return step


def tinymlp_chainrule(batch=None):
    autograd = get_chainrule()[0]
    params = [tuple(autograd.Tensor(a, requires_grad=True) for a in wb) for wb in hw.tiny_mlp_params(0)]
    return _tiny_mlp_step(autograd.Tensor(TINY_X), params, lambda t: t.relu())


def tinymlp_torch(batch=None):
    torch = get_torch()
    params = [tuple(torch.tensor(a, requires_grad=True) for a in wb) for wb in hw.tiny_mlp_params(0)]
    return _tiny_mlp_step(torch.tensor(TINY_X), params, torch.relu)


def tinymlp_hand(batch=None):
    params = hw.tiny_mlp_params(0)
    return lambda: hw.tiny_mlp_step(TINY_X, params)


# --------------------------------------------------------------------------------------------
# Row 7: the CNN's forward pass in evaluation mode, without a graph.

def cnninfer_chainrule(batch=CNN_BATCH):
    autograd, nn = get_chainrule()[:2]
    model = _chainrule_cnn(nn)
    _load_chainrule_params(model, hw.cnn_init(0))
    model.eval()
    xt = autograd.Tensor(_cnn_data(batch)[0])

    def step():
        with autograd.no_grad():
            return model(xt)
    return step


def cnninfer_torch(batch=CNN_BATCH):
    torch = get_torch()
    model = hw.torch_cnn(torch, hw.cnn_init(0)).eval()
    xt = torch.from_numpy(_cnn_data(batch)[0])

    def step():
        with torch.no_grad():
            return model(xt)
    return step


def cnninfer_hand(batch=CNN_BATCH):
    model, x = hw.HandCNN(hw.cnn_init(0)), _cnn_data(batch)[0]
    return lambda: model.forward_eval(x)


# --------------------------------------------------------------------------------------------
# Row 8: depthwise 3x3 (groups = channels) then pointwise 1x1, forward and backward.

def _dwsep_data():
    rng = np.random.default_rng(2)
    n, c, size = DWSEP_SHAPE
    return (rng.standard_normal((n, c, size, size)).astype(np.float32),
            (rng.standard_normal((c, 1, 3, 3)) / 3).astype(np.float32),
            (rng.standard_normal((DWSEP_OUT, c, 1, 1)) / np.sqrt(c)).astype(np.float32))


def _dwsep_step(conv2d, x, wd, wp):
    """sum(conv2d(conv2d(x, wd, groups=C), wp)).backward(), for chainrule's or torch's conv2d."""
    def step():
        _clear_grad(x, wd, wp)
        conv2d(conv2d(x, wd, padding=1, groups=x.shape[1]), wp).sum().backward()
    return step


def dwsep_chainrule(batch=None):
    autograd, _, functional, _ = get_chainrule()
    return _dwsep_step(functional.conv2d, *(autograd.Tensor(a, requires_grad=True) for a in _dwsep_data()))


def dwsep_torch(batch=None):
    torch = get_torch()
    tensors = [torch.from_numpy(a).requires_grad_() for a in _dwsep_data()]
    return _dwsep_step(torch.nn.functional.conv2d, *tensors)


def dwsep_hand(batch=None):
    x, wd, wp = _dwsep_data()
    return lambda: hw.dwsep_step(x, wd, wp)


# --------------------------------------------------------------------------------------------
# The table.

@dataclass
class Row:
    key: str
    number: int
    title: str
    unit: str
    makers: dict
    divisor: float = 1.0        # time rows: seconds / divisor, then * scale
    scale: float = 1e3
    reps: int = 10
    quick_reps: int = 3
    memory: bool = False
    mem_batch: int = 0          # tiny warm-up batch for the rss measurement


ROWS = [
    Row("tanh", 1, f"1. per-op overhead, tanh chain on (16,), {3 * TANH_STEPS} ops", "µs/op",
        {"chainrule": tanh_chainrule, "torch": tanh_torch, "hand": tanh_hand},
        divisor=3 * TANH_STEPS, scale=1e6, reps=15),
    Row("scalar", 2, f"2. scalar graph, 2-16-16-1 MLP from 0-d ops, {SCALAR_NODES} nodes", "µs/node",
        {"chainrule": scalar_chainrule, "torch": scalar_torch, "hand": scalar_hand},
        divisor=SCALAR_NODES, scale=1e6, reps=30),
    Row("matmul", 3, "3. matmul chain (512x1024)@(1024x1024), tanh x2, fwd+bwd", "ms",
        {"chainrule": matmul_chainrule, "torch": matmul_torch, "hand": matmul_hand}, reps=10),
    Row("cnn", 4, f"4. CNN SGD step, batch {CNN_BATCH} of 3x32x32", "ms",
        {"chainrule": cnn_chainrule, "torch": cnn_torch, "hand": cnn_hand}, reps=10),
    Row("cnn", 4, "4m. CNN step peak memory", "MB",
        {"chainrule": cnn_chainrule, "torch": cnn_torch, "hand": cnn_hand}, memory=True, mem_batch=2),
    Row("mlp", 5, f"5. MLP 784-512-256-10 SGD step, batch {MLP_BATCH}", "ms",
        {"chainrule": mlp_chainrule, "torch": mlp_torch, "hand": mlp_hand}, reps=20),
    Row("mlp", 5, "5m. MLP step peak memory", "MB",
        {"chainrule": mlp_chainrule, "torch": mlp_torch, "hand": mlp_hand}, memory=True, mem_batch=2),
    Row("tinymlp", 6, "6. the 2-16-16-1 MLP as (1, 2) @ W matrix ops, fwd+bwd", "ms",
        {"chainrule": tinymlp_chainrule, "torch": tinymlp_torch, "hand": tinymlp_hand}, scale=1e3, reps=200),
    Row("cnninfer", 7, f"7. CNN inference (eval, no_grad), batch {CNN_BATCH}", "ms",
        {"chainrule": cnninfer_chainrule, "torch": cnninfer_torch, "hand": cnninfer_hand}, reps=15),
    Row("dwsep", 8, f"8. depthwise 3x3 (groups={DWSEP_SHAPE[1]}) + pointwise 1x1 {DWSEP_SHAPE[1]}->{DWSEP_OUT}, "
        f"batch {DWSEP_SHAPE[0]} of {DWSEP_SHAPE[1]}x{DWSEP_SHAPE[2]}x{DWSEP_SHAPE[2]}, fwd+bwd", "ms",
        {"chainrule": dwsep_chainrule, "torch": dwsep_torch, "hand": dwsep_hand}, reps=10),
]


@dataclass
class Cell:
    value: float | None = None
    error: str | None = None
    detail: dict = field(default_factory=dict)


class _Alarm:
    """Raise CellTimeout in the main thread after `seconds` (no-op where SIGALRM is missing)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ok = hasattr(signal, "setitimer") and seconds > 0

    def _fire(self, signum, frame):
        raise CellTimeout(f"over the {self.seconds:.0f} s limit")

    def __enter__(self):
        if self.ok:
            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.ok:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False


def time_step(step, reps: int, warmup: int, budget_s: float, keep_gc: bool) -> dict:
    for _ in range(warmup):
        step()
    times = []
    start = time.perf_counter()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(reps):
        gc.collect()
        if not keep_gc:
            gc.disable()
        try:
            t0 = time.perf_counter()
            step()
            t1 = time.perf_counter()
        finally:
            gc.enable()
        times.append(t1 - t0)
        if len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"median_s": statistics.median(times), "min_s": min(times), "reps": len(times),
            "minor_faults_per_call": faults / len(times)}


def traced_peak_mb(step) -> float:
    """Peak bytes above the starting point during one step, by tracemalloc, after one traced step
    so that the frees of the previous step's buffers are seen too."""
    gc.collect()
    tracemalloc.start()
    try:
        step()
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


def run_child(flags: list[str], timeout: float, what: str, echo_stderr: bool = False) -> dict:
    """Run this script with ``flags`` in a fresh interpreter (with this run's --threads) and
    return its last line of output, a JSON object. ``what`` names the child in errors."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *flags]
    if THREADS.get("limit"):
        cmd += ["--threads", str(THREADS["limit"])]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CellTimeout(f"{what} over {timeout:.0f} s") from None
    if echo_stderr and out.stderr.strip():
        print(out.stderr, file=sys.stderr)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise CellError(f"{what}: {last}")
    return json.loads(lines[-1])


def rss_peak_mb(row: Row, impl: str, timeout: float) -> float:
    """Max-RSS growth over one full-size step, measured in a fresh subprocess (see rss_child)."""
    result = run_child(["--_rss-child", f"{row.key}:{impl}"], timeout, "rss subprocess")
    if "error" in result:
        raise CellError(result["error"])
    return result["mb"]


def _rss_kib() -> tuple[int, int]:
    """(current, peak) resident set size in KiB, from /proc/self/status."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0, clear_refs value 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_child(spec: str) -> None:
    """Peak RSS growth over one full-size step: warm up on a tiny batch (loads code paths, kernels
    and thread pools without touching much memory), reset the peak-RSS mark, run one step.
    Without /proc (or clear_refs) it falls back on ru_maxrss, which can miss a step whose peak
    stays under an earlier high-water mark (such as importing torch)."""
    key, impl = spec.split(":")
    row = next(r for r in ROWS if r.key == key and r.memory)
    try:
        row.makers[impl](batch=row.mem_batch)()
        step = row.makers[impl]()
        gc.collect()
        if _reset_peak_rss():
            before = _rss_kib()[0]
            step()
            after = _rss_kib()[1]
        else:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            step()
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"mb": (after - before) / 1024}))
    except Exception as e:
        print(json.dumps({"error": _reason(e)}))


def _reason(e: BaseException, width: int = 70) -> str:
    text = str(e) if isinstance(e, (CellError, CellTimeout)) else f"{type(e).__name__}: {e}"
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= width else text[:width - 3] + "..."


def cell_limit(args) -> float:
    """Seconds one cell may take: --cell-timeout, or 180 (60 with --quick)."""
    return args.cell_timeout or (60.0 if args.quick else 180.0)


def run_cell(row: Row, impl: str, args) -> Cell:
    """Measure one cell: by default in a fresh subprocess (see cell_in_subprocess), else here."""
    limit = cell_limit(args)
    try:
        if args.same_process:
            return measure_cell(row, impl, args, limit)
        return cell_in_subprocess(row, impl, args, limit)
    finally:
        time.sleep(args.pause)


def measure_cell(row: Row, impl: str, args, limit: float) -> Cell:
    try:
        with _Alarm(limit):
            if row.memory:
                if impl == "torch" or args.mem == "rss":
                    return Cell(rss_peak_mb(row, impl, limit), detail={"method": "rss"})
                step = row.makers[impl]()
                step()
                return Cell(traced_peak_mb(step), detail={"method": "tracemalloc"})
            step = row.makers[impl]()
            t = time_step(step, reps=row.quick_reps if args.quick else row.reps, warmup=1 if args.quick else 2,
                          budget_s=2.0 if args.quick else 6.0, keep_gc=args.gc)
            return Cell(t["median_s"] / row.divisor * row.scale, detail=t)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        if args.verbose:
            traceback.print_exc()
        return Cell(error=_reason(e))
    finally:
        gc.collect()


def cell_in_subprocess(row: Row, impl: str, args, limit: float) -> Cell:
    """Run measure_cell in a fresh interpreter, so that no cell inherits another's process state.

    In one process, the columns measured later would run on a heap shaped by the earlier ones:
    glibc raises its mmap and trim thresholds after large frees (torch's among them), and the
    later columns then take far fewer page faults; BLAS and OpenMP thread pools stay warm too.
    """
    flags = ["--_cell-child", f"{ROWS.index(row)}:{impl}", "--mem", args.mem]
    flags += [flag for flag, on in (("--quick", args.quick), ("--gc", args.gc), ("--verbose", args.verbose)) if on]
    if args.cell_timeout:
        flags += ["--cell-timeout", str(args.cell_timeout)]
    try:
        result = run_child(flags, limit + 60, "subprocess", echo_stderr=args.verbose)
    except (CellError, CellTimeout) as e:
        return Cell(error=_reason(e))
    return Cell(result.get("value"), result.get("error"), result.get("detail", {}))


def measure_row(row: Row, impls: list[str], args) -> dict:
    """The row's cells, measured in ``args.rounds`` rounds that take the columns in turn; each cell
    reports the median of its rounds, so a burst of load from other jobs touches all columns alike."""
    rounds = {impl: [] for impl in impls}
    for _ in range(max(1, args.rounds)):
        for impl in impls:
            rounds[impl].append(run_cell(row, impl, args))
    cells = {}
    for impl in IMPLS:
        if impl not in impls:
            cells[impl] = Cell(error="skipped")
            continue
        failed = [c for c in rounds[impl] if c.value is None]
        if failed:
            cells[impl] = failed[0]
            continue
        values = [c.value for c in rounds[impl]]
        middle = sorted(rounds[impl], key=lambda c: c.value)[(len(values) - 1) // 2]
        cells[impl] = Cell(statistics.median(values), detail={**middle.detail, "rounds": values})
    return cells


def cell_child(spec: str, args) -> None:
    """The subprocess side of cell_in_subprocess: measure, print the cell as one JSON line."""
    index, impl = spec.split(":")
    cell = measure_cell(ROWS[int(index)], impl, args, cell_limit(args))
    print(json.dumps({"value": cell.value, "error": cell.error, "detail": {**cell.detail, "pid": os.getpid()}}))


def _fmt(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def _cell_text(row: Row, impl: str, cell: Cell) -> str:
    if cell.value is None:
        return f"n/a ({cell.error})"
    text = _fmt(cell.value)
    if row.memory and cell.detail.get("method") == "rss":
        text += " (rss)"
    return text


def _ratio(a: Cell, b: Cell) -> tuple[str, float | None]:
    if a.value is None or b.value is None or b.value <= 0:
        return "n/a", None
    r = a.value / b.value
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x", r


# --------------------------------------------------------------------------------------------
# The header: what the numbers ran on.

def blas_summary() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        found = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '?')}, "
                 f"{i.get('threading_layer', '?')}, {i.get('num_threads')} threads) "
                 f"{Path(i['filepath']).name}" for i in threadpool_info() if i.get("user_api") == "blas"]
        if found:
            return "; ".join(found) + " [threadpoolctl]"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        simd = cfg.get("SIMD Extensions", {}).get("found", [])
        return f"{blas.get('name')} {blas.get('version')} (SIMD {', '.join(simd)}) [np.show_config]"
    except Exception as e:
        return f"unknown ({type(e).__name__})"


def chainrule_version() -> str:
    try:
        from importlib.metadata import version
        return version("chainrule")
    except Exception:
        pass
    try:
        get_chainrule()
        return "source tree"
    except Exception as e:
        return f"n/a ({_reason(e, 50)})"


def header(args) -> tuple[list[str], dict]:
    try:
        torch = get_torch()
        torch_text = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except CellError as e:
        torch_text = f"n/a ({e})"
    env = {k: os.environ.get(k) for k in ENV_REPORTED}
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    gc_text = "enabled" if args.gc else "disabled"
    meta = {
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch_text,
        "chainrule": chainrule_version(), "blas": blas_summary(), "cpus": os.cpu_count(),
        "machine": platform.machine(), "env": env, "loadavg_start": load,
        "malloc_tuned": all(os.environ.get(k) for k in TUNED_MALLOC), "gc_during_timing": args.gc,
        "threads": args.threads,
    }
    env_text = ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in env.items())
    lines = [
        f"# chainrule benchmarks ({meta['mode']} run)",
        "",
        f"- python {meta['python']} on {meta['machine']}, {meta['cpus']} CPUs; numpy {meta['numpy']}; "
        f"torch {torch_text}; chainrule {meta['chainrule']}",
        f"- numpy BLAS: {meta['blas']}",
        f"- env: {env_text}",
        "- glibc malloc: " + ("tuned (" + ", ".join(f"{k}={v}" for k, v in TUNED_MALLOC.items()) + ")"
                              if meta["malloc_tuned"] else
                              "default thresholds (--tune-malloc compares; see the module docstring)"),
        f"- timing: median of repeated calls after warm-up, time.perf_counter; gc.collect() before each "
        f"call, cyclic gc {gc_text} during it",
    ]
    if load is not None:
        busy = load[0] > 0.5 * (os.cpu_count() or 1)
        lines.append(f"- load average at start: {load[0]:.2f}" +
                     (" -- the machine is busy, timings will be noisy (--threads 1 is steadier)"
                      if busy else ""))
    return lines, meta


_blas_limits = []


def limit_threads(n: int) -> None:
    """torch.set_num_threads(n) (on import) and NumPy's BLAS limited to n threads."""
    THREADS["torch"] = THREADS["limit"] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print(f"- note: threadpoolctl is missing, NumPy's BLAS keeps its default threads (not {n})")
        return
    _blas_limits.append(threadpool_limits(limits=n, user_api="blas"))


def select_rows(only: list[str] | None) -> list[Row]:
    if not only:
        return list(ROWS)
    wanted = {w.strip().lower() for item in only for w in item.split(",") if w.strip()}
    known = {r.key for r in ROWS} | {str(r.number) for r in ROWS}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"--only: unknown row(s) {sorted(unknown)}; choose from "
                         f"{sorted({r.key for r in ROWS})} or 1-{max(r.number for r in ROWS)}")
    return [r for r in ROWS if r.key in wanted or str(r.number) in wanted]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke run")
    ap.add_argument("--only", action="append", metavar="ROW",
                    help="run only these rows: keys (tanh, scalar, matmul, cnn, mlp, tinymlp, cnninfer, dwsep) "
                         "or numbers; repeatable")
    ap.add_argument("--impls", default=",".join(IMPLS),
                    help="comma list of columns to measure (default all: chainrule,torch,hand)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--gc", action="store_true", help="keep the cyclic gc enabled inside timed calls")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for torch and for NumPy's BLAS (default: torch 2, BLAS untouched); "
                         "--threads 1 is far steadier on a busy machine")
    ap.add_argument("--mem", choices=("auto", "rss"), default="auto",
                    help="auto: tracemalloc for chainrule and numpy, rss for torch; rss: rss for all")
    ap.add_argument("--tune-malloc", action="store_true",
                    help="re-run this script with glibc's mmap/trim thresholds raised (TUNED_MALLOC)")
    ap.add_argument("--cell-timeout", type=float, default=None,
                    help="seconds per cell (default 180, quick 60)")
    ap.add_argument("--pause", type=float, default=0.2, help="seconds of idle between cells")
    ap.add_argument("--verbose", action="store_true", help="print the traceback of failing cells")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each row this many times, the columns in turn, and report medians")
    ap.add_argument("--same-process", action="store_true",
                    help="measure every cell in this process (default: each cell in a fresh subprocess)")
    ap.add_argument("--_rss-child", dest="rss_child", help=argparse.SUPPRESS)
    ap.add_argument("--_cell-child", dest="cell_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.threads:
        limit_threads(args.threads)
    if args.rss_child:
        rss_child(args.rss_child)
        return 0
    if args.cell_child:
        cell_child(args.cell_child, args)
        return 0
    if args.tune_malloc and not all(os.environ.get(k) == v for k, v in TUNED_MALLOC.items()):
        env = dict(os.environ, **TUNED_MALLOC)
        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--tune-malloc"]
        sys.stdout.flush()
        return subprocess.call([sys.executable, str(Path(__file__).resolve()), *rest], env=env)

    rows = select_rows(args.only)
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    if not impls or set(impls) - set(IMPLS):
        raise SystemExit(f"--impls: choose from {','.join(IMPLS)}")
    t_start = time.perf_counter()
    lines, meta = header(args)
    print("\n".join(lines), flush=True)
    print()
    cols = ["benchmark", *(HEADERS[i] for i in IMPLS), "chainrule/torch", "chainrule/numpy"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|", flush=True)
    results = []
    for row in rows:
        row_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        cells = measure_row(row, impls, args)
        vs_torch, r_torch = _ratio(cells["chainrule"], cells["torch"])
        vs_hand, r_hand = _ratio(cells["chainrule"], cells["hand"])
        texts = [_cell_text(row, impl, cells[impl]) for impl in IMPLS]
        print(f"| {row.title} ({row.unit}) | " + " | ".join([*texts, vs_torch, vs_hand]) + " |", flush=True)
        results.append({
            "key": row.key, "title": row.title, "unit": row.unit, "memory": row.memory,
            "cells": {impl: {"value": c.value, "error": c.error, **c.detail} for impl, c in cells.items()},
            "ratio_chainrule_torch": r_torch, "ratio_chainrule_numpy": r_hand, "loadavg_before": row_load,
        })
    elapsed = time.perf_counter() - t_start
    print()
    for r in results:
        faults = {HEADERS[i]: c.get("minor_faults_per_call") for i, c in r["cells"].items()}
        if r["key"] in ("cnn", "mlp") and not r["memory"] and any(v is not None for v in faults.values()):
            print(f"- minor page faults per {r['key']} step (fresh pages from the kernel; --tune-malloc "
                  "removes most): " + ", ".join(f"{k} {v:.0f}" for k, v in faults.items() if v is not None))
    if args.mem == "rss":
        mem_note = "all columns by max-RSS growth over one step in a fresh subprocess (--mem rss)"
    else:
        mem_note = ("chainrule and numpy by tracemalloc, (rss) = max-RSS growth over one step in a fresh "
                    "subprocess (torch's allocations are invisible to tracemalloc)")
    notes = [f"- memory: MB above the step's starting point; {mem_note}",
             "- row 2 counts the graph's op nodes (mul, add, relu), not its leaves (weights and inputs); "
             "its numpy-by-hand column is the Value class in handwritten.py, on Python floats"]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    meta["loadavg_end"] = load
    meta["seconds"] = elapsed
    if load is not None:
        notes.append(f"- load average at end: {load[0]:.2f}; total {elapsed:.0f} s")
    print("\n".join(notes))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": results}, indent=2) + "\n")
        print(f"- wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
