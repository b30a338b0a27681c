"""What a PyTorch or NumPy user's first habits do: in place, NumPy calls, PyTorch's spellings, and
the edges of domains where gradients must be PyTorch's."""

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from autograd import Tensor, no_grad
from autograd.testing import gradcheck


# --- in place ---------------------------------------------------------------------------------------------
def test_in_place_under_no_grad_changes_the_same_array_and_counts_a_version():
    p = Tensor([1.0, 2.0], requires_grad=True)
    array = p.data
    with no_grad():
        p -= 0.5 * Tensor([2.0, 4.0])
        p.mul_(2).add_(1)
    assert p.data is array and p._version == 3
    np.testing.assert_allclose(p.data, [1.0, 1.0])


def test_a_tensor_made_from_a_list_of_tensors_that_require_grad_is_refused_not_cut_from_the_graph():
    a, b = Tensor(1.0, requires_grad=True), Tensor(2.0, requires_grad=True)
    with pytest.raises(TypeError, match="would drop their graph; use autograd.stack"):
        Tensor([a, b])
    assert Tensor([a.detach(), b.detach()]).tolist() == [1.0, 2.0]  # constants are fine
    ag.stack([a, b]).sum().backward()
    assert a.grad.item() == 1.0


def test_transpose_0_1_of_a_matrix_where_numpy_and_pytorch_disagree_is_refused_not_guessed():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    for axes in ((0, 1), (-2, -1), (0, -1)):
        with pytest.raises(ValueError, match="identity to NumPy and a swap to PyTorch"):
            x.transpose(*axes)
    assert x.transpose(1, 0).shape == x.T.shape == x.swapaxes(0, 1).shape == (3, 2)  # both readings agree
    assert x.transpose((0, 1)).shape == np.transpose(x, (0, 1)).shape == (2, 3)  # NumPy's tuple form
    with pytest.raises(ValueError, match="swapaxes"):
        Tensor(np.zeros((2, 3, 4))).transpose(0, 1)


def test_no_grad_and_enable_grad_decorate_bare_as_in_pytorch():
    x = Tensor(1.0, requires_grad=True)

    @ag.no_grad
    def frozen(t):
        return t * 2

    @ag.enable_grad
    def recorded(t):
        return t * 2

    assert frozen.__name__ == "frozen" and not frozen(x).requires_grad and ag.is_grad_enabled()
    with no_grad():
        assert recorded(x).requires_grad and not ag.is_grad_enabled()


def test_cpu_is_the_tensor_itself_and_cuda_is_refused_naming_the_device():
    x = Tensor([1.0, 2.0])
    assert x.cpu() is x and x.cpu().numpy() is x.data
    with pytest.raises(ValueError, match="CPU only, got device 'cuda'"):
        x.cuda()


def test_a_negative_seed_counts_back_from_two_to_the_64_as_pytorchs():
    ag.manual_seed(-1)
    first = ag.randn(4).tolist()
    ag.manual_seed(2**64 - 1)
    assert ag.randn(4).tolist() == first


def test_a_hand_written_sgd_loop_trains_exactly_like_nn_optim_sgd():
    X, y = nn.data.make_spiral(n_per_class=40, classes=3, seed=0)
    losses = []
    for by_hand in (True, False):
        ag.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
        optimizer = nn.optim.SGD(model.parameters(), lr=0.5)
        for _ in range(50):
            model.zero_grad()
            loss = F.cross_entropy(model(Tensor(X)), y)
            loss.backward()
            if by_hand:
                with no_grad():
                    for p in model.parameters():
                        p -= 0.5 * p.grad
            else:
                optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert losses[0] < 0.9  # it moved (from ln 3 = 1.0986)


def test_in_place_on_a_leaf_that_requires_grad_refuses_in_grad_mode():
    p = Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"add_: a leaf tensor that requires grad"):
        p += 1


def test_in_place_on_a_non_leaf_is_recorded_in_the_graph():
    w = Tensor([2.0, 3.0], requires_grad=True)
    h = w * 1.0
    h.mul_(w)  # h = w * w
    h.add_(1)
    h.sum().backward()
    np.testing.assert_allclose(w.grad.data, 2 * w.data)


def test_backward_through_a_saved_tensor_changed_in_place_raises_naming_the_op_and_versions():
    w = Tensor([2.0, 3.0], requires_grad=True)
    h = w * 1.0
    z = h.sigmoid() * h  # Mul saves h
    h.add_(1)
    with pytest.raises(RuntimeError, match=r"saved by Mul .* version is 1, it was saved at version 0"):
        z.sum().backward()


def test_a_change_through_a_view_under_no_grad_counts_for_its_base():
    w = Tensor(np.arange(4.0), requires_grad=True)
    y = (w * w).sum()  # Mul saves w
    with no_grad():
        w.reshape(2, 2)[0].zero_()  # writes into w's memory
    assert w.data[0] == 0 and w.data[1] == 0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


@pytest.mark.parametrize("op", ["exp", "sqrt", "tanh", "sigmoid"])
def test_an_output_that_its_own_backward_reads_changed_in_place_raises(op):
    w = Tensor([1.0, 4.0], requires_grad=True)
    out = getattr(w, op)()  # d out / dw is computed from out itself
    total = out.sum()
    with no_grad():
        out.mul_(0)
    with pytest.raises(RuntimeError, match=rf"saved by {op.capitalize()} .* version is 1"):
        total.backward()


def test_in_place_power_with_a_tensor_exponent_is_recorded_like_the_op():
    w, b = Tensor([1.0, 4.0], requires_grad=True), Tensor([2.0, 3.0], requires_grad=True)
    h = w * 1.0
    h.pow_(b)
    h.sum().backward()
    np.testing.assert_allclose(b.grad.data, [0.0, 64 * np.log(4.0)])  # d(w^b)/db = w^b ln w


def test_in_place_through_a_view_in_grad_mode_is_refused():
    h = Tensor(np.arange(4.0), requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match="view"):
        h.reshape(2, 2).add_(1)


def test_an_int_tensor_refuses_a_float_result_in_place_instead_of_truncating():
    a = Tensor([1, 2])
    with pytest.raises(TypeError, match=r"add_: .*float32.*int64"):
        a += 0.5
    assert a.tolist() == [1, 2]


def test_fill_zero_copy_normal_uniform_and_clamp_in_place():
    ag.manual_seed(1)
    t = Tensor(np.ones((2, 3)))
    assert t.zero_().data.sum() == 0 and t.fill_(2.5).data.min() == 2.5
    t.copy_(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(t.clamp_(1, 4).data, [[1, 1, 2], [3, 4, 4]])
    assert t.uniform_(0, 1).data.min() >= 0 and t.data.max() < 1
    assert abs(Tensor(np.zeros(10_000)).normal_(3.0, 0.1).data.mean() - 3.0) < 0.01


def test_item_assignment_writes_in_place_and_counts_a_version():
    # g[g < 0] = 0, the custom-Function tutorial's relu backward, and x[:, 1] = column: both libraries' habit
    g = Tensor([1.0, -2.0, 3.0])
    array = g.data
    g[g < 0] = 0
    g[0] = Tensor(5.0)
    assert g.tolist() == [5.0, 0.0, 3.0] and g.data is array and g._version == 2
    m = ag.zeros(2, 3)
    m[:, 1] = [7.0, 8.0]
    assert m.tolist() == [[0, 7, 0], [0, 8, 0]]
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x[0] = 5.0
    with no_grad():
        x[0] = 5.0  # as an optimizer would
    assert x.tolist() == [5.0, 2.0] and x.requires_grad


def test_item_assignment_on_a_non_leaf_is_recorded_as_pytorch(torch):
    results = []
    for lib in (ag, torch):
        x, v = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True), lib.tensor(10.0, requires_grad=True)
        y = x * 2
        y[1:3] = v * 3  # the written places pass nothing back to x; v gets their gradients, summed
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
        results.append((y.tolist(), x.grad.tolist(), v.grad.item()))
    assert results[0] == results[1] == ([2.0, 30.0, 30.0, 8.0], [2.0, 0.0, 0.0, 8.0], 15.0)


def test_a_0d_tensor_formats_its_value_as_pytorch(torch):
    loss, t = Tensor(np.float64(0.123456)), torch.tensor(0.123456, dtype=torch.float64)
    assert f"{loss:.4f}" == f"{t:.4f}" == "0.1235" and f"{loss}" == f"{t}"
    assert f"{Tensor([1.0, 2.0])}" == str(Tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"format spec '.2f' needs a 0-d tensor, got shape \(2,\)"):
        f"{Tensor([1.0, 2.0]):.2f}"


def test_module_level_functions_are_pytorchs_spellings(torch):
    a = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    x, t = Tensor(a), torch.tensor(a)
    _, predicted = ag.max(x, 1)  # the accuracy loop's torch.max(outputs, 1): values and indices
    assert predicted.tolist() == torch.max(t, 1)[1].tolist() == [1, 0]
    assert ag.max(x).item() == 7.0 and ag.min(x, dim=0).values.tolist() == [1.0, 0.0, 2.0]
    assert ag.max(x, Tensor(4.0)).tolist() == torch.max(t, torch.tensor(4.0)).tolist()
    for name, args in (("exp", ()), ("sum", (1,)), ("softmax", (1,)), ("flatten", ()), ("argmax", (1,)),
                       ("clamp", (1.0, 3.0)), ("tanh", ()), ("sigmoid", ()), ("mean", (0,))):
        np.testing.assert_allclose(getattr(ag, name)(x, *args).data, getattr(torch, name)(t, *args).numpy(),
                                   rtol=1e-12, err_msg=name)
    assert ag.from_numpy(a).data is a and ag.as_tensor(x) is x and ag.as_tensor([1, 2]).dtype == np.int64
    assert x.to(ag.float32).dtype == np.float32 and ag.zeros(2, dtype=ag.long).dtype == np.int64
    assert ag.randn_like(x).shape == (2, 3) and ag.rand_like(x).dtype == np.float64
    star: dict = {}
    exec("from autograd import *", star)  # a star import leaves Python's max, min, sum and abs alone
    assert "exp" in star and "clamp" in star and not {"max", "min", "sum", "abs"} & set(star)
    assert not hasattr(ag, "std") and not hasattr(ag, "var")  # torch.std(x, 1) is unbiased, x.std(1) is not


# --- the NumPy protocol ---------------------------------------------------------------------------------
def test_numpy_ufuncs_and_functions_with_an_op_stay_in_the_graph():
    x = Tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    y = np.sum(np.exp(x) * np.maximum(x, 0)) + np.mean(np.tanh(x), axis=0).sum()
    assert isinstance(y, Tensor)
    y.backward()
    d = x.data
    expected = np.exp(d) * np.maximum(d, 0) + np.exp(d) * (d > 0) + (1 - np.tanh(d) ** 2) / 2
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-6)
    assert isinstance(np.concatenate([x, x], axis=1), Tensor) and np.concatenate([x, x]).grad_fn is not None


def test_numpy_functions_without_an_op_refuse_a_tensor_that_requires_grad():
    x = Tensor([1.5, 2.5], requires_grad=True)
    for call in (lambda: np.round(x), lambda: np.cumsum(x), lambda: np.floor(x)):
        with pytest.raises(TypeError, match=r"np\.\w+ has no chainrule op.*detach\(\)\.numpy\(\)"):
            call()
    np.testing.assert_array_equal(np.round(x.detach()), [2.0, 2.0])  # no graph: NumPy's answer
    assert np.asarray(x) is x.data  # for plotting


def test_np_array_of_a_tensor_is_a_copy_and_np_asarray_is_its_data():
    w = Tensor([1.0, 2.0], requires_grad=True)
    before = np.array(w)  # a snapshot, as of an ndarray (it was the tensor's own array)
    with no_grad():
        w -= 1.0
    assert before.tolist() == [1.0, 2.0] and np.asarray(w) is w.data


def test_numpy_calls_whose_arguments_change_the_answer_give_numpys_answer():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    x, w = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    assert gradcheck(lambda x, w: np.dot(x, w), x, w)  # every stack with every stack: (2, 3, 2, 5), not matmul's
    np.testing.assert_allclose(np.dot(x, w).data, np.dot(a, b))
    np.testing.assert_array_equal(np.concatenate([x, w], axis=None).data, np.concatenate([a, b], axis=None))
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.reshape(Tensor(m), (3, 2), order="F"), np.reshape(m, (3, 2), order="F"))
    with pytest.raises(TypeError, match="np.reshape"):  # no op for F order: refused rather than read as C
        np.reshape(x, (4, 6), order="F")


def test_numpy_spellings_of_arguments_are_accepted():
    x = Tensor([[-1.0, 2.0], [3.0, 0.5]], requires_grad=True)
    assert np.clip(x, a_min=0, a_max=1).tolist() == [[0, 1], [1, 0.5]]
    assert np.einsum("ij,jk->ik", x, x, optimize=True).grad_fn is not None
    rows, cols = np.where(x > 1)  # one argument: the indices, as np.nonzero
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]


def test_an_unsupported_numpy_argument_of_a_reduction_is_named_with_the_reduction():
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(TypeError, match=r"^sum\(\) got an unexpected keyword argument 'where'"):
        np.sum(x, where=np.array([True, False]))


def test_iterating_gives_the_rows_in_the_graph_and_a_0d_tensor_refuses():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    (rows[0].sum() + 2 * rows[1].sum()).backward()
    assert x.grad.tolist() == [[1, 1], [2, 2]]
    with pytest.raises(TypeError, match="0-d tensor"):  # it was an empty loop
        list(x.sum())


# --- PyTorch's spellings ------------------------------------------------------------------------------------
def test_dim_and_keepdim_beside_axis_and_keepdims():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(dim=1, keepdim=True).data, x.sum(axis=1, keepdims=True).data)
    np.testing.assert_array_equal(x.mean(dim=0).data, [1.5, 2.5, 3.5])
    assert x.var(dim=1, unbiased=True).data[0] == pytest.approx(1.0)
    np.testing.assert_allclose(F.softmax(x, dim=1).data.sum(axis=1), [1, 1], rtol=1e-6)
    with pytest.raises(TypeError, match="axis= or dim="):
        x.sum(axis=0, dim=1)
    assert ag.cat([x, x], dim=1).shape == (2, 6)
    assert x.unsqueeze(dim=1).shape == (2, 1, 3) and x.flatten(start_dim=0, end_dim=1).shape == (6,)
    with pytest.raises(TypeError, match="unsqueeze: give the axis"):
        x.unsqueeze()


def test_max_with_dim_gives_values_and_indices_and_without_it_numpy_values():
    x = Tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert x.max(1).tolist() == [5.0, 7.0] and x.min(dim=0).indices.tolist() == [0, 1, 0]


def test_everyday_methods():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size == 6 and x.dim() == 2 and x.numel() == 6
    assert x.t().shape == (3, 2) and x.view(3, 2).shape == (3, 2)
    c = x.clone()
    assert c.data is not x.data and np.array_equal(c.data, x.data)
    assert x.long().dtype == np.int64 and x.int().dtype == np.int32 and x.bool().dtype == np.bool_
    assert x.to(np.float64).dtype == np.float64 and x.to("cpu") is x and x.type_as(x.long()).dtype == np.int64
    with pytest.raises(ValueError, match="CPU only"):
        x.to("cuda")
    assert x.eq(2).tolist() == [[False, False, True], [False, False, False]] and x.gt(4).data.sum() == 1
    assert x.norm().item() == pytest.approx(np.sqrt(55)) and x.norm(p=1, dim=1).tolist() == [3.0, 12.0]
    assert x.masked_fill(x > 3, -1.0).tolist() == [[0, 1, 2], [3, -1, -1]]
    assert x.contiguous() is x and x.T.contiguous().data.flags.c_contiguous


def test_arithmetic_methods_are_the_operators_with_their_gradients(torch):
    # x.pow(2), x.mul(w).add(b): PyTorch's method spellings of the operators (x.pow raised AttributeError)
    a, b = np.array([[1.5, -2.0], [0.5, 3.0]]), np.array([[0.5, 4.0], [-1.0, 2.0]])
    x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ours = x.add(y).mul(y).sub(x).div(y).pow(2).matmul(y).neg()
    theirs = tx.add(ty).mul(ty).sub(tx).div(ty).pow(2).matmul(ty).neg()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy())
    np.testing.assert_allclose(y.grad.data, ty.grad.numpy())
    assert x.pow(2).grad_fn is not None and type(x.pow(2).grad_fn).__name__ == "Pow"


def test_softmax_of_a_0d_tensor_is_pytorchs(torch):
    # PyTorch gives a 0-d tensor the axis 0 (or -1) of one element: softmax 1, log_softmax 0 (was AxisError)
    for method in ("softmax", "log_softmax"):
        for dim in (0, -1):
            x, tx = Tensor(1.5, requires_grad=True), torch.tensor(1.5, requires_grad=True)
            y, ty = getattr(x, method)(dim), getattr(tx, method)(dim)
            (y * 3).backward()
            (ty * 3).backward()
            assert y.shape == () and y.item() == ty.item() and x.grad.item() == tx.grad.item()


def test_norm_0_counts_nonzero_entries_with_gradient_0_as_pytorch(torch):
    # x.norm(0) raised ZeroDivisionError (the root 1/p)
    a = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, -3.0]])
    for options in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
        x, tx = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = x.norm(0, **options), tx.norm(0, **options)
        assert y.shape == tuple(ty.shape) and y.tolist() == ty.tolist()
        y.sum().backward()
        ty.sum().backward()  # PyTorch's gradient is an undefined (zero) one: .grad stays None
        assert tx.grad is None and not x.grad.data.any()


# --- the edges of domains, against PyTorch -------------------------------------------------------------------
def test_float32_with_int32_stays_float32():
    out = Tensor(np.ones(3, np.float32)) * Tensor(np.arange(3, dtype=np.int32))
    assert out.dtype == np.float32


def test_an_integer_operand_of_a_matrix_product_takes_the_float_ones_dtype():
    ints, w = Tensor(np.ones((2, 3), np.int64)), Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    assert (ints @ w).dtype == np.float32 and (w.T @ ints.T).dtype == np.float32
    assert ag.matmul(np.arange(3, dtype=np.int32), w).dtype == np.float32
    layer = nn.Linear(3, 2)
    assert layer(ints).dtype == np.float32 and layer.double()(ints).dtype == np.float64
    (ints @ w).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.tolist() == [[2.0, 2.0]] * 3


def test_numbers_and_integer_tensors_give_pytorchs_dtype_not_numpys_float64():
    x = Tensor(np.ones(3, np.float32))
    pixels = Tensor(np.arange(3, dtype=np.uint8))
    assert (x * np.sqrt(2.0)).dtype == np.float32 and (np.float64(2.0) - x).dtype == np.float32  # numbers
    assert (x + [1, 2, 3]).dtype == np.float32
    assert (pixels / 255).dtype == np.float32 and (pixels * 0.5).dtype == np.float32  # the default dtype
    assert (x * np.ones(3)).dtype == np.float64  # a float64 array still widens


def _torch_grads(fn, *arrays):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    fn(*ts).sum().backward()
    return [t.grad.numpy() for t in ts]


def _our_grads(fn, *arrays):
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    fn(*ts).sum().backward()
    return [t.grad.data for t in ts]


EDGES = {
    "pow at 0": (lambda x, p: x.relu() ** p, [np.array([0.0, 2.0, 0.0]), np.array([2.0, 1.5, 0.0])]),
    "clip with tensor bounds": (lambda x, lo, hi: x.clip(lo, hi) if hasattr(x, "clip") else x.clamp(lo, hi),
                                [np.array([-2.0, 0.5, 3.0, 1.0]), np.array([-1.0, 0.0, 0.0, 1.0]),
                                 np.array([1.0, 1.0, 2.0, 2.0])]),
    "maximum with nan": (lambda a, b: ag.maximum(a, b) if isinstance(a, Tensor) else a.maximum(b),
                         [np.array([np.nan, 1.0, 2.0]), np.array([1.0, np.nan, 2.0])]),
    "relu of nan": (lambda x: x.relu(), [np.array([np.nan, -1.0, 0.0, 2.0])]),
    "norm of a zero row": (lambda x: x.norm(dim=1) + x.norm(3, dim=1),
                           [np.array([[0.0, 0.0], [3.0, -4.0]])]),
    "std of a constant row": (lambda x: x.std(1, correction=0), [np.array([[2.0, 2.0], [1.0, 3.0]])]),
    "abs of nan": (lambda x: x.abs(), [np.array([np.nan, -1.0, 0.0, 2.0])]),
    "elu of nan": (lambda x: F.elu(x) if isinstance(x, Tensor) else __import__("torch").nn.functional.elu(x),
                   [np.array([np.nan, -1.0, 0.0, 2.0])]),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(EDGES))
def test_gradients_at_the_edges_of_domains_are_pytorchs(name):
    fn, arrays = EDGES[name]
    for ours, theirs in zip(_our_grads(fn, *arrays), _torch_grads(fn, *arrays)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)


def test_norm_with_p_minus_inf_is_the_smallest_magnitude():
    x = Tensor([[2.0, -3.0], [-1.0, 5.0]])
    assert x.norm(-np.inf).item() == 1.0 and x.norm(-np.inf, dim=1).tolist() == [2.0, 1.0]


def test_softmax_and_log_softmax_over_an_empty_axis_give_an_empty_result():
    x = Tensor(np.zeros((2, 0)), requires_grad=True)
    assert F.softmax(x, dim=1).shape == (2, 0) and x.log_softmax(1).shape == (2, 0)
    assert Tensor(np.zeros((3, 0))).logsumexp(axis=1).tolist() == [-np.inf] * 3


def test_module_level_max_takes_keepdim_third_and_as_tensor_casts_in_the_graph(torch):
    a = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = ag.max(Tensor(a), 1, True)  # torch.max(x, 1, True): keepdim is the third positional
    expected = torch.max(torch.tensor(a), 1, True)
    assert values.tolist() == expected.values.tolist() and indices.tolist() == expected.indices.tolist()
    assert ag.min(Tensor(a), 0, True).values.shape == (1, 3)
    x = Tensor([1.0, 2.0], requires_grad=True)  # float64
    y = ag.as_tensor(x, dtype=ag.float32)  # torch.as_tensor of another dtype: a copy that keeps the graph
    (y * y).sum().backward()
    assert y.dtype == np.float32 and x.grad is not None and x.grad.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("in_graph", [False, True])
def test_item_assignment_of_a_value_that_does_not_fit_names_the_op_and_both_shapes(in_graph):
    y = Tensor([1.0, 2.0, 3.0], requires_grad=in_graph) * 1
    with pytest.raises(ValueError, match=r"t\[index\] = value: cannot write a value of shape \(3,\) at that index of "
                                         r"a tensor of shape \(3,\) \(could not broadcast"):
        y[0:2] = Tensor([9.0, 8.0, 7.0])
    assert y.tolist() == [1.0, 2.0, 3.0]  # left as it was


def test_item_assignment_into_read_only_memory_writes_into_a_copy():
    # an op can hand back a read-only broadcast (x.expand(2, 3) * 2), where NumPy's answer is writable
    for t in (ag.tensor([1.0, 2.0, 3.0]).expand(2, 3) * 2, Tensor(np.broadcast_to(np.ones(3), (2, 3)))):
        source = t.data
        t[0, 0] = 5.0
        assert t.tolist()[0] == [5.0, *source[0, 1:].tolist()] and t.tolist()[1] == source[1].tolist()
        assert source[0, 0] != 5.0 and t.data.flags.writeable


def test_item_assignment_in_the_graph_on_an_ops_read_only_broadcast_is_recorded_as_pytorch(torch):
    # x.expand(2, 3) * 2 is a read-only broadcast (a view of a small array no tensor holds): it was refused as a view
    results = []
    for lib in (ag, torch):
        x, v = lib.tensor([1.0, 2.0, 3.0], requires_grad=True), lib.tensor(10.0, requires_grad=True)
        y = x.expand(2, 3) * 2
        y[0, 0] = v
        y.sum().backward()
        results.append((y.tolist(), x.grad.tolist(), v.grad.item()))
    assert results[0] == results[1]


def test_an_integer_tensor_changed_in_place_by_a_value_that_requires_grad_stays_integer_and_out_of_the_graph(torch):
    v, tv = Tensor(2.5, requires_grad=True), torch.tensor(2.5, requires_grad=True)
    x, tx = ag.zeros(3, dtype=ag.int64), torch.zeros(3, dtype=torch.int64)
    x[0], tx[0] = v, tv  # the value is truncated into the integer tensor, which no gradient can pass
    assert x.tolist() == tx.tolist() == [2, 0, 0] and x.dtype == np.int64 and not x.requires_grad
    assert x.grad_fn is None and not tx.requires_grad
    with pytest.raises(TypeError, match="add_: the result has dtype float32, which cannot be stored in a tensor of "
                                        "dtype int64"):
        ag.zeros(3, dtype=ag.int64).add_(v)  # PyTorch: RuntimeError, Float can't be cast to Long


def test_an_element_picked_by_integers_is_a_view_so_in_place_changes_reach_the_tensor_as_in_pytorch(torch):
    ours, theirs = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True), torch.arange(6.0).reshape(2, 3)
    for p in (ours, theirs):
        with (no_grad() if p is ours else torch.no_grad()):
            p[1, 2].zero_()  # under no_grad NumPy's copy of one element would silently take the change
            p[..., 0, 1].fill_(9.0)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    h = ours * 2
    with pytest.raises(RuntimeError, match="mul_: this tensor is a view"):  # in grad mode: loud, not lost
        h[0, 0].mul_(3)


def test_retain_grad_follows_a_tensor_changed_in_place_while_its_hooks_stay_with_the_old_value(torch):
    results = []
    for lib in (ag, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h, seen = x * 1, []
        h.retain_grad()
        h.register_hook(lambda g, seen=seen: seen.append(g.tolist()))
        h.mul_(3)
        (h * h).sum().backward()  # d/dh of h^2 at the new h = 2 h = (6, 12); at the old value 3 * that
        results.append((h.grad.tolist(), seen, x.grad.tolist()))
    assert results[0] == results[1] == ([6.0, 12.0], [[18.0, 36.0]], [18.0, 36.0])
