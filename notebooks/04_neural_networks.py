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
# # 4. Neural networks on a spiral
#
# A linear classifier draws straight lines between classes. A neural network puts layers of
# simple units with a nonlinearity in between:
#
# * before: linear score function $f = W x$
# * now: 2-layer network $f = W_2 \max(0, W_1 x)$
# * or 3-layer network $f = W_3 \max(0, W_2 \max(0, W_1 x))$
#
# (biases included in every layer). We see the difference on a toy problem that no straight line
# can solve: three interleaved spiral arms in the plane.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import autograd
import nn
from nn.data import make_spiral

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random

X, y = make_spiral(n_per_class=100, classes=3, seed=0)
x = autograd.tensor(X)
print("X", X.shape, X.dtype, " y", y.shape, " classes", np.unique(y))

colors = np.array(["#1f77b4", "#d62728", "#2ca02c"])
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(X[:, 0], X[:, 1], c=colors[y], s=15, edgecolors="k", linewidths=0.3)
ax.set_title("spiral data: 3 classes, 300 points")
ax.set_aspect("equal")
plt.show()


# %% [markdown]
# ## The forward pass of a 3-layer network
#
# The lecture writes the forward pass of a small 3-layer network (3 inputs, two hidden layers of
# 4 sigmoid units, 1 output) in a few lines of NumPy. The same network with our layers gives the
# same number: a `Linear` layer holds the matrix W and the vector b, and `Sigmoid` is the
# activation.

# %%
def f(v):  # activation function (sigmoid); the lecture writes it as a lambda
    return 1.0 / (1.0 + np.exp(-v))


x_col = rng.standard_normal((3, 1))  # random input vector of three numbers (3x1)
W1, b1 = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
W2, b2 = rng.standard_normal((4, 4)), rng.standard_normal((4, 1))
W3, b3 = rng.standard_normal((1, 4)), rng.standard_normal((1, 1))
h1 = f(np.dot(W1, x_col) + b1)  # first hidden layer (4x1)
h2 = f(np.dot(W2, h1) + b2)  # second hidden layer (4x1)
out = np.dot(W3, h2) + b3  # output neuron (1x1)

net = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 1))
for layer, (W, b) in zip(net[::2], ((W1, b1), (W2, b2), (W3, b3))):
    layer.weight.data, layer.bias.data = W, b.ravel()
print("NumPy:", out.item(), "  nn.Sequential:", net(autograd.tensor(x_col.T)).item())
print(net)

# %% [markdown]
# ## Training: full-batch gradient descent
#
# All 300 points fit in one batch, so each step computes the loss on the whole data set,
# backpropagates, and moves every parameter against its gradient (SGD with momentum). A helper
# draws the *decision boundary*: it evaluates the network on a fine grid over the plane and
# colours each grid point by the class with the highest score.

# %%
grid_x, grid_y = np.meshgrid(np.linspace(-1.2, 1.2, 181), np.linspace(-1.2, 1.2, 181))
grid = autograd.tensor(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32))


def predict(model, points):
    with autograd.no_grad():
        return model(points).numpy().argmax(axis=1)


def plot_boundary(ax, model, title):
    ax.contourf(grid_x, grid_y, predict(model, grid).reshape(grid_x.shape), levels=[-0.5, 0.5, 1.5, 2.5],
                colors=colors, alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=colors[y], s=8, edgecolors="k", linewidths=0.2)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")


def train(model, steps, lr=0.1, snapshot_at=()):
    """Full-batch SGD with momentum; returns the loss per step and the predictions on the grid at snapshot_at."""
    optimizer = nn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses, frames = [], {}
    for step in range(steps + 1):
        if step in snapshot_at:
            frames[step] = predict(model, grid).reshape(grid_x.shape)
        if step == steps:
            break
        loss = nn.CrossEntropyLoss()(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, frames


def accuracy(model):
    return np.mean(predict(model, x) == y)


# %% [markdown]
# First a linear softmax classifier, then a 2-layer network with 100 hidden ReLU units and a
# 3-layer network with two hidden layers of 50 units.

# %%
autograd.manual_seed(0)
models = {
    "linear": nn.Linear(2, 3),
    "2-layer (100 hidden)": nn.Sequential(nn.Linear(2, 100), nn.ReLU(), nn.Linear(100, 3)),
    "3-layer (50, 50 hidden)": nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(),
                                             nn.Linear(50, 3)),
}
snapshot_steps = (0, 10, 25, 50, 100, 200, 400, 600)
curves, frames = {}, {}
for name, model in models.items():
    curves[name], frames[name] = train(model, steps=600, lr=0.1, snapshot_at=snapshot_steps)
    print(f"{name:>24}: final loss {curves[name][-1]:.3f}, training accuracy {accuracy(model):.1%}")

fig, axes = plt.subplots(1, 4, figsize=(17, 4.3))
for ax, (name, model) in zip(axes, models.items()):
    plot_boundary(ax, model, f"{name}: {accuracy(model):.0%}")
for name, losses in curves.items():
    axes[3].semilogy(losses, label=name)
axes[3].set_xlabel("step")
axes[3].set_title("training loss", fontsize=10)
axes[3].legend(fontsize=8)
axes[3].grid(alpha=0.3)
plt.show()


# %% [markdown]
# The linear classifier can only cut the plane into three wedges and gets about half the points
# right (the titles give the accuracy on the training points). With one hidden layer the network
# bends its boundary around the arms; with two, it follows them more tightly and reaches a lower
# loss in the same 600 steps.
#
# ## Gradient descent, frame by frame
#
# Each training step nudges all parameters a little downhill on the loss. These are snapshots
# of the 2-layer network's decision boundary during the training above: it starts from the
# random initialisation's nearly straight cuts and slowly wraps around the spirals.

# %%
def show_frame(ax, name, step):
    ax.contourf(grid_x, grid_y, frames[name][step], levels=[-0.5, 0.5, 1.5, 2.5], colors=colors, alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=colors[y], s=5, edgecolors="k", linewidths=0.2)
    loss = curves[name][step] if step < len(curves[name]) else curves[name][-1]
    ax.set_title(f"step {step}, loss {loss:.2f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")


fig, axes = plt.subplots(2, 4, figsize=(13, 6.8))
for ax, step in zip(axes.flat, snapshot_steps):
    show_frame(ax, "2-layer (100 hidden)", step)
plt.suptitle("2-layer network: decision boundary during training")
plt.show()

# %% [markdown]
# In a live notebook you can also scrub through the frames with a slider (this needs
# `ipywidgets`; without it, the grid above is the whole story).

# %%
try:
    from ipywidgets import interact
except ImportError:
    print("ipywidgets is not installed: see the frames above")
else:
    @interact(model=list(models), step=list(snapshot_steps))
    def scrub(model="2-layer (100 hidden)", step=600):
        fig, ax = plt.subplots(figsize=(4, 4))
        show_frame(ax, model, step)
        plt.show()

# %% [markdown]
# ## More hidden units, more capacity
#
# The width of the hidden layer sets how many bends the boundary can make. With 3 hidden units
# the network cannot follow the arms; with 100 it fits them closely (and, with more noise in the
# data, it would start to fit the noise too: that is when regularisation matters).

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
for ax, width in zip(axes, (3, 10, 100)):
    autograd.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 3))
    train(model, steps=400, lr=0.1)
    plot_boundary(ax, model, f"{width} hidden units: {accuracy(model):.0%} after 400 steps")
plt.show()
