"""LayerNorm, Embedding, Identity, Dropout2d, AdaptiveAvgPool2d, GELU and SiLU: values, gradients of
inputs and parameters, and state dicts against PyTorch in float64."""

import math

import numpy as np
import pytest

import nn
import nn.functional as F
from autograd import Tensor, get_default_dtype, manual_seed, set_default_dtype
from autograd.testing import gradcheck, gradgradcheck


@pytest.fixture(autouse=True)
def float64_layers():
    """Layers made in float64, the dtype of the PyTorch twins (see the torch fixture)."""
    before = get_default_dtype()
    set_default_dtype(np.float64)
    yield
    set_default_dtype(before)


def _grads_match(torch, rng, ours, theirs, x, params=()):
    """ours(Tensor x) against theirs(torch x): values, then gradients of x and of the (ours, theirs) params."""
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-13)
    upstream = rng.standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for mine, reference in params:
        np.testing.assert_allclose(mine.grad.data, reference.grad.numpy(), rtol=1e-10, atol=1e-12)


def _twin_state_dicts_round_trip(torch, ours, theirs, rng):
    """Our state dict loads into the PyTorch twin and back, key for key."""
    assert list(ours.state_dict()) == list(theirs.state_dict())
    mine = {k: rng.standard_normal(v.shape) for k, v in ours.state_dict().items()}  # new numbers both ways
    ours.load_state_dict(mine)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), mine[key])
    back = {k: v.numpy() * 2 for k, v in theirs.state_dict().items()}
    ours.load_state_dict(back)
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, back[key])


# --- LayerNorm ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, normalized", [((4, 6), 6), ((2, 3, 4, 5), (4, 5)), ((5,), (5,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(torch, rng, shape, normalized, affine):
    ours, theirs = nn.LayerNorm(normalized, eps=1e-3, elementwise_affine=affine), torch.nn.LayerNorm(
        normalized, eps=1e-3, elementwise_affine=affine)
    params = []
    if affine:
        for name in ("weight", "bias"):
            value = rng.standard_normal(getattr(ours, name).shape)
            getattr(ours, name).data = value.copy()
            getattr(theirs, name).data = torch.tensor(value)
            params.append((getattr(ours, name), getattr(theirs, name)))
    _grads_match(torch, rng, ours, theirs, rng.standard_normal(shape) * 3 + 1, params)


def test_layer_norm_module_has_torchs_parameters_and_state_dict(torch, rng):
    ours, theirs = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))
    assert [(k, tuple(p.shape)) for k, p in ours.named_parameters()] == [
        (k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    np.testing.assert_array_equal(ours.weight.data, 1.0)
    np.testing.assert_array_equal(ours.bias.data, 0.0)
    _twin_state_dicts_round_trip(torch, ours, theirs, rng)
    assert nn.LayerNorm(4, bias=False).bias is None
    assert list(nn.LayerNorm(4, elementwise_affine=False).state_dict()) == []


def test_layer_norm_checks_the_trailing_shape():
    with pytest.raises(ValueError, match=r"layer_norm: input of shape \(2, 5\) does not end in normalized_shape"):
        nn.LayerNorm(4)(Tensor(np.zeros((2, 5))))


def test_layer_norm_passes_gradgradcheck(rng):
    x = Tensor(rng.standard_normal((2, 5)), requires_grad=True)
    w, b = Tensor(rng.standard_normal(5), requires_grad=True), Tensor(rng.standard_normal(5), requires_grad=True)
    assert gradgradcheck(lambda x, w, b: F.layer_norm(x, 5, w, b), x, w, b)


# --- Embedding ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch_and_accumulates_repeated_indices(torch, rng, padding_idx):
    ours, theirs = nn.Embedding(7, 3, padding_idx=padding_idx), torch.nn.Embedding(7, 3, padding_idx=padding_idx)
    theirs.weight.data = torch.tensor(ours.weight.data.copy())
    idx = np.array([[1, 2, 1, 6], [2, 2, 0, 1]])  # repeated rows, the padding row among them
    out, ref = ours(idx), theirs(torch.from_numpy(idx))
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    upstream = rng.standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-12)
    assert ours.weight.grad.data[1].any()  # row 1 is picked three times
    if padding_idx is not None:
        np.testing.assert_array_equal(ours.weight.grad.data[padding_idx], 0.0)
    _twin_state_dicts_round_trip(torch, ours, theirs, rng)


def test_embedding_takes_integer_tensors_and_initialises_as_torch():
    manual_seed(0)
    emb = nn.Embedding(400, 50, padding_idx=3)
    assert emb.weight.shape == (400, 50)
    rows = np.delete(emb.weight.data, 3, axis=0)
    assert abs(rows.mean()) < 0.02 and abs(rows.std() - 1) < 0.02  # N(0, 1), as PyTorch
    np.testing.assert_array_equal(emb.weight.data[3], 0.0)
    out = emb(Tensor(np.array([3, 5], np.int32)))
    np.testing.assert_array_equal(out.data, emb.weight.data[[3, 5]])


def test_embedding_rejects_bad_indices():
    emb = nn.Embedding(4, 2)
    with pytest.raises(ValueError, match=r"embedding: indices must lie in \[0, 4\), got values from 0 to 4"):
        emb(np.array([0, 4]))
    with pytest.raises(ValueError, match="embedding: indices must be integers, got dtype float64"):
        emb(np.array([0.0, 1.0]))


# --- Identity and Dropout2d ---------------------------------------------------------------------------
def test_identity_returns_its_input_and_takes_any_arguments():
    x = Tensor(np.ones(3))
    assert nn.Identity(54, unused="x")(x) is x
    assert list(nn.Identity().state_dict()) == []


@pytest.mark.parametrize("shape", [(8, 16, 3, 4), (16, 3, 4)])
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest(shape):
    manual_seed(1)
    x = Tensor(np.ones(shape), requires_grad=True)
    layer = nn.Dropout2d(p=0.25)
    out = layer(x)
    maps = out.data.reshape(-1, shape[-2] * shape[-1])
    per_map = maps[:, 0]
    assert np.all(maps == per_map[:, None])  # each (n, c) map is kept or dropped as a whole
    assert set(np.unique(per_map)) == {0.0, 1 / 0.75}
    assert 0.1 < (per_map == 0).mean() < 0.4
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, out.data)  # d(mask * x)/dx = mask
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match=r"dropout2d: expected images .* got shape \(3, 4\)"):
        F.dropout2d(Tensor(np.ones((3, 4))))


# --- AdaptiveAvgPool2d --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, output_size",
    [((2, 3, 8, 6), 1), ((2, 3, 8, 6), (4, 3)), ((2, 3, 7, 9), (3, 5)), ((2, 3, 7, 9), (None, 4)),
     ((3, 5, 5), (2, 2)), ((1, 2, 3, 4), (5, 7))],
)
def test_adaptive_avg_pool2d_matches_torch(torch, rng, shape, output_size):
    _grads_match(
        torch, rng, nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size),
        rng.standard_normal(shape),
    )


def test_adaptive_avg_pool2d_checks_its_arguments():
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be an int >= 1"):
        F.adaptive_avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), (0, 2))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: expected images .* got \(4, 4\)"):
        F.adaptive_avg_pool2d(Tensor(np.zeros((4, 4))), 2)


# --- GELU and SiLU ------------------------------------------------------------------------------------
EDGES = np.array([0.0, -0.0, 1e-9, -1e-9, 0.125, -0.125, 5.9, 6.1, -6.1, 8.49, -8.49, 8.6, -8.6, 12.0, -40.0, 40.0])


@pytest.mark.parametrize("ours, theirs", [
    (nn.GELU(), lambda torch: torch.nn.GELU()),
    (nn.GELU(approximate="tanh"), lambda torch: torch.nn.GELU(approximate="tanh")),
    (nn.SiLU(), lambda torch: torch.nn.SiLU()),
])
def test_gelu_and_silu_match_torch(torch, rng, ours, theirs):
    x = np.concatenate([rng.standard_normal(500) * 4, np.linspace(-9, 9, 2001), EDGES])
    _grads_match(torch, rng, ours, theirs(torch), x)


def test_gelu_in_float32_is_within_an_ulp_of_torchs_float64(torch, rng):
    x = (rng.standard_normal(10000) * 4).astype(np.float32)
    out = F.gelu(Tensor(x))
    assert out.dtype == np.float32
    exact = torch.nn.functional.gelu(torch.from_numpy(x.astype(np.float64))).numpy()
    # 1 + erf(x) cancels for negative x, so the error is relative to max(|x|, 1), not to the result
    assert np.all(np.abs(out.data - exact) <= np.finfo(np.float32).eps * np.maximum(np.abs(x), 1))


def test_composed_erf_is_erf_to_float64_precision():
    x = np.linspace(-7, 7, 100001)
    xt = Tensor(x, requires_grad=True)
    out = F._erf(xt)
    np.testing.assert_allclose(out.data, [math.erf(v) for v in x], rtol=0, atol=3e-16)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.data, 2 / math.sqrt(math.pi) * np.exp(-x * x), rtol=0, atol=2e-15)
    special = F._erf(Tensor(np.array([np.nan, np.inf, -np.inf, 0.0]))).data
    np.testing.assert_array_equal(special, [np.nan, 1.0, -1.0, 0.0])


def test_gelu_passes_gradgradcheck(rng):
    x = Tensor(rng.standard_normal(12) * 2, requires_grad=True)
    assert gradgradcheck(F.gelu, x)
    assert gradgradcheck(lambda x: F.gelu(x, "tanh"), x)
    assert gradcheck(F.silu, x)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(x, "fast")
