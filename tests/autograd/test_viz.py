"""autograd.viz: the DOT source says what the picture shows (nodes, edges, labels)."""

import re
import shutil

import numpy as np
import pytest

import autograd
import nn
from autograd import Tensor, viz
from nn import functional as F
from nn.models import cnn

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


# --- reading the DOT source back ---------------------------------------------------------------
def nodes(dot):
    """node id -> its attribute text, from every statement about the node (later ones add attributes)."""
    found = {}
    for n, attrs in re.findall(r"^\s*(\w+) \[(.*)\]$", dot.source, flags=re.M):
        if n not in ("graph", "node", "edge"):
            found[n] = f"{found[n]} {attrs}" if n in found else attrs
    return found


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


def test_an_edges_gradient_sits_under_its_value_in_the_edges_own_label():
    # an xlabel is placed after layout, where there is room: dot put "-0.1966" against the Neg
    # node of the sigmoid neuron so that its minus sign was hidden, and array summaries over nodes
    *_, f = lecture()
    dot = viz.draw(f, show_edges=True)
    assert "xlabel" not in dot.source
    z, mul = node_id(dot, "<b>z</b>"), node_id(dot, "<b>Mul</b>")
    assert edges(dot)[z, mul] == (f'label=<<font color="{viz.VALUE_COLOR}">-4</font><br/>'
                                  f'<font color="{viz.GRAD_COLOR}">3</font>>')


def test_gradients_show_before_backward_and_no_grad_changes():
    x, y, z, f = lecture()
    sentinel = Tensor(123.0)
    z.grad = sentinel
    dot = viz.draw(f, show_values=True, show_grads=True, show_edges=True)
    assert "value: -2<br/>grad: -4" in nodes(dot)[node_id(dot, "<b>x</b>")]
    assert edge_lines(edges(dot)[node_id(dot, "<b>Add</b>"), node_id(dot, "<b>Mul</b>")]) == {
        viz.VALUE_COLOR: "3", viz.GRAD_COLOR: "-4"}
    assert x.grad is None and y.grad is None and z.grad is sentinel  # the replay never writes .grad


def test_node_values_and_gradients_after_backward():
    x, _, z, f = lecture()
    f.backward()
    dot = viz.draw(f, show_values=True, show_grads=True)
    assert "value: -2<br/>grad: -4" in nodes(dot)[node_id(dot, "<b>x</b>")]
    assert "value: -4<br/>grad: 3" in nodes(dot)[node_id(dot, "<b>z</b>")]
    assert "value: 3<br/>grad: -4" in nodes(dot)[node_id(dot, "<b>Add</b>")]


def test_a_leaf_changed_in_place_shows_its_new_value():
    x, _, _, f = lecture()
    x.data = np.array(1.0, dtype=np.float32)
    dot = viz.draw(f, show_values=True)
    assert "value: 6" in nodes(dot)[node_id(dot, "<b>Add</b>")]  # 1 + 5, replayed


def test_each_edge_of_a_fan_out_carries_its_branchs_share_and_the_node_the_sum():
    # as on the slides, gradients add at a branch: h = 2x feeds Exp and Mul, x feeds Mul(2) and Mul(h)
    x = Tensor(3.0, requires_grad=True, name="x")
    h = x * 2
    f = h.exp() + h * x
    f.backward()
    dot = viz.draw(f, show_edges=True, show_grads=True)
    found, (first, second) = edges(dot), sorted(n for n, a in nodes(dot).items() if "<b>Mul</b>" in a)
    share = {e: edge_lines(label)[viz.GRAD_COLOR] for e, label in found.items() if viz.GRAD_COLOR in label}
    x_id, exp_id = node_id(dot, "<b>x</b>"), node_id(dot, "<b>Exp</b>")
    h_id = first if (first, exp_id) in found else second  # the Mul that makes h feeds Exp
    hx_id = second if h_id == first else first
    assert share[h_id, exp_id] == f"{np.exp(6.0):.4g}" and share[h_id, hx_id] == "3"  # d(e^h)/dh, d(h x)/dh = x
    assert share[x_id, h_id] == f"{2 * (np.exp(6.0) + 3):.4g}" and share[x_id, hx_id] == "6"  # d(2x)/dx, d(hx)/dx = h
    assert f"grad: {np.exp(6.0) + 3:.4g}" in nodes(dot)[h_id]  # the node: the sum of its branches
    assert f"grad: {2 * np.exp(6.0) + 12:.4g}" in nodes(dot)[x_id]
    assert "total" not in dot.source


def test_x_times_x_draws_two_edges_each_with_its_own_share():
    x = Tensor(3.0, requires_grad=True, name="x")
    dot = viz.draw(x * x, show_edges=True)
    x_id, mul = node_id(dot, "<b>x</b>"), node_id(dot, "<b>Mul</b>")
    lines = re.findall(rf"^\s*{x_id} -> {mul} \[(.*)\]$", dot.source, flags=re.M)
    assert [edge_lines(label) for label in lines] == [{viz.VALUE_COLOR: "3", viz.GRAD_COLOR: "3"}] * 2  # 3 + 3 = 6


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


def test_nn_parameter_is_styled_as_parameter():
    w = nn.Parameter(np.ones(3))
    dot = viz.draw((w * 2).sum())
    assert "#fef3c7" in nodes(dot)[node_id(dot, "<b>parameter</b>")]


def test_arrays_are_summarised_and_intermediates_replayed_at_any_size():
    a = np.arange(100.0).reshape(10, 10)
    x = Tensor(a, requires_grad=True, name="x")
    loss = (x * 2).sum()
    loss.backward()
    dot = viz.draw(loss, show_values=True, show_grads=True)
    norm = np.linalg.norm(a)
    assert f"value: min 0, mean 49.5, max 99, norm {norm:.4g}" in nodes(dot)[node_id(dot, "<b>x</b>")]
    assert "grad: min 2, mean 2, max 2, norm 20" in nodes(dot)[node_id(dot, "<b>x</b>")]
    mul = nodes(dot)[node_id(dot, "<b>Mul</b>")]
    assert f"value: min 0, mean 99, max 198, norm {2 * norm:.4g}" in mul and "grad: min 1, mean 1, max 1" in mul



def test_small_arrays_show_in_full_a_matrix_row_by_row_as_on_the_vectorised_slide():
    # ||W x||^2 with the lecture's W and x: 2 q x^T and 2 W^T q read off the picture, not min/mean/max
    W = Tensor([[0.1, 0.5], [-0.3, 0.8]], requires_grad=True, name="W")
    x = Tensor([0.2, 0.4], requires_grad=True, name="x")
    dot = viz.draw(((W @ x) ** 2).sum(), show_edges=True, show_values=True)
    (into_x,) = [label for (a, _), label in edges(dot).items() if a == node_id(dot, "<b>x</b>")]
    assert edge_lines(into_x) == {viz.VALUE_COLOR: "[0.2, 0.4]", viz.GRAD_COLOR: "[-0.112, 0.636]"}
    assert "value: [[0.1, 0.5],<br/> [-0.3, 0.8]]" in nodes(dot)[node_id(dot, "<b>W</b>")]
    assert "[[0.088, 0.176],<br/> [0.104, 0.208]]" in dot.source  # dW = 2 q x^T, one row per line


def test_float32_round_off_shows_as_zero_not_as_a_tiny_number():
    # softmax minus one-hot sums to 0, float32 leaves ~1e-8 in its mean; 1.0000001 - 1 is 0 next to 4.9
    logits = Tensor(np.linspace(-2, 3, 10, dtype=np.float32), requires_grad=True, name="logits")
    dot = viz.draw(F.cross_entropy(logits[None], np.array([3])), show_grads=True)
    assert re.search(r"grad: min -[0-9.]+, mean 0, max", nodes(dot)[node_id(dot, "<b>logits</b>")])
    v = Tensor(np.array([2.9, -3.9, 1.0000001], np.float32), requires_grad=True, name="v")
    dot = viz.draw(v - 1, show_values=True)
    assert "value: [1.9, -4.9, 0]" in nodes(dot)[node_id(dot, "<b>Sub</b>")]  # not 1.192e-07


def test_a_named_intermediate_labels_its_op_when_retained_or_given_in_params():
    x, y, z, _ = lecture()
    q = x + y
    q.retain_grad()
    q.name = "q"
    f = q * z
    assert node_id(viz.draw(f), "<b>q = Add</b>")
    p = x * y
    assert node_id(viz.draw(p + z, params={"p": p}), "<b>p = Mul</b>")


def test_a_tensor_without_graph_says_why():
    dot = viz.draw(Tensor(2.0) * 3)  # the teacher forgot requires_grad=True
    assert "no graph: nothing it came from requires grad" in nodes(dot)["n0"]
    assert "no graph" not in viz.draw(Tensor(2.0, requires_grad=True)).source

# --- every input of an op is drawn, constants included --------------------------------------------
def sigmoid_neuron():
    """Notebook 02's neuron: 1 / (1 + exp(-(w x)))."""
    w, x = Tensor(2.0, requires_grad=True, name="w"), Tensor(-1.0, requires_grad=True, name="x")
    return w, x, 1 / (1 + (-(w * x)).exp())


@pytest.mark.parametrize("after_backward", [False, True])
def test_the_constants_of_a_sigmoid_neuron_are_drawn_before_and_after_backward(after_backward):
    *_, s = sigmoid_neuron()
    if after_backward:
        s.backward()
    dot = viz.draw(s, show_edges=True)
    into = {op: [a for a, b in edges(dot) if b == node_id(dot, f"<b>{op}</b>")] for op in ("Add", "Div", "Mul")}
    assert {op: len(sources) for op, sources in into.items()} == {"Add": 2, "Div": 2, "Mul": 2}
    ones = [n for n, attrs in nodes(dot).items() if attrs.startswith("label=<1>")]
    assert len(ones) == 2 and all(n in into["Add"] + into["Div"] for n in ones)
    for n in ones:  # a constant's edge carries its value, and no gradient
        (label,) = [lab for (a, _), lab in edges(dot).items() if a == n]
        assert edge_lines(label) == {viz.VALUE_COLOR: "1"}


def test_an_ops_inputs_are_drawn_in_argument_order():
    # 1 / d: the numerator above the denominator; w0 x0 + w1 x1: w0 above x0 above w1 above x1
    a, b = Tensor(1.0, requires_grad=True, name="a"), Tensor(2.0, requires_grad=True, name="b")
    dot = viz.draw(a / (a - b))
    assert "ordering=in" in dot.source  # dot keeps each node's in-edges in the order they are written
    sub, div = node_id(dot, "<b>Sub</b>"), node_id(dot, "<b>Div</b>")
    into = [(tail, head) for tail, head in edges(dot) if head in (sub, div)]  # in the order of the source
    assert into == [(node_id(dot, "<b>a</b>"), div), (node_id(dot, "<b>a</b>"), sub), (sub, div),
                    (node_id(dot, "<b>b</b>"), sub)]


def test_constant_arrays_show_their_shape_and_are_one_node():
    x = Tensor(np.ones(3), requires_grad=True, name="x")
    c = Tensor(np.full(3, 7.0))
    loss = (x * 2.5 * c + c).sum()
    loss.backward()
    dot = viz.draw(loss)
    const = node_id(dot, "<b>const</b><br/>(3,) float64")
    assert len([a for a, _ in edges(dot) if a == const]) == 2
    assert node_id(dot, "<2.5>")


@pytest.mark.parametrize("after_backward", [False, True])
def test_a_detached_leaf_is_drawn_as_a_constant_that_says_it_is_detached(after_backward):
    x, w = Tensor(2.0, requires_grad=True, name="x"), nn.Parameter(np.ones(3))
    f = x * x.detach() + (w * w.detach()).sum()
    if after_backward:
        f.backward()
    found = nodes(viz.draw(f))
    labels = sorted(re.match(r"label=<(.*?)> ", a).group(1) for a in found.values() if "detached" in a)
    assert labels == ["<b>parameter (detached)</b><br/>(3,) float64", "<b>x (detached)</b><br/>2"]
    assert not [a for a in nodes(viz.draw(x * 2)).values() if "detached" in a]  # a plain number is no detached tensor


def test_sum_with_axis_arguments_draws_no_constants():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    dot = viz.draw(x.sum(axis=1, keepdims=True))
    assert len(nodes(dot)) == 3  # leaf, Sum, output: axis and keepdims are op parameters, not inputs


# --- several roots, odd roots ---------------------------------------------------------------------
def test_several_roots_share_their_common_graph():
    x = Tensor(2.0, requires_grad=True, name="x")
    h = x.exp()
    a, b = h * 3, h + 1
    dot = viz.draw(a, b, show_grads=True)
    assert len([n for n in nodes(dot).values() if "<b>Exp</b>" in n]) == 1
    assert len([n for n in nodes(dot).values() if "<b>output</b>" in n]) == 2
    assert f"grad: {4 * np.exp(2.0):.4g}" in nodes(dot)[node_id(dot, "<b>x</b>")]  # d(a + b)/dx = 4 e^x


def test_a_leaf_or_a_tensor_without_graph_is_one_output_node():
    dot = viz.draw(Tensor([1.0, 2.0], name="data"), show_values=True)
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
    for bad in (2.5, "3"):
        with pytest.raises(ValueError, match="max_nodes must be a positive int or None"):
            viz.draw(x * 2, max_nodes=bad)
    with pytest.raises(TypeError, match="params must map names to tensors"):
        viz.draw(x * 2, params=[x])  # a list of tensors, no names


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
    # 10,000 Neg + x + the output; 500 drawn (the output and the Negs nearest it), the rest counted
    assert len(found) == 501
    assert "\u2026 9502 more nodes not drawn (max_nodes=500)" in found["cut"]
    assert any(a == "cut" for a, _ in edges(dot)) and "<b>output</b>" in dot.source


def test_a_10000_op_chain_draws_whole_without_recursion():
    dot = viz.draw(chain(10_000), max_nodes=None, show_grads=True)
    assert len(nodes(dot)) == 10_002
    assert "cut" not in nodes(dot)
    assert len(edges(dot)) == 10_001
    assert "grad: 1" in nodes(dot)[node_id(dot, "<b>x</b>")]  # (-1)^10000


def test_a_cut_graph_draws_the_constants_of_its_ops_and_cuts_only_what_is_missing():
    x = Tensor(np.ones(3), requires_grad=True, name="x")
    y = x
    for _ in range(8):
        y = (y * 1.1).tanh()
    dot = viz.draw(y.sum(), max_nodes=7)  # output, Sum, Tanh, Mul, Tanh, Mul, Tanh: and both Muls' 1.1
    found = nodes(dot)
    consts = [n for n, attrs in found.items() if attrs.startswith("label=<1.1>")]
    into = {tail: head for tail, head in edges(dot) if tail in consts + ["cut"]}
    assert len(consts) == 2 and all("<b>Mul</b>" in found[into[c]] for c in consts)  # each with its Mul
    (cut_into,) = [head for tail, head in edges(dot) if tail == "cut"]  # only the Tanh whose Mul was cut
    assert "<b>Tanh</b>" in found[cut_into]
    # 27 nodes: x, 8 Mul, 8 Tanh, 8 constants, Sum, the output; 9 drawn
    assert "\u2026 18 more nodes not drawn (max_nodes=7)" in found["cut"] and len(found) == 10


def test_a_cut_leaf_that_many_drawn_ops_use_is_named_in_the_marker_not_wired_to_each():
    # a shared leaf used by every other op: one dashed edge per use ran dot for minutes at max_nodes=200
    a = Tensor(np.ones(4), requires_grad=True, name="a")
    z = a
    for k in range(400):
        z = z * 1.001 + a if k % 2 else z.tanh()
    dot = viz.draw(z, max_nodes=60)
    found, marker_edges = nodes(dot), [head for tail, head in edges(dot) if tail == "cut"]
    assert len(marker_edges) == 1  # only where the chain goes on, not into each Add that takes `a`
    adds_drawn = sum("<b>Add</b>" in attrs for attrs in found.values())
    assert adds_drawn > 10 and f"a: an input of {adds_drawn} drawn nodes" in found["cut"]
    assert re.search(r"\\n\d+ (Tanh|Mul|Add), \d+ (Tanh|Mul|Add)", found["cut"])


def test_no_cut_marker_when_the_graph_fits():
    assert "more nodes not drawn" not in viz.draw(chain(10), max_nodes=12).source
    assert "\u2026 1 more nodes" in viz.draw(chain(10), max_nodes=11).source


# --- gradient flow ------------------------------------------------------------------------------
def test_dead_relu_units_are_those_zero_for_every_example():
    # unit 0 is negative for both examples (dead), unit 1 for one of them (alive), units 2, 3 positive
    x = Tensor(np.array([[-1.0, -2.0, 3.0, 1.0], [-3.0, 4.0, 1.0, 2.0]]), requires_grad=True)
    dot = viz.draw((x.relu() * 2).sum(), grad_flow=True)
    assert "dead 25%" in nodes(dot)[node_id(dot, "<b>Relu</b>")]


def test_saturated_sigmoid_and_tanh_outputs_are_counted():
    x = Tensor(np.array([-10.0, 0.0, 10.0, 1.0]), requires_grad=True)
    dot = viz.draw(x.sigmoid().sum() + x.tanh().sum(), grad_flow=True)
    assert "saturated 50%" in nodes(dot)[node_id(dot, "<b>Sigmoid</b>")]  # -10 and 10: within 0.01 of 0 and 1
    assert "saturated 50%" in nodes(dot)[node_id(dot, "<b>Tanh</b>")]  # tanh(10) and tanh(-10); tanh(1) = 0.76


def test_grad_flow_colours_nodes_by_gradient_norm_with_a_legend():
    x = Tensor(np.ones(3), requires_grad=True, name="x")
    loss = (x * 1000.0).sum() + (x * 0.001).sum()
    dot = viz.draw(loss, grad_flow=True)
    fills = {text: re.search(r'fillcolor="([^"]+)"', nodes(dot)[node_id(dot, text)]).group(1)
             for text in ("<b>x</b>", "<b>output</b>")}
    assert fills["<b>x</b>"] != fills["<b>output</b>"]  # norms 1732 and 1: far apart on the log scale
    assert "gradient norm" in nodes(dot)["legend"] and "1e0" in nodes(dot)["legend"]


def test_grad_flow_colours_a_node_as_the_legend_cell_of_its_nearest_decade():
    small, big = Tensor([1.0], requires_grad=True, name="small"), Tensor([1.0], requires_grad=True, name="big")
    dot = viz.draw((small * 0.25).sum() + (big * 1.2).sum(), grad_flow=True)  # gradient norms 0.25 and 1.2
    legend = {int(e): fill for fill, e in re.findall(r'bgcolor="(#\w+)"><font color="[^"]+">≤?1e(-?\d+)<',
                                                     nodes(dot)["legend"])}
    assert sorted(legend) == list(range(-8, 1))  # (<=) 1e-8 .. 1e0: 1.2 rounds to 1e0, no 1e1 cell for it
    assert len(set(legend.values())) == len(legend)  # one colour per decade
    for name, decade in [("small", -1), ("big", 0)]:  # 0.25 is nearer 1e-1 than 1e0 on the log scale
        assert f'fillcolor="{legend[decade]}"' in nodes(dot)[node_id(dot, f"<b>{name}</b>")], name


def test_grad_flow_norms_beyond_the_palettes_decades_keep_one_colour_per_legend_cell():
    # norms 1e-14 and 1e3 span 18 decades, the palette 9: the scale ends at 1e3 and its lowest cell
    # says "<=", so no two cells share a colour and the tiny norm takes the lowest cell's
    a, b = Tensor([1.0], requires_grad=True, name="a"), Tensor([1.0], requires_grad=True, name="b")
    dot = viz.draw((a * 1e-14).sum() + (b * 1e3).sum(), grad_flow=True)
    cells = re.findall(r'bgcolor="(#\w+)"><font color="[^"]+">([^<]*)<', nodes(dot)["legend"])
    assert [text for _, text in cells] == ["\u22641e-5"] + [f"1e{e}" for e in range(-4, 4)]
    assert len({fill for fill, _ in cells}) == len(cells) == len(viz.FLOW_COLORS)
    assert f'fillcolor="{cells[0][0]}"' in nodes(dot)[node_id(dot, "<b>a</b>")]
    assert f'fillcolor="{cells[-1][0]}"' in nodes(dot)[node_id(dot, "<b>b</b>")]


# --- the backward film ----------------------------------------------------------------------------
def test_storyboard_shows_upstream_times_local_equals_downstream_frame_by_frame():
    x, y, z, f = lecture()
    frames = viz.storyboard(f)
    assert len(frames) == 2  # Mul, then Add: the order backward visits them
    mul, add = (edges(frames[0]), edges(frames[1]))
    ids = {n: node_id(frames[0], f"<b>{n}</b>") for n in ("x", "y", "z", "Add", "Mul")}
    first = {k: edge_lines(v).get(viz.GRAD_COLOR) for k, v in mul.items()}
    assert first[ids["z"], ids["Mul"]] == "1 \u00d7 3 = 3"  # df/dz = upstream 1 x local (x + y)
    assert first[ids["Add"], ids["Mul"]] == "1 \u00d7 -4 = -4"
    assert edge_lines(mul[ids["x"], ids["Add"]])["#ffffff"] == "-4 \u00d7 1 = -4"  # not reached: white (a still layout)
    second = {k: edge_lines(v).get(viz.GRAD_COLOR) for k, v in add.items()}
    assert second[ids["x"], ids["Add"]] == second[ids["y"], ids["Add"]] == "-4 \u00d7 1 = -4"
    assert second[ids["z"], ids["Mul"]] == "1 \u00d7 3 = 3"  # visited edges keep their gradient
    assert edge_lines(add[ids["x"], ids["Add"]])[viz.VALUE_COLOR] == "-2"  # forward values as show_edges draws
    assert x.grad is None and y.grad is None and z.grad is None


def test_storyboard_writes_norms_when_a_large_array_meets_a_scalar():
    b = Tensor(np.ones((4, 5)), requires_grad=True, name="b")
    frames = viz.storyboard((b * b).sum())  # Sum: a scalar upstream, an array local and downstream
    into_sum = edges(frames[0])[node_id(frames[0], "<b>Mul</b>"), node_id(frames[0], "<b>Sum</b>")]
    norm = f"\u2016{np.sqrt(20):.3g}\u2016"
    assert edge_lines(into_sum)[viz.GRAD_COLOR] == f"1 \u00d7 {norm} = {norm}"  # not min, mean, max and norm


def test_storyboard_writes_an_array_upstream_as_times_the_jacobian_not_as_a_product_of_norms():
    # ||W x||^2: Pow gets upstream [1, 1] and sends 2 q = [0.44, 0.52]; "‖1.41‖ × ‖0.681‖ = ‖0.681‖" was false
    W = Tensor([[0.1, 0.5], [-0.3, 0.8]], requires_grad=True, name="W")
    x = Tensor([0.2, 0.4], requires_grad=True, name="x")
    frames = viz.storyboard(((W @ x) ** 2).sum())
    into_pow = [label for (_, b), label in edges(frames[1]).items() if b == node_id(frames[1], "<b>Pow</b>")]
    texts = [edge_lines(label).get(viz.GRAD_COLOR) for label in into_pow]
    assert "[1, 1] \u00b7 J = [0.44, 0.52]" in texts


def test_storyboard_of_a_root_without_graph_is_an_error():
    with pytest.raises(ValueError, match="storyboard"):
        viz.storyboard(Tensor(1.0) * 2)
    with pytest.raises(ValueError, match="storyboard"):
        viz.storyboard(Tensor(1.0, requires_grad=True))


def test_storyboard_rejects_a_film_suffix_it_cannot_write(tmp_path):
    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"\.gif file or a folder"):
        viz.storyboard(x * 2, tmp_path / "film.mp4")  # was: a folder named film.mp4 full of .svg frames
    assert list(tmp_path.iterdir()) == []


@needs_dot
def test_storyboard_writes_a_gif_with_one_frame_per_op_on_one_canvas(tmp_path):
    from PIL import Image

    *_, s = sigmoid_neuron()
    frames = viz.storyboard(s, tmp_path / "film.gif")
    with Image.open(tmp_path / "film.gif") as gif:
        assert gif.n_frames == len(frames) == 5  # Div, Add, Exp, Neg, Mul
        sizes = set()
        for k in range(gif.n_frames):
            gif.seek(k)
            sizes.add(gif.size)
        assert len(sizes) == 1
    viz.storyboard(s, tmp_path / "frames")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_0{k}.svg" for k in range(5)]


# --- models ---------------------------------------------------------------------------------------
def model_nodes(dot):
    """Labels of the module nodes (the boxes that stand for a whole module call)."""
    return [re.search(r"<b>([^<]*)</b>", a).group(1) for a in nodes(dot).values() if "#ede9fe" in a]


def demo_cnn():
    autograd.manual_seed(0)
    x = np.random.default_rng(0).random((8, 1, 8, 8)).astype(np.float32)
    return cnn(1, 10, 8), x, np.arange(8) % 10


def test_demo_cnn_at_depth_1_is_one_node_per_layer():
    model, x, y = demo_cnn()
    dot = viz.draw_model_step(model, x, y, F.cross_entropy)
    assert sorted(model_nodes(dot)) == sorted([f"{k}: {type(m).__name__}" for k, m in enumerate(model)]
                                              + ["loss: cross_entropy"])
    assert len(nodes(dot)) <= 25 and len(nodes(dot)) == 12  # x, 9 layers, the loss and its output
    conv = nodes(dot)[node_id(dot, "<b>0: Conv2d</b>")]
    assert "(8, 1, 8, 8) \u2192 (8, 16, 8, 8)" in conv and "144 params" in conv
    assert len(edges(dot)) == 11  # a chain: x -> 9 layers -> loss -> its output


class Skip(nn.Module):
    """tanh(fc(x)) + fc(x): the Linear's output fans out to the Tanh module and to the model's own Add."""

    def __init__(self):
        super().__init__()
        self.fc, self.act = nn.Linear(3, 2), nn.Tanh()

    def forward(self, x):
        h = self.fc(x)
        return self.act(h) + h


def summary(a):
    return f"min {a.min():.4g}, mean {a.mean():.4g}, max {a.max():.4g}, norm {np.linalg.norm(a):.4g}"


def test_a_modules_output_used_twice_carries_each_branchs_share_on_its_edges():
    autograd.manual_seed(0)
    model, x = Skip(), np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)  # (8, 2): summarised
    dot = viz.draw_model_step(model, x, None, lambda out, _: out.sum(), show_edges=True)
    fc, act, add = node_id(dot, "<b>fc: Linear</b>"), node_id(dot, "<b>act: Tanh</b>"), node_id(dot, "<b>Add</b>")
    h = model.fc(Tensor(x)).data
    assert edge_lines(edges(dot)[fc, act])[viz.GRAD_COLOR] == summary(1 - np.tanh(h) ** 2)  # d tanh(h)/dh
    assert edge_lines(edges(dot)[fc, add])[viz.GRAD_COLOR] == summary(np.ones_like(h))  # the skip: d h/dh


def test_module_nodes_show_the_value_of_their_output_as_they_show_its_gradient():
    autograd.manual_seed(0)
    model, x = Skip(), np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)  # (8, 2): summarised
    dot = viz.draw_model_step(model, x, None, lambda out, _: out.sum(), show_values=True, show_grads=True)
    h = model.fc(Tensor(x)).data
    assert f"value: {summary(h)}<br/>grad: {summary(2 - np.tanh(h) ** 2)}" in nodes(dot)[node_id(dot, "fc: Linear")]
    assert f"value: {summary(np.tanh(h))}<br/>grad: " in nodes(dot)[node_id(dot, "act: Tanh")]


def test_depth_0_is_the_whole_model_and_none_every_primitive():
    model, x, y = demo_cnn()
    whole = viz.draw_model_step(model, x, y, F.cross_entropy, depth=0)
    assert sorted(model_nodes(whole)) == ["loss: cross_entropy", "model: Sequential"]
    assert len(nodes(whole)) == 4  # x, the model, the loss and its output
    every = viz.draw_model_step(model, x, y, F.cross_entropy, depth=None)
    assert model_nodes(every) == [] and len(nodes(every)) > 40
    assert "<b>Linear</b>" in every.source and "<b>0.weight</b>" in every.source


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.Tanh())

    def forward(self, x):
        return x + self.body(x)


def test_depth_2_opens_the_top_level_modules_into_boxes():
    model = nn.Sequential(Residual(), nn.Linear(4, 2))
    x, y = np.ones((3, 4), np.float32), np.zeros((3, 2), np.float32)
    one = viz.draw_model_step(model, x, y, F.mse_loss, depth=1)
    assert sorted(model_nodes(one)) == ["0: Residual", "1: Linear", "loss: mse_loss"]
    two = viz.draw_model_step(model, x, y, F.mse_loss, depth=2)
    assert sorted(model_nodes(two)) == ["0.body: Sequential", "loss: mse_loss"]  # the loss stays one node
    assert 'label="0: Residual"' in two.source and "<b>Add</b>" in two.source  # the residual's own op, boxed
    assert 'label="1: Linear"' in two.source and "<b>1.weight</b>" in two.source  # a leaf module opens into its ops
    three = viz.draw_model_step(model, x, y, F.mse_loss, depth=3)
    assert sorted(model_nodes(three)) == ["0.body.0: Linear", "0.body.1: Tanh", "loss: mse_loss"]


def boxes(dot):
    """node id -> the label of the innermost module box around it (None: outside every box)."""
    found, stack = {}, [None]
    for line in dot.source.splitlines():
        if line.strip().startswith("subgraph cluster"):
            stack.append("?")
        elif line.strip() == "}":
            stack.pop()
        elif (label := re.match(r'\s*graph \[.*label="([^"]+)"', line)) and len(stack) > 1:
            stack[-1] = label.group(1)
        elif node := re.match(r"^\s*(\w+) \[", line):
            found[node.group(1)] = stack[-1]
    return found


@pytest.mark.parametrize("depth", [2, None])
def test_the_models_input_and_the_target_stay_outside_the_module_boxes(depth):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    x, y = Tensor(np.ones((3, 2, 2), np.float32)), Tensor(np.zeros((3, 2), np.float32))
    dot = viz.draw_model_step(model, x, y, F.mse_loss, depth=depth)
    found = boxes(dot)
    assert found[node_id(dot, "<b>x</b>")] is None and found[node_id(dot, "<b>Reshape</b>")] == "0: Flatten"
    assert found[node_id(dot, "<b>1.weight</b>")] == "1: Linear"  # the module's own tensors go in its box
    if depth is None:  # the loss opens into its ops too
        assert found[node_id(dot, "<b>target</b>")] is None and found[node_id(dot, "<b>Sub</b>")] == "loss: mse_loss"


def test_expand_opens_named_modules_fully():
    model, x, y = demo_cnn()
    dot = viz.draw_model_step(model, x, y, F.cross_entropy, expand=("1",))
    assert "1: BatchNorm2d" not in model_nodes(dot) and 'label="1: BatchNorm2d"' in dot.source
    assert "<b>1.weight</b>" in dot.source and "0: Conv2d" in model_nodes(dot)
    assert any(attrs.startswith("label=<1e-05>") for attrs in nodes(dot).values())  # BatchNorm's eps, a constant


@pytest.mark.parametrize("padding", [0, 1])
def test_only_the_math_is_drawn_no_zero_pad_and_no_layout_copies(padding):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=padding))
    x, y = np.ones((2, 1, 5, 5), np.float32), np.zeros((2, 2, 5 - 2 + 2 * padding, 5 - 2 + 2 * padding), np.float32)
    dot = viz.draw_model_step(model, x, y, F.mse_loss, depth=None, show_edges=True)
    ops = re.findall(r"<b>([A-Za-z]+)</b>", dot.source)
    assert ops.count("Pad") == padding and "Copy" not in ops  # a copy into another memory order is no math
    assert "Unfold" in ops and "Linear" in ops  # the windows times the filters, bias included
    assert edge_lines(edges(dot)[node_id(dot, "<b>x</b>"), node_id(dot, "<b>Pad</b>" if padding else "<b>Unfold</b>")])


def test_bad_depth_and_expand_are_errors_that_list_the_modules():
    model, x, y = demo_cnn()
    with pytest.raises(ValueError, match=r"'conv1'.*'0', '1'"):
        viz.draw_model_step(model, x, y, F.cross_entropy, expand=("conv1",))
    with pytest.raises(ValueError, match="depth"):
        viz.draw_model_step(model, x, y, F.cross_entropy, depth=-1)


def test_six_convolutions_with_batchnorm_fit_in_40_nodes():
    layers = []
    for c_in, c_out in [(1, 4), (4, 4), (4, 8), (8, 8), (8, 8), (8, 8)]:
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    model_, x, y = demo_cnn()
    dot = viz.draw_model_step(model, x, y, F.cross_entropy)
    assert len(nodes(dot)) <= 40 and len(model_nodes(dot)) == 21


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_drawing_a_step_changes_nothing_in_the_model(mode):
    model, x, y = demo_cnn()
    getattr(model, mode)()
    model[4].eval() if mode == "train" else model[4].train()  # a mixed model keeps each module's mode
    state = {k: v.copy() for k, v in model.state_dict().items()}
    sentinel = Tensor(np.full(model[0].weight.shape, 7.0, np.float32))
    model[0].weight.grad = sentinel
    modes = [m.training for m in model.modules()]
    before = autograd.generator().bit_generator.state
    viz.draw_model_step(model, x, y, F.cross_entropy, grad_flow=True, show_edges=True)
    after = model.state_dict()
    assert all(np.array_equal(state[k], after[k]) for k in state)  # running statistics, num_batches_tracked
    assert int(after["1.num_batches_tracked"]) == 0
    assert model[0].weight.grad is sentinel and model[3].weight.grad is None
    assert [m.training for m in model.modules()] == modes
    assert autograd.generator().bit_generator.state == before
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_grad_flow_shows_sigmoid_vanishing_where_relu_does_not():
    def deep(act):
        autograd.manual_seed(0)
        layers = [nn.Flatten()]
        for _ in range(8):
            layers += [nn.Linear(64 if not layers[1:] else 32, 32), act()]
        return nn.Sequential(*layers, nn.Linear(32, 10))

    _, x, y = demo_cnn()
    norms = {}
    for act in (nn.Sigmoid, nn.ReLU):
        dot = viz.draw_model_step(deep(act), x, y, F.cross_entropy, grad_flow=True)
        first = nodes(dot)[node_id(dot, "<b>1: Linear</b>")]
        norms[act.__name__] = float(re.search(r"grad norm ([0-9.e+-]+)", first).group(1))
        word = "saturated" if act is nn.Sigmoid else "dead"
        assert word in nodes(dot)[node_id(dot, f"<b>2: {act.__name__}</b>")]
        assert "gradient norm" in nodes(dot)["legend"]
    assert norms["Sigmoid"] < norms["ReLU"] / 100  # the lecture's vanishing gradient, 8 sigmoids deep



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
    with pytest.raises(RuntimeError):  # graphviz's own ExecutableNotFound
        viz.draw(f).render(tmp_path / "g", format="svg")
    bundle = viz.draw(f)._repr_mimebundle_()
    assert "apt-get install graphviz" in bundle["text/plain"] and "digraph" in bundle["text/plain"]


@needs_dot
def test_shows_inline_in_jupyter_as_svg():
    *_, f = lecture()
    bundle = viz.draw(f)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_legend_keys_the_edge_colours_only_when_asked():
    *_, f = lecture()
    assert "gradient" in viz.draw(f, legend=True, show_edges=True).source
    assert "legend" not in viz.draw(f, show_edges=True).source


def test_naming_an_intermediate_labels_its_op_without_retaining_it():
    # the lecture's q = x + y, named after the fact: the name used to reach the picture only through
    # retain_grad() or params=
    x, y, z = (autograd.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    q = x + y
    q.name = "q"
    f = q * z
    source = viz.draw(f).source
    assert "q = Add" in source and q.name == "q" and q.grad_fn.name == "q"
    assert "= Mul" not in source  # only what was named
