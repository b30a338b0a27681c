"""Generate the lecture notebooks in this folder from the cells written below.

Each notebook is a list of cells, each cell a markdown or code string. Edit the cells here, then
run ``python notebooks/build.py``: it rewrites every ``notebooks/NN_topic.ipynb`` with empty outputs
and stable cell ids, so the committed files stay reviewable and diffs stay small. ``make test``
executes the notebooks with ``pytest --nbmake``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import autograd
import nn

autograd.manual_seed(0)  # parameter initialisation and dropout draw from autograd.generator()
rng = np.random.default_rng(0)  # everything else this notebook draws at random
"""

# notebooks without plots or layers: just the engine, seeded
SETUP_AUTOGRAD = """
import numpy as np

import autograd

autograd.manual_seed(0)  # autograd's own generator (randn, rand, parameter initialisation)
rng = np.random.default_rng(0)  # everything else this notebook draws at random
"""


def md(text: str) -> tuple[str, str]:
    """A markdown cell (indentation is removed when the notebook is built)."""
    return ("markdown", text)


def code(text: str) -> tuple[str, str]:
    """A code cell."""
    return ("code", text)


# --- 01 ------------------------------------------------------------------------------------------
IMAGE_CLASSIFICATION = [
    md("""
    # 1. Image classification: nearest neighbours and linear classifiers

    An image classifier maps a grid of pixel values to one label out of a fixed set. We start with
    the two simplest classifiers of the lecture and run both on real data: the 1,797 handwritten
    digits (8x8 gray images, labels 0-9) that come with chainrule, split once into 80% training and
    20% test images.

    * **k-nearest neighbours** memorises the training set and labels a new image by a vote among the
      k training images closest to it.
    * **A linear classifier** learns one weight per pixel and class, `scores = W x + b`, by
      minimising a loss (the multiclass SVM loss or the softmax cross-entropy).
    """),
    code(SETUP + """
from nn.data import load_digits
from nn.knn import choose_k

X_train, y_train = load_digits("train")
X_test, y_test = load_digits("test")
print("train", X_train.shape, X_train.dtype, " test", X_test.shape, " labels", np.unique(y_train))
"""),
    md("""
    Each sample is an (1, 8, 8) image: one channel, 8 rows, 8 columns, values in [0, 1]. A few of
    them, with their labels:
    """),
    code("""
fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
for ax, image, label in zip(axes.flat, X_train, y_train):
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(int(label))
    ax.axis("off")
plt.show()
"""),
    md("""
    ## k-nearest neighbours

    Training only stores the images. To classify a test image we measure its distance to every
    training image, flattened to a vector of 64 pixels $I$:

    * L1 (Manhattan): $d_1(I_1, I_2) = \\sum_p |I_1^p - I_2^p|$
    * L2 (Euclidean): $d_2(I_1, I_2) = \\sqrt{\\sum_p (I_1^p - I_2^p)^2}$

    With k = 1 the prediction is the label of the single nearest image.
    """),
    code("""
for metric in ("l1", "l2"):
    knn = nn.KNearestNeighbor(metric).fit(X_train, y_train)
    accuracy = np.mean(knn.predict(X_test, k=1) == y_test)
    print(f"{metric.upper()} distance, k = 1: test accuracy {accuracy:.3f}")
"""),
    md("""
    What does "nearest" look like? For a few test images, the five closest training images under
    the L2 distance (a red title marks a neighbour with a different label):
    """),
    code("""
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
"""),
    md("""
    The last two rows show that k matters, in both directions. The 9's two nearest neighbours are 3s,
    so k = 1 labels it wrongly, while a vote among five neighbours (three of them 9s) gets it right.
    The 8's nearest neighbour is an 8, but two of its five nearest are 3s, so the vote of five
    gets it wrong.

    ### Choosing k by cross-validation

    k and the distance are *hyperparameters*: choices we make rather than learn. We must not pick
    them by looking at the test set, or its accuracy would no longer tell us how the classifier does
    on new data. Instead, 5-fold cross-validation cuts the *training* set into 5 parts, trains on 4
    of them, measures accuracy on the fifth, and repeats so each part is held out once. The error
    bars show the spread over the 5 folds.
    """),
    code("""
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
"""),
    md("""
    Only now, with k fixed, do we look at the test set once:
    """),
    code("""
for metric, k in best.items():
    knn = nn.KNearestNeighbor(metric).fit(X_train, y_train)
    print(f"{metric.upper()}, k = {k}: test accuracy {np.mean(knn.predict(X_test, k=k) == y_test):.3f}")
"""),
    md("""
    k-NN works well on these tiny, centred digits, but it is slow at test time (every prediction
    compares against the whole training set) and pixel distances say little about what an image
    *shows*. On real photos (CIFAR-10) it does poorly.

    ## Loss functions

    A linear classifier computes class scores $s = f(x_i; W) = W x_i + b$. A loss says how unhappy
    we are with the scores of one example whose correct class is $y_i$:

    * **multiclass SVM (hinge)**: $L_i = \\sum_{j \\ne y_i} \\max(0, s_j - s_{y_i} + 1)$: zero once the
      correct score beats every other score by a margin of 1.
    * **softmax cross-entropy**: $L_i = -\\log \\frac{e^{s_{y_i}}}{\\sum_j e^{s_j}}$: the negative log
      probability of the correct class; never exactly zero.

    The full loss is the mean over the examples. Three examples with three classes (cat, car,
    frog), the correct class being cat, car and frog in turn:
    """),
    code("""
scores = autograd.tensor([[3.2, 5.1, -1.7],
                          [1.3, 4.9, 2.0],
                          [2.2, 2.5, -3.1]])
labels = np.array([0, 1, 2])
print("SVM loss per example:          ", nn.SVMLoss(reduction="none")(scores, labels).numpy().round(2))
print("cross-entropy per example:     ", nn.CrossEntropyLoss(reduction="none")(scores, labels).numpy().round(2))
print("mean SVM loss:", round(nn.SVMLoss()(scores, labels).item(), 2),
      " mean cross-entropy:", round(nn.CrossEntropyLoss()(scores, labels).item(), 2))
"""),
    md("""
    ## Linear classifiers on the digits

    `nn.Linear(64, 10)` holds W (10, 64) and b (10,). We train it twice, once with each loss, by
    stochastic gradient descent on mini-batches: forward (scores and loss), backward (gradients of
    the loss with respect to W and b), then a step against the gradient. A little weight decay (an
    L2 penalty on W) keeps the weights smooth.
    """),
    code("""
from nn.data import DataLoader, TensorDataset

x_train = X_train.reshape(len(X_train), -1)  # (N, 64): one row of pixels per image
x_test = autograd.tensor(X_test.reshape(len(X_test), -1))


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
          f"test accuracy {accuracy(model, X_test.reshape(len(X_test), -1), y_test):.3f}")
"""),
    md("""
    ### What the linear classifier learned: one template per class

    Row c of W is a 64-pixel image: the score of class c is the dot product of the input with it
    (plus a bias). So each row is a *template* that the classifier matches against the input. Red
    pixels push the score of the class up where the input is ink, blue pixels push it down.
    """),
    code("""
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
"""),
    md("""
    Both losses reach similar accuracy and learn similar templates. Some are easy to read: the 0 is
    a red ring around a blue centre (ink in the middle is evidence *against* a zero). Others mix
    the shape of their own digit with the places where competing digits have ink. One template per
    class cannot describe a class that comes in several different shapes; the hidden layers of a
    neural network can (notebook 4).
    """),
]

# --- 02 ------------------------------------------------------------------------------------------
BACKPROP = [
    md("""
    # 2. Backpropagation

    Backpropagation is the chain rule applied backwards along a *computational graph*. The forward
    pass computes every intermediate value; the backward pass starts from df/df = 1 at the output
    and, node by node, multiplies the gradient arriving from above (the *upstream* gradient) by the
    node's own *local* gradient. Our `autograd` records the graph as you compute with `Tensor`s,
    and `loss.backward()` runs the backward pass. `autograd.viz` draws the graph.
    """),
    code(SETUP_AUTOGRAD + """
from autograd import viz
from autograd.testing import gradcheck, numerical_grad

autograd.set_default_dtype(np.float64)  # Python floats become float64 tensors: the printed numbers stay exact
"""),
    md("""
    ## A simple example: f(x, y, z) = (x + y) z

    With x = -2, y = 5, z = -4. Split the expression in two gates: q = x + y and f = q z.
    Local gradients: dq/dx = dq/dy = 1, df/dq = z, df/dz = q. The chain rule gives
    df/dx = df/dq * dq/dx = z * 1 = -4, and the same for y; df/dz = q = 3.

    `retain_grad()` asks autograd to keep the gradient of the intermediate q too (by default only
    leaves keep theirs). In the picture every edge carries its forward value (green, above) and
    the gradient of f with respect to that value (red, below), as on the lecture's slides.
    """),
    code("""
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
viz.draw(f, show_edges=True)
"""),
    md("""
    ## Patterns in the backward flow

    Each kind of gate treats the upstream gradient in a typical way:

    * **add gate: gradient distributor.** Its local gradients are all 1, so every input receives
      the upstream gradient unchanged.
    * **max gate: gradient router.** The local gradient is 1 for the larger input and 0 for the
      other, so the whole upstream gradient goes to the winner.
    * **mul gate: gradient switcher.** The local gradient with respect to one input is the *other*
      input: the inputs' values are swapped and scaled by the upstream gradient.

    `out.backward(gradient=...)` starts the backward pass with a given upstream gradient, here 2:
    """),
    code("""
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
"""),
    md("""
    The three patterns together in one circuit, f = 2 (x y + max(z, w)) with x = 3, y = -4,
    z = 2, w = -1: the add passes its gradient 2 to both branches, the max routes it all to z
    (w gets 0), and the mul swaps: df/dx = 2 y = -8, df/dy = 2 x = 6.
    """),
    code("""
x, y, z, w = (autograd.tensor(v, requires_grad=True, name=n)
              for v, n in ((3.0, "x"), (-4.0, "y"), (2.0, "z"), (-1.0, "w")))
f = (x * y + autograd.maximum(z, w)) * 2
f.name = "f"
f.backward()
print({t.name: t.grad.item() for t in (x, y, z, w)})
viz.draw(f, show_edges=True)
"""),
    md("""
    ## A neuron: f(w, x) = sigmoid(w0 x0 + w1 x1 + w2)

    Written with elementary gates only (multiply, add, negate, exp, add 1, reciprocal), the
    sigmoid neuron is a longer circuit. Backpropagation walks it gate by gate:
    """),
    code("""
w0, x0, w1, x1, w2 = (autograd.tensor(v, requires_grad=True, name=n)
                      for v, n in ((2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")))
dot = w0 * x0 + w1 * x1 + w2
f = 1 / (1 + (-dot).exp())
f.name = "f"
f.backward()
print(f"f = {f.item():.4f}")
print("gradients:", {t.name: round(t.grad.item(), 4) for t in (w0, x0, w1, x1, w2)})
viz.draw(f, show_edges=True)
"""),
    md("""
    Any piece of the graph whose local gradient we can write down may become a single gate. The
    sigmoid is the classic case: its derivative is expressed through its own output,
    $\\sigma'(x) = (1 - \\sigma(x))\\,\\sigma(x)$. With `x.sigmoid()` as one gate the graph is shorter
    and the gradients are the same. At the neuron's input, dot = 1, so the local gradient is
    (1 - 0.73) * 0.73 = 0.2, and each weight's gradient is 0.2 times its input:
    """),
    code("""
for t in (w0, x0, w1, x1, w2):
    t.grad = None
dot = w0 * x0 + w1 * x1 + w2
f = dot.sigmoid()
f.name = "f"
f.backward()
s = f.item()
print(f"local gradient (1 - s) s = {(1 - s) * s:.4f}")
print("gradients:", {t.name: round(t.grad.item(), 4) for t in (w0, x0, w1, x1, w2)})
viz.draw(f, show_edges=True)
"""),
    md("""
    ## A vectorised example: f(x, W) = ||W x||^2

    With q = W x, f = sum_i q_i^2. The gradient of f with respect to q is 2 q, and each
    q_k = sum_j W_kj x_j depends on W_ij only when k = i, with derivative x_j:

    $$\\frac{\\partial f}{\\partial W_{ij}} = \\sum_k \\frac{\\partial f}{\\partial q_k}
      \\frac{\\partial q_k}{\\partial W_{ij}} = \\sum_k 2 q_k\\, \\mathbf{1}_{k=i}\\, x_j = 2 q_i x_j,
      \\qquad \\nabla_W f = 2\\, q\\, x^T, \\qquad \\nabla_x f = 2\\, W^T q.$$

    A gradient always has the shape of the variable it belongs to: W is 2x2, so is its gradient.
    """),
    code("""
W = autograd.tensor([[0.1, 0.5], [-0.3, 0.8]], requires_grad=True, name="W")
x = autograd.tensor([0.2, 0.4], requires_grad=True, name="x")
q = W @ x
f = (q * q).sum()
f.backward()

q_value = q.numpy()
print("q =", q_value, " f =", round(f.item(), 4))
print("autograd  dW =\\n", W.grad.numpy())
print("formula 2 q x^T =\\n", 2 * np.outer(q_value, x.numpy()))
print("autograd  dx =", x.grad.numpy(), "  formula 2 W^T q =", 2 * W.numpy().T @ q_value)
viz.draw(f)  # each node shows its output's shape: W (2, 2) and x (2,) -> q (2,) -> f ()
"""),
    md("""
    ### Checking a gradient numerically

    The derivative is a limit, (f(W + h) - f(W - h)) / 2h as h -> 0, so it can be *estimated* by
    evaluating f twice per entry of W. That is far too slow for training, but perfect for testing
    an analytic gradient. `numerical_grad` returns the central-difference estimate; `gradcheck`
    compares the whole Jacobian of a function with what backpropagation computes, here for a
    random 5x10 W as well:
    """),
    code("""
def squared_norm(W, x):
    q = W @ x
    return (q * q).sum()


numeric_dW, numeric_dx = numerical_grad(squared_norm, W, x)
print("numerical dW =\\n", numeric_dW.round(6))
print("largest difference to autograd:", np.abs(numeric_dW - W.grad.numpy()).max())

W_big = autograd.tensor(rng.standard_normal((5, 10)), requires_grad=True)
x_big = autograd.tensor(rng.standard_normal(10), requires_grad=True)
print("gradcheck on a random 5x10 W:", gradcheck(squared_norm, W_big, x_big))
"""),
    md("""
    ## Summary

    * Networks are far too large to write down the gradient of every parameter by hand.
    * Backpropagation is the recursive use of the chain rule along the computational graph; it
      gives the gradient with respect to every input, parameter and intermediate value.
    * Each node implements `forward` (compute the output, save what the backward pass will need)
      and `backward` (upstream gradient times local gradient, one result per input). Notebook 8
      writes such a node by hand as an `autograd.Function` and tests it.
    """),
]

# --- 03 ------------------------------------------------------------------------------------------
ACTIVATIONS = [
    md("""
    # 3. Activation functions

    Without a nonlinearity between them, two linear layers collapse into one: W2 (W1 x) = (W2 W1) x.
    The activation function is what lets a network represent more than a linear classifier. Below,
    each activation of the lecture is plotted with its derivative. The derivative is not written
    by hand: we evaluate the activation on a grid of inputs with `requires_grad=True`, call
    `backward` on the sum of the outputs, and read `x.grad`. Since output i depends only on input i,
    the gradient of the sum is exactly the elementwise derivative.
    """),
    code(SETUP + """
from nn.data import load_digits

grid = np.linspace(-4, 4, 401)


def value_and_derivative(activation):
    x = autograd.tensor(grid, requires_grad=True)  # float64, like the grid
    y = activation(x)
    y.sum().backward()
    return y.numpy(), x.grad.numpy()
"""),
    md("""
    Maxout is a layer rather than a fixed function: it takes the maximum of several learned linear
    functions of its input. We give a one-input Maxout unit two fixed pieces, max(x, -0.5 x - 1),
    to draw it.
    """),
    code("""
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
axes.flat[-1].axis("off")
plt.tight_layout()
plt.show()
"""),
    md("""
    What the pictures say:

    * **sigmoid** squashes to (0, 1). Its derivative is at most 0.25 (at 0) and nearly 0 for
      |x| > 4: a *saturated* unit passes almost no gradient back. Its output is not zero-centred.
    * **tanh** squashes to (-1, 1) and is zero-centred, but saturates too.
    * **ReLU** does not saturate for x > 0 and is cheap, but its gradient is exactly 0 for x < 0.
    * **Leaky ReLU / PReLU** keep a small slope for x < 0, so the gradient never vanishes there;
      PReLU *learns* the slope alpha.
    * **ELU** is smooth, has outputs closer to zero mean, and saturates gently for negative x.
    * **Maxout** is piecewise linear with learned pieces; ReLU is the special case max(0, x).

    PReLU's slope is a parameter, so backpropagation reaches it too. For f(x) = max(alpha x, x)
    with alpha < 1, df/dalpha = x where x < 0 and 0 elsewhere; summed over the grid:
    """),
    code("""
prelu = nn.PReLU(init=0.25)
prelu(autograd.tensor(grid)).sum().backward()
print("d(sum f)/d(alpha) by autograd:", prelu.weight.grad.numpy(), "  sum of the negative x:", grid[grid < 0].sum())
"""),
    md("""
    ## Saturation: sigmoid gradients vanish with depth

    The backward pass multiplies by one local gradient per layer. For the sigmoid that factor is
    at most 0.25, so in a deep sigmoid network the gradient shrinks layer after layer on its way
    back to the input. We build the same 8-layer fully connected network (64 -> 64 -> ... -> 10)
    with three different activations, push a batch of digits through it, backpropagate the
    cross-entropy loss once, and compare the size of the gradient reaching each layer's weights.
    """),
    code("""
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
"""),
    md("""
    The sigmoid network's first layers receive gradients orders of magnitude smaller than its
    last layer, so they barely learn. Large weights make it worse: the pre-activations grow, the
    units saturate at 0 or 1, and their local gradient sigma'(z) = sigma(z)(1 - sigma(z)) is about 0.
    The same sigmoid layer with default and with 10x larger weights:
    """),
    code("""
layer = nn.Linear(64, 64)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for ax, scale in zip(axes, (1, 10)):
    with autograd.no_grad():
        z = x_batch @ (layer.weight * scale).T + layer.bias * scale
    local = (z.sigmoid() * (1 - z.sigmoid())).numpy().ravel()
    ax.hist(local, bins=50, range=(0, 0.25))
    ax.set_title(f"weights x{scale}: {np.mean(local < 0.01):.0%} of units have sigma'(z) < 0.01")
    ax.set_xlabel("local gradient sigma'(z)")
plt.show()
"""),
    md("""
    ## Dead ReLUs

    A ReLU unit whose input is negative for *every* training example outputs 0 everywhere and,
    since relu'(x) = 0 for x < 0, receives zero gradient: nothing will ever move its weights again.
    It is dead. Two common ways to kill units: a bad initialisation (here, a hidden bias of -0.5)
    and a single gradient step with much too large a learning rate. We count the dead units of a
    64 -> 100 -> 10 ReLU network on the whole training set.
    """),
    code("""
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
report("after the big step", big_step)
"""),
    md("""
    Training does not bring dead units back; the bad initialisation and the big step leave the
    network with fewer working units and a higher loss. The reason: the gradient reaching a dead
    unit's incoming weights is exactly zero, as one more backward pass shows.
    A Leaky ReLU in the same place always passes some gradient back.
    """),
    code("""
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
"""),
    md("""
    In practice (the lecture's advice): use ReLU and be careful with the learning rate; try Leaky
    ReLU, Maxout or ELU; try tanh but expect less; avoid sigmoid in hidden layers.
    """),
]

# --- 04 ------------------------------------------------------------------------------------------
NEURAL_NETWORKS = [
    md("""
    # 4. Neural networks on a spiral

    A linear classifier draws straight lines between classes. A neural network puts layers of
    simple units with a nonlinearity in between:

    * before: linear score function $f = W x$
    * now: 2-layer network $f = W_2 \\max(0, W_1 x)$
    * or 3-layer network $f = W_3 \\max(0, W_2 \\max(0, W_1 x))$

    (biases included in every layer). We see the difference on a toy problem that no straight line
    can solve: three interleaved spiral arms in the plane.
    """),
    code(SETUP + """
from nn.data import make_spiral

X, y = make_spiral(n_per_class=100, classes=3, seed=0)
x = autograd.tensor(X)
print("X", X.shape, X.dtype, " y", y.shape, " classes", np.unique(y))

colors = np.array(["#1f77b4", "#d62728", "#2ca02c"])
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(X[:, 0], X[:, 1], c=colors[y], s=15, edgecolors="k", linewidths=0.3)
ax.set_title("spiral data: 3 classes, 300 points")
ax.set_aspect("equal")
plt.show()
"""),
    md("""
    ## The forward pass of a 3-layer network

    The lecture writes the forward pass of a small 3-layer network (3 inputs, two hidden layers of
    4 sigmoid units, 1 output) in a few lines of NumPy. The same network with our layers gives the
    same number: a `Linear` layer holds the matrix W and the vector b, and `Sigmoid` is the
    activation.
    """),
    code("""
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
"""),
    md("""
    ## Training: full-batch gradient descent

    All 300 points fit in one batch, so each step computes the loss on the whole data set,
    backpropagates, and moves every parameter against its gradient (SGD with momentum). A helper
    draws the *decision boundary*: it evaluates the network on a fine grid over the plane and
    colours each grid point by the class with the highest score.
    """),
    code("""
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
    \"\"\"Full-batch SGD with momentum; returns the loss per step and the predictions on the grid at snapshot_at.\"\"\"
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
"""),
    md("""
    First a linear softmax classifier, then a 2-layer network with 100 hidden ReLU units and a
    3-layer network with two hidden layers of 50 units.
    """),
    code("""
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
"""),
    md("""
    The linear classifier can only cut the plane into three wedges and gets about half the points
    right. With one hidden layer the network bends its boundary around the arms.

    ## Gradient descent, frame by frame

    Each training step nudges all parameters a little downhill on the loss. These are snapshots
    of the 2-layer network's decision boundary during the training above: it starts from the
    random initialisation's nearly straight cuts and slowly wraps around the spirals.
    """),
    code("""
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
"""),
    md("""
    In a live notebook you can also scrub through the frames with a slider (this needs
    `ipywidgets`; without it, the grid above is the whole story).
    """),
    code("""
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
"""),
    md("""
    ## More hidden units, more capacity

    The width of the hidden layer sets how many bends the boundary can make. With 3 hidden units
    the network cannot follow the arms; with 100 it fits them closely (and, with more noise in the
    data, it would start to fit the noise too: that is when regularisation matters).
    """),
    code("""
fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
for ax, width in zip(axes, (3, 10, 100)):
    autograd.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 3))
    train(model, steps=400, lr=0.1)
    plot_boundary(ax, model, f"{width} hidden units: {accuracy(model):.0%}")
plt.show()
"""),
]

# --- 05 ------------------------------------------------------------------------------------------
CONV_POOL = [
    md("""
    # 5. Convolution and pooling

    A fully connected layer looks at the whole image at once. A **convolution layer** slides small
    filters over the image instead: each filter extends through the full depth of its input (all
    channels) and, at every position, takes the dot product of its weights with the patch under it,
    plus a bias. One filter gives one *activation map*; K filters give K maps, stacked into a new
    "image" with K channels. Images are stored NCHW: (batch, channels, height, width).
    """),
    code(SETUP + """
import nn.functional as F
from nn.data import load_digits

digits, labels = load_digits()
"""),
    md("""
    ## A convolution is a sliding dot product

    The lecture's example: a 32x32x3 image and six 5x5x3 filters give six 28x28 activation maps.
    We check one output number by hand: the dot product of filter 0 with the 5x5x3 patch at the
    top-left corner, plus the filter's bias.
    """),
    code("""
image = autograd.tensor(rng.random((1, 3, 32, 32)).astype(np.float32))
conv = nn.Conv2d(3, 6, kernel_size=5)
maps = conv(image)
print("input", image.shape, "-> six 5x5 filters, weight", conv.weight.shape, "-> output", maps.shape)

patch = image.numpy()[0, :, 0:5, 0:5]
by_hand = (patch * conv.weight.numpy()[0]).sum() + conv.bias.numpy()[0]
print(f"output[0, 0, 0, 0] = {maps.numpy()[0, 0, 0, 0]:.6f}, by hand: {by_hand:.6f}")
"""),
    md("""
    ## Spatial size of the output

    An N x N input and an F x F filter applied with stride S fit (N - F) / S + 1 times along each
    side. With a 7x7 input and a 3x3 filter:

    * stride 1: (7 - 3) / 1 + 1 = 5
    * stride 2: (7 - 3) / 2 + 1 = 3
    * stride 3: (7 - 3) / 3 + 1 = 2.33: *doesn't fit*. Like PyTorch, we round down: the last column
      and row, which no window covers completely, are dropped, and the output is 2x2.

    Zero padding with P pixels on each border changes the formula to (N - F + 2P) / S + 1; with
    P = 1 the 7x7 input gives a 7x7 output.
    """),
    code("""
def output_size(n, f, stride=1, padding=0):
    return (n - f + 2 * padding) / stride + 1


x7 = autograd.zeros(1, 1, 7, 7)
w3 = autograd.zeros(1, 1, 3, 3)
for stride, padding in ((1, 0), (2, 0), (3, 0), (1, 1)):
    out = F.conv2d(x7, w3, stride=stride, padding=padding)
    print(f"7x7 input, 3x3 filter, stride {stride}, pad {padding}: formula {output_size(7, 3, stride, padding):.2f}"
          f" -> conv2d output {out.shape[2]}x{out.shape[3]}")
"""),
    md("""
    Padding with (F - 1) / 2 zeros at stride 1 keeps the spatial size (F = 3 -> pad 1, F = 5 -> pad 2,
    F = 7 -> pad 3). Without padding, repeated 5x5 convolutions shrink a 32x32 input fast:
    """),
    code("""
for f in (3, 5, 7):
    out = F.conv2d(autograd.zeros(1, 1, 32, 32), autograd.zeros(1, 1, f, f), padding=(f - 1) // 2)
    print(f"F = {f}, pad {(f - 1) // 2}: 32 -> {out.shape[-1]}")

sizes, volume = [32], autograd.zeros(1, 1, 32, 32)
while volume.shape[-1] >= 5:
    volume = F.conv2d(volume, autograd.zeros(1, 1, 5, 5))
    sizes.append(volume.shape[-1])
print("5x5 filters without padding:", " -> ".join(map(str, sizes)))
"""),
    md("""
    ## Counting parameters

    Input volume 32x32x3, ten 5x5 filters with stride 1 and pad 2. Output: (32 + 2*2 - 5) / 1 + 1 = 32
    spatially, so 32x32x10. Each filter has 5*5*3 = 75 weights plus 1 bias = 76 parameters, so the
    layer has 76 * 10 = 760. Thanks to parameter sharing that number does not depend on the image
    size at all.
    """),
    code("""
conv = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
print("output:", conv(autograd.zeros(1, 3, 32, 32)).shape)
for name, parameter in conv.named_parameters():
    print(f"{name}: shape {parameter.shape}, {parameter.size} numbers")
print("total:", sum(p.size for p in conv.parameters()))
"""),
    md("""
    A 1x1 convolution makes sense too: it is a dot product through the depth at each pixel, the
    same small fully connected layer applied at every position.
    """),
    code("""
x = autograd.tensor(rng.standard_normal((1, 64, 5, 5)).astype(np.float32))
conv1x1 = nn.Conv2d(64, 32, kernel_size=1)
per_pixel = np.einsum("oc,nchw->nohw", conv1x1.weight.numpy()[:, :, 0, 0], x.numpy()) \\
    + conv1x1.bias.numpy()[None, :, None, None]
print("1x1 conv:", x.shape, "->", conv1x1(x).shape, "; same as a per-pixel linear map:",
      np.allclose(conv1x1(x).numpy(), per_pixel, atol=1e-5))
"""),
    md("""
    ## Hand-made filters on real digits

    Before any learning, a few classic 3x3 filters show what a convolution can detect. The Sobel
    filters respond to horizontal and vertical changes of brightness (edges), the box filter
    blurs, the Laplacian responds to spots and thin strokes. One `conv2d` call applies all of them
    to a batch of digits (padding 1 keeps the 8x8 size). Red is positive, blue negative.
    """),
    code("""
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
"""),
    md("""
    ## Activation maps of a convolution layer

    A `Conv2d` layer learns its filters instead. Freshly initialised, six 3x3 filters followed by
    a ReLU already turn one digit into six different maps (an all-dark map belongs to a filter whose
    response is negative everywhere on this digit, which the ReLU sets to zero). Notebook 7 shows
    the filters and maps of a trained network.
    """),
    code("""
layer = nn.Sequential(nn.Conv2d(1, 6, kernel_size=3, padding=1), nn.ReLU())
with autograd.no_grad():
    activation_maps = layer(autograd.tensor(digits[:1])).numpy()[0]  # (6, 8, 8)

fig, axes = plt.subplots(2, 7, figsize=(12, 3.8))
axes[0, 0].imshow(digits[0, 0], cmap="gray_r")
axes[0, 0].set_title("input", fontsize=9)
for k in range(6):
    axes[0, k + 1].imshow(layer[0].weight.numpy()[k, 0], cmap="RdBu_r")
    axes[0, k + 1].set_title(f"filter {k}", fontsize=9)
    axes[1, k + 1].imshow(activation_maps[k], cmap="viridis")
    axes[1, k + 1].set_title(f"map {k}", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.show()
"""),
    md("""
    ## Pooling

    A pooling layer makes the representation smaller: it works on each activation map separately
    and summarises each window, here by its maximum. It has no parameters. The lecture's example,
    max pooling with 2x2 windows and stride 2 on one 4x4 depth slice:
    """),
    code("""
x = autograd.tensor([[1.0, 1, 2, 4],
                     [5, 6, 7, 8],
                     [3, 2, 1, 0],
                     [1, 2, 3, 4]], requires_grad=True)
pooled = F.max_pool2d(x.reshape(1, 1, 4, 4), kernel_size=2, stride=2)
print("max pool 2x2, stride 2:\\n", pooled.numpy()[0, 0])
print("parameters of nn.MaxPool2d(2):", len(list(nn.MaxPool2d(2).parameters())))
"""),
    md("""
    Where does the gradient go? The max gate is a router (notebook 2): each window sends its upstream
    gradient to the one input that won the max, and every other input gets zero. With upstream
    gradients 1, 2, 3, 4 for the four outputs:
    """),
    code("""
upstream = autograd.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
pooled.backward(upstream)
print("dL/dx:\\n", x.grad.numpy())

fig, axes = plt.subplots(1, 2, figsize=(7, 3.3))
for ax, values, title in ((axes[0], x.numpy(), "input (winners outlined)"), (axes[1], x.grad.numpy(), "gradient")):
    ax.imshow(values, cmap="Blues")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:g}", ha="center", va="center")
        if x.grad.numpy()[i, j] != 0:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
    ax.axhline(1.5, color="k")  # the borders of the four pooling windows
    ax.axvline(1.5, color="k")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
"""),
    md("""
    Summary of a convolution layer: it takes a W1 x H1 x D1 volume and four hyperparameters (K
    filters of size F x F, stride S, zero padding P), produces W2 = (W1 - F + 2P) / S + 1,
    H2 = (H1 - F + 2P) / S + 1, D2 = K, and has F F D1 weights per filter, (F F D1) K in all, plus K
    biases. Common settings: K a power of 2; F = 3, S = 1, P = 1; F = 5, S = 1, P = 2; F = 1, S = 1,
    P = 0. Pooling takes F and S (commonly F = 2, S = 2 or F = 3, S = 2), keeps the depth, and is
    rarely padded.
    """),
]

# --- 06 ------------------------------------------------------------------------------------------
BATCHNORM = [
    md("""
    # 6. Batch normalisation

    "You want unit Gaussian activations? Just make them so." Batch normalisation takes a mini-batch
    of activations x (N examples, C features) and, for each feature k separately, subtracts the
    batch mean and divides by the batch standard deviation:

    $$\\hat{x}^{(k)} = \\frac{x^{(k)} - \\mathrm{E}[x^{(k)}]}{\\sqrt{\\mathrm{Var}[x^{(k)}] + \\epsilon}}$$

    then lets the network undo that if it wants, with a learned scale and shift per feature:
    $y^{(k)} = \\gamma^{(k)} \\hat{x}^{(k)} + \\beta^{(k)}$. In `nn.BatchNorm1d` (and `BatchNorm2d`,
    per channel of an image batch) gamma is called `weight` and beta `bias`. It is usually inserted
    after a fully connected or convolution layer and before the nonlinearity.
    """),
    code(SETUP + """
from nn.data import DataLoader, TensorDataset, load_digits
from nn.train import fit
"""),
    md("""
    ## Training mode: the statistics of the batch

    A batch of 64 examples with three features of very different scales. In training mode the
    layer's output has mean 0 and standard deviation 1 per feature, whatever the input's scale.
    """),
    code("""
def batch_of(n=64):
    return autograd.tensor((rng.standard_normal((n, 3)) * [3.0, 0.5, 1.0] + [5.0, -2.0, 10.0]).astype(np.float32))


bn = nn.BatchNorm1d(3)
x = batch_of()
y = bn(x)  # a new module is in training mode
print("input  mean", x.numpy().mean(axis=0).round(3), " std", x.numpy().std(axis=0).round(3))
print("output mean", y.numpy().mean(axis=0).round(3), " std", y.numpy().std(axis=0).round(3))
"""),
    md("""
    The layer is an ordinary differentiable function, built from mean, subtraction, multiplication
    and square root. The four lines of the algorithm in the paper (Ioffe and Szegedy, 2015) give the
    same numbers: mini-batch mean, mini-batch variance, normalise, scale and shift.
    """),
    code("""
mu = x.mean(axis=0)  # mini-batch mean
var = ((x - mu) ** 2).mean(axis=0)  # mini-batch variance (divided by m)
x_hat = (x - mu) / (var + bn.eps).sqrt()  # normalise
by_hand = bn.weight * x_hat + bn.bias  # scale and shift
print("largest difference to nn.BatchNorm1d:", np.abs(by_hand.numpy() - y.numpy()).max())
"""),
    md("""
    ## Evaluation mode: running averages

    At test time the output for one example must not depend on which other examples happen to be
    in its batch. So while training, the layer keeps running averages of the batch means and
    variances, `running = (1 - momentum) * running + momentum * batch` with momentum 0.1 (the
    variance averaged is the unbiased one, divided by m - 1, as in PyTorch), and `eval()` switches
    to those fixed statistics. After the first batch above:
    """),
    code("""
m = len(x)
print("running_mean", bn.running_mean.numpy().round(4), " expected", (0.1 * x.numpy().mean(axis=0)).round(4))
print("running_var ", bn.running_var.numpy().round(4), " expected",
      (0.9 * 1 + 0.1 * x.numpy().var(axis=0) * m / (m - 1)).round(4))
"""),
    md("""
    After many training batches the running statistics settle near the data's true mean
    (5, -2, 10) and variance (9, 0.25, 1):
    """),
    code("""
for _ in range(100):
    bn(batch_of())
print("running_mean", bn.running_mean.numpy().round(2), " running_var", bn.running_var.numpy().round(2))
"""),
    md("""
    The difference between the modes shows with one fixed example placed in two different batches.
    In training mode its output changes with its neighbours; in evaluation mode it does not.
    """),
    code("""
example = batch_of(1)
batch_a = autograd.concatenate([example, batch_of(7)], axis=0)
batch_b = autograd.concatenate([example, batch_of(7) * 2.0], axis=0)
for mode in ("train", "eval"):
    bn.train(mode == "train")
    with autograd.no_grad():
        out_a, out_b = bn(batch_a).numpy()[0], bn(batch_b).numpy()[0]
    print(f"{mode:>5} mode: output for the example in batch A {out_a.round(3)}, in batch B {out_b.round(3)}")
"""),
    md("""
    ## Gamma and beta can recover the identity

    Normalising might throw away information the next layer needs. But if the network learns
    $\\gamma^{(k)} = \\sqrt{\\mathrm{Var}[x^{(k)}] + \\epsilon}$ and $\\beta^{(k)} = \\mathrm{E}[x^{(k)}]$, scale and
    shift exactly undo the normalisation and the layer passes its input through unchanged. Setting
    them by hand for our batch:
    """),
    code("""
bn = nn.BatchNorm1d(3)
x = batch_of()
bn.weight.data = np.sqrt(x.numpy().var(axis=0) + bn.eps)
bn.bias.data = x.numpy().mean(axis=0)
y = bn(x)
print("gamma", bn.weight.numpy().round(3), " beta", bn.bias.numpy().round(3))
print("largest |y - x|:", np.abs(y.numpy() - x.numpy()).max())
"""),
    md("""
    ## Training with and without batch normalisation

    The same MLP on the digits (4 hidden layers of 64 ReLU units, PyTorch's default initialisation),
    trained with plain SGD for a few epochs, once without and once with a `BatchNorm1d` after every
    hidden `Linear`, at two learning rates. Without normalisation the signal shrinks from layer to
    layer and the deep network barely starts learning in this time; with it, training is fast and
    tolerates the larger learning rate.
    """),
    code("""
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
"""),
    md("""
    What batch normalisation buys, in the lecture's words: it improves gradient flow through the
    network, allows higher learning rates, reduces the strong dependence on initialisation, and
    acts as a mild regulariser (each example's output depends a little on its random batch mates).
    Remember `model.eval()` before testing, or the batch statistics are used at test time too.
    """),
]

# --- 07 ------------------------------------------------------------------------------------------
TRAINING_CNN = [
    md("""
    # 7. Training a convolutional network

    A ConvNet is a sequence of convolution layers interspersed with nonlinearities, with pooling
    now and then to shrink the maps, and a fully connected layer at the end that turns the last
    maps into class scores. Here we train a small one on the digits with `nn.train.fit`, then look
    inside: its learned filters, its activation maps, where it errs (a confusion matrix), and the
    computational graph of one training step.
    """),
    code(SETUP + """
import os
import tempfile
from pathlib import Path

from IPython.display import Image, display

import nn.functional as F
from autograd import viz
from nn.data import DataLoader, TensorDataset, load_cifar10, load_digits
from nn.train import fit, plot_history

workdir = Path(tempfile.mkdtemp(prefix="chainrule-nb07-"))  # files this notebook writes go here
X_train, y_train = load_digits("train")
X_test, y_test = load_digits("test")
train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True, seed=0)
test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=256)
print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}")
"""),
    md("""
    ## The network

    Two blocks of CONV -> BATCHNORM -> RELU -> POOL, then a fully connected layer:

    * 1x8x8 -> conv 3x3, pad 1 (8 filters) -> 8x8x8 -> max pool 2 -> 8x4x4
    * -> conv 3x3, pad 1 (16 filters) -> 16x4x4 -> max pool 2 -> 16x2x2
    * -> flatten (64 numbers) -> linear -> 10 class scores
    """),
    code("""
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
"""),
    md("""
    ## Training

    `fit` runs the loop of the earlier notebooks for us (forward, loss, backward, optimizer step per
    mini-batch), shows a progress bar, evaluates on the test set after each epoch (in `eval()` mode,
    so BatchNorm uses its running averages) and returns the history. `plot_history` draws it.
    """),
    code("""
optimizer = nn.optim.Adam(model.parameters(), lr=0.01)
history = fit(model, train_loader, optimizer, epochs=5, test_loader=test_loader)
display(Image(filename=plot_history(history, workdir / "curves.png")))
"""),
    md("""
    A trained model is just its state dict: `nn.save` writes it to an `.npz` file (the same keys and
    array layouts as PyTorch), `nn.load` reads it back into a fresh model.
    """),
    code("""
nn.save(model.state_dict(), workdir / "cnn.npz")
restored = make_cnn(in_channels=1, image_size=8)
restored.load_state_dict(nn.load(workdir / "cnn.npz"))
model.eval()
restored.eval()
with autograd.no_grad():
    same = np.array_equal(model(autograd.tensor(X_test)).numpy(), restored(autograd.tensor(X_test)).numpy())
print("keys:", list(model.state_dict())[:6], "...")
print("restored model gives identical scores:", same)
"""),
    md("""
    ## What the first layer learned

    The eight 3x3 filters of the first convolution (red positive, blue negative), and what they make
    of one test digit: each map, after BatchNorm and ReLU, lights up where its filter's pattern
    occurs. The second layer's 16 maps (4x4) respond to combinations of those.
    """),
    code("""
filters = model[0].weight.numpy()[:, 0]  # (8, 3, 3)
digit = autograd.tensor(X_test[:1])
with autograd.no_grad():
    maps1 = model[:3](digit).numpy()[0]  # after conv, BN, ReLU: (8, 8, 8)
    maps2 = model[:7](digit).numpy()[0]  # after the second block, before pooling: (16, 4, 4)

fig, axes = plt.subplots(4, 9, figsize=(13, 6.4))
axes[0, 0].imshow(X_test[0, 0], cmap="gray_r")
axes[0, 0].set_title(f"input: {y_test[0]}", fontsize=9)
for row, title in ((1, "layer 1 maps"), (2, "layer 2 maps"), (3, "layer 2 maps\\n(continued)")):
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
"""),
    md("""
    ## Where does it go wrong? The confusion matrix

    Row i, column j counts the test images of digit i that the network labelled j; the diagonal
    holds the correct answers.
    """),
    code("""
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
"""),
    md("""
    ## The graph of one training step

    `autograd.viz` draws the computational graph behind a loss. Running the forward pass inside
    `viz.trace_modules(model)` records which module made each op, and `group_modules=True` boxes
    them by module, parameters included (named as in `model.named_parameters()`). A batch of two
    images keeps the picture readable; each op node shows the shape of its output. The model is in
    `eval()` mode (set above), so the BatchNorm boxes use the running statistics, and the input
    images, which need no gradient, do not appear as nodes.
    """),
    code("""
x = autograd.tensor(X_test[:2])
with viz.trace_modules(model):
    scores = model(x)
loss = F.cross_entropy(scores, y_test[:2])
loss.name = "loss"
loss.backward()
model.zero_grad()  # this backward was only for the picture
viz.draw(loss, model=model, group_modules=True, rankdir="TB")
"""),
    md("""
    ## CIFAR-10 (optional)

    The lecture's CIFAR-10 has 50,000 32x32 colour images in 10 classes. chainrule never downloads
    it: if the environment variable `CIFAR10_DIR` points to the unpacked official archive (the
    Python or the binary version), this cell trains the same network, with three input channels, for one epoch
    on a 2,000-image subset (a few minutes at most on a laptop; far from what a real run needs,
    but enough to see it learn). Otherwise it only prints how to enable it.
    """),
    code("""
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
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
        ax.set_title(f"{CLASSES[truth]}\\n-> {CLASSES[guess]}", fontsize=8, color="black" if truth == guess else "red")
        ax.axis("off")
    plt.show()
"""),
]

# --- 08 ------------------------------------------------------------------------------------------
GRADIENT_TESTING = [
    md("""
    # 8. Writing an op and testing its gradient

    Every op in `autograd` is an `autograd.Function` with two static methods, the forward()/backward()
    API of the lecture:

    * `forward(ctx, *inputs)` computes the output with NumPy on the inputs' `.data` and saves what
      the backward pass will need (`ctx.save_for_backward`);
    * `backward(ctx, g)` receives the upstream gradient g (dLoss/dOutput, a Tensor) and returns
      one gradient per input: upstream times local gradient, written with **Tensor operations**,
      so that the backward pass is itself recorded and can be differentiated again.

    A hand-written backward is easy to get wrong, so we test it: against numerical derivatives
    (`gradcheck`, `gradgradcheck`) and on many automatically generated inputs (`hypothesis`).
    """),
    code(SETUP_AUTOGRAD + """
from hypothesis import Phase, find, given, settings

from autograd import Function, Tensor, viz
from autograd.testing import GradcheckError, gradcheck, gradgradcheck
from autograd.testing.strategies import shapes, tensors

# Reproducible hypothesis runs for a notebook: fixed seed, no example database on disk, no time
# limit per example, and no "explain" phase (its report points into gradcheck, not at our op).
quick = settings(derandomize=True, database=None, deadline=None, max_examples=100,
                 phases=[Phase.explicit, Phase.generate, Phase.shrink])
"""),
    md("""
    ## A custom op: softplus

    softplus(x) = log(1 + e^x) is a smooth ReLU. Its derivative is the sigmoid:
    d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(x). The forward pass uses NumPy's `logaddexp(0, x)`,
    which computes log(e^0 + e^x) without overflowing for large x.
    """),
    code("""
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
print("softplus(x)  =", y.numpy())
print("d/dx         =", x.grad.numpy(), " sigmoid(x) =", 1 / (1 + np.exp(-x.numpy())))
viz.draw(total, show_grads=True)  # our op is a node like any built-in one
"""),
    md("""
    ## gradcheck and gradgradcheck

    `gradcheck(f, *inputs)` compares the Jacobian that backpropagation computes with central
    differences, entry by entry, in float64. `gradgradcheck` does the same for second derivatives:
    it differentiates the backward pass itself. Both pass for our softplus:
    """),
    code("""
x = autograd.tensor(rng.standard_normal((3, 4)), requires_grad=True)
print("gradcheck:    ", gradcheck(Softplus.apply, x))
print("gradgradcheck:", gradgradcheck(Softplus.apply, x))
"""),
    md("""
    Why must `backward` use Tensor ops? Here is the same op (a subclass: the forward is inherited)
    with its derivative computed in plain NumPy and wrapped in a constant Tensor. First derivatives
    are still right, but the backward pass is now invisible to autograd: no second derivative
    reaches x at all, and `gradgradcheck` catches it. On failure the checks raise `GradcheckError`,
    naming the input, the worst entry, both values and the difference:
    """),
    code("""
class SoftplusNumpyBackward(Softplus):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * Tensor(1 / (1 + np.exp(-x.data)))  # a constant: the graph stops here


print("gradcheck:", gradcheck(SoftplusNumpyBackward.apply, x))
try:
    gradgradcheck(SoftplusNumpyBackward.apply, x)
except GradcheckError as err:
    print("gradgradcheck failed:\\n", err)
"""),
    md("""
    ## A planted bug that hides from a hand-picked test

    The contract's example op is the cube, d/dx x^3 = 3 x^2. Our buggy version writes the local
    gradient as 3 x |x|, which is right for x >= 0 and has the wrong sign for x < 0. A test that
    happens to use only positive numbers passes:
    """),
    code("""
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
"""),
    md("""
    ### Property-based testing with hypothesis

    Instead of choosing inputs ourselves, we state a property ("the gradient agrees with the
    numerical one") for *every* tensor, and let `hypothesis` generate many: different shapes from
    `shapes(...)` (including 0-d scalars), values from `tensors(...)` (float64 in [-10, 10] by
    default). When an example fails, hypothesis *shrinks* it: it keeps simplifying the failing
    input (fewer axes, smaller sizes, simpler numbers) while the test still fails, and reports the
    smallest one. This is the test exactly as you would put it in a test file; we run it here
    inside `try/except` to show the report:
    """),
    code("""
@quick
@given(tensors(shape=shapes(max_dims=3, max_side=4)))
def test_cube_gradient(x):
    assert gradcheck(BuggyCube.apply, x)


try:
    test_cube_gradient()
except GradcheckError as err:
    print(*err.__notes__, sep="\\n")  # hypothesis attaches the minimal failing input
    print(err)
"""),
    md("""
    The whole search space shrank to a single number: a 0-d tensor holding -1. That tells us at once
    that the bug is about the sign of the input, not about shapes.

    ### A bug that only shows for some shapes

    A softmax over the last axis: s = exp(x) / sum(exp(x)), with the gradient
    dL/dx = s * (g - sum(g * s)), the sum taken along the last axis *per row*. Our version forgets
    `axis=-1` and sums over the whole tensor. For a single row (a 1-D input) that is the same
    thing, so a test with vectors alone would pass. `hypothesis.find` searches for an input on
    which a condition holds, and shrinks it, so it returns the simplest failing tensor directly:
    """),
    code("""
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
"""),
    md("""
    Two rows of one element each, all zeros: the smallest input with more than one row. With one
    element per row, softmax is the constant 1, so the true gradient is 0, while the buggy one mixes
    the two rows. The minimal example points straight at the missing axis. Fixed, the op passes the
    same search, and its second derivatives check out too:
    """),
    code("""
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
"""),
    md("""
    chainrule tests its own ops the same way: every primitive goes through `gradcheck` and
    `gradgradcheck` under hypothesis (see `tests/`), and `chainrule gradcheck` runs that op database
    on your machine and prints a table.
    """),
]

NOTEBOOKS = {
    "01_image_classification": IMAGE_CLASSIFICATION,
    "02_backprop": BACKPROP,
    "03_activations": ACTIVATIONS,
    "04_neural_networks": NEURAL_NETWORKS,
    "05_conv_pool": CONV_POOL,
    "06_batchnorm": BATCHNORM,
    "07_training_cnn": TRAINING_CNN,
    "08_gradient_testing": GRADIENT_TESTING,
}


def _cell(kind: str, text: str, cell_id: str) -> nbformat.NotebookNode:
    source = textwrap.dedent(text).strip("\n")
    cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
    cell["id"] = cell_id  # stable ids (nbformat draws random ones), so rebuilding changes nothing
    return cell


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """The notebook ``name`` with the given (kind, source) cells and no outputs."""
    notebook = new_notebook(
        cells=[_cell(kind, text, f"{name[:2]}-{i:02d}") for i, (kind, text) in enumerate(cells)],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(notebook)
    return notebook


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        path = HERE / f"{name}.ipynb"
        nbformat.write(build(name, cells), path)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
