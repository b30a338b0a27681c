"""Computation graphs as Graphviz pictures: `draw`, `save`, `draw_model_step`, `storyboard`.

One node per op (standing for its output), leaf, root and constant input; op parameters (an axis) are not inputs.
The graph keeps no values: pictures with values or gradients *replay* it, each op again, parents first, on its parents'
replayed outputs, the leaves and its constants; ``grad`` of the replayed roots gives every gradient, before or after
``backward()``, changing no ``.grad``. A leaf changed in place since the forward pass shows its new value."""

from __future__ import annotations

import functools
import html
import io
import math
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from .creation import generator
from .engine import grad
from .mode import enable_grad
from .ops.function import Function
from .tensor import Tensor

INSTALL_HINT = ("rendering graph pictures needs the Graphviz `dot` program, which was not found on PATH; "
                "install it with `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS) or `conda install -c conda-forge graphviz`. Without it, save the graph as .dot.")
FORMATS, REPLAYED = (".png", ".svg", ".pdf", ".dot"), ("show_values", "show_grads", "show_edges", "grad_flow")
VALUE_COLOR, GRAD_COLOR = "#15803d", "#b91c1c"  # forward values green above edges, gradients red below
FLOW_COLORS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")
_STYLES = {
    "leaf": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe", "color": "#1d4ed8"},
    "param": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fef3c7", "color": "#b45309"},
    "op": {"shape": "ellipse", "style": "filled", "fillcolor": "#f3f4f6", "color": "#4b5563"},
    "module": {"shape": "box", "style": "filled", "fillcolor": "#ede9fe", "color": "#6d28d9"},
    "output": {"shape": "box", "style": "filled,bold", "fillcolor": "#dcfce7", "color": "#15803d"},
    "const": {"shape": "box", "style": "filled", "fillcolor": "#f3f4f6", "color": "#9ca3af", "fontcolor": "#4b5563",
              "fontsize": "9"},
    "cut": {"shape": "note", "style": "filled", "fillcolor": "#fee2e2", "color": GRAD_COLOR},
}
DEFAULTS = {"show_shapes": True, "show_values": False, "show_grads": False, "show_edges": False, "rankdir": "LR",
            "max_nodes": 500, "params": None, "legend": False, "grad_flow": False}


class Graph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose rendering says how to install Graphviz when ``dot`` is missing."""
    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound:
            raise RuntimeError(INSTALL_HINT) from None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except RuntimeError:  # no `dot`: the source and how to install it
            return {"text/plain": f"{INSTALL_HINT}\n\n{self.source}"}


def _fmt(a: Any, short: bool = False) -> str:
    """HTML-label text: a scalar (``0.7311``) or up to 9 numbers (``[0.2, 0.4]``, a matrix row by row) in full, more as
    min, mean, max and norm (``short``: an array as its norm); float32 round-off (< 1e-6 of the largest) shows as 0."""
    a = np.asarray(a, dtype=np.float64)
    a = np.where(np.abs(a) < (tiny := 1e-6 * np.abs(a).max(initial=0)), 0.0, a) + 0.0  # + 0.0: no -0
    if a.size <= 1 or a.size <= 9 and not short:
        digits = "{:.4g}" if a.size == 1 else "{:.3g}"
        return np.array2string(a, separator=", ", formatter={"all": digits.format}).replace("\n", "<br/>")
    n, mean = np.linalg.norm(a), a.mean() if abs(a.mean()) >= tiny else 0.0
    return f"‖{n:.3g}‖" if short else f"min {a.min():.4g}, mean {mean:.4g}, max {a.max():.4g}, norm {n:.4g}"


# --- the walk and the replay -----------------------------------------------------------------
class _Item:
    """A node: a root or leaf Tensor, op, constant or module call (its ``members`` ops, ``exit`` op), in ``box``."""
    def __init__(self, kind: str, obj: Any, nid: str, name: str | None) -> None:
        self.kind, self.obj, self.id, self.name, self.box, self.members, self.exit = kind, obj, nid, name, (), [], None


def _math(node: Any) -> Any:
    """``node``, or past any layout-only ops (copies into another memory order: no math) its data input."""
    while isinstance(node, Function) and getattr(type(node), "layout_only", False):
        node = node.next[0]
    return node


def _walk(roots: Iterable[Tensor], names: dict[int, str]) -> tuple[list[_Item], list[tuple]]:
    """Every node behind ``roots``, each before its inputs (the roots first), and the edges (src, dst,
    argument): an iterative depth-first search, so any depth works, in O(nodes + edges)."""
    items, by_key, edges, seen = [], {}, [], set()  # items in post-order: inputs before their consumers
    tops = {id(root.grad_fn) for root in roots}  # a root's name is on its output node, not its op's
    def item(obj: Any, kind: str, key: Any) -> _Item:
        if key not in by_key:
            param = kind == "leaf" and (id(obj) in names or type(obj).__name__ == "Parameter")
            name = (names.get(id(obj)) or obj.name) if isinstance(obj, Tensor) else kind == "op" and (names.get(
                id(obj)) or (id(obj) not in tops and obj.name)) or None  # q.name = "q" names q's op too
            by_key[key] = _Item("param" if param else kind, obj, f"n{len(by_key)}", name)
            items.extend([by_key[key]] if kind in ("leaf", "const") else [])
        return by_key[key]
    for root in roots:
        top = _math(root.grad_fn)  # the op that made the root (None for a leaf)
        stack = [(top, False)] if isinstance(top, Function) else []
        while stack:
            node, done = stack.pop()
            if done:
                items.append(by_key[id(node)])
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                dst, data = item(node, "op", id(node)), range(len(node.next))[type(node).inputs]  # the rest: op params
                for i, (parent, c) in reversed(list(enumerate(zip(map(_math, node.next), node.consts)))):  # 1st on top
                    if isinstance(parent, Function):
                        src = item(parent, "op", id(parent))
                        stack.append((parent, False))
                    elif parent is not None:
                        src = item(parent, "leaf", id(parent))
                    elif i in data and isinstance(c, (Tensor, np.ndarray, np.generic, float, int)):
                        # a constant array is one node however often it is used; a number is one per use
                        src = item(c, "const", id(c) if isinstance(c, (Tensor, np.ndarray)) else (id(node), i))
                    else:
                        continue
                    edges.append((src, dst, i))
        items.append(item(root, "output", id(root)))
        edges.extend([(by_key[id(top)], items[-1], 0)] if isinstance(top, Function) else [])
    leaves = [it for it in items if it.kind in ("leaf", "param")]
    for it in (it for it in items if it.kind == "const" and isinstance(it.obj, Tensor)):  # x.detach(): x's memory
        src = next((lf for lf in leaves if np.may_share_memory(it.obj.data, lf.obj.data)), None)
        it.name = it.name or src and f"{src.name or ('parameter' if src.kind == 'param' else 'leaf')} (detached)"
    return items[::-1], edges


def _replay(roots: Iterable[Tensor], items: list[_Item]) -> tuple[dict, dict]:
    """id -> value of every op output; id -> d(sum of roots)/d(it) for every op and leaf, and (id(input), id(op),
    argument) -> the share of it that flows along that edge (a fan-out's shares add up to the total)."""
    order, outs, uses = [it.obj for it in reversed(items) if it.kind == "op"], {}, {}  # parents first
    with enable_grad():
        for node in order:
            parents = list(enumerate(map(_math, node.next)))
            uses.update({(id(p), id(node), i): t.reshape(t.shape) for i, p in parents if p is not None  # identities:
                         for t in [outs.get(id(p), p)]})  # the gradient of each is what flows along its edge
            outs[id(node)] = type(node).apply(*[c if p is None else uses[id(p), id(node), i]
                                                for (i, p), c in zip(parents, node.consts)])
    leaves = [it.obj for it in items if it.kind in ("leaf", "param")]
    finals = [outs[id(top)] for r in roots if isinstance(top := _math(r.grad_fn), Function)]
    grads = {id(r): np.ones_like(r.data) for r in roots}
    if finals:
        wrt = {**{id(n): outs[id(n)] for n in order}, **{id(t): t for t in leaves}, **uses}
        found = grad([f.sum() for f in finals], list(wrt.values()), allow_unused=True)  # d(sum of roots)/d(each)
        grads.update({k: g.data for k, g in zip(wrt, found) if g is not None})
    return {k: t.data for k, t in outs.items()}, grads


# --- module calls, recorded by forward hooks -------------------------------------------------
def _tensors(values: Iterable[Any]) -> list[Tensor]:  # the Tensors among values, one level into containers
    flat = [v.values() if isinstance(v, dict) else v if isinstance(v, (tuple, list)) else [v] for v in values]
    return [t for v in flat for t in v if isinstance(t, Tensor)]


class _Call:
    """One call of a module: its path, nesting level (the model is 0), input and output shapes."""
    def __init__(self, path: str, module: Any, level: int, args: tuple) -> None:
        self.path, self.module, self.level, self.ins = path, module, level, [t.shape for t in _tensors(args)]
        self.stop = {id(t.grad_fn) for t in _tensors(args) if t.grad_fn is not None}
        self.label = f"{path or 'model'}: {module.__name__ if path == 'loss' else type(module).__name__}"

    def claim(self, outputs: list[Tensor], chain: tuple, owner: dict) -> None:
        """Give ``chain`` (outermost first) the ops between the inputs and ``outputs`` that no call has:
        inner calls return first, so an op belongs to the innermost module running when it was made."""
        self.outs = [t.shape for t in outputs]
        stack = [t.grad_fn for t in outputs if t.grad_fn is not None and id(t.grad_fn) not in self.stop]
        while stack:
            node = stack.pop()
            owner.setdefault(id(node), (node, chain))
            self.stop.add(id(node))  # visited
            stack.extend(p for p in node.next if isinstance(p, Function) and id(p) not in self.stop)


def _trace(model: Any, owner: dict) -> list:
    """Forward hooks on every module of ``model`` that fill ``owner`` (id(op) -> (op, chain of calls))."""
    running: list[_Call] = []

    def post(module: Any, args: tuple, out: Any) -> None:
        (call := running.pop()).claim(_tensors([out]), (*running, call), owner)  # outermost call first
    return [h for path, m in model.named_modules() for h in (m.register_forward_hook(post), m.register_forward_pre_hook(
        lambda module, args, path=path: running.append(_Call(path, module, len(running), args))))]


def _group(items: list[_Item], edges: list[tuple], owner: dict, depth: int | None, expand: tuple,
           own: set) -> tuple[list[_Item], list[tuple]]:
    """Fold the ops of each closed module call into one node; open calls (level below ``depth``, or inside or around a
    name in ``expand``) become boxes. A parameter or constant that only one folded call uses goes with it, unless it is
    a named tensor not the model's own (a target, say)."""
    def is_open(c: _Call) -> bool:
        return depth is None or c.level < depth or any(
            c.path in ("", e) or c.path.startswith(e + ".") or e.startswith(c.path + ".") for e in expand)
    rep, folded = {}, {}
    for it in (it for it in items if it.kind == "op"):
        chain = owner.get(id(it.obj), (None, ()))[1]
        k = next((k for k, c in enumerate(chain) if not is_open(c)), len(chain))
        it.box = tuple(c for c in chain[:k] if c.level > 0)
        if k < len(chain):
            if id(chain[k]) not in folded:
                folded[id(chain[k])] = _Item("module", chain[k], f"m{len(folded)}", chain[k].label)
                folded[id(chain[k])].box = it.box
            rep[it.id] = folded[id(chain[k])]
            rep[it.id].members.append(it)
    users: dict[str, dict] = {}
    for src, dst, _ in edges:
        users.setdefault(src.id, {})[rep.get(dst.id, dst).id] = rep.get(dst.id, dst)
    for it in items:  # inputs (x, a target) stay outside every module's box
        if it.kind in ("param", "const") and len(users.get(it.id, ())) == 1:
            (user,) = users[it.id].values()
            if not (isinstance(it.obj, Tensor) and it.obj.name is not None and id(it.obj) not in own):
                it.box = user.box
                if user.kind == "module":
                    rep[it.id] = user  # folded away with the one module call that uses it
    out_items = [rep.get(it.id, it) for it in items if it.id not in rep or rep[it.id].members[0] is it]
    out_edges, seen = [], set()
    for src, dst, i in edges:
        a, b = rep.get(src.id, src), rep.get(dst.id, dst)
        if a is not b and (a.id, b.id) not in seen:
            seen.add((a.id, b.id))
            a.exit = a.exit or (src.obj if a.kind == "module" else None)
            out_edges.append((a, b, i, src))
    return out_items, out_edges


# --- labels ----------------------------------------------------------------------------------
def _value(obj: Any, values: dict) -> Any:
    return values.get(id(obj)) if isinstance(obj, Function) else (obj.data if isinstance(obj, Tensor) else obj)


def _grad(it: _Item, grads: dict) -> Any:
    return grads.get(id(it.exit if it.kind == "module" else it.obj))


def _activity(it: _Item, values: dict) -> str | None:
    """Dead fraction of ReLU units (0 for every example), saturated fraction of sigmoid/tanh outputs."""
    stats: dict[str, list] = {}
    for op in it.members or [it]:
        name, out = type(op.obj).__name__, values.get(id(op.obj), np.empty(0))
        if name == "Relu" and out.size:  # a unit is dead when it is 0 for every example of the batch
            stats.setdefault("dead", []).append((np.all(out == 0, axis=0) if out.ndim > 1 else out == 0).ravel())
        elif name in ("Sigmoid", "Tanh") and out.size:  # within 0.01 of the asymptotes: 0 and 1, -1 and 1
            gap = np.minimum(out, 1 - out) if name == "Sigmoid" else 1 - np.abs(out)
            stats.setdefault("saturated", []).append((gap <= 0.01).ravel())
    return ", ".join(f"{k} {np.concatenate(v).mean():.0%}" for k, v in stats.items()) or None


def _flow_color(g: Any, lo: int) -> tuple[str, str]:
    """Fill and font colour of a gradient (or None) by its norm: a viridis colour per decade, from 1e``lo`` and less."""
    if g is None or not (norm := np.linalg.norm(g)) > 0:
        return "#d1d5db", "#111827"
    k = min(max(round(math.log10(norm)) - lo, 0), len(FLOW_COLORS) - 1)
    return FLOW_COLORS[k], "white" if k < 5 else "#111827"


def _label(it: _Item, opts: dict, values: dict, grads: dict) -> str:
    obj, g = it.obj, _grad(it, grads)
    if it.kind == "module":
        params = sum(int(np.prod(p.shape)) for _, p in getattr(obj.module, "named_parameters", list)())
        lines = [f"<b>{html.escape(it.name)}</b>", f"{', '.join(map(str, obj.ins))} \u2192 "
                 f"{', '.join(map(str, obj.outs))}"] + ([f"{params:,} params"] if params else [])
        lines = ["   ".join(lines)] if opts["rankdir"] in ("TB", "BT") else lines  # wide nodes in a tall picture
    elif it.kind == "op":
        lines = [f"<b>{html.escape(f'{it.name} = ' * bool(it.name))}{type(obj).__name__}</b>"] + (
            [f"{obj.shape} {obj.dtype}"] if opts["show_shapes"] else [])
    else:
        value = np.asarray(_value(obj, values))
        if it.kind == "const" and value.size == 1:
            return f"<{f'<b>{html.escape(it.name)}</b><br/>' if it.name else ''}{_fmt(value)}>"
        title = it.name or ("parameter" if it.kind == "param" else it.kind)
        lines = [f"<b>{html.escape(title)}</b>"]
        lines += [f"{value.shape} {value.dtype}"] if opts["show_shapes"] or it.kind == "const" else []
        lines += ["no graph: nothing it came from requires grad"] * (it.kind == "output" and not obj.requires_grad)
    if opts["show_values"]:  # a module: its output's
        lines.append(f"value: {_fmt(_value(it.exit if it.kind == 'module' else obj, values))}")
    if opts["show_grads"] and it.kind != "const":
        lines.append("grad: " + ("\u2014" if g is None else _fmt(g)))
    if opts["grad_flow"] and it.kind != "const":
        lines += ["no gradient" if g is None else f"grad norm {np.linalg.norm(g):.2g}", _activity(it, values)]
    return "<" + "<br/>".join(line for line in lines if line) + ">"


def _edge_label(values: dict, grads: dict | None, src: _Item, dst: _Item, arg: int, carried: _Item | None = None
                ) -> dict[str, str]:
    """Value over gradient (none for constants or ``grads=None``) in one label (an xlabel can hide under a node): the
    gradient that flows along the edge, into argument ``arg`` or all that ``dst`` takes from a folded ``carried``."""
    carried, arg = (src, arg) if carried is None else (carried, None)
    obj = dst.obj if dst.kind == "output" else (carried.exit or carried.obj)
    label = f'<font color="{VALUE_COLOR}">{_fmt(_value(obj, values))}</font>'
    if carried.kind != "const" and grads is not None:
        shares = [grads[id(obj)]] if dst.kind == "output" and id(obj) in grads else [
            grads[k] for m in dst.members or [dst] for j in range(len(m.obj.next))
            if arg in (None, j) and (k := (id(obj), id(m.obj), j)) in grads]
        text = _fmt(sum(shares)) if shares else "\u2014"
        label += f'<br/><font color="{GRAD_COLOR}">{text}</font>'
    return {"label": f"<{label}>"}


# --- emitting DOT ----------------------------------------------------------------------------
def _emit(items: list, edges: list, opts: dict, replay: Callable, edge_label: Callable | None = None) -> Graph:
    """The DOT graph of ``items`` (cut at ``max_nodes``, with a marker); ``replay()``: (values, gradients)."""
    values, grads = replay() if any(map(opts.get, REPLAYED)) else ({}, {})  # options that need values
    kept = {it.id for it in [it for it in items if it.kind != "const"][: opts["max_nodes"]]}  # None: all
    fed = {src.id for src, dst, *_ in edges if dst.id in kept}  # a drawn op's constants are drawn with it
    shown = [it for it in items if it.id in kept or it.kind == "const" and it.id in fed]
    drawn, wide = {it.id for it in shown}, opts["show_edges"]
    dot = Graph(name="graph", graph_attr={"rankdir": opts["rankdir"], "ordering": "in", "fontname": "Helvetica",
                                          "nodesep": "0.5" if wide else "0.25", "ranksep": "0.8" if wide else "0.35"},
                node_attr={"fontname": "Helvetica", "fontsize": "11", "height": "0.3", "margin": "0.1,0.04"},
                edge_attr={"fontname": "Helvetica", "fontsize": "10", "color": "#4b5563", "arrowsize": "0.7"})
    logs = [math.log10(n) for it in shown if (g := _grad(it, grads)) is not None and (n := np.linalg.norm(g)) > 0]
    lo = (hi := round(max([0, *logs]))) - len(FLOW_COLORS) + 1  # a decade per colour, up to 1 at least: 1e-8..1
    graphs: dict[tuple, graphviz.Digraph] = {(): dot}
    for path in sorted({it.box[:k] for it in shown for k in range(1, len(it.box) + 1)}, key=len):
        graphs[path] = graphviz.Digraph(name=f"cluster_{len(graphs)}", graph_attr={  # a box per open module call
            "label": path[-1].label, "labeljust": "l", "style": "rounded,dashed", "color": "#6b7280", "margin": "10"})
    for it in shown:
        attrs = {"label": _label(it, opts, values, grads), **_STYLES[it.kind]}
        if opts["grad_flow"] and it.kind != "const":
            attrs["fillcolor"], attrs["fontcolor"] = _flow_color(_grad(it, grads), lo)
        graphs[it.box].node(it.id, **attrs)
    for path in sorted(graphs, key=len, reverse=True)[:-1]:
        graphs[path[:-1]].subgraph(graphs[path])
    cuts, label, ops = {}, edge_label or functools.partial(_edge_label, values, grads), ("op", "module")
    for src, dst, i, *carried in sorted(edges, key=lambda e: e[2]):  # with ordering=in: an op's 1st input on top
        if src.id in drawn and dst.id in drawn:
            dot.edge(src.id, dst.id, **(label(src, dst, i, *carried) if wide else {}))
        elif dst.id in drawn:  # the marker is wired where the graph goes on; a cut leaf is named in it, as hundreds
            cuts.setdefault(src, set()).add(dst.id)  # of edges across hundreds of ranks take dot minutes
    if cut := len(lost := [it for it in items if it.id not in drawn]):  # the marker counts what it stands for
        kinds = Counter(type(it.obj).__name__ if it.kind == "op" else it.name or it.kind for it in lost)
        text = ", ".join(f"{n} {k}" for k, n in kinds.most_common(4)) + ", \u2026" * (len(kinds) > 4) + "".join(
            f"\\n{s.name or s.kind}: an input of {len(d)} drawn nodes" for s, d in cuts.items() if s.kind not in ops)
        dot.node("cut", f"\u2026 {cut} more nodes not drawn (max_nodes={opts['max_nodes']})\\n{text}", **_STYLES["cut"])
        for dst_id in sorted({d for s, ds in cuts.items() if s.kind in ops for d in ds}):
            dot.edge("cut", dst_id, style="dashed", color=GRAD_COLOR)
    key = f'<td>edge: <font color="{VALUE_COLOR}">value</font> / <font color="{GRAD_COLOR}">gradient</font></td>'
    cells = [key] if wide and opts["legend"] else []
    cells += ["<td>gradient norm</td>"] + [f'<td bgcolor="{c}"><font color="{f}">{"≤" * (e == lo)}1e{e}</font></td>'
                                           for e in range(lo, hi + 1) for c, f in [_flow_color(10.0 ** e, lo)]
                                           ] if opts["grad_flow"] else []
    if cells:  # a key: the edge colours, the gradient-norm scale
        dot.node("legend", f'<<table border="0" cellspacing="2"><tr>{"".join(cells)}</tr></table>>', shape="plaintext",
                 fontsize="9")
    return dot


# --- the public API --------------------------------------------------------------------------
def _options(roots: tuple, **given: Any) -> tuple[dict, dict[int, str]]:
    """The drawing options with their defaults, checked, and id -> name from ``params``."""
    opts = {**DEFAULTS, **given}
    if set(given) - set(DEFAULTS):
        raise TypeError(f"draw: unknown option(s) {sorted(set(given) - set(DEFAULTS))}; options: {list(DEFAULTS)}")
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        raise TypeError(f"draw() takes one or more Tensors, got {[type(r).__name__ for r in roots]}")
    if opts["rankdir"] not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {opts['rankdir']!r}")
    if opts["max_nodes"] is not None and not (isinstance(opts["max_nodes"], int) and opts["max_nodes"] >= 1):
        raise ValueError(f"draw: max_nodes must be a positive int or None, got {opts['max_nodes']!r}")
    try:
        pairs = [(k, v) if isinstance(k, str) else (v, k) for k, v in dict(opts["params"] or {}).items()]
    except (TypeError, ValueError):  # not a mapping nor (name, tensor) pairs: a list of tensors, say
        pairs = [(None, opts["params"])]
    if not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in pairs):
        raise TypeError("draw: params must map names to tensors, e.g. dict(model.named_parameters()), or tensors "
                        f"to names; got {opts['params']!r:.200}")
    return opts, {i: k for k, v in pairs for i in {id(v), id(_math(v.grad_fn) or v)}}  # an op takes its output's name


def draw(*roots: Tensor, show_shapes: bool = True, show_values: bool = False, show_grads: bool = False,
         show_edges: bool = False, rankdir: str = "LR", max_nodes: int | None = 500, params: Any = None,
         legend: bool = False, grad_flow: bool = False) -> Graph:
    """Draw the computation graph behind ``roots`` (Tensors) as a `Graph`.

    ``show_shapes``: shape and dtype on nodes. ``show_values``/``show_grads``: value and d(sum of roots)/d(value) on
    nodes (up to 9 numbers in full, more as min, mean, max, norm). ``show_edges``: each edge's value (green) over the
    gradient along it (red; a fan-out's add up to the node's), as on the slides. ``rankdir``: "LR", "TB", "RL" or "BT".
    ``max_nodes``: so many nodes, nearest the roots first, with their constants and a marker for the rest (None: all).
    ``params``: names -> tensors (``dict(model.named_parameters())``; an intermediate q, like ``q.name = "q"``, labels
    its op "q = Add") or tensors -> names. ``legend``: a key. ``grad_flow``: gradient colours, dead/saturated units."""
    opts, names = _options(roots, **{k: v for k, v in locals().items() if k != "roots"})
    items, edges = _walk(roots, names)
    return _emit(items, edges, opts, lambda: _replay(roots, items))


def save(root: Tensor | graphviz.Digraph, path: str | Path, **kwargs: Any) -> Path:
    """Draw ``root`` (a Tensor, with `draw`'s keyword options, or a drawn graph) to ``path``; return it. The suffix
    picks the format: .png, .svg, .pdf (these need Graphviz's ``dot``) or .dot (always)."""
    path, suffix = Path(path), Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"save: unsupported file type {path.suffix!r} for {path}; use one of {', '.join(FORMATS)}")
    if isinstance(root, graphviz.Digraph) and kwargs:
        raise TypeError(f"save: drawing options {sorted(kwargs)} need a Tensor, not an already drawn graph")
    graph = root if isinstance(root, graphviz.Digraph) else draw(root, **kwargs)
    path.write_bytes(graph.source.encode() if suffix == ".dot" else graph.pipe(format=suffix[1:]))
    return path


def draw_model_step(model: Any, x: Any, target: Any, loss_fn: Callable, depth: int | None = 1,
                    expand: Iterable[str] = (), grad_flow: bool = False, **draw_options: Any) -> Graph:
    """Draw one training step of ``model``, ``loss_fn(model(x), target)``, module by module.

    ``depth``: at 1 each top-level module is one node (name, type, input -> output shapes, parameter count), at 2 their
    children, at 0 the model, None every primitive; ``expand``: modules (``named_modules()`` names) to open fully. Open
    modules are boxes, the loss one node but at None; a float ``x`` becomes a leaf that requires grad; ``grad_flow``,
    ``draw_options``: see `draw`. Parameters, buffers, ``.grad``s, modes and the random generator end as they were."""
    modules, expand = [n for n, _ in model.named_modules() if n], tuple(expand)
    if any(e not in modules for e in expand):
        raise ValueError(f"draw_model_step: expand names unknown modules {[e for e in expand if e not in modules]}; "
                         f"the modules are {modules}")
    if depth is not None and depth < 0:
        raise ValueError(f"draw_model_step: depth must be a non-negative int or None, got {depth}")
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    x = Tensor(data, requires_grad=data.dtype.kind == "f", name="x")
    target = Tensor(target.data, name="target") if isinstance(target, Tensor) and target.name is None else target
    own = {**dict(model.named_parameters()),
           **{f"{k} (buffer)": t for k, t in getattr(model, "named_buffers", list)() if t is not None}}
    opts, names = _options((x,), **{"params": own, **draw_options, "grad_flow": grad_flow})
    owner: dict = {}  # the model's state, modes and the generator go back as they were, whatever happens
    state, rng, modes = model.state_dict(), generator().bit_generator.state, [(m, m.training) for m in model.modules()]
    hooks = _trace(model, owner)
    try:
        with enable_grad():
            loss = loss_fn(out := model(x), target)
        (call := _Call("loss", loss_fn, math.inf, (out, target))).claim([loss], (call,), owner)
        loss.name = "loss"
        walked, edges = _walk((loss,), names)
        items, edges = _group(walked, edges, owner, depth, expand, {id(t) for t in own.values()})
        return _emit(items, edges, opts, lambda: _replay((loss,), walked))
    finally:
        for h in hooks:
            h.remove()
        model.load_state_dict(state)
        for m, mode in modes:
            m.training = mode
        generator().bit_generator.state = rng


def storyboard(root: Tensor, path: str | Path | None = None, frame_format: str = "svg") -> list[Graph]:
    """The backward pass as a film: a list of frames (`Graph`s), one per op, in an order backward can visit.

    Each frame: forward values on the edges, the op highlighted, ``upstream x local = downstream`` on its input edges
    (d(root)/d(output), d(output)/d(input); an array upstream gives ``u · J = d``, J the Jacobian: norms don't multiply;
    over 9 numbers as norms; visited edges keep it); no ``.grad`` changes. ``path``: a ``.gif`` or a folder."""
    if not isinstance(root, Tensor) or root.grad_fn is None:
        raise ValueError(f"storyboard: the root must be a Tensor made by ops on tensors that require grad, got "
                         f"{type(root).__name__}{' without a graph' if isinstance(root, Tensor) else ''}")
    if path is not None and Path(path).suffix.lower() not in ("", ".gif"):
        raise ValueError(f"storyboard: path must be a .gif file or a folder (no suffix), got {str(path)!r}")
    opts, _ = _options((root,), show_shapes=False, show_edges=True, max_nodes=None)
    items, edges = _walk((root,), {})
    values, grads = _replay((root,), items)
    order, steps = [it.obj for it in items if it.kind == "op"], {}  # id(op) -> {argument: (now, later) labels}
    for node in order:
        up = grads[id(node)]
        args = [c if p is None else Tensor(np.array(_value(p, values)), requires_grad=True)
                for p, c in zip(map(_math, node.next), node.consts)]
        wrt = [a for a, p in zip(args, node.next) if p is not None]
        with enable_grad():
            out = type(node).apply(*args)
            local = grad(out, wrt, grad_outputs=Tensor(np.ones_like(out.data)), allow_unused=True)
        where, big = [i for i, p in enumerate(node.next) if p is not None], max([up.size, *(w.size for w in wrt)]) > 9
        down = [grads.get((id(_math(node.next[i])), id(node), i)) for i in where]  # what flows along each edge
        steps[id(node)] = {i: (f"{_fmt(up)} × {_fmt(lo.data, big)}" if up.size == 1 else f"{_fmt(up, big)} · J")
                           + f" = {_fmt(d, big)}" for i, lo, d in zip(where, local, down) if d is not None}
    rank, ids, frames = {id(n): k for k, n in enumerate(order)}, {id(it.obj): it.id for it in items}, []
    for k, node in enumerate(order):
        def edge(src: _Item, dst: _Item, i: int, k: int = k) -> dict:
            j, value = rank.get(id(dst.obj), k + 1), _edge_label(values, None, src, dst, i)["label"][1:-1]
            text = "1" if dst.kind == "output" else steps[id(dst.obj)].get(i)  # constants get no gradient
            colour = GRAD_COLOR if j <= k or dst.kind == "output" else "#ffffff"  # white till reached: a still layout
            below = f'<br/><font color="{colour}">{text}</font>' if text else ""
            return {"label": f"<{value}{below}>",
                    **({"penwidth": "2.5", "color": GRAD_COLOR} if j == k and text else {})}
        frames.append(_emit(items, edges, opts, lambda: (values, grads), edge_label=edge))
        for j, n in enumerate(order[: k + 1]):  # a later node statement adds attributes: done ops pink, current yellow
            frames[-1].node(ids[id(n)], fillcolor="#fde68a" if j == k else "#fee2e2", color=GRAD_COLOR)
        frames[-1].attr(label=f"backward step {k + 1} of {len(order)}: {type(node).__name__}, upstream \u00d7 local = "
                              "downstream", labelloc="t", fontsize="12")
    if path is not None:
        _write_film(frames, Path(path), frame_format)
    return frames


def _write_film(frames: list[Graph], path: Path, frame_format: str) -> None:
    if path.suffix.lower() != ".gif":
        path.mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(frames):
            (path / f"frame_{k:02d}.{frame_format}").write_bytes(f.pipe(format=frame_format))
        return
    from PIL import Image  # Pillow comes with matplotlib
    images = [Image.open(io.BytesIO(f.pipe(format="png"))).convert("RGB") for f in frames]
    size = (max(i.width for i in images), max(i.height for i in images))
    for canvas, image in zip(canvases := [Image.new("RGB", size, "white") for _ in images], images):
        canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    canvases[0].save(path, save_all=True, append_images=canvases[1:], duration=1500, loop=0)
