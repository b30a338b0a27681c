"""RMSprop: divide the gradient by a running root mean square of its recent values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from autograd import Tensor

from .optimizer import Optimizer, ema_square_, lerp_


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), PyTorch's rule.

    With g the gradient plus ``weight_decay * x``:

        s <- alpha s + (1 - alpha) g^2
        centered:  a <- alpha a + (1 - alpha) g,  r = sqrt(s - a^2) + eps   (a variance, not a second moment)
        otherwise: r = sqrt(s) + eps
        momentum:  b <- momentum b + g / r,  x <- x - lr b
        otherwise: x <- x - lr g / r
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        self._require(group["lr"] >= 0, "learning rate", group["lr"])
        self._require(group["eps"] >= 0, "eps", group["eps"])
        self._require(0 <= group["alpha"] <= 1, "alpha", group["alpha"])
        self._require(group["momentum"] >= 0, "momentum", group["momentum"])
        self._require(group["weight_decay"] >= 0, "weight_decay", group["weight_decay"])

    def _update(self, x: np.ndarray, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state.update(step=0, square_avg=np.zeros_like(x))
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(x)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(x)
        state["step"] += 1
        square_avg = state["square_avg"]
        scratch = np.empty_like(x)
        ema_square_(square_avg, g, alpha, scratch)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, g, 1 - alpha, scratch)
            np.multiply(grad_avg, grad_avg, out=scratch)
            np.subtract(square_avg, scratch, out=scratch)
            rms = np.sqrt(scratch, out=scratch)
        else:
            rms = np.sqrt(square_avg, out=scratch)
        rms += group["eps"]
        step = np.divide(g, rms, out=scratch)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += step
            step = np.multiply(buf, group["lr"], out=scratch)
        else:
            step *= group["lr"]
        x -= step
