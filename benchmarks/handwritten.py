"""The benchmarks' "numpy-by-hand" column: the same math as the chainrule rows, written out in NumPy.

Every function here computes a forward pass and its backward pass by hand, the way one would
write them on the lecture slides, with no autograd. They are the floor an autograd engine built
on NumPy can hope to reach, so they are written to be efficient but stay layer by layer: each
layer's backward only uses what that layer saved, with no fusion across layers.

Parameters are kept in dicts keyed by PyTorch's state-dict names (``0.weight``, ``1.running_mean``,
...) so the same numbers load into the torch and chainrule twins of each model.

``check()`` compares the hand-written gradients with PyTorch in float64 (when torch is installed);
``python benchmarks/handwritten.py`` runs it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

# --------------------------------------------------------------------------------------------
# Row 1: a chain of tiny elementwise ops.


def tanh_chain(x: np.ndarray, steps: int = 1000, a: float = 1.0001, b: float = 0.0001):
    """Forward ``y = tanh(y * a + b)`` ``steps`` times from ``x``, loss = sum(y); returns (loss, dloss/dx)."""
    ys = []
    y = x
    for _ in range(steps):
        y = np.tanh(y * a + b)
        ys.append(y)
    loss = y.sum()
    g = np.ones_like(x)
    for y in reversed(ys):
        # d tanh(u)/du = 1 - tanh(u)^2 and du/dy = a
        g = g * (1.0 - y * y) * a
    return loss, g


# --------------------------------------------------------------------------------------------
# Row 2: a scalar-valued graph, micrograd style, on Python floats.


class Value:
    """A scalar that remembers how it was made. Each node keeps its parents and the local
    partial derivatives d(self)/d(parent), so backward is one loop of ``parent.grad += d * grad``.
    Storing numbers instead of closures keeps the graph free of reference cycles."""

    __slots__ = ("data", "grad", "parents", "partials")

    def __init__(self, data: float, parents: tuple = (), partials: tuple = ()):
        self.data = data
        self.grad = 0.0
        self.parents = parents
        self.partials = partials

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    __radd__ = __add__
    __rmul__ = __mul__

    def relu(self):
        positive = self.data > 0.0
        return Value(self.data if positive else 0.0, (self,), (1.0 if positive else 0.0,))

    def backward(self):
        # iterative depth-first topological order (parents before children)
        order, seen, stack = [], {id(self)}, [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            stack.append((node, True))
            for p in node.parents:
                if id(p) not in seen:
                    seen.add(id(p))
                    stack.append((p, False))
        self.grad = 1.0
        for node in reversed(order):
            g = node.grad
            for p, d in zip(node.parents, node.partials):
                p.grad += d * g


SCALAR_MLP_SIZES = (2, 16, 16, 1)


def scalar_mlp_init(seed: int = 0, sizes=SCALAR_MLP_SIZES):
    """Weights as nested lists of floats: layers -> neurons -> (weights, bias)."""
    rng = np.random.default_rng(seed)
    layers = []
    for nin, nout in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(nin)
        layers.append([(rng.uniform(-bound, bound, nin).tolist(), float(rng.uniform(-bound, bound)))
                       for _ in range(nout)])
    return layers


def scalar_mlp_forward(layers, inputs, relu):
    """One scalar op at a time: neuron = b + w0*x0 + w1*x1 + ..., then ``relu`` except on the
    last layer. Works for any scalar type with ``+``, ``*`` (Value, 0-d tensors)."""
    act = list(inputs)
    last = len(layers) - 1
    for li, layer in enumerate(layers):
        out = []
        for ws, b in layer:
            s = b
            for w, xi in zip(ws, act):
                s = s + w * xi
            out.append(s if li == last else relu(s))
        act = out
    return act[0]


def scalar_mlp_nodes(sizes=SCALAR_MLP_SIZES) -> int:
    """Op nodes in the graph scalar_mlp_forward builds (one mul and one add per weight, one relu
    per hidden neuron); leaves are not counted."""
    n = 0
    for li, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:])):
        n += nout * (2 * nin + (li < len(sizes) - 2))
    return n


def tiny_mlp_params(seed: int = 0, dtype=np.float32, sizes=SCALAR_MLP_SIZES):
    """The scalar MLP's numbers as matrices: [(W (in, out), b (out,)), ...] for ``x @ W + b``."""
    return [(np.array([ws for ws, _ in layer], dtype).T.copy(), np.array([b for _, b in layer], dtype))
            for layer in scalar_mlp_init(seed, sizes)]


def tiny_mlp_step(x, params):
    """The same MLP on a (1, 2) row as matrix ops: loss = sum(out); returns (loss, [(dW, db), ...])."""
    acts, h = [], x
    last = len(params) - 1
    for i, (w, b) in enumerate(params):
        acts.append(h)
        h = h @ w + b
        if i < last:
            h = np.maximum(h, 0)
    g = np.ones_like(h)
    grads = []
    for i in reversed(range(len(params))):
        if i < last:
            g = g * (acts[i + 1] > 0)          # through the ReLU (acts[i + 1] is its output)
        grads.append((acts[i].T @ g, g.sum(axis=0)))
        g = g @ params[i][0].T
    return float(h.sum()), grads[::-1]


# --------------------------------------------------------------------------------------------
# Row 3: a matmul-bound chain.


def matmul_chain(x, w1, w2):
    """loss = sum(tanh(tanh(x @ w1) @ w2)); returns (loss, dw1, dw2). x needs no gradient."""
    a1 = np.tanh(x @ w1)
    a2 = np.tanh(a1 @ w2)
    loss = a2.sum()
    g2 = 1.0 - a2 * a2                 # d loss / d (a1 @ w2)
    dw2 = a1.T @ g2
    g1 = g2 @ w2.T
    g1 *= 1.0 - a1 * a1                # d loss / d (x @ w1)
    dw1 = x.T @ g1
    return loss, dw1, dw2


# --------------------------------------------------------------------------------------------
# Shared layers. Images are kept channels-last (N, H, W, C) inside the hand-written CNN: im2col
# rows are then contiguous runs of kw*C numbers, and per-channel work runs on an (N*H, W*C)
# view with per-channel vectors tiled W times, so NumPy's inner loops are W*C long instead of C.
# Inputs and parameters keep PyTorch's layouts.


def _uniform(rng, bound, shape, dtype):
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _colsum(a2):
    """Column sums of a 2-D array as one BLAS matrix-vector product (faster than a.sum(0))."""
    return np.ones(a2.shape[0], dtype=a2.dtype) @ a2


def _fold(row, c):
    """Per-channel sums of a (W*C,) row of per-(column, channel) sums."""
    return row.reshape(-1, c).sum(axis=0)


def pad_nhwc(x, pad):
    """Zero-pad the two spatial axes of an (N, H, W, C) array (any strides) into a new array."""
    n, h, w, c = x.shape
    xp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
    xp[:, pad:pad + h, pad:pad + w, :] = x
    return xp


def im2col(xp, kh, kw):
    """(N, Hp, Wp, C) padded input -> (N*Ho*Wo, kh*kw*C) patches, columns ordered (i, j, c):
    a zero-copy as_strided window view, then one copy into matmul layout."""
    n, hp, wp, c = xp.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    sn, sh, sw, sc = xp.strides
    windows = as_strided(xp, (n, ho, wo, kh, kw, c), (sn, sh, sw, sh, sw, sc), writeable=False)
    return windows.reshape(n * ho * wo, kh * kw * c)


def col2im(d2, wk, xp_shape):
    """Input gradient of a stride-1 convolution, the adjoint of im2col, one kernel offset at a time:
    the patch gradient for offset (i, j) is dout @ w[:, :, i, j] (a contiguous (N*Ho*Wo, C)
    slab), added onto the padded input shifted by (i, j). d2: (N*Ho*Wo, F); wk: (kh, kw, C, F)."""
    kh, kw, c, _ = wk.shape
    n, hp, wp, _ = xp_shape
    ho, wo = hp - kh + 1, wp - kw + 1
    dxp = np.zeros(xp_shape, dtype=d2.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + ho, j:j + wo, :] += (d2 @ wk[i, j].T).reshape(n, ho, wo, c)
    return dxp


def conv_forward(x, w, b, pad):
    """x (N, H, W, C) any strides; w (F, C, kh, kw) as PyTorch; stride 1.
    Returns out (N, Ho, Wo, F) and what the backward needs."""
    f, c, kh, kw = w.shape
    xp = pad_nhwc(x, pad)
    n, hp, wp, _ = xp.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    cols = im2col(xp, kh, kw)
    wk = w.transpose(2, 3, 1, 0)                       # (kh, kw, C, F), rows match im2col's columns
    out = cols @ wk.reshape(kh * kw * c, f)
    o2 = out.reshape(n * ho, wo * f)
    o2 += np.tile(b, wo)
    return out.reshape(n, ho, wo, f), (cols, wk, xp.shape, pad)


def conv_backward(dout, cache, need_dx=True):
    """dout (N, Ho, Wo, F) contiguous. Returns (dx or None, dw in PyTorch's layout, db)."""
    cols, wk, xp_shape, pad = cache
    kh, kw, c, f = wk.shape
    n, ho, wo, _ = dout.shape
    _, hp, wp, _ = xp_shape
    d2 = dout.reshape(-1, f)
    db = _fold(_colsum(dout.reshape(n * ho, wo * f)), f)
    dw = np.ascontiguousarray((cols.T @ d2).reshape(kh, kw, c, f).transpose(3, 2, 0, 1))
    if not need_dx:
        return None, dw, db
    dxp = col2im(d2, wk, xp_shape)
    return dxp[:, pad:hp - pad, pad:wp - pad, :], dw, db


def batchnorm_relu_forward(h, gamma, beta, running_mean, running_var, momentum, eps):
    """Training-mode BatchNorm2d then ReLU on a contiguous (N, H, W, C) array, which it overwrites
    with the normalised input (kept for the backward). Updates the running statistics in place as
    PyTorch does (running_var from the unbiased batch variance)."""
    n, hh, w, c = h.shape
    m = n * hh * w
    xhat = h.reshape(n * hh, w * c)
    mean = _fold(_colsum(xhat), c) / m
    xhat -= np.tile(mean, w)
    var = _fold(np.einsum("ij,ij->j", xhat, xhat), c) / m
    invstd = 1.0 / np.sqrt(var + eps)
    xhat *= np.tile(invstd, w)
    y = xhat * np.tile(gamma, w)
    y += np.tile(beta, w)
    np.maximum(y, 0, out=y)
    running_mean *= 1.0 - momentum
    running_mean += momentum * mean
    running_var *= 1.0 - momentum
    running_var += momentum * (var * (m / (m - 1)))
    return y.reshape(h.shape), (xhat, invstd, gamma)


def batchnorm_relu_backward(dy, y, cache):
    """dy, y: contiguous (N, H, W, C) gradient and output of batchnorm_relu_forward; dy is
    overwritten with the input gradient. Returns (dx, dgamma, dbeta)."""
    xhat, invstd, gamma = cache
    n, hh, w, c = y.shape
    m = n * hh * w
    d = dy.reshape(n * hh, w * c)
    d *= y.reshape(n * hh, w * c) > 0                                  # through the ReLU
    dbeta = _fold(_colsum(d), c)
    dgamma = _fold(np.einsum("ij,ij->j", d, xhat), c)
    # dx = gamma * invstd * (d - mean(d) - xhat * mean(d * xhat)), means per channel
    a = gamma * invstd
    d *= np.tile(a, w)
    d -= xhat * np.tile(a * (dgamma / m), w)
    d -= np.tile(a * (dbeta / m), w)
    return d.reshape(y.shape), dgamma, dbeta


def maxpool2_forward(y):
    """2x2 max pool, stride 2, of a contiguous (N, H, W, C) array with even H and W, as two
    pairwise maxima over reshaped views: first the window's two rows (inner loops W*C long), then
    its two columns. Also returns the argmax as two masks. At ties the left column wins, and within
    it the top row (the first maximum in column-major order; PyTorch's CPU kernel takes the first in
    row-major order): both give a window's whole gradient to one of its maxima."""
    n, h, w, c = y.shape
    rows = y.reshape(n, h // 2, 2, w * c)
    top, bottom = rows[:, :, 0], rows[:, :, 1]
    t = np.maximum(top, bottom).reshape(n, h // 2, w // 2, 2, c)
    take_top = top >= bottom
    left, right = t[:, :, :, 0], t[:, :, :, 1]
    out = np.maximum(left, right)
    take_left = left >= right
    return out, (take_top, take_left)


def batchnorm_relu_eval(h, gamma, beta, running_mean, running_var, eps):
    """Evaluation-mode BatchNorm2d then ReLU, in place on a contiguous (N, H, W, C) array:
    y = max(h * s + (beta - mean * s), 0) with s = gamma / sqrt(running_var + eps)."""
    n, hh, w, c = h.shape
    s = gamma / np.sqrt(running_var + eps)
    h2 = h.reshape(n * hh, w * c)
    h2 *= np.tile(s, w)
    h2 += np.tile(beta - running_mean * s, w)
    np.maximum(h2, 0, out=h2)
    return h


def maxpool2(y):
    """The values of maxpool2_forward, without the argmax masks (inference)."""
    n, h, w, c = y.shape
    rows = y.reshape(n, h // 2, 2, w * c)
    t = np.maximum(rows[:, :, 0], rows[:, :, 1]).reshape(n, h // 2, w // 2, 2, c)
    return np.maximum(t[:, :, :, 0], t[:, :, :, 1])


def maxpool2_backward(dout, cache):
    """dout (N, H/2, W/2, C), any strides. Routes each window's gradient to its argmax."""
    take_top, take_left = cache
    n, h2, w2, c = dout.shape
    dt = np.empty((n, h2, w2, 2, c), dtype=dout.dtype)
    np.multiply(dout, take_left, out=dt[:, :, :, 0])
    np.subtract(dout, dt[:, :, :, 0], out=dt[:, :, :, 1])   # exact: dout - dout = 0, dout - 0 = dout
    dt = dt.reshape(n, h2, 2 * w2 * c)
    dy = np.empty((n, h2, 2, 2 * w2 * c), dtype=dout.dtype)
    np.multiply(dt, take_top, out=dy[:, :, 0])
    np.subtract(dt, dy[:, :, 0], out=dy[:, :, 1])
    return dy.reshape(n, 2 * h2, 2 * w2, c)


def softmax_cross_entropy(logits, target):
    """Mean cross-entropy of integer targets; returns (loss, dlogits)."""
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0]) - z[rows, target]))
    d = e / s
    d[rows, target] -= 1.0
    d /= n
    return loss, d


def sgd_update(params, grads, lr):
    for k, g in grads.items():
        p = params[k]
        p -= lr * g


# --------------------------------------------------------------------------------------------
# Row 4: the lecture CNN.
#   0 Conv2d(3, 32, 3, padding=1)  1 BatchNorm2d(32)  2 ReLU  3 MaxPool2d(2)
#   4 Conv2d(32, 64, 3, padding=1) 5 BatchNorm2d(64)  6 ReLU  7 MaxPool2d(2)
#   8 Flatten                      9 Linear(4096, 10)


def cnn_init(seed: int = 0, dtype=np.float32, in_ch=3, size=32, classes=10):
    """Parameters and buffers, PyTorch state-dict keys and layouts, PyTorch's default init."""
    rng = np.random.default_rng(seed)
    p = {}
    for conv, bn, cin, cout in ((0, 1, in_ch, 32), (4, 5, 32, 64)):
        bound = 1.0 / math.sqrt(cin * 9)
        p[f"{conv}.weight"] = _uniform(rng, bound, (cout, cin, 3, 3), dtype)
        p[f"{conv}.bias"] = _uniform(rng, bound, (cout,), dtype)
        p[f"{bn}.weight"] = np.ones(cout, dtype)
        p[f"{bn}.bias"] = np.zeros(cout, dtype)
        p[f"{bn}.running_mean"] = np.zeros(cout, dtype)
        p[f"{bn}.running_var"] = np.ones(cout, dtype)
    feat = 64 * (size // 4) ** 2
    bound = 1.0 / math.sqrt(feat)
    p["9.weight"] = _uniform(rng, bound, (classes, feat), dtype)
    p["9.bias"] = _uniform(rng, bound, (classes,), dtype)
    return p


CNN_BUFFERS = ("1.running_mean", "1.running_var", "5.running_mean", "5.running_var")


class HandCNN:
    """The CNN above with a hand-written forward and backward. ``step`` is one SGD step."""

    def __init__(self, params: dict, lr: float = 0.01, momentum: float = 0.1, eps: float = 1e-5):
        self.p = params
        self.lr, self.momentum, self.eps = lr, momentum, eps
        self.grads: dict = {}

    def _bn(self, h, k):
        p = self.p
        return batchnorm_relu_forward(h, p[f"{k}.weight"], p[f"{k}.bias"], p[f"{k}.running_mean"],
                                      p[f"{k}.running_var"], self.momentum, self.eps)

    def loss_and_grads(self, x, target):
        """x: (N, C, H, W) as PyTorch; target: int array (N,). Fills self.grads; returns the loss."""
        p = self.p
        g = self.grads = {}         # drop the previous step's gradients first, as zero_grad() does
        n = x.shape[0]
        h1, conv1 = conv_forward(x.transpose(0, 2, 3, 1), p["0.weight"], p["0.bias"], 1)
        r1, bn1 = self._bn(h1, 1)
        q1, pool1 = maxpool2_forward(r1)
        h2, conv2 = conv_forward(q1, p["4.weight"], p["4.bias"], 1)
        r2, bn2 = self._bn(h2, 5)
        q2, pool2 = maxpool2_forward(r2)
        # Flatten is PyTorch's (C, H, W) order: permute the Linear weight's columns to our (H, W, C)
        # order instead of permuting the (larger) activations.
        _, hq, wq, cq = q2.shape
        wfc = p["9.weight"].reshape(-1, cq, hq, wq).transpose(0, 2, 3, 1).reshape(-1, hq * wq * cq)
        flat = q2.reshape(n, -1)
        logits = flat @ wfc.T
        logits += p["9.bias"]
        loss, dlogits = softmax_cross_entropy(logits, target)

        dwfc = dlogits.T @ flat
        g["9.weight"] = np.ascontiguousarray(dwfc.reshape(-1, hq, wq, cq).transpose(0, 3, 1, 2)).reshape(
            dwfc.shape)
        g["9.bias"] = dlogits.sum(axis=0)
        dq2 = (dlogits @ wfc).reshape(q2.shape)
        # Each layer's saved arrays are dropped once its backward has run, as an autograd engine
        # frees a node's saved tensors (h1 and h2 share their buffers with the batch-norm caches).
        del flat, q2, h1, h2
        dr2 = maxpool2_backward(dq2, pool2)
        del dq2, pool2
        dh2, g["5.weight"], g["5.bias"] = batchnorm_relu_backward(dr2, r2, bn2)
        del dr2, r2, bn2
        dq1, g["4.weight"], g["4.bias"] = conv_backward(dh2, conv2)
        del dh2, conv2, q1
        dr1 = maxpool2_backward(dq1, pool1)
        del dq1, pool1
        dh1, g["1.weight"], g["1.bias"] = batchnorm_relu_backward(dr1, r1, bn1)
        del dr1, r1, bn1
        _, g["0.weight"], g["0.bias"] = conv_backward(dh1, conv1, need_dx=False)
        return loss

    def forward_eval(self, x):
        """Logits in evaluation mode (running statistics, no gradients): the inference row."""
        p = self.p
        h = x.transpose(0, 2, 3, 1)
        for conv, bn in ((0, 1), (4, 5)):
            h = conv_forward(h, p[f"{conv}.weight"], p[f"{conv}.bias"], 1)[0]
            h = maxpool2(batchnorm_relu_eval(h, p[f"{bn}.weight"], p[f"{bn}.bias"], p[f"{bn}.running_mean"],
                                             p[f"{bn}.running_var"], self.eps))
        n, hq, wq, cq = h.shape
        wfc = p["9.weight"].reshape(-1, cq, hq, wq).transpose(0, 2, 3, 1).reshape(-1, hq * wq * cq)
        logits = h.reshape(n, -1) @ wfc.T
        logits += p["9.bias"]
        return logits

    def step(self, x, target):
        loss = self.loss_and_grads(x, target)
        sgd_update(self.p, self.grads, self.lr)
        return loss


# --------------------------------------------------------------------------------------------
# Row 5: an MLP, Sequential(Linear(784, 512), ReLU, Linear(512, 256), ReLU, Linear(256, 10)).

MLP_SIZES = (784, 512, 256, 10)


def mlp_init(seed: int = 0, dtype=np.float32, sizes=MLP_SIZES):
    rng = np.random.default_rng(seed)
    p = {}
    for i, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(nin)
        p[f"{2 * i}.weight"] = _uniform(rng, bound, (nout, nin), dtype)
        p[f"{2 * i}.bias"] = _uniform(rng, bound, (nout,), dtype)
    return p


class HandMLP:
    def __init__(self, params: dict, lr: float = 0.01):
        self.p = params
        self.lr = lr
        self.grads: dict = {}
        self.layers = len(params) // 2

    def loss_and_grads(self, x, target):
        p = self.p
        g = self.grads = {}
        acts = [x]
        for i in range(self.layers):
            h = acts[-1] @ p[f"{2 * i}.weight"].T
            h += p[f"{2 * i}.bias"]
            if i < self.layers - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        loss, d = softmax_cross_entropy(acts[-1], target)
        for i in reversed(range(self.layers)):
            g[f"{2 * i}.weight"] = d.T @ acts[i]
            g[f"{2 * i}.bias"] = d.sum(axis=0)
            if i > 0:
                d = d @ p[f"{2 * i}.weight"]
                d *= acts[i] > 0                     # through the ReLU
        return loss

    def step(self, x, target):
        loss = self.loss_and_grads(x, target)
        sgd_update(self.p, self.grads, self.lr)
        return loss


# --------------------------------------------------------------------------------------------
# Row 8: a depthwise-separable convolution, depthwise 3x3 (one filter per channel, padding 1),
# then pointwise 1x1; loss = sum of the output.


def dwsep_step(x, wd, wp):
    """x (N, C, H, W); wd (C, 1, 3, 3); wp (F, C, 1, 1), PyTorch layouts. Returns (loss, dx, dwd, dwp).
    Channels-last inside: the depthwise layer is nine shifted multiply-adds of whole images, the
    pointwise one a matrix product over pixels."""
    n, c, h, w = x.shape
    f = wp.shape[0]
    xp = pad_nhwc(x.transpose(0, 2, 3, 1), 1)
    taps = wd.reshape(c, 9).T                                   # (9, C): tap (i, j) -> per-channel weight
    rows = np.tile(taps, w).reshape(9, w, c)                    # tiled along a row: inner loops W*C long
    d = np.zeros((n, h, w, c), x.dtype)
    for k in range(9):
        i, j = divmod(k, 3)
        d += xp[:, i:i + h, j:j + w, :] * rows[k]
    w2 = wp.reshape(f, c)
    out = d.reshape(-1, c) @ w2.T
    loss = float(out.sum())
    g = np.ones_like(out)                                       # d loss / d out
    dwp = (g.T @ d.reshape(-1, c)).reshape(wp.shape)
    dd = (g @ w2).reshape(n, h, w, c)
    dtaps = np.empty_like(taps)
    dxp = np.zeros_like(xp)
    for k in range(9):
        i, j = divmod(k, 3)
        shifted = xp[:, i:i + h, j:j + w, :]
        dtaps[k] = _fold(_colsum((dd * shifted).reshape(n * h, w * c)), c)
        dxp[:, i:i + h, j:j + w, :] += dd * rows[k]
    dx = dxp[:, 1:h + 1, 1:w + 1, :].transpose(0, 3, 1, 2)
    return loss, dx, dtaps.T.reshape(wd.shape), dwp


# --------------------------------------------------------------------------------------------
# Torch twins (used by check() and by the benchmark's torch column).


def torch_cnn(torch, params: dict, in_ch=3):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(in_ch, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(params["9.weight"].shape[1], params["9.weight"].shape[0]))
    return _load_torch(torch, model, params)


def torch_mlp(torch, params: dict):
    nn = torch.nn
    layers = []
    n = len(params) // 2
    for i in range(n):
        w = params[f"{2 * i}.weight"]
        layers.append(nn.Linear(w.shape[1], w.shape[0]))
        if i < n - 1:
            layers.append(nn.ReLU())
    return _load_torch(torch, nn.Sequential(*layers), params)


def _load_torch(torch, model, params):
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
        next(iter(params.values())).dtype]
    model = model.to(dtype)
    state = {k: torch.from_numpy(np.array(v)) for k, v in params.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return model


# --------------------------------------------------------------------------------------------
# Self-check against PyTorch.


def _rel_err(a, b, floor: float = 0.0) -> float:
    """max |a - b| / max(max |b|, floor)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor, 1e-300))


def _compare(torch, hand_model, torch_model, x, target, buffers=()):
    loss = hand_model.loss_and_grads(x, target)
    torch_model.train()
    torch_model.zero_grad()
    tx = torch.from_numpy(np.ascontiguousarray(x, np.float64))
    tloss = torch.nn.functional.cross_entropy(torch_model(tx), torch.from_numpy(target))
    tloss.backward()
    errs = {"loss": _rel_err(loss, tloss.item())}
    tgrads = {k: t.grad.numpy() for k, t in torch_model.named_parameters()}
    # A gradient that is zero up to rounding (a conv bias right before batch norm) is measured
    # against 1% of the model's largest gradient instead of against its own noise.
    floor = 1e-2 * max(float(np.max(np.abs(g))) for g in tgrads.values())
    for k, gh in hand_model.grads.items():
        errs[k] = _rel_err(gh, tgrads[k], floor)
    tbufs = dict(torch_model.named_buffers())
    for k in buffers:
        errs[k] = _rel_err(hand_model.p[k], tbufs[k].numpy())
    return errs


def _check_pool(torch, rng) -> dict:
    """maxpool2 on data full of ties: the same values as PyTorch; each window's whole gradient on
    one of its maxima; the same gradient as PyTorch wherever the window's maximum is unique."""
    y = rng.integers(0, 3, (2, 4, 6, 3)).astype(np.float64)          # NHWC
    g = rng.standard_normal((2, 2, 3, 3))
    out, cache = maxpool2_forward(y)
    dy = maxpool2_backward(g, cache)
    ty = torch.tensor(y.transpose(0, 3, 1, 2), requires_grad=True)
    tout = torch.nn.functional.max_pool2d(ty, 2)
    tout.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    tdy = ty.grad.numpy().transpose(0, 2, 3, 1)
    win = (2, 2, 2, 3, 2, 3)                                            # (n, h/2, 2, w/2, 2, c)
    at_max = y.reshape(win) == out[:, :, None, :, None]
    unique = (at_max.sum(axis=(2, 4)) == 1)[:, :, None, :, None]
    return {"values": _rel_err(out, tout.detach().numpy().transpose(0, 2, 3, 1)),
            "window sums": _rel_err(dy.reshape(win).sum(axis=(2, 4)), g),
            "off the max": float(np.abs(dy.reshape(win)[~at_max]).max()),
            "unique windows": _rel_err(np.where(unique, dy.reshape(win), 0),
                                       np.where(unique, tdy.reshape(win), 0))}


def _check_cnn_eval(torch, rng, dtype, seed, batch) -> dict:
    """HandCNN.forward_eval against the torch twin in eval mode, with running statistics that are
    not the identity (so that a wrong mean or variance shows)."""
    p64 = cnn_init(seed, np.float64)
    for k in CNN_BUFFERS:
        shape = p64[k].shape
        p64[k] = rng.uniform(0.5, 2.0, shape) if k.endswith("var") else rng.standard_normal(shape) * 0.3
    x = rng.standard_normal((batch, 3, 32, 32))
    hand = HandCNN({k: v.astype(dtype) for k, v in p64.items()})
    model = torch_cnn(torch, p64).eval()
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    return {"logits": _rel_err(hand.forward_eval(x.astype(dtype)), want)}


def _check_tiny_mlp(torch, rng, dtype, seed) -> dict:
    """tiny_mlp_step's loss and gradients against torch float64 autograd."""
    params = tiny_mlp_params(seed, np.float64)
    x = rng.standard_normal((1, 2))
    loss, grads = tiny_mlp_step(x.astype(dtype), [(w.astype(dtype), b.astype(dtype)) for w, b in params])
    tp = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in params]
    h = torch.from_numpy(x)
    for i, (w, b) in enumerate(tp):
        h = h @ w + b
        h = torch.relu(h) if i < len(tp) - 1 else h
    h.sum().backward()
    errs = {"loss": _rel_err(loss, h.item())}
    for i, ((dw, db), (w, b)) in enumerate(zip(grads, tp)):
        errs[f"dW{i}"] = _rel_err(dw, w.grad.numpy())
        errs[f"db{i}"] = _rel_err(db, b.grad.numpy())
    return errs


def _check_dwsep(torch, rng, dtype) -> dict:
    """dwsep_step against torch float64 autograd (conv2d with groups=C, then a 1x1 conv)."""
    x, wd, wp = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 1, 3, 3)), rng.standard_normal((3, 4, 1, 1))
    loss, dx, dwd, dwp = dwsep_step(*(a.astype(dtype) for a in (x, wd, wp)))
    tx, twd, twp = (torch.tensor(a, requires_grad=True) for a in (x, wd, wp))
    F = torch.nn.functional
    tout = F.conv2d(F.conv2d(tx, twd, padding=1, groups=4), twp).sum()
    tout.backward()
    return {"loss": _rel_err(loss, tout.item()), "dx": _rel_err(dx, tx.grad.numpy()),
            "dwd": _rel_err(dwd, twd.grad.numpy()), "dwp": _rel_err(dwp, twp.grad.numpy())}


def check(seed: int = 0, batch: int = 8, verbose: bool = True) -> dict:
    """Hand-written CNN, MLP and matmul-chain gradients against PyTorch float64 autograd.

    Returns {case: {name: max relative error}} (error = max |hand - torch| / max |torch|) for
    the hand code run in float64 (should be ~1e-12) and in float32 (~1e-6). Raises ImportError
    without torch and AssertionError when a float64 error exceeds 1e-8."""
    import torch

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, 32, 32))
    target = rng.integers(0, 10, batch)
    xm = rng.standard_normal((batch, 784))
    report = {}
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        p64 = cnn_init(seed, np.float64)
        hand = HandCNN({k: v.astype(dtype) for k, v in p64.items()})
        report[f"cnn {name}"] = _compare(torch, hand, torch_cnn(torch, p64), x.astype(dtype), target,
                                         CNN_BUFFERS)
        m64 = mlp_init(seed, np.float64)
        hand = HandMLP({k: v.astype(dtype) for k, v in m64.items()})
        report[f"mlp {name}"] = _compare(torch, hand, torch_mlp(torch, m64), xm.astype(dtype), target)
        # the matmul chain (small sizes) and the tanh chain
        xa, w1, w2 = (rng.standard_normal(s) * 0.1 for s in ((16, 32), (32, 24), (24, 8)))
        _, dw1, dw2 = matmul_chain(xa.astype(dtype), w1.astype(dtype), w2.astype(dtype))
        tw1, tw2 = (torch.tensor(w, requires_grad=True) for w in (w1, w2))
        torch.tanh(torch.tanh(torch.from_numpy(xa) @ tw1) @ tw2).sum().backward()
        xt = rng.standard_normal(16)
        _, gx = tanh_chain(xt.astype(dtype), steps=50)
        tx = torch.tensor(xt, requires_grad=True)
        y = tx
        for _ in range(50):
            y = torch.tanh(y * 1.0001 + 0.0001)
        y.sum().backward()
        report[f"chains {name}"] = {"dw1": _rel_err(dw1, tw1.grad.numpy()),
                                    "dw2": _rel_err(dw2, tw2.grad.numpy()),
                                    "tanh dx": _rel_err(gx, tx.grad.numpy())}
        report[f"cnn inference {name}"] = _check_cnn_eval(torch, rng, dtype, seed, batch)
        report[f"tiny mlp {name}"] = _check_tiny_mlp(torch, rng, dtype, seed)
        report[f"depthwise-separable {name}"] = _check_dwsep(torch, rng, dtype)
    report["maxpool ties"] = _check_pool(torch, rng)
    # the scalar graph: Value against torch float64 0-d tensors
    layers = scalar_mlp_init(seed)
    vl = [[([Value(w) for w in ws], Value(b)) for ws, b in layer] for layer in layers]
    out = scalar_mlp_forward(vl, [Value(0.3), Value(-0.7)], Value.relu)
    out.backward()
    f64 = torch.float64
    tl = [[([torch.tensor(w, dtype=f64, requires_grad=True) for w in ws],
            torch.tensor(b, dtype=f64, requires_grad=True)) for ws, b in layer] for layer in layers]
    tout = scalar_mlp_forward(tl, [torch.tensor(0.3, dtype=f64), torch.tensor(-0.7, dtype=f64)], torch.relu)
    tout.backward()
    vg = [v.grad for layer in vl for ws, b in layer for v in (*ws, b)]
    tg = [0.0 if t.grad is None else t.grad.item() for layer in tl for ws, b in layer for t in (*ws, b)]
    report["scalar float64"] = {"value": _rel_err(out.data, tout.item()), "grads": _rel_err(vg, tg)}

    if verbose:
        for case, errs in report.items():
            worst = max(errs, key=errs.get)
            print(f"{case:16s} worst rel err {errs[worst]:.2e} ({worst})")
    for case, errs in report.items():
        limit = 1e-3 if "float32" in case else 1e-8
        bad = {k: v for k, v in errs.items() if not v <= limit}
        assert not bad, f"{case}: hand-written gradients differ from torch: {bad}"
    return report


if __name__ == "__main__":
    check()
