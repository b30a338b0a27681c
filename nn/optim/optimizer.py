"""The Optimizer base class: parameter groups, per-parameter state and their state dict.

Subclasses write one rule, ``_update(x, g, group, state)``, that changes the parameter's array
``x`` in place from its gradient ``g`` (an ndarray of the same shape and dtype, weight decay
already added). The base class walks the groups, skips parameters without a gradient, and never
touches ``.grad``. State dicts use PyTorch's layout, with parameters replaced by their index in
the order the groups list them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from autograd import Tensor, enable_grad, no_grad


class Optimizer:
    """Base class of all optimizers.

    ``params``: an iterable of Tensors, or of dicts ``{"params": [...], "lr": ..., ...}`` (param
    groups) whose keys override ``defaults`` for their parameters.
    """

    # hyperparameters newer than some saved state dicts: a saved group without one takes the default
    _added_later: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        if isinstance(params, (Tensor, dict)):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or of dicts, "
                f"got a single {type(params).__name__}"
            )
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join([*lines, ")"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters; keys it does not set take the optimizer's defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(f"{name}: params must be an ordered collection (a set's order varies between runs)")
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {p for group in self.param_groups for p in group["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name} can't optimize a non-leaf Tensor (made by {type(p.grad_fn).__name__})")
            if p in seen:
                raise ValueError(f"{name}: a parameter of shape {p.shape} appears more than once in the param groups")
            seen.add(p)
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError for hyperparameters outside their domain (each optimizer its own)."""

    def _require(self, ok: bool, what: str, value: Any) -> None:
        if not ok:
            raise ValueError(f"{type(self).__name__}: invalid {what}: {value!r}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``.grad = None`` (or a fresh zero Tensor with ``set_to_none=False``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else Tensor(np.zeros_like(p.grad.data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` (re-run with grad) if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                decay = group.get("weight_decay", 0)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if not p.data.flags.writeable:  # e.g. data from a read-only buffer: update a copy
                        p.data = p.data.copy()
                    x = p.data
                    g = np.asarray(p.grad.data, dtype=x.dtype)
                    if g.shape != x.shape:
                        raise ValueError(
                            f"{type(self).__name__}.step: gradient of shape {g.shape} "
                            f"for a parameter of shape {x.shape}"
                        )
                    if decay and group.get("decoupled_weight_decay", False):
                        x *= 1 - group["lr"] * decay  # AdamW: x shrinks by itself, outside the adaptive step
                    elif decay:
                        g = x * decay + g  # L2 penalty (decay / 2) |x|^2 adds decay * x; a new array
                    self._update(x, g, group, self.state.setdefault(p, {}))
                    # an in-place change like any other: p's version moves on, so a backward through a graph
                    # that saved p before this step raises (as PyTorch's) instead of using the new values
                    p._bump_version()
        return loss

    def _update(self, x: np.ndarray, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define its update rule")

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{hyperparameters..., "params": [index]}]}``.

        Arrays are copies, so the dict is a snapshot that later steps do not change.
        """
        index: dict[Tensor, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = [index.setdefault(p, len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            i: {key: np.copy(v) if isinstance(v, np.ndarray) else v for key, v in self.state[p].items()}
            for p, i in index.items()
            if p in self.state
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by ``state_dict()``.

        The groups must hold as many parameters as this optimizer's, and every state array must
        have its parameter's shape; all of it is checked before anything changes. Floating state is
        cast to the parameter's dtype.
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} param groups, "
                f"the optimizer {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        groups = []
        for i, (saved, mine) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {i} holds {len(saved['params'])} parameters in the "
                    f"state dict and {len(mine['params'])} in the optimizer"
                )
            missing = sorted(set(self.defaults) - set(saved) - set(self._added_later))
            if missing:
                raise ValueError(
                    f"{name}.load_state_dict: param group {i} lacks {', '.join(map(repr, missing))}: "
                    "is it the state dict of another optimizer?"
                )
            unsupported = [k for k in ("amsgrad", "maximize") if saved.get(k) and k not in self.defaults]
            if unsupported:  # PyTorch's variants of the rule that this optimizer does not follow
                raise ValueError(f"{name}.load_state_dict: param group {i} sets {', '.join(unsupported)}=True, "
                                 f"which {name} does not implement")
            by_index.update(zip((int(k) for k in saved["params"]), mine["params"]))
            later = {key: self.defaults[key] for key in self._added_later}
            group = {**later, **saved, "params": mine["params"]}
            self._check_group(group)
            groups.append(group)
        state = {}
        for key, saved in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key}, which no param group holds")
            state[p] = {k: _restore(v, p, f"{name}.load_state_dict: state[{key}][{k!r}]") for k, v in saved.items()}
        self.param_groups = groups
        self.state = state


def _restore(value: Any, p: Tensor, where: str) -> Any:
    """A private copy of a saved state value: arrays need the parameter's shape and take its float dtype.

    Array-likes (a PyTorch optimizer's tensors) become arrays, and a 0-d one beside a parameter
    that is not 0-d becomes a number (PyTorch keeps Adam's step count as a 0-d tensor)."""
    if isinstance(value, Tensor):
        value = value.data
    elif not isinstance(value, np.ndarray) and hasattr(value, "__array__"):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        return value
    if value.ndim == 0 and p.ndim != 0:
        return value.item()
    if value.shape != p.shape:
        raise ValueError(f"{where} has shape {value.shape}, the parameter {p.shape}")
    return value.astype(p.dtype if value.dtype.kind == "f" else value.dtype, copy=True)


def lerp_(avg: np.ndarray, x: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """avg <- avg + weight (x - avg): an exponential moving average, in place (PyTorch's ``lerp_``)."""
    np.subtract(x, avg, out=scratch)
    scratch *= weight
    avg += scratch


def ema_square_(avg: np.ndarray, x: np.ndarray, decay: float, scratch: np.ndarray) -> None:
    """avg <- decay avg + (1 - decay) x^2, in place: the running mean of squared gradients."""
    np.multiply(x, x, out=scratch)
    scratch *= 1 - decay
    avg *= decay
    avg += scratch
