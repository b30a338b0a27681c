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
# # 2. Backpropagation
#
# Backpropagation is the chain rule applied backwards along a *computational graph*. The forward
# pass computes every intermediate value; the backward pass starts from df/df = 1 at the output
# and, node by node, multiplies the gradient arriving from above (the *upstream* gradient) by the
# node's own *local* gradient. Our `autograd` records the graph as you compute with `Tensor`s,
# and `loss.backward()` runs the backward pass. `autograd.viz` draws the graph.

# %%
import numpy as np
from IPython.display import display

import autograd
from autograd import viz
from autograd.testing import gradcheck, numerical_grad

autograd.manual_seed(0)  # autograd's own generator (randn, rand, parameter initialisation)
rng = np.random.default_rng(0)  # everything else this notebook draws at random

autograd.set_default_dtype(np.float64)  # Python floats become float64 tensors: the printed numbers stay exact

# %% [markdown]
# ## A simple example: f(x, y, z) = (x + y) z
#
# With x = -2, y = 5, z = -4. Split the expression in two gates: q = x + y and f = q z.
# Local gradients: dq/dx = dq/dy = 1, df/dq = z, df/dz = q. The chain rule gives
# df/dx = df/dq * dq/dx = z * 1 = -4, and the same for y; df/dz = q = 3.
#
# `retain_grad()` asks autograd to keep the gradient of the intermediate q too (by default only
# leaves keep theirs), and naming q labels its gate in the picture, `q = Add` (so does
# `viz.draw(f, params={"q": q})`). Every edge carries its forward value (green, on top) and,
# under it, the gradient of f with respect to that value (red), as on the lecture's slides
# (`show_shapes=False` leaves out the shape and dtype that every node of a scalar circuit shares).

# %%
x = autograd.tensor(-2.0, requires_grad=True, name="x")
y = autograd.tensor(5.0, requires_grad=True, name="y")
z = autograd.tensor(-4.0, requires_grad=True, name="z")
q = x + y
q.name = "q"
q.retain_grad()
f = q * z
f.name = "f"
f.backward()
print(f"f = {f.item()}  df/dx = {x.grad.item()}  df/dy = {y.grad.item()}  df/dz = {z.grad.item()}"
      f"  df/dq = {q.grad.item()}")
viz.draw(f, show_edges=True, show_shapes=False)


# %% [markdown]
# ## Patterns in the backward flow
#
# Each kind of gate treats the upstream gradient in a typical way:
#
# * **add gate: gradient distributor.** Its local gradients are all 1, so every input receives
#   the upstream gradient unchanged.
# * **max gate: gradient router.** The local gradient is 1 for the larger input and 0 for the
#   other, so the whole upstream gradient goes to the winner (at a tie, autograd gives each half).
# * **mul gate: gradient switcher.** The local gradient with respect to one input is the *other*
#   input: the inputs' values are swapped and scaled by the upstream gradient.
#
# In the code each pattern is one line of a `backward` (in `autograd/ops/elementwise.py`): `Add`
# returns `(g, g)`, `Mul` returns `(g * b, g * a)`, and `Maximum` multiplies g by 1 for the
# winner, 0 for the loser.
#
# `out.backward(gradient=...)` starts the backward pass with a given upstream gradient, here 2:

# %%
def gate_gradients(gate, a_value, b_value, upstream=2.0):
    a = autograd.tensor(a_value, requires_grad=True)
    b = autograd.tensor(b_value, requires_grad=True)
    out = gate(a, b)
    out.backward(gradient=autograd.tensor(upstream))
    return out.item(), a.grad.item(), b.grad.item()


gates = {"add": lambda a, b: a + b, "max": autograd.maximum, "mul": lambda a, b: a * b}
for name, gate in gates.items():
    out, grad_a, grad_b = gate_gradients(gate, 3.0, -1.0)
    print(f"{name}(a=3, b=-1) = {out:5.1f}   upstream 2 -> da = {grad_a:4.1f}, db = {grad_b:4.1f}")

# %% [markdown]
# The three patterns together in one circuit, f = 2 (x y + max(z, w)) with x = 3, y = -4,
# z = 2, w = -1: the add passes its gradient 2 to both branches, the max routes it all to z
# (w gets 0), and the mul swaps: df/dx = 2 y = -8, df/dy = 2 x = 6.

# %%
x, y, z, w = (autograd.tensor(v, requires_grad=True, name=n)
              for v, n in ((3.0, "x"), (-4.0, "y"), (2.0, "z"), (-1.0, "w")))
f = (x * y + autograd.maximum(z, w)) * 2
f.name = "f"
f.backward()
print({t.name: t.grad.item() for t in (x, y, z, w)})
viz.draw(f, show_edges=True, show_shapes=False)

# %% [markdown]
# ## A neuron: f(w, x) = sigmoid(w0 x0 + w1 x1 + w2)
#
# Written with elementary gates only (multiply, add, negate, exp, add 1, and the reciprocal 1 / u,
# drawn as a Div node), the sigmoid neuron is a longer circuit. Backpropagation walks it gate by
# gate:

# %%
w0, x0, w1, x1, w2 = (autograd.tensor(v, requires_grad=True, name=n)
                      for v, n in ((2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")))
dot = w0 * x0 + w1 * x1 + w2
f = 1 / (1 + (-dot).exp())
f.name = "f"
f.backward()
print(f"f = {f.item():.4f}")
print("gradients:", {t.name: round(t.grad.item(), 4) for t in (w0, x0, w1, x1, w2)})
viz.draw(f, show_edges=True, show_shapes=False)

# %% [markdown]
# The same backward pass as a film, one gate per frame in the order backward visits them. On
# each input wire of the current gate: the upstream gradient (d f / d its output) times the local
# gradient (d output / d input) gives the downstream gradient that flows on. `viz.storyboard`
# computes what it shows itself and changes no `.grad`; `viz.storyboard(f, "neuron.gif")` writes
# the film as an animated GIF. Here are the first frame (the division) and the one for the
# multiplication w1 * x1:

# %%
frames = viz.storyboard(f)
print(len(frames), "frames")
display(frames[0], frames[-2])

# %% [markdown]
# Any piece of the graph whose local gradient we can write down may become a single gate. The
# sigmoid is the classic case: its derivative is expressed through its own output,
# $\sigma'(x) = (1 - \sigma(x))\,\sigma(x)$. With `x.sigmoid()` as one gate the graph is shorter
# and the gradients are the same. At the neuron's input, dot = 1, so the local gradient is
# (1 - 0.73) * 0.73 = 0.2, and each weight's gradient is 0.2 times its input:

# %%
for t in (w0, x0, w1, x1, w2):
    t.grad = None
dot = w0 * x0 + w1 * x1 + w2
f = dot.sigmoid()
f.name = "f"
f.backward()
s = f.item()
print(f"local gradient (1 - s) s = {(1 - s) * s:.4f}")
print("gradients:", {t.name: round(t.grad.item(), 4) for t in (w0, x0, w1, x1, w2)})
viz.draw(f, show_edges=True, show_shapes=False)

# %% [markdown]
# ## A vectorised example: f(x, W) = ||W x||^2
#
# With q = W x, f = sum_i q_i^2. The gradient of f with respect to q is 2 q, and each
# q_k = sum_j W_kj x_j depends on W_ij only when k = i, with derivative x_j:
#
# $$\frac{\partial f}{\partial W_{ij}} = \sum_k \frac{\partial f}{\partial q_k}
#   \frac{\partial q_k}{\partial W_{ij}} = \sum_k 2 q_k\, \mathbf{1}_{k=i}\, x_j = 2 q_i x_j,
#   \qquad \nabla_W f = 2\, q\, x^T, \qquad \nabla_x f = 2\, W^T q.$$
#
# A gradient always has the shape of the variable it belongs to: W is 2x2, so is its gradient.
# The picture writes arrays of up to 9 numbers in full (a matrix row by row): W and x on the
# first edges, dW = 2 q x^T and dx = 2 W^T q under them, and 2 q = [0.44, 0.52] flowing back out
# of q. MatMul is the matrix-vector product W x: a 1-D x counts as a column, as in NumPy.

# %%
W = autograd.tensor([[0.1, 0.5], [-0.3, 0.8]], requires_grad=True, name="W")
x = autograd.tensor([0.2, 0.4], requires_grad=True, name="x")
q = W @ x
f = (q * q).sum()
f.name = "f"
f.backward()

q_value = q.numpy()
print("q =", q_value, " f =", round(f.item(), 4))
print("autograd  dW =\n", W.grad.numpy())
print("formula 2 q x^T =\n", 2 * np.outer(q_value, x.numpy()))
print("autograd  dx =", x.grad.numpy(), "  formula 2 W^T q =", 2 * W.numpy().T @ q_value)
viz.draw(f, show_edges=True)  # each node shows its output's shape: W (2, 2) and x (2,) -> q (2,) -> f ()


# %% [markdown]
# ### Checking a gradient numerically
#
# The derivative is a limit, (f(W + h) - f(W - h)) / 2h as h -> 0, so it can be *estimated* by
# evaluating f twice per entry of W. That is far too slow for training, but perfect for testing
# an analytic gradient. `numerical_grad` returns the central-difference estimate; `gradcheck`
# compares the whole Jacobian of a function with what backpropagation computes, here for a
# random 5x10 W as well:

# %%
def squared_norm(W, x):
    q = W @ x
    return (q * q).sum()


numeric_dW, numeric_dx = numerical_grad(squared_norm, W, x)
print("numerical dW =\n", numeric_dW.round(6))
print("largest difference to autograd:", np.abs(numeric_dW - W.grad.numpy()).max())

W_big = autograd.tensor(rng.standard_normal((5, 10)), requires_grad=True)
x_big = autograd.tensor(rng.standard_normal(10), requires_grad=True)
print("gradcheck on a random 5x10 W:", gradcheck(squared_norm, W_big, x_big))

# %% [markdown]
# ## Summary
#
# * Networks are far too large to write down the gradient of every parameter by hand.
# * Backpropagation is the recursive use of the chain rule along the computational graph; it
#   gives the gradient with respect to every input, parameter and intermediate value.
# * Each node implements `forward` (compute the output, save what the backward pass will need)
#   and `backward` (upstream gradient times local gradient, one result per input). Notebook 8
#   writes such a node by hand as an `autograd.Function` and tests it.
