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
# # 8. Writing an op and testing its gradient
#
# Every op in `autograd` is an `autograd.Function` with two static methods, the forward()/backward()
# API of the lecture:
#
# * `forward(ctx, *inputs)` computes the output with NumPy on the inputs' `.data` and saves what
#   the backward pass will need (`ctx.save_for_backward`);
# * `backward(ctx, g)` receives the upstream gradient g (dLoss/dOutput, a Tensor) and returns
#   one gradient per input: upstream times local gradient, written with **Tensor operations**,
#   so that the backward pass is itself recorded and can be differentiated again.
#
# A hand-written backward is easy to get wrong, so we test it: against numerical derivatives
# (`gradcheck`, `gradgradcheck`) and on many automatically generated inputs (`hypothesis`).

# %%
import numpy as np
from hypothesis import Phase, find, given, settings

import autograd
from autograd import Function, Tensor, viz
from autograd.testing import GradcheckError, gradcheck, gradgradcheck
from autograd.testing.strategies import shapes, tensors

autograd.manual_seed(0)  # autograd's own generator (randn, rand, parameter initialisation)
rng = np.random.default_rng(0)  # everything else this notebook draws at random

# Reproducible hypothesis runs for a notebook: fixed seed, no example database on disk, no time
# limit per example, and no "explain" phase (its report points into gradcheck, not at our op).
quick = settings(derandomize=True, database=None, deadline=None, max_examples=100,
                 phases=[Phase.explicit, Phase.generate, Phase.shrink])


# %% [markdown]
# ## A custom op: softplus
#
# softplus(x) = log(1 + e^x) is a smooth ReLU. Its derivative is the sigmoid:
# d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(x). The forward pass uses NumPy's `logaddexp(0, x)`,
# which computes log(e^0 + e^x) without overflowing for large x.

# %%
class Softplus(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x.data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.sigmoid()  # Tensor ops: differentiable again


x = autograd.tensor(np.array([-3.0, 0.0, 2.0, 800.0]), requires_grad=True, name="x")
y = Softplus.apply(x)
total = y.sum()
total.backward()
with np.printoptions(precision=4, suppress=True):
    print("softplus(x)  =", y.numpy())
    print("d/dx         =", x.grad.numpy(), " sigmoid(x) =", 1 / (1 + np.exp(-x.numpy())))
viz.draw(total, show_grads=True)  # our op is a node like any built-in one

# %% [markdown]
# ## gradcheck and gradgradcheck
#
# `gradcheck(f, *inputs)` compares the Jacobian that backpropagation computes with central
# differences, entry by entry, in float64. `gradgradcheck` does the same for second derivatives:
# it differentiates the backward pass itself. Both pass for our softplus:

# %%
x = autograd.tensor(rng.standard_normal((3, 4)), requires_grad=True)
print("gradcheck:    ", gradcheck(Softplus.apply, x))
print("gradgradcheck:", gradgradcheck(Softplus.apply, x))


# %% [markdown]
# Why must `backward` use Tensor ops? Here is the same op (a subclass: the forward is inherited)
# with its derivative computed in plain NumPy and wrapped in a constant Tensor. First derivatives
# are still right, but the backward pass is now invisible to autograd: no second derivative
# reaches x at all, and `gradgradcheck` catches it. On failure the checks raise `GradcheckError`,
# naming the input, the worst entry, both values and the difference:

# %%
class SoftplusNumpyBackward(Softplus):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * Tensor(1 / (1 + np.exp(-x.data)))  # a constant: the graph stops here


print("gradcheck:", gradcheck(SoftplusNumpyBackward.apply, x))
try:
    gradgradcheck(SoftplusNumpyBackward.apply, x)
except GradcheckError as err:
    print("gradgradcheck failed:\n", err)


# %% [markdown]
# ## A planted bug that hides from a hand-picked test
#
# The contract's example op is the cube, d/dx x^3 = 3 x^2. Our buggy version writes the local
# gradient as 3 x |x|, which is right for x >= 0 and has the wrong sign for x < 0. A test that
# happens to use only positive numbers passes:

# %%
class BuggyCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x.abs()  # BUG: should be g * 3 * x ** 2


print("gradcheck on [0.5, 1.0, 2.0]:", gradcheck(BuggyCube.apply, autograd.tensor(np.array([0.5, 1.0, 2.0]))))


# %% [markdown]
# ### Property-based testing with hypothesis
#
# Instead of choosing inputs ourselves, we state a property ("the gradient agrees with the
# numerical one") for *every* tensor, and let `hypothesis` generate many: different shapes from
# `shapes(...)` (including 0-d scalars), values from `tensors(...)` (float64 in [-10, 10] by
# default). When an example fails, hypothesis *shrinks* it: it keeps simplifying the failing
# input (fewer axes, smaller sizes, simpler numbers) while the test still fails, and reports the
# smallest one. This is the test exactly as you would put it in a test file; we run it here
# inside `try/except` to show the report:

# %%
@quick
@given(tensors(shape=shapes(max_dims=3, max_side=4)))
def test_cube_gradient(x):
    assert gradcheck(BuggyCube.apply, x)


try:
    test_cube_gradient()
except GradcheckError as err:
    print(*err.__notes__, sep="\n")  # hypothesis attaches the minimal failing input
    print(err)


# %% [markdown]
# The whole search space shrank to a single number: a 0-d tensor holding -1. That tells us at once
# that the bug is about the sign of the input, not about shapes.
#
# ### A bug that only shows for some shapes
#
# A softmax over the last axis: s = exp(x) / sum(exp(x)), with the gradient
# dL/dx = s * (g - sum(g * s)), the sum taken along the last axis *per row*. Our version forgets
# `axis=-1` and sums over the whole tensor. For a single row (a 1-D input) that is the same
# thing, so a test with vectors alone would pass. `hypothesis.find` searches for an input on
# which a condition holds, and shrinks it, so it returns the simplest failing tensor directly:

# %%
class BuggySoftmax(Function):
    saves_output = True  # backward gets the output as ctx.output

    @staticmethod
    def forward(ctx, x):
        e = np.exp(x.data - x.data.max(axis=-1, keepdims=True))  # shifted by the max: no overflow
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def backward(ctx, g):
        s = ctx.output
        return s * (g - (g * s).sum())  # BUG: should be (g * s).sum(axis=-1, keepdims=True)


print("a 1-D input passes:", gradcheck(BuggySoftmax.apply, autograd.tensor(rng.standard_normal(5))))
minimal = find(tensors(shape=shapes(min_dims=1, max_dims=3, max_side=4)),
               lambda t: not gradcheck(BuggySoftmax.apply, t, raise_exception=False), settings=quick)
print("smallest failing input:", repr(minimal), "of shape", minimal.shape)


# %% [markdown]
# Two rows of one element each, all zeros: the smallest input with more than one row. With one
# element per row, softmax is the constant 1, so the true gradient is 0, while the buggy one mixes
# the two rows. The minimal example points straight at the missing axis. Fixed, the op passes the
# same search, and its second derivatives check out too:

# %%
class Softmax(Function):
    saves_output = True

    @staticmethod
    def forward(ctx, x):
        e = np.exp(x.data - x.data.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def backward(ctx, g):
        s = ctx.output
        return s * (g - (g * s).sum(axis=-1, keepdims=True))


@quick
@given(tensors(shape=shapes(min_dims=1, max_dims=3, max_side=4)))
def test_softmax_gradients(x):
    assert gradcheck(Softmax.apply, x)
    assert gradgradcheck(Softmax.apply, x)


test_softmax_gradients()
print("Softmax: first and second derivatives agree on 100 generated tensors")

# %% [markdown]
# chainrule tests its own ops the same way: every primitive goes through `gradcheck` and
# `gradgradcheck` under hypothesis (see `tests/`), and `chainrule gradcheck` runs that op database
# on your machine and prints a table.

# %% [markdown]
# ## Checking a whole layer, with its parameters
#
# A layer's gradients are only right if the gradients of its weights are right too.
# `gradcheck(layer, x)` checks the input *and* every parameter of anything that has a
# `parameters()` method, in float64, and hands the layer back as it found it (its dtype, values
# and `.grad`). `first_order_report` returns the same comparison as an object: how many Jacobian
# entries were compared, the largest absolute and relative difference, and the tolerance.

# %%
import time

import nn
from autograd.testing.gradcheck import first_order_report

layer = nn.Conv2d(2, 3, 3)
x = autograd.tensor(rng.standard_normal((1, 2, 5, 5)))
print("gradcheck(layer, x):", gradcheck(layer, x))
print(first_order_report(layer, [x]).summary())
print("the weight is still", layer.weight.dtype)

# %% [markdown]
# The 2,889 entries are the Jacobians of the 27 outputs with respect to the 50 inputs, the 54
# weights and the 3 biases. The dense check costs two forward passes per input and parameter
# element and one backward pass per output element, so a `Conv2d(16, 32, 3)` (4,640 parameters)
# would take about 20 seconds.
#
# ## Fast mode on a big layer
#
# `fast_mode=True` compares one random projection v . J . u per tensor (v over the outputs, u a
# random direction of the input, the weight or the bias) with the numerical derivative of
# v . f along u: one backward pass and two forward passes per tensor. A planted error in a
# weight's gradient is still caught, and the message names the parameter.

# %%
big = nn.Conv2d(16, 32, 3)
xb = autograd.tensor(rng.standard_normal((2, 16, 8, 8)))
start = time.perf_counter()
print("fast gradcheck:", gradcheck(big, xb, fast_mode=True), f"in {time.perf_counter() - start:.3f} s")
print(first_order_report(big, [xb], fast_mode=True).summary())


class MatmulWrongWeightGrad(Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x.data @ w.data

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w.T, 1.5 * (x.T @ g)  # the weight's gradient is 1.5 times too large


class PlantedLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(rng.standard_normal((3, 2)))

    def forward(self, x):
        return MatmulWrongWeightGrad.apply(x, self.weight)


try:
    gradcheck(PlantedLinear(), autograd.tensor(rng.standard_normal((4, 3))), fast_mode=True)
except GradcheckError as err:
    print(err)

# %% [markdown]
# The input's gradient is right (its projection passed); the weight's is 1.5 times the numerical
# one, and that is the projection that fails.
#
# ## Kinks
#
# At x = 0, relu has two one-sided slopes, 0 and 1, and the central difference averages them to
# 0.5: no correct backward can match it. Any value between the one-sided slopes is a valid
# subgradient, so there gradcheck accepts relu'(0) = 0 and counts the entry as a kink. A backward
# that says 2 at 0 is not a subgradient, and fails with both one-sided slopes in the message.

# %%
at_kink = autograd.tensor([-1.0, 0.0, 2.0])
print("relu at 0:", gradcheck(lambda t: t.relu(), at_kink))
print(first_order_report(lambda t: t.relu(), [at_kink]).summary())


class ReluSlopeTwoAtZero(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x.data, 0.0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * autograd.tensor(np.select([x.data > 0, x.data == 0], [1.0, 2.0], 0.0))


try:
    gradcheck(ReluSlopeTwoAtZero.apply, at_kink)
except GradcheckError as err:
    print(err)
