"""Convolution networks run channels-last in memory, forward and backward, whatever the input layout.

conv2d returns NCHW tensors whose memory is NHWC (the layout its matmul produces), and pooling,
batch norm and the activations keep that layout, so no op transposes the big activations or
their gradients. The layout never changes a result: an NCHW and an NHWC copy of one batch give
the same outputs and gradients.
"""

import numpy as np
import pytest

import nn.functional as F
from autograd import Tensor
from autograd.kernels import memory_order

NHWC = (0, 2, 3, 1)


def lecture_cnn(x, p):
    """conv-bn-relu-pool twice, then flatten and linear; returns the logits and the activations."""
    acts = []
    h = x
    for i in (0, 1):
        h = F.conv2d(h, p[f"w{i}"], p[f"b{i}"], padding=1)
        acts.append(h)
        h = F.batch_norm(h, None, None, p[f"g{i}"], p[f"beta{i}"], training=True).relu()
        acts.append(h)
        h = F.max_pool2d(h, 2)
        acts.append(h)
    return F.linear(h.flatten(1), p["fc"]), acts


@pytest.fixture
def params(rng):
    shapes = {"w0": (6, 3, 3, 3), "b0": (6,), "g0": (6,), "beta0": (6,), "w1": (8, 6, 3, 3), "b1": (8,),
              "g1": (8,), "beta1": (8,), "fc": (5, 8 * 2 * 2)}
    return {k: rng.standard_normal(s) for k, s in shapes.items()}


@pytest.mark.parametrize("input_layout", [(0, 1, 2, 3), NHWC], ids=["nchw-input", "nhwc-input"])
def test_activations_and_gradients_stay_channels_last(rng, params, input_layout):
    batch = rng.standard_normal((4, 3, 8, 8))
    x = Tensor(np.ascontiguousarray(batch.transpose(input_layout)).transpose(np.argsort(input_layout)),
               requires_grad=True)
    logits, acts = lecture_cnn(x, {k: Tensor(v, requires_grad=True) for k, v in params.items()})
    for a in acts:
        assert memory_order(a.data) == NHWC, a.shape
        a.retain_grad()
    logits.backward(Tensor(rng.standard_normal(logits.shape)))
    for a in acts:
        assert memory_order(a.grad.data) == NHWC, a.shape


def test_the_layout_of_the_input_does_not_change_results(rng, params):
    batch = rng.standard_normal((4, 3, 8, 8))
    upstream = rng.standard_normal((4, 5))
    results = []
    for layout in [(0, 1, 2, 3), NHWC, (3, 2, 1, 0)]:
        x = Tensor(np.ascontiguousarray(batch.transpose(layout)).transpose(np.argsort(layout)), requires_grad=True)
        p = {k: Tensor(v, requires_grad=True) for k, v in params.items()}
        logits, _ = lecture_cnn(x, p)
        logits.backward(Tensor(upstream))
        results.append([logits.data, x.grad.data] + [p[k].grad.data for k in sorted(p)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
