"""Datasets over in-memory arrays and a mini-batch loader that yields Tensors.

``TensorDataset`` holds aligned arrays (inputs, labels, ...) and answers an index *array* with
whole batches by fancy indexing, so ``DataLoader`` gathers a batch in one vectorised call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from autograd import Tensor, generator


def as_array(x: Any) -> np.ndarray:
    """The ndarray behind ``x``: a Tensor's ``.data``, anything else through ``np.asarray``."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class Dataset:
    """Base class of map-style datasets, as ``torch.utils.data.Dataset``: a subclass defines
    ``__len__`` and ``__getitem__(i)``, one sample (an array, or a tuple of fields) per index, and
    ``DataLoader`` stacks the samples into batches."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


class TensorDataset(Dataset):
    """Aligned arrays indexed together along their first axis.

    ``TensorDataset(X, y)`` with X of shape (N, ...) and y of shape (N, ...): ``ds[i]`` is
    ``(X[i], y[i])``; ``ds[idx]`` with an integer array ``idx`` of shape (B,) is the batch
    ``(X[idx], y[idx])`` with shapes (B, ...). Tensors are stored as their ``.data``.
    """

    def __init__(self, *arrays: np.ndarray | Tensor):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_field(a, k) for k, a in enumerate(arrays))
        if any(a.ndim == 0 for a in self.arrays) or len({a.shape[0] for a in self.arrays}) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"TensorDataset: all arrays need the same first dimension, got shapes {shapes}")

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The arrays as Tensors sharing their memory, PyTorch's name for them."""
        return tuple(Tensor(a) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: int | slice | np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return f"TensorDataset({shapes})"


def check_count(value: Any, what: str, minimum: int = 1) -> None:
    """Raise ``ValueError`` naming ``what`` unless ``value`` is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{what} must be {kind}, got {value!r}")


def _field(a: Any, k: int) -> np.ndarray:
    try:
        return as_array(a)
    except ValueError:  # NumPy's words for a ragged nested list
        raise ValueError(f"TensorDataset: array {k} is a ragged nested sequence, not an array") from None


def _collate(samples: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """Stack per-sample fields into batch arrays: [(x0, y0), (x1, y1)] -> (stack(x), stack(y))."""
    rows = [s if isinstance(s, (tuple, list)) else (s,) for s in samples]
    batch = []
    for k, column in enumerate(zip(*rows)):
        fields = [as_array(field) for field in column]
        if fields[0].dtype.kind in "OUSV":  # a dict, a string, ...: nothing a Tensor can hold
            raise TypeError(f"DataLoader: field {k} of a sample is a {type(column[0]).__name__}; a sample must be "
                            "an array or a number, or a tuple of them, e.g. (x, label)")
        if len({f.shape for f in fields}) > 1:
            shapes = ", ".join(sorted({str(f.shape) for f in fields}))
            raise ValueError(f"DataLoader: field {k} of the samples in one batch has different shapes: {shapes}")
        batch.append(np.stack(fields))
    return tuple(batch)


class DataLoader:
    """Iterate over a dataset in mini-batches of Tensors.

    Each batch is a tuple with one Tensor per dataset field, of shapes (B, ...) where B is
    ``batch_size`` (the last batch may be smaller unless ``drop_last=True``). Arrays keep their
    dtype. With ``shuffle=True`` every epoch draws a fresh permutation from one
    ``np.random.default_rng(seed)`` made with the loader, so epochs differ from each other while
    the whole sequence of epochs is reproducible for a given ``seed``. A shuffling loader without a
    ``seed`` takes one from ``autograd.generator()`` when it is made, so ``autograd.manual_seed``
    fixes its order as it fixes the initial weights (as ``torch.manual_seed`` does a DataLoader's).

    A ``TensorDataset`` is indexed with the batch's index array in one call; any other dataset
    (``__len__`` plus ``__getitem__(int)`` returning a sample or a tuple of fields) is gathered
    sample by sample and stacked.

    ``num_workers`` and ``pin_memory`` are accepted so that PyTorch's loaders port unchanged; batches
    are always gathered in this process, into host memory, so neither changes what is yielded.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        *,
        num_workers: int = 0,
        pin_memory: bool = False,
    ):
        check_count(batch_size, "DataLoader: batch_size")
        check_count(num_workers, "DataLoader: num_workers", minimum=0)
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset needs __len__ and __getitem__, got {type(dataset).__name__}")
        if seed is not None:
            check_count(seed, "DataLoader: seed", minimum=0)
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        if seed is None and shuffle:
            seed = int(generator().integers(2**63))
        self._rng = np.random.default_rng(seed)

    @property
    def generator(self) -> np.random.Generator:
        """The generator that draws each epoch's order: save and restore its
        ``bit_generator.state`` to resume training with the same shuffling."""
        return self._rng

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = len(self.dataset)
        # The permutation is drawn here, when the epoch starts, not lazily at the first batch.
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order)

    def _batches(self, order: np.ndarray) -> Iterator[tuple[Tensor, ...]]:
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            if isinstance(self.dataset, TensorDataset):
                arrays = self.dataset[index]
            else:
                arrays = _collate([self.dataset[int(i)] for i in index])
            yield tuple(Tensor(a) for a in arrays)

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed})"
        )
