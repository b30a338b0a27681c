"""Adam: adaptive moment estimation."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from autograd import Tensor

from .optimizer import Optimizer, ema_square_, lerp_


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), PyTorch's rule: weight decay is an L2 term added to the gradient.

    With g the gradient plus ``weight_decay * x`` and t the step count (from 1):

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        x <- x - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The two divisions undo the bias of m and v towards their zero start. With
    ``decoupled_weight_decay=True`` (AdamW) the decay shrinks x itself instead,
    x <- (1 - lr weight_decay) x before the step, and g is the plain gradient.
    """

    _added_later = ("decoupled_weight_decay",)

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        self._require(group["lr"] >= 0, "learning rate", group["lr"])
        self._require(group["eps"] >= 0, "eps", group["eps"])
        self._require(len(group["betas"]) == 2 and all(0 <= b < 1 for b in group["betas"]), "betas", group["betas"])
        self._require(group["weight_decay"] >= 0, "weight_decay", group["weight_decay"])

    def _update(self, x: np.ndarray, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(x), exp_avg_sq=np.zeros_like(x))
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        scratch = np.empty_like(x)
        lerp_(m, g, 1 - beta1, scratch)
        ema_square_(v, g, beta2, scratch)
        denom = np.sqrt(v, out=scratch)
        denom /= math.sqrt(1 - beta2**t)
        denom += group["eps"]
        step = np.divide(m, denom, out=scratch)
        step *= group["lr"] / (1 - beta1**t)
        x -= step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), PyTorch's defaults.

    x <- (1 - lr weight_decay) x, then Adam's step on the plain gradient: the decay is not divided
    by sqrt(v), so every weight decays at the same rate whatever its gradient's scale.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay=True)
