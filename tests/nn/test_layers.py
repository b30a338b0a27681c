"""Layers and activations as modules: the lecture's numbers, PyTorch twins, initialisation, modes."""

import math

import numpy as np
import pytest

import autograd
import nn
from autograd import Tensor
from autograd.testing import gradcheck


def images(rng, *shape):
    return Tensor(rng.standard_normal(shape))


# --- the lecture's numbers ------------------------------------------------------------------------
@pytest.mark.parametrize("stride, padding, size", [(1, 0, 5), (2, 0, 3), (1, 1, 7), (3, 0, 2)])
def test_conv_output_size_on_a_7x7_input_with_a_3x3_filter(rng, stride, padding, size):
    conv = nn.Conv2d(1, 1, 3, stride=stride, padding=padding)
    assert conv(images(rng, 1, 1, 7, 7)).shape == (1, 1, size, size)


def test_ten_5x5_filters_on_a_32x32x3_input():
    conv = nn.Conv2d(3, 10, 5, stride=1, padding=2)
    assert conv(Tensor(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 10, 32, 32)
    assert sum(p.size for p in conv.parameters()) == 760  # 10 * (5 * 5 * 3 + 1)


def test_max_pooling_the_lecture_example_routes_the_gradient_to_the_maxima():
    x = Tensor(np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float64).reshape(1, 1, 4, 4),
               requires_grad=True)
    y = nn.MaxPool2d(2, stride=2)(x)
    np.testing.assert_array_equal(y.data[0, 0], [[6, 8], [3, 4]])
    y.backward(Tensor(np.array([[10.0, 20.0], [30.0, 40.0]]).reshape(1, 1, 2, 2)))
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[2, 0], expected[3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(x.grad.data[0, 0], expected)


def test_batch_norm_in_training_gives_zero_mean_unit_variance_per_channel(rng):
    bn = nn.BatchNorm2d(3, eps=0.0)
    x = Tensor(rng.standard_normal((8, 3, 5, 5)) * np.array([1.0, 10.0, 0.1]).reshape(1, 3, 1, 1) + 4.0)
    y = bn(x).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1.0, rtol=1e-12)


def test_batch_norm_in_eval_treats_each_sample_alone(rng):
    bn = nn.BatchNorm2d(3)
    for _ in range(3):
        bn(images(rng, 6, 3, 4, 4) * 2 + 1)
    bn.eval()
    batch = images(rng, 5, 3, 4, 4)
    together = bn(batch).data
    alone = np.concatenate([bn(batch[i : i + 1]).data for i in range(5)])
    np.testing.assert_allclose(together, alone, rtol=1e-12)


# --- PyTorch twins --------------------------------------------------------------------------------
def twin(torch, ours, theirs):
    """Give the torch module our module's parameters and buffers (float64)."""
    ours.double()
    theirs.double().load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def compare_modules(torch, ours, theirs, x, rtol=1e-10, atol=1e-12):
    """Forward, then backward with one random upstream gradient; compare output, input grad, parameter grads."""
    xt = torch.tensor(x, requires_grad=True)
    xo = Tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=atol)
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=rtol, atol=atol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, theirs_params[name].grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda m: m.Linear(4, 3), (5, 4)),
        (lambda m: m.Linear(4, 3, bias=False), (2, 5, 4)),
        (lambda m: m.Conv2d(3, 4, 3), (2, 3, 6, 6)),
        (lambda m: m.Conv2d(2, 3, (3, 2), stride=2, padding=(1, 0), bias=False), (2, 2, 7, 6)),
        (lambda m: m.MaxPool2d(3, stride=2), (2, 2, 7, 7)),
        (lambda m: m.AvgPool2d(2), (2, 2, 5, 4)),
        (lambda m: m.BatchNorm1d(3), (6, 3)),
        (lambda m: m.BatchNorm1d(3, affine=False), (4, 3, 5)),
        (lambda m: m.BatchNorm2d(3), (4, 3, 3, 2)),
        (lambda m: m.Flatten(), (2, 3, 2, 2)),
        (lambda m: m.Flatten(0, 1), (2, 3, 2)),
        (lambda m: m.ReLU(), (3, 4)),
        (lambda m: m.LeakyReLU(0.2), (3, 4)),
        (lambda m: m.PReLU(), (3, 4)),
        (lambda m: m.PReLU(4, init=0.1), (3, 4, 2)),
        (lambda m: m.ELU(alpha=0.5), (3, 4)),
        (lambda m: m.Sigmoid(), (3, 4)),
        (lambda m: m.Tanh(), (3, 4)),
    ],
)
def test_module_matches_its_torch_twin(torch, rng, make, shape):
    ours, theirs = twin(torch, make(nn), make(torch.nn))
    compare_modules(torch, ours, theirs, rng.standard_normal(shape) * 2)


@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_modules_match_torch(torch, rng, axis):
    x = rng.standard_normal((3, 4))
    compare_modules(torch, nn.Softmax(axis=axis), torch.nn.Softmax(dim=axis), x)
    compare_modules(torch, nn.LogSoftmax(axis=axis), torch.nn.LogSoftmax(dim=axis), x)
    compare_modules(torch, nn.Softmax(dim=axis), torch.nn.Softmax(dim=axis), x)
    compare_modules(torch, nn.LogSoftmax(dim=axis), torch.nn.LogSoftmax(dim=axis), x)


def test_softmax_module_takes_axis_or_dim_not_both():
    assert nn.Softmax().axis == -1 and nn.Softmax(0).axis == 0 and nn.LogSoftmax(dim=0).axis == 0
    with pytest.raises(TypeError, match="not both"):
        nn.Softmax(axis=0, dim=1)


def lecture_cnn(m):
    return m.Sequential(
        m.Conv2d(3, 4, 3, padding=1), m.BatchNorm2d(4), m.ReLU(), m.MaxPool2d(2),
        m.Conv2d(4, 6, 3, padding=1), m.BatchNorm2d(6), m.ReLU(), m.MaxPool2d(2),
        m.Flatten(), m.Linear(6 * 2 * 2, 5),
    )


def test_batch_norm_running_stats_follow_torch_over_several_steps(torch, rng):
    ours, theirs = twin(torch, lecture_cnn(nn), lecture_cnn(torch.nn))
    for _ in range(4):
        x = rng.standard_normal((6, 3, 8, 8)) * 3 + 1
        ours(Tensor(x))
        theirs(torch.tensor(x))
    theirs_state = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, theirs_state[k].numpy(), rtol=1e-12, err_msg=k)
    assert ours.state_dict()["1.num_batches_tracked"] == 4
    ours.eval()
    theirs.eval()
    compare_modules(torch, ours, theirs, rng.standard_normal((3, 3, 8, 8)))


@pytest.mark.parametrize("momentum", [None, 0.5])
def test_batch_norm_momentum_variants_match_torch(torch, rng, momentum):
    ours, theirs = twin(torch, nn.BatchNorm1d(2, momentum=momentum), torch.nn.BatchNorm1d(2, momentum=momentum))
    for _ in range(3):
        x = rng.standard_normal((5, 2))
        ours(Tensor(x))
        theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), rtol=1e-12)


def test_batch_norm_without_running_stats_uses_batch_statistics_in_eval(torch, rng):
    ours = nn.BatchNorm2d(2, track_running_stats=False).eval()
    theirs = torch.nn.BatchNorm2d(2, track_running_stats=False).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    twin(torch, ours, theirs)
    compare_modules(torch, ours, theirs, rng.standard_normal((3, 2, 2, 2)))


def test_whole_cnn_matches_torch_in_train_and_eval(torch, rng):
    ours, theirs = twin(torch, lecture_cnn(nn), lecture_cnn(torch.nn))
    compare_modules(torch, ours, theirs, rng.standard_normal((4, 3, 8, 8)), rtol=1e-9)
    ours.eval()
    theirs.eval()
    compare_modules(torch, ours, theirs, rng.standard_normal((4, 3, 8, 8)), rtol=1e-9)


def test_torch_state_dict_loads_into_ours_and_back(torch, rng):
    torch.manual_seed(0)
    theirs = lecture_cnn(torch.nn).double()
    theirs(torch.tensor(rng.standard_normal((4, 3, 8, 8))))  # non-trivial running statistics
    theirs.eval()
    ours = lecture_cnn(nn).double().eval()
    ours.load_state_dict(theirs.state_dict())  # torch tensors convert through np.asarray
    x = rng.standard_normal((2, 3, 8, 8))
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)

    autograd.manual_seed(5)
    mine = lecture_cnn(nn).double().eval()
    back = lecture_cnn(torch.nn).double().eval()
    back.load_state_dict({k: torch.from_numpy(v) for k, v in mine.state_dict().items()})
    np.testing.assert_allclose(mine(Tensor(x)).data, back(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_layers_pass_gradcheck_on_small_shapes(rng):
    lin, conv, maxout = nn.Linear(3, 2), nn.Conv2d(2, 2, 2, stride=2, padding=1), nn.Maxout(3, 2, pieces=3)
    x2, x4 = images(rng, 2, 3), images(rng, 1, 2, 3, 3)
    x2.requires_grad_()
    x4.requires_grad_()
    assert gradcheck(nn.functional.linear, x2, lin.weight, lin.bias)
    assert gradcheck(lambda x, w, b: nn.functional.conv2d(x, w, b, 2, 1), x4, conv.weight, conv.bias)
    assert gradcheck(lambda x, w, b: nn.functional.maxout(x, w, b, 3), x2, maxout.weight, maxout.bias)


# --- initialisation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Linear(50, 40), 50), (lambda: nn.Conv2d(6, 30, 3), 54)])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    autograd.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
    w = layer.weight.data
    assert np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # U(-b, b) has std b / sqrt(3)
    assert w.dtype == np.float32


def test_manual_seed_makes_models_reproducible():
    autograd.manual_seed(42)
    a = lecture_cnn(nn).state_dict()
    autograd.manual_seed(42)
    b = lecture_cnn(nn).state_dict()
    c = lecture_cnn(nn).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_init_functions_follow_their_formulas():
    autograd.manual_seed(0)
    w = Tensor(np.zeros((400, 300)))
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.data.std() - math.sqrt(2 / 300)) < 0.01 * math.sqrt(2 / 300)
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(6 / 400) and np.abs(w.data).max() > 0.99 * math.sqrt(6 / 400)
    nn.init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 700)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    nn.init.xavier_normal_(w)
    assert abs(w.data.std() - math.sqrt(2 / 700)) < 0.01 * math.sqrt(2 / 700)
    nn.init.normal_(w, mean=3.0, std=0.5)
    assert abs(w.data.mean() - 3.0) < 0.01 and abs(w.data.std() - 0.5) < 0.01
    nn.init.uniform_(w, -2.0, -1.0)
    assert w.data.min() >= -2.0 and w.data.max() < -1.0
    np.testing.assert_array_equal(nn.init.constant_(w, 0.5).data, 0.5)
    np.testing.assert_array_equal(nn.init.ones_(w).data, 1.0)
    np.testing.assert_array_equal(nn.init.zeros_(w).data, 0.0)


def test_init_is_in_place_and_keeps_dtype():
    w = nn.Parameter(np.zeros((3, 4), np.float32))
    array = w.data
    assert nn.init.kaiming_uniform_(w) is w
    assert w.data is array and w.dtype == np.float32 and np.any(array != 0)
    with pytest.raises(ValueError, match="at least 2 axes"):
        nn.init.xavier_uniform_(Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="mode"):
        nn.init.kaiming_normal_(w, mode="fan_avg")


@pytest.mark.parametrize("init", [
    lambda w: nn.init.constant_(w, 5.0), nn.init.ones_, nn.init.zeros_, nn.init.normal_, nn.init.uniform_,
    nn.init.kaiming_uniform_, nn.init.kaiming_normal_, nn.init.xavier_uniform_, nn.init.xavier_normal_,
])
def test_init_after_a_forward_pass_makes_backward_refuse_the_changed_weight_as_torch(init):
    # d(sum w * x)/dx is the w of the forward pass; after init it was silently the new w
    w = nn.Parameter(np.ones((2, 3)))
    x = Tensor(np.full((2, 3), 2.0), requires_grad=True)
    y = (w * x).sum()
    version = w._version
    init(w)
    assert w._version > version
    with pytest.raises(RuntimeError, match="version"):
        y.backward()


@pytest.mark.parametrize("init", ["kaiming_uniform_", "kaiming_normal_"])
@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (2, 3, 0, 0)])
def test_kaiming_init_of_a_zero_element_tensor_is_a_no_op_with_a_warning_as_torch(torch, init, shape):
    w = Tensor(np.zeros(shape))
    with pytest.warns(UserWarning, match="no-op") as ours:
        assert getattr(nn.init, init)(w) is w  # not a ZeroDivisionError from fan_in = 0
    with pytest.warns(UserWarning, match="no-op"):
        getattr(torch.nn.init, init)(torch.zeros(shape))
    assert w.shape == shape and ours[0].filename == __file__  # the warning points at the caller


def test_calculate_gain_matches_torch(torch):
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",), ("leaky_relu", 0.2),
                 ("selu",)]:
        assert nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args))
    with pytest.raises(ValueError, match="unsupported"):
        nn.init.calculate_gain("swish")


# --- modes and shapes of the remaining layers ---------------------------------------------------------
def test_dropout_module_is_active_only_in_training():
    drop = nn.Dropout(0.5)
    x = Tensor(np.ones((50, 50)))
    assert np.any(drop(x).data == 0)
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(1.5)


def test_batch_norm_checks_its_input():
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4-D input"):
        nn.BatchNorm2d(3)(Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="BatchNorm1d: input of shape \\(2, 4\\) has 4 channels, expected 3"):
        nn.BatchNorm1d(3)(Tensor(np.zeros((2, 4))))


def test_maxout_parameter_layout_groups_pieces_by_unit(rng):
    layer = nn.Maxout(2, 3, pieces=2)
    assert layer.weight.shape == (6, 2) and layer.bias.shape == (6,)
    x = rng.standard_normal((4, 2))
    z = x @ layer.weight.data.T + layer.bias.data  # rows 2o and 2o + 1 are the pieces of unit o
    np.testing.assert_allclose(layer(Tensor(x)).data, np.maximum(z[:, 0::2], z[:, 1::2]), rtol=1e-6)


def test_constructor_arguments_are_checked():
    for bad in (lambda: nn.Linear(0, 3), lambda: nn.Conv2d(3, 2, 0), lambda: nn.MaxPool2d(2, stride=0),
                lambda: nn.PReLU(0), lambda: nn.Maxout(2, 2, pieces=0)):
        with pytest.raises(ValueError):
            bad()


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,)], ids=["batch", "batch-of-batches", "one-sample"])
@pytest.mark.parametrize("bias_kind", ["none", "row", "per-sample", "integer"])
def test_linear_matches_x_times_the_transposed_weight_plus_the_bias(rng, x_shape, bias_kind):
    # one node for (N, in) batches; other shapes go through it as rows, other biases are added on their own
    bias = {"none": None, "row": rng.standard_normal(3), "per-sample": rng.standard_normal(x_shape[:-1] + (3,)),
            "integer": np.arange(3)}[bias_kind]
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = None if bias is None else Tensor(bias, requires_grad=bias.dtype.kind == "f")
    out = nn.functional.linear(x, w, b)
    expected = x.data @ w.data.T + (0 if bias is None else bias)
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-13)
    g = rng.standard_normal(expected.shape)
    out.backward(Tensor(g))
    np.testing.assert_allclose(x.grad.data, g @ w.data, rtol=1e-12)
    np.testing.assert_allclose(w.grad.data, g.reshape(-1, 3).T @ x.data.reshape(-1, 4), rtol=1e-12)
    if b is not None and b.requires_grad:
        np.testing.assert_allclose(b.grad.data, g.reshape(-1, 3).sum(axis=0) if bias.ndim == 1 else g, rtol=1e-12)
