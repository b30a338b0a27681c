"""Learning-rate schedules: objects that rewrite each param group's ``lr`` once per epoch."""

from __future__ import annotations

import math
import numbers
import types
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from .optimizer import Optimizer


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and sets every group's lr to ``get_lr()``.

    The constructor records each group's starting lr as ``initial_lr`` and takes the first step
    (epoch 0), as PyTorch does.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def get_lr(self) -> list[float]:
        """The groups' learning rates for epoch ``last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not define its schedule")

    def step(self) -> None:
        """Move to the next epoch and set its learning rates."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()``, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (PyTorch's layout)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        unknown = set(state_dict) - set(self.state_dict())
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unknown keys {sorted(unknown)}")
        self.__dict__.update(state_dict)


class _MultiplicativeLR(LRScheduler):
    """A schedule that multiplies each group's current lr by a factor at each epoch (PyTorch's
    chainable form), so changes made to a group's lr in between carry on."""

    def _factor(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not define its factor")

    def get_lr(self) -> list[float]:
        factor = 1.0 if self.last_epoch == 0 else self._factor()
        return [group["lr"] * factor for group in self.optimizer.param_groups]


def _check_positive_int(value: Any, name: str, op: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


class StepLR(_MultiplicativeLR):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    lr(epoch) = initial_lr * gamma ** (epoch // step_size), applied as one multiplication at each
    boundary.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _check_positive_int(step_size, "step_size", "StepLR")
        self.gamma = gamma
        super().__init__(optimizer)

    def _factor(self) -> float:
        return self.gamma if self.last_epoch % self.step_size == 0 else 1.0


class MultiStepLR(_MultiplicativeLR):
    """Multiply the learning rate by ``gamma`` at each epoch in ``milestones`` (by gamma^k at a
    milestone listed k times): lr(epoch) = initial_lr * gamma ** (milestones passed)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        milestones = list(milestones)
        for m in milestones:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 0:
                raise ValueError(f"MultiStepLR: milestones must be ints >= 0, got {milestones!r}")
        self.milestones = Counter(int(m) for m in sorted(milestones))
        self.gamma = gamma
        super().__init__(optimizer)

    def _factor(self) -> float:
        return self.gamma ** self.milestones[self.last_epoch] if self.last_epoch in self.milestones else 1.0


class ExponentialLR(_MultiplicativeLR):
    """Multiply the learning rate by ``gamma`` every epoch: lr(epoch) = initial_lr * gamma ** epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def _factor(self) -> float:
        return self.gamma


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from initial_lr to ``eta_min`` along half a cosine over ``T_max`` epochs.

    lr(e) = eta_min + (initial_lr - eta_min) (1 + cos(pi e / T_max)) / 2, then back up again (SGDR
    without restarts), computed as PyTorch does, from the previous epoch's lr: each step multiplies
    lr - eta_min by the ratio of consecutive (1 + cos) terms, and the step that leaves the bottom
    of the cosine, where that ratio would divide by 0, adds (initial_lr - eta_min)(1 - cos(pi / T_max)) / 2.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _check_positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        groups, e, t, low = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return [group["lr"] for group in groups]
        if (e - 1 - t) % (2 * t) == 0:
            return [group["lr"] + (base - low) * (1 - math.cos(math.pi / t)) / 2 for base, group in
                    zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
        return [ratio * (group["lr"] - low) + low for group in groups]


class LinearLR(LRScheduler):
    """lr(epoch) = initial_lr * f(epoch), f going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs and staying there: with ``start_factor`` < 1, a warm-up.

    Applied, as PyTorch's, as the ratio f(epoch) / f(epoch - 1) to each group's current lr, so changes
    made to a group's lr in between carry on.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must lie in (0, 1] and end_factor in [0, 1], got "
                             f"{start_factor!r} and {end_factor!r}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = _check_positive_int(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        e, span = self.last_epoch, self.end_factor - self.start_factor
        if e == 0:
            factor = self.start_factor
        elif e > self.total_iters:
            factor = 1.0
        else:  # f(e) / f(e - 1) with f(e) = start + span * e / total_iters
            factor = 1 + span / (self.total_iters * self.start_factor + (e - 1) * span)
        return [group["lr"] * factor for group in self.optimizer.param_groups]


class LambdaLR(LRScheduler):
    """lr(epoch) = initial_lr * lr_lambda(epoch), with one function for every group or one per group.

    As PyTorch, the state dict keeps the attributes of callable objects but not plain functions.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]]) -> None:
        groups = optimizer.param_groups if isinstance(optimizer, Optimizer) else ()
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(groups):
                raise ValueError(f"LambdaLR: {len(lr_lambda)} lr_lambdas for {len(groups)} param groups")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(groups)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(fn).__name__}")
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict({**state, "lr_lambdas": self.lr_lambdas})
        for fn, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                fn.__dict__.update(attributes)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving, as PyTorch.

    ``step(metric)`` once per epoch. A metric improves when it beats the best so far by more than
    ``threshold``: below best * (1 - threshold) (``threshold_mode="rel"``) or best - threshold
    (``"abs"``) in ``mode="min"``, above best * (1 + threshold) or best + threshold in ``"max"``. After more
    than ``patience`` epochs without improvement each group's lr becomes max(lr * factor, min_lr)
    (unchanged if that moves it by eps or less), and ``cooldown`` epochs follow in which bad epochs
    are not counted. ``min_lr`` is one number or one per group.
    """

    def __init__(
        self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
        threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
        min_lr: float | list[float] = 0.0, eps: float = 1e-8,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau needs an Optimizer, got {type(optimizer).__name__}")
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must lie in [0, 1), got {factor!r}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs', "
                f"got {mode!r} and {threshold_mode!r}"
            )
        groups = optimizer.param_groups
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(groups)
        if len(min_lrs) != len(groups):
            raise ValueError(f"ReduceLROnPlateau: {len(min_lrs)} min_lrs for {len(groups)} param groups")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.min_lrs, self.eps = threshold_mode, cooldown, min_lrs, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [group["lr"] for group in groups]

    def _is_better(self, value: float) -> bool:
        best, rel, th = self.best, self.threshold_mode == "rel", self.threshold
        if self.mode == "min":
            return value < (best * (1 - th) if rel else best - th)
        return value > (best * (1 + th) if rel else best + th)

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the learning rates if it has plateaued."""
        value = float(metrics)
        self.last_epoch += 1
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(group["lr"] * self.factor, low)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
