"""nn.functional against torch.nn.functional in float64: values, first and second derivatives.

Every case runs the same function on the same float64 arrays in both libraries, seeds the
backward pass with the same random upstream gradient, and compares the output and the gradient
of every input, parameters included.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nn.functional as F
from autograd import Tensor, grad
from autograd.testing import gradcheck, gradgradcheck


def check_against_torch(torch, ours, theirs, *arrays, rtol=1e-10, atol=1e-12, seed=0):
    """Run ``ours`` on Tensors and ``theirs`` on torch tensors made from ``arrays``; compare outputs and grads."""
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    for i, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad of input {i}")
    return out


@pytest.fixture
def draw(rng):
    return lambda *shape: rng.standard_normal(shape)


# --- linear and convolution ------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(torch, draw, x_shape, bias):
    arrays = [draw(*x_shape), draw(3, 4)] + ([draw(3)] if bias else [])
    check_against_torch(torch, F.linear, torch.nn.functional.linear, *arrays)


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding",
    [
        ((2, 3, 7, 7), (4, 3, 3, 3), 1, 0),
        ((2, 3, 7, 7), (4, 3, 3, 3), 2, 1),
        ((1, 2, 7, 7), (3, 2, 3, 3), 3, 0),  # windows that do not fit are dropped
        ((2, 2, 6, 9), (3, 2, 2, 4), (2, 1), (0, 2)),  # rectangular kernel, stride and padding
        ((1, 1, 5, 5), (2, 1, 5, 5), 1, 2),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(torch, draw, x_shape, w_shape, stride, padding, bias):
    arrays = [draw(*x_shape), draw(*w_shape)] + ([draw(w_shape[0])] if bias else [])

    def ours(x, w, b=None):
        return F.conv2d(x, w, b, stride=stride, padding=padding)

    def theirs(x, w, b=None):
        return torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding)

    check_against_torch(torch, ours, theirs, *arrays)


@st.composite
def conv_cases(draw):
    """Small random convolutions: any kernel that fits the padded input, any stride and padding."""
    n, c, f = (draw(st.integers(1, 3)) for _ in range(3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 8))
    w = draw(st.integers(max(1, kw - 2 * pw), 8))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (n, c, h, w), (f, c, kh, kw), stride, (ph, pw), draw(st.booleans())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv2d_any_shape_matches_torch(torch, case, seed):
    x_shape, w_shape, stride, padding, bias = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)] + ([rng.standard_normal(w_shape[0])] * bias)
    check_against_torch(
        torch,
        lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=padding),
        lambda x, w, b=None: torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding),
        *arrays,
    )


def test_conv2d_gradcheck(draw):
    x, w, b = (Tensor(a, requires_grad=True) for a in (draw(1, 2, 4, 5), draw(2, 2, 2, 3), draw(2)))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=1), x, w, b)


def test_conv2d_rejects_mismatched_shapes(draw):
    with pytest.raises(ValueError, match=r"conv2d.*\(2, 3, 5, 5\).*\(4, 2, 3, 3\)"):
        F.conv2d(Tensor(draw(2, 3, 5, 5)), Tensor(draw(4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d.*\(N, C, H, W\) or \(C, H, W\)"):
        F.conv2d(Tensor(draw(5, 5)), Tensor(draw(4, 3, 3, 3)))
    with pytest.raises(ValueError, match="larger"):
        F.conv2d(Tensor(draw(1, 1, 2, 2)), Tensor(draw(1, 1, 3, 3)))
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(Tensor(draw(1, 1, 5, 5)), Tensor(draw(1, 1, 3, 3)), stride=0)


# --- pooling ---------------------------------------------------------------------------------------
POOL_CASES = [
    ((2, 3, 4, 6), 2, None, 0),  # windows tile the input: the reshape path
    ((2, 3, 5, 7), 2, None, 0),  # non-overlapping, last row and column dropped
    ((2, 2, 7, 7), 3, 2, 0),  # overlapping windows: the unfold path
    ((1, 2, 6, 5), (3, 2), (1, 2), 1),  # rectangular, padded
]


@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d(torch, draw, x_shape, kernel, stride, padding, kind):
    ours = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    theirs = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}[kind]
    check_against_torch(
        torch, lambda x: ours(x, kernel, stride, padding), lambda x: theirs(x, kernel, stride, padding), draw(*x_shape)
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)),
    size=st.tuples(st.integers(4, 9), st.integers(4, 9)),
    kind=st.sampled_from(["max", "avg"]),
    data=st.data(),
)
def test_pool2d_any_shape_matches_torch(torch, kernel, stride, size, kind, data):
    padding = (data.draw(st.integers(0, kernel[0] // 2)), data.draw(st.integers(0, kernel[1] // 2)))
    x = np.random.default_rng(data.draw(st.integers(0, 2**16))).standard_normal((2, 2, *size))
    ours = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    theirs = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}[kind]
    check_against_torch(
        torch, lambda x: ours(x, kernel, stride, padding), lambda x: theirs(x, kernel, stride, padding), x
    )


def test_pool_gradcheck(draw):
    x = Tensor(draw(1, 2, 5, 5), requires_grad=True)
    assert gradcheck(lambda x: F.max_pool2d(x, 3, 2, padding=1), x)
    assert gradcheck(lambda x: F.avg_pool2d(x, 2), x)


def test_max_pool_ties_share_the_gradient_equally():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((1, 1, 2, 2), 0.25))


def test_pool_rejects_too_much_padding():
    with pytest.raises(ValueError, match="half"):
        F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, padding=2)


# --- batch norm and dropout -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 4, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(torch, draw, rng, shape, training):
    mean, var = draw(3), rng.uniform(0.5, 2.0, 3)
    ours_stats = [Tensor(mean.copy()), Tensor(var.copy())]
    torch_stats = [torch.tensor(mean), torch.tensor(var)]

    def ours(x, w, b):
        return F.batch_norm(x, *ours_stats, w, b, training=training, momentum=0.3, eps=1e-3)

    def theirs(x, w, b):
        return torch.nn.functional.batch_norm(x, *torch_stats, w, b, training=training, momentum=0.3, eps=1e-3)

    check_against_torch(torch, ours, theirs, draw(*shape) * 2 + 1, draw(3), draw(3))
    for a, t in zip(ours_stats, torch_stats):
        np.testing.assert_allclose(a.data, t.numpy(), rtol=1e-12)


def test_batch_norm_without_running_stats_uses_the_batch(torch, draw):
    def ours(x):
        return F.batch_norm(x, None, None, training=True)

    def theirs(x):
        return torch.nn.functional.batch_norm(x, None, None, training=True)

    check_against_torch(torch, ours, theirs, draw(5, 2, 3))


def test_batch_norm_gradcheck_and_gradgradcheck(draw):
    x, w, b = (Tensor(a, requires_grad=True) for a in (draw(4, 2, 3), draw(2), draw(2)))

    def f(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    assert gradcheck(f, x, w, b)
    assert gradgradcheck(f, x, w, b)


@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4, 5)])
def test_batch_norm_of_an_empty_batch_in_training_is_empty_and_keeps_the_running_stats_as_torch(torch, shape):
    import nn

    layer, ref = (nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)) if len(shape) == 2 else (nn.BatchNorm2d(3),
                                                                                          torch.nn.BatchNorm2d(3))
    layer.running_mean.data = np.arange(3.0, dtype=np.float32)
    ref.running_mean += torch.arange(3.0)
    out, expected = layer(Tensor(np.zeros(shape, np.float32))), ref(torch.zeros(shape))
    assert out.shape == tuple(expected.shape)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.data, ref.weight.grad.numpy())
    for name, buffer in ref.named_buffers():
        np.testing.assert_array_equal(getattr(layer, name).data, buffer.numpy(), err_msg=name)


def test_batch_norm_errors(draw):
    x = Tensor(draw(4, 3))
    with pytest.raises(ValueError, match="more than one value"):
        F.batch_norm(Tensor(draw(1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean of shape"):
        F.batch_norm(x, Tensor(np.zeros(2)), Tensor(np.ones(2)))
    with pytest.raises(ValueError, match="needs running_mean"):
        F.batch_norm(x, None, None, training=False)


def test_dropout_keeps_expectation_and_is_reproducible():
    import autograd

    x = Tensor(np.ones((200, 100)), requires_grad=True)
    autograd.manual_seed(3)
    y = F.dropout(x, 0.25)
    kept = y.data != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # the gradient is the same mask
    autograd.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.25).data, y.data)


def test_dropout_identity_when_off_and_rejects_bad_p():
    x = Tensor(np.ones(3))
    assert F.dropout(x, 0.5, training=False) is x and F.dropout(x, 0.0) is x
    for p in (1.5, -0.1, 2):
        with pytest.raises(ValueError, match="dropout"):
            F.dropout(x, p)


@pytest.mark.parametrize("p", [1, 1.0])
def test_dropout_of_every_element_gives_zeros_and_a_zero_gradient_as_torch(torch, p):
    import nn

    x, xt = Tensor(np.ones((2, 3, 4, 4)), requires_grad=True), torch.ones((2, 3, 4, 4), requires_grad=True)
    for ours, theirs in ((nn.Dropout(p), torch.nn.Dropout(p)), (nn.Dropout2d(p), torch.nn.Dropout2d(p))):
        out, expected = ours(x), theirs(xt)
        np.testing.assert_array_equal(out.data, expected.detach().numpy())
        (g,), (gt,) = grad(out.sum(), x), torch.autograd.grad(expected.sum(), xt)
        np.testing.assert_array_equal(g.data, gt.numpy())


# --- activations --------------------------------------------------------------------------------------
def _with_zero(a):
    a = a.copy()
    a.flat[0] = 0.0  # pins the subgradient at the kink against PyTorch's
    return a


@pytest.mark.parametrize(
    "name, ours, theirs",
    [
        ("relu", F.relu, lambda t, x: t.nn.functional.relu(x)),
        ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), lambda t, x: t.nn.functional.leaky_relu(x, 0.1)),
        ("elu", lambda x: F.elu(x, 0.7), lambda t, x: t.nn.functional.elu(x, 0.7)),
        ("sigmoid", F.sigmoid, lambda t, x: t.sigmoid(x)),
        ("tanh", F.tanh, lambda t, x: t.tanh(x)),
        ("softmax", lambda x: F.softmax(x, axis=1), lambda t, x: t.softmax(x, dim=1)),
        ("softmax_last", F.softmax, lambda t, x: t.softmax(x, dim=-1)),
        ("log_softmax", lambda x: F.log_softmax(x, axis=0), lambda t, x: t.log_softmax(x, dim=0)),
    ],
)
def test_activation(torch, draw, name, ours, theirs):
    check_against_torch(torch, ours, lambda x: theirs(torch, x), _with_zero(draw(3, 4, 2)) * 3)


@pytest.mark.parametrize("channels", [1, 3])
def test_prelu(torch, draw, channels):
    check_against_torch(torch, F.prelu, torch.nn.functional.prelu, _with_zero(draw(2, 3, 4)), draw(channels))


def test_maxout_is_the_max_over_pieces_of_a_linear_map(torch, draw):
    def theirs(x, w, b):
        z = torch.nn.functional.linear(x, w, b)
        return z.reshape(z.shape[0], 4, 3).amax(dim=-1)

    check_against_torch(torch, lambda x, w, b: F.maxout(x, w, b, pieces=3), theirs, draw(5, 2), draw(12, 2), draw(12))


def test_elu_does_not_overflow_for_large_inputs():
    x = Tensor(np.array([1e4, 800.0, -1e4], np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):  # exp(-1e4) underflowing to 0 is exact enough
        y = F.elu(x)
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [1e4, 800.0, -1.0])
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 0.0])


def test_piecewise_activations_equal_their_select_definitions_exactly(rng):
    # computed without a select (x times a slope map, or two terms that are 0 where the other applies)
    x = np.concatenate([rng.standard_normal(5000), [0.0, -0.0, np.inf, -np.inf, 1e30, -1e30]]).astype(np.float32)
    slopes = np.float32(0.3)
    t = Tensor(x)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(F.leaky_relu(t, 0.1).data, np.where(x > 0, x, x * np.float32(0.1)))
        np.testing.assert_array_equal(F.prelu(t, Tensor(np.array([slopes]))).data, np.where(x > 0, x, x * slopes))
        elu = np.where(x > 0, x, (np.exp(np.minimum(x, 0)) - 1) * np.float32(0.7))
        np.testing.assert_array_equal(F.elu(t, 0.7).data, elu)
    assert F.leaky_relu(t).dtype == F.prelu(t, Tensor(np.array([slopes]))).dtype == F.elu(t).dtype == np.float32
    # a slope for which (1 - s) + s is not 1 in float32 takes the select instead, same definition
    big = np.float32(3e7)
    assert (np.float32(1) - big) + big != 1
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(F.leaky_relu(t, float(big)).data, np.where(x > 0, x, x * big))


def test_softmax_is_finite_for_huge_logits():
    x = Tensor(np.array([[1e4, -1e4, 0.0]], np.float32))
    np.testing.assert_allclose(F.softmax(x).data, [[1.0, 0.0, 0.0]])
    assert np.isfinite(F.log_softmax(x).data).all()


def test_activations_gradcheck(draw):
    x = Tensor(draw(2, 3) + 0.1, requires_grad=True)
    w = Tensor(np.array([0.3, -0.2, 0.5]), requires_grad=True)
    for f in (lambda x: F.elu(x), lambda x: F.leaky_relu(x), F.log_softmax, F.softmax, lambda x: F.prelu(x, w)):
        assert gradcheck(f, x)


# --- second order: gradient penalties -------------------------------------------------------------------
def _penalty_ours(x, w, b, w2):
    # || d(sum of scores)/dx ||^2 through conv -> ELU -> max-pool -> conv, differentiated again
    h = F.max_pool2d(F.elu(F.conv2d(x, w, b, padding=1)), 2)
    score = (F.conv2d(h, w2) ** 2).sum()
    (gx,) = grad(score, [x], create_graph=True)
    return (gx * gx).sum()


def test_gradient_penalty_through_conv_elu_and_max_pool_matches_torch(torch, draw):
    arrays = [draw(2, 2, 6, 6), draw(3, 2, 3, 3), draw(3), draw(1, 3, 2, 2)]

    def theirs(x, w, b, w2):
        tf = torch.nn.functional
        h = tf.max_pool2d(tf.elu(tf.conv2d(x, w, b, padding=1)), 2)
        score = (tf.conv2d(h, w2) ** 2).sum()
        (gx,) = torch.autograd.grad(score, [x], create_graph=True)
        return (gx * gx).sum()

    check_against_torch(torch, _penalty_ours, theirs, *arrays, rtol=1e-9)


def test_second_derivatives_of_conv_elu_and_pool_gradgradcheck(draw):
    x, w = Tensor(draw(1, 1, 4, 4), requires_grad=True), Tensor(draw(2, 1, 2, 2), requires_grad=True)
    assert gradgradcheck(lambda x, w: F.max_pool2d(F.elu(F.conv2d(x, w, padding=1)), 2, stride=1), x, w)


# --- one_hot ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, num_classes", [([0, 2, 1], -1), ([[0, 3], [1, 1]], 5), (2, 4)])
def test_one_hot_matches_torch(torch, labels, num_classes):
    labels = np.array(labels, dtype=np.int64)
    ours = F.one_hot(Tensor(labels), num_classes)
    theirs = torch.nn.functional.one_hot(torch.tensor(labels), num_classes)
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_one_hot_rejects_indices_out_of_range_and_non_integers():
    with pytest.raises(ValueError, match=r"\[0, 3\), got values from 0 to 3"):
        F.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="from -1"):
        F.one_hot(np.array([-1, 1]))
    with pytest.raises(TypeError, match="integers, got dtype float"):
        F.one_hot(np.array([0.0]), 2)
    with pytest.raises(ValueError, match="pass num_classes"):
        F.one_hot(np.array([], np.int64))
    assert F.one_hot(np.array([], np.int64), 3).shape == (0, 3)


@pytest.mark.parametrize(("p", "dim"), [(2.0, 1), (1.0, -1), (3.0, 0)])
def test_normalize_matches_torch_and_a_zero_vector_stays_zero(torch, draw, p, dim):
    x = draw(4, 3, 2)
    x[1] = 0.0  # zero vectors along every dim: their norm is clamped to eps
    x[:, 1] = 0.0
    x[..., 0] = 0.0
    out = check_against_torch(torch, lambda t: F.normalize(t, p=p, dim=dim),
                              lambda t: torch.nn.functional.normalize(t, p=p, dim=dim), x, rtol=1e-9)
    norms = np.linalg.norm(out.data, ord=p, axis=dim) if p != 3.0 else (np.abs(out.data) ** 3).sum(axis=dim) ** (1 / 3)
    np.testing.assert_allclose(norms[norms > 0], 1.0)


def test_normalize_reads_a_scalar_as_a_vector_of_one_as_torch(torch):
    for value in (-2.5, 0.0):
        check_against_torch(torch, lambda t: F.normalize(t, p=1.2, dim=0),
                            lambda t: torch.nn.functional.normalize(t, p=1.2, dim=0), np.array(value))
