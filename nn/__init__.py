"""chainrule's neural-network library: modules, layers, losses and training tools on ``autograd``."""

from . import data, functional, init, optim
from .activations import ELU, LeakyReLU, LogSoftmax, Maxout, PReLU, ReLU, Sigmoid, Softmax, Tanh
from .knn import KNearestNeighbor
from .layers import AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, MultiMarginLoss, NLLLoss, SVMLoss
from .module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential
from .serialization import load, save
from .summary import Summary, summary

__all__ = [
    "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "ELU",
    "Flatten", "IncompatibleKeys", "KNearestNeighbor", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d",
    "Maxout", "Module", "ModuleList", "MultiMarginLoss", "NLLLoss", "PReLU", "Parameter", "ReLU", "SVMLoss",
    "Sequential", "Sigmoid", "Softmax", "Summary", "Tanh", "data", "functional", "init", "load", "optim", "save",
    "summary",
]
