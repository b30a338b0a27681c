"""Module, Parameter and the containers: the bookkeeping every layer shares.

A `Module` keeps three kinds of attributes apart, as PyTorch does: parameters (`Parameter`s, the
tensors an optimizer updates), buffers (tensors that are state but not learned, such as batch
norm's running averages) and children (sub-modules). Assigning an attribute files it in the
right place, so ``self.weight = Parameter(...)`` is all a layer needs to write. State-dict keys are
the dotted attribute paths (``0.weight``, ``1.running_mean``) in PyTorch's order: a module's own
parameters, then its buffers, then each child's entries.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from autograd import Tensor, no_grad


class Parameter(Tensor):
    """A Tensor that is a learned weight of a module: it requires grad and is a leaf.

    ``Parameter(data, requires_grad=True)``; ``data`` is anything ``Tensor`` accepts. A Tensor
    argument shares its array (and loses its graph: a parameter is always a leaf).
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, name: str | None = None):
        super().__init__(data, requires_grad=requires_grad, name=name)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: keys the model has that the state lacked, and the reverse."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class RemovableHandle:
    """Returned by ``register_forward_hook`` and ``register_forward_pre_hook``: ``remove()`` drops the hook."""

    _next_id = 0

    def __init__(self, hooks: dict, hook: Callable) -> None:
        RemovableHandle._next_id += 1
        self._hooks, self.id = hooks, RemovableHandle._next_id
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign their parameters, buffers and children as
    attributes, and write ``forward``. Calling the module calls ``forward``.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # --- registration -------------------------------------------------------------------------
    def _registry(self, kind: str) -> dict:
        try:
            return self.__dict__[kind]
        except KeyError:
            raise AttributeError(
                f"cannot assign to {type(self).__name__} before Module.__init__() is called; "
                "call super().__init__() first"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        params, buffers, modules = (self._registry(k) for k in ("_parameters", "_buffers", "_modules"))
        if isinstance(value, Parameter):
            self._forget(name, keep="_parameters")
            if value.name is None:
                value.name = name  # a label for graph pictures; full names come from named_parameters()
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep="_modules")
            modules[name] = value
        else:  # a registered name keeps its kind: None, or (for a buffer) another Tensor
            for kind, registry, allowed in (("parameter", params, "nn.Parameter"), ("buffer", buffers, "Tensor"),
                                            ("child module", modules, "nn.Module")):
                if name in registry:
                    if value is not None and not (registry is buffers and isinstance(value, Tensor)):
                        raise TypeError(f"cannot assign {type(value).__name__} as {kind} {name!r} of "
                                        f"{type(self).__name__} ({allowed} or None expected)")
                    registry[name] = value
                    return
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str = "") -> None:
        """Drop ``name`` from the instance dict and every registry but ``keep`` (where it keeps its place)."""
        for kind in ("_parameters", "_buffers", "_modules"):
            if kind != keep:
                self._registry(kind).pop(name, None)
        self._registry("_non_persistent").discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails, i.e. for registered tensors and children
        d = self.__dict__
        for kind in ("_parameters", "_buffers", "_modules"):
            if kind in d and name in d[kind]:
                return d[kind][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for kind in ("_parameters", "_buffers", "_modules"):
            if name in d[kind]:
                del d[kind][name]
                d["_non_persistent"].discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, e.g. a disabled bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be an nn.Parameter or None, got {type(param).__name__}")
        self._forget(name, keep="_parameters")
        if param is not None and param.name is None:
            param.name = name
        self._registry("_parameters")[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: module state that is not learned. Persistent buffers go into the state dict."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._forget(name, keep="_buffers")
        self._registry("_buffers")[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (the same as assigning the attribute)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be an nn.Module or None, got {type(module).__name__}")
        self._forget(name, keep="_modules")
        self._registry("_modules")[name] = module

    # --- running ------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses override it. Call the module rather than ``forward``."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        pre, post = self.__dict__.get("_forward_pre_hooks"), self.__dict__.get("_forward_hooks")
        for hook in list(pre.values()) if pre else ():
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(post.values()) if post else ():
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; a non-None result replaces the args."""
        return RemovableHandle(self._registry("_forward_pre_hooks"), hook)

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a non-None result replaces the output."""
        return RemovableHandle(self._registry("_forward_hooks"), hook)

    # --- traversal ----------------------------------------------------------------------------
    def named_modules(
        self, prefix: str = "", memo: set | None = None, remove_duplicate: bool = True,
    ) -> Iterator[tuple[str, Module]]:
        """This module and every descendant with its dotted path ("" for self): each once, or, with
        ``remove_duplicate=False``, a module reached along two paths under both."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, each once, depth first."""
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct sub-modules, in the order they were assigned."""
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        return (child for _, child in self.named_children())

    def _named_members(self, kind: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()  # a tensor shared by two modules is listed once
        owners = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for path, module in owners:
            for name, t in getattr(module, kind).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{path}.{name}" if path else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, e.g. ``("0.weight", p)``; shared parameters appear once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (of descendants too, unless ``recurse=False``), each once: what an optimizer takes."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs, e.g. ``("1.running_mean", t)``."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer (running statistics and other state that is not learned)."""
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant, then on self (e.g. a custom initialisation)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (batch statistics, active dropout) on this module and all descendants."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter: ``.grad = None`` (PyTorch's default), or
        zeros of the gradient's shape with ``set_to_none=False``."""
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else Tensor(np.zeros_like(p.grad.data))

    def to(self, dtype: Any = None, device: Any = None) -> Module:
        """Cast every floating parameter and buffer (and gradient) to ``dtype``, in place.

        As ``Tensor.to``, a device is accepted only as "cpu", the one there is (``model.to("cpu")``).
        """
        if isinstance(dtype, str) and dtype.split(":")[0] in ("cpu", "cuda", "mps", "xpu"):
            dtype, device = None, dtype
        if device not in (None, "cpu"):
            raise ValueError(f"to: chainrule runs on the CPU only, got device {device!r}")
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to: modules hold floating tensors, got dtype {dtype}")
        for t in (*self.parameters(), *self.buffers()):
            if t.data.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = Tensor(t.grad.data.astype(dtype))
        return self

    def float(self) -> Module:
        """``to(np.float32)``."""
        return self.to(np.float32)

    def double(self) -> Module:
        """``to(np.float64)``."""
        return self.to(np.float64)

    # --- state --------------------------------------------------------------------------------
    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """Every tensor that belongs in the state dict, in PyTorch's key order; a module shared by two
        paths (``Sequential(lin, act, lin)``) is listed under both, as PyTorch lists it."""
        for path, module in self.named_modules(remove_duplicate=False):
            prefix = f"{path}." if path else ""
            for name, p in module._parameters.items():
                if p is not None:
                    yield prefix + name, p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    yield prefix + name, b

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and persistent buffer as ndarrays, keyed as PyTorch keys them."""
        return {key: np.array(t.data, copy=True) for key, t in self._state_items()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state`` into the parameters and buffers: all of it, or nothing.

        Every entry is checked first (with ``strict``, no key may be missing or unexpected; the
        shape and the dtype of each array must equal the model's exactly), and only when all pass
        is anything changed. Values may be ndarrays, Tensors, or anything ``np.asarray`` takes
        (a PyTorch tensor, say). Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state).__name__}")
        targets = dict(self._state_items())
        loads: list[tuple[Tensor, np.ndarray]] = []
        problems: list[str] = []
        for key, value in state.items():
            if key not in targets:
                continue
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            want = targets[key].data
            if array.dtype == object:
                problems.append(f"{key}: an object array cannot be loaded")
            elif array.shape != want.shape:
                problems.append(f"{key}: shape {array.shape} in the state, {want.shape} in the model")
            elif array.dtype != want.dtype:
                problems.append(f"{key}: dtype {array.dtype} in the state, {want.dtype} in the model")
            elif not np.array_equal(array, want):  # equal values stay, with their version (a model restored)
                loads.append((targets[key], array))
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict:
            problems += [f"missing key {k!r}" for k in missing]
            problems += [f"unexpected key {k!r}" for k in unexpected]
        if problems:
            raise ValueError(
                f"load_state_dict: {type(self).__name__} was left unchanged because of:\n  " + "\n  ".join(problems)
            )
        with no_grad():  # in place, as PyTorch: versions move on, so a graph that saved old values refuses backward
            for t, array in loads:
                if not t.data.flags.writeable:  # read-only memory (a memory map): load into a copy
                    t.data = t.data.copy()
                t.copy_(array)
        return IncompatibleKeys(missing, unexpected)

    # --- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's line in ``repr``."""
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


_Seq = TypeVar("_Seq", bound="_ModuleSequence")


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children kept in order and reached by position."""

    def append(self: _Seq, module: Module) -> _Seq:
        """Add ``module`` at the end, named by its position."""
        self.add_module(str(len(self)), _check_module(module, type(self).__name__))
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self._slice(index)
        modules = list(self._modules.values())
        return modules[_list_index(index, len(modules), type(self).__name__)]

    def __setitem__(self, index: int, module: Module) -> None:
        """Replace the module at position ``index``, keeping its name."""
        where = type(self).__name__
        name = list(self._modules)[_list_index(index, len(self), where)]
        self.add_module(name, _check_module(module, where))

    def _slice(self, index: slice) -> Any:
        raise NotImplementedError


class Sequential(_ModuleSequence):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Children are named "0", "1", ... (or by the keys of an OrderedDict argument).
    """

    def __init__(self, *modules: Module | Mapping[str, Module]):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, module in modules[0].items():
                self.add_module(name, _check_module(module, "Sequential"))
        else:
            for module in modules:
                self.append(module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def _slice(self, index: slice) -> Sequential:
        return Sequential(OrderedDict(list(self._modules.items())[index]))


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters the parent sees; it has no forward of its own."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``."""
        for module in modules:
            self.append(module)
        return self

    def _slice(self, index: slice) -> ModuleList:
        return ModuleList(list(self._modules.values())[index])


class ModuleDict(Module):
    """Modules kept by name, as in a dict, whose parameters the parent sees; it has no forward of its own."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) every ``name: module`` pair of a mapping or an iterable of pairs."""
        for name, module in modules.items() if isinstance(modules, Mapping) else modules:
            self[name] = module

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        self.add_module(name, _check_module(module, "ModuleDict"))

    def __delitem__(self, name: str) -> None:
        del self._modules[name]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()


def _check_module(module: Any, where: str) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: {type(module).__name__} is not an nn.Module")
    return module


def _list_index(index: int, n: int, where: str) -> int:
    if not -n <= index < n:
        raise IndexError(f"{where}: index {index} is out of range for {n} modules")
    return index % n


__all__ = ["IncompatibleKeys", "Module", "ModuleDict", "ModuleList", "Parameter", "Sequential"]
