"""k-nearest-neighbour classification, the lecture's first image classifier.

Training memorises the data; prediction finds the k training images closest to each test image
(L1 or L2 distance between flattened pixel vectors) and takes a majority vote of their labels.
Everything is vectorised: one matrix product for L2, broadcasting in bounded blocks for L1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nn.data.loader import as_array, check_count

_METRICS = ("l1", "l2")
_BLOCK_ELEMENTS = 1 << 22  # elements of the largest temporary a distance or vote block may allocate


def _flatten(X: Any) -> np.ndarray:
    """(N, ...) ndarray or Tensor of finite numbers -> (N, D) floating array (integers become float64)."""
    array = as_array(X)
    if array.ndim == 0:
        raise ValueError("KNearestNeighbor: expected samples of shape (N, ...), got a scalar")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"KNearestNeighbor: samples must be numbers, got dtype {array.dtype}")
    flat = array.reshape(len(array), int(np.prod(array.shape[1:])))  # -1 cannot be inferred for N = 0
    flat = flat if flat.dtype.kind == "f" else flat.astype(np.float64)
    finite = np.isfinite(flat).all(axis=1)
    if not finite.all():  # every distance to such a sample is NaN or inf, and its vote meaningless
        raise ValueError(f"KNearestNeighbor: sample {int(np.argmin(finite))} holds NaN or inf; samples must be finite")
    return flat


def _l2_distances(A: np.ndarray, B: np.ndarray, B_sq: np.ndarray) -> np.ndarray:
    """||a_i - b_j||_2 of shape (len(A), len(B)) via ||a||^2 + ||b||^2 - 2 a.b; ``B_sq`` is ||b_j||^2.

    Rounding can make the expansion slightly negative for (near-)equal vectors, hence the
    clip at 0 before the square root.
    """
    sq = A @ B.T
    sq *= -2.0
    sq += (A * A).sum(axis=1)[:, None]
    sq += B_sq
    return np.sqrt(np.maximum(sq, 0.0, out=sq), out=sq)


def _l1_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sum_d |a_id - b_jd| of shape (len(A), len(B)), broadcasting over blocks of A and B.

    Each block's (rows, cols, D) temporary holds at most ``_BLOCK_ELEMENTS`` elements.
    """
    dims = max(A.shape[1], 1)
    out = np.empty((len(A), len(B)), dtype=np.result_type(A, B))
    cols = max(1, min(len(B), _BLOCK_ELEMENTS // dims))
    rows = max(1, _BLOCK_ELEMENTS // (cols * dims))
    for i in range(0, len(A), rows):
        for j in range(0, len(B), cols):
            block = A[i : i + rows, None, :] - B[None, j : j + cols, :]
            out[i : i + rows, j : j + cols] = np.abs(block, out=block).sum(axis=2)
    return out


def _nearest(dist: np.ndarray, k: int) -> np.ndarray:
    """Indices (M, k) of the k smallest entries of each row of ``dist`` (M, N), nearest first.

    Equal distances are ordered by index, also at the k-th place, so the result never depends
    on how ``np.partition`` happens to order ties.
    """
    kth = np.partition(dist, k - 1, axis=1)[:, k - 1 : k]
    closer = dist < kth
    at_kth = dist == kth
    # Fill the places left after the strictly closer ones with the lowest-index points at the k-th distance.
    wanted = (k - closer.sum(axis=1))[:, None]
    chosen = closer | (at_kth & (np.cumsum(at_kth, axis=1) <= wanted))
    index = np.nonzero(chosen)[1].reshape(len(dist), k)  # ascending index within each row
    order = np.argsort(np.take_along_axis(dist, index, axis=1), axis=1, kind="stable")
    return np.take_along_axis(index, order, axis=1)


def _vote(neighbour_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority class code per row of ``neighbour_codes`` (M, k), the columns sorted nearest first.

    A tie in the count goes to the tied class whose nearest member comes first, i.e. is closest
    to the query: score = count * (k + 1) - rank of the class's first neighbour.
    """
    k = neighbour_codes.shape[1]
    onehot = neighbour_codes[:, :, None] == np.arange(n_classes)  # (M, k, C)
    counts = onehot.sum(axis=1)
    first = np.where(counts > 0, onehot.argmax(axis=1), k)
    return np.argmax(counts * (k + 1) - first, axis=1)


class KNearestNeighbor:
    """k-nearest-neighbour classifier over flattened samples.

    ``metric="l2"`` uses the Euclidean distance sqrt(sum_d (a_d - b_d)^2), ``"l1"`` the Manhattan
    distance sum_d |a_d - b_d|. ``fit(X, y)`` only stores the data; ``predict(X, k)`` votes among
    the k nearest training samples. Ties are settled deterministically toward the nearest
    neighbour: among equally distant training samples the lower training index counts as
    nearer, and among classes with equally many votes the one with the nearest member wins
    (for k=1 the prediction is the label of the single nearest sample). Inputs may be ndarrays
    or Tensors of any shape (N, ...); float32 data is kept in float32, integers become float64.
    """

    def __init__(self, metric: str = "l2"):
        if metric not in _METRICS:
            raise ValueError(f"KNearestNeighbor: metric must be one of {_METRICS}, got {metric!r}")
        self.metric = metric
        self.X_train: np.ndarray | None = None
        self.y_train: np.ndarray | None = None
        self.classes_: np.ndarray | None = None
        self._codes: np.ndarray | None = None  # y_train as indices into classes_
        self._train_sq: np.ndarray | None = None  # ||x||^2 per training sample, for the L2 expansion

    def fit(self, X: Any, y: Any) -> KNearestNeighbor:
        """Memorise X (N, ...) flattened to (N, D) and the labels y (N,). Returns self."""
        X_flat = _flatten(X)
        labels = as_array(y)
        if labels.shape != (len(X_flat),):
            raise ValueError(f"KNearestNeighbor.fit: y must have shape ({len(X_flat)},), got {labels.shape}")
        if len(X_flat) == 0:
            raise ValueError("KNearestNeighbor.fit: needs at least one training sample")
        self.X_train = X_flat
        self._train_sq = (X_flat * X_flat).sum(axis=1) if self.metric == "l2" else None
        self.classes_, self._codes = np.unique(labels, return_inverse=True)
        self.y_train = labels
        return self

    def _train(self) -> np.ndarray:
        if self.X_train is None:
            raise RuntimeError("KNearestNeighbor: call fit(X, y) before distances() or predict()")
        return self.X_train

    def distances(self, X: Any) -> np.ndarray:
        """Distances (M, N) from every test sample in X (M, ...) to every training sample."""
        train = self._train()
        X_flat = _flatten(X)
        if X_flat.shape[1] != train.shape[1]:
            raise ValueError(
                f"KNearestNeighbor: test samples have {X_flat.shape[1]} features per sample, the "
                f"training samples {train.shape[1]} (shapes {X_flat.shape} and {train.shape})"
            )
        if self.metric == "l2":
            return _l2_distances(X_flat, train, self._train_sq)
        return _l1_distances(X_flat, train)

    def predict_from_distances(self, dist: np.ndarray, k: int = 1) -> np.ndarray:
        """Labels (M,) voted by the k nearest training samples, given ``distances`` (M, N)."""
        n_train = len(self._train())
        dist = np.asarray(dist)
        check_count(k, "KNearestNeighbor: k")
        if dist.ndim != 2 or dist.shape[1] != n_train:
            raise ValueError(f"KNearestNeighbor: distances must have shape (M, {n_train}), got {dist.shape}")
        if np.isnan(dist).any():
            raise ValueError("KNearestNeighbor: distances contain NaN; the samples must be finite")
        if not 1 <= k <= n_train:
            raise ValueError(f"KNearestNeighbor: k must lie in 1..{n_train} (the training set size), got {k}")
        codes = self._codes[_nearest(dist, k)]
        return self.classes_[_vote(codes, len(self.classes_))]

    def predict(self, X: Any, k: int = 1) -> np.ndarray:
        """Labels (M,) of the test samples X (M, ...), by majority vote of the k nearest neighbours.

        Test samples are processed in blocks so the distance matrix never exceeds about
        ``_BLOCK_ELEMENTS`` entries at a time.
        """
        X_flat = _flatten(X)
        rows = max(1, _BLOCK_ELEMENTS // len(self._train()))
        blocks = [
            self.predict_from_distances(self.distances(X_flat[i : i + rows]), k)
            for i in range(0, len(X_flat), rows)
        ]
        return np.concatenate(blocks) if blocks else self.classes_[:0]


def choose_k(
    X: Any,
    y: Any,
    ks: Sequence[int] = (1, 3, 5, 8, 10, 12, 15, 20),
    folds: int = 5,
    metric: str = "l2",
    seed: int = 0,
) -> tuple[int, dict[int, list[float]]]:
    """Pick k for ``KNearestNeighbor`` by ``folds``-fold cross-validation on (X (N, ...), y (N,)).

    The samples are shuffled with ``np.random.default_rng(seed)`` and cut into ``folds`` nearly
    equal parts; each part is held out once while the rest is memorised, and one distance matrix
    per fold serves every k. Returns ``(best_k, accuracies)`` where ``accuracies[k]`` lists the
    validation accuracy of each fold; ``best_k`` has the highest mean accuracy (the smallest
    such k on a tie).
    """
    X_all = as_array(X)
    y_all = as_array(y)
    n = len(X_all)
    if y_all.shape != (n,):
        raise ValueError(f"choose_k: y must have shape ({n},), one label per sample of X, got {y_all.shape}")
    if not 2 <= folds <= n:
        raise ValueError(f"choose_k: folds must lie in 2..{n} (the number of samples), got {folds}")
    if not ks:
        raise ValueError("choose_k: ks must name at least one k")
    smallest = n - -(-n // folds)  # the samples memorised when the largest part is held out
    for k in ks:
        check_count(k, "choose_k: every k")
    if max(ks) > smallest:
        raise ValueError(f"choose_k: k = {max(ks)} exceeds the {smallest} samples a fold of {n} trains on "
                         f"with folds={folds}")
    parts = np.array_split(np.random.default_rng(seed).permutation(n), folds)
    accuracies: dict[int, list[float]] = {k: [] for k in ks}
    for held_out in range(folds):
        train = np.concatenate([p for i, p in enumerate(parts) if i != held_out])
        valid = parts[held_out]
        model = KNearestNeighbor(metric).fit(X_all[train], y_all[train])
        dist = model.distances(X_all[valid])
        for k in ks:
            accuracies[k].append(float(np.mean(model.predict_from_distances(dist, k) == y_all[valid])))
    best_k = min(ks, key=lambda k: (-np.mean(accuracies[k]), k))
    return best_k, accuracies
