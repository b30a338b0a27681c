"""The losses' PyTorch options (class weights, ignore_index, label smoothing, probability targets,
(N, C, d1, ...) and unbatched inputs, pos_weight, p) against PyTorch in float64: values and gradients."""

import numpy as np
import pytest

import nn
import nn.functional as F
from autograd import Tensor, grad
from autograd.testing import gradcheck

REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(6, 4), (3, 4, 2, 5), (4,)]  # (N, C), (N, C, d1, d2) as in segmentation, unbatched (C,)


def _labels(rng, shape, ignore_index=None):
    """Class indices for scores of ``shape`` (classes on axis 1, or axis 0 unbatched), a few ignored."""
    c = shape[1] if len(shape) > 1 else shape[0]
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    labels = rng.integers(0, c, target_shape)
    if ignore_index is not None and labels.ndim:
        labels.reshape(-1)[::3] = ignore_index
    return labels


def _compare(torch, rng, x, ours, theirs):
    """Values and input gradients (for a random upstream gradient) of ours(Tensor) and theirs(torch.Tensor)."""
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-11, atol=1e-13)
    upstream = rng.standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_with_class_targets_matches_torch(torch, rng, reduction, shape, weighted, ignore_index,
                                                        label_smoothing):
    x = rng.standard_normal(shape) * 2
    c = shape[1] if len(shape) > 1 else shape[0]
    target = _labels(rng, shape, ignore_index=ignore_index if len(shape) > 1 else None)
    weight = rng.uniform(0.2, 2.0, c) if weighted else None
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    _compare(
        torch, rng, x,
        lambda x: F.cross_entropy(x, target, weight=weight, **kw),
        lambda x: torch.nn.functional.cross_entropy(
            x, torch.from_numpy(target), weight=None if weight is None else torch.tensor(weight), **kw
        ),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3), (4,)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_with_probability_targets_matches_torch(torch, rng, reduction, shape, weighted, label_smoothing):
    x = rng.standard_normal(shape)
    axis = 1 if len(shape) > 1 else 0
    probs = rng.uniform(0, 1, shape)
    probs /= probs.sum(axis=axis, keepdims=True)
    c = shape[axis]
    weight = rng.uniform(0.2, 2.0, c) if weighted else None
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    _compare(
        torch, rng, x,
        lambda x: F.cross_entropy(x, probs, weight=weight, **kw),
        lambda x: torch.nn.functional.cross_entropy(
            x, torch.tensor(probs), weight=None if weight is None else torch.tensor(weight), **kw
        ),
    )


def test_cross_entropy_probability_targets_get_their_gradient(torch, rng):
    x, t = rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))
    to, tt = Tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
    F.cross_entropy(Tensor(x), to).backward()
    torch.nn.functional.cross_entropy(torch.tensor(x), tt).backward()
    np.testing.assert_allclose(to.grad.data, tt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_with_weight_and_ignore_index_matches_torch(torch, rng, reduction, shape, weighted):
    x = rng.standard_normal(shape)
    c = shape[1] if len(shape) > 1 else shape[0]
    target = _labels(rng, shape, ignore_index=-100 if len(shape) > 1 else None)
    weight = rng.uniform(0.2, 2.0, c) if weighted else None
    _compare(
        torch, rng, x,
        lambda x: F.nll_loss(x, target, weight=weight, reduction=reduction),
        lambda x: torch.nn.functional.nll_loss(
            x, torch.from_numpy(target), weight=None if weight is None else torch.tensor(weight), reduction=reduction
        ),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (4,), (5, 4)])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_with_logits_weight_and_pos_weight_match_torch(torch, rng, reduction, weight_shape, pos_weighted):
    x = rng.standard_normal((5, 4)) * 3
    x[0, 0] = 0.0  # a logit of exactly 0, where relu(-x) and |x| have their kinks
    t = rng.uniform(0, 1, (5, 4))
    weight = None if weight_shape is None else rng.uniform(0.2, 2, weight_shape)
    pos_weight = rng.uniform(0.2, 3, 4) if pos_weighted else None

    def torch_or_none(a):
        return None if a is None else torch.tensor(a)

    _compare(
        torch, rng, x,
        lambda x: F.binary_cross_entropy_with_logits(x, t, weight=weight, reduction=reduction, pos_weight=pos_weight),
        lambda x: torch.nn.functional.binary_cross_entropy_with_logits(
            x, torch.tensor(t), weight=torch_or_none(weight), reduction=reduction, pos_weight=torch_or_none(pos_weight)
        ),
    )


@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_with_logits_second_derivative_matches_torch_at_zero_and_extreme_logits(torch, pos_weighted):
    """A gradient penalty: BCE is smooth at a logit of 0 (curvature sigmoid'(0) = 1/4), and flat far out."""
    x = np.array([0.0, -0.0, 1e4, -1e4, 30.0, -30.0, 2.0, -3.0])
    t = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.3, 0.6])
    pos_weight = np.full(8, 3.0) if pos_weighted else None
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (g,) = grad(F.binary_cross_entropy_with_logits(xo, t, reduction="sum", pos_weight=pos_weight), xo,
                create_graph=True)
    (gt,) = torch.autograd.grad(torch.nn.functional.binary_cross_entropy_with_logits(
        xt, torch.tensor(t), reduction="sum", pos_weight=None if pos_weight is None else torch.tensor(pos_weight)),
        xt, create_graph=True)
    np.testing.assert_allclose(g.data, gt.detach().numpy(), rtol=1e-12, atol=1e-14)
    (gg,) = grad((g * g).sum(), xo)
    (ggt,) = torch.autograd.grad((gt * gt).sum(), xt)
    np.testing.assert_allclose(gg.data, ggt.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 4), (4,)])
def test_multi_margin_loss_with_p_and_weight_matches_torch(torch, rng, reduction, p, weighted, shape):
    x = rng.standard_normal(shape)
    target = _labels(rng, shape)
    weight = rng.uniform(0.2, 2, 4) if weighted else None
    _compare(
        torch, rng, x,
        lambda x: F.multi_margin_loss(x, target, p=p, margin=0.7, weight=weight, reduction=reduction),
        lambda x: torch.nn.functional.multi_margin_loss(
            x, torch.from_numpy(target), p=p, margin=0.7,
            weight=None if weight is None else torch.tensor(weight), reduction=reduction,
        ),
    )


def test_loss_modules_pass_their_options_and_keep_weights_as_torchs_buffers(torch, rng):
    w, pw = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)
    pairs = [
        (nn.CrossEntropyLoss(weight=w, ignore_index=2, label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=2, label_smoothing=0.1), "classes"),
        (nn.NLLLoss(weight=w, ignore_index=0, reduction="sum"),
         torch.nn.NLLLoss(weight=torch.tensor(w), ignore_index=0, reduction="sum"), "classes"),
        (nn.MultiMarginLoss(p=2, margin=0.5, weight=w), torch.nn.MultiMarginLoss(p=2, margin=0.5,
                                                                                 weight=torch.tensor(w)), "classes"),
        (nn.BCEWithLogitsLoss(weight=w, pos_weight=pw),
         torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(pw)), "probabilities"),
    ]
    x = rng.standard_normal((6, 4))
    for ours, theirs, kind in pairs:
        target = rng.integers(0, 4, 6) if kind == "classes" else rng.uniform(0, 1, (6, 4))
        got = ours(Tensor(x), target).item()
        assert got == pytest.approx(theirs(torch.tensor(x), torch.from_numpy(target)).item(), rel=1e-12)
        mine, reference = ours.state_dict(), theirs.state_dict()
        assert list(mine) == list(reference)
        for key in mine:
            np.testing.assert_array_equal(mine[key], reference[key].numpy())


def test_float32_losses_stay_float32_with_float64_weights(rng):
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    w = [1.0, 2.0, 0.5]  # the buffers hold float64
    assert nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(x, np.array([0, 1, 2, 1])).dtype == np.float32
    t = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    assert nn.BCEWithLogitsLoss(weight=w, pos_weight=w)(x, t).dtype == np.float32
    assert nn.MultiMarginLoss(weight=w)(x, np.array([0, 1, 2, 1])).dtype == np.float32


def test_every_target_ignored_gives_nan_as_torch(torch):
    x = np.zeros((2, 3))
    target = np.array([-100, -100])
    with np.errstate(invalid="ignore"):  # 0 / 0
        assert np.isnan(F.cross_entropy(Tensor(x), target).item())
    assert np.isnan(torch.nn.functional.cross_entropy(torch.tensor(x), torch.from_numpy(target)).item())
    assert F.cross_entropy(Tensor(x), target, reduction="sum").item() == 0.0


def test_new_loss_options_pass_gradcheck(rng):
    x = Tensor(rng.standard_normal((3, 4, 2)), requires_grad=True)
    labels = rng.integers(0, 4, (3, 2))
    labels[0, 0] = -100
    w = rng.uniform(0.5, 2, 4)
    t = rng.uniform(0, 1, (3, 4, 2))
    for f in (
        lambda x: F.cross_entropy(x, labels, weight=w, label_smoothing=0.2),
        lambda x: F.cross_entropy(x, t, weight=w, reduction="none"),
        lambda x: F.binary_cross_entropy_with_logits(x, t, weight=w.reshape(4, 1), pos_weight=np.full(2, 3.0)),
        lambda x: F.multi_margin_loss(x[:, :, 0], labels[:, 1], p=2, weight=w),
    ):
        assert gradcheck(f, x)


def test_bad_loss_options_are_named():
    scores = Tensor(np.zeros((3, 4)))
    labels = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"cross_entropy: weight of shape \(3,\) does not fit 4 classes"):
        F.cross_entropy(scores, labels, weight=np.ones(3))
    with pytest.raises(TypeError, match=r"cross_entropy: weight must be an array .*\(pass reduction= by name\)"):
        F.cross_entropy(scores, labels, "sum")
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must lie in"):
        F.cross_entropy(scores, labels, label_smoothing=1.5)
    with pytest.raises(ValueError, match="multi_margin_loss: p must be 1 or 2, got 3"):
        F.multi_margin_loss(scores, labels, p=3)
    with pytest.raises(ValueError, match="MultiMarginLoss: p must be 1 or 2"):
        nn.MultiMarginLoss(p=0)
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(scores, np.zeros((3, 4)), pos_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"nll_loss: class indices must lie in \[0, 4\), got values from 0 to 7"):
        F.nll_loss(scores, np.array([0, 7, -100]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "option"), [("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
                                              ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {"delta": 2.0})])
def test_l1_smooth_l1_and_huber_match_torch_at_and_between_their_kinks(torch, rng, reduction, name, option):
    t = rng.standard_normal((4, 5))
    x = t + rng.standard_normal((4, 5)) * 2
    x[0, :3] = t[0, :3] + np.array([0.0, 0.5, -2.0])  # d = 0, and |d| on each threshold: the kinks
    _compare(
        torch, rng, x,
        lambda x: getattr(F, name)(x, t, reduction=reduction, **option),
        lambda x: getattr(torch.nn.functional, name)(x, torch.tensor(t), reduction=reduction, **option),
    )


def test_l1_smooth_l1_and_huber_modules_are_their_functions_with_pytorchs_arguments(rng):
    x, t = Tensor(rng.standard_normal((3, 2))), rng.standard_normal((3, 2))
    assert nn.L1Loss(reduction="sum")(x, t).item() == F.l1_loss(x, t, reduction="sum").item()
    assert nn.SmoothL1Loss(beta=0.3)(x, t).item() == F.smooth_l1_loss(x, t, beta=0.3).item()
    assert nn.HuberLoss("none", delta=0.7)(x, t).tolist() == F.huber_loss(x, t, "none", delta=0.7).tolist()
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be a number >= 0, got -1"):
        F.smooth_l1_loss(x, t, beta=-1)
    with pytest.raises(ValueError, match=r"l1_loss: input of shape \(3, 2\) and target of shape \(3,\) differ"):
        F.l1_loss(x, t[:, 0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (4,), (5, 4)])
def test_binary_cross_entropy_matches_torch_with_saturated_probabilities(torch, rng, reduction, weight_shape):
    x = rng.uniform(0.01, 0.99, (5, 4))
    x[0] = [0.0, 1.0, 1e-13, 1 - 1e-13]  # where PyTorch clamps the logs at -100 and x (1 - x) at 1e-12
    t = rng.uniform(0, 1, (5, 4))
    t[1] = [0.0, 1.0, 1.0, 0.0]
    t[2] = [1.0, 0.0, 0.0, 1.0]
    x[1:3, :] = x[0]
    weight = None if weight_shape is None else rng.uniform(0.2, 2, weight_shape)
    _compare(
        torch, rng, x,
        lambda x: F.binary_cross_entropy(x, t, weight=weight, reduction=reduction),
        lambda x: torch.nn.functional.binary_cross_entropy(
            x, torch.tensor(t), weight=None if weight is None else torch.tensor(weight), reduction=reduction),
    )


def test_binary_cross_entropy_second_derivative_matches_torch_and_sigmoid_of_logits(torch, rng):
    z, t = rng.standard_normal((3, 4)) * 3, rng.uniform(0, 1, (3, 4))
    zo, zt = Tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    ours = F.binary_cross_entropy(zo.sigmoid(), t, reduction="sum")
    theirs = torch.nn.functional.binary_cross_entropy(zt.sigmoid(), torch.tensor(t), reduction="sum")
    (g,) = grad(ours, [zo], create_graph=True)
    (gt,) = torch.autograd.grad(theirs, [zt], create_graph=True)
    np.testing.assert_allclose(g.data, gt.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(g.data, 1 / (1 + np.exp(-z)) - t, rtol=1e-10)  # sigmoid(z) - t, as from the logits
    (gg,) = grad((g * g).sum(), [zo])
    (ggt,) = torch.autograd.grad((gt * gt).sum(), [zt])
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(gg.data, 2 * (s - t) * s * (1 - s), rtol=1e-10)  # d(g^2)/dz, g = s - t
    np.testing.assert_allclose(gg.data, ggt.numpy(), rtol=1e-7)  # PyTorch's double backward is off by ~4e-9 here


def test_bce_loss_module_keeps_its_weight_as_a_buffer_and_refuses_non_probabilities(rng):
    x, t, w = rng.uniform(0, 1, (3, 2)), rng.uniform(0, 1, (3, 2)), rng.uniform(0.5, 2, 2)
    loss = nn.BCELoss(weight=w, reduction="sum")
    assert list(loss.state_dict()) == ["weight"]
    assert loss(Tensor(x), t).item() == F.binary_cross_entropy(Tensor(x), t, w, "sum").item()
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in \[0, 1\], got values "
                                         r"from -0.5 to 0.75 and NaN \(apply sigmoid first"):
        F.binary_cross_entropy(Tensor([-0.5, 0.75, np.nan]), np.zeros(3))


def test_binary_cross_entropy_target_gradient_matches_torch_where_the_input_saturates(torch, rng):
    x = np.array([0.3, 1e-13, 1 - 1e-13, 2e-13, 0.7])  # x (1 - x) <= 1e-12 in the middle three
    t = rng.uniform(0, 1, 5)
    xo, to = Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    F.binary_cross_entropy(xo, to, reduction="sum").backward()
    torch.nn.functional.binary_cross_entropy(xt, tt, reduction="sum").backward()
    np.testing.assert_allclose(to.grad.data, tt.grad.numpy(), rtol=1e-10)  # log(1 - x) - log(x), not 0
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("delta", [0.0, -1.0, float("nan")])
def test_huber_loss_refuses_a_delta_that_is_not_positive_naming_delta(delta):
    x, t = Tensor([1.0, -2.0]), Tensor([0.0, 0.0])
    with pytest.raises(ValueError, match=r"huber_loss: delta must be a number > 0, got"):
        F.huber_loss(x, t, delta=delta)  # delta = 0 gave a loss of 0 everywhere, -1 an error about "beta"


def test_huber_loss_with_zero_delta_is_refused_by_torch_too(torch):
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values for delta"):
        torch.nn.functional.huber_loss(torch.ones(2), torch.zeros(2), delta=0.0)
