#!/usr/bin/env python
"""About the least a graph engine on NumPy costs per op: rows 1 and 2 of run.py, side by side.

    python benchmarks/floor.py              # about half a minute
    python benchmarks/floor.py --rounds 9   # more rounds, steadier minimums

`Node` below is a minimal engine that still records a graph of ndarrays and backpropagates
through it: one object per op holding its parents and a closure for its local derivative, one
topological sort, one ufunc call per derivative. It has none of what chainrule's ops carry:
grad mode, hooks, retained and accumulated ``.grad``, dtype rules, shape and version checks,
anomaly mode, constants kept for pictures, second derivatives. What it costs per op is mostly
NumPy's dispatch on tiny arrays plus the interpreter's object and frame costs, which any engine
that runs one NumPy call per op and per derivative pays too. It is timed in the same process,
rounds interleaved with chainrule and torch (minimum per column: on a shared machine, load only
ever adds time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


class Node:
    """An ndarray that remembers its parents and the map from its gradient to theirs."""

    __slots__ = ("data", "grad", "parents", "vjp")

    def __init__(self, data, parents=(), vjp=None):
        self.data, self.grad, self.parents, self.vjp = data, None, parents, vjp

    def __add__(self, other):
        if isinstance(other, Node):
            return Node(self.data + other.data, (self, other), lambda g: (g, g))
        return Node(self.data + other, (self,), lambda g: (g,))

    def __mul__(self, other):
        if isinstance(other, Node):
            return Node(self.data * other.data, (self, other), lambda g: (g * other.data, g * self.data))
        return Node(self.data * other, (self,), lambda g: (g * other,))

    __radd__, __rmul__ = __add__, __mul__

    def tanh(self):
        y = np.tanh(self.data)
        return Node(y, (self,), lambda g: (g * (1 - y * y),))

    def relu(self):
        live = self.data > 0
        return Node(np.maximum(self.data, 0), (self,), lambda g: (g * live,))

    def sum(self):
        return Node(self.data.sum(), (self,), lambda g: (np.broadcast_to(g, self.data.shape),))

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # depth-first, post-order, without recursion
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        self.grad = np.ones_like(self.data)
        for node in reversed(order):
            if node.vjp is not None:
                for parent, g in zip(node.parents, node.vjp(node.grad)):
                    parent.grad = g if parent.grad is None else parent.grad + g


def tanh_chain(x, steps=1000):
    x.grad = None
    y = x
    for _ in range(steps):
        y = (y * 1.0001 + 0.0001).tanh()
    y.sum().backward()


def scalar_mlp(weights, inputs, zero):
    for layer in weights:
        for row in layer:
            for w in row:
                w.grad = None
    h = inputs
    for layer in weights:
        h = [sum((w * xi for w, xi in zip(row, h)), zero).relu() for row in layer]
    h[0].backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(16).astype(np.float32)
    w0 = [rng.standard_normal((o, i)).astype(np.float32) for i, o in ((2, 16), (16, 16), (16, 1))]

    import autograd

    libs = {"floor": lambda a, g=False: Node(np.asarray(a)),
            "chainrule": lambda a, g=False: autograd.tensor(a, requires_grad=g)}
    try:
        import torch

        torch.set_num_threads(1)
        libs["torch"] = lambda a, g=False: torch.tensor(a, requires_grad=g)
    except ImportError:
        print("torch is not installed: its column is left out")

    def cells(make):
        x = make(x0, True)
        weights = [[[make(w[o, i], True) for i in range(w.shape[1])] for o in range(w.shape[0])] for w in w0]
        inputs = [make(np.float32(0.5)), make(np.float32(-1.0))]
        return (lambda: tanh_chain(x)), (lambda: scalar_mlp(weights, inputs, make(np.float32(0.0))))

    nodes = sum(o * (2 * i + (k < 2)) for k, (i, o) in enumerate(((2, 16), (16, 16), (16, 1))))
    work = {name: cells(make) for name, make in libs.items()}
    best = {name: [float("inf")] * 2 for name in libs}
    for _ in range(args.rounds):
        for name, fns in work.items():
            for k, fn in enumerate(fns):
                fn()  # warm-up, then the timed call
                t = time.perf_counter()
                fn()
                best[name][k] = min(best[name][k], time.perf_counter() - t)
    print(f"{'':10s} {'tanh chain, us/op':>18s} {'scalar MLP, us/node':>20s}   (fwd+bwd, min of {args.rounds})")
    for name, (tanh, scalar) in best.items():
        print(f"{name:10s} {tanh / 3000 * 1e6:18.2f} {scalar / nodes * 1e6:20.2f}")
    if "torch" in best:
        ratio = [best["floor"][k] / best["torch"][k] for k in (0, 1)]
        print(f"floor / torch: {ratio[0]:.2f}x and {ratio[1]:.2f}x")


if __name__ == "__main__":
    main()
