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
# # 6. Batch normalisation
#
# "You want unit Gaussian activations? Just make them so." Batch normalisation takes a mini-batch
# of activations x (N examples, C features) and, for each feature k separately, subtracts the
# batch mean and divides by the batch standard deviation:
#
# $$\hat{x}^{(k)} = \frac{x^{(k)} - \mathrm{E}[x^{(k)}]}{\sqrt{\mathrm{Var}[x^{(k)}] + \epsilon}}$$
#
# then lets the network undo that if it wants, with a learned scale and shift per feature:
# $y^{(k)} = \gamma^{(k)} \hat{x}^{(k)} + \beta^{(k)}$. In `nn.BatchNorm1d` (and `BatchNorm2d`,
# per channel of an image batch) gamma is called `weight` and beta `bias`. It is usually inserted
# after a fully connected or convolution layer and before the nonlinearity.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import autograd
import nn
from nn.data import DataLoader, TensorDataset, load_digits
from nn.train import fit

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random


# %% [markdown]
# ## Training mode: the statistics of the batch
#
# A batch of 64 examples with three features of very different scales. In training mode the
# layer's output has mean 0 and standard deviation 1 per feature, whatever the input's scale.

# %%
def batch_of(n=64):
    return autograd.tensor((rng.standard_normal((n, 3)) * [3.0, 0.5, 1.0] + [5.0, -2.0, 10.0]).astype(np.float32))


bn = nn.BatchNorm1d(3)
x = batch_of()
y = bn(x)  # a new module is in training mode
print("input  mean", x.numpy().mean(axis=0).round(3), " std", x.numpy().std(axis=0).round(3))
print("output mean", y.numpy().mean(axis=0).round(3), " std", y.numpy().std(axis=0).round(3))

# %% [markdown]
# The layer is an ordinary differentiable function, built from mean, subtraction, multiplication
# and square root. The four lines of the algorithm in the paper (Ioffe and Szegedy, 2015) give the
# same numbers: mini-batch mean, mini-batch variance, normalise, scale and shift.

# %%
mu = x.mean(axis=0)  # mini-batch mean
var = ((x - mu) ** 2).mean(axis=0)  # mini-batch variance (divided by m)
x_hat = (x - mu) / (var + bn.eps).sqrt()  # normalise
by_hand = bn.weight * x_hat + bn.bias  # scale and shift
print("largest difference to nn.BatchNorm1d:", np.abs(by_hand.numpy() - y.numpy()).max())

# %% [markdown]
# ## Evaluation mode: running averages
#
# At test time the output for one example must not depend on which other examples happen to be
# in its batch. So while training, the layer keeps running averages of the batch means and
# variances, `running = (1 - momentum) * running + momentum * batch` with momentum 0.1 (the
# variance averaged is the unbiased one, divided by m - 1, as in PyTorch), and `eval()` switches
# to those fixed statistics. After the first batch above:

# %%
m = len(x)
print("running_mean", bn.running_mean.numpy().round(4), " expected", (0.1 * x.numpy().mean(axis=0)).round(4))
print("running_var ", bn.running_var.numpy().round(4), " expected",
      (0.9 * 1 + 0.1 * x.numpy().var(axis=0) * m / (m - 1)).round(4))

# %% [markdown]
# After many training batches the running statistics settle near the data's true mean
# (5, -2, 10) and variance (9, 0.25, 1):

# %%
for _ in range(100):
    bn(batch_of())
print("running_mean", bn.running_mean.numpy().round(2), " running_var", bn.running_var.numpy().round(2))

# %% [markdown]
# The difference between the modes shows with one fixed example placed in two different batches.
# In training mode its output changes with its neighbours; in evaluation mode it does not.

# %%
example = batch_of(1)
batch_a = autograd.concatenate([example, batch_of(7)], axis=0)
batch_b = autograd.concatenate([example, batch_of(7) * 2.0], axis=0)
for mode in ("train", "eval"):
    bn.train(mode == "train")
    with autograd.no_grad():
        out_a, out_b = bn(batch_a).numpy()[0], bn(batch_b).numpy()[0]
    print(f"{mode:>5} mode: output for the example in batch A {out_a.round(3)}, in batch B {out_b.round(3)}")

# %% [markdown]
# ## Gamma and beta can recover the identity
#
# Normalising might throw away information the next layer needs. But if the network learns
# $\gamma^{(k)} = \sqrt{\mathrm{Var}[x^{(k)}] + \epsilon}$ and $\beta^{(k)} = \mathrm{E}[x^{(k)}]$, scale and
# shift exactly undo the normalisation and the layer passes its input through unchanged. Setting
# them by hand for our batch:

# %%
bn = nn.BatchNorm1d(3)
x = batch_of()
bn.weight.data = np.sqrt(x.numpy().var(axis=0) + bn.eps)
bn.bias.data = x.numpy().mean(axis=0)
y = bn(x)
print("gamma", bn.weight.numpy().round(3), " beta", bn.bias.numpy().round(3))
print("largest |y - x|:", np.abs(y.numpy() - x.numpy()).max())

# %% [markdown]
# ## Training with and without batch normalisation
#
# The same MLP on the digits (4 hidden layers of 64 ReLU units, PyTorch's default initialisation),
# trained with plain SGD for a few epochs, once without and once with a `BatchNorm1d` after every
# hidden `Linear`, at two learning rates. Without normalisation the signal shrinks from layer to
# layer and the deep network barely starts learning in this time; with it, training is fast and
# tolerates the larger learning rate.

# %%
X_train, y_train = load_digits("train")
X_test, y_test = load_digits("test")
test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=512)


def mlp(batch_norm, depth=4, width=64):
    autograd.manual_seed(0)
    layers, fan_in = [nn.Flatten()], 64
    for _ in range(depth):
        layers.append(nn.Linear(fan_in, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(width, 10))


histories = {}
for lr in (0.01, 0.1):
    for batch_norm in (False, True):
        model = mlp(batch_norm)
        train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True, seed=0)
        histories[lr, batch_norm] = fit(model, train_loader, nn.optim.SGD(model.parameters(), lr=lr), epochs=6,
                                        test_loader=test_loader, progress=False)
        print(f"lr {lr}, {'with' if batch_norm else 'without'} BatchNorm: "
              f"test accuracy {histories[lr, batch_norm]['test_acc'][-1]:.3f}")
print(mlp(batch_norm=True))

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for (lr, batch_norm), history in histories.items():
    style = dict(ls="-" if batch_norm else "--", marker="o", label=f"lr {lr}, {'BN' if batch_norm else 'no BN'}")
    axes[0].plot(history["epoch"], history["train_loss"], **style)
    axes[1].plot(history["epoch"], history["test_acc"], **style)
axes[0].set_title("training loss")
axes[1].set_title("test accuracy")
for ax in axes:
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# What batch normalisation buys, in the lecture's words: it improves gradient flow through the
# network, allows higher learning rates, reduces the strong dependence on initialisation, and
# acts as a mild regulariser (each example's output depends a little on its random batch mates).
# Remember `model.eval()` before testing, or the batch statistics are used at test time too.
