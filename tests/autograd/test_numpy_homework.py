"""The classic lecture's NumPy homework ported to Tensors with NumPy's own calls (``np.exp(t)``,
``np.sum(t, axis=1, keepdims=True)``, fancy indexing, ``+=``): every loss and every gradient of
``backward()`` against the hand-derived NumPy version."""

import numpy as np
import pytest

import autograd as ag
from autograd import Tensor

N, D, H, C, REG = 6, 5, 7, 4, 0.1


@pytest.fixture
def data(rng):
    return rng.standard_normal((N, D)), rng.integers(0, C, N)


def test_knn_distances_by_broadcasting_and_the_vote(rng):
    train, test, labels = rng.standard_normal((20, 3)), rng.standard_normal((4, 3)), rng.integers(0, 3, 20)
    tr, te = Tensor(train), Tensor(test, requires_grad=True)
    dists = np.sqrt(np.sum(te**2, axis=1, keepdims=True) + np.sum(tr**2, axis=1) - 2 * np.dot(te, tr.T))
    expected = np.sqrt(np.sum((test[:, None, :] - train[None, :, :]) ** 2, axis=2))
    np.testing.assert_allclose(dists.data, expected, rtol=1e-10)
    nearest = np.argsort(dists.detach(), axis=1)[:, :3]  # no gradient through a sort: detach says so
    votes = [np.argmax(np.bincount(Tensor(labels)[row].numpy())) for row in nearest]
    assert votes == [np.argmax(np.bincount(labels[row])) for row in np.argsort(expected, axis=1)[:, :3]]
    np.sum(dists).backward()  # d/dx of sum_j |x - t_j| is sum_j (x - t_j) / |x - t_j|
    np.testing.assert_allclose(te.grad.data, np.sum((test[:, None] - train) / expected[..., None], axis=1), rtol=1e-8)


def test_svm_loss_vectorised_with_fancy_indexing_and_item_assignment(rng, data):
    X, y = data
    W = 0.1 * rng.standard_normal((D, C))
    w = Tensor(W.copy(), requires_grad=True)
    scores = np.dot(X, w)
    margins = np.maximum(0, scores - scores[np.arange(N), y][:, np.newaxis] + 1)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N + REG * np.sum(w * w)
    loss.backward()

    s = X.dot(W)
    m = np.maximum(0, s - s[np.arange(N), y][:, np.newaxis] + 1)
    m[np.arange(N), y] = 0
    binary = (m > 0).astype(float)
    binary[np.arange(N), y] = -np.sum(binary, axis=1)
    assert loss.item() == pytest.approx(np.sum(m) / N + REG * np.sum(W * W), rel=1e-12)
    np.testing.assert_allclose(w.grad.data, X.T.dot(binary) / N + 2 * REG * W, rtol=1e-10)


def test_two_layer_net_softmax_with_in_place_shift_and_keepdims(rng, data):
    X, y = data
    params = [rng.standard_normal(s) for s in ((D, H), (H,), (H, C), (C,))]
    W1, b1, W2, b2 = ts = [Tensor(p.copy(), requires_grad=True) for p in params]
    hidden = np.maximum(0, np.dot(X, W1) + b1)
    scores = hidden @ W2 + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[range(N), y]))
    loss += REG * (np.sum(W1 * W1) + np.sum(W2 * W2))
    loss.backward()

    w1, c1, w2, c2 = params
    h = np.maximum(0, X.dot(w1) + c1)
    s = h.dot(w2) + c2
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    dscores = p.copy()
    dscores[range(N), y] -= 1
    dscores /= N
    dh = dscores.dot(w2.T)
    dh[h <= 0] = 0
    expected = [X.T.dot(dh) + 2 * REG * w1, dh.sum(0), h.T.dot(dscores) + 2 * REG * w2, dscores.sum(0)]
    assert loss.item() == pytest.approx(-np.log(p[range(N), y]).mean() + REG * (np.sum(w1**2) + np.sum(w2**2)))
    for t, g in zip(ts, expected):
        np.testing.assert_allclose(t.grad.data, g, rtol=1e-9, atol=1e-12)


def test_batchnorm_forward_by_hand_backpropagates_the_closed_form(rng):
    x, gamma, beta, dout = (rng.standard_normal(s) for s in ((N, D), (D,), (D,), (N, D)))
    xt, gt, bt = (Tensor(a.copy(), requires_grad=True) for a in (x, gamma, beta))
    eps = 1e-5
    mu, var = np.mean(xt, axis=0), np.var(xt, axis=0)
    out = gt * (xt - mu) / np.sqrt(var + eps) + bt
    out.backward(dout)

    xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(0) - xhat * np.sum(dxhat * xhat, axis=0)) / (N * np.sqrt(x.var(0) + eps))
    np.testing.assert_allclose(out.data, gamma * xhat + beta, rtol=1e-10)
    for t, g in zip((xt, gt, bt), (dx, np.sum(dout * xhat, axis=0), dout.sum(0))):
        np.testing.assert_allclose(t.grad.data, g, rtol=1e-8, atol=1e-12)


def test_an_ndarray_accumulating_a_tensor_that_requires_grad_is_refused_naming_out(data):
    X, _ = data
    w = Tensor(np.ones((D, C)), requires_grad=True)
    grad_sum = np.zeros((D, C))
    with pytest.raises(TypeError, match=r"np\.add with out= .* shape \(5, 4\) that requires grad"):
        grad_sum += w  # an ndarray cannot hold a graph; the message named np.add as having no op at all
    np.testing.assert_array_equal(X.dot(w.detach()), np.dot(X, w).data)  # np.dot(X, w) and X @ w keep the graph
    assert np.dot(X, w).grad_fn is not None and np.sum(ag.stack([w[0, 0], w[1, 1]])).grad_fn is not None


def test_the_conv_homeworks_numpy_spellings_pad_square_amax_stay_in_the_graph(rng):
    x = rng.standard_normal((2, 3, 4))
    t = Tensor(x.copy(), requires_grad=True)
    padded = np.pad(t, ((0, 0), (0, 0), (1, 2)), "constant")  # was a TypeError: np.pad had no op
    np.testing.assert_array_equal(padded.data, np.pad(x, ((0, 0), (0, 0), (1, 2)), "constant"))
    np.testing.assert_array_equal(np.pad(t, 1, constant_values=2.0).data, np.pad(x, 1, constant_values=2.0))
    loss = np.sum(np.square(padded)) + np.sum(np.amax(t, axis=2)) - np.sum(np.amin(t, axis=(0, 1), keepdims=True))
    loss.backward()
    expected = 2 * x + (x == x.max(2, keepdims=True)) - (x == x.min((0, 1), keepdims=True))
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-12)
    np.testing.assert_array_equal(np.pad(Tensor(x), 1, mode="edge"), np.pad(x, 1, mode="edge"))  # NumPy's answer
    with pytest.raises(TypeError, match=r"np\.pad has no chainrule op"):  # other modes have no op
        np.pad(t, 1, mode="edge")
