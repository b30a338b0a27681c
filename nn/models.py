"""Ready-made classifiers for the data sets chainrule ships: an MLP for vectors, a small CNN for images."""

from __future__ import annotations

from collections.abc import Sequence

from .activations import ReLU
from .layers import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d
from .module import Sequential


def mlp(in_features: int, classes: int, hidden: Sequence[int] = (100, 100)) -> Sequential:
    """Fully connected ReLU network: Flatten -> [Linear -> ReLU] per width in ``hidden`` -> Linear.

    Input (N, ...) with ``in_features`` values per sample (images are flattened); output (N, classes)
    class scores.
    """
    widths = [in_features, *hidden]
    layers = [Flatten()]
    for fan_in, fan_out in zip(widths, widths[1:]):
        layers += [Linear(fan_in, fan_out), ReLU()]
    layers.append(Linear(widths[-1], classes))
    return Sequential(*layers)


def cnn(in_channels: int, classes: int, image_size: int, width: int = 16) -> Sequential:
    """A small CNN for (N, in_channels, image_size, image_size) images -> (N, classes) scores.

    conv3x3(in -> width) -> BN -> ReLU -> conv3x3(width -> 2 width) -> BN -> ReLU -> maxpool 2
    -> Linear(2 width (image_size // 2)^2 -> classes). Convolutions are padded to keep the size
    and have no bias, since the BatchNorm after each one subtracts the mean anyway.
    """
    if image_size < 2:
        raise ValueError(f"cnn: image_size must be at least 2 for the 2x2 pooling, got {image_size}")
    pooled = image_size // 2
    return Sequential(
        Conv2d(in_channels, width, 3, padding=1, bias=False),
        BatchNorm2d(width),
        ReLU(),
        Conv2d(width, 2 * width, 3, padding=1, bias=False),
        BatchNorm2d(2 * width),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(2 * width * pooled * pooled, classes),
    )
