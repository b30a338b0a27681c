"""``summary(model, example_input)``: a table of a model's layers, their output shapes and parameters.

The model runs once under ``no_grad`` in eval mode (so one example is enough for BatchNorm);
forward hooks on every submodule record, in the order the modules are called, each call's output
shape. Afterwards the model is as it was: parameters, buffers, train/eval modes, the random
generator, no hooks left behind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd import Tensor, generator, no_grad

from .module import Module


class Summary:
    """The rows of a model summary (dicts with ``name``, ``type``, ``output_shape``, ``params``) and
    ``total_params``, the model's trainable parameters, each counted once; ``str()`` is the table.

    A row's ``params`` counts the trainable parameters of that module and its children, so nested
    rows overlap and the total is not their sum. The table writes "(shared)" for the parameters of a
    module called again (its weights are those of its first row).
    """

    def __init__(self, model: Module, rows: list[dict[str, Any]], input_shape: tuple) -> None:
        self.model_type, self.rows, self.input_shape = type(model).__name__, rows, input_shape
        self.total_params = _trainable(model.parameters())
        self.frozen_params = sum(p.size for p in {id(p): p for p in model.parameters()}.values()) - self.total_params

    def __str__(self) -> str:
        header = ("layer", "type", "output shape", "params")
        first = {r["name"]: k for k, r in reversed(list(enumerate(self.rows)))}  # each module's first call
        cells = [("  " * r["name"].count(".") + r["name"], r["type"], _shape_text(r["output_shape"]),
                  f"{r['params']:,}" if first[r["name"]] == k or not r["params"] else "(shared)")
                 for k, r in enumerate(self.rows)]
        widths = [max(len(c[k]) for c in [header, *cells]) for k in range(4)]
        def line(c: tuple) -> str:  # text columns left-aligned, the count right-aligned
            return "  ".join(f"{x:<{w}}" for x, w in zip(c[:3], widths)) + f"  {c[3]:>{widths[3]}}"

        rule = "-" * (sum(widths) + 6)
        return "\n".join([f"{self.model_type} on input {_shape_text(self.input_shape)}", rule, line(header),
                          rule, *map(line, cells), rule,
                          f"trainable params: {self.total_params:,}", f"frozen params: {self.frozen_params:,}"])

    def __repr__(self) -> str:
        return str(self)


def _shape_text(shape: Any) -> str:
    return ", ".join(map(_shape_text, shape)) if isinstance(shape, list) else str(shape)


def _output_shape(out: Any) -> Any:
    """A tuple for a Tensor output; a list of them for a tuple or list of outputs."""
    if isinstance(out, (tuple, list)):
        return [_output_shape(o) for o in out]
    return tuple(int(n) for n in np.shape(out.data if isinstance(out, Tensor) else out))


def summary(model: Module, example_input: Any) -> Summary:
    """Run ``model`` once on ``example_input`` (a Tensor, an array, or a tuple of them for several
    arguments) and return its `Summary`: one row per submodule call, in call order (a model without
    submodules, a lone ``Linear`` say, gets one row of its own, named "").

    Example: ``print(nn.summary(model, X[:1]))``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be an nn.Module, got {type(model).__name__}")
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    args = tuple(a if isinstance(a, Tensor) else Tensor(np.asarray(a)) for a in args)
    rows: list[dict[str, Any]] = []
    running: list[dict[str, Any]] = []  # the rows of the calls that have begun and not yet returned

    def begin(path: str) -> Any:  # a row takes its place when its call begins: containers before children
        def hook(module: Module, inputs: tuple) -> None:
            rows.append({"name": path, "type": type(module).__name__, "output_shape": None,
                         "params": _trainable(module.parameters())})
            running.append(rows[-1])
        return hook

    def end(module: Module, inputs: tuple, out: Any) -> None:
        running.pop()["output_shape"] = _output_shape(out)

    state, modes, rng = model.state_dict(), [(m, m.training) for m in model.modules()], generator().bit_generator.state
    leaf = not any(True for _ in model.children())  # a single layer is its own one row, named ""
    handles = [h for path, m in model.named_modules() if path or leaf
               for h in (m.register_forward_pre_hook(begin(path)), m.register_forward_hook(end))]
    try:
        model.eval()
        with no_grad():
            model(*args)
    finally:
        for h in handles:
            h.remove()
        model.load_state_dict(state)
        for m, mode in modes:
            m.training = mode
        generator().bit_generator.state = rng
    return Summary(model, rows, args[0].shape if len(args) == 1 else [a.shape for a in args])


def _trainable(params: Any) -> int:
    """The number of trainable parameter values, each tensor counted once."""
    return sum(p.size for p in {id(p): p for p in params}.values() if p.requires_grad)
