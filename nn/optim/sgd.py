"""Stochastic gradient descent, with optional (Nesterov) momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from autograd import Tensor

from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule.

    With g the gradient plus ``weight_decay * x``:

        b <- momentum b + (1 - dampening) g        (b = g at the first step)
        d = g + momentum b  if nesterov  else  b   (d = g without momentum)
        x <- x - lr d
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        self._require(group["lr"] >= 0, "learning rate", group["lr"])
        self._require(group["momentum"] >= 0, "momentum", group["momentum"])
        self._require(group["weight_decay"] >= 0, "weight_decay", group["weight_decay"])
        self._require(
            not group["nesterov"] or (group["momentum"] > 0 and group["dampening"] == 0),
            "nesterov (it needs momentum > 0 and dampening = 0); momentum, dampening",
            (group["momentum"], group["dampening"]),
        )

    def _update(self, x: np.ndarray, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        momentum, dampening = group["momentum"], group["dampening"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * buf if group["nesterov"] else buf
        x -= group["lr"] * g
