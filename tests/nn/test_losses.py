"""Losses: the lecture's SVM numbers, PyTorch in float64, stability, reductions and target checks."""

import numpy as np
import pytest

import nn
import nn.functional as F
from autograd import Tensor
from autograd.testing import gradcheck

LECTURE_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LECTURE_LABELS = np.array([0, 1, 2])


def test_svm_loss_of_the_lecture_examples():
    scores = Tensor(LECTURE_SCORES)
    per_example = nn.SVMLoss(reduction="none")(scores, LECTURE_LABELS)
    np.testing.assert_allclose(per_example.data, [2.9, 0.0, 12.9], atol=1e-12)
    assert round(nn.SVMLoss()(scores, LECTURE_LABELS).item(), 2) == 5.27
    np.testing.assert_allclose(nn.SVMLoss(reduction="sum")(scores, LECTURE_LABELS).item(), 15.8)


def test_svm_loss_gradient_counts_the_violated_margins():
    # dL_i/ds_j = 1 for each wrong class j inside the margin; dL_i/ds_y = -(number of such classes)
    scores = Tensor(LECTURE_SCORES, requires_grad=True)
    nn.SVMLoss(reduction="sum")(scores, LECTURE_LABELS).backward()
    np.testing.assert_array_equal(scores.grad.data, [[-1, 1, 0], [0, 0, 0], [1, 1, -2]])


def test_multi_margin_loss_is_the_svm_loss_over_the_number_of_classes():
    scores = Tensor(LECTURE_SCORES)
    np.testing.assert_allclose(
        nn.MultiMarginLoss(reduction="none")(scores, LECTURE_LABELS).data, np.array([2.9, 0.0, 12.9]) / 3
    )


def _targets(rng, n, c):
    return rng.integers(0, c, n)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "ours, theirs, kind",
    [
        (nn.CrossEntropyLoss, "CrossEntropyLoss", "classes"),
        (nn.NLLLoss, "NLLLoss", "classes"),
        (nn.MultiMarginLoss, "MultiMarginLoss", "classes"),
        (nn.MSELoss, "MSELoss", "values"),
        (nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", "probabilities"),
    ],
)
def test_loss_matches_torch(torch, rng, reduction, ours, theirs, kind):
    x = rng.standard_normal((6, 4)) * 3
    x[0, 0] = 0.0  # a logit of exactly 0: the hinge's kink, and BCE's relu(-x) and |x|
    if kind == "classes":
        target = _targets(rng, 6, 4)
        target_t = torch.from_numpy(target)
    else:
        target = rng.uniform(0, 1, (6, 4)) if kind == "probabilities" else rng.standard_normal((6, 4))
        target_t = torch.from_numpy(target)
    xo, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = ours(reduction=reduction)(xo, target)
    ref = getattr(torch.nn, theirs)(reduction=reduction)(xt, target_t)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    upstream = rng.standard_normal(out.shape)
    out.backward(Tensor(upstream))
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_multi_margin_loss_with_another_margin_matches_torch(torch, rng):
    x, target = rng.standard_normal((5, 3)), _targets(rng, 5, 3)
    ours = nn.MultiMarginLoss(margin=0.3)(Tensor(x), target).item()
    theirs = torch.nn.MultiMarginLoss(margin=0.3)(torch.tensor(x), torch.from_numpy(target)).item()
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_bce_with_logits_at_zero_has_the_gradient_sigmoid_minus_target():
    x = Tensor(np.zeros(3), requires_grad=True)
    t = np.array([0.0, 0.25, 1.0])
    F.binary_cross_entropy_with_logits(x, t, reduction="sum").backward()
    np.testing.assert_allclose(x.grad.data, 0.5 - t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_stay_finite_for_huge_logits(dtype):
    logits = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype), requires_grad=True)
    target = np.array([1, 0])
    loss = F.cross_entropy(logits, target, reduction="none")
    np.testing.assert_allclose(loss.data, [2e4, 2e4 + np.log(2)], rtol=1e-6)
    assert loss.dtype == dtype
    loss.sum().backward()
    assert np.isfinite(logits.grad.data).all()
    bce = F.binary_cross_entropy_with_logits(logits, np.ones((2, 3), dtype), reduction="none")
    np.testing.assert_allclose(bce.data, [[0.0, 1e4, np.log(2)], [1e4, 0.0, 0.0]], rtol=1e-6)


def test_cross_entropy_takes_integer_tensor_targets(torch, rng):
    x = rng.standard_normal((4, 3))
    target = _targets(rng, 4, 3)
    ours = F.cross_entropy(Tensor(x), Tensor(target)).item()
    assert ours == pytest.approx(torch.nn.functional.cross_entropy(torch.tensor(x), torch.from_numpy(target)).item())


def test_losses_pass_gradcheck(rng):
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    target, t = _targets(rng, 3, 4), rng.uniform(0, 1, (3, 4))
    for f in (lambda x: F.cross_entropy(x, target), lambda x: F.svm_loss(x, target, reduction="none"),
              lambda x: F.multi_margin_loss(x, target, reduction="sum"), lambda x: F.nll_loss(x, target),
              lambda x: F.mse_loss(x, t), lambda x: F.binary_cross_entropy_with_logits(x, t, reduction="none")):
        assert gradcheck(f, x)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss, F.svm_loss, F.multi_margin_loss])
def test_class_targets_are_checked(loss):
    scores = Tensor(np.zeros((3, 4)))
    name = loss.__name__
    with pytest.raises(ValueError, match=rf"{name}: target of shape \(2,\) does not fit scores \(3, 4\)"):
        loss(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match=f"{name}: target must hold integer class indices, got dtype float64"):
        loss(scores, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=rf"{name}: class indices must lie in \[0, 4\)"):
        loss(scores, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=rf"{name}: class indices must lie in \[0, 4\)"):
        loss(scores, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=rf"{name}: expected scores of shape \(N, C\)"):
        loss(Tensor(np.zeros(4)), np.array([0]))


def test_elementwise_losses_need_matching_shapes():
    with pytest.raises(ValueError, match=r"mse_loss: input of shape \(3,\) and target of shape \(3, 1\)"):
        F.mse_loss(Tensor(np.zeros(3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros(3)), np.zeros(2))


def test_bad_reduction_is_rejected_early():
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be one of"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="mse_loss: reduction"):
        F.mse_loss(Tensor(np.zeros(2)), np.zeros(2), reduction="max")
    assert repr(nn.SVMLoss(margin=2.0, reduction="sum")) == "SVMLoss(margin=2.0, reduction='sum')"


def _ops_behind(t: Tensor) -> list[str]:
    """The names of the op nodes between ``t`` and the leaves, from ``t`` back."""
    names, stack = [], [t.grad_fn]
    while stack:
        node = stack.pop()
        names.append(type(node).__name__)
        stack += [p for p in node.next if p is not None and not isinstance(p, Tensor)]
    return names


def test_the_plain_mean_nll_is_pick_sum_divide_with_no_pass_for_the_sign_or_unit_weights(rng):
    # -(1/n) sum_i log p_{i, y_i}: without class weights or ignored targets every w_y is 1
    log_probs = Tensor(np.log(rng.dirichlet(np.ones(5), size=8)), requires_grad=True)
    target = rng.integers(0, 5, 8)
    loss = F.nll_loss(log_probs, target)
    assert sorted(_ops_behind(loss)) == ["Div", "GetItem", "Sum"]
    np.testing.assert_allclose(loss.item(), -log_probs.data[np.arange(8), target].mean(), rtol=1e-13)
    loss.backward()
    expected = np.zeros((8, 5))
    expected[np.arange(8), target] = -1 / 8
    np.testing.assert_allclose(log_probs.grad.data, expected, rtol=1e-13)
