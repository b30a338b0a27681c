"""No array a user holds is ever written again behind their back.

The speed tricks write into memory in place: a bias added into a fresh product, masks and fused
gradients built with ``out=``, glibc asked to keep freed blocks for the next step. Each is only
safe if the memory it writes belongs to nobody else. These tests keep a reference to every tensor
made during several training steps (every op's output, in forward and backward, and every
``.grad``) and check at the end that each still holds the values it had when it was made.
Parameters and BatchNorm's running statistics (and views of them) change in place by design.
"""

import numpy as np
import pytest

import autograd as ag
import nn
from autograd.ops.function import Function
from nn.models import cnn


def _train_keeping_everything(monkeypatch, model, x, target, steps=3):
    made = []  # (tensor, a copy of its values when made)
    apply = Function.apply.__func__

    def recording_apply(cls, *args):
        out = apply(cls, *args)
        made.append((out, out.data.copy()))
        return out

    monkeypatch.setattr(Function, "apply", classmethod(recording_apply))
    opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), target)
        loss.backward()
        made += [(p.grad, p.grad.data.copy()) for p in model.parameters()]
        opt.step()
    monkeypatch.undo()
    owned = [t.data for t in (*model.parameters(), *model.buffers())]  # updated in place, by design
    return [(t, before) for t, before in made if not any(np.shares_memory(t.data, a) for a in owned)]


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_every_tensor_of_three_training_steps_keeps_its_values(monkeypatch, name):
    ag.manual_seed(0)
    rng = np.random.default_rng(0)
    if name == "mlp":  # linear layers take the in-place bias add; relu and losses their masks
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
        x = ag.tensor(rng.standard_normal((64, 20)).astype(np.float32))
    else:  # channels-last convolution, batch norm, pooling and their kernels
        model = cnn(3, 4, 8, width=4)
        x = ag.tensor(rng.standard_normal((16, 3, 8, 8)).astype(np.float32))
    target = rng.integers(0, 4, len(x))
    kept = _train_keeping_everything(monkeypatch, model, x, target)
    assert len(kept) > 50  # the forward and backward of three steps, not just a few tensors
    changed = [t for t, before in kept if not np.array_equal(t.data, before, equal_nan=True)]
    assert not changed, f"{len(changed)} of {len(kept)} tensors were overwritten, e.g. {changed[0]!r}"
