"""Module bookkeeping: registration, traversal, modes, state dicts (all or nothing), repr."""

import copy

import numpy as np
import pytest

import autograd
import nn
from autograd import Tensor


class Block(nn.Module):
    """A module with a parameter, a buffer, a child, a disabled parameter and a plain attribute."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3))
        self.register_buffer("count", Tensor(np.zeros(3)))
        self.inner = nn.Linear(3, 2)
        self.register_parameter("unused", None)
        self.note = "plain attribute"

    def forward(self, x):
        return self.inner(x * self.scale)


def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 5))


# --- Parameter --------------------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(np.arange(3.0))
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:")
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad


def test_parameter_from_a_nonleaf_tensor_is_a_leaf_sharing_its_data():
    t = Tensor(np.arange(3.0), requires_grad=True) * 2
    p = nn.Parameter(t)
    assert p.is_leaf and p.data is t.data


def test_parameter_of_integers_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.arange(3))


# --- registration -------------------------------------------------------------------------------
def test_parameters_buffers_and_children_are_kept_apart():
    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    assert [n for n, _ in b.named_buffers()] == ["count"]
    assert [n for n, _ in b.named_children()] == ["inner"]
    assert list(b.children()) == [b.inner]
    assert [type(m).__name__ for m in b.modules()] == ["Block", "Linear"]
    assert [n for n, _ in b.named_modules()] == ["", "inner"]
    assert b.unused is None and b.note == "plain attribute"
    assert "note" not in b._parameters and "note" not in b._buffers


def test_parameters_without_recursion_are_the_modules_own():
    b = Block()
    assert [n for n, _ in b.named_parameters(recurse=False)] == ["scale"]
    assert len(list(b.parameters(recurse=False))) == 1


def test_assigning_a_parameter_sets_its_name_for_graph_pictures():
    lin = nn.Linear(2, 3)
    assert lin.weight.name == "weight" and lin.bias.name == "bias"
    named = nn.Parameter(np.zeros(1), name="mine")
    lin.extra = named
    assert named.name == "mine"


def test_plain_tensor_cannot_replace_a_parameter():
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = Tensor(np.zeros((3, 2)))
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_buffer_assignment_keeps_it_a_buffer():
    b = Block()
    b.count = Tensor(np.ones(3))
    assert dict(b.named_buffers())["count"] is b.count
    with pytest.raises(TypeError, match="buffer"):
        b.count = np.ones(3)


def test_reassigning_a_child_keeps_its_place_in_the_order():
    seq = nn.Sequential(nn.ReLU(), nn.Linear(2, 2), nn.Tanh())
    seq[1]  # noqa: B018 (indexing works)
    setattr(seq, "1", nn.Linear(2, 2, bias=False))
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    assert [n for n, _ in seq.named_parameters()] == ["1.weight"]


def test_assignment_before_init_explains_itself():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_deleting_a_registered_attribute_unregisters_it():
    b = Block()
    del b.scale
    assert "scale" not in dict(b.named_parameters())
    with pytest.raises(AttributeError):
        b.scale  # noqa: B018


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


# --- modes and gradients --------------------------------------------------------------------------
def test_train_and_eval_reach_every_descendant():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError):
        model.train("no")


def test_zero_grad_sets_gradients_to_none():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    model(Tensor(np.ones((4, 3)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_zero_grad_set_to_none_false_keeps_zero_gradients_and_backward_adds_to_them():
    model = nn.Linear(3, 2)
    x = Tensor(np.ones((4, 3), np.float32))
    model(x).sum().backward()
    fresh = model.weight.grad.numpy().copy()
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in model.parameters())
    assert model.weight.grad.dtype == np.float32
    model(x).sum().backward()
    np.testing.assert_array_equal(model.weight.grad.numpy(), fresh)


def test_to_accepts_the_cpu_device_and_refuses_others():
    model = nn.Linear(3, 2)
    weight = model.weight
    assert model.to("cpu") is model and model.weight is weight and weight.dtype == np.float32
    assert model.to(device="cpu") is model
    assert model.to(np.float64, device="cpu").weight.dtype == np.float64
    with pytest.raises(ValueError, match="CPU only.*cuda"):
        model.to("cuda")


def test_requires_grad_freezes_parameters():
    model = nn.Linear(3, 2).requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model(Tensor(np.ones((1, 3)))).requires_grad


def test_double_casts_floating_state_in_place_but_not_counters():
    model = cnn()
    weight = model[0].weight
    model.double()
    assert model[0].weight is weight and weight.dtype == np.float64
    assert model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    assert model.float()[5].bias.dtype == np.float32


def test_apply_visits_every_module():
    seen = []
    cnn().apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Sequential" and seen.count("Conv2d") == 1 and len(seen) == 7


# --- state dicts ----------------------------------------------------------------------------------
def test_state_dict_keys_and_layouts_are_pytorchs():
    sd = cnn().state_dict()
    assert list(sd) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "5.weight", "5.bias",
    ]
    assert sd["0.weight"].shape == (4, 3, 3, 3) and sd["5.weight"].shape == (5, 64)
    assert sd["1.num_batches_tracked"].shape == () and sd["1.num_batches_tracked"].dtype == np.int64
    assert all(isinstance(v, np.ndarray) for v in sd.values())


def test_state_dict_matches_torch_keys_shapes_and_dtypes(torch):
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64, 5)).float()
    ours, theirs = cnn().state_dict(), tmodel.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k
        assert ours[k].dtype == theirs[k].numpy().dtype, k


def test_state_dict_lists_a_shared_module_under_every_path_as_torch_does(torch):
    lin, tlin = nn.Linear(2, 2), torch.nn.Linear(2, 2, dtype=torch.float32)
    ours, theirs = nn.Sequential(lin, nn.ReLU(), lin), torch.nn.Sequential(tlin, torch.nn.ReLU(), tlin)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    np.testing.assert_array_equal(lin.weight.data, tlin.weight.detach().numpy())
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    assert [n for n, _ in ours.named_modules()] == ["", "0", "1"]


def test_state_dict_values_are_copies():
    model = nn.Linear(2, 2)
    sd = model.state_dict()
    sd["weight"][...] = 7.0
    assert not np.any(model.weight.data == 7.0)


def test_non_persistent_buffers_stay_out_of_the_state_dict():
    b = Block()
    b.register_buffer("scratch", Tensor(np.zeros(1)), persistent=False)
    assert "scratch" in dict(b.named_buffers()) and "scratch" not in b.state_dict()


def test_load_state_dict_round_trip():
    autograd.manual_seed(0)
    src, dst = cnn(), cnn()
    src[1].running_mean.data += 0.5
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    src[0].weight.data += 1.0  # no sharing: the destination holds its own arrays
    assert not np.array_equal(src[0].weight.data, dst[0].weight.data)


def test_load_state_dict_writes_in_place_so_backward_through_an_older_graph_raises_as_torch():
    model = nn.Linear(3, 1, bias=False)
    x = Tensor(np.full((1, 3), 2.0), requires_grad=True)
    y = model(x).sum()
    weight = model.weight.data
    model.load_state_dict({"weight": np.full((1, 3), 7.0, np.float32)})
    assert model.weight.data is weight and (weight == 7.0).all()
    with pytest.raises(RuntimeError, match="version"):
        y.backward()  # dy/dx is the weight of the forward pass; it was silently the loaded one


def test_load_state_dict_of_equal_values_keeps_older_graphs_usable():
    # as summary() and draw_model_step do to restore a model: nothing changes, so nothing is refused
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    y = model(x).sum()
    model.load_state_dict(model.state_dict())
    nn.summary(model, x.detach())
    y.backward()
    assert x.grad is not None


def test_load_state_dict_into_read_only_memory_loads_into_a_copy():
    model = nn.Linear(2, 1)
    model.weight.data.setflags(write=False)
    model.load_state_dict({"weight": np.ones((1, 2), np.float32), "bias": np.zeros(1, np.float32)})
    np.testing.assert_array_equal(model.weight.data, 1.0)


def test_load_state_dict_accepts_tensors():
    model = nn.Linear(2, 2)
    model.load_state_dict({"weight": Tensor(np.ones((2, 2), np.float32)), "bias": np.zeros(2, np.float32)})
    np.testing.assert_array_equal(model.weight.data, 1.0)


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda sd: sd.__setitem__("5.weight", np.zeros((5, 63), np.float32)), r"5\.weight: shape"),
        (lambda sd: sd.pop("1.running_var"), "missing key '1.running_var'"),
        (lambda sd: sd.__setitem__("0.bias", sd["0.bias"].astype(np.float64)), r"0\.bias: dtype float64"),
        (lambda sd: sd.__setitem__("9.weight", np.zeros(1, np.float32)), "unexpected key '9.weight'"),
        (lambda sd: sd.__setitem__("1.bias", np.array([None] * 4)), "object array"),
    ],
)
def test_load_state_dict_rejects_bad_state_and_changes_nothing(corrupt, message):
    autograd.manual_seed(1)
    model = cnn()
    before = _snapshot(model)
    state = {k: v + 1 if v.dtype.kind == "f" else v for k, v in model.state_dict().items()}
    corrupt(state)  # one bad entry among many good, changed ones
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


@pytest.mark.parametrize("state", [None, [("weight", np.zeros((3, 2), np.float32))], "model.npz"])
def test_load_state_dict_of_something_not_a_mapping_is_a_type_error_naming_it(state):
    model = nn.Linear(2, 3)
    before = _snapshot(model)
    with pytest.raises(TypeError, match=f"load_state_dict: expected a mapping.*got {type(state).__name__}"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_load_state_dict_lists_every_problem():
    model = nn.Linear(2, 3)
    with pytest.raises(ValueError) as info:
        model.load_state_dict({"weight": np.zeros((2, 2), np.float32), "extra": np.zeros(1)})
    text = str(info.value)
    assert "weight: shape (2, 2)" in text and "missing key 'bias'" in text and "unexpected key 'extra'" in text


def test_load_state_dict_non_strict_reports_keys_and_still_checks_shapes():
    model = nn.Linear(2, 3)
    result = model.load_state_dict({"weight": np.ones((3, 2), np.float32), "extra": np.zeros(1)}, strict=False)
    assert result == (["bias"], ["extra"])
    np.testing.assert_array_equal(model.weight.data, 1.0)
    with pytest.raises(ValueError, match="shape"):
        model.load_state_dict({"weight": np.ones((2, 2), np.float32)}, strict=False)


# --- containers -----------------------------------------------------------------------------------
def test_sequential_runs_in_order_and_indexes_like_a_list():
    double, inc = nn.Linear(1, 1, bias=False), nn.Linear(1, 1)
    double.weight.data[...] = 2.0
    inc.weight.data[...] = 1.0
    inc.bias.data[...] = 1.0
    seq = nn.Sequential(double, inc)
    assert seq(Tensor(np.array([[3.0]], np.float32))).item() == 7.0  # (3 * 2) + 1, not (3 + 1) * 2
    assert len(seq) == 2 and seq[-1] is inc and list(seq) == [double, inc]
    assert isinstance(seq[:1], nn.Sequential) and seq[:1][0] is double
    with pytest.raises(IndexError):
        seq[2]
    with pytest.raises(TypeError, match="not an nn.Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_sequential_from_an_ordered_dict_uses_its_names():
    from collections import OrderedDict

    seq = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    assert seq.append(nn.Tanh())[2].__class__ is nn.Tanh


def test_module_list_registers_its_items():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 1))
    assert len(layers) == 4 and [n for n, _ in layers.named_parameters()][-2:] == ["3.weight", "3.bias"]
    layers[0] = nn.Linear(2, 2, bias=False)
    assert list(layers.state_dict())[:2] == ["0.weight", "1.weight"]

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = layers

    assert len(list(Holder().parameters())) == 7


def test_module_dict_keys_modules_by_name_as_torchs(torch):
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "box": nn.Linear(4, 2)})
    theirs = torch.nn.ModuleDict({"cls": torch.nn.Linear(4, 3), "box": torch.nn.Linear(4, 2)})
    assert list(heads.state_dict()) == list(theirs.state_dict())
    heads["extra"] = nn.Linear(4, 1)
    heads.update([("cls", nn.Linear(4, 5))])  # replaced in place, keeping its position
    assert list(heads) == list(heads.keys()) == ["cls", "box", "extra"] and len(heads) == 3
    assert heads["cls"].out_features == 5 and "box" in heads and "nope" not in heads
    assert [type(m) for m in heads.values()] == [nn.Linear] * 3 and dict(heads.items())["extra"] is heads["extra"]
    del heads["box"]
    assert [n for n, _ in heads.named_parameters()] == ["cls.weight", "cls.bias", "extra.weight", "extra.bias"]
    with pytest.raises(TypeError, match="ModuleDict: function is not an nn.Module"):
        heads["f"] = lambda x: x
    with pytest.raises(KeyError):
        heads["box"]


def test_registered_names_refuse_values_of_another_kind():
    model = Block()
    with pytest.raises(TypeError, match="child module 'inner' of Block"):
        model.inner = np.ones(2)
    with pytest.raises(TypeError, match="parameter 'unused'"):
        model.unused = Tensor(np.ones(2))
    model.inner = None
    assert "inner" not in dict(model.named_children())


# --- repr and copies --------------------------------------------------------------------------------
def test_repr_is_a_tree_like_pytorchs():
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.Sequential(nn.ReLU()))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (2): Sequential(\n"
        "    (0): ReLU()\n"
        "  )\n"
        ")"
    )


def test_layer_reprs_match_torch(torch):
    pairs = [
        (nn.Conv2d(3, 8, 5, stride=2), torch.nn.Conv2d(3, 8, 5, stride=2)),
        (nn.Conv2d(3, 8, 3, bias=False), torch.nn.Conv2d(3, 8, 3, bias=False)),
        (nn.Linear(4, 2), torch.nn.Linear(4, 2)),
        (nn.BatchNorm1d(7), torch.nn.BatchNorm1d(7)),
        (nn.BatchNorm2d(7, momentum=None, bias=False), torch.nn.BatchNorm2d(7, momentum=None, bias=False)),
        (nn.PReLU(), torch.nn.PReLU()),
        (nn.LeakyReLU(), torch.nn.LeakyReLU()),
        (nn.ELU(), torch.nn.ELU()),
        (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.LayerNorm(4), torch.nn.LayerNorm(4)),
        (nn.LayerNorm((3, 4), bias=False), torch.nn.LayerNorm((3, 4), bias=False)),  # bias=False was not shown
        (nn.LayerNorm(4, elementwise_affine=False), torch.nn.LayerNorm(4, elementwise_affine=False)),
        (nn.Dropout(0.3), torch.nn.Dropout(0.3)),
        (nn.Dropout2d(), torch.nn.Dropout2d()),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),  # was Softmax(axis=1)
        (nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)),
        (nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),  # inplace= was not shown
        (nn.LeakyReLU(0.2, inplace=True), torch.nn.LeakyReLU(0.2, inplace=True)),
        (nn.ELU(inplace=True), torch.nn.ELU(inplace=True)),
        (nn.SiLU(inplace=True), torch.nn.SiLU(inplace=True)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)


def test_deepcopy_gives_an_independent_model():
    model = cnn()
    twin = copy.deepcopy(model)
    twin[0].weight.data += 1.0
    assert isinstance(twin[0].weight, nn.Parameter) and twin[0].weight.requires_grad
    assert not np.array_equal(model[0].weight.data, twin[0].weight.data)


def test_sequential_setitem_replaces_a_module_in_place():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    seq[1] = nn.Tanh()
    seq[-1] = nn.Linear(3, 4)
    assert isinstance(seq[1], nn.Tanh) and list(dict(seq.named_children())) == ["0", "1", "2"]
    assert seq(autograd.zeros(5, 2)).shape == (5, 4)
    with pytest.raises(IndexError):
        seq[3] = nn.ReLU()
