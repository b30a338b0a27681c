# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Convolution and pooling
#
# A fully connected layer looks at the whole image at once. A **convolution layer** slides small
# filters over the image instead: each filter extends through the full depth of its input (all
# channels) and, at every position, takes the dot product of its weights with the patch under it,
# plus a bias. One filter gives one *activation map*; K filters give K maps, stacked into a new
# "image" with K channels. Images are stored NCHW: (batch, channels, height, width).

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import autograd
import nn
import nn.functional as F
from nn.data import load_digits

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random

digits, labels = load_digits()

# %% [markdown]
# ## A convolution is a sliding dot product
#
# The lecture's example: a 32x32x3 image and six 5x5x3 filters give six 28x28 activation maps.
# We check one output number by hand: the dot product of filter 0 with the 5x5x3 patch at the
# top-left corner, plus the filter's bias.

# %%
image = autograd.tensor(rng.random((1, 3, 32, 32)).astype(np.float32))
conv = nn.Conv2d(3, 6, kernel_size=5)
maps = conv(image)
print("input", image.shape, "-> six 5x5 filters, weight", conv.weight.shape, "-> output", maps.shape)

patch = image.numpy()[0, :, 0:5, 0:5]
by_hand = (patch * conv.weight.numpy()[0]).sum() + conv.bias.numpy()[0]
print(f"output[0, 0, 0, 0] = {maps.numpy()[0, 0, 0, 0]:.6f}, by hand: {by_hand:.6f}")


# %% [markdown]
# ## Spatial size of the output
#
# An N x N input and an F x F filter applied with stride S fit (N - F) / S + 1 times along each
# side. With a 7x7 input and a 3x3 filter:
#
# * stride 1: (7 - 3) / 1 + 1 = 5
# * stride 2: (7 - 3) / 2 + 1 = 3
# * stride 3: (7 - 3) / 3 + 1 = 2.33: *doesn't fit*. Like PyTorch, we round down: the last column
#   and row, which no window covers completely, are dropped, and the output is 2x2.
#
# Zero padding with P pixels on each border changes the formula to (N - F + 2P) / S + 1; with
# P = 1 the 7x7 input gives a 7x7 output.

# %%
def output_size(n, f, stride=1, padding=0):
    return (n - f + 2 * padding) / stride + 1


x7 = autograd.zeros(1, 1, 7, 7)
w3 = autograd.zeros(1, 1, 3, 3)
for stride, padding in ((1, 0), (2, 0), (3, 0), (1, 1)):
    out = F.conv2d(x7, w3, stride=stride, padding=padding)
    print(f"7x7 input, 3x3 filter, stride {stride}, pad {padding}: formula {output_size(7, 3, stride, padding):.2f}"
          f" -> conv2d output {out.shape[2]}x{out.shape[3]}")

# %% [markdown]
# Padding with (F - 1) / 2 zeros at stride 1 keeps the spatial size (F = 3 -> pad 1, F = 5 -> pad 2,
# F = 7 -> pad 3). Without padding, repeated 5x5 convolutions shrink a 32x32 input fast:

# %%
for f in (3, 5, 7):
    out = F.conv2d(autograd.zeros(1, 1, 32, 32), autograd.zeros(1, 1, f, f), padding=(f - 1) // 2)
    print(f"F = {f}, pad {(f - 1) // 2}: 32 -> {out.shape[-1]}")

sizes, volume = [32], autograd.zeros(1, 1, 32, 32)
while volume.shape[-1] >= 5:
    volume = F.conv2d(volume, autograd.zeros(1, 1, 5, 5))
    sizes.append(volume.shape[-1])
print("5x5 filters without padding:", " -> ".join(map(str, sizes)))

# %% [markdown]
# ## Counting parameters
#
# Input volume 32x32x3, ten 5x5 filters with stride 1 and pad 2. Output: (32 + 2*2 - 5) / 1 + 1 = 32
# spatially, so 32x32x10. Each filter has 5*5*3 = 75 weights plus 1 bias = 76 parameters, so the
# layer has 76 * 10 = 760. Thanks to parameter sharing that number does not depend on the image
# size at all.

# %%
conv = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
print("output:", conv(autograd.zeros(1, 3, 32, 32)).shape)
for name, parameter in conv.named_parameters():
    print(f"{name}: shape {parameter.shape}, {parameter.size} numbers")
print("total:", sum(p.size for p in conv.parameters()))

# %% [markdown]
# A 1x1 convolution makes sense too: it is a dot product through the depth at each pixel, the
# same small fully connected layer applied at every position.

# %%
x = autograd.tensor(rng.standard_normal((1, 64, 5, 5)).astype(np.float32))
conv1x1 = nn.Conv2d(64, 32, kernel_size=1)
per_pixel = np.einsum("oc,nchw->nohw", conv1x1.weight.numpy()[:, :, 0, 0], x.numpy()) \
    + conv1x1.bias.numpy()[None, :, None, None]
print("1x1 conv:", x.shape, "->", conv1x1(x).shape, "; same as a per-pixel linear map:",
      np.allclose(conv1x1(x).numpy(), per_pixel, atol=1e-5))

# %% [markdown]
# ## Hand-made filters on real digits
#
# Before any learning, a few classic 3x3 filters show what a convolution can detect. The Sobel
# filters respond to horizontal and vertical changes of brightness (edges), the box filter
# blurs, the Laplacian responds to spots and thin strokes. One `conv2d` call applies all of them
# to a batch of digits (padding 1 keeps the 8x8 size). Red is positive, blue negative.

# %%
filters = {
    "Sobel x (vertical edges)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y (horizontal edges)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "box blur": np.full((3, 3), 1 / 9),
    "Laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
}
weight = autograd.tensor(np.array([np.asarray(k, dtype=np.float32) for k in filters.values()])[:, None])
picks = [0, 2, 4, 7]
batch = autograd.tensor(digits[picks])  # four digits, shape (4, 1, 8, 8)
responses = F.conv2d(batch, weight, padding=1).numpy()  # (4 images, 4 filters, 8, 8)
print("images", batch.shape, "* filters", weight.shape, "->", responses.shape)

fig, axes = plt.subplots(len(batch), len(filters) + 1, figsize=(11, 9))
for row in range(len(batch)):
    axes[row, 0].imshow(batch.numpy()[row, 0], cmap="gray_r")
    axes[row, 0].set_title(f"digit {labels[picks[row]]}", fontsize=9)
    for col, name in enumerate(filters, start=1):
        limit = np.abs(responses[row, col - 1]).max()
        axes[row, col].imshow(responses[row, col - 1], cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[row, col].set_title(name, fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Activation maps of a convolution layer
#
# A `Conv2d` layer learns its filters instead. Freshly initialised, six 3x3 filters followed by
# a ReLU already turn one digit into six different maps (an all-dark map belongs to a filter whose
# response is negative everywhere on this digit, which the ReLU sets to zero). The filters share
# one colour scale (red positive, blue negative, white 0), and so do the maps (dark is 0).
# Notebook 7 shows the filters and maps of a trained network.

# %%
layer = nn.Sequential(nn.Conv2d(1, 6, kernel_size=3, padding=1), nn.ReLU())
with autograd.no_grad():
    activation_maps = layer(autograd.tensor(digits[:1])).numpy()[0]  # (6, 8, 8)

weights = layer[0].weight.numpy()[:, 0]  # (6, 3, 3)
limit = np.abs(weights).max()
fig, axes = plt.subplots(2, 7, figsize=(12, 3.8))
axes[0, 0].imshow(digits[0, 0], cmap="gray_r")
axes[0, 0].set_title("input", fontsize=9)
for k in range(6):
    axes[0, k + 1].imshow(weights[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[0, k + 1].set_title(f"filter {k}", fontsize=9)
    axes[1, k + 1].imshow(activation_maps[k], cmap="viridis", vmin=0, vmax=activation_maps.max())
    axes[1, k + 1].set_title(f"map {k}", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Pooling
#
# A pooling layer makes the representation smaller: it works on each activation map separately
# and summarises each window, here by its maximum. It has no parameters. The lecture's example,
# max pooling with 2x2 windows and stride 2 on one 4x4 depth slice:

# %%
x = autograd.tensor([[1.0, 1, 2, 4],
                     [5, 6, 7, 8],
                     [3, 2, 1, 0],
                     [1, 2, 3, 4]], requires_grad=True)
pooled = F.max_pool2d(x.reshape(1, 1, 4, 4), kernel_size=2, stride=2)
print("max pool 2x2, stride 2:\n", pooled.numpy()[0, 0])
print("parameters of nn.MaxPool2d(2):", len(list(nn.MaxPool2d(2).parameters())))

# %% [markdown]
# Where does the gradient go? The max gate is a router (notebook 2): each window sends its upstream
# gradient to the one input that won the max, and every other input gets zero. With upstream
# gradients 1, 2, 3, 4 for the four outputs:

# %%
upstream = autograd.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
pooled.backward(upstream)
print("dL/dx:\n", x.grad.numpy())

fig, axes = plt.subplots(1, 2, figsize=(7, 3.3))
for ax, values, title in ((axes[0], x.numpy(), "input (winners outlined)"), (axes[1], x.grad.numpy(), "gradient")):
    ax.imshow(values, cmap="Blues")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:g}", ha="center", va="center", color="white" if v > 0.6 * values.max() else "black")
        if x.grad.numpy()[i, j] != 0:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
    ax.axhline(1.5, color="k")  # the borders of the four pooling windows
    ax.axvline(1.5, color="k")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# Summary of a convolution layer: it takes a W1 x H1 x D1 volume and four hyperparameters (K
# filters of size F x F, stride S, zero padding P), produces W2 = (W1 - F + 2P) / S + 1,
# H2 = (H1 - F + 2P) / S + 1, D2 = K, and has F F D1 weights per filter, (F F D1) K in all, plus K
# biases. Common settings: K a power of 2; F = 3, S = 1, P = 1; F = 5, S = 1, P = 2; F = 1, S = 1,
# P = 0. Pooling takes F and S (commonly F = 2, S = 2 or F = 3, S = 2), keeps the depth, and is
# rarely padded.
