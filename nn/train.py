"""Training a classifier: ``fit`` with a progress bar, per-epoch history, checkpoints and exact resume.

``fit`` runs the usual loop (forward, loss, backward, step) over a ``DataLoader`` for a number of
epochs, evaluates on held-out data after each epoch, and records one history entry per epoch.
With ``checkpoint_path`` it writes, after every epoch, everything the rest of the run depends on:
the model's and optimizer's state dicts (and the scheduler's), the history, and the random states of the training
loader (its shuffling) and of ``autograd.generator()`` (dropout). Resuming from that file
therefore continues bit for bit as if the run had never stopped.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import autograd
from autograd import Tensor, no_grad

from .data import DataLoader
from .functional import cross_entropy
from .module import Module
from .optim.lr_scheduler import ReduceLROnPlateau
from .serialization import load, save

HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds")


class History:
    """Per-epoch metrics of a ``fit`` run.

    ``history.epochs`` is a list of dicts with the keys ``HISTORY_KEYS``; ``test_loss`` and
    ``test_acc`` are None when ``fit`` had no ``test_loader``. ``history["train_loss"]`` gives one
    metric as a list over epochs; ``history.to_dict()`` is the ``history.json`` layout.
    """

    def __init__(self, epochs: list[dict[str, Any]] | None = None):
        self.epochs = list(epochs or [])

    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.epochs)

    def __getitem__(self, key: str) -> list[Any]:
        if key not in HISTORY_KEYS:
            raise KeyError(f"History has no metric {key!r}; the metrics are {', '.join(HISTORY_KEYS)}")
        return [entry[key] for entry in self.epochs]

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"epochs": [dict(entry) for entry in self.epochs]}

    def __repr__(self) -> str:
        return f"History({self.epochs!r})"


class _Meter:
    """Sample-weighted running mean of the loss and running accuracy over mini-batches."""

    def __init__(self) -> None:
        self.samples = 0
        self.loss_sum = 0.0
        self.correct = 0

    def update(self, loss: float, scores: Tensor, target: Tensor) -> None:
        n = len(target)
        self.samples += n
        self.loss_sum += loss * n  # loss is the batch mean
        self.correct += int((scores.data.argmax(axis=1) == target.data).sum())

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.samples, 1)

    @property
    def acc(self) -> float:
        return self.correct / max(self.samples, 1)


def evaluate(
    model: Module, loader: DataLoader, loss_fn: Callable[[Tensor, Tensor], Tensor] = cross_entropy
) -> tuple[float, float]:
    """Mean loss and accuracy of a classifier over ``loader``, in eval mode and without a graph.

    ``model`` maps a batch (B, ...) to class scores (B, classes); ``loss_fn(scores, target)``
    returns the batch mean. A loader without a batch raises ``ValueError``. The model's train/eval
    mode is restored afterwards.
    """
    _check_batches("evaluate", "loader", loader)
    was_training = model.training
    model.eval()
    meter = _Meter()
    try:
        with no_grad():
            for x, y in loader:
                scores = model(x)
                meter.update(loss_fn(scores, y).item(), scores, y)
    finally:
        model.train(was_training)
    return meter.loss, meter.acc


def fit(
    model: Module,
    train_loader: DataLoader,
    optimizer: Any,
    epochs: int,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = cross_entropy,
    test_loader: DataLoader | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool | str | Path = False,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, Any]], bool | None] | None = None,
    scheduler: Any = None,
) -> History:
    """Train a classifier for ``epochs`` epochs in total and return its ``History``.

    Each epoch: ``model.train()``, one optimizer step per batch of ``train_loader`` (batches of
    ``(x, y)``; ``loss_fn(model(x), y)`` is the batch-mean loss), a progress bar with the running
    loss and accuracy unless ``progress=False`` (drawn only in a terminal or a notebook; a log file
    gets the one summary line per epoch that ``progress=True`` prints), then ``evaluate`` on
    ``test_loader`` if given.
    ``train_loss``/``train_acc`` average over the epoch's batches as they were trained.

    ``checkpoint_path``: after every epoch the state needed to continue is written there
    atomically with ``nn.save``. ``resume=True`` continues from ``checkpoint_path``, ``resume=PATH``
    from PATH: weights, optimizer state, history and random states are restored and training
    goes on from the epoch after the saved one, giving exactly the weights an uninterrupted run
    would have. A checkpoint that already holds ``epochs`` epochs or more trains nothing and
    writes nothing. A checkpoint that cannot be read or does not fit the model or optimizer raises
    ``CheckpointError`` (a ``ValueError``) and changes nothing; a missing one ``FileNotFoundError``.
    ``on_epoch_end(entry)`` is called with each new history entry; returning True stops the run
    there (early stopping), after that epoch's checkpoint.

    ``scheduler`` (an ``nn.optim.lr_scheduler`` object) steps once after each epoch's evaluation;
    ``ReduceLROnPlateau`` is given the epoch's test loss, or its training loss without a
    ``test_loader``. Its state goes into the checkpoint and comes back on resume, so the learning
    rates go on as in an uninterrupted run. A schedule that steps per batch needs a loop of one's own.

    A training loss that is NaN or infinite (a diverged run, often a learning rate too high) stops
    the run with ``FloatingPointError`` naming the epoch and batch, before that batch's step; the
    checkpoint keeps the last finished epoch.
    """
    _check_batches("fit", "train_loader", train_loader)
    if test_loader is not None:
        _check_batches("fit", "test_loader", test_loader)
    if resume is True and checkpoint_path is None:
        raise ValueError("fit: resume=True needs checkpoint_path (or pass the checkpoint's path as resume)")
    history = History()
    if resume is not False:
        history = _load_checkpoint(Path(checkpoint_path if resume is True else resume), model, optimizer, train_loader,
                                   scheduler)
    for epoch in range(len(history) + 1, epochs + 1):
        start = time.perf_counter()
        model.train()
        meter = _Meter()
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                   disable=not _bar_shown(progress))
        for batch, (x, y) in enumerate(bar, 1):
            scores = model(x)
            loss = loss_fn(scores, y)
            value = loss.item()
            if not math.isfinite(value):  # a step on it would only spread NaN through every weight
                raise FloatingPointError(f"fit: the training loss became {value} at epoch {epoch}, batch {batch}")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            meter.update(value, scores, y)
            bar.set_postfix(loss=f"{meter.loss:.4f}", acc=f"{meter.acc:.3f}", refresh=False)
        test_loss, test_acc = evaluate(model, test_loader, loss_fn) if test_loader is not None else (None, None)
        entry = {
            "epoch": epoch,
            "train_loss": meter.loss,
            "train_acc": meter.acc,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "seconds": time.perf_counter() - start,
        }
        history.epochs.append(entry)
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(entry["train_loss"] if test_loss is None else test_loss)
        elif scheduler is not None:
            scheduler.step()
        if progress:
            tqdm.write(_summary(entry, epochs))
        if checkpoint_path is not None:
            _save_checkpoint(Path(checkpoint_path), model, optimizer, train_loader, history, scheduler)
        if on_epoch_end is not None and on_epoch_end(entry) is True:
            break
    return history


def _bar_shown(progress: bool) -> bool:
    """A bar redraws itself in place: in a terminal or a notebook's widget; into a log file or a pipe
    every redraw would be kept, so there only the one summary line per epoch is written."""
    notebook = any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)
    return progress and (notebook or getattr(sys.stderr, "isatty", lambda: False)())


def _check_batches(function: str, name: str, loader: DataLoader) -> None:
    """An epoch without a batch would record a loss and accuracy of 0 that no data produced."""
    if len(loader) == 0:
        raise ValueError(f"{function}: {name} gives no batch ({len(loader.dataset)} samples, "
                         f"batch_size {loader.batch_size}, drop_last={loader.drop_last})")


def _summary(entry: dict[str, Any], epochs: int) -> str:
    line = f"epoch {entry['epoch']}/{epochs}: train loss {entry['train_loss']:.4f} acc {entry['train_acc']:.4f}"
    if entry["test_loss"] is not None:
        line += f", test loss {entry['test_loss']:.4f} acc {entry['test_acc']:.4f}"
    return line + f" ({entry['seconds']:.1f} s)"


def _save_checkpoint(path: Path, model: Module, optimizer: Any, loader: DataLoader, history: History,
                     scheduler: Any) -> None:
    checkpoint = {
        "model": model.state_dict(),
        "optim": optimizer.state_dict(),
        "epoch": len(history),
        "history": history.to_dict(),
        "loader_rng": loader.generator.bit_generator.state,
        "autograd_rng": autograd.generator().bit_generator.state,
    }
    if scheduler is not None:
        checkpoint["scheduler"] = scheduler.state_dict()
    save(checkpoint, path)


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: unreadable, or written for another model or optimizer.

    The message is one line that names the file and what is wrong with it; the model, the optimizer
    and the random states are left exactly as they were. ``mismatch`` is True when the file was read
    but does not fit the model or the optimizer (a run started with other options).
    """

    def __init__(self, message: str, mismatch: bool = False):
        super().__init__(message)
        self.mismatch = mismatch


def _load_checkpoint(path: Path, model: Module, optimizer: Any, loader: DataLoader, scheduler: Any) -> History:
    if not path.is_file():
        raise FileNotFoundError(f"fit: cannot resume, no checkpoint at {path}")
    try:
        checkpoint = load(path)
        history = History(checkpoint["history"]["epochs"])
        states = (checkpoint["model"], checkpoint["optim"], checkpoint["loader_rng"], checkpoint["autograd_rng"])
        scheduler_state = checkpoint["scheduler"] if scheduler is not None else None
    except (ValueError, KeyError, TypeError) as error:
        reason = _one_line(error).replace(f"nn.load: {str(path)!r} ", "")  # the path comes first already
        raise CheckpointError(f"{path} {reason}") from error
    if len(history) != checkpoint["epoch"]:
        raise CheckpointError(f"{path} says epoch {checkpoint['epoch']} but holds {len(history)} epochs")
    # all or nothing: a checkpoint whose optimizer part (say) does not fit leaves the model as it was too
    generators = (loader.generator.bit_generator, autograd.generator().bit_generator)
    before = (model.state_dict(), optimizer.state_dict(), [g.state for g in generators],
              scheduler.state_dict() if scheduler is not None else None)
    try:
        model.load_state_dict(states[0])
        optimizer.load_state_dict(states[1])
        for generator, state in zip(generators, states[2:]):
            generator.state = state
        if scheduler is not None:
            scheduler.load_state_dict(scheduler_state)
    except Exception as error:
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        for generator, state in zip(generators, before[2]):
            generator.state = state
        if scheduler is not None:
            scheduler.load_state_dict(before[3])
        parts = "model and optimizer" if scheduler is None else "model, optimizer and scheduler"
        raise CheckpointError(f"{path} does not fit this {parts}: {_one_line(error)}", mismatch=True) from error
    return history


def _one_line(error: Exception, shown: int = 3) -> str:
    """An error's message on one line: its first line, then at most ``shown`` of the problems it lists."""
    if isinstance(error, KeyError):  # a missing entry: str() of a KeyError is only the quoted key
        return f"has no entry {error.args[0]!r}" if error.args else "lacks an entry"
    head, *problems = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    if not problems:
        return head
    more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
    return f"{head} {'; '.join(problems[:shown])}{more}"


def plot_history(history: History, path: str | Path) -> Path:
    """Write learning curves to ``path`` (format from the suffix, e.g. ``curves.png``).

    Two panels against the epoch: loss (on a log axis, where its late, small improvements stay
    visible) and accuracy, each with the training and (when recorded) the test curve. Uses
    matplotlib's object API, so no global backend is touched.
    """
    # imported lazily: plotting is optional to training
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), layout="constrained")
    epochs = history["epoch"]
    for axes, metric, label in zip(figure.subplots(1, 2), ("loss", "acc"), ("loss", "accuracy")):
        axes.plot(epochs, history[f"train_{metric}"], "o-", label="train")
        if all(v is not None for v in history[f"test_{metric}"]):
            axes.plot(epochs, history[f"test_{metric}"], "o-", label="test")
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(label)
        if metric == "loss":
            axes.set_yscale("log")
        axes.set_title(label)
        axes.grid(alpha=0.3)
        axes.legend()
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path
