"""autograd.viz: the DOT source says what the picture shows (nodes, edges, labels)."""

import re
import shutil

import numpy as np
import pytest

from autograd import Tensor, viz

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


# --- reading the DOT source back ---------------------------------------------------------------
def nodes(dot):
    """node id -> its attribute text, for every node statement."""
    found = re.findall(r"^\s*(\w+) \[(.*)\]$", dot.source, flags=re.M)
    return {n: attrs for n, attrs in found if n not in ("graph", "node", "edge")}


def edges(dot):
    """(tail id, head id) -> its attribute text ("" without attributes)."""
    found = re.findall(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", dot.source, flags=re.M)
    return {(a, b): attrs for a, b, attrs in found}


def node_id(dot, text):
    """The one node whose label contains ``text``."""
    hits = [n for n, attrs in nodes(dot).items() if text in attrs]
    assert len(hits) == 1, f"{len(hits)} nodes contain {text!r}"
    return hits[0]


def edge_lines(label):
    """The coloured lines of an edge label: {colour: text}."""
    return dict(re.findall(r'<font color="(#\w+)">([^<]*)</font>', label))


def lecture():
    """f = (x + y) z at x = -2, y = 5, z = -4, as on the slides."""
    x = Tensor(-2.0, requires_grad=True, name="x")
    y = Tensor(5.0, requires_grad=True, name="y")
    z = Tensor(-4.0, requires_grad=True, name="z")
    f = (x + y) * z
    f.name = "f"
    return x, y, z, f


# --- the lecture's circuit -----------------------------------------------------------------------
def test_edges_carry_the_lectures_values_and_gradients():
    *_, f = lecture()
    f.backward()
    dot = viz.draw(f, show_edges=True)
    x, y, z, out = (node_id(dot, f"<b>{n}</b>") for n in "xyzf")
    add, mul = node_id(dot, "<b>Add</b>"), node_id(dot, "<b>Mul</b>")
    # edge -> (forward value, gradient of f with respect to that value)
    expected = {(x, add): ("-2", "-4"), (y, add): ("5", "-4"), (add, mul): ("3", "-4"),
                (z, mul): ("-4", "3"), (mul, out): ("-12", "1")}
    found = edges(dot)
    assert set(found) == set(expected)
    for edge, (value, grad) in expected.items():
        assert edge_lines(found[edge]) == {viz.VALUE_COLOR: value, viz.GRAD_COLOR: grad}, edge


def test_gradients_before_backward_show_as_absent_not_zero():
    *_, f = lecture()
    dot = viz.draw(f, show_values=True, show_grads=True, show_edges=True)
    for attrs in nodes(dot).values():
        assert "grad: \u2014" in attrs
        assert "grad: 0" not in attrs
    assert all(edge_lines(label)[viz.GRAD_COLOR] == "\u2014" for label in edges(dot).values())
    assert "value: -12" in nodes(dot)[node_id(dot, "<b>f</b>")]


def test_node_values_and_gradients_after_backward():
    x, _, z, f = lecture()
    f.backward()
    dot = viz.draw(f, show_values=True, show_grads=True)
    assert "value: -2<br/>grad: -4" in nodes(dot)[node_id(dot, "<b>x</b>")]
    assert "value: -4<br/>grad: 3" in nodes(dot)[node_id(dot, "<b>z</b>")]
    assert "value: 3<br/>grad: -4" in nodes(dot)[node_id(dot, "<b>Add</b>")]


def test_a_tensor_used_twice_carries_its_total_gradient():
    x = Tensor(3.0, requires_grad=True, name="x")
    f = x.exp() + x  # df/dx = e^x + 1, summed over the two uses
    f.backward()
    dot = viz.draw(f, show_edges=True)
    x_id = node_id(dot, "<b>x</b>")
    labels = [edge_lines(lab) for (a, _), lab in edges(dot).items() if a == x_id]
    assert len(labels) == 2
    assert all(lab[viz.GRAD_COLOR] == f"{np.exp(3.0) + 1:.4g} (total)" for lab in labels)
    exp_edge = edge_lines(edges(dot)[node_id(dot, "<b>Exp</b>"), node_id(dot, "<b>Add</b>")])
    assert exp_edge[viz.GRAD_COLOR] == "1"  # used once: no "(total)"


# --- nodes: one per op and per tensor, styled by role ----------------------------------------------
def test_one_node_per_op_and_per_tensor_with_role_styles():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    x = Tensor(np.ones((4, 3)), requires_grad=True, name="x")
    loss = (x @ w).relu().sum()
    dot = viz.draw(loss, params={"fc.weight": w})
    found = nodes(dot)
    assert len(found) == 6  # x, fc.weight, MatMul, Relu, Sum, the output
    styles = {role: found[node_id(dot, text)] for role, text in
              [("leaf", "<b>x</b>"), ("param", "<b>fc.weight</b>"), ("op", "<b>Relu</b>"), ("output", "<b>output</b>")]}
    fills = {role: re.search(r'fillcolor="([^"]+)"', attrs).group(1) for role, attrs in styles.items()}
    assert len(set(fills.values())) == 4
    ops = [node_id(dot, f"<b>{op}</b>") for op in ("MatMul", "Relu", "Sum")]
    assert len({re.search(r"shape=(\w+)", found[n]).group(1) for n in ops}) == 1  # ops share one style


def test_labels_carry_shape_as_tuple_and_dtype():
    x = Tensor(np.zeros((2, 3), np.float32), requires_grad=True, name="x")
    dot = viz.draw((x * 2).sum(axis=0))
    assert "(2, 3) float32" in nodes(dot)[node_id(dot, "<b>x</b>")]
    assert "(3,) float32" in nodes(dot)[node_id(dot, "<b>Sum</b>")]
    assert "float32" not in viz.draw(x * 2, show_shapes=False).source


def test_params_accepts_both_directions_and_named_parameters_pairs():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    loss = (w * w).sum()
    for params in ({"conv1.weight": w}, {w: "conv1.weight"}, [("conv1.weight", w)]):
        dot = viz.draw(loss, params=params)
        assert "parameter" not in dot.source  # named, so not the default title
        assert node_id(dot, "<b>conv1.weight</b>")
    with pytest.raises(TypeError, match="params"):
        viz.draw(loss, params={"w": np.ones(2)})


def test_model_names_the_parameters():
    w = Tensor(np.ones(2), requires_grad=True)

    class Model:
        def named_parameters(self):
            yield "fc.weight", w

    assert "<b>fc.weight</b>" in viz.draw((w * 3).sum(), model=Model()).source


def test_nn_parameter_is_styled_as_parameter_without_a_name():
    nn = pytest.importorskip("nn")
    if not hasattr(nn, "Parameter"):
        pytest.skip("nn.Parameter is not written yet")
    w = nn.Parameter(np.ones(3))
    dot = viz.draw((w * 2).sum())
    assert "#fef3c7" in nodes(dot)[node_id(dot, "<b>parameter</b>")]


def test_arrays_are_summarised_and_big_intermediates_not_kept():
    a = np.arange(100.0).reshape(10, 10)
    x = Tensor(a, requires_grad=True, name="x")
    y = x * 2
    loss = y.sum()
    loss.backward()
    dot = viz.draw(loss, show_values=True, show_grads=True)
    norm = np.linalg.norm(a)
    assert f"value: min 0, mean 49.5, max 99, norm {norm:.4g}" in nodes(dot)[node_id(dot, "<b>x</b>")]
    assert "grad: min 2, mean 2, max 2, norm 20" in nodes(dot)[node_id(dot, "<b>x</b>")]
    mul = nodes(dot)[node_id(dot, "<b>Mul</b>")]
    assert "value: not kept" in mul and "grad: not kept" in mul


def test_retain_grad_keeps_a_big_intermediate_with_its_name():
    x = Tensor(np.ones((10, 10)), requires_grad=True)
    y = x * 3
    y.retain_grad()
    y.name = "hidden"
    (y * y).sum().backward(retain_graph=True)
    dot = viz.draw(y, show_values=True, show_grads=True)
    mul = nodes(dot)[node_id(dot, "<b>Mul</b>")]
    assert "hidden" in mul and "value: min 3, mean 3, max 3" in mul
    assert "grad: min 6, mean 6, max 6" in mul  # d(y^2)/dy = 2y


def test_constants_are_drawn_while_the_op_holds_them():
    x = Tensor(np.ones(3), requires_grad=True, name="x")
    c = Tensor(np.full(3, 7.0))
    loss = (x * 2.5 * c).sum()
    dot = viz.draw(loss)
    two_and_a_half = node_id(dot, "<2.5>")
    const = node_id(dot, "<b>const</b><br/>(3,) float64")
    muls = {n for n, attrs in nodes(dot).items() if "<b>Mul</b>" in attrs}
    into_muls = {a for a, b in edges(dot) if b in muls}
    assert {two_and_a_half, const} <= into_muls
    loss.backward()  # frees the saved tensors, constants included
    assert "const" not in viz.draw(loss).source and "<2.5>" not in viz.draw(loss).source


def test_sum_with_axis_arguments_draws_no_constants():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    dot = viz.draw(x.sum(axis=1, keepdims=True))
    assert len(nodes(dot)) == 3  # leaf, Sum, output: axis and keepdims are not tensors


# --- several roots, odd roots ---------------------------------------------------------------------
def test_several_roots_share_their_common_graph():
    x = Tensor(2.0, requires_grad=True, name="x")
    h = x.exp()
    a, b = h * 3, h + 1
    dot = viz.draw(a, b)
    assert len([n for n in nodes(dot).values() if "<b>Exp</b>" in n]) == 1
    assert len([n for n in nodes(dot).values() if "<b>output</b>" in n]) == 2


def test_a_leaf_or_a_tensor_without_graph_is_one_output_node():
    dot = viz.draw(Tensor([1.0, 2.0], name="data"))
    assert list(nodes(dot)) == ["n0"] and "<b>data</b>" in nodes(dot)["n0"]
    assert edges(dot) == {}


def test_bad_arguments_are_rejected():
    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError):
        viz.draw()
    with pytest.raises(TypeError, match="ndarray"):
        viz.draw(np.ones(2))
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw(x * 2, rankdir="up")
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw(x * 2, max_nodes=0)


# --- big graphs ---------------------------------------------------------------------------------
def chain(n):
    x = Tensor(1.0, requires_grad=True, name="x")
    y = x
    for _ in range(n):
        y = -y
    return y


def test_a_10000_op_chain_is_cut_with_a_visible_marker():
    dot = viz.draw(chain(10_000))
    found = nodes(dot)
    # 10,000 Neg + x + the output; 500 drawn, the rest counted in the marker
    assert len(found) == 501
    assert "\u2026 9502 more nodes not drawn (max_nodes=500)" in found["cut"]
    assert any(a == "cut" for a, _ in edges(dot))


def test_a_10000_op_chain_draws_whole_without_recursion():
    dot = viz.draw(chain(10_000), max_nodes=None)
    assert len(nodes(dot)) == 10_002
    assert "cut" not in nodes(dot)
    assert len(edges(dot)) == 10_001


def test_no_cut_marker_when_the_graph_fits():
    assert "more nodes not drawn" not in viz.draw(chain(10), max_nodes=12).source
    assert "\u2026 1 more nodes" in viz.draw(chain(10), max_nodes=11).source


# --- module groups ------------------------------------------------------------------------------
class FakeModule:
    """The two things trace_modules needs from a module: __call__ -> forward, named_modules()."""

    def __init__(self, **children):
        self.children = children

    def __call__(self, *args):
        return self.forward(*args)

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self.children.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self):
        for path, module in self.named_modules():
            if hasattr(module, "weight"):
                yield f"{path}.weight", module.weight


class Scale(FakeModule):
    def __init__(self):
        super().__init__()
        self.weight = Tensor(np.ones(3) * 2, requires_grad=True)

    def forward(self, x):
        return (x * self.weight).relu()


class Block(FakeModule):
    def __init__(self):
        super().__init__(first=Scale(), second=Scale())

    def forward(self, x):
        h = self.children["first"](x)
        return self.children["second"](h + x)  # the Add belongs to the block itself


class Net(FakeModule):
    def __init__(self):
        super().__init__(block=Block())

    def forward(self, x):
        return self.children["block"](x).sum()  # the Sum belongs to the model: no box


def test_group_modules_boxes_each_module_nested():
    net = Net()
    x = Tensor(np.ones(3), requires_grad=True, name="x")
    with viz.trace_modules(net):
        loss = net(x)
    first, second = net.children["block"].children.values()
    params = {"block.first.weight": first.weight, "block.second.weight": second.weight}
    dot = viz.draw(loss, params=params, group_modules=True)
    src = dot.source
    # three boxes: block, and inside it first and second
    labels = re.findall(r"label=\"([^\"]*)\"", src)
    assert {lab for lab in labels if ": " in lab} >= {"block: Block", "block.first: Scale", "block.second: Scale"}
    assert len(re.findall(r"subgraph cluster_", src)) == 3

    def box_of(text):
        """The cluster label of the innermost box whose body declares the node containing text."""
        depth, stack = 0, []
        for line in src.splitlines():
            if line.strip().startswith("subgraph cluster_"):
                stack.append(None)
                depth += 1
            elif line.strip() == "}" and stack:
                stack.pop()
            elif stack and stack[-1] is None and "label=" in line and "[" not in line:
                stack[-1] = re.search(r'label="([^"]*)"', line).group(1)
            elif text in line and "->" not in line:
                return stack[-1] if stack else None
        raise AssertionError(text)

    assert box_of("<b>block.first.weight</b>") == "block.first: Scale"
    assert box_of("<b>block.second.weight</b>") == "block.second: Scale"
    assert box_of("<b>Add</b>") == "block: Block"
    assert box_of("<b>Sum</b>") is None and box_of("<b>x</b>") is None
    # every forward is restored after the block
    assert "forward" not in vars(net.children["block"]) and "forward" not in vars(first)


def squared_error(out, target):
    return ((out - target) ** 2).sum()


def test_draw_model_step_boxes_modules_and_the_loss_and_runs_backward():
    block = Block()
    dot = viz.draw_model_step(block, np.ones(3), np.zeros(3), squared_error)
    src = dot.source
    for label in ("first: Scale", "second: Scale", "loss: squared_error"):
        assert f'label="{label}"' in src
    assert "<b>first.weight</b>" in src and "<b>x</b>" in src and "<b>loss</b>" in src
    assert block.children["first"].weight.grad is not None


def test_group_modules_without_a_trace_says_how():
    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match="trace_modules"):
        viz.draw(x * 2, group_modules=True)


def test_group_modules_with_nn_cnn():
    nn = pytest.importorskip("nn")
    needed = ("Sequential", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "functional")
    if not all(hasattr(nn, name) for name in needed):
        pytest.skip("nn's layers are not written yet")
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, 3))
    x = np.random.default_rng(0).random((2, 1, 8, 8))
    dot = viz.draw_model_step(model, x, np.array([0, 2]), nn.functional.cross_entropy)
    src = dot.source
    for label in ("0: Conv2d", "1: ReLU", "2: MaxPool2d", "3: Flatten", "4: Linear", "loss: cross_entropy"):
        assert label in src
    for name in ("0.weight", "0.bias", "4.weight", "4.bias"):
        assert f"<b>{name}</b>" in src
    assert "<b>loss</b>" in src and "<b>x</b>" in src
    assert all(p.grad is not None for p in model.parameters())


# --- files and Jupyter --------------------------------------------------------------------------
def test_save_dot_writes_the_source(tmp_path):
    *_, f = lecture()
    path = viz.save(f, tmp_path / "g.dot", show_values=True)
    assert path.read_text() == viz.draw(f, show_values=True).source


@needs_dot
@pytest.mark.parametrize(("suffix", "signatures"), [(".png", (b"\x89PNG",)), (".svg", (b"<?xml", b"<svg")),
                                                    (".pdf", (b"%PDF",))])
def test_save_renders_images_by_suffix(tmp_path, suffix, signatures):
    *_, f = lecture()
    path = viz.save(f, tmp_path / f"g{suffix.upper()}")
    assert path.read_bytes().startswith(signatures)


def test_save_rejects_unknown_suffixes_listing_the_supported(tmp_path):
    *_, f = lecture()
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf, \.dot"):
        viz.save(f, tmp_path / "g.jpg")


def test_without_dot_images_say_how_to_install_and_dot_files_still_work(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on PATH
    *_, f = lecture()
    viz.save(f, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    with pytest.raises(RuntimeError, match="apt-get install graphviz") as err:
        viz.save(f, tmp_path / "g.png")
    assert "brew install graphviz" in str(err.value) and "conda" in str(err.value)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.draw(f).render(tmp_path / "g", format="svg")
    bundle = viz.draw(f)._repr_mimebundle_()
    assert "apt-get install graphviz" in bundle["text/plain"] and "digraph" in bundle["text/plain"]


@needs_dot
def test_shows_inline_in_jupyter_as_svg():
    *_, f = lecture()
    bundle = viz.draw(f)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_legend_shows_the_styles_in_the_picture():
    *_, f = lecture()
    dot = viz.draw(f, legend=True, show_edges=True)
    assert "input (leaf)" in dot.source and "output (root)" in dot.source and "gradient" in dot.source
    assert "parameter" not in dot.source  # no parameter in this graph
    assert "legend" not in viz.draw(f).source
