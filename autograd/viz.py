"""Computation graphs as Graphviz pictures.

``draw(loss)`` walks the graph behind one or more root tensors and returns a `Graph` (a
``graphviz.Digraph`` that shows inline in Jupyter as SVG); ``save(loss, "graph.svg")`` writes it.

What is drawn, and where its numbers come from:

* one node per tensor the user holds: leaves (inputs), parameters (``nn.Parameter`` or tensors
  named through ``params=``) and outputs (the roots), each in its own style, showing the live
  tensor's ``.data`` and ``.grad``;
* one node per op, which also stands for the op's output: an intermediate tensor is not kept by
  the graph, only its node is, so the node shows the op name with the output's shape and dtype,
  and its value and gradient when they are small (at most ``KEEP_SMALL`` = 64 elements).
  Larger ones read "not kept"; call ``t.retain_grad()`` on the intermediate ``t`` to keep it,
  and then its value, gradient and name are shown at any size;
* constant inputs (arguments that do not require grad) as small grey nodes, where the op still
  holds them in its saved tensors (before backward, or after ``backward(retain_graph=True)``).

Edges run from inputs to the op that consumes them. With ``show_edges=True`` each edge carries
the forward value (green, above) and the gradient of the loss with respect to that value (red,
below), as on the lecture's circuit diagrams (the gradient is an ``xlabel``, which Graphviz
places after the layout, next to the edge). A tensor used by several ops carries its total
gradient, summed over all uses, marked "(total)".

Grouping by module (``nn`` knows nothing about graphs): run the forward pass inside
``with trace_modules(model):``. For that block every submodule's ``forward`` is wrapped; when it
returns, the ops between the module's inputs and its outputs that no inner module claimed yet are
recorded as the module's. ``draw(..., group_modules=True)`` then puts each module's ops, and the
parameters only those ops use, in one box per module (nested as the modules are).
``draw_model_step(model, x, y, loss_fn)`` does all of this for one training step (the CLI's
``chainrule graph`` uses it).
"""

from __future__ import annotations

import contextlib
import functools
import html
import sys
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from .ops.function import Function
from .tensor import Tensor

KEEP_SMALL = 64  # interim: nodes no longer cache values (the viz rewrite replays the graph instead)
INSTALL_HINT = (
    "rendering graph pictures needs the Graphviz `dot` program, which was not found on PATH; "
    "install it with `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS) or `conda install -c conda-forge graphviz`. Without it, save the graph as .dot."
)

FORMATS = (".png", ".svg", ".pdf", ".dot")

VALUE_COLOR = "#15803d"  # forward values on edges: green
GRAD_COLOR = "#b91c1c"  # gradients on edges: red

_STYLES = {
    "leaf": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe", "color": "#1d4ed8"},
    "param": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fef3c7", "color": "#b45309"},
    "op": {"shape": "ellipse", "style": "filled", "fillcolor": "#f3f4f6", "color": "#4b5563"},
    "output": {"shape": "box", "style": "filled,bold", "fillcolor": "#dcfce7", "color": "#15803d"},
    "const": {"shape": "box", "style": "filled", "fillcolor": "#f3f4f6", "color": "#9ca3af",
              "fontcolor": "#4b5563", "fontsize": "9"},
    "cut": {"shape": "note", "style": "filled", "fillcolor": "#fee2e2", "color": GRAD_COLOR},
}
_TITLES = {"leaf": "leaf", "param": "parameter", "output": "output", "const": "const"}
_LEGEND = {"leaf": "input (leaf)", "param": "parameter", "op": "op and its output",
           "output": "output (root)", "const": "constant"}


class Graph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose rendering says how to install Graphviz when ``dot`` is missing.

    Everything of ``graphviz.Digraph`` works (``source``, ``render``, ``pipe``); in Jupyter it
    shows as SVG, or, without ``dot``, as its DOT source with the install hint.
    """

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        return _with_install_hint(super().pipe, *args, **kwargs)

    def render(self, *args: Any, **kwargs: Any) -> Any:
        return _with_install_hint(super().render, *args, **kwargs)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except _DotMissing:
            return {"text/plain": f"{INSTALL_HINT}\n\n{self.source}"}


class _DotMissing(RuntimeError):
    """Graphviz's ``dot`` program is not installed."""


def _with_install_hint(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except graphviz.ExecutableNotFound:
        raise _DotMissing(INSTALL_HINT) from None


# --- what the picture says about a tensor ------------------------------------------------------
def _fmt(a: Any) -> str:
    """A scalar in full (``-12``, ``0.731``); an array as min, mean, max and norm."""
    a = np.asarray(a)
    if a.size == 1:
        return f"{a.item():.4g}"
    if a.size == 0:
        return "empty"
    f = a.astype(np.float64)
    return f"min {f.min():.4g}, mean {f.mean():.4g}, max {f.max():.4g}, norm {np.linalg.norm(f):.4g}"


def _retained(node: Function) -> Tensor | None:
    """The node's output tensor, if the user kept it with ``retain_grad()`` and it is alive."""
    return node._retained() if node._retained is not None else None


def _value(obj: Any) -> Any:
    """The forward value carried by a tensor, an op's output or a constant (None: not kept)."""
    if isinstance(obj, Tensor):
        return obj.data
    if isinstance(obj, Function):
        kept = _retained(obj)
        return kept.data if kept is not None else getattr(obj, "value_small", None)
    return obj


def _grad(obj: Any) -> Any:
    """d(loss)/d(value) from the last backward, or None before any backward (or not kept)."""
    if isinstance(obj, Tensor):
        if obj.grad is not None:
            return obj.grad.data
        return _grad(obj.grad_fn) if obj.grad_fn is not None else None
    kept = _retained(obj)
    if kept is not None and kept.grad is not None:
        return kept.grad.data
    return getattr(obj, "grad_small", None)


def _grad_text(obj: Any) -> str:
    g = _grad(obj)
    if g is not None:
        return _fmt(g)
    # small outputs always keep their gradient, so None means no backward has reached them yet
    big = isinstance(obj, Function) and _retained(obj) is None and int(np.prod(obj.shape)) > KEEP_SMALL
    return "not kept" if big else "\u2014"


def _value_text(obj: Any) -> str:
    v = _value(obj)
    return "not kept" if v is None else _fmt(v)


def _is_parameter(t: Tensor) -> bool:
    # nn is optional: a tensor can only be an nn.Parameter if nn has been imported
    parameter = getattr(sys.modules.get("nn"), "Parameter", None)
    return isinstance(parameter, type) and isinstance(t, parameter)


def _param_names(params: Any) -> dict[int, str]:
    """id(tensor) -> name, from a name -> tensor mapping (``named_parameters()``) or the reverse."""
    if params is None:
        return {}
    names = {}
    for k, v in dict(params).items():
        if isinstance(k, str) and isinstance(v, Tensor):
            names[id(v)] = k
        elif isinstance(k, Tensor) and isinstance(v, str):
            names[id(k)] = v
        else:
            raise TypeError(
                "draw: params must map names to tensors, e.g. dict(model.named_parameters()), or tensors "
                f"to names; got a {type(k).__name__} -> {type(v).__name__} entry"
            )
    return names


def _constants(node: Function) -> dict[int, Any]:
    """Constant arguments of ``node`` it still holds, by argument position.

    Ops such as Mul, Div, Pow and MatMul save exactly their arguments; that is trusted only when
    every argument that requires grad sits at its own position in the saved tuple.
    """
    saved = node._saved
    if len(saved) != len(node.next):
        return {}
    for edge, s in zip(node.next, saved):
        if edge is not None and not (isinstance(s, Tensor) and (s is edge or s.grad_fn is edge)):
            return {}
    return {
        i: s for i, (edge, s) in enumerate(zip(node.next, saved))
        if edge is None and isinstance(s, (Tensor, np.ndarray, np.generic, int, float))
    }


# --- the walk --------------------------------------------------------------------------------
class _Item:
    """One drawn node: a root or leaf Tensor, an op (Function), or a constant."""

    __slots__ = ("kind", "obj", "id", "name", "uses")

    def __init__(self, kind: str, obj: Any, ident: str, name: str | None) -> None:
        self.kind, self.obj, self.id, self.name, self.uses = kind, obj, ident, name, 0


def _walk(roots: tuple[Tensor, ...], names: dict[int, str]) -> tuple[list[_Item], list[tuple[_Item, _Item]]]:
    """All nodes behind ``roots`` in breadth-first order (nearest the roots first) and the edges.

    An explicit queue, so any depth works, and each node and edge is handled once: O(nodes).
    """
    items: list[_Item] = []
    by_id: dict[int, _Item] = {}  # the graph keeps every object alive while we walk
    edges: list[tuple[_Item, _Item]] = []
    queue: deque[Function] = deque()

    def item(obj: Any, kind: str, key: Any) -> _Item:
        found = by_id.get(key)
        if found is None:
            name = None
            if isinstance(obj, Tensor):
                name = names.get(id(obj)) or obj.name
            if kind == "leaf" and (id(obj) in names or _is_parameter(obj)):
                kind = "param"
            found = by_id[key] = _Item(kind, obj, f"n{len(items)}", name)
            items.append(found)
            if kind == "op":
                queue.append(obj)
        return found

    for root in roots:
        out = item(root, "output", id(root))
        if root.grad_fn is not None:
            edges.append((item(root.grad_fn, "op", id(root.grad_fn)), out))
    while queue:
        node = queue.popleft()
        consumer = by_id[id(node)]
        constants = _constants(node)
        for i, edge in enumerate(node.next):
            if isinstance(edge, Function):
                src = item(edge, "op", id(edge))
            elif isinstance(edge, Tensor):
                src = item(edge, "leaf", id(edge))
            elif i in constants:
                c = constants[i]
                # a constant tensor is one node however often it is used; a number is one per use
                src = item(c, "const", id(c) if isinstance(c, (Tensor, np.ndarray)) else (id(node), i))
            else:
                continue
            src.uses += 1
            edges.append((src, consumer))
    return items, edges


# --- labels ----------------------------------------------------------------------------------
def _node_label(it: _Item, show_shapes: bool, show_values: bool, show_grads: bool) -> str:
    obj = it.obj
    if it.kind == "op":
        kept = _retained(obj)
        title, name = type(obj).__name__, kept.name if kept is not None else None
        shape, dtype = obj.shape, obj.dtype
    else:
        value = np.asarray(_value(obj))
        if it.kind == "const" and value.size == 1:
            return f"<{_fmt(value)}>"
        title, name = (it.name or _TITLES[it.kind]), None
        shape, dtype = value.shape, value.dtype
    lines = [f"<b>{html.escape(title)}</b>"]
    if name:
        lines.append(html.escape(name))
    if show_shapes:
        lines.append(f"{tuple(shape)} {dtype}")
    if show_values:
        lines.append(f"value: {_value_text(obj)}")
    if show_grads and it.kind != "const":
        lines.append(f"grad: {_grad_text(obj)}")
    return "<" + "<br/>".join(lines) + ">"


def _edge_labels(src: _Item, dst: _Item) -> dict[str, str]:
    """Forward value above the edge (``label``), gradient below it (``xlabel``, placed after layout).

    The edge into an output carries the output itself.
    """
    carried = dst.obj if dst.kind == "output" else src.obj
    labels = {"label": f'<<font color="{VALUE_COLOR}">{html.escape(_value_text(carried))}</font>>'}
    if src.kind != "const":
        grad = _grad_text(carried) + (" (total)" if src.uses > 1 and dst.kind != "output" else "")
        labels["xlabel"] = f'<<font color="{GRAD_COLOR}">{html.escape(grad)}</font>>'
    return labels


# --- module clusters -------------------------------------------------------------------------
# op node -> ((module id, label), ...) from the outermost traced module to the innermost
_MODULE_OF: weakref.WeakKeyDictionary[Function, tuple] = weakref.WeakKeyDictionary()


def _tensors(values: Iterable[Any]) -> list[Tensor]:
    """The Tensors among ``values``, looking one level into tuples, lists and dicts."""
    found = []
    for v in values:
        if isinstance(v, dict):
            v = list(v.values())
        found.extend(t for t in (v if isinstance(v, (tuple, list)) else [v]) if isinstance(t, Tensor))
    return found


def _claim(outputs: list[Tensor], inputs: list[Tensor], chain: tuple) -> None:
    """Record as ``chain``'s module every op between ``inputs`` and ``outputs`` not claimed yet.

    Inner modules return first, so they claim their own ops before their container does.
    """
    stop = {id(t.grad_fn) for t in inputs if t.grad_fn is not None}
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None and id(t.grad_fn) not in stop]
    seen = {id(n) for n in stack}
    while stack:
        node = stack.pop()
        _MODULE_OF.setdefault(node, chain)
        for p in node.next:
            if isinstance(p, Function) and id(p) not in stop and id(p) not in seen:
                seen.add(id(p))
                stack.append(p)


def _traced(forward: Callable, chain: tuple) -> Callable:
    @functools.wraps(forward)
    def traced(*args: Any, **kwargs: Any) -> Any:
        out = forward(*args, **kwargs)
        _claim(_tensors([out]), _tensors([*args, *kwargs.values()]), chain)
        return out

    return traced


def _module_label(path: str, module: Any) -> str:
    text = repr(module)
    if type(module).__repr__ is object.__repr__ or "\n" in text or len(text) > 60:
        text = type(module).__name__
    return f"{path}: {text}"


@contextlib.contextmanager
def trace_modules(model: Any) -> Iterator[None]:
    """Inside this block, record which submodule of ``model`` creates each op of the forward pass.

    ``model`` needs ``named_modules()`` (as ``nn.Module`` has); ``draw(..., group_modules=True)``
    then draws one box per submodule. Every submodule's ``forward`` is wrapped for the block and
    restored after it. Ops made by ``model``'s own ``forward`` outside any submodule stay outside
    the boxes. Example::

        with viz.trace_modules(model):
            loss = F.cross_entropy(model(x), y)
        viz.draw(loss, params=dict(model.named_parameters()), group_modules=True)
    """
    if not hasattr(model, "named_modules"):
        raise TypeError(f"trace_modules needs a module with named_modules(), got {type(model).__name__}")
    modules = dict(model.named_modules())
    patched = []
    try:
        for path, module in modules.items():
            if not path:  # the model itself: its own ops stay unboxed
                continue
            parts = path.split(".")
            prefixes = [".".join(parts[: k + 1]) for k in range(len(parts))]
            chain = tuple((id(modules[p]), _module_label(p, modules[p])) for p in prefixes if p in modules)
            before = vars(module).get("forward")
            vars(module)["forward"] = _traced(module.forward, chain)
            patched.append((module, before))
        yield
    finally:
        for module, before in reversed(patched):
            if before is None:
                del vars(module)["forward"]
            else:
                vars(module)["forward"] = before


def _clusters(items: list[_Item], edges: list[tuple[_Item, _Item]]) -> dict:
    """item id -> the module chain whose box the item goes in (ops; parameters used by one module)."""
    chains = {it.id: _MODULE_OF[it.obj] for it in items if it.kind == "op" and it.obj in _MODULE_OF}
    if not chains:
        raise ValueError(
            "draw: group_modules=True, but no op of this graph was recorded by a module; run the forward "
            "pass inside `with autograd.viz.trace_modules(model):`"
        )
    users: dict[str, set] = {}
    for src, dst in edges:
        if src.kind == "param":
            users.setdefault(src.id, set()).add(chains.get(dst.id))
    for ident, used_by in users.items():
        if len(used_by) == 1 and None not in used_by:
            chains[ident] = next(iter(used_by))
    return chains


def _emit_clusters(dot: graphviz.Digraph, members: dict[tuple, list[tuple[str, dict]]]) -> None:
    """Add one nested ``cluster_*`` subgraph per module chain, innermost first."""
    boxes = {}
    for chain in members:
        for k in range(1, len(chain) + 1):
            boxes.setdefault(chain[:k], None)
    for n, chain in enumerate(boxes):
        box = graphviz.Digraph(name=f"cluster_{n}")
        box.attr(label=chain[-1][1], labeljust="l", style="rounded,dashed", color="#6b7280",
                 fontcolor="#374151", fontsize="11", margin="10")
        for ident, attrs in members.get(chain, ()):
            box.node(ident, **attrs)
        boxes[chain] = box
    for chain in sorted(boxes, key=len, reverse=True):
        (boxes[chain[:-1]] if len(chain) > 1 else dot).subgraph(boxes[chain])


# --- the public API --------------------------------------------------------------------------
def draw(
    *roots: Tensor,
    show_shapes: bool = True,
    show_values: bool = False,
    show_grads: bool = False,
    show_edges: bool = False,
    rankdir: str = "LR",
    max_nodes: int | None = 500,
    params: Any = None,
    group_modules: bool = False,
    legend: bool = False,
    model: Any = None,
) -> Graph:
    """Draw the computation graph behind ``roots`` (Tensors) and return it as a `Graph`.

    ``show_shapes``: shape as a Python tuple and dtype on every node. ``show_values`` /
    ``show_grads``: the data and the gradient on every node (scalars in full, arrays as min, mean,
    max, norm; a gradient reads "—" until a backward pass reaches it). ``show_edges``: forward
    value (green) above and gradient (red) below each edge. ``rankdir``: "LR" (inputs left) or
    "TB", "RL", "BT". ``max_nodes``: draw at most this many nodes, nearest the roots first, and
    say how many more were left out (None: no limit). ``params``: names for parameters,
    ``dict(model.named_parameters())`` or tensor -> name. ``group_modules``: one box per module
    recorded by `trace_modules`. ``legend``: add a key to the node styles and edge colours.
    ``model``: a module whose ``named_parameters()`` name the parameters when ``params`` is None.
    """
    if not roots:
        raise TypeError("draw() needs at least one root tensor")
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"draw() takes Tensors, got {type(r).__name__}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw: max_nodes must be a positive int or None, got {max_nodes}")

    if params is None and model is not None:
        params = model.named_parameters()
    items, edges = _walk(roots, _param_names(params))
    shown = items if max_nodes is None else items[:max_nodes]
    drawn = {it.id for it in shown}

    spacing = {"nodesep": "0.5", "ranksep": "0.8"} if show_edges else {"nodesep": "0.25", "ranksep": "0.35"}
    dot = Graph(name="graph", graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "bgcolor": "white", **spacing},
                node_attr={"fontname": "Helvetica", "fontsize": "11", "height": "0.3", "margin": "0.1,0.04"},
                edge_attr={"fontname": "Helvetica", "fontsize": "10", "color": "#4b5563", "arrowsize": "0.7"})
    chains = _clusters(shown, edges) if group_modules else {}
    members: dict[tuple, list] = {}
    for it in shown:
        attrs = {"label": _node_label(it, show_shapes, show_values, show_grads), **_STYLES[it.kind]}
        if it.id in chains:
            members.setdefault(chains[it.id], []).append((it.id, attrs))
        else:
            dot.node(it.id, **attrs)
    _emit_clusters(dot, members)

    cut = len(items) - len(shown)
    if cut:
        dot.node("cut", f"\u2026 {cut} more nodes not drawn (max_nodes={max_nodes})", **_STYLES["cut"])
    cut_into = set()
    for src, dst in edges:
        if dst.id not in drawn:
            continue
        if src.id in drawn:
            dot.edge(src.id, dst.id, **(_edge_labels(src, dst) if show_edges else {}))
        elif dst.id not in cut_into:  # one dashed edge from the marker to each node it feeds
            cut_into.add(dst.id)
            dot.edge("cut", dst.id, style="dashed", color=GRAD_COLOR)
    if legend:
        _add_legend(dot, [k for k in _LEGEND if any(it.kind == k for it in shown)], show_edges)
    return dot


def _add_legend(dot: graphviz.Digraph, kinds: list[str], show_edges: bool) -> None:
    """A key: one node holding a table with a swatch of each node style in the picture."""
    cells = [f'<td bgcolor="{_STYLES[k]["fillcolor"]}" color="{_STYLES[k]["color"]}" border="1">{_LEGEND[k]}</td>'
             for k in kinds]
    if show_edges:
        cells.append(f'<td>edge: <font color="{VALUE_COLOR}">value</font> / '
                     f'<font color="{GRAD_COLOR}">gradient</font></td>')
    rows = "".join(f"<tr>{c}</tr>" for c in cells)
    dot.node("legend", f'<<table border="0" cellspacing="3" cellpadding="3">{rows}</table>>',
             shape="plaintext", fontsize="9")


def save(root: Tensor | graphviz.Digraph, path: str | Path, **kwargs: Any) -> Path:
    """Draw ``root`` (a Tensor, with `draw`'s keyword options, or an already drawn graph) to ``path``.

    The suffix picks the format: .png, .svg, .pdf (these need Graphviz's ``dot``) or .dot (the
    DOT source, always works). Returns the path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"save: unsupported file type {path.suffix!r} for {path}; use one of {', '.join(FORMATS)}")
    if isinstance(root, graphviz.Digraph) and kwargs:
        raise TypeError(f"save: drawing options {sorted(kwargs)} need a Tensor, not an already drawn graph")
    graph = root if isinstance(root, graphviz.Digraph) else draw(root, **kwargs)
    if suffix == ".dot":
        path.write_text(graph.source, encoding="utf-8")
    else:
        data = _with_install_hint(graphviz.Digraph.pipe, graph, format=suffix[1:])
        path.write_bytes(data)
    return path


def draw_model_step(model: Any, x: Any, y: Any, loss_fn: Callable, **kwargs: Any) -> Graph:
    """Draw one training step of ``model``: forward, ``loss_fn(model(x), y)``, backward, by module.

    Each submodule of ``model`` and the loss get a box (see `trace_modules`).
    ``x`` is drawn as the input leaf: a float ``x`` is copied into a tensor that requires grad,
    so the picture shows the gradient reaching the input too. The backward pass accumulates into
    the parameters' ``.grad`` as a real step would (call ``zero_grad()`` before training on).
    ``kwargs`` go to `draw` (default: shapes on, grouped by module, parameters named).
    """
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    x = Tensor(data, requires_grad=data.dtype.kind == "f", name="x")
    with trace_modules(model):
        out = model(x)
    loss = loss_fn(out, y)
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    _claim([loss], [out], ((id(loss_fn), f"loss: {name}"),))  # the loss's ops get a box of their own
    loss.name = "loss"
    # retain_graph keeps the ops' saved constants, so they can be drawn too
    loss.backward(retain_graph=True)
    return draw(loss, **{"model": model, "group_modules": True, **kwargs})
