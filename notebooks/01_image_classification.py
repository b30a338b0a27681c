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
# # 1. Image classification: nearest neighbours and linear classifiers
#
# An image classifier maps a grid of pixel values to one label out of a fixed set. We start with
# the two simplest classifiers of the lecture and run both on real data: the 1,797 handwritten
# digits (8x8 gray images, labels 0-9) that come with chainrule, split once into 80% training and
# 20% test images.
#
# * **k-nearest neighbours** memorises the training set and labels a new image by a vote among the
#   k training images closest to it.
# * **A linear classifier** learns one weight per pixel and class, `scores = W x + b`, by
#   minimising a loss (the multiclass SVM loss or the softmax cross-entropy).

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import autograd
import nn
from nn.data import load_digits
from nn.knn import choose_k

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random

X_train, y_train = load_digits("train")
X_test, y_test = load_digits("test")
print("train", X_train.shape, X_train.dtype, " test", X_test.shape, " labels", np.unique(y_train))

# %% [markdown]
# Each sample is an (1, 8, 8) image: one channel, 8 rows, 8 columns, values in [0, 1]. A few of
# them, with their labels:

# %%
fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
for ax, image, label in zip(axes.flat, X_train, y_train):
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(int(label))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## k-nearest neighbours
#
# Training only stores the images. To classify a test image we measure its distance to every
# training image, flattened to a vector of 64 pixels $I$:
#
# * L1 (Manhattan): $d_1(I_1, I_2) = \sum_p |I_1^p - I_2^p|$
# * L2 (Euclidean): $d_2(I_1, I_2) = \sqrt{\sum_p (I_1^p - I_2^p)^2}$
#
# With k = 1 the prediction is the label of the single nearest image.

# %%
for metric in ("l1", "l2"):
    knn = nn.KNearestNeighbor(metric).fit(X_train, y_train)
    test_accuracy = np.mean(knn.predict(X_test, k=1) == y_test)
    print(f"{metric.upper()} distance, k = 1: test accuracy {test_accuracy:.3f}")

# %% [markdown]
# What does "nearest" look like? For a few test images, the five closest training images under
# the L2 distance (a red title marks a neighbour with a different label):

# %%
knn = nn.KNearestNeighbor("l2").fit(X_train, y_train)
picks = [np.flatnonzero(y_test == digit)[0] for digit in (1, 3, 4, 8, 9)]  # one test image of each
queries = X_test[picks]
nearest = np.argsort(knn.distances(queries), axis=1)[:, :5]

fig, axes = plt.subplots(len(queries), 6, figsize=(6, 5.5))
for row, (query, label, neighbours) in enumerate(zip(queries, y_test[picks], nearest)):
    axes[row, 0].imshow(query[0], cmap="gray_r")
    axes[row, 0].set_title(f"test: {label}", fontsize=9)
    for col, j in enumerate(neighbours, start=1):
        axes[row, col].imshow(X_train[j, 0], cmap="gray_r")
        axes[row, col].set_title(int(y_train[j]), fontsize=9, color="black" if y_train[j] == label else "red")
for ax in axes.flat:
    ax.axis("off")
plt.show()

# %% [markdown]
# The last two rows show that k matters, in both directions. The 9's two nearest neighbours are 3s,
# so k = 1 labels it wrongly, while a vote among five neighbours (three of them 9s) gets it right.
# The 8's nearest neighbour is an 8, but two of its five nearest are 3s, so the vote of five
# gets it wrong.
#
# ### Choosing k by cross-validation
#
# k and the distance are *hyperparameters*: choices we make rather than learn. We must not pick
# them by looking at the test set, or its accuracy would no longer tell us how the classifier does
# on new data. Instead, 5-fold cross-validation cuts the *training* set into 5 parts, trains on 4
# of them, measures accuracy on the fifth, and repeats so each part is held out once. The error
# bars show the spread over the 5 folds.

# %%
ks = (1, 3, 5, 7, 10, 15, 20, 30, 50)
fig, ax = plt.subplots(figsize=(7, 4))
best = {}
for metric in ("l1", "l2"):
    best[metric], fold_accuracies = choose_k(X_train, y_train, ks=ks, folds=5, metric=metric, seed=0)
    mean = [np.mean(fold_accuracies[k]) for k in ks]
    std = [np.std(fold_accuracies[k]) for k in ks]
    ax.errorbar(ks, mean, yerr=std, marker="o", capsize=3, label=f"{metric.upper()}")
    print(f"{metric.upper()}: best k = {best[metric]} (mean validation accuracy {max(mean):.4f})")
ax.set_xlabel("k")
ax.set_ylabel("validation accuracy (5 folds)")
ax.set_title("k-NN on the digits: accuracy vs k")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Only now, with k fixed, do we look at the test set once:

# %%
for metric, k in best.items():
    knn = nn.KNearestNeighbor(metric).fit(X_train, y_train)
    print(f"{metric.upper()}, k = {k}: test accuracy {np.mean(knn.predict(X_test, k=k) == y_test):.3f}")

# %% [markdown]
# k-NN works well on these tiny, centred digits, but it is slow at test time (every prediction
# compares against the whole training set) and pixel distances say little about what an image
# *shows*. On real photos (CIFAR-10) it does poorly.
#
# ## Loss functions
#
# A linear classifier computes class scores $s = f(x_i; W) = W x_i + b$. A loss says how unhappy
# we are with the scores of one example whose correct class is $y_i$:
#
# * **multiclass SVM (hinge)**: $L_i = \sum_{j \ne y_i} \max(0, s_j - s_{y_i} + 1)$: zero once the
#   correct score beats every other score by a margin of 1.
# * **softmax cross-entropy**: $L_i = -\log \frac{e^{s_{y_i}}}{\sum_j e^{s_j}}$: the negative log
#   probability of the correct class; never exactly zero.
#
# The full loss is the mean over the examples. Three examples with three classes (cat, car,
# frog), the correct class being cat, car and frog in turn:

# %%
scores = autograd.tensor([[3.2, 5.1, -1.7],
                          [1.3, 4.9, 2.0],
                          [2.2, 2.5, -3.1]])
labels = np.array([0, 1, 2])
print("SVM loss per example:          ", nn.SVMLoss(reduction="none")(scores, labels).numpy().round(2))
print("cross-entropy per example:     ", nn.CrossEntropyLoss(reduction="none")(scores, labels).numpy().round(2))
print("mean SVM loss:", round(nn.SVMLoss()(scores, labels).item(), 2),
      " mean cross-entropy:", round(nn.CrossEntropyLoss()(scores, labels).item(), 2))

# %% [markdown]
# ## Linear classifiers on the digits
#
# `nn.Linear(64, 10)` holds W (10, 64) and b (10,). We train it twice, once with each loss, by
# stochastic gradient descent on mini-batches: forward (scores and loss), backward (gradients of
# the loss with respect to W and b), then a step against the gradient. A little weight decay (an
# L2 penalty on W) keeps the weights smooth. Each loss gets its own learning rate, 0.01 for the
# SVM and 0.1 for the softmax; on these digits either test accuracy moves by one or two percent
# over a tenfold range of learning rates.

# %%
from nn.data import DataLoader, TensorDataset

x_train = X_train.reshape(len(X_train), -1)  # (N, 64): one row of pixels per image
x_test = X_test.reshape(len(X_test), -1)


def train_linear(loss_fn, epochs=30, lr=0.1):
    autograd.manual_seed(0)
    model = nn.Linear(64, 10)
    optimizer = nn.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
    for _ in range(epochs):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def accuracy(model, x, y):
    with autograd.no_grad():
        return np.mean(model(autograd.tensor(x)).numpy().argmax(axis=1) == y)


linear = {"SVM loss": train_linear(nn.SVMLoss(), lr=0.01),
          "cross-entropy": train_linear(nn.CrossEntropyLoss(), lr=0.1)}
for name, model in linear.items():
    print(f"{name:>13}: train accuracy {accuracy(model, x_train, y_train):.3f}, "
          f"test accuracy {accuracy(model, x_test, y_test):.3f}")

# %% [markdown]
# ### What the linear classifier learned: one template per class
#
# Row c of W is a 64-pixel image: the score of class c is the dot product of the input with it
# (plus a bias). So each row is a *template* that the classifier matches against the input. Red
# pixels push the score of the class up where the input is ink, blue pixels push it down.

# %%
fig, axes = plt.subplots(2, 10, figsize=(12, 3))
for row, (name, model) in zip(axes, linear.items()):
    templates = model.weight.numpy().reshape(10, 8, 8)
    limit = np.abs(templates).max()
    for c, ax in enumerate(row):
        ax.imshow(templates[c], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(c), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name, fontsize=9)
plt.show()

# %% [markdown]
# Both losses reach similar accuracy and learn similar templates. Some are easy to read: the 0 is
# a red ring around a blue centre (ink in the middle is evidence *against* a zero). Others mix
# the shape of their own digit with the places where competing digits have ink. One template per
# class cannot describe a class that comes in several different shapes; the hidden layers of a
# neural network can (notebook 4).
