"""Data for chainrule: in-memory datasets, a mini-batch loader and the bundled data sets."""

from .datasets import CIFAR10_CLASSES, load_cifar10, load_digits, make_spiral
from .loader import DataLoader, Dataset, TensorDataset

__all__ = ["CIFAR10_CLASSES", "DataLoader", "Dataset", "TensorDataset", "load_cifar10", "load_digits", "make_spiral"]
