"""The data sets chainrule trains on: embedded digits, CIFAR-10 from disk, and toy spirals.

Nothing here touches the network: digits ship with scikit-learn, CIFAR-10 is read from the
official archives the user has already unpacked, spirals are generated.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .loader import check_count

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0

_CIFAR_SHAPE = (3, 32, 32)
_CIFAR_PIXELS = 3 * 32 * 32
_CIFAR_RECORD = 1 + _CIFAR_PIXELS  # binary format: one label byte, then the CHW pixels
_CIFAR_CLASSES = 10
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_FILE = "test_batch"


def load_digits(split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 real 8x8 handwritten digits bundled with scikit-learn (no download).

    Returns ``(X, y)``: X float32 of shape (N, 1, 8, 8), the 0..16 gray levels divided by 16 so
    they lie in [0, 1]; y int64 of shape (N,) with labels 0..9. ``split=None`` gives all 1,797
    samples; ``"train"`` / ``"test"`` give a fixed 80/20 split, stratified by class (each digit
    contributes round(20%) of its samples to the test set) from a seeded permutation, so the
    split is the same on every machine and run and the two parts are disjoint.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"load_digits: split must be None, 'train' or 'test', got {split!r}")
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as err:
        raise ImportError(
            "load_digits needs scikit-learn, which ships the digits data; "
            "install it with: pip install chainrule[train]"
        ) from err
    bunch = sklearn_load_digits()
    X = (bunch.data.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    if split is None:
        return X, y
    train, test = _stratified_split(y, _DIGITS_TEST_FRACTION, np.random.default_rng(_DIGITS_SPLIT_SEED))
    index = train if split == "train" else test
    return X[index], y[index]


def _stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, test) index arrays covering range(N); class c puts round(fraction * count_c) in test.

    Both come out in the order of one random permutation, so neither is sorted by class.
    """
    n = len(y)
    perm = rng.permutation(n)
    grouped = perm[np.argsort(y[perm], kind="stable")]  # grouped by class, random within a class
    _, counts = np.unique(y, return_counts=True)
    rank = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)  # position within its class
    is_test = np.zeros(n, dtype=bool)
    is_test[grouped] = rank < np.repeat(np.round(fraction * counts), counts)
    return perm[~is_test[perm]], perm[is_test[perm]]


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""The name of each CIFAR-10 label, in label order (the archive's ``batches.meta``)."""


def load_cifar10(root: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 from the official archives, already unpacked on disk (never downloads).

    ``root`` holds ``cifar-10-batches-bin/`` (binary: ``data_batch_1.bin`` .. ``_5.bin``,
    ``test_batch.bin``; records of 1 label byte + 3072 pixel bytes) or ``cifar-10-batches-py/``
    (python: ``data_batch_1`` .. ``_5``, ``test_batch``; pickled dicts with ``b"data"`` uint8
    (n, 3072) and ``b"labels"``), or is itself such a folder. The binary format is preferred
    when both are present. Python batches go through an unpickler that admits only NumPy's
    array reconstruction, so a tampered file cannot run code (``pickle.UnpicklingError``).

    Returns ``(X_train, y_train, X_test, y_test)``: X float32 of shape (N, 3, 32, 32) (NCHW)
    with values in [0, 1]; y int64 of shape (N,) with labels 0..9; 50,000 / 10,000 samples for
    the official files. A missing file raises ``FileNotFoundError``, a truncated or malformed
    one ``ValueError``; both name the file.
    """
    folder, read_batch, suffix = _find_cifar_folder(Path(root))
    train = [read_batch(folder / (name + suffix)) for name in _CIFAR_TRAIN_FILES]
    test_pixels, test_labels = read_batch(folder / (_CIFAR_TEST_FILE + suffix))
    return (
        _cifar_images(np.concatenate([pixels for pixels, _ in train])),
        np.concatenate([labels for _, labels in train]),
        _cifar_images(test_pixels),
        test_labels,
    )


def _find_cifar_folder(root: Path) -> tuple[Path, Callable[[Path], tuple[np.ndarray, np.ndarray]], str]:
    """(folder, batch reader, file suffix) of the CIFAR-10 layout at ``root``; binary first."""
    for read_batch, suffix, subfolder in _CIFAR_LAYOUTS:
        if (root / subfolder).is_dir():
            return root / subfolder, read_batch, suffix
    for read_batch, suffix, subfolder in _CIFAR_LAYOUTS:
        names = (*_CIFAR_TRAIN_FILES, _CIFAR_TEST_FILE)
        if root.name == subfolder or any((root / (name + suffix)).is_file() for name in names):
            return root, read_batch, suffix
    raise FileNotFoundError(
        f"load_cifar10: no CIFAR-10 batches at {root}: expected {root / 'cifar-10-batches-bin'} or "
        f"{root / 'cifar-10-batches-py'} (the official archives, unpacked), or {root} to be one of them; "
        "chainrule never downloads"
    )


def _cifar_images(pixels: np.ndarray) -> np.ndarray:
    """uint8 rows (N, 3072), stored as R, G, B planes -> float32 (N, 3, 32, 32) in [0, 1]."""
    images = pixels.reshape(-1, *_CIFAR_SHAPE).astype(np.float32)
    images /= np.float32(255.0)
    return images


def _checked_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= _CIFAR_CLASSES):
        raise ValueError(
            f"{path}: labels must lie in 0..{_CIFAR_CLASSES - 1}, found {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int64)


def _read_cifar_bin_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch -> (pixels uint8 (n, 3072), labels int64 (n,))."""
    if not path.is_file():
        raise FileNotFoundError(f"load_cifar10: missing CIFAR-10 batch file {path}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _CIFAR_RECORD:
        raise ValueError(
            f"{path}: {raw.size} bytes is not a whole, non-zero number of {_CIFAR_RECORD}-byte CIFAR-10 "
            "records (truncated or not a CIFAR-10 binary batch?)"
        )
    records = raw.reshape(-1, _CIFAR_RECORD)
    return records[:, 1:], _checked_labels(records[:, 0], path)


class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside ``_CifarUnpickler.ALLOWED``."""


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals an official CIFAR-10 python batch refers to.

    Those are NumPy's ndarray reconstruction (under its NumPy 1 and NumPy 2 module names) and
    ``_codecs.encode``, which protocol-2 pickles written by Python 3 use for bytes. Anything
    else (``os.system``, ``builtins.eval``, ...) is refused before it can be called.
    """

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise _ForbiddenGlobal(f"refusing to load {module}.{name}: not part of a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_cifar_py_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One python (pickled) batch -> (pixels uint8 (n, 3072), labels int64 (n,))."""
    if not path.is_file():
        raise FileNotFoundError(f"load_cifar10: missing CIFAR-10 batch file {path}")
    try:
        with open(path, "rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes").load()
    except _ForbiddenGlobal as err:
        raise pickle.UnpicklingError(f"{path}: {err}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(f"{path}: truncated or corrupt CIFAR-10 python batch ({err})") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: expected a dict with b'data' and b'labels', as in the official batches")
    pixels = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != _CIFAR_PIXELS or not len(pixels):
        raise ValueError(
            f"{path}: b'data' must be uint8 of shape (n, {_CIFAR_PIXELS}) with n > 0, "
            f"got {pixels.dtype} {pixels.shape}"
        )
    if labels.shape != (len(pixels),) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: b'labels' must be {len(pixels)} integers, got {labels.dtype} {labels.shape}"
        )
    return pixels, _checked_labels(labels, path)


_CIFAR_LAYOUTS = (
    (_read_cifar_bin_batch, ".bin", "cifar-10-batches-bin"),
    (_read_cifar_py_batch, "", "cifar-10-batches-py"),
)


def make_spiral(n_per_class: int = 100, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D spiral toy problem from CS231n: ``classes`` interleaved arms, not linearly separable.

    Arm j has points at radius r = linspace(0, 1, n) and angle t = linspace(4j, 4(j + 1), n)
    plus N(0, 0.2^2) noise, i.e. x = (r sin t, r cos t). Returns ``(X, y)``: X float32 of shape
    (classes * n_per_class, 2), y int64 of shape (classes * n_per_class,), arm after arm.
    """
    check_count(n_per_class, "make_spiral: n_per_class")
    check_count(classes, "make_spiral: classes")
    check_count(seed, "make_spiral: seed", minimum=0)
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), classes)
    arm = np.repeat(np.arange(classes), n_per_class)
    angle = 4.0 * arm + np.tile(np.linspace(0.0, 4.0, n_per_class), classes)
    angle += rng.normal(0.0, 0.2, size=angle.shape)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1).astype(np.float32)
    return X, arm.astype(np.int64)
