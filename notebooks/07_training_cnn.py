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
# # 7. Training a convolutional network
#
# A ConvNet is a sequence of convolution layers interspersed with nonlinearities, with pooling
# now and then to shrink the maps, and a fully connected layer at the end that turns the last
# maps into class scores. Here we train a small one on the digits with `nn.train.fit`, then look
# inside: its learned filters, its activation maps, where it errs (a confusion matrix), and the
# computational graph of one training step.

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

import autograd
import nn
import nn.functional as F
from autograd import viz
from nn.data import CIFAR10_CLASSES, DataLoader, TensorDataset, load_cifar10, load_digits
from nn.train import fit, plot_history

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random

workdir = Path(tempfile.mkdtemp(prefix="chainrule-nb07-"))  # files this notebook writes go here
X_train, y_train = load_digits("train")
X_test, y_test = load_digits("test")
train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True, seed=0)
test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=256)
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")


# %% [markdown]
# ## The network
#
# Two blocks of CONV -> BATCHNORM -> RELU -> POOL, then a fully connected layer:
#
# * 1x8x8 -> conv 3x3, pad 1 (8 filters) -> 8x8x8 -> max pool 2 -> 8x4x4
# * -> conv 3x3, pad 1 (16 filters) -> 16x4x4 -> max pool 2 -> 16x2x2
# * -> flatten (64 numbers) -> linear -> 10 class scores

# %%
def make_cnn(in_channels, image_size, width=8):
    return nn.Sequential(
        nn.Conv2d(in_channels, width, kernel_size=3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, kernel_size=3, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (image_size // 4) ** 2, 10),
    )


autograd.manual_seed(0)
model = make_cnn(in_channels=1, image_size=8)
print(model)
print("parameters:", sum(p.size for p in model.parameters()))

# %% [markdown]
# ## Training
#
# `fit` runs the loop of the earlier notebooks for us (forward, loss, backward, optimizer step per
# mini-batch), shows a progress bar, evaluates on the test set after each epoch (in `eval()` mode,
# so BatchNorm uses its running averages) and returns the history. `plot_history` draws it.

# %%
optimizer = nn.optim.Adam(model.parameters(), lr=0.01)
history = fit(model, train_loader, optimizer, epochs=5, test_loader=test_loader)
display(Image(filename=plot_history(history, workdir / "curves.png")))

# %% [markdown]
# A trained model is just its state dict: `nn.save` writes it to an `.npz` file (the same keys and
# array layouts as PyTorch), `nn.load` reads it back into a fresh model.

# %%
nn.save(model.state_dict(), workdir / "cnn.npz")
restored = make_cnn(in_channels=1, image_size=8)
restored.load_state_dict(nn.load(workdir / "cnn.npz"))
model.eval()
restored.eval()
with autograd.no_grad():
    same = np.array_equal(model(autograd.tensor(X_test)).numpy(), restored(autograd.tensor(X_test)).numpy())
print("keys:", list(model.state_dict())[:6], "...")
print("restored model gives identical scores:", same)

# %% [markdown]
# ## What the first layer learned
#
# The eight 3x3 filters of the first convolution (red positive, blue negative), and what they make
# of one test digit: each map, after BatchNorm and ReLU, lights up where its filter's pattern
# occurs. The second layer's 16 maps (4x4) respond to combinations of those.

# %%
filters = model[0].weight.numpy()[:, 0]  # (8, 3, 3)
digit = autograd.tensor(X_test[:1])
with autograd.no_grad():
    maps1 = model[:3](digit).numpy()[0]  # after conv, BN, ReLU: (8, 8, 8)
    maps2 = model[:7](digit).numpy()[0]  # after the second block, before pooling: (16, 4, 4)

fig, axes = plt.subplots(4, 9, figsize=(13, 6.4))
axes[0, 0].imshow(X_test[0, 0], cmap="gray_r")
axes[0, 0].set_title(f"input: {y_test[0]}", fontsize=9)
for row, title in ((1, "layer 1 maps"), (2, "layer 2 maps"), (3, "layer 2 maps\n(continued)")):
    axes[row, 0].text(0.5, 0.5, title, ha="center", va="center", fontsize=9)
for k in range(8):
    limit = np.abs(filters[k]).max()
    axes[0, k + 1].imshow(filters[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[0, k + 1].set_title(f"filter {k}", fontsize=9)
    axes[1, k + 1].imshow(maps1[k], cmap="viridis")
for k in range(16):
    axes[2 + k // 8, k % 8 + 1].imshow(maps2[k], cmap="viridis")
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Where does it go wrong? The confusion matrix
#
# Row i, column j counts the test images of digit i that the network labelled j; the diagonal
# holds the correct answers.

# %%
with autograd.no_grad():
    predicted = model(autograd.tensor(X_test)).numpy().argmax(axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, predicted), 1)
print(f"test accuracy: {np.mean(predicted == y_test):.3f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1.2, 1]})
axes[0].imshow(confusion, cmap="Blues")
for (i, j), count in np.ndenumerate(confusion):
    if count:
        axes[0].text(j, i, count, ha="center", va="center", color="white" if count > confusion.max() / 2 else "black")
axes[0].set_xlabel("predicted")
axes[0].set_ylabel("true")
axes[0].set_xticks(range(10))
axes[0].set_yticks(range(10))
axes[0].set_title("confusion matrix (test set)")

wrong = np.flatnonzero(predicted != y_test)[:12]
axes[1].axis("off")
axes[1].set_title("some mistakes: true -> predicted")
for n, i in enumerate(wrong):
    inset = axes[1].inset_axes([(n % 4) * 0.25, 0.7 - (n // 4) * 0.33, 0.22, 0.26])
    inset.imshow(X_test[i, 0], cmap="gray_r")
    inset.set_title(f"{y_test[i]} -> {predicted[i]}", fontsize=9)
    inset.axis("off")
plt.show()

# %% [markdown]
# ## The graph of one training step
#
# `nn.summary` lists the layers in the order they run, with their output shapes and parameter
# counts (`chainrule train` prints it before training):

# %%
print(nn.summary(model, X_test[:1]))

# %% [markdown]
# `viz.draw_model_step` draws one training step (forward, loss, backward) of the same network,
# one node per layer, with its input and output shapes and parameter count. `depth=2` would open
# each layer's children, `depth=None` shows every primitive op, and `expand` opens the layers it
# names. Drawing changes no weight, running statistic or `.grad`.

# %%
viz.draw_model_step(model, X_test[:8], y_test[:8], F.cross_entropy, rankdir="TB")

# %% [markdown]
# Opening the first BatchNorm (`expand=("1",)`) shows its arithmetic in a box, and the box
# differs between the two modes. In training mode it is the algorithm of notebook 6 on the
# batch: the mean (a Sum times 1/m, m = 2 x 8 x 8 = 128 values per channel), the centred values,
# their variance, + eps, the power -1/2, then gamma (`1.weight`) and beta (`1.bias`).

# %%
model.train()
display(viz.draw_model_step(model, X_test[:2], y_test[:2], F.cross_entropy, expand=("1",), rankdir="TB"))
model.eval()

# %% [markdown]
# In evaluation mode the statistics are fixed numbers, so the layer is one affine map per
# channel, y = a x + (beta - mu a) with a = gamma / sqrt(running_var + eps). The running
# statistics get no gradient and enter as constants (the grey `const` nodes): mu on the left,
# 1 / sqrt(running_var + eps) next to `1.weight`.

# %%
viz.draw_model_step(model, X_test[:2], y_test[:2], F.cross_entropy, expand=("1",), rankdir="TB")

# %% [markdown]
# ## CIFAR-10 (optional)
#
# The lecture's CIFAR-10 has 50,000 32x32 colour images in 10 classes. chainrule never downloads
# it: if the environment variable `CIFAR10_DIR` points to the unpacked official archive (the
# Python or the binary version), this cell trains the same network, with three input channels, for one epoch
# on a 2,000-image subset (a few minutes at most on a laptop; far from what a real run needs,
# but enough to see it learn). Otherwise it only prints how to enable it.

# %%
cifar_dir = os.environ.get("CIFAR10_DIR")
if not cifar_dir:
    print("CIFAR10_DIR is not set, so the CIFAR-10 part is skipped. To run it, unpack the official archive "
          "(cifar-10-python.tar.gz or cifar-10-binary.tar.gz) and start Jupyter with CIFAR10_DIR=/path/to/it.")
else:
    Xc_train, yc_train, Xc_test, yc_test = load_cifar10(cifar_dir)
    print("CIFAR-10:", Xc_train.shape, Xc_test.shape)
    autograd.manual_seed(0)
    cifar_model = make_cnn(in_channels=3, image_size=32, width=8)
    cifar_history = fit(
        cifar_model,
        DataLoader(TensorDataset(Xc_train[:2000], yc_train[:2000]), batch_size=64, shuffle=True, seed=0),
        nn.optim.Adam(cifar_model.parameters(), lr=0.003),
        epochs=1,
        test_loader=DataLoader(TensorDataset(Xc_test[:1000], yc_test[:1000]), batch_size=250),
    )
    print(f"test accuracy on 1,000 images after one epoch: {cifar_history['test_acc'][-1]:.3f} (chance: 0.1)")
    with autograd.no_grad():
        guesses = cifar_model(autograd.tensor(Xc_test[:8])).numpy().argmax(axis=1)
    fig, axes = plt.subplots(1, 8, figsize=(13, 2.2))
    for ax, image, truth, guess in zip(axes, Xc_test[:8], yc_test[:8], guesses):
        ax.imshow(image.transpose(1, 2, 0))
        ax.set_title(f"{CIFAR10_CLASSES[truth]}\n-> {CIFAR10_CLASSES[guess]}", fontsize=8,
                     color="black" if truth == guess else "red")
        ax.axis("off")
    plt.show()
