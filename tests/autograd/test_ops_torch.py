"""Every op of the database against PyTorch in float64: forward values and gradients.

The inputs are the database's seeded NumPy samples (shapes and broadcasting vary with the seed);
the property tests already explore them with hypothesis.
"""

import zlib

import numpy as np
import pytest

import autograd as ag
from autograd.testing import OPS
from autograd.testing.opdb import sample

SAMPLES_PER_OP = 10


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.torch
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_forward_and_gradients_match_pytorch(op, torch):
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))
    for _ in range(SAMPLES_PER_OP):
        check_against_torch(op, sample(op, rng), torch)


def check_against_torch(op, args, torch):
    targs = [torch.tensor(a.data, requires_grad=a.requires_grad) for a in args]
    outs, touts = _as_list(op.fn(*args)), _as_list(op.torch_fn(torch, *targs))

    assert len(outs) == len(touts)
    for o, t in zip(outs, touts):
        assert o.shape == tuple(t.shape) and o.dtype == np.float64
        np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"at {args}")

    # gradients for one random upstream gradient per output
    rng = np.random.default_rng(0)
    vs = [rng.standard_normal(o.shape) for o in outs]
    wrt = [i for i, a in enumerate(args) if a.requires_grad]
    ours = ag.grad(outs, [args[i] for i in wrt], grad_outputs=[ag.tensor(v) for v in vs], allow_unused=True)
    theirs = torch.autograd.grad(
        touts, [targs[i] for i in wrt], grad_outputs=[torch.tensor(v) for v in vs], allow_unused=True
    )
    for i, g, tg in zip(wrt, ours, theirs):
        expected = np.zeros(args[i].shape) if tg is None else tg.numpy()
        actual = np.zeros(args[i].shape) if g is None else g.data
        assert actual.shape == args[i].shape
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12, err_msg=f"gradient of input {i} at {args}")
