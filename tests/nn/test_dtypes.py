"""Models in float32, float64 and float16 end to end: every intermediate, gradient, optimizer state
and buffer keeps the model's dtype; float16 statistics are taken in float32 as PyTorch's are."""

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from autograd import Tensor


def _model():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Flatten(), nn.Linear(64, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 10),
    )


def _graph_dtypes(*roots):
    """The dtypes of every node of the graph behind the roots."""
    seen, stack, dtypes = set(), [r.grad_fn for r in roots], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or isinstance(node, Tensor):
            continue
        seen.add(id(node))
        dtypes.add(np.dtype(node.dtype))
        stack.extend(node.next or ())
    return dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("opt", [
    lambda ps: nn.optim.SGD(ps, lr=0.01, momentum=0.9), lambda ps: nn.optim.Adam(ps, eps=1e-4),
    lambda ps: nn.optim.AdamW(ps, eps=1e-4), lambda ps: nn.optim.RMSprop(ps, eps=1e-4),
])
def test_a_training_step_computes_and_stores_everything_in_the_models_dtype(dtype, opt):
    ag.manual_seed(0)
    model = _model().to(dtype)
    optimizer = opt(model.parameters())
    x = Tensor(np.random.default_rng(0).random((6, 1, 8, 8)).astype(dtype))
    loss = F.cross_entropy(model(x), np.arange(6) % 10)
    grads = ag.grad(loss, list(model.parameters()), create_graph=True)
    # float16 statistics (means, variances, norms) run in float32, as PyTorch's do; nothing runs wider
    allowed = {np.dtype(dtype)} | ({np.dtype(np.float32)} if dtype == np.float16 else set())
    assert _graph_dtypes(loss) <= allowed
    assert _graph_dtypes(*[g for g in grads if g.grad_fn is not None]) <= allowed
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    for name, p in model.named_parameters():
        assert p.dtype == dtype and p.grad.dtype == dtype and np.isfinite(p.data).all(), name
    for state in optimizer.state.values():
        assert all(v.dtype == dtype for v in state.values() if isinstance(v, np.ndarray))
    for name, b in model.named_buffers():
        assert b.dtype == (np.int64 if name.endswith("num_batches_tracked") else dtype), name


def test_default_dtype_float64_builds_float64_models():
    ag.set_default_dtype(np.float64)
    try:
        model = _model()
    finally:
        ag.set_default_dtype(np.float32)
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    assert model(Tensor(np.zeros((2, 1, 8, 8)))).dtype == np.float64


def test_float64_data_into_a_float32_model_promotes_the_output_but_never_the_model():
    model = _model()
    out = model(np.random.default_rng(0).random((4, 1, 8, 8)))  # float64, as NumPy gives
    assert out.dtype == np.float64  # PyTorch would raise in Linear; we promote as any binary op does
    F.cross_entropy(out, np.arange(4)).backward()
    nn.optim.Adam(model.parameters()).step()
    assert {p.dtype for p in model.parameters()} == {p.grad.dtype for p in model.parameters()} == {np.dtype("f4")}
    assert {b.dtype for b in model.buffers()} == {np.dtype("f4"), np.dtype("i8")}


def test_uint8_images_over_255_and_integer_targets_of_any_width_give_float32():
    pixels = np.random.default_rng(0).integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    logits = _model()(Tensor(pixels) / 255)
    assert logits.dtype == np.float32
    for targets in (np.arange(4), np.arange(4, dtype=np.int32), Tensor(np.arange(4, dtype=np.uint8))):
        for loss in (F.cross_entropy, F.nll_loss, F.multi_margin_loss):
            assert loss(logits, targets).dtype == np.float32


def test_clip_grad_norm_of_float16_gradients_measures_in_float32_instead_of_overflowing():
    # 1000 gradients of 10: the norm is 316, but the float16 sum of squares, 1e5, overflows to inf,
    # which used to scale every gradient by max_norm / inf = 0
    p = nn.Parameter(Tensor(np.zeros(1000, np.float16)))
    p.grad = Tensor(np.full(1000, 10.0, np.float16))
    total = nn.utils.clip_grad_norm_([p], 1.0)
    assert total.dtype == np.float16 and total.item() == pytest.approx(316.2, rel=1e-3)
    np.testing.assert_allclose(p.grad.data.astype(np.float32), 10 / 316.23, rtol=1e-3)


@pytest.mark.parametrize("training", [True, False])
def test_float16_batch_and_layer_norm_take_statistics_in_float32(training):
    # activations of size 300: their squares (9e4) overflow float16, their variance does not fit either
    x = (np.random.default_rng(0).standard_normal((8, 3, 4, 4)) * 300).astype(np.float16)
    bn = nn.BatchNorm2d(3).to(np.float16).train(training)
    bn.running_var.data[:] = 9e3
    ln = nn.LayerNorm((4, 4)).to(np.float16)
    for layer, reference in ((bn, nn.BatchNorm2d(3).train(training)), (ln, nn.LayerNorm((4, 4)))):
        if layer is bn:
            reference.running_var.data[:] = 9e3
        out, want = layer(Tensor(x)), reference(Tensor(x.astype(np.float32)))
        assert out.dtype == np.float16
        np.testing.assert_allclose(out.data.astype(np.float32), want.data, atol=2e-2, rtol=1e-2)
        if layer is bn and training:
            assert bn.running_var.dtype == np.float16
            np.testing.assert_allclose(bn.running_var.data, reference.running_var.data, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_state_dict_round_trip_keeps_every_dtype(tmp_path, dtype):
    model = _model().to(dtype)
    model(Tensor(np.ones((2, 1, 8, 8), dtype)))
    nn.save(model.state_dict(), tmp_path / "m.npz")
    state = nn.load(tmp_path / "m.npz")
    assert {k: v.dtype for k, v in state.items()} == {k: v.dtype for k, v in model.state_dict().items()}
    twin = _model().to(dtype)
    twin.load_state_dict(state)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(state.values(), twin.state_dict().values()))


@pytest.mark.parametrize("default", [np.float32, np.float64])
def test_activations_of_integer_tensors_all_give_the_default_float_dtype(default):
    # leaky_relu and prelu gave float64 where their siblings gave the default dtype (PyTorch raises)
    x = Tensor(np.array([-2, 0, 3]))
    ag.set_default_dtype(default)
    try:
        outs = {name: f(x) for name, f in [
            ("leaky_relu", F.leaky_relu), ("prelu", lambda t: F.prelu(t, Tensor(np.array([0.25], default)))),
            ("elu", F.elu), ("silu", F.silu), ("gelu", F.gelu), ("sigmoid", F.sigmoid),
        ]}
    finally:
        ag.set_default_dtype(np.float32)
    assert {name: out.dtype for name, out in outs.items()} == dict.fromkeys(outs, np.dtype(default))
    np.testing.assert_allclose(outs["leaky_relu"].data, [-0.02, 0.0, 3.0], rtol=1e-6)
