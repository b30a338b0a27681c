"""The backward pass: topological order, the chain rule, gradient accumulation, grad mode.

The graph is made of `Function` nodes. Each node keeps ``next``: one entry per forward argument,
which is the parent's node, a leaf Tensor that requires grad, or None. Gradients flow from the
roots along these edges in an order where a node runs only after every consumer of its output
has sent its contribution (Kahn's algorithm, so deep graphs never recurse).
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class _ThreadState(threading.local):
    grad_enabled = True  # class attributes are each new thread's defaults
    anomaly = False
    in_backward = False  # inside run_backward: the arrays made there are gradients, not user values


state = _ThreadState()


class _Config:
    default_dtype = np.dtype(np.float32)


config = _Config()


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats become (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"the default dtype must be a floating dtype, got {dtype}")
    config.default_dtype = dtype


def get_default_dtype() -> np.dtype:
    return config.default_dtype


def is_grad_enabled() -> bool:
    return state.grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode for the current thread."""

    enabled: bool

    def __enter__(self) -> None:
        self._prev = state.grad_enabled
        state.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Run without recording the graph: outputs do not require grad."""

    enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Record the graph again inside a ``no_grad`` region."""

    enabled = True


class set_grad_enabled(_GradMode):  # noqa: N801
    def __init__(self, mode: bool) -> None:
        self.enabled = bool(mode)
        self._prev = state.grad_enabled
        state.grad_enabled = self.enabled  # also works as a plain call, as in PyTorch

    def __enter__(self) -> None:
        pass


class detect_anomaly:  # noqa: N801
    """Raise ``FloatingPointError`` at the first NaN or Inf produced in forward or backward.

    The error names the op and the line of user code that created it. Slow: use for debugging.
    """

    def __enter__(self) -> detect_anomaly:
        self._prev = state.anomaly
        state.anomaly = True
        return self

    def __exit__(self, *exc: object) -> None:
        state.anomaly = self._prev


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _run_hooks(hooks: list | None, g: Any) -> Any:
    for hook in hooks or ():
        replaced = hook(g)
        if replaced is not None:
            g = replaced
    return g


def _order(roots: list) -> list:
    """Nodes reachable from ``roots``, each after every node that consumes its output."""
    from .function import Function

    consumers = dict.fromkeys(roots, 0)
    stack = list(consumers)
    while stack:
        for parent in stack.pop().next:
            if isinstance(parent, Function):
                if parent in consumers:
                    consumers[parent] += 1
                else:
                    consumers[parent] = 1
                    stack.append(parent)
    ready = [r for r in roots if consumers[r] == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in node.next:
            if isinstance(parent, Function):
                consumers[parent] -= 1
                if consumers[parent] == 0:
                    ready.append(parent)
    return order


def _node_hooks(node: Any, g: Any, keep_retained: bool) -> Any:
    """Run the hooks registered on a non-leaf tensor and fill its ``.grad`` if retained."""
    if node._hooks:
        g = _run_hooks(node._hooks, g)
    if node._retained is not None and keep_retained:
        owner = node._retained()
        if owner is not None:
            owner.grad = g if owner.grad is None else owner.grad + g
    return g


def _check_arity(node: Any, input_grads: tuple) -> None:
    """Gradients of trailing constant arguments may be left out; anything else is a bug."""
    edges = node.next
    if len(input_grads) > len(edges) or any(e is not None for e in edges[len(input_grads) :]):
        raise RuntimeError(
            f"{type(node).__name__}.backward returned {len(input_grads)} gradients for {len(edges)} inputs"
        )


def _fit_to_input(g: Any, parent: Any, node: Any) -> Any:
    """Make a gradient match its input: sum over broadcast axes (the one place this happens), cast."""
    from .ops.movement import sum_to
    from .tensor import Tensor

    if not isinstance(g, Tensor):
        g = Tensor._make(np.asarray(g))
    if g.data.shape != parent.shape:
        try:
            g = sum_to(g, parent.shape)
        except ValueError:
            raise RuntimeError(
                f"{type(node).__name__}.backward returned a gradient of shape {g.shape} "
                f"for an input of shape {parent.shape}"
            ) from None
    if g.data.dtype != parent.dtype:
        g = g.astype(parent.dtype)
    return g


def _check_finite(g: Any, node: Any) -> None:
    if not np.all(np.isfinite(g.data)):
        raise FloatingPointError(
            f"backward of {type(node).__name__} produced NaN or Inf; the op was created at\n" + node._where()
        )


def _seed_gradient(root: Any, g: Any) -> Any:
    from .tensor import Tensor

    if not isinstance(root, Tensor):
        raise TypeError(f"backward() needs Tensors, got {type(root).__name__}")
    if not root._requires_grad:
        raise RuntimeError("this tensor does not require grad and has no grad_fn: nothing to differentiate")
    if g is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs, got shape {root.shape}; "
                "pass gradient= with the output's shape"
            )
        return Tensor._make(np.ones_like(root.data))
    g = g if isinstance(g, Tensor) else Tensor(g, dtype=root.data.dtype)
    if g.shape != root.shape:
        raise RuntimeError(f"gradient of shape {g.shape} given for an output of shape {root.shape}")
    return g


def run_backward(
    roots: Sequence[Any],
    grad_roots: Sequence[Any] | None,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None = None,
) -> list | None:
    """The chain rule over the graph behind ``roots``.

    Without ``inputs`` the leaf gradients are accumulated into ``.grad`` (``backward()``); with
    ``inputs`` their gradients are returned instead and no ``.grad`` changes (``grad()``).
    """
    from .function import KEEP_SMALL, Function
    from .tensor import Tensor

    if grad_roots is None:
        grad_roots = [None] * len(roots)
    if len(grad_roots) != len(roots):
        raise ValueError(f"got {len(roots)} outputs but {len(grad_roots)} gradients")
    grads: dict[Any, Any] = {}  # node -> gradient of its output, summed over its consumers
    leaves: dict[Any, Any] = {}  # leaf Tensor -> its gradient
    seeds = []
    for root, g in zip(roots, grad_roots):
        g = _seed_gradient(root, g)
        seeds.append(g)
        key = root.grad_fn if root.grad_fn is not None else root
        store = grads if root.grad_fn is not None else leaves
        store[key] = store[key] + g if key in store else g
    wanted: dict[Any, int] = {}
    for i, t in enumerate(inputs or ()):
        if not t._requires_grad:
            raise RuntimeError(f"input {i} of grad() does not require grad")
        wanted[t.grad_fn if t.grad_fn is not None else t] = i
    results: list = [None] * len(wanted)

    release = not retain_graph
    anomaly = state.anomaly
    state.anomaly = False  # ops run inside a backward are checked as that node's gradients instead
    # The backward pass makes no reference cycles (refcounting frees all it drops), so the cyclic
    # collector is paused: otherwise it rescans the whole live graph many times per pass.
    collecting = gc.isenabled()
    gc.disable()
    in_backward, state.in_backward = state.in_backward, True
    try:
        with set_grad_enabled(create_graph):
            for node in _order(list(grads)):
                g = grads.pop(node, None)
                if g is None:
                    continue
                if node._hooks is not None or node._retained is not None:
                    g = _node_hooks(node, g, keep_retained=inputs is None)
                if g.data.size <= KEEP_SMALL:
                    node.grad_small = g.data  # kept for graph pictures (autograd.viz)
                if wanted and node in wanted:
                    results[wanted[node]] = g
                input_grads = node.backward(node, g)
                if type(input_grads) is not tuple:
                    input_grads = (input_grads,)
                edges = node.next
                if len(input_grads) != len(edges):
                    _check_arity(node, input_grads)
                if release and (node._saved or node._out is not None):
                    node._release()
                for parent, pg in zip(edges, input_grads):
                    if parent is None or pg is None:
                        continue
                    if isinstance(parent, Function):
                        store, shape, dtype = grads, parent.shape, parent.dtype
                    else:
                        store, shape, dtype = leaves, parent.data.shape, parent.data.dtype
                    # NumPy's dtypes are shared objects: "is not" is the fast test, and an equal dtype
                    # that is another object only costs the full check in _fit_to_input
                    if pg.__class__ is not Tensor or pg.data.shape != shape or pg.data.dtype is not dtype:
                        pg = _fit_to_input(pg, parent, node)
                    if anomaly:
                        _check_finite(pg, node)
                    prev = store.get(parent)
                    store[parent] = pg if prev is None else prev + pg

            handed = {id(g.data) for g in seeds}  # arrays the caller or an earlier leaf already holds
            for leaf, g in leaves.items():
                if leaf._hooks:
                    g = _run_hooks(leaf._hooks, g)
                if leaf in wanted:
                    results[wanted[leaf]] = g
                elif inputs is None:
                    if not create_graph:
                        # each .grad owns a private, writable array: leaves may be handed one shared
                        # gradient (add), a view (reshape) or a read-only broadcast (sum), and in-place
                        # edits of one .grad must not reach another; fresh arrays are taken as they are
                        a = g.data
                        if not a.flags.writeable or a.base is not None or id(a) in handed:
                            g = Tensor._make(np.array(a))
                        handed.add(id(g.data))
                    leaf.grad = g if leaf.grad is None else leaf.grad + g
    finally:
        state.anomaly = anomaly
        state.in_backward = in_backward
        if collecting:
            gc.enable()
    return results if inputs is not None else None


def backward(roots: Sequence[Any], grad_roots: Sequence[Any] | None, retain_graph: bool, create_graph: bool) -> None:
    run_backward(roots, grad_roots, retain_graph or create_graph, create_graph)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned rather than stored in ``.grad``.

    ``outputs`` and ``inputs`` are Tensors or sequences of them; ``grad_outputs`` gives
    d(loss)/d(output) for non-scalar outputs. Returns a tuple with one entry per input.
    """
    from .tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is not None:
        grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs)
    for i, r in enumerate(results):
        if r is None and not allow_unused:
            raise RuntimeError(
                f"input {i} of grad() was not used to compute the outputs; pass allow_unused=True "
                "to get None for it"
            )
    return tuple(results)
