"""Computation graphs as Graphviz pictures.

``draw(loss)`` walks the graph behind one or more root tensors and returns a `Graph` (a
``graphviz.Digraph`` that shows inline in Jupyter as SVG); ``save(loss, "graph.svg")`` writes it.
One node per op (it stands for the op's output too), per leaf (inputs; parameters, named
through ``params=``, in their own style), per root and per constant input (a number shows its
value, an array its shape): every data input of an op is drawn; op parameters such as an axis
or a shape are not.

The graph keeps no values: pictures that show values or gradients *replay* it. Each op is run
again, parents first, on the replayed outputs of its parents, the original leaves and its
constants, and ``grad(root, [every output and leaf])`` gives every gradient of the roots. So
they are shown before and after ``backward()``, and no ``.grad`` changes. A leaf changed in
place after the forward pass shows, and replays with, its new value.

Models: ``draw_model_step(model, x, target, loss_fn, depth=1)`` records, through forward hooks,
which module call created each op (the innermost one running), and draws each module at the
given depth as one node; ``grad_flow=True`` colours nodes by the norm of their gradient.
``storyboard(root)`` films the backward pass, one frame per op.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from .creation import generator
from .engine import enable_grad, grad
from .function import Function
from .tensor import Tensor

INSTALL_HINT = (
    "rendering graph pictures needs the Graphviz `dot` program, which was not found on PATH; "
    "install it with `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
    "(macOS) or `conda install -c conda-forge graphviz`. Without it, save the graph as .dot."
)
FORMATS = (".png", ".svg", ".pdf", ".dot")
VALUE_COLOR, GRAD_COLOR = "#15803d", "#b91c1c"  # forward values green above edges, gradients red below
FLOW_COLORS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")  # viridis: small to large norms
ACTIVATIONS = {"Relu": "dead", "Sigmoid": "saturated", "Tanh": "saturated"}

_STYLES = {
    "leaf": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe", "color": "#1d4ed8"},
    "param": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fef3c7", "color": "#b45309"},
    "op": {"shape": "ellipse", "style": "filled", "fillcolor": "#f3f4f6", "color": "#4b5563"},
    "module": {"shape": "box", "style": "filled", "fillcolor": "#ede9fe", "color": "#6d28d9"},
    "output": {"shape": "box", "style": "filled,bold", "fillcolor": "#dcfce7", "color": "#15803d"},
    "const": {"shape": "box", "style": "filled", "fillcolor": "#f3f4f6", "color": "#9ca3af",
              "fontcolor": "#4b5563", "fontsize": "9"},
    "cut": {"shape": "note", "style": "filled", "fillcolor": "#fee2e2", "color": GRAD_COLOR},
}
_TITLES = {"leaf": "leaf", "param": "parameter", "output": "output", "const": "const"}
_LEGEND = {"leaf": "input (leaf)", "param": "parameter", "op": "op and its output", "module": "module call",
           "output": "output (root)", "const": "constant"}


class Graph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose rendering says how to install Graphviz when ``dot`` is missing."""

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


def _fmt(a: Any, short: bool = False) -> str:
    """A scalar in full (``-12``, ``0.731``); an array as min, mean, max and norm (``short``: norm)."""
    a = np.asarray(a)
    if a.size == 1:
        return f"{a.item():.4g}"
    if a.size == 0:
        return "empty"
    f = a.astype(np.float64)
    if short:
        return f"\u2016{np.linalg.norm(f):.3g}\u2016"
    return f"min {f.min():.4g}, mean {f.mean():.4g}, max {f.max():.4g}, norm {np.linalg.norm(f):.4g}"


def _shape(s: Iterable[int]) -> str:
    return str(tuple(int(n) for n in s))


# --- the walk --------------------------------------------------------------------------------
class _Item:
    """One drawn node: a root or leaf Tensor, an op (Function), a constant, or a module call."""

    __slots__ = ("box", "exit", "id", "kind", "members", "name", "obj", "uses")

    def __init__(self, kind: str, obj: Any, ident: str, name: str | None) -> None:
        self.kind, self.obj, self.id, self.name, self.uses = kind, obj, ident, name, 0
        self.box, self.members, self.exit = (), [], None


def _drawable(c: Any) -> bool:
    return isinstance(c, (Tensor, np.ndarray, np.generic, int, float)) and not isinstance(c, bool)


def _walk(roots: tuple[Tensor, ...], names: dict[int, str]) -> tuple[list[_Item], list[tuple]]:
    """Every node behind ``roots``, nearest the roots first, and the edges (src, dst, argument).

    An explicit queue, so any depth works; each node and edge is handled once: O(nodes).
    """
    items: list[_Item] = []
    by_key: dict[Any, _Item] = {}
    edges: list[tuple] = []
    queue: deque[Function] = deque()

    def item(obj: Any, kind: str, key: Any) -> _Item:
        found = by_key.get(key)
        if found is None:
            name = (names.get(id(obj)) or obj.name) if isinstance(obj, Tensor) else None
            if kind == "leaf" and (id(obj) in names or type(obj).__name__ == "Parameter"):
                kind = "param"
            found = by_key[key] = _Item(kind, obj, f"n{len(items)}", name)
            items.append(found)
            if kind == "op":
                queue.append(obj)
        return found

    for root in roots:
        out = item(root, "output", id(root))
        if root.grad_fn is not None:
            edges.append((item(root.grad_fn, "op", id(root.grad_fn)), out, 0))
    while queue:
        node = queue.popleft()
        dst = by_key[id(node)]
        data = range(len(node.next))[type(node).inputs]  # the data inputs; the rest are op parameters
        for i, (parent, c) in enumerate(zip(node.next, node.consts)):
            if isinstance(parent, Function):
                src = item(parent, "op", id(parent))
            elif parent is not None:
                src = item(parent, "leaf", id(parent))
            elif i in data and _drawable(c):  # a constant array is one node however often it is used
                src = item(c, "const", id(c) if isinstance(c, (Tensor, np.ndarray)) else (id(node), i))
            else:
                continue
            src.uses += 1
            edges.append((src, dst, i))
    return items, edges


def _topo(roots: Iterable[Tensor]) -> list[Function]:
    """The ops behind ``roots``, parents before children (iterative depth-first post-order)."""
    order, seen = [], set()
    for r in roots:
        stack = [(r.grad_fn, False)] if r.grad_fn is not None else []
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.next if isinstance(p, Function) and id(p) not in seen)
    return order


def _replay(roots: Iterable[Tensor]) -> tuple[dict, dict]:
    """Values (id -> ndarray) of every op output, and d(sum of roots)/d(everything) by id.

    Each op runs again on its replayed parents, the original leaves and its constants; the new
    graph is differentiated with ``grad``, so no ``.grad`` of the user's changes.
    """
    roots = list(roots)
    order, outs = _topo(roots), {}
    with enable_grad():
        for node in order:
            args = [outs[id(p)] if isinstance(p, Function) else (c if p is None else p)
                    for p, c in zip(node.next, node.consts)]
            outs[id(node)] = type(node).apply(*args)
    leaves = list({id(p): p for n in order for p in n.next if isinstance(p, Tensor)}.values())
    finals = [outs[id(r.grad_fn)] for r in roots if r.grad_fn is not None]
    values = {k: t.data for k, t in outs.items()}
    grads = {id(r): np.ones_like(r.data) for r in roots}
    if finals:
        keys = [id(n) for n in order] + [id(t) for t in leaves]
        ones = [Tensor(np.ones_like(t.data)) for t in finals]
        found = grad(finals, [outs[id(n)] for n in order] + leaves, grad_outputs=ones, allow_unused=True)
        grads.update({k: g.data for k, g in zip(keys, found) if g is not None})
    return values, grads


# --- module calls, recorded by forward hooks -----------------------------------------------------
class _Call:
    """One call of a module: its path, nesting level (the model is 0), input and output shapes."""

    def __init__(self, path: str, module: Any, level: int, args: tuple) -> None:
        self.path, self.module, self.level, self.outs = path, module, level, []
        self.ins = [t.shape for t in _tensors(args)]
        self.stop = {id(t.grad_fn) for t in _tensors(args) if t.grad_fn is not None}

    def label(self) -> str:
        return f"{self.path or 'model'}: {getattr(self.module, '__name__', type(self.module).__name__)}"


def _tensors(values: Iterable[Any]) -> list[Tensor]:
    """The Tensors among ``values``, looking one level into tuples, lists and dicts."""
    found = []
    for v in values:
        v = list(v.values()) if isinstance(v, dict) else v
        found.extend(t for t in (v if isinstance(v, (tuple, list)) else [v]) if isinstance(t, Tensor))
    return found


def _claim(outputs: list[Tensor], call: _Call, chain: tuple, owner: dict) -> None:
    """Record ``chain`` (outermost call first) for each op between the call's inputs and ``outputs``.

    Inner calls return first and claim their ops, so each op belongs to the innermost module.
    """
    call.outs = [t.shape for t in outputs]
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None and id(t.grad_fn) not in call.stop]
    seen = {id(n) for n in stack}
    while stack:
        node = stack.pop()
        owner.setdefault(id(node), (node, chain))
        for p in node.next:
            if isinstance(p, Function) and id(p) not in call.stop and id(p) not in seen:
                seen.add(id(p))
                stack.append(p)


@contextlib.contextmanager
def _trace(model: Any, owner: dict) -> Iterator[None]:
    """Hooks on every module of ``model`` that fill ``owner``: id(op) -> (op, chain of calls)."""
    if not hasattr(model, "named_modules") or not hasattr(model, "register_forward_hook"):
        raise TypeError(f"draw_model_step needs a module with named_modules() and forward hooks, "
                        f"got {type(model).__name__}")
    running: list[_Call] = []

    def pre(path: str) -> Callable:
        return lambda module, args: running.append(_Call(path, module, len(running), args))

    def post(module: Any, args: tuple, out: Any) -> None:
        chain = tuple(running)
        _claim(_tensors([out]), running.pop(), chain, owner)

    handles = []
    try:
        for path, module in model.named_modules():
            handles += [module.register_forward_pre_hook(pre(path)), module.register_forward_hook(post)]
        yield
    finally:
        for h in handles:
            h.remove()


def _group(items: list[_Item], edges: list[tuple], owner: dict, depth: int | None, expand: tuple,
           own: set) -> tuple[list[_Item], list[tuple]]:
    """Fold every op inside a closed module call into one node for that call.

    A call is open when its level is below ``depth`` or it is inside, or encloses, a name in
    ``expand``. Open calls become boxes. Parameters and constants used only inside one folded
    call go with it, except named tensors that are not the model's own (a target, say).
    """
    def is_open(c: _Call) -> bool:
        inside = any(c.path == e or c.path.startswith(e + ".") or c.path == "" or e.startswith(c.path + ".")
                     for e in expand)
        return depth is None or c.level < depth or inside

    rep: dict[str, _Item] = {}
    folded: dict[int, _Item] = {}
    for it in items:
        if it.kind != "op":
            continue
        chain = owner.get(id(it.obj), (None, ()))[1]
        k = next((k for k, c in enumerate(chain) if not is_open(c)), None)
        it.box = tuple(c for c in chain[: len(chain) if k is None else k] if c.level > 0)
        if k is not None:
            call = chain[k]
            if id(call) not in folded:
                folded[id(call)] = g = _Item("module", call, f"m{len(folded)}", call.label())
                g.box = it.box
            folded[id(call)].members.append(it)
            rep[it.id] = folded[id(call)]
    users: dict[str, set] = {}
    for src, dst, _ in edges:
        users.setdefault(src.id, set()).add(rep.get(dst.id, dst).id)
    by_id = {it.id: it for it in items}
    for it in items:
        if it.kind in ("param", "const", "leaf") and len(users.get(it.id, ())) == 1:
            (user,) = users[it.id]
            target = next((g for g in folded.values() if g.id == user), None) or by_id[user]
            named = isinstance(it.obj, Tensor) and it.obj.name is not None and id(it.obj) not in own
            if target.kind == "module" and it.kind != "leaf" and not named:
                rep[it.id] = target  # folded away with the module that alone uses it
            else:
                it.box = target.box
    out_items, placed, out_edges, seen = [], set(), [], set()
    for it in items:
        r = rep.get(it.id, it)
        if r.id not in placed and (r is it or r.members and r.members[0] is it):
            placed.add(r.id)
            out_items.append(r)
    for src, dst, i in edges:
        a, b = rep.get(src.id, src), rep.get(dst.id, dst)
        if a is not b and (a.id, b.id) not in seen:
            seen.add((a.id, b.id))
            if a.kind == "module" and a.exit is None:
                a.exit = src.obj
            out_edges.append((a, b, i, src))
    return out_items, out_edges


# --- labels ----------------------------------------------------------------------------------
def _value(it: _Item, values: dict) -> Any:
    obj = it.exit if it.kind == "module" else it.obj
    return values.get(id(obj)) if isinstance(obj, Function) else (obj.data if isinstance(obj, Tensor) else obj)


def _grad(it: _Item, grads: dict) -> Any:
    return grads.get(id(it.exit if it.kind == "module" else it.obj))


def _activity(it: _Item, values: dict) -> str | None:
    """Dead fraction of ReLUs (0 for every example), saturated fraction of sigmoid/tanh outputs."""
    stats: dict[str, list] = {}
    for op in it.members or [it]:
        kind = ACTIVATIONS.get(type(op.obj).__name__) if op.kind == "op" else None
        out = values.get(id(op.obj)) if kind else None
        if out is None or out.size == 0:
            continue
        if kind == "dead":  # a unit is dead when it is 0 for every example of the batch
            flags = np.all(out == 0, axis=0) if out.ndim > 1 else out == 0
        else:  # within 0.01 of the asymptotes: sigmoid 0 and 1, tanh -1 and 1
            a = np.abs(2 * out - 1) if type(op.obj).__name__ == "Sigmoid" else np.abs(out)
            flags = a >= 1 - (0.02 if type(op.obj).__name__ == "Sigmoid" else 0.01)
        stats.setdefault(kind, []).append(flags.ravel())
    return ", ".join(f"{k} {np.concatenate(v).mean():.0%}" for k, v in stats.items()) or None


def _flow_color(norm: float, lo: float, hi: float) -> tuple[str, str]:
    """Fill and font colour for a gradient norm on a log scale from 10**lo to 10**hi."""
    if not norm > 0:
        return "#d1d5db", "#111827"
    t = min(max((math.log10(norm) - lo) / max(hi - lo, 1e-9), 0.0), 1.0) * (len(FLOW_COLORS) - 1)
    k = min(int(t), len(FLOW_COLORS) - 2)
    a, b = (np.array([int(c[j:j + 2], 16) for j in (1, 3, 5)]) for c in FLOW_COLORS[k:k + 2])
    rgb = a + (b - a) * (t - k)
    return "#%02x%02x%02x" % tuple(int(round(v)) for v in rgb), "white" if t < 2.5 else "#111827"


def _label(it: _Item, opts: dict, values: dict, grads: dict) -> str:
    obj, lines = it.obj, []
    if it.kind == "module":
        params = sum(int(np.prod(p.shape)) for _, p in obj.module.named_parameters()) \
            if hasattr(obj.module, "named_parameters") else 0
        title = f"{obj.path or 'model'}: {type(obj.module).__name__}" if obj.path != "loss" else it.name
        lines = [f"<b>{html.escape(title)}</b>",
                 f"{', '.join(map(_shape, obj.ins))} \u2192 {', '.join(map(_shape, obj.outs))}"]
        lines += [f"{params:,} params"] if params else []
    elif it.kind == "op":
        lines = [f"<b>{type(obj).__name__}</b>"] + ([f"{_shape(obj.shape)} {obj.dtype}"] if opts["show_shapes"] else [])
    else:
        value = np.asarray(_value(it, values))
        if it.kind == "const" and value.size == 1:
            return f"<{_fmt(value)}>"
        lines = [f"<b>{html.escape(it.name or _TITLES[it.kind])}</b>"]
        lines += [f"{_shape(value.shape)} {value.dtype}"] if opts["show_shapes"] or it.kind == "const" else []
    if opts["show_values"] and it.kind != "module":
        lines.append(f"value: {_fmt(_value(it, values))}")
    if opts["show_grads"] and it.kind != "const":
        g = _grad(it, grads)
        lines.append("grad: " + ("\u2014" if g is None else _fmt(g)))
    if opts["grad_flow"] and it.kind != "const":
        g = _grad(it, grads)
        lines.append("no gradient" if g is None else f"grad norm {np.linalg.norm(g):.2g}")
        lines += [a for a in [_activity(it, values)] if a]
    return "<" + "<br/>".join(lines) + ">"


def _edge_label(src: _Item, dst: _Item, carried: Any, values: dict, grads: dict) -> dict[str, str]:
    """Forward value above the edge (``label``), gradient below it (``xlabel``, placed after layout)."""
    obj = dst.obj if dst.kind == "output" else carried.obj
    value = values.get(id(obj)) if isinstance(obj, Function) else (obj.data if isinstance(obj, Tensor) else obj)
    labels = {"label": f'<<font color="{VALUE_COLOR}">{html.escape(_fmt(value))}</font>>'}
    if carried.kind != "const":
        g = grads.get(id(obj))
        text = "\u2014" if g is None else _fmt(g) + (" (total)" if src.uses > 1 and dst.kind != "output" else "")
        labels["xlabel"] = f'<<font color="{GRAD_COLOR}">{html.escape(text)}</font>>'
    return labels


# --- emitting DOT ----------------------------------------------------------------------------
def _emit(items: list[_Item], edges: list[tuple], opts: dict, values: dict, grads: dict,
          edge_label: Callable | None = None, node_style: Callable | None = None) -> Graph:
    max_nodes = opts["max_nodes"]
    shown = items if max_nodes is None else items[:max_nodes]
    drawn = {it.id for it in shown}
    wide = opts["show_edges"] or edge_label is not None
    dot = Graph(name="graph", graph_attr={"rankdir": opts["rankdir"], "fontname": "Helvetica", "bgcolor": "white",
                                          "nodesep": "0.5" if wide else "0.25", "ranksep": "0.8" if wide else "0.35"},
                node_attr={"fontname": "Helvetica", "fontsize": "11", "height": "0.3", "margin": "0.1,0.04"},
                edge_attr={"fontname": "Helvetica", "fontsize": "10", "color": "#4b5563", "arrowsize": "0.7"})
    norms = [np.linalg.norm(g) for it in shown if (g := _grad(it, grads)) is not None] if opts["grad_flow"] else []
    norms = [n for n in norms if n > 0]
    lo, hi = (math.floor(math.log10(min(norms))), math.ceil(math.log10(max(norms)))) if norms else (0, 0)
    boxes: dict[tuple, list] = {}
    for it in shown:
        attrs = {"label": _label(it, opts, values, grads), **_STYLES[it.kind]}
        if opts["grad_flow"] and it.kind != "const":
            g = _grad(it, grads)
            attrs["fillcolor"], attrs["fontcolor"] = _flow_color(0.0 if g is None else np.linalg.norm(g), lo, hi)
        attrs.update(node_style(it) if node_style else {})
        boxes.setdefault(it.box, []).append((it.id, attrs))
    _emit_boxes(dot, boxes)
    if len(items) > len(shown):
        dot.node("cut", f"\u2026 {len(items) - len(shown)} more nodes not drawn (max_nodes={max_nodes})", **_STYLES["cut"])
    cut_into = set()
    for src, dst, *rest in edges:
        if dst.id not in drawn:
            continue
        if src.id in drawn:
            carried = rest[1] if len(rest) > 1 else src
            attrs = edge_label(src, dst, rest[0]) if edge_label else \
                _edge_label(src, dst, carried, values, grads) if opts["show_edges"] else {}
            dot.edge(src.id, dst.id, **attrs)
        elif dst.id not in cut_into:  # one dashed edge from the marker to each node it feeds
            cut_into.add(dst.id)
            dot.edge("cut", dst.id, style="dashed", color=GRAD_COLOR)
    if opts["legend"] or opts["grad_flow"]:
        _add_legend(dot, [k for k in _LEGEND if any(it.kind == k for it in shown)] if opts["legend"] else [],
                    opts["show_edges"], (lo, hi) if opts["grad_flow"] else None)
    return dot


def _emit_boxes(dot: graphviz.Digraph, boxes: dict[tuple, list]) -> None:
    """Nodes into nested ``cluster_*`` subgraphs, one per open module call (a box path)."""
    graphs = {(): dot}
    for path in sorted({p[:k] for p in boxes for k in range(1, len(p) + 1)}, key=len):
        graphs[path] = graphviz.Digraph(name=f"cluster_{len(graphs)}")
        graphs[path].attr(label=path[-1].label(), labeljust="l", style="rounded,dashed", color="#6b7280",
                          fontcolor="#374151", fontsize="11", margin="10")
    for path, nodes in boxes.items():
        for ident, attrs in nodes:
            graphs[path].node(ident, **attrs)
    for path in sorted(graphs, key=len, reverse=True)[:-1]:
        graphs[path[:-1]].subgraph(graphs[path])


def _add_legend(dot: graphviz.Digraph, kinds: list[str], show_edges: bool, flow: tuple | None) -> None:
    """A key: swatches of the node styles, the edge colours, and the gradient-norm colour scale."""
    rows = [f'<td bgcolor="{_STYLES[k]["fillcolor"]}" color="{_STYLES[k]["color"]}" border="1">{_LEGEND[k]}</td>'
            for k in kinds]
    if show_edges:
        rows.append(f'<td>edge: <font color="{VALUE_COLOR}">value</font> / <font color="{GRAD_COLOR}">gradient</font></td>')
    if flow:
        lo, hi = flow
        cells = "".join(f'<td bgcolor="{_flow_color(10.0 ** e, lo, hi)[0]}"><font color="{_flow_color(10.0 ** e, lo, hi)[1]}">'
                        f"1e{e}</font></td>" for e in range(lo, hi + 1))
        rows.append(f'<td><table border="0" cellspacing="1"><tr><td>gradient norm (log)</td>{cells}</tr></table></td>')
    dot.node("legend", f'<<table border="0" cellspacing="3" cellpadding="3">{"".join(f"<tr>{r}</tr>" for r in rows)}</table>>',
             shape="plaintext", fontsize="9")


# --- the public API --------------------------------------------------------------------------
def _param_names(params: Any) -> dict[int, str]:
    """id(tensor) -> name, from a name -> tensor mapping (``named_parameters()``) or the reverse."""
    names = {}
    for k, v in dict(params or {}).items():
        if isinstance(k, str) and isinstance(v, Tensor):
            names[id(v)] = k
        elif isinstance(k, Tensor) and isinstance(v, str):
            names[id(k)] = v
        else:
            raise TypeError("draw: params must map names to tensors, e.g. dict(model.named_parameters()), or "
                            f"tensors to names; got a {type(k).__name__} -> {type(v).__name__} entry")
    return names


def _options(roots: tuple, rankdir: str, max_nodes: int | None, **opts: Any) -> dict:
    if not roots:
        raise TypeError("draw() needs at least one root tensor")
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"draw() takes Tensors, got {type(r).__name__}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw: max_nodes must be a positive int or None, got {max_nodes}")
    return {"rankdir": rankdir, "max_nodes": max_nodes, **opts}


def draw(*roots: Tensor, show_shapes: bool = True, show_values: bool = False, show_grads: bool = False,
         show_edges: bool = False, rankdir: str = "LR", max_nodes: int | None = 500, params: Any = None,
         legend: bool = False, grad_flow: bool = False) -> Graph:
    """Draw the computation graph behind ``roots`` (Tensors) and return it as a `Graph`.

    ``show_shapes``: shape (a Python tuple) and dtype on every node. ``show_values`` /
    ``show_grads``: the value and d(roots)/d(value) on every node (scalars in full, arrays as
    min, mean, max, norm), by replaying the graph (see the module docstring). ``show_edges``:
    forward value (green) above and gradient (red) below each edge, as on the lecture slides.
    ``rankdir``: "LR" (inputs left), "TB", "RL" or "BT". ``max_nodes``: draw at most this many
    nodes, nearest the roots first, with a marker saying how many more were left out (None: no
    limit). ``params``: names for parameters, ``dict(model.named_parameters())`` or tensor ->
    name. ``legend``: a key to the styles. ``grad_flow``: colour nodes by their gradient's norm.
    """
    opts = _options(roots, rankdir, max_nodes, show_shapes=show_shapes, show_values=show_values,
                    show_grads=show_grads, show_edges=show_edges, legend=legend, grad_flow=grad_flow)
    items, edges = _walk(roots, _param_names(params))
    values, grads = _replay(roots) if show_values or show_grads or show_edges or grad_flow else ({}, {})
    return _emit(items, edges, opts, values, grads)


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
        path.write_bytes(_with_install_hint(graphviz.Digraph.pipe, graph, format=suffix[1:]))
    return path


@contextlib.contextmanager
def _untouched(model: Any) -> Iterator[None]:
    """Restore the model's parameters, buffers, ``.grad``s, train/eval modes and the RNG on exit."""
    tensors = [t for _, t in model.named_parameters()] + [t for _, t in getattr(model, "named_buffers", list)()]
    kept = [(t, t.data, t.data.copy(), t.grad) for t in tensors if t is not None]
    modes = [(m, m.training) for _, m in model.named_modules()]
    rng = generator().bit_generator.state
    try:
        yield
    finally:
        for t, array, copy, g in kept:
            np.copyto(array, copy) if array.shape == copy.shape else None
            t.data, t.grad = array, g
        for m, mode in modes:
            m.training = mode
        generator().bit_generator.state = rng


def draw_model_step(model: Any, x: Any, target: Any, loss_fn: Callable, depth: int | None = 1,
                    expand: Iterable[str] = (), grad_flow: bool = False, **draw_options: Any) -> Graph:
    """Draw one training step of ``model``, ``loss_fn(model(x), target)``, module by module.

    ``depth``: at 1 each top-level module is one node (name, type, input -> output shapes,
    parameter count), at 2 their children, at 0 the whole model; None draws every primitive.
    ``expand``: module names (as ``named_modules()`` gives them) to open fully. Open modules
    are drawn as boxes. The loss is one more node, named after ``loss_fn``. A float ``x`` is
    copied into a leaf that requires grad, so the gradient reaching the input shows too.
    ``grad_flow``: colour each node by the norm of the gradient reaching it (log scale, with a
    legend) and label ReLUs with their dead fraction, sigmoid/tanh with their saturated one.
    The model runs in its current train/eval mode; afterwards its parameters, buffers (running
    statistics), ``.grad``s, modes and the random generator are as they were: nothing calls
    ``backward``, gradients come from replaying the graph. ``draw_options`` go to `draw`.
    """
    names = dict(model.named_modules())
    expand = tuple(expand)
    unknown = [e for e in expand if e not in names or e == ""]
    if unknown:
        raise ValueError(f"draw_model_step: expand names unknown modules {unknown}; the modules are "
                         f"{[n for n in names if n]}")
    if depth is not None and depth < 0:
        raise ValueError(f"draw_model_step: depth must be a non-negative int or None, got {depth}")
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    x = Tensor(data, requires_grad=data.dtype.kind == "f", name="x")
    if isinstance(target, Tensor) and target.name is None:
        target = Tensor(target.data, name="target")
    owner: dict = {}
    with _untouched(model):
        with _trace(model, owner), enable_grad():
            out = model(x)
        with enable_grad():
            loss = loss_fn(out, target)
        loss_call = _Call("loss", loss_fn, 1, (out, target))
        _claim([loss], loss_call, (loss_call,), owner)
        loss.name = "loss"
        own = dict(model.named_parameters())
        own.update({f"{k} (buffer)": t for k, t in getattr(model, "named_buffers", list)() if t is not None})
        opts = _options((loss,), **{"rankdir": "LR", "max_nodes": 500, "show_shapes": True, "show_values": False,
                                    "show_grads": False, "show_edges": False, "legend": False, **draw_options,
                                    "grad_flow": grad_flow})
        items, edges = _walk((loss,), _param_names(own))
        items, edges = _group(items, edges, owner, depth, expand, {id(t) for t in own.values()})
        replay = grad_flow or opts["show_values"] or opts["show_grads"] or opts["show_edges"]
        values, grads = _replay((loss,)) if replay else ({}, {})
        return _emit(items, edges, opts, values, grads)


def storyboard(root: Tensor, path: str | Path | None = None, frame_format: str = "svg") -> list[Graph]:
    """The backward pass as a film: one frame per op, in an order backward may visit them.

    Each frame draws the graph with the forward values on the edges (as ``show_edges=True``);
    the current op is highlighted and each of its input edges reads ``upstream x local =
    downstream``, where upstream is d(root)/d(op output), local d(output)/d(input) (for arrays,
    the vector-Jacobian product with ones) and downstream the gradient the op sends that input.
    Edges already visited keep their gradient. Computed by replaying the graph: no ``.grad``
    changes. With ``path``: a ``.gif`` (frames rendered by ``dot`` as PNG onto one canvas, with
    Pillow), or a folder that gets one ``frame_NN.svg`` (or ``.png``, ``frame_format``) per frame.
    """
    if not isinstance(root, Tensor) or not root.requires_grad or root.grad_fn is None:
        raise ValueError("storyboard: the root must be a Tensor that requires grad and was made by an op "
                         f"(got {type(root).__name__}{'' if not isinstance(root, Tensor) else ' without a graph'})")
    opts = _options((root,), "LR", None, show_shapes=False, show_values=False, show_grads=False,
                    show_edges=True, legend=False, grad_flow=False)
    items, edges = _walk((root,), {})
    values, grads = _replay((root,))
    steps = {}  # id(op) -> (upstream, [(local, downstream) per argument])
    for node in reversed(_topo((root,))):
        up = grads[id(node)]
        args = [Tensor(np.array(values[id(p)] if isinstance(p, Function) else p.data), requires_grad=True) if p is not None else c for p, c in zip(node.next, node.consts)]
        wrt = [a for a, p in zip(args, node.next) if p is not None]
        with enable_grad():
            out = type(node).apply(*args)
            local = grad(out, wrt, grad_outputs=Tensor(np.ones_like(out.data)), retain_graph=True, allow_unused=True)
            down = grad(out, wrt, grad_outputs=Tensor(np.asarray(up, dtype=out.dtype)), allow_unused=True)
        per_arg = iter(zip(local, down))
        steps[id(node)] = (up, [next(per_arg) if p is not None else None for p in node.next])

    def edge_text(text: str, bold: bool = False) -> str:
        return f'<<font color="{GRAD_COLOR}">{"<b>" if bold else ""}{html.escape(text)}{"</b>" if bold else ""}</font>>'

    frames, order = [], [id(n) for n in reversed(_topo((root,)))]
    names = {id(n): type(n).__name__ for n in _topo((root,))}
    for k, current in enumerate(order):
        done = set(order[:k])

        def edge_label(src: _Item, dst: _Item, i: int, done: set = done, current: int = current) -> dict:
            value = values.get(id(src.obj)) if src.kind == "op" else _value(src, values)
            labels = {"label": f'<<font color="{VALUE_COLOR}">{html.escape(_fmt(dst.obj.data if dst.kind == "output" else value))}</font>>'}
            if dst.kind == "output":
                labels["xlabel"] = edge_text("1")
            elif id(dst.obj) in done | {current} and steps[id(dst.obj)][1][i] is not None:
                up, (local, down) = steps[id(dst.obj)][0], steps[id(dst.obj)][1][i]
                short = np.size(up) > 1
                labels["xlabel"] = edge_text(f"{_fmt(up, short)} \u00d7 {_fmt(local.data, short)} = "
                                             f"{_fmt(down.data, short)}", True) if id(dst.obj) == current \
                    else edge_text(_fmt(down.data, short))
                labels.update(penwidth="2.5", color=GRAD_COLOR) if id(dst.obj) == current else None
            return labels

        def style(it: _Item, current: int = current, done: set = done) -> dict:
            if it.kind == "op" and id(it.obj) == current:
                return {"fillcolor": "#fde68a", "penwidth": "3", "color": GRAD_COLOR}
            return {"fillcolor": "#fee2e2"} if it.kind == "op" and id(it.obj) in done else {}

        frame = _emit(items, edges, opts, values, grads, edge_label=edge_label, node_style=style)
        frame.attr(label=f"backward step {k + 1} of {len(order)}: {names[current]}, upstream \u00d7 local = downstream",
                   labelloc="t", fontsize="12")
        frames.append(frame)
    if path is not None:
        _write_film(frames, Path(path), frame_format)
    return frames


def _write_film(frames: list[Graph], path: Path, frame_format: str) -> None:
    if path.suffix.lower() != ".gif":
        if frame_format not in ("svg", "png"):
            raise ValueError(f"storyboard: frame_format must be 'svg' or 'png', got {frame_format!r}")
        path.mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(frames):
            (path / f"frame_{k:02d}.{frame_format}").write_bytes(f.pipe(format=frame_format))
        return
    from PIL import Image  # Pillow comes with matplotlib

    images = [Image.open(io.BytesIO(f.pipe(format="png"))).convert("RGB") for f in frames]
    size = (max(i.width for i in images), max(i.height for i in images))
    canvases = []
    for image in images:
        canvas = Image.new("RGB", size, "white")
        canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
        canvases.append(canvas)
    canvases[0].save(path, save_all=True, append_images=canvases[1:], duration=1500, loop=0)
