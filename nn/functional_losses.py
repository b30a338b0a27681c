"""The losses of ``nn.functional``, as compositions of autograd's primitives (re-exported there).

Argument order and semantics are PyTorch's: ``cross_entropy(input, target, weight=None,
ignore_index=-100, reduction="mean", label_smoothing=0.0)`` and so on. Class scores have the
classes on axis 1, (N, C) or (N, C, d1, ...) (a class score per pixel, as in segmentation), or come
unbatched as (C,); class targets then have the shape without the class axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor, where

from .functional import _as_tensor, log_softmax

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    """Per-sample losses -> their mean, their sum, or themselves."""
    _check_reduction(reduction, op)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}")


def _class_targets(scores: Tensor, target: Any, op: str, ignore_index: int | None = None, spatial: bool = True):
    """Validate class scores and integer labels in [0, C) (``ignore_index`` aside); return the labels.

    Scores (N, C) take labels (N,); unbatched scores (C,) one 0-d label; with ``spatial``, scores
    (N, C, d1, ...) take labels (N, d1, ...).
    """
    labels = target.data if isinstance(target, Tensor) else np.asarray(target)
    if scores.ndim == 0 or (scores.ndim > 2 and not spatial):
        raise ValueError(f"{op}: expected scores of shape (N, C) or (C,), got shape {scores.shape}")
    expected = scores.shape[:1] + scores.shape[2:] if scores.ndim > 1 else ()
    if labels.shape != expected:
        if scores.ndim == 1:
            raise ValueError(
                f"{op}: expected scores of shape (N, C), got shape {scores.shape} with a target of shape "
                f"{labels.shape} (unbatched scores (C,) take one class index, a 0-d target)"
            )
        raise ValueError(
            f"{op}: target of shape {labels.shape} does not fit scores {scores.shape}; expected {expected}"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{op}: target must hold integer class indices, got dtype {labels.dtype}")
    c = _num_classes(scores)
    valid = labels if ignore_index is None else labels[labels != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= c):
        raise ValueError(f"{op}: class indices must lie in [0, {c}), got values from {valid.min()} to {valid.max()}")
    return labels


def _num_classes(scores: Tensor) -> int:
    return scores.shape[1] if scores.ndim > 1 else scores.shape[0]


def _classes_last(scores: Tensor) -> Tensor:
    """Scores with the classes on axis 1 (or unbatched (C,)) as rows (M, C), in the labels' flat order."""
    if scores.ndim == 2:
        return scores
    if scores.ndim == 1:
        return scores.reshape(1, -1)
    return scores.permute(0, *range(2, scores.ndim), 1).reshape(-1, scores.shape[1])


def _pick(rows: Tensor, labels: np.ndarray) -> Tensor:
    """rows[i, labels[i]] for every row i: shape (M,)."""
    return rows[np.arange(len(labels)), labels]


def _class_weights(weight: Any, scores: Tensor, op: str) -> np.ndarray | None:
    """A rescaling weight per class, (C,), as a constant of the scores' dtype."""
    if weight is None:
        return None
    if isinstance(weight, str):
        raise TypeError(f"{op}: weight must be an array of per-class weights, got {weight!r} (pass reduction= by name)")
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    c = _num_classes(scores)
    if w.shape != (c,):
        raise ValueError(f"{op}: weight of shape {w.shape} does not fit {c} classes of scores {scores.shape}")
    return w.astype(scores.dtype)


def _negated_mean(likelihood: Tensor, denominator: float, reduction: str, op: str) -> Tensor:
    """The loss -likelihood per element, reduced as `_reduce` does, but for the mean: PyTorch's weighted
    one, the sum divided by ``denominator``, the sign going into the divisor (sum / -denominator)."""
    if reduction != "mean":
        return _reduce(-likelihood, reduction, op)
    if likelihood.size == 0:
        raise ValueError(f"{op}: mean over an empty axis of shape {likelihood.shape}")
    return likelihood.sum() / -float(denominator)


def _nll(log_probs: Tensor, target: Any, weight: Any, ignore_index: int, reduction: str, op: str,
         label_smoothing: float = 0.0) -> Tensor:
    """-w_y log p_y per element (0 where the target is ``ignore_index``); the mean divides by sum of w_y.

    With label smoothing eps the target is (1 - eps) on the labelled class plus eps / C on every
    class, which adds -(eps / C) sum_c w_c log p_c to each kept element.
    """
    labels = _class_targets(log_probs, target, op, ignore_index)
    w_class = _class_weights(weight, log_probs, op)
    rows = _classes_last(log_probs)
    flat = labels.reshape(-1)
    kept = flat != ignore_index
    everyone = w_class is None and kept.all()  # then every w_y is 1, and no product is needed
    safe = flat if everyone else np.where(kept, flat, 0)
    w = kept.astype(rows.dtype) if w_class is None else np.where(kept, w_class[safe], 0).astype(rows.dtype)
    likelihood = _pick(rows, safe) if everyone else _pick(rows, safe) * w  # w_y log p_y
    if label_smoothing:
        spread = rows.sum(axis=1) if w_class is None else (rows * w_class).sum(axis=1)
        smoothing = (kept * (label_smoothing / rows.shape[1])).astype(rows.dtype)
        likelihood = likelihood * (1 - label_smoothing) + spread * smoothing
    if likelihood.shape != labels.shape:
        likelihood = likelihood.reshape(labels.shape)
    return _negated_mean(likelihood, w.sum(), reduction, op)


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,  # noqa: A002 (PyTorch's name)
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood -log_probs[i, target[i]], as PyTorch's nll_loss.

    input: log-probabilities (N, C), (N, C, d1, ...) or (C,) (e.g. from ``log_softmax``); target:
    integer classes (N,), (N, d1, ...) or (). ``weight`` (C,) scales each class's terms, and the mean
    is then sum_i w_{y_i} l_i / sum_i w_{y_i}; targets equal to ``ignore_index`` add nothing,
    neither to the sum nor to the count.
    """
    return _nll(input, target, weight, ignore_index, reduction, "nll_loss")


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits against class indices or class probabilities, as PyTorch's.

    input: logits (N, C), (N, C, d1, ...) or (C,). target: integer classes of the input's shape
    without the class axis (then ``weight``, ``ignore_index`` and the weighted mean are nll_loss's),
    or floating probabilities of the input's shape: l = -sum_c w_c t_c log softmax(x)_c, averaged
    over the N * d1 * ... elements. ``label_smoothing`` eps mixes the target with the uniform
    distribution: (1 - eps) t + eps / C. Computed as log_softmax then a weighted pick, so it stays
    finite for any finite logits. ``reduction``: "mean" (a 0-d Tensor), "sum", or "none" (one loss
    per element, the target's shape). A class index outside [0, C), a target that does not fit
    the input, or an unknown ``reduction`` raises ``ValueError`` naming cross_entropy.
    """
    op = "cross_entropy"
    if isinstance(label_smoothing, bool) or not 0 <= label_smoothing <= 1:
        raise ValueError(f"{op}: label_smoothing must lie in [0, 1], got {label_smoothing!r}")
    log_probs = log_softmax(input, axis=1 if input.ndim > 1 else 0)
    probs = target.data if isinstance(target, Tensor) else np.asarray(target)
    if probs.dtype.kind != "f" or probs.shape != input.shape:
        return _nll(log_probs, target, weight, ignore_index, reduction, op, label_smoothing)
    w_class = _class_weights(weight, input, op)
    t = _as_tensor(target)
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / _num_classes(input)
    terms = log_probs * t
    if w_class is not None:
        terms = terms * w_class.reshape((-1,) + (1,) * max(input.ndim - 2, 0))
    return _reduce(-terms.sum(axis=1 if input.ndim > 1 else 0), reduction, op)


def _hinge(scores: Tensor, target: Any, margin: float, op: str, p: int = 1, weight: Any = None) -> Tensor:
    """sum over j != y of w_y max(0, margin - s_y + s_j)^p per sample: (N,) for (N, C), () for (C,)."""
    labels = _class_targets(scores, target, op, spatial=False)
    rows, flat = _classes_last(scores), labels.reshape(-1)
    correct = _pick(rows, flat).reshape(-1, 1)
    wrong = np.ones(rows.shape, dtype=bool)
    wrong[np.arange(len(flat)), flat] = False
    hinge = where(wrong, (rows - correct + margin).relu(), 0.0)
    per_sample = (hinge * hinge if p == 2 else hinge).sum(axis=1)
    w_class = _class_weights(weight, scores, op)
    if w_class is not None:
        per_sample = per_sample * w_class[flat]
    return per_sample if per_sample.shape == labels.shape else per_sample.reshape(labels.shape)


def svm_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The lecture's multiclass SVM loss: L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin)."""
    return _reduce(_hinge(scores, target, margin, "svm_loss"), reduction, "svm_loss")


def multi_margin_loss(input: Tensor, target: Any, p: int = 1, margin: float = 1.0,  # noqa: A002
                      weight: Any = None, reduction: str = "mean") -> Tensor:
    """PyTorch's multi-class hinge loss: sum_{j != y} w_y max(0, margin - x_y + x_j)^p / C per sample.

    input (N, C) or (C,); ``p`` is 1 or 2; ``weight`` (C,) scales the terms of each target class.
    """
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p!r}")
    per_sample = _hinge(input, target, margin, "multi_margin_loss", p, weight) * (1.0 / _num_classes(input))
    return _reduce(per_sample, reduction, "multi_margin_loss")


def _same_shape(x: Tensor, target: Any, op: str) -> Tensor:
    target = _as_tensor(target)
    if target.shape != x.shape:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {target.shape} differ")
    return target


def mse_loss(x: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """(x - target)^2 elementwise, reduced over every element."""
    d = x - _same_shape(x, target, "mse_loss")
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(x: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """|x - target| elementwise, reduced over every element; its gradient at x = target is 0, as PyTorch's."""
    return _reduce((x - _same_shape(x, target, "l1_loss")).abs(), reduction, "l1_loss")


def _smooth_abs(x: Tensor, target: Any, beta: float, op: str) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = x - target: |d| with its kink at 0 rounded
    into a parabola that meets it, value and slope, at |d| = beta; beta = 0 leaves |d|."""
    if isinstance(beta, bool) or not beta >= 0:
        raise ValueError(f"{op}: beta must be a number >= 0, got {beta!r}")
    d = x - _same_shape(x, target, op)
    if beta == 0:
        return d.abs()
    return where(d.abs().data < beta, d * d * (0.5 / beta), d.abs() - 0.5 * beta)


def smooth_l1_loss(x: Tensor, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """PyTorch's smooth L1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, for d = x - target."""
    return _reduce(_smooth_abs(x, target, beta, "smooth_l1_loss"), reduction, "smooth_l1_loss")


def huber_loss(x: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """PyTorch's Huber loss: 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta); delta * smooth L1."""
    if isinstance(delta, bool) or not delta > 0:  # delta = 0 would make the loss 0 everywhere (PyTorch refuses it)
        raise ValueError(f"huber_loss: delta must be a number > 0, got {delta!r}")
    return _reduce(_smooth_abs(x, target, delta, "huber_loss") * delta, reduction, "huber_loss")


def _elementwise_weight(weight: Any, x: Tensor, name: str, op: str) -> Tensor:
    """A weight that broadcasts to x's shape: a Tensor that requires grad as given (it learns), any
    other as a constant of x's dtype (so a float64 buffer leaves a float32 loss float32)."""
    if isinstance(weight, Tensor) and weight.requires_grad:
        w = weight
    else:
        w = Tensor(np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=x.dtype))
    try:
        fits = np.broadcast_shapes(w.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {w.shape} does not broadcast to the input's shape {x.shape}")
    return w


_BCE_EPS = float(np.float32(1e-12))  # PyTorch's floor on x (1 - x) in BCE's gradient, a float32 constant


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002 (PyTorch's name)
                         reduction: str = "mean") -> Tensor:
    """-w [t log x + (1 - t) log(1 - x)] elementwise, for probabilities x in [0, 1], as PyTorch's.

    As PyTorch, each log is clamped at -100, so x = 0 or 1 (a saturated sigmoid) gives a finite loss, and
    where x (1 - x) <= 1e-12 the gradient is w (x - t) / 1e-12, not the infinite t / x: there the loss is its
    value plus the line (x - x0) (x0 - t) / 1e-12 through the current x0, exact to first order only.
    ``binary_cross_entropy_with_logits`` on the logits needs no clamp and is the stable choice.
    """
    op = "binary_cross_entropy"
    x = _as_tensor(input)
    t = _same_shape(x, target, op)
    p = x.data
    if p.size and not ((p >= 0) & (p <= 1)).all():
        raise ValueError(f"{op}: input must hold probabilities in [0, 1], got values from {np.nanmin(p)} to "
                         f"{np.nanmax(p)}{' and NaN' if np.isnan(p).any() else ''} (apply sigmoid first, or use "
                         "binary_cross_entropy_with_logits)")
    inner = p * (1 - p) > _BCE_EPS
    safe = where(inner, x, 0.5)  # no log sees 0 where its value is not used, so no gradient is 0 * inf
    loss = -(t * safe.log() + (1 - t) * (1 - safe).log())  # inner: both logs above log(1e-12) > -100
    if not inner.all():
        with np.errstate(divide="ignore"):  # the clamped logs, constants: t keeps its gradient, their difference
            logs = [np.maximum(np.log(q), -100).astype(loss.dtype) for q in (p, 1 - p)]
        x0 = x.detach()
        edge = -(t * logs[0] + (1 - t) * logs[1]) + (x - x0) * ((x0 - t.detach()) * (1 / _BCE_EPS))
        loss = where(inner, loss, edge)
    if weight is not None:
        loss = loss * _elementwise_weight(weight, x, "weight", op)
    return _reduce(loss, reduction, op)


def binary_cross_entropy_with_logits(x: Tensor, target: Any, weight: Any = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """-w [p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] elementwise, from logits x, as PyTorch's.

    ``weight`` broadcasts to x; ``pos_weight`` p (e.g. one per class, on the last axis) weighs the
    positive term. With softplus(-x) = -log sigmoid(x) and log(1 - sigmoid(x)) = -x - softplus(-x)
    the loss is (1 - t) x + (1 + (p - 1) t) softplus(-x), and softplus(-x) = relu(-x) +
    log(1 + exp(-|x|)) never overflows. The loss is smooth at x = 0, and so is this form, to every
    order: |x| = s x with the constant sign s = 1 at 0, so relu(-x) has slope 0 there and the log
    term carries the whole curve, slope -sigmoid(0) and curvature sigmoid'(0) = 1/4.
    """
    op = "binary_cross_entropy_with_logits"
    t = _same_shape(x, target, op)
    sign = np.where(x.data < 0, -1, 1).astype(x.dtype)
    softplus_neg = (-x).relu() + ((x * -sign).exp() + 1).log()
    if pos_weight is not None:
        softplus_neg = softplus_neg * ((_elementwise_weight(pos_weight, x, "pos_weight", op) - 1) * t + 1)
    loss = x * (1 - t) + softplus_neg
    if weight is not None:
        loss = loss * _elementwise_weight(weight, x, "weight", op)
    return _reduce(loss, reduction, op)
