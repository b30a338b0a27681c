"""Dtypes as an engineer meets them: NumPy scalars are numbers, and float16 statistics do not
overflow where PyTorch's (computed in float32) do not."""

import numpy as np
import pytest

import autograd as ag
from autograd import Tensor


@pytest.mark.parametrize("name, call", [
    ("where", lambda x, mask, v: ag.where(mask, v, x)),
    ("masked_fill", lambda x, mask, v: x.masked_fill(mask, v)),
    ("clip", lambda x, mask, v: x.clip(v, np.float64(0.9))),
    ("clamp min only", lambda x, mask, v: x.clamp(v)),
])
def test_a_numpy_float64_scalar_keeps_a_float32_tensor_float32_as_a_python_number_does(name, call):
    x = Tensor(np.array([0.2, 0.5, 1.0], np.float32), requires_grad=True)
    mask = Tensor(np.array([True, False, False]))
    value = np.mean([0.25, 0.35])  # np.float64, as np.mean and friends return
    out = call(x, mask, value)
    assert out.dtype == np.float32, name
    np.testing.assert_allclose(out.data, call(x, mask, float(value)).data)
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_where_promotes_as_pytorch_and_keeps_float64_arrays_wide():
    mask = np.array([True, False])
    f32, i32 = Tensor(np.ones(2, np.float32)), Tensor(np.ones(2, np.int32))
    assert ag.where(mask, i32, f32).dtype == np.float32  # NumPy would widen float32 with int32
    assert ag.where(mask, Tensor(np.ones(2, np.int64)), 2.5).dtype == ag.get_default_dtype()
    assert ag.where(mask, Tensor(np.ones(2)), 1.0).dtype == np.float64
    assert ag.where(mask, 2.0, 3.0).dtype == ag.get_default_dtype()


def _float16(values):
    return Tensor(np.asarray(values, np.float16), requires_grad=True)


@pytest.mark.parametrize("name, call", [
    ("std", lambda t: t.std()),
    ("std over an axis, unbiased", lambda t: t.reshape(2, -1).std(dim=1, unbiased=True)),
    ("norm", lambda t: t.norm()),
    ("norm p=3 over an axis", lambda t: t.reshape(2, -1).norm(p=3, dim=1)),
    ("norm p=inf", lambda t: t.norm(p=np.inf)),
])
def test_float16_std_and_norm_are_computed_in_float32_and_rounded_once(name, call):
    # std(arange(2000)) = 577 but its variance, 333333, is past float16's 65504; so is the sum of squares
    values = np.arange(2000.0)
    x16, x32 = _float16(values), Tensor(values.astype(np.float32), requires_grad=True)
    out = call(x16)
    assert out.dtype == np.float16, name
    np.testing.assert_allclose(out.data.astype(np.float32), call(x32).data.astype(np.float16), rtol=1e-3)
    out.sum().backward()
    assert x16.grad.dtype == np.float16 and np.isfinite(x16.grad.data).all()


def test_float16_std_and_norm_match_torch(torch):
    values = np.arange(2000.0).astype(np.float16)
    t = torch.tensor(values)
    assert Tensor(values).std().item() == t.std(unbiased=False).item()
    assert Tensor(values).norm().item() == t.norm().item()
