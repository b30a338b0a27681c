"""The lecture's first half on the digits: k-nearest neighbours and linear classifiers.

Prints the test accuracy of k-NN (L1 and L2, k chosen by 5-fold cross-validation on the training
split) and of a linear classifier trained with the multiclass SVM loss and with softmax
cross-entropy. Run: ``python scripts/classic_classifiers.py``.
"""

from __future__ import annotations

import numpy as np

import autograd
import nn
from nn.data import DataLoader, TensorDataset, load_digits
from nn.knn import choose_k


def knn_accuracy(metric: str) -> tuple[int, float]:
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    k, _ = choose_k(X_train, y_train, metric=metric)
    pred = nn.KNearestNeighbor(metric).fit(X_train, y_train).predict(X_test, k=k)
    return k, float(np.mean(pred == y_test))


def linear_accuracy(loss_fn: nn.Module, epochs: int = 30, seed: int = 0) -> float:
    """A linear score function f = W x + b trained with SGD and weight decay."""
    autograd.manual_seed(seed)
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    optimizer = nn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True, seed=seed)
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
    with autograd.no_grad():
        scores = model(autograd.tensor(X_test))
    return float(np.mean(scores.data.argmax(axis=1) == y_test))


def main() -> None:
    for metric in ("l1", "l2"):
        k, acc = knn_accuracy(metric)
        print(f"k-NN ({metric.upper()}, k={k} by cross-validation): {acc:.1%}")
    print(f"linear classifier, multiclass SVM loss: {linear_accuracy(nn.SVMLoss()):.1%}")
    print(f"linear classifier, softmax cross-entropy: {linear_accuracy(nn.CrossEntropyLoss()):.1%}")


if __name__ == "__main__":
    main()
