"""chainrule's neural-network library: modules, layers, losses and training tools on ``autograd``."""

from . import data, functional, init, optim, utils
from .activations import ELU, GELU, LeakyReLU, LogSoftmax, Maxout, PReLU, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .knn import KNearestNeighbor
from .layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Dropout2d,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    MaxPool2d,
)
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    MultiMarginLoss,
    NLLLoss,
    SmoothL1Loss,
    SVMLoss,
)
from .module import IncompatibleKeys, Module, ModuleDict, ModuleList, Parameter, Sequential
from .serialization import load, save
from .summary import Summary, summary

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d",
    "CrossEntropyLoss", "Dropout", "Dropout2d", "ELU", "Embedding", "Flatten", "GELU", "HuberLoss", "Identity",
    "IncompatibleKeys", "KNearestNeighbor", "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss",
    "MaxPool2d", "Maxout", "Module", "ModuleDict", "ModuleList", "MultiMarginLoss", "NLLLoss", "PReLU", "Parameter",
    "ReLU", "SVMLoss", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss", "Softmax", "Summary", "Tanh", "data",
    "functional", "init", "load", "optim", "save", "summary", "utils",
]
