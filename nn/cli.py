"""The ``chainrule`` command: train a model, draw one training step's graph, run the gradient checks.

``chainrule train`` fits an MLP or the small CNN of ``nn.models`` on the embedded digits, CIFAR-10
from disk or the spiral toy set, and writes the model, its history, learning curves and a graph
picture; ``chainrule graph`` only draws the graph; ``chainrule gradcheck`` checks every op's
gradients on this machine. Usage errors are reported in one line with exit status 2, failures of the run itself (a file
that cannot be written, a loss that diverged) in one line with exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import autograd
from autograd import Tensor

from .data import DataLoader, TensorDataset, load_cifar10, load_digits, make_spiral
from .functional import cross_entropy
from .models import cnn, mlp
from .module import Module
from .optim import SGD, Adam
from .serialization import save
from .summary import summary
from .train import CheckpointError, History, fit, plot_history

PROG = "chainrule"

# Per data set: the shape of one sample and the number of classes.
DATASETS = {"digits": ((1, 8, 8), 10), "cifar10": ((3, 32, 32), 10), "spiral": ((2,), 3)}
MODELS = ("cnn", "mlp")
# Per optimizer: its default learning rate; SGD runs with momentum 0.9.
OPTIMIZERS = {"adam": 3e-3, "sgd": 0.05}
GRAPH_FORMATS = (".svg", ".png", ".pdf", ".dot")
GRAPH_BATCH = 4  # samples in the drawn training step: small enough for a readable picture


class UsageError(Exception):
    """A bad combination of options or an unusable file: one line on stderr, exit status 2."""


class RunError(Exception):
    """The run itself failed (a file it cannot write, a diverged loss): one line on stderr, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``chainrule: error: ...``) instead of the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _positive(kind: type, allow_zero: bool = False) -> Callable[[str], int | float]:
    """An argparse type: a finite ``kind`` above 0 (at least 0 with ``allow_zero``)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            adjective = "non-negative" if allow_zero else "positive"
            raise argparse.ArgumentTypeError(f"expected a {adjective} {kind.__name__}, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Train a model, draw a training step's graph, check every op's gradients.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model and write its files", description=(
        "Train a classifier; write model.npz, history.json, curves.png, graph.svg and checkpoint.npz "
        "under --out, and print the test accuracy."))
    _add_model_options(train, data_choices=tuple(DATASETS))
    train.add_argument("--data-dir", metavar="DIR", help="folder with the unpacked CIFAR-10 batches (cifar10 only)")
    train.add_argument("--epochs", type=_positive(int), default=10, metavar="N", help="epochs in total (default 10)")
    train.add_argument("--batch-size", type=_positive(int), default=32, metavar="N", help="default 32")
    train.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam", help="default adam")
    train.add_argument("--lr", type=_positive(float), metavar="X", help=(
        "learning rate (default " + ", ".join(f"{lr:g} for {name}" for name, lr in OPTIMIZERS.items()) + ")"))
    train.add_argument("--seed", type=_positive(int, allow_zero=True), default=0, metavar="N",
                       help="seeds the weights and shuffling (default 0)")
    train.add_argument("--out", type=Path, default=Path("runs/latest"), metavar="DIR", help="default runs/latest")
    train.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz up to --epochs")
    train.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    train.set_defaults(run=_train)

    graph = commands.add_parser("graph", help="draw one training step's graph", description=(
        "Draw the graph of one training step (forward, loss, backward) of a freshly initialised model "
        f"on {GRAPH_BATCH} random samples shaped like --data."))
    _add_model_options(graph, data_choices=tuple(DATASETS))
    graph.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                       help="picture to write; the format comes from the suffix: " + ", ".join(GRAPH_FORMATS))
    graph.add_argument("--show-values", action="store_true", help="label nodes with their values")
    graph.add_argument("--show-grads", action="store_true", help="label nodes with their gradients")
    graph.add_argument("--depth", type=_depth, default=1, metavar="N", help=(
        "how deep modules are opened: 1 draws each layer as one node (default), 2 their children, "
        "'all' every primitive op"))
    graph.add_argument("--rankdir", choices=("LR", "TB"), default="TB", help="left-right or top-bottom (default TB)")
    graph.add_argument("--grad-flow", action="store_true", help=(
        "colour nodes by the norm of their gradient; label dead ReLUs and saturated sigmoid/tanh units"))
    graph.add_argument("--seed", type=_positive(int, allow_zero=True), default=0, metavar="N", help="default 0")
    graph.set_defaults(run=_graph)

    check = commands.add_parser("gradcheck", help="check every op's gradients numerically", description=(
        "Compare every op's analytic gradients with finite differences and print a table; "
        "exit status 1 if any check fails."))
    check.add_argument("--order", choices=("1", "2", "both"), default="both",
                       help="first-order (gradcheck), second-order (gradgradcheck) or both (default)")
    check.add_argument("--op", nargs="+", metavar="NAME", help="only these ops (default: all)")
    check.set_defaults(run=_gradcheck)
    return parser


def _depth(text: str) -> int | None:
    if text == "all":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative int or 'all', got {text!r}")
    return int(text)


def _add_model_options(parser: argparse.ArgumentParser, data_choices: tuple[str, ...]) -> None:
    parser.add_argument("--model", choices=MODELS, default="cnn", help="default cnn")
    parser.add_argument("--data", choices=data_choices, default="digits", help="default digits (embedded)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command line; returns the exit status (0 ok, 1 failed checks, 2 usage)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed by argparse
        return int(exit_.code or 0)
    try:
        return args.run(args)
    except (UsageError, RunError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1


# --- train ------------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    model = _build_model(args.model, args.data, args.seed)
    X_train, y_train, X_test, y_test = _load_data(args.data, args.data_dir)
    out = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out {out}: cannot create the folder ({err.strerror})") from None
    checkpoint = out / "checkpoint.npz"
    if args.resume and not checkpoint.is_file():
        raise UsageError(f"--resume: no checkpoint at {checkpoint}")
    if not args.resume:  # a resumed run goes on with the model the first run printed
        print(summary(model, X_train[:1]))
    lr = args.lr or OPTIMIZERS[args.optimizer]
    if args.optimizer == "sgd":
        optimizer = SGD(model.parameters(), lr=lr, momentum=0.9)
    else:
        optimizer = Adam(model.parameters(), lr=lr)
    train_loader = DataLoader(TensorDataset(X_train, y_train), args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(TensorDataset(X_test, y_test), args.batch_size)

    trained = []  # the epochs this call trains: none when a resumed run is already long enough
    try:
        history = fit(model, train_loader, optimizer, args.epochs, test_loader=test_loader,
                      checkpoint_path=checkpoint, resume=args.resume, progress=not args.no_progress,
                      on_epoch_end=trained.append)
        graph = out / ("graph.svg" if shutil.which("dot") else "graph.dot")
        names = ("model.npz", "history.json", "curves.png", graph.name)
        # a resumed run that is long enough only writes what an interrupted first run left unwritten
        missing = [name for name in names if trained or not (out / name).is_file()]
        if not missing:
            print(f"{out} already has {len(history)} epochs (asked for {args.epochs}): nothing to do")
            return 0
        _write_outputs(model, history, Tensor(X_train[:GRAPH_BATCH]), Tensor(y_train[:GRAPH_BATCH]), out, missing)
    except CheckpointError as err:
        hint = "; resume with the --model, --data and --optimizer the run was started with" if err.mismatch else ""
        raise UsageError(f"--resume: {err}{hint}") from None
    except FloatingPointError as err:  # the loss diverged: the checkpoint keeps the last finished epoch
        raise RunError(f"{err}; try a smaller --lr") from None
    except OSError as err:  # the checkpoint's nn.save failed (a full disk): it is the old one or the new one
        raise RunError(str(err)) from None
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; continue from the last finished epoch with --resume --out {out}",
              file=sys.stderr)
        return 130

    if history.epochs:
        epochs = f"{len(history)} epoch{'s' if len(history) > 1 else ''}"
        print(f"test accuracy: {history.epochs[-1]['test_acc']:.4f} after {epochs}")
    print("wrote:")
    for name in (*missing, "checkpoint.npz"):
        print(f"  {out / name}")
    return 0


def _write_outputs(model: Module, history: History, x: Tensor, y: Tensor, out: Path, names: Sequence[str]) -> None:
    """Write the files ``names`` of a finished run under ``out``, each atomically (the old file or the
    new one, never a part): the model, the history, the learning curves, one training step's graph."""
    writers = {
        "history.json": lambda path: path.write_text(json.dumps(history.to_dict(), indent=2) + "\n"),
        "curves.png": lambda path: plot_history(history, path),
        "graph.svg": lambda path: _draw_training_step(model, x, y, path),
        "graph.dot": lambda path: _draw_training_step(model, x, y, path),
    }
    if "graph.dot" in names:
        print(f"{PROG}: warning: Graphviz's `dot` is not installed, so the graph is written as {out / 'graph.dot'}",
              file=sys.stderr)
    for name in names:
        path = out / name
        partial = path.with_name(f".{path.stem}.partial{path.suffix}")  # the suffix picks the format
        try:
            if name == "model.npz":
                save(model.state_dict(), path)  # atomic itself; its errors name the file
            else:
                writers[name](partial)
                os.replace(partial, path)
        except OSError as err:  # a full disk, a folder in the way
            raise RunError(f"cannot write {path}: {err.strerror}" if err.strerror else str(err)) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()


def _load_data(name: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) of a data set; problems with --data-dir become UsageErrors."""
    if (data_dir is None) == (name == "cifar10"):
        raise UsageError("--data cifar10 needs --data-dir DIR, the folder with the unpacked CIFAR-10 batches"
                         if name == "cifar10" else f"--data-dir is only used with --data cifar10, not {name}")
    if name == "digits":
        return (*load_digits("train"), *load_digits("test"))
    if name == "spiral":
        return (*make_spiral(seed=0), *make_spiral(seed=1))  # the test set is a fresh draw of the noise
    if not Path(data_dir).is_dir():
        raise UsageError(f"--data-dir {data_dir}: not a readable folder")
    try:
        return load_cifar10(data_dir)
    except (OSError, ValueError, pickle.UnpicklingError) as err:
        raise UsageError(str(err)) from None


def _build_model(model: str, data: str, seed: int) -> Module:
    """A freshly initialised ``model`` for samples of ``data``, its weights drawn after seeding."""
    sample_shape, classes = DATASETS[data]
    autograd.manual_seed(seed)
    if model == "mlp":
        return mlp(int(np.prod(sample_shape)), classes)
    if len(sample_shape) != 3:
        raise UsageError(f"cnn needs image data, and --data {data} gives vectors of shape {sample_shape}; "
                         "use --model mlp")
    channels, size, _ = sample_shape
    return cnn(channels, classes, size)


def _draw_training_step(model: Module, x: Tensor, y: Tensor, path: Path, **options: object) -> None:
    """Draw forward, loss and backward of one batch to ``path``, one node per layer unless ``options``
    say otherwise (`autograd.viz.draw_model_step`'s). The step runs in train mode; the drawing
    leaves parameters, buffers and gradients as they were, and the modes are put back here."""
    from autograd import viz  # graphviz is only needed here

    modes = [(m, m.training) for m in model.modules()]
    try:
        graph = viz.draw_model_step(model.train(), x, y, cross_entropy, **{"rankdir": "TB", **options})
    finally:
        for m, mode in modes:
            m.training = mode
    viz.save(graph, path)


# --- graph ------------------------------------------------------------------------------------


def _graph(args: argparse.Namespace) -> int:
    if args.output.suffix not in GRAPH_FORMATS:
        raise UsageError(f"-o {args.output}: unknown picture format; use one of {', '.join(GRAPH_FORMATS)}")
    model = _build_model(args.model, args.data, args.seed)
    sample_shape, classes = DATASETS[args.data]
    x = autograd.rand(GRAPH_BATCH, *sample_shape)
    y = Tensor(np.arange(GRAPH_BATCH) % classes)
    try:
        _draw_training_step(model, x, y, args.output, show_values=args.show_values, show_grads=args.show_grads,
                            depth=args.depth, rankdir=args.rankdir, grad_flow=args.grad_flow)
    except RuntimeError as err:  # no Graphviz for an image format: viz says how to install it
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


# --- gradcheck --------------------------------------------------------------------------------


def _gradcheck(args: argparse.Namespace) -> int:
    from autograd.testing.opdb import OPS, format_results, run_gradchecks

    ops = OPS
    if args.op:
        known = {op.name for op in OPS}
        unknown = [name for name in args.op if name not in known]
        if unknown:
            raise UsageError(f"--op: unknown op {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        ops = [op for op in OPS if op.name in args.op]
    orders = {"1": {1}, "2": {2}, "both": {1, 2}}[args.order]
    results = [r for r in run_gradchecks(ops=ops, seed=0) if r.order in orders]
    print(format_results(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
