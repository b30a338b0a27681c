"""conv2d and pooling options against PyTorch in float64: values and the gradients of the input and
every parameter; grouped convolution as one product; the layers' shapes, initialisation and reprs."""

import math

import numpy as np
import pytest

import nn
import nn.functional as F
from autograd import Function, Tensor, grad


def check_against_torch(torch, ours, theirs, *arrays, seed=0):
    """``ours`` on Tensors, ``theirs`` on torch tensors of the same float64 arrays: outputs and gradients."""
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg="forward")
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    for i, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"grad of input {i}")


# --- conv2d --------------------------------------------------------------------------------------------
CONV_CASES = {
    "groups=2": ((2, 4, 7, 6), (6, 2, 3, 3), dict(groups=2, padding=1)),
    "depthwise": ((2, 4, 6, 6), (4, 1, 3, 3), dict(groups=4, padding=1)),
    "depthwise x2 strided": ((2, 3, 7, 8), (6, 1, 3, 2), dict(groups=3, stride=(2, 1))),
    "dilation": ((2, 3, 9, 8), (4, 3, 3, 2), dict(dilation=(2, 3), padding=(1, 2))),
    "dilation, stride, groups": ((2, 4, 8, 8), (2, 2, 3, 3), dict(stride=(3, 2), padding=(2, 1), groups=2,
                                                                   dilation=2)),
    "same, odd extent": ((2, 3, 6, 5), (4, 3, 3, 3), dict(padding="same")),
    "same, even extent (extra on the right)": ((1, 2, 5, 6), (3, 2, 2, 4), dict(padding="same")),
    "same, dilated": ((1, 4, 5, 5), (1, 4, 2, 3), dict(padding="same", dilation=3)),
    "valid": ((1, 4, 5, 5), (2, 4, 2, 3), dict(padding="valid", stride=2)),
    "unbatched": ((3, 6, 5), (4, 3, 3, 3), dict(padding=1)),
    "unbatched grouped": ((4, 6, 5), (8, 1, 3, 3), dict(groups=4, padding="same")),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV_CASES, ids=list(CONV_CASES))
def test_conv2d_options_match_torch(torch, rng, case, bias):
    x_shape, w_shape, options = CONV_CASES[case]
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)] + ([rng.standard_normal(w_shape[0])] * bias)
    check_against_torch(
        torch, lambda x, w, b=None: F.conv2d(x, w, b, **options),
        lambda x, w, b=None: torch.nn.functional.conv2d(x, w, b, **options), *arrays)


def test_grouped_convs_chained_on_a_channels_last_input_match_torch(torch, rng):
    """Grouped convolution works channels first, plain convolution channels last: any input layout
    and any mix of the two give PyTorch's values and gradients."""
    x = rng.standard_normal((2, 6, 4, 4)).transpose(0, 3, 1, 2)  # (2, 4, 6, 4), NHWC in memory
    weights = [rng.standard_normal(shape) for shape in ((4, 1, 3, 3), (8, 2, 2, 2), (6, 8, 1, 1))]

    def block(conv, x, depthwise, grouped, pointwise):
        y = conv(conv(x, depthwise, padding=1, groups=4), grouped, stride=2, groups=2)
        return conv(y, pointwise)

    check_against_torch(torch, lambda *a: block(F.conv2d, *a), lambda *a: block(torch.nn.functional.conv2d, *a),
                        x, *weights)


def _nodes(out: Tensor) -> list[Function]:
    """Every op node of the graph that computed ``out``."""
    seen, stack = {}, [out.grad_fn]
    while stack:
        node = stack.pop()
        if isinstance(node, Function) and id(node) not in seen:
            seen[id(node)] = node
            stack.extend(node.next)
    return list(seen.values())


def test_grouped_conv2d_is_one_product_whatever_the_number_of_groups(rng):
    x = Tensor(rng.standard_normal((2, 8, 5, 5)), requires_grad=True)
    graphs = {}
    for groups in (1, 2, 4, 8):
        w = Tensor(rng.standard_normal((16, 8 // groups, 3, 3)), requires_grad=True)
        graphs[groups] = sorted(type(node).__name__ for node in _nodes(F.conv2d(x, w, groups=groups)))
        assert sum(name in ("MatMul", "Linear", "Einsum") for name in graphs[groups]) == 1, graphs[groups]
    assert graphs[2] == graphs[4] == graphs[8]  # no per-group slicing either: the graph does not grow


def test_conv2d_refuses_bad_options_naming_them(rng):
    x, w = Tensor(rng.standard_normal((1, 4, 6, 6))), Tensor(rng.standard_normal((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1"):
        F.conv2d(x, w, padding="same", stride=2, groups=2)
    with pytest.raises(ValueError, match="conv2d: padding must be 'same', 'valid'"):
        F.conv2d(x, w, padding="full", groups=2)
    with pytest.raises(ValueError, match=r"conv2d: .*groups=4"):
        F.conv2d(x, w, groups=4)  # the weight has 2 input channels per group, not 1
    with pytest.raises(ValueError, match="conv2d: groups must be a positive int"):
        F.conv2d(x, w, groups=0)
    with pytest.raises(ValueError, match="conv2d: kernel .*dilation"):
        F.conv2d(x, w, groups=2, dilation=3)
    with pytest.raises(ValueError, match=r"conv2d: dilation must be an int >= 1"):
        F.conv2d(x, w, groups=2, dilation=0)


# --- pooling -------------------------------------------------------------------------------------------
POOL_CASES = {
    "dilated": ((2, 3, 9, 8), dict(kernel_size=3, stride=1, dilation=(2, 3))),
    "dilated, padded, strided": ((1, 2, 9, 9), dict(kernel_size=(3, 2), stride=2, padding=1, dilation=2)),
    "ceil_mode": ((2, 2, 7, 6), dict(kernel_size=3, stride=2, ceil_mode=True)),
    "ceil_mode, padded": ((1, 2, 6, 7), dict(kernel_size=(4, 3), stride=(3, 2), padding=(2, 1), ceil_mode=True)),
    "ceil_mode, tiling": ((2, 3, 5, 7), dict(kernel_size=2, ceil_mode=True)),
    "ceil_mode drops a window starting in the right padding": ((1, 1, 5, 5), dict(kernel_size=2, stride=2, padding=1,
                                                                                  ceil_mode=True)),
    "unbatched": ((3, 6, 7), dict(kernel_size=2, stride=1, padding=1)),
}


@pytest.mark.parametrize("case", POOL_CASES, ids=list(POOL_CASES))
def test_max_pool2d_options_match_torch_with_indices(torch, rng, case):
    shape, options = POOL_CASES[case]
    check_against_torch(torch, lambda x: F.max_pool2d(x, **options),
                        lambda x: torch.nn.functional.max_pool2d(x, **options), rng.standard_normal(shape))
    x = rng.standard_normal(shape)
    out, indices = F.max_pool2d(Tensor(x), **options, return_indices=True)
    ref, ref_indices = torch.nn.functional.max_pool2d(torch.tensor(x), **options, return_indices=True)
    np.testing.assert_array_equal(out.data, ref.numpy())
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.data, ref_indices.numpy())


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", [c for c in POOL_CASES if "dilated" not in c])
def test_avg_pool2d_options_match_torch(torch, rng, case, count_include_pad):
    shape, options = POOL_CASES[case]
    options = dict(options, count_include_pad=count_include_pad)
    check_against_torch(torch, lambda x: F.avg_pool2d(x, **options),
                        lambda x: torch.nn.functional.avg_pool2d(x, **options), rng.standard_normal(shape))


@pytest.mark.parametrize("divisor", [3, -2])
def test_avg_pool2d_divisor_override_matches_torch(torch, rng, divisor):
    options = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=divisor)
    check_against_torch(torch, lambda x: F.avg_pool2d(x, **options),
                        lambda x: torch.nn.functional.avg_pool2d(x, **options), rng.standard_normal((2, 2, 6, 7)))


def test_pooling_refuses_bad_options_naming_them(rng):
    x = Tensor(rng.standard_normal((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="max_pool2d: kernel .*dilation"):
        F.max_pool2d(x, 3, dilation=2)
    with pytest.raises(ValueError, match="avg_pool2d: divisor_override must be a nonzero int"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match=r"avg_pool2d: expected images of shape \(N, C, H, W\) or \(C, H, W\)"):
        F.avg_pool2d(Tensor(np.ones((4, 4))), 2)


# --- prelu ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, w_shape", [((5, 10, 3), ()), ((), ()), ((7,), (1,)), ((4, 3, 2), (3,))])
def test_prelu_with_a_0d_or_per_channel_weight_matches_torch(torch, rng, x_shape, w_shape):
    check_against_torch(torch, F.prelu, torch.nn.functional.prelu, rng.standard_normal(x_shape),
                        rng.uniform(0.1, 0.5, w_shape))


# --- layers --------------------------------------------------------------------------------------------
LAYERS = [
    ("Conv2d", (4, 8, 3), dict(groups=4, dilation=2, padding="same", bias=False)),
    ("Conv2d", (4, 6, (3, 2)), dict(groups=2, stride=2, padding=(1, 0))),
    ("Conv2d", (4, 6, 3), dict(padding="valid")),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, dilation=2, ceil_mode=True)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name, args, options", LAYERS)
def test_layers_with_options_match_their_torch_twins(torch, rng, name, args, options):
    theirs = getattr(torch.nn, name)(*args, **options)
    ours = getattr(nn, name)(*args, **options).double()
    assert repr(ours) == repr(theirs)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in state.items()}
    ours.load_state_dict(state)
    x = rng.standard_normal((2, 4, 9, 8))
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("x_shape, args, options", [
    ((2, 4, 5, 6), (4, 6, (3, 2)), dict(padding=(2, 1), stride=2)),
    ((4, 5, 6), (4, 4, 3), dict(padding="same", dilation=2, groups=4, bias=False)),
])
def test_conv2d_padding_modes_match_torch_with_second_derivatives(torch, rng, padding_mode, x_shape, args, options):
    theirs = torch.nn.Conv2d(*args, padding_mode=padding_mode, **options)
    ours = nn.Conv2d(*args, padding_mode=padding_mode, **options).double()
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal(x_shape)
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = rng.standard_normal(out.shape)
    inputs, their_inputs = [xo, ours.weight], [xt, theirs.weight]
    grads = grad((out * Tensor(upstream)).sum(), inputs, create_graph=True)
    their_grads = torch.autograd.grad((ref * torch.tensor(upstream)).sum(), their_inputs, create_graph=True)
    penalty = sum((g * g).sum() for g in grads)  # a gradient penalty: second derivatives through the padding
    their_penalty = sum((g * g).sum() for g in their_grads)
    for g, t in zip(grads + grad(penalty, inputs), their_grads + torch.autograd.grad(their_penalty, their_inputs)):
        np.testing.assert_allclose(g.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_blocks_with_inplace_flags_as_torchvision_writes_them_build_and_match_torch(torch, rng):
    def block(library):
        return library.Sequential(
            library.Conv2d(3, 4, 3, padding=1, bias=False), library.BatchNorm2d(4), library.ReLU(inplace=True),
            library.LeakyReLU(0.1, inplace=True), library.ELU(inplace=True), library.SiLU(inplace=True),
            library.Dropout(0.5, inplace=True), library.Dropout2d(0.2, inplace=True),
        )

    theirs, ours = block(torch.nn).eval(), block(nn).double().eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((2, 3, 5, 4))
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    for name, args in (("relu", ()), ("leaky_relu", (0.1,)), ("elu", (1.0,)), ("silu", ()), ("dropout", (0.5, False)),
                       ("dropout2d", (0.5, False))):
        expected = getattr(torch.nn.functional, name)(torch.tensor(x), *args, inplace=True).numpy()
        np.testing.assert_allclose(getattr(F, name)(Tensor(x), *args, inplace=True).data, expected, rtol=1e-12,
                                   err_msg=name)


def test_max_pool2d_layer_returns_indices_when_asked(torch, rng):
    x = rng.standard_normal((2, 3, 7, 7))
    out, indices = nn.MaxPool2d(3, 2, return_indices=True, ceil_mode=True)(Tensor(x))
    _, ref = torch.nn.MaxPool2d(3, 2, return_indices=True, ceil_mode=True)(torch.tensor(x))
    np.testing.assert_array_equal(indices.data, ref.numpy())


def test_grouped_conv_layer_initialises_within_one_over_sqrt_fan_in():
    conv = nn.Conv2d(32, 64, 3, groups=32)  # fan_in = (32 / 32) * 3 * 3 = 9, as PyTorch counts it
    assert conv.weight.shape == (64, 1, 3, 3)
    bound = 1 / math.sqrt(9)
    for t in (conv.weight, conv.bias):
        assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.8 * bound


def test_conv2d_layer_checks_its_options():
    with pytest.raises(ValueError, match="Conv2d: in_channels 6 and out_channels 4 must be divisible by groups=4"):
        nn.Conv2d(6, 4, 3, groups=4)
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv2d: padding must be 'same', 'valid'"):
        nn.Conv2d(4, 4, 3, padding="full")
    with pytest.raises(ValueError, match="Conv2d: padding_mode must be one of 'zeros', 'reflect'"):
        nn.Conv2d(4, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match=r"Conv2d: padding \(3, 3\) is too large for reflect padding of an axis of 3"):
        nn.Conv2d(4, 4, 3, padding=3, padding_mode="reflect")(Tensor(np.zeros((4, 3, 8))))


def test_conv_and_pool_layers_take_a_numpy_batch_as_linear_does(rng):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.AvgPool2d(1), nn.Flatten(), nn.Linear(2, 1))
    images = rng.standard_normal((3, 1, 4, 4)).astype(np.float32)
    out = model(images)
    assert isinstance(out, Tensor) and out.shape == (3, 1)
    np.testing.assert_array_equal(out.numpy(), model(Tensor(images)).numpy())


@pytest.mark.parametrize(("x_shape", "widths", "mode", "value"), [
    ((2, 3, 4, 5), (1, 2), "constant", None),  # the last axis only: not every axis, as np.pad would read (1, 2)
    ((2, 3, 4, 5), (1, 0, 2, 3), "constant", 0.5),  # U-Net's F.pad(x, [left, right, top, bottom])
    ((2, 3, 4, 5), (0, 1, -1, 2, 1, 1), "constant", -1.0),  # three axes, a negative width crops
    ((2, 3, 4, 5), (2, 1, 1, 3), "reflect", None),
    ((2, 3, 4, 5), (2, 1, 0, 3), "replicate", None),
    ((3, 4, 5), (3, 5), "circular", None),
    ((2, 3, 4, 5), (-1, 1, -2, 1), "reflect", None),  # negative widths crop, in every mode
    ((2, 3, 4, 5), (-4, 6, 2, -3), "replicate", None),
    ((3, 4, 5), (-2, 3), "circular", None),
])
def test_functional_pad_reads_its_widths_last_axis_first_as_torch(torch, rng, x_shape, widths, mode, value):
    x = rng.standard_normal(x_shape)
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.pad(xo, widths, mode=mode, value=value)
    ref = torch.nn.functional.pad(xt, widths, mode=mode, value=value)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    upstream = rng.standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_functional_pad_names_bad_widths_modes_and_values():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"pad: pad=\(1, 1, 1\) needs \(before, after\) pairs for at most the 2 axes"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="pad: mode must be 'constant', 'reflect', .* got 'edge'"):
        F.pad(x, (1, 1), mode="edge")
    with pytest.raises(ValueError, match="pad: mode 'reflect' takes no value, got value=2"):
        F.pad(x, (1, 1), mode="reflect", value=2)
    with pytest.raises(ValueError, match=r"pad: padding \(-4, 0\) does not fit an axis of 3"):
        F.pad(x, (-4, 0), mode="replicate")
    with pytest.raises(ValueError, match=r"pad: padding \(3, 0\) is too large for reflect padding of an axis of 3"):
        F.pad(x, (3, 0), mode="reflect")


@pytest.mark.parametrize("widths", [(1.5, 1), (0.0, 2), (1, np.float64(1))])
def test_functional_pad_refuses_widths_that_are_not_ints_as_torch(torch, widths):
    with pytest.raises(TypeError):
        torch.nn.functional.pad(torch.zeros(2, 3), widths)
    with pytest.raises(TypeError, match=r"pad: widths must be ints, got pad=\("):
        F.pad(Tensor(np.zeros((2, 3))), widths)  # (1.5, 1) was truncated to (1, 1)
