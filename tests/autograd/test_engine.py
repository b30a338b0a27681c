"""The engine: the lecture's examples, graph semantics, grad mode, hooks, memory and errors."""

import gc
import threading
import weakref

import numpy as np
import pytest

import autograd as ag
from autograd import Function, tensor


# --- the lecture's examples ---------------------------------------------------------------------
def test_lecture_example_f_equals_x_plus_y_times_z():
    x, y, z = (tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    q = x + y
    f = q * z
    q.retain_grad()
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)
    assert q.grad.item() == -4.0  # df/dq = z


def test_add_gate_distributes_the_gradient():
    a, b = tensor(3.0, requires_grad=True), tensor(-1.0, requires_grad=True)
    (a + b).backward(tensor(2.5))
    assert a.grad.item() == b.grad.item() == 2.5


def test_max_gate_routes_the_gradient_to_the_larger_input():
    a, b = tensor(3.0, requires_grad=True), tensor(-1.0, requires_grad=True)
    ag.maximum(a, b).backward(tensor(2.5))
    assert (a.grad.item(), b.grad.item()) == (2.5, 0.0)


def test_mul_gate_switches_the_inputs():
    a, b = tensor(3.0, requires_grad=True), tensor(-1.0, requires_grad=True)
    (a * b).backward(tensor(2.0))
    assert (a.grad.item(), b.grad.item()) == (-2.0, 6.0)


def test_vectorised_example_norm_of_wx_has_gradient_2_q_x_transpose(rng):
    W = tensor(rng.standard_normal((3, 4)), requires_grad=True, dtype=np.float64)
    x = tensor(rng.standard_normal(4), requires_grad=True, dtype=np.float64)
    q = W @ x
    f = (q * q).sum()
    f.backward()
    np.testing.assert_allclose(W.grad.data, 2 * np.outer(q.data, x.data))
    np.testing.assert_allclose(x.grad.data, 2 * W.data.T @ q.data)


# --- graph semantics -------------------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = tensor(2.0, requires_grad=True)
    (x * x).backward()
    (x * 3).backward()
    assert x.grad.item() == 4.0 + 3.0


def test_a_tensor_used_twice_gets_both_contributions():
    x = tensor(3.0, requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad.item() == 7.0


def test_control_flow_decides_the_graph():
    x = tensor(2.0, requires_grad=True)
    y = x
    while y.item() < 100:
        y = y * y  # 2 -> 4 -> 16 -> 256: y = x^8
    y.backward()
    assert x.grad.item() == 8 * 2.0**7


def test_broadcast_input_gets_a_gradient_of_its_own_shape():
    a = tensor(np.ones((2, 3)), requires_grad=True)
    b = tensor(np.ones((3,)), requires_grad=True)
    c = tensor(np.ones((2, 1)), requires_grad=True)
    (a * b + c).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == (2, 1)
    np.testing.assert_array_equal(b.grad.data, [2, 2, 2])
    np.testing.assert_array_equal(c.grad.data, [[3], [3]])


def test_scalars_are_first_class():
    x = tensor(0.5, requires_grad=True)
    y = (x.sin() * x.exp()).tanh()
    y.backward()
    assert x.grad.shape == () and y.shape == ()
    h = 1e-3
    f = lambda v: np.tanh(np.sin(v) * np.exp(v))  # noqa: E731
    assert x.grad.item() == pytest.approx((f(0.5 + h) - f(0.5 - h)) / (2 * h), rel=1e-3)


def test_a_chain_of_100000_ops_backpropagates_without_recursion():
    x = tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert y.item() == 100_001.0 and x.grad.item() == 1.0


def test_a_sum_of_10000_inputs():
    xs = [tensor(float(i), requires_grad=True) for i in range(10_000)]
    total = ag.stack(xs).sum() + sum(xs[:5000], tensor(0.0))
    total.backward()
    assert [xs[0].grad.item(), xs[4999].grad.item(), xs[5000].grad.item()] == [2.0, 2.0, 1.0]


def test_a_node_runs_once_after_all_its_consumers_however_long_their_paths():
    calls = []

    class Recorded(Function):  # the identity, recording the gradient each backward call receives
        forward = staticmethod(lambda ctx, x: x.data.copy())

        @staticmethod
        def backward(ctx, g):
            calls.append(g.item())
            return g

    x = tensor(1.0, requires_grad=True)
    a = Recorded.apply(x)
    long_path = a
    for _ in range(50):
        long_path = long_path * 1.0
    (a * 3.0 + long_path + a).backward()  # consumers made before and after the long path
    assert calls == [5.0] and x.grad.item() == 5.0


def test_nodes_made_in_an_earlier_graph_still_run_after_their_new_consumers():
    x = tensor(2.0, requires_grad=True)
    old = x * x  # made first, consumed later by nodes made afterwards
    later = [old * float(k) for k in range(1, 4)]
    ag.grad(later[0] + later[2], x, retain_graph=True)  # a first backward through old, kept
    (later[1] + old).backward()
    assert x.grad.item() == 3 * 2 * 2.0  # d(2 x^2 + x^2)/dx at 2


def test_detach_cuts_the_graph():
    x = tensor(2.0, requires_grad=True)
    y = x * x.detach()  # the detached factor is a constant
    y.backward()
    assert x.grad.item() == 2.0


def test_custom_function_from_the_contract():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.data**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2

    x = tensor(2.0, requires_grad=True)
    y = Cube.apply(x)
    (dy,) = ag.grad(y, x, create_graph=True)
    (d2y,) = ag.grad(dy, x)
    assert (y.item(), dy.item(), d2y.item()) == (8.0, 12.0, 12.0)  # 3x^2, 6x at x = 2


# --- higher order and grad() ---------------------------------------------------------------------------
def test_create_graph_gives_second_and_third_derivatives():
    x = tensor(1.5, requires_grad=True, dtype=np.float64)
    y = x**4
    (d1,) = ag.grad(y, x, create_graph=True)
    (d2,) = ag.grad(d1, x, create_graph=True)
    (d3,) = ag.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == pytest.approx((4 * 1.5**3, 12 * 1.5**2, 24 * 1.5))


def test_hessian_vector_product(rng):
    A = rng.standard_normal((4, 4))
    A = A + A.T
    x = tensor(rng.standard_normal(4), requires_grad=True, dtype=np.float64)
    v = rng.standard_normal(4)
    f = 0.5 * (x @ (tensor(A) @ x))  # Hessian is A
    (g,) = ag.grad(f, x, create_graph=True)
    (hv,) = ag.grad((g * tensor(v)).sum(), x)
    np.testing.assert_allclose(hv.data, A @ v)


def test_backward_with_create_graph_keeps_a_differentiable_grad():
    x = tensor(3.0, requires_grad=True)
    (x**3).backward(create_graph=True)
    assert x.grad.requires_grad
    (d2,) = ag.grad(x.grad, x)
    assert d2.item() == 18.0


def test_grad_returns_gradients_without_touching_dot_grad():
    x, y = tensor(2.0, requires_grad=True), tensor(5.0, requires_grad=True)
    gx, gy = ag.grad(x * y, [x, y])
    assert (gx.item(), gy.item()) == (5.0, 2.0)
    assert x.grad is None and y.grad is None


def test_grad_of_an_intermediate():
    x = tensor(2.0, requires_grad=True)
    h = x * 3
    (gh,) = ag.grad(h * h, h)
    assert gh.item() == 12.0


def test_grad_of_an_input_listed_twice_gives_its_gradient_twice():
    x = tensor(3.0, requires_grad=True)
    h = x * 2
    gh, gx, gh_again = ag.grad(h * h, [h, x, h])  # as torch.autograd.grad (was IndexError)
    assert (gh.item(), gx.item(), gh_again.item()) == (12.0, 24.0, 12.0)


def test_grad_unused_input_raises_unless_allowed():
    x, unused = tensor(2.0, requires_grad=True), tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        ag.grad(x * 2, [x, unused])
    assert ag.grad(x * 2, [x, unused], allow_unused=True)[1] is None


# --- grad mode ------------------------------------------------------------------------------------------------
def test_no_grad_records_nothing_and_enable_grad_reenables():
    x = tensor(1.0, requires_grad=True)
    with ag.no_grad():
        y = x * 2
        with ag.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and ag.is_grad_enabled()


def test_no_grad_as_a_decorator():
    @ag.no_grad()
    def double(t):
        return t * 2

    assert not double(tensor(1.0, requires_grad=True)).requires_grad
    assert ag.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []

    def worker():
        seen.append(ag.is_grad_enabled())

    with ag.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not ag.is_grad_enabled()
    assert seen == [True]


# --- hooks and retain_grad -------------------------------------------------------------------------------
def test_hook_can_replace_a_leaf_gradient_and_be_removed():
    x = tensor(1.0, requires_grad=True)
    handle = x.register_hook(lambda g: g * 10)
    (x * 2).backward()
    assert x.grad.item() == 20.0
    handle.remove()
    x.grad = None
    (x * 2).backward()
    assert x.grad.item() == 2.0


def test_hook_on_an_intermediate_sees_and_changes_its_gradient():
    x = tensor(1.0, requires_grad=True)
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.item()) or g * 0)
    (h * 4).backward()
    assert seen == [4.0] and x.grad.item() == 0.0


def test_non_leaf_grad_is_none_unless_retained():
    x = tensor(1.0, requires_grad=True)
    h, k = x * 3, x * 5
    k.retain_grad()
    (h * k).backward()
    assert h.grad is None and k.grad.item() == 3.0



def test_a_hook_fires_once_per_backward_with_the_gradient_summed_over_every_use():
    x = tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))
    for _ in range(2):
        (x * 2 + x * x).sum().backward()  # d/dx = 2 + 2x
    np.testing.assert_array_equal(seen, [[4.0, 6.0], [4.0, 6.0]])
    np.testing.assert_array_equal(x.grad.data, [8.0, 12.0])


def test_retain_grad_keeps_the_gradient_a_hook_replaced_as_pytorch_2():
    x = tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    h.register_hook(lambda g: g * 10)
    (h * h + h).sum().backward()  # d/dh = 2h + 1 = [5, 9], then times 10
    np.testing.assert_array_equal(h.grad.data, [50.0, 90.0])
    np.testing.assert_array_equal(x.grad.data, [100.0, 180.0])


def test_removing_a_hook_twice_is_harmless_and_keeps_the_other_hooks():
    x = tensor(1.0, requires_grad=True)
    first = x.register_hook(lambda g: g * 3)
    x.register_hook(lambda g: g + 1)
    first.remove()
    first.remove()
    (x * 2).backward()
    assert x.grad.item() == 3.0


def test_grad_runs_tensor_hooks_but_touches_no_grad_leaf_or_retained():
    x = tensor(2.0, requires_grad=True)
    h = x * 3
    h.retain_grad()
    seen = []
    x.register_hook(lambda g: seen.append(g.item()))
    (gx,) = ag.grad(h * h, x)
    assert gx.item() == 36.0 and seen == [36.0]
    assert x.grad is None and h.grad is None

# --- dtypes ------------------------------------------------------------------------------------------------------
def test_python_floats_take_the_default_dtype_and_arrays_keep_theirs():
    assert tensor(1.0).dtype == np.float32 and tensor([1.0, 2.0]).dtype == np.float32
    assert tensor(np.ones(2)).dtype == np.float64
    assert tensor(3).dtype == np.int64


def test_python_scalars_never_upcast_a_tensor():
    x = tensor([1.0, 2.0], requires_grad=True)
    for y in (x * 2.5, 2.5 * x, x + 1, x / 3.0, x**2, 2.0**x, 1 - x):
        assert y.dtype == np.float32
    (x * 2.5).sum().backward()
    assert x.grad.dtype == np.float32


def test_float32_with_float64_promotes_and_each_gradient_keeps_its_input_dtype():
    a = tensor(np.ones(2, np.float32), requires_grad=True)
    b = tensor(np.ones(2, np.float64), requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_set_default_dtype():
    try:
        ag.set_default_dtype(np.float64)
        assert tensor(1.0).dtype == np.float64 and ag.zeros(2).dtype == np.float64
    finally:
        ag.set_default_dtype(np.float32)
    with pytest.raises(TypeError):
        ag.set_default_dtype(np.int32)


def test_requires_grad_on_integer_data_is_a_type_error():
    with pytest.raises(TypeError, match="floating"):
        tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        tensor([1, 2]).requires_grad_()


# --- errors ------------------------------------------------------------------------------------------------------
def test_backward_of_a_non_scalar_needs_a_gradient():
    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    (x * 2).backward(gradient=tensor([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.data, [2, 2])


def test_second_backward_through_a_freed_graph_says_retain_graph():
    x = tensor(2.0, requires_grad=True)
    y = x * x
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = tensor(2.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0


def test_shape_mismatch_names_the_op_and_both_shapes():
    a, b = tensor(np.ones((2, 3))), tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(4,\)"):
        a + b
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4,\)"):
        a @ b


def test_backward_on_a_tensor_without_grad_explains():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tensor(1.0).backward()


def test_wrongly_shaped_gradient_from_a_custom_function_is_reported():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.data.sum()

        @staticmethod
        def backward(ctx, g):
            return ag.ones(7)

    x = tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.*\(7,\).*\(3,\)"):
        Bad.apply(x).backward()


@pytest.mark.filterwarnings("ignore:(invalid value|divide by zero):RuntimeWarning")  # NumPy's own word on the NaN
def test_detect_anomaly_names_the_op_and_the_users_line():
    x = tensor(-1.0, requires_grad=True)
    with ag.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        x.sqrt()  # NaN in forward
    assert "Sqrt" in str(info.value) and "test_engine.py" in str(info.value)

    y = tensor(0.0, requires_grad=True)
    with ag.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        y.sqrt().backward()  # 1 / (2 sqrt(0)) = inf in backward
    assert "Sqrt" in str(info.value) and "test_engine.py" in str(info.value)


# --- memory -------------------------------------------------------------------------------------------------
def test_saved_tensors_are_released_after_backward():
    x = tensor(np.ones(3), requires_grad=True)
    y = (x * x).exp()
    node = y.grad_fn
    y.sum().backward()
    assert node._saved == () and node._out is None


def test_intermediates_are_freed_without_the_garbage_collector():
    gc.collect()
    gc.disable()
    try:
        x = tensor(np.ones((50, 50)), requires_grad=True)
        h = (x * 2).tanh()
        s = (h * h).exp()
        loss = s.sum()
        refs = [weakref.ref(h.data), weakref.ref(s.data), weakref.ref(h.grad_fn), weakref.ref(s)]
        loss.backward()
        del h, s, loss
        assert all(r() is None for r in refs)  # refcounting alone frees them: no cycles
        assert x.grad is not None
    finally:
        gc.enable()


def test_graph_kept_alive_only_by_the_output():
    gc.disable()
    try:
        x = tensor(np.ones(100), requires_grad=True)
        y = x.exp().sin().sum()
        node = weakref.ref(y.grad_fn)
        del y
        assert node() is None
    finally:
        gc.enable()


def test_grad_accumulates_in_place_so_a_reference_held_to_it_sees_the_sum_as_in_pytorch(torch):
    held = {}
    for lib, x in (("ours", tensor([1.0, 2.0], requires_grad=True)), ("torch", torch.tensor([1.0, 2.0]))):
        x.requires_grad_()
        seen = []
        x.register_hook(lambda g, seen=seen: seen.append(g))  # a gradient a hook kept is not the .grad
        (x * x).sum().backward()
        first = x.grad
        (x * 3).sum().backward()
        assert x.grad is first
        held[lib] = (first.tolist(), seen[0].tolist())
    assert held["ours"] == held["torch"] == ([5.0, 7.0], [2.0, 4.0])


def test_in_place_accumulation_keeps_each_leafs_grad_its_own():
    a, b = tensor([1.0, 2.0], requires_grad=True), tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):
        (a + b).sum().backward()  # both leaves are handed the same gradient
    a.grad.zero_()
    assert b.grad.tolist() == [2.0, 2.0]
    x = tensor(2.0, requires_grad=True)
    (x ** 2).backward(create_graph=True)
    (x ** 2).backward(create_graph=True)  # a .grad in a graph is summed out of place, staying differentiable
    assert x.grad.item() == 8.0 and x.grad.grad_fn is not None


@pytest.mark.parametrize("where", ["leaf", "intermediate"])
@pytest.mark.parametrize("bad", [lambda g: g.sum(), lambda g: g.double(), lambda g: g.data * 2])
def test_a_hook_that_changes_the_gradients_shape_or_dtype_is_an_error_naming_it_not_a_broadcast(where, bad):
    x = tensor([1.0, 2.0], requires_grad=True)
    h = x if where == "leaf" else x.exp()  # exp's backward would broadcast a 0-d gradient silently
    h.register_hook(bad)
    with pytest.raises(RuntimeError, match=r"hook <lambda> returned .* for the gradient, a Tensor of shape \(2,\)"):
        (h * 3).sum().backward()
    assert x.grad is None


def test_a_leaf_switched_off_between_forward_and_backward_gets_no_grad_as_in_pytorch(torch):
    grads = []
    for lib in (ag, torch):
        x, w = lib.tensor([1.0, 2.0], requires_grad=True), lib.tensor(3.0, requires_grad=True)
        y = (x * w).sum()
        x.requires_grad_(False)  # frozen after the forward pass (a GAN's other network)
        y.backward()
        grads.append((x.grad, w.grad.item()))
    assert grads[0] == grads[1] == (None, 3.0)


def test_grad_of_an_output_that_needs_no_grad_says_grad_not_backward():
    x = tensor([1.0, 2.0], requires_grad=True)
    (g,) = ag.grad((x * 2).sum(), x, create_graph=True)  # a constant: 2 everywhere
    with pytest.raises(RuntimeError, match=r"grad\(\): tensor 0 does not require grad"):
        ag.grad(g.sum(), x)


def test_grad_runs_only_the_graph_between_outputs_and_inputs_so_other_hooks_are_not_called(torch):
    """A gradient penalty's grad(D(x), x) must not fire the hooks of D's weights, nor of what lies below x."""
    calls = {}
    for lib in (ag, torch):
        seen = calls[lib.__name__] = []
        x0 = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor(3.0, requires_grad=True)
        x, scaled = x0 * 2, w * 2
        for name, t in (("x0", x0), ("w", w), ("scaled", scaled), ("x", x)):
            t.register_hook(lambda g, name=name, seen=seen: seen.append(name))
        (gx,) = (torch.autograd.grad if lib is torch else ag.grad)((x * scaled).sum(), x)
        assert gx.tolist() == [6.0, 6.0]
    assert calls["autograd"] == calls["torch"] == ["x"]
