"""The backward pass: topological order, the chain rule, gradient accumulation.

The graph's vertices are `Function` nodes and the leaf Tensors that require grad. Every vertex
has ``next``: per forward argument, the vertex its gradient goes to next, or None for a constant
(a leaf's ``next`` is empty: gradients stop there), and every node has ``seq``, its place in the
order the nodes were made. A node's consumers were all made after it, so running the reached nodes
from the newest to the oldest (a heap on ``seq``) runs each one only after every consumer has sent
its contribution: no separate pass to order the graph, and no recursion however deep it is.
The engine imports nothing but the modes: it reads the graph through ``next``, ``seq``, ``backward``, hooks.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .mode import set_grad_enabled, state


def run_backward(roots: Sequence[Any], grad_roots: Sequence[Any] | None, retain_graph: bool,
                 create_graph: bool, inputs: Sequence[Any] | None = None) -> list | None:
    """The chain rule over the graph behind ``roots``. Without ``inputs`` the leaf gradients are
    accumulated into ``.grad`` (``backward()``); with them they are returned instead (``grad()``)."""
    grads = _seed(roots, grad_roots, "backward()" if inputs is None else "grad()")  # vertex -> d(roots)/d(its output)
    wanted = {t.grad_fn or t for t in _require_grad(inputs or (), "grad()")}  # the vertices grad() asks about
    results: dict = {}  # each wanted vertex -> its complete gradient
    owned = {id(g.data) for g in grads.values()}  # arrays some .grad or the caller already holds
    heap = [(-v.seq, v) for v in grads if v.next]  # the newest node first; leaves (empty next) wait
    heapq.heapify(heap)
    needed = _needed(grads, wanted) if inputs is not None else None  # grad() runs only these, as PyTorch
    with set_grad_enabled(create_graph), _paused_anomaly() as anomaly:
        while heap:
            node = heapq.heappop(heap)[1]
            g = grads.pop(node)
            if needed is not None and node not in needed:
                continue  # leads to no input of grad(): not run, its hooks not called
            if wanted or node._hooks is not None or node._retained is not None:
                g = _visit(node, g, wanted, results, retain=inputs is None)
            if needed is None or not needed.isdisjoint(node.next):
                _step(node, g, grads, heap, not retain_graph, anomaly)
        for leaf, g in grads.items():  # what is left are the leaves, each gradient complete
            if leaf in wanted or (inputs is None and leaf._hooks is not None):
                g = _visit(leaf, g, wanted, results, retain=inputs is None)
            if inputs is None and leaf._requires_grad:  # as PyTorch, not to a leaf switched off since forward
                _deliver(leaf, g, create_graph, owned)
    return [results.get(t.grad_fn or t) for t in inputs] if inputs is not None else None


def _needed(grads: dict, wanted: set) -> set:
    """The vertices with a wanted vertex at or below them: the part of the graph grad() must run."""
    seen, stack = set(), [v for v in grads if v.next]
    while stack:
        if (v := stack.pop()) not in seen:
            seen.add(v)
            stack.extend(p for p in v.next if p is not None and p.next)
    needed = set(wanted)
    for v in sorted(seen, key=lambda v: v.seq):  # the oldest first: whatever is below v is settled before v
        if not needed.isdisjoint(v.next):
            needed.add(v)
    return needed

def _seed(roots: Sequence[Any], grad_roots: Sequence[Any] | None, who: str) -> dict:
    """d(root)/d(root): ones for a one-element root, else the gradient the caller gave."""
    grad_roots = [None] * len(roots) if grad_roots is None else list(grad_roots)
    if len(grad_roots) != len(roots):
        raise ValueError(f"got {len(roots)} outputs but {len(grad_roots)} gradients")
    grads: dict = {}
    for root, g in zip(_require_grad(roots, who), grad_roots):
        if g is None and root.data.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs, got shape {root.shape}; "
                               "pass gradient= with the output's shape")
        if g is None or not hasattr(g, "grad_fn"):
            g = root._make(np.ones_like(root.data) if g is None else np.asarray(g, root.dtype))
        if g.shape != root.shape:
            raise RuntimeError(f"gradient of shape {g.shape} given for an output of shape {root.shape}")
        vertex = root.grad_fn or root
        grads[vertex] = grads[vertex] + g if vertex in grads else g
    return grads

def _require_grad(tensors: Sequence[Any], who: str) -> Sequence[Any]:
    for i, t in enumerate(tensors):
        if not hasattr(t, "grad_fn"):
            raise TypeError(f"{who} needs Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"{who}: tensor {i} does not require grad and has no grad_fn: nothing to differentiate")
    return tensors

def _visit(vertex: Any, g: Any, wanted: set, results: dict, retain: bool) -> Any:
    """A vertex's gradient is complete: run the hooks of the tensor it stands for, fill its ``.grad`` if
    retained, and keep it if grad() asked for it."""
    if vertex._hooks is not None or vertex._retained is not None:
        g = _run_hooks(vertex, g, retain)
    if vertex in wanted:
        results[vertex] = g
    return g


def _run_hooks(vertex: Any, g: Any, retain: bool) -> Any:
    for hook in vertex._hooks or ():
        if (replaced := hook(g)) is not None:
            if not hasattr(replaced, "grad_fn") or replaced.shape != g.shape or replaced.dtype != g.dtype:
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)} returned {_describe(replaced)} for the "
                                   f"gradient, {_describe(g)}: return one of the same shape and dtype (or None)")
            g = replaced
    if retain and vertex._retained is not None and (owner := vertex._retained()) is not None:
        owner.grad = g if owner.grad is None else owner.grad + g
    return g


def _describe(t: Any) -> str:
    return f"a Tensor of shape {t.shape} and dtype {t.dtype}" if hasattr(t, "grad_fn") else f"a {type(t).__name__}"


def _step(node: Any, g: Any, grads: dict, heap: list, release: bool, anomaly: bool) -> None:
    """One node's chain rule: add the gradient of each input that needs one, shaped like it, to
    ``grads``; a node reached for the first time joins the heap of nodes to run."""
    input_grads = node.backward(node, g)
    if type(input_grads) is not tuple:
        input_grads = (input_grads,)
    edges = node.next
    n = len(input_grads)  # gradients of trailing constant arguments may be left out, extra ones may be None
    if n != len(edges) and (any(e is not None for e in (*input_grads[len(edges):], *edges[n:]))):
        raise RuntimeError(f"{type(node).__name__}.backward returned {len(input_grads)} gradients "
                           f"for {len(edges)} inputs")
    if release and (node._saved or node._out is not None):  # free what forward kept for this backward
        node._saved, node._out, node._released = (), None, True
    for parent, pg in zip(edges, input_grads):
        if parent is not None and pg is not None:
            # the fast test first: NumPy's dtypes are shared objects, so `is` settles the usual case
            if pg.__class__ is not g.__class__ or pg.data.shape != parent.shape or pg.data.dtype is not parent.dtype:
                pg = _fit(pg, parent, node, g)
            if anomaly and not np.all(np.isfinite(pg.data)):
                raise FloatingPointError(f"backward of {type(node).__name__} produced NaN or Inf; the op was "
                                         f"created at\n{node._where()}")
            if parent in grads:
                grads[parent] = grads[parent] + pg
            else:
                grads[parent] = pg
                if parent.next:
                    heapq.heappush(heap, (-parent.seq, parent))


def _fit(g: Any, parent: Any, node: Any, like: Any) -> Any:
    """Make a gradient match its input: sum over broadcast axes (the one place this happens), cast."""
    if not hasattr(g, "grad_fn"):
        g = like._make(np.asarray(g))  # a custom backward may return an ndarray
    if g.data.shape != parent.shape:
        try:
            g = g.sum_to(parent.shape)
        except ValueError:
            raise RuntimeError(f"{type(node).__name__}.backward returned a gradient of shape {g.shape} "
                               f"for an input of shape {parent.shape}") from None
    return g if g.data.dtype == parent.dtype else g.astype(parent.dtype)


def _deliver(leaf: Any, g: Any, create_graph: bool, owned: set) -> None:
    """Accumulate into ``leaf.grad``, in place as PyTorch. Each ``.grad`` owns a private, writable array: a leaf
    may be handed a gradient another leaf also got (add), a view (reshape) or a read-only broadcast (sum),
    and an in-place edit of one ``.grad`` must not reach another; fresh arrays are taken as they are."""
    if not create_graph:
        a = g.data
        if (old := leaf.grad) is not None and old.grad_fn is None and old.shape == a.shape and old.data.flags.writeable:
            np.add(old.data, a, out=old.data, casting="same_kind")  # in place, as PyTorch: a held .grad sees the sum
            return
        if not a.flags.writeable or a.base is not None or id(a) in owned or leaf._hooks:  # a hook may keep g
            g = leaf._make(np.array(a))
        owned.add(id(g.data))
    leaf.grad = g if leaf.grad is None else leaf.grad + g

@contextmanager
def _paused_anomaly():
    """Ops run inside a backward pass are checked as that node's gradients, not as forward ops."""
    anomaly, state.anomaly = state.anomaly, False
    try:
        yield anomaly
    finally:
        state.anomaly = anomaly

def backward(roots: Sequence[Any], grad_roots: Sequence[Any] | None, retain_graph: bool, create_graph: bool) -> None:
    run_backward(roots, grad_roots, retain_graph or create_graph, create_graph)

def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs`` (Tensors or sequences of them), returned
    rather than stored in ``.grad``; ``grad_outputs`` gives d(loss)/d(output) for non-scalar outputs.

    Returns a tuple with one Tensor per input, of its shape; no ``.grad`` changes. ``retain_graph``
    defaults to ``create_graph``; ``create_graph=True`` records the computation, so the results can
    be differentiated again (Hessian-vector products, gradient penalties). An input that the
    outputs do not depend on raises ``RuntimeError``, or gives None with ``allow_unused=True``.

    >>> from autograd import tensor
    >>> x = tensor(3.0, requires_grad=True)
    >>> (dx,) = grad(x ** 3, x, create_graph=True)   # 3 x^2
    >>> dx.item(), grad(dx, x)[0].item()              # and 6 x
    (27.0, 18.0)
    """
    def listed(x: Any) -> list:
        return [x] if hasattr(x, "grad_fn") else list(x)

    retain = create_graph if retain_graph is None else retain_graph
    results = run_backward(listed(outputs), None if grad_outputs is None else listed(grad_outputs), retain,
                           create_graph, listed(inputs))
    for i, r in enumerate(results):
        if r is None and not allow_unused:
            raise RuntimeError(f"input {i} of grad() was not used to compute the outputs; pass allow_unused=True "
                               "to get None for it")
    return tuple(results)

class HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
