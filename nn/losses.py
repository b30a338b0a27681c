"""Losses as modules: ``loss_fn(scores, target)``, reduced by ``reduction`` = "mean" | "sum" | "none"."""

from __future__ import annotations

from typing import Any

from autograd import Tensor

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against class indices (N,)."""

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) against class indices (N,)."""

    def forward(self, log_probs: Tensor, target: Any) -> Tensor:
        return F.nll_loss(log_probs, target, self.reduction)


class _MarginLoss(_Loss):
    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"margin={self.margin}", super().extra_repr()]))


class SVMLoss(_MarginLoss):
    """The lecture's multiclass SVM (hinge) loss: sum over wrong classes j of max(0, s_j - s_y + margin)."""

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.svm_loss(scores, target, self.margin, self.reduction)


class MultiMarginLoss(_MarginLoss):
    """PyTorch's MultiMarginLoss: the SVM loss divided by the number of classes."""

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.multi_margin_loss(scores, target, self.margin, self.reduction)


class MSELoss(_Loss):
    """Squared error (x - target)^2 over every element."""

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.mse_loss(x, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits against targets in [0, 1], computed stably."""

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(x, target, self.reduction)


__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "MultiMarginLoss", "NLLLoss", "SVMLoss"]
