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
# # 3. Activation functions
#
# Without a nonlinearity between them, two linear layers collapse into one: W2 (W1 x) = (W2 W1) x.
# The activation function is what lets a network represent more than a linear classifier. Below,
# each activation of the lecture is plotted with its derivative. The derivative is not written
# by hand: we evaluate the activation on a grid of inputs with `requires_grad=True`, call
# `backward` on the sum of the outputs, and read `x.grad`. Since output i depends only on input i,
# the gradient of the sum is exactly the elementwise derivative.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

import autograd
import nn
from autograd import viz
from nn.data import load_digits

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random

grid = np.linspace(-4, 4, 401)


def value_and_derivative(activation):
    x = autograd.tensor(grid, requires_grad=True)  # float64, like the grid
    y = activation(x)
    y.sum().backward()
    return y.numpy(), x.grad.numpy()


# %% [markdown]
# Maxout is a layer rather than a fixed function: it takes the maximum of several learned linear
# functions of its input. We give a one-input Maxout unit two fixed pieces, max(x, -0.5 x - 1),
# to draw it.

# %%
maxout = nn.Maxout(1, 1, pieces=2)
maxout.weight.data = np.array([[1.0], [-0.5]])  # rows: the two pieces of the one output unit
maxout.bias.data = np.array([0.0, -1.0])

activations = {
    "sigmoid": nn.Sigmoid(),
    "tanh": nn.Tanh(),
    "ReLU": nn.ReLU(),
    "Leaky ReLU (0.1)": nn.LeakyReLU(0.1),
    "PReLU (alpha = 0.25)": nn.PReLU(init=0.25),
    "ELU (alpha = 1)": nn.ELU(alpha=1.0),
    "Maxout: max(x, -0.5x - 1)": lambda x: maxout(x.reshape(-1, 1)).reshape(-1),
}
fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), sharex=True)
for ax, (name, activation) in zip(axes.flat, activations.items()):
    value, derivative = value_and_derivative(activation)
    ax.plot(grid, value, label="f(x)")
    ax.plot(grid, derivative, "--", label="f'(x) by autograd")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set_title(name)
    ax.set_ylim(-2, 4)
    ax.grid(alpha=0.3)
axes.flat[0].legend(loc="upper left")
for ax in axes[1]:
    ax.set_xlabel("x")
axes.flat[-1].axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# What the pictures say:
#
# * **sigmoid** squashes to (0, 1). Its derivative is at most 0.25 (at 0) and nearly 0 for
#   |x| > 4: a *saturated* unit passes almost no gradient back. Its output is not zero-centred.
# * **tanh** squashes to (-1, 1) and is zero-centred, but saturates too.
# * **ReLU** does not saturate for x > 0 and is cheap, but its gradient is exactly 0 for x < 0.
# * **Leaky ReLU / PReLU** keep a small slope for x < 0, so the gradient never vanishes there;
#   PReLU *learns* the slope alpha.
# * **ELU** is smooth, has outputs closer to zero mean, and saturates gently for negative x.
# * **Maxout** is piecewise linear with learned pieces; ReLU is the special case max(0, x).
#
# PReLU's slope is a parameter, so backpropagation reaches it too. For f(x) = max(alpha x, x)
# with alpha < 1, df/dalpha = x where x < 0 and 0 elsewhere; summed over the grid:

# %%
prelu = nn.PReLU(init=0.25)
prelu(autograd.tensor(grid)).sum().backward()
print(f"d(sum f)/d(alpha) by autograd: {prelu.weight.grad.item():.2f}",
      f"  sum of the negative x: {grid[grid < 0].sum():.2f}")

# %% [markdown]
# ## Saturation: sigmoid gradients vanish with depth
#
# The backward pass multiplies by one local gradient per layer. For the sigmoid that factor is
# at most 0.25, so in a deep sigmoid network the gradient shrinks layer after layer on its way
# back to the input. We build the same 8-layer fully connected network (64 -> 64 -> ... -> 10)
# with three different activations, push a batch of digits through it, backpropagate the
# cross-entropy loss once, and compare the size of the gradient reaching each layer's weights.

# %%
X_train, y_train = load_digits("train")
x_batch = autograd.tensor(X_train[:256].reshape(256, -1))
y_batch = y_train[:256]


def deep_net(activation, depth=8, width=64):
    autograd.manual_seed(0)
    layers = []
    for i in range(depth - 1):
        layers += [nn.Linear(64 if i == 0 else width, width), activation()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


fig, ax = plt.subplots(figsize=(7, 4))
for activation in (nn.Sigmoid, nn.Tanh, nn.ReLU):
    net = deep_net(activation)
    nn.CrossEntropyLoss()(net(x_batch), y_batch).backward()
    norms = [layer.weight.grad.numpy().std() for layer in net if isinstance(layer, nn.Linear)]
    ax.semilogy(range(1, len(norms) + 1), norms, "o-", label=activation.__name__)
ax.set_xlabel("layer (1 = next to the input)")
ax.set_ylabel("std of dLoss/dW")
ax.set_title("Gradient size per layer after one backward pass")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# The sigmoid network's first layers receive gradients orders of magnitude smaller than its
# last layer, so they barely learn. Large weights make it worse: the pre-activations grow, the
# units saturate at 0 or 1, and their local gradient sigma'(z) = sigma(z)(1 - sigma(z)) is about 0.
# The same sigmoid layer on the same 256 digits, with default and with 10x larger weights; each
# histogram counts the 256 x 64 (example, unit) pairs:

# %%
layer = nn.Linear(64, 64)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for ax, scale in zip(axes, (1, 10)):
    with autograd.no_grad():
        z = x_batch @ (layer.weight * scale).T + layer.bias * scale
    local = (z.sigmoid() * (1 - z.sigmoid())).numpy().ravel()
    ax.hist(local, bins=50, range=(0, 0.25))
    ax.set_title(f"weights x{scale}: sigma'(z) < 0.01 for {np.mean(local < 0.01):.0%} of the pairs")
    ax.set_xlabel("local gradient sigma'(z)")
    ax.set_ylabel("(example, unit) pairs")
plt.show()

# %% [markdown]
# The same comparison as pictures of one training step. `viz.draw_model_step(..., grad_flow=True)`
# draws each layer as one node, coloured by the norm of the gradient that reaches it (one log
# scale for every picture, so the two compare at a glance), and labels each sigmoid with the
# fraction of its outputs within 0.01 of 0 or 1 (saturated) and each ReLU with the fraction of
# its units that are 0 for every example of the batch (dead). Drawing changes nothing in the
# network: no `.grad`, no weight.

# %%
for activation in (nn.Sigmoid, nn.ReLU):
    display(viz.draw_model_step(deep_net(activation), x_batch, y_batch, nn.functional.cross_entropy,
                                grad_flow=True, rankdir="TB"))

# %% [markdown]
# No sigmoid is saturated here: at the default initialisation their inputs stay near 0, where
# sigma' is close to its maximum 0.25. The gradient shrinks anyway, because every layer multiplies
# it by at most 0.25 (and by small weights). In the ReLU network the gradient shrinks far less,
# but its deeper layers already have many dead units on this batch: under PyTorch's default
# initialisation the part of a pre-activation that varies from example to example shrinks from
# layer to layer until the bias alone decides its sign, and the units with a negative bias
# output 0 for every example.
#
# ## Dead ReLUs
#
# A ReLU unit whose input is negative for *every* training example outputs 0 everywhere and,
# since relu'(x) = 0 for x < 0, receives zero gradient: nothing will ever move its weights again.
# It is dead. Two common ways to kill units: a bad initialisation (here, a hidden bias of -0.5)
# and a single gradient step with much too large a learning rate. We count the dead units of a
# 64 -> 100 -> 10 ReLU network on the whole training set.

# %%
from nn.data import DataLoader, TensorDataset

x_train = X_train.reshape(len(X_train), -1)
x_all = autograd.tensor(x_train)


def two_layer(hidden_bias_shift=0.0, activation=nn.ReLU):
    autograd.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 100), activation(), nn.Linear(100, 10))
    net[0].bias.data = net[0].bias.data + hidden_bias_shift
    return net


def dead_fraction(net):
    with autograd.no_grad():
        hidden = net[1](net[0](x_all)).numpy()
    return np.mean(hidden.max(axis=0) == 0)  # never positive on any training image


def train(net, epochs, lr=0.05):
    optimizer = nn.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
    for _ in range(epochs):
        for x, y in loader:
            loss = nn.CrossEntropyLoss()(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with autograd.no_grad():
        return nn.CrossEntropyLoss()(net(x_all), y_train).item()


def one_big_step(net, lr):
    optimizer = nn.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()(net(x_all[:64]), y_train[:64])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def report(label, net, epochs=3):
    before = dead_fraction(net)
    loss = train(net, epochs)
    print(f"{label:<34} {before:4.0%} dead -> after {epochs} epochs: {dead_fraction(net):4.0%} dead, loss {loss:.3f}")


report("default init", two_layer())
report("hidden bias shifted by -0.5", two_layer(hidden_bias_shift=-0.5))

big_step = two_layer()
train(big_step, 1)
print(f"trained 1 epoch: {dead_fraction(big_step):.0%} dead; now one SGD step with lr = 10")
one_big_step(big_step, lr=10.0)
with autograd.no_grad():
    print(f"right after the big step: loss {nn.CrossEntropyLoss()(big_step(x_all), y_train).item():.1f}")
report("after the big step", big_step)

# %% [markdown]
# Training does not bring dead units back; the bad initialisation and the big step leave the
# network with fewer working units and a higher loss. The big step does damage twice: it kills
# some units at once, and the huge loss it leaves behind makes the next updates large too, so
# the first epochs after it kill many more. The reason nothing comes back: the gradient reaching
# a dead unit's incoming weights is exactly zero, as one more backward pass shows.
# A Leaky ReLU in the same place always passes some gradient back.

# %%
with autograd.no_grad():
    dead = big_step[1](big_step[0](x_all)).numpy().max(axis=0) == 0
big_step.zero_grad()
nn.CrossEntropyLoss()(big_step(x_all), y_train).backward()
row_norms = np.abs(big_step[0].weight.grad.numpy()).sum(axis=1)
print(f"{dead.sum()} dead units; largest |dLoss/dW| over their weight rows: {row_norms[dead].max()}")
print(f"smallest over the live units' rows: {row_norms[~dead].min():.2e}")

leaky = two_layer(hidden_bias_shift=-0.5, activation=nn.LeakyReLU)
nn.CrossEntropyLoss()(leaky(x_all), y_train).backward()
print("Leaky ReLU with the bad bias: units with zero weight gradient:",
      int((np.abs(leaky[0].weight.grad.numpy()).sum(axis=1) == 0).sum()), "of 100")

# %% [markdown]
# In practice (the lecture's advice): use ReLU and be careful with the learning rate; try Leaky
# ReLU, Maxout or ELU; try tanh but expect less; avoid sigmoid in hidden layers.
