"""nn.summary and the forward hooks it (and autograd.viz) reads a model through."""

import numpy as np
import pytest

import autograd
import nn
from autograd import Tensor
from nn.models import cnn


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.Tanh())

    def forward(self, x):
        return x + self.body(x)


def test_rows_follow_call_order_with_shapes_and_parameter_counts():
    model = nn.Sequential(Residual(), nn.Linear(4, 2))
    s = nn.summary(model, np.ones((3, 4), np.float32))
    assert [(r["name"], r["type"], r["output_shape"], r["params"]) for r in s.rows] == [
        ("0", "Residual", (3, 4), 20),  # a container's row counts its children's parameters
        ("0.body", "Sequential", (3, 4), 20),
        ("0.body.0", "Linear", (3, 4), 20),
        ("0.body.1", "Tanh", (3, 4), 0),
        ("1", "Linear", (3, 2), 10),
    ]
    assert s.total_params == 30  # each parameter once, not the sum of the nested rows


def test_the_demo_cnn_table_prints_every_layer_and_the_total():
    model = cnn(1, 10, 8)
    s = nn.summary(model, np.zeros((1, 1, 8, 8), np.float32))
    text = str(s)
    assert len(s.rows) == 9 and s.total_params == sum(p.size for p in model.parameters()) == 9_978
    assert "trainable params: 9,978" in text
    for row in s.rows:
        assert f"{row['type']}" in text
    assert "(1, 32, 4, 4)" in text and "5,130" in text


def test_frozen_parameters_are_not_trainable_and_shared_ones_count_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.Linear(3, 1))
    model[3].weight.requires_grad_(False)
    s = nn.summary(model, np.ones((2, 3), np.float32))
    assert [r["name"] for r in s.rows] == ["0", "1", "0", "3"]  # the shared layer is called twice
    assert s.total_params == 12 + 1 and s.frozen_params == 3
    assert "frozen params: 3" in str(s)
    counts = [line.split()[-1] for line in str(s).splitlines() if line.startswith(("0 ", "1 "))]
    assert counts == ["12", "0", "(shared)"]  # the second call's weights are the first row's: not 12 again


def test_summary_leaves_the_model_as_it_was():
    model = cnn(1, 10, 8).train()
    model[4].eval()
    state = {k: v.copy() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    rng = autograd.generator().bit_generator.state
    nn.summary(model, Tensor(np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)))
    after = model.state_dict()
    assert all(np.array_equal(state[k], after[k]) for k in state)  # running statistics untouched
    assert [m.training for m in model.modules()] == modes
    assert autograd.generator().bit_generator.state == rng
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_summary_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="nn.Module"):
        nn.summary(lambda x: x, np.ones(2))


# --- forward hooks, with PyTorch's semantics ------------------------------------------------------
def test_forward_hooks_see_inputs_and_outputs_and_can_replace_them():
    layer = nn.Linear(2, 2)
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))  # replaces the input
    post = layer.register_forward_hook(lambda m, args, out: seen.append((m, args[0].data.copy(), out.shape)))
    out = layer(Tensor(np.ones((1, 2), np.float32)))
    assert seen[0][0] is layer and np.array_equal(seen[0][1], np.zeros((1, 2))) and seen[0][2] == (1, 2)
    np.testing.assert_allclose(out.data, layer.bias.data[None])  # 0 @ W.T + b
    layer.register_forward_hook(lambda m, args, out: out * 2)  # a returned value replaces the output
    np.testing.assert_allclose(layer(Tensor(np.ones((1, 2), np.float32))).data, 2 * layer.bias.data[None])
    pre.remove()
    post.remove()
    post.remove()  # removing twice is harmless
    layer(Tensor(np.ones((1, 2), np.float32)))
    assert len(seen) == 2  # the removed hook saw only the two calls before its removal


def test_hooks_run_in_registration_order():
    layer, calls = nn.ReLU(), []
    for k in range(3):
        layer.register_forward_hook(lambda m, a, o, k=k: calls.append(k))
    layer(Tensor(np.ones(2)))
    assert calls == [0, 1, 2]


def test_a_single_layer_model_gets_a_row_of_its_own():
    table = nn.summary(nn.Linear(3, 2), np.zeros((4, 3), np.float32))
    assert table.rows == [{"name": "", "type": "Linear", "output_shape": (4, 2), "params": 8}]
    assert "(4, 2)" in str(table)
