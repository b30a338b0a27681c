"""Losses as modules: ``loss_fn(scores, target)``, reduced by ``reduction`` = "mean" | "sum" | "none".

Constructor arguments are PyTorch's. Class weights (``weight``, ``pos_weight``) are buffers, as in
PyTorch, so they appear in the state dict under the same keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor

from . import functional as F
from .functional_losses import _check_reduction
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        _check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


def _buffer(value: Any) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(np.asarray(value))


class _WeightedLoss(_Loss):
    """A loss with an optional ``weight`` buffer (per class, or per element for BCE)."""

    def __init__(self, weight: Any = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits (N, C[, d1, ...]) against class indices or probabilities.

    See ``functional.cross_entropy`` for ``weight``, ``ignore_index`` and ``label_smoothing``.
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C[, d1, ...]) against class indices."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, log_probs: Tensor, target: Any) -> Tensor:
        return F.nll_loss(log_probs, target, self.weight, self.ignore_index, self.reduction)


class SVMLoss(_Loss):
    """The lecture's multiclass SVM (hinge) loss: sum over wrong classes j of max(0, s_j - s_y + margin)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.svm_loss(scores, target, self.margin, self.reduction)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"margin={self.margin}", super().extra_repr()]))


class MultiMarginLoss(_WeightedLoss):
    """PyTorch's MultiMarginLoss: sum_{j != y} w_y max(0, margin - x_y + x_j)^p over the number of classes."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None, reduction: str = "mean"):
        super().__init__(weight, reduction)
        if p not in (1, 2) or isinstance(p, bool):
            raise ValueError(f"MultiMarginLoss: p must be 1 or 2, got {p!r}")
        self.p, self.margin = p, margin

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return F.multi_margin_loss(scores, target, self.p, self.margin, self.weight, self.reduction)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [f"p={self.p}, margin={self.margin}", super().extra_repr()]))


class MSELoss(_Loss):
    """Squared error (x - target)^2 over every element."""

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.mse_loss(x, target, self.reduction)


class L1Loss(_Loss):
    """Absolute error |x - target| over every element."""

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.l1_loss(x, target, self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = x - target (see ``functional.smooth_l1_loss``)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.smooth_l1_loss(x, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta), for d = x - target."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.huber_loss(x, target, self.reduction, self.delta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in [0, 1] (after a sigmoid) against targets in [0, 1].

    ``weight`` broadcasts to the input. See ``functional.binary_cross_entropy`` for the clamping at 0 and 1;
    ``BCEWithLogitsLoss`` on the logits is the stable form.
    """

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy(x, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of logits against targets in [0, 1], computed stably.

    ``weight`` broadcasts to the input; ``pos_weight`` weighs the positive term (one per class).
    """

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, x: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(x, target, self.weight, self.reduction, self.pos_weight)


__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "MSELoss", "MultiMarginLoss", "NLLLoss",
    "SVMLoss", "SmoothL1Loss",
]
