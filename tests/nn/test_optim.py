"""nn.optim: update rules against PyTorch, state dicts, parameter groups, argument checks, StepLR."""

import numpy as np
import pytest

from autograd import Tensor, no_grad
from nn import optim
from nn.optim.lr_scheduler import StepLR

# A least-squares problem in two parameters, a weight matrix and a bias: loss = |X W + b - Y|^2.
_rng = np.random.default_rng(7)
X, Y = _rng.standard_normal((8, 3)), _rng.standard_normal((8, 2))
W0, B0 = _rng.standard_normal((3, 2)), _rng.standard_normal(2)


def _params(dtype=np.float64):
    return Tensor(W0.astype(dtype), requires_grad=True), Tensor(B0.astype(dtype), requires_grad=True)


def _backward(w, b):
    x, y = Tensor(X.astype(w.dtype)), Tensor(Y.astype(w.dtype))
    loss = ((x @ w + b - y) ** 2).sum()
    loss.backward()
    return loss


def _groups(w, b, grouped):
    """Either a plain list of parameters, or two groups where the second overrides hyperparameters."""
    return [{"params": [w]}, {"params": [b], "lr": 0.02, "weight_decay": 0.3}] if grouped else [w, b]


def _train(opt, w, b, steps):
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        _backward(w, b)
        opt.step()
        trajectory.append((w.data.copy(), b.data.copy()))
    return trajectory


def _torch_trajectory(torch, name, kwargs, grouped, steps):
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    x, y = torch.tensor(X), torch.tensor(Y)
    opt = getattr(torch.optim, name)(_groups(w, b, grouped), **kwargs)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        ((x @ w + b - y) ** 2).sum().backward()
        opt.step()
        trajectory.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return trajectory


ROUND_TRIP = [
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9)),
    ("AdamW", dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.2)),
]


CASES = [
    ("SGD", dict(lr=0.02)),
    ("SGD", dict(lr=0.02, momentum=0.9)),
    ("SGD", dict(lr=0.02, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.1, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.2)),
    ("Adam", dict(lr=0.1, weight_decay=0.2, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.1, weight_decay=0.5)),
    ("AdamW", dict(lr=0.1, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.0)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-4, centered=True, momentum=0.5, weight_decay=0.1)),
]


@pytest.mark.torch
@pytest.mark.parametrize("grouped", [False, True], ids=["one_group", "two_groups"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_matches_torch(torch, name, kwargs, grouped):
    w, b = _params()
    ours = _train(getattr(optim, name)(_groups(w, b, grouped), **kwargs), w, b, steps=6)
    theirs = _torch_trajectory(torch, name, kwargs, grouped, steps=6)
    for step, ((w_ours, b_ours), (w_torch, b_torch)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(w_ours, w_torch, rtol=1e-12, atol=1e-14, err_msg=f"weight after step {step + 1}")
        np.testing.assert_allclose(b_ours, b_torch, rtol=1e-12, atol=1e-14, err_msg=f"bias after step {step + 1}")


def test_sgd_momentum_on_a_constant_gradient_by_hand():
    # g = 2 each step: b1 = g, b2 = 0.5 b1 + g = 3; x = 1 - 0.1 * 2 - 0.1 * 3 = 0.5
    x = Tensor(np.array([1.0]), requires_grad=True)
    opt = optim.SGD([x], lr=0.1, momentum=0.5)
    for _ in range(2):
        x.grad = Tensor(np.array([2.0]))
        opt.step()
    np.testing.assert_allclose(x.data, [0.5], rtol=1e-15)


def test_adam_first_step_moves_each_coordinate_by_lr():
    # After one step the bias-corrected moments are m = g and v = g^2, so the step is lr * g / (|g| + eps).
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    opt = optim.Adam([x], lr=0.01, eps=0.0)
    x.grad = Tensor(np.array([5.0, -0.001, 2e3]))
    opt.step()
    np.testing.assert_allclose(x.data, [0.99, -1.99, 2.99], rtol=1e-13)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1)),
        ("Adam", dict(lr=0.1, weight_decay=0.1)),
        ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
    ],
)
def test_float32_parameters_stay_float32_and_follow_the_float64_run(name, kwargs):
    w32, b32 = _params(np.float32)
    opt = getattr(optim, name)([w32, b32], **kwargs)
    trajectory32 = _train(opt, w32, b32, steps=4)
    w64, b64 = _params()
    trajectory64 = _train(getattr(optim, name)([w64, b64], **kwargs), w64, b64, steps=4)
    assert w32.dtype == np.float32 and b32.dtype == np.float32
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))
    np.testing.assert_allclose(trajectory32[-1][0], trajectory64[-1][0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "kwargs"), ROUND_TRIP)
def test_step_leaves_grad_untouched_and_skips_parameters_without_grad(name, kwargs):
    w, b = _params()
    frozen = Tensor(np.ones(3), requires_grad=True)
    opt = getattr(optim, name)([w, b, frozen], **kwargs)
    _backward(w, b)
    grad, grad_copy = w.grad, w.grad.data.copy()
    data_before = w.data.copy()
    opt.step()
    opt.step()
    assert w.grad is grad
    np.testing.assert_array_equal(w.grad.data, grad_copy)
    assert not np.array_equal(w.data, data_before)
    np.testing.assert_array_equal(frozen.data, np.ones(3))
    assert frozen.grad is None and frozen not in opt.state


def test_zero_grad_sets_grads_to_none():
    w, b = _params()
    opt = optim.SGD([w, b], lr=0.1)
    _backward(w, b)
    opt.zero_grad()
    assert w.grad is None and b.grad is None


def test_zero_grad_without_set_to_none_gives_fresh_zero_grads():
    w, b = _params()
    opt = optim.SGD([w, b], lr=0.1)
    _backward(w, b)
    old = w.grad
    old_values = old.data.copy()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.data, np.zeros_like(W0))
    np.testing.assert_array_equal(old.data, old_values)  # not zeroed in place


def test_step_runs_the_closure_with_grad_enabled_and_returns_its_loss():
    w, b = _params()
    opt = optim.SGD([w, b], lr=0.01)

    def closure():
        opt.zero_grad()
        return _backward(w, b)

    with no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, Tensor)
    assert w.grad is not None
    assert not np.array_equal(w.data, W0)


def test_step_updates_read_only_parameter_data():
    frozen_buffer = np.ones(3)
    frozen_buffer.flags.writeable = False
    x = Tensor(frozen_buffer, requires_grad=True)
    opt = optim.SGD([x], lr=0.5)
    x.grad = Tensor(np.ones(3))
    opt.step()
    np.testing.assert_array_equal(x.data, [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(frozen_buffer, np.ones(3))


def test_step_rejects_a_gradient_of_the_wrong_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.Adam([x])
    x.grad = Tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"Adam.step.*\(3,\).*\(2, 3\)"):
        opt.step()


@pytest.mark.parametrize(("name", "kwargs"), ROUND_TRIP)
def test_state_dict_round_trip_mid_training_continues_identically(name, kwargs):
    w, b = _params()
    opt = getattr(optim, name)(_groups(w, b, grouped=True), **kwargs)
    _train(opt, w, b, steps=3)
    state, kept = opt.state_dict(), opt.state_dict()
    snapshot = {i: {k: np.copy(v) for k, v in s.items()} for i, s in kept["state"].items()}

    w2, b2 = Tensor(w.data.copy(), requires_grad=True), Tensor(b.data.copy(), requires_grad=True)
    fresh = getattr(optim, name)([{"params": [w2]}, {"params": [b2]}], lr=123.0)
    fresh.load_state_dict(state)
    for s in state["state"].values():  # the optimizer took copies
        for v in s.values():
            if isinstance(v, np.ndarray):
                v.fill(np.nan)

    expected = _train(opt, w, b, steps=3)
    resumed = _train(fresh, w2, b2, steps=3)
    for (w_a, b_a), (w_b, b_b) in zip(expected, resumed):
        np.testing.assert_array_equal(w_a, w_b)
        np.testing.assert_array_equal(b_a, b_b)
    assert fresh.param_groups[1]["lr"] == 0.02
    # state_dict() returns a snapshot: the later in-place updates of the buffers did not reach it.
    for i, s in snapshot.items():
        for k, v in s.items():
            np.testing.assert_array_equal(kept["state"][i][k], v)


def test_state_dict_layout_is_pytorchs():
    w, b = _params()
    opt = optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    _train(opt, w, b, steps=2)
    state = opt.state_dict()
    assert set(state) == {"state", "param_groups"}
    assert state["param_groups"] == [
        {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "decoupled_weight_decay": False,
         "params": [0]},
        {"lr": 0.5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "decoupled_weight_decay": False,
         "params": [1]},
    ]
    assert set(state["state"]) == {0, 1}
    assert state["state"][0]["step"] == 2
    assert state["state"][1]["exp_avg"].shape == B0.shape


@pytest.mark.torch
def test_state_dict_matches_torchs_for_the_same_run(torch):
    kwargs = dict(lr=0.01, centered=True, momentum=0.9)
    w, b = _params()
    opt = optim.RMSprop([w, b], **kwargs)
    _train(opt, w, b, steps=3)
    tw, tb = torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)
    topt = torch.optim.RMSprop([tw, tb], **kwargs)
    x, y = torch.tensor(X), torch.tensor(Y)
    for _ in range(3):
        topt.zero_grad()
        ((x @ tw + tb - y) ** 2).sum().backward()
        topt.step()
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    for i in (0, 1):
        assert set(ours["state"][i]) == set(theirs["state"][i])
        assert ours["state"][i]["step"] == int(theirs["state"][i]["step"])
        for key in ("square_avg", "grad_avg", "momentum_buffer"):
            np.testing.assert_allclose(ours["state"][i][key], theirs["state"][i][key].numpy(), rtol=1e-12)


def test_load_state_dict_rejects_a_mismatch_and_changes_nothing():
    w, b = _params()
    opt = optim.SGD([w, b], lr=0.1, momentum=0.9)
    _train(opt, w, b, steps=1)
    before = opt.state_dict()

    other = optim.SGD([Tensor(np.ones(5), requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="holds 1 parameters in the state dict and 2 in the optimizer"):
        opt.load_state_dict(other.state_dict())

    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = 7.0
    bad["state"][1]["momentum_buffer"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"state\[1\]\['momentum_buffer'\] has shape \(5,\), the parameter \(2,\)"):
        opt.load_state_dict(bad)

    two_groups = optim.SGD([{"params": [w]}, {"params": [b]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="2 param groups, the optimizer 1"):
        opt.load_state_dict(two_groups)

    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][1]["momentum_buffer"], before["state"][1]["momentum_buffer"])


def test_load_state_dict_casts_floating_state_to_the_parameter_dtype():
    w = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = optim.Adam([w])
    opt.load_state_dict(
        {"state": {0: {"step": 4, "exp_avg": np.ones(3), "exp_avg_sq": np.ones(3)}},
         "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "params": [0]}]}
    )
    assert opt.state[w]["exp_avg"].dtype == np.float32
    assert opt.state[w]["step"] == 4
    assert opt.param_groups[0]["decoupled_weight_decay"] is False  # newer than that state dict: the default


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", dict(lr=-0.1)),
        ("SGD", dict(lr=0.1, momentum=-0.5)),
        ("SGD", dict(lr=0.1, weight_decay=-1.0)),
        ("SGD", dict(lr=0.1, nesterov=True)),
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
        ("Adam", dict(lr=-1.0)),
        ("Adam", dict(betas=(1.0, 0.999))),
        ("Adam", dict(betas=(0.9, -0.1))),
        ("Adam", dict(eps=-1e-8)),
        ("Adam", dict(weight_decay=-0.1)),
        ("AdamW", dict(weight_decay=-0.1)),
        ("AdamW", dict(betas=(0.9, 1.5))),
        ("RMSprop", dict(lr=-1.0)),
        ("RMSprop", dict(alpha=-0.1)),
        ("RMSprop", dict(momentum=-0.1)),
        ("RMSprop", dict(eps=-1.0)),
    ],
)
def test_bad_hyperparameters_raise_value_error(name, kwargs):
    with pytest.raises(ValueError, match=f"{name}: invalid"):
        getattr(optim, name)([Tensor(np.ones(2), requires_grad=True)], **kwargs)


def test_a_group_override_is_checked_too():
    with pytest.raises(ValueError, match="invalid learning rate: -0.5"):
        optim.Adam([{"params": [Tensor(np.ones(2), requires_grad=True)], "lr": -0.5}])


def test_bad_parameter_lists_are_rejected():
    p = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


def test_params_may_be_a_generator_and_groups_take_defaults():
    w, b = _params()
    opt = optim.SGD((p for p in (w, b)), lr=0.3, momentum=0.1)
    first, second = opt.param_groups[0]["params"]
    assert first is w and second is b
    opt.add_param_group({"params": Tensor(np.ones(1), requires_grad=True), "momentum": 0.7})
    assert opt.param_groups[1]["lr"] == 0.3 and opt.param_groups[1]["momentum"] == 0.7


def _lr_history(scheduler, optimizer, epochs, step_optimizer):
    history = []
    for _ in range(epochs):
        history.append((scheduler.get_last_lr(), [g["lr"] for g in optimizer.param_groups]))
        step_optimizer()
        scheduler.step()
    return history


@pytest.mark.torch
def test_steplr_schedule_matches_torch(torch):
    ours = optim.SGD([{"params": [Tensor(np.ones(1), requires_grad=True)]},
                      {"params": [Tensor(np.ones(1), requires_grad=True)], "lr": 0.3}], lr=0.7)
    theirs = torch.optim.SGD([{"params": [torch.ones(1, requires_grad=True)]},
                              {"params": [torch.ones(1, requires_grad=True)], "lr": 0.3}], lr=0.7)
    expected = _lr_history(torch.optim.lr_scheduler.StepLR(theirs, step_size=3, gamma=0.3), theirs, 11, theirs.step)
    got = _lr_history(StepLR(ours, step_size=3, gamma=0.3), ours, 11, ours.step)
    assert got == expected
    assert got[-1][0] != got[0][0]


def test_steplr_state_dict_round_trip_continues_the_schedule():
    def make():
        opt = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
        return opt, StepLR(opt, step_size=2, gamma=0.5)

    opt, scheduler = make()
    for _ in range(3):
        scheduler.step()
    opt2, scheduler2 = make()
    opt2.load_state_dict(opt.state_dict())
    scheduler2.load_state_dict(scheduler.state_dict())
    assert scheduler2.last_epoch == 3 and scheduler2.get_last_lr() == [0.5]
    for _ in range(4):
        scheduler.step()
        scheduler2.step()
        assert scheduler2.get_last_lr() == scheduler.get_last_lr()
    assert scheduler.get_last_lr() == [0.125]  # epoch 7: 1.0 * 0.5 ** (7 // 2)


def test_steplr_rejects_bad_arguments():
    opt = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="needs an Optimizer"):
        StepLR("not an optimizer", step_size=1)
    with pytest.raises(ValueError, match="unknown keys"):
        StepLR(opt, step_size=1).load_state_dict({"bogus": 1})


def test_linearlr_rejects_bad_factors_and_counts_by_name():
    opt = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match=r"LinearLR: start_factor must lie in \(0, 1\] and end_factor .* got 0 and 1"):
        optim.lr_scheduler.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="LinearLR: total_iters must be a positive int, got 2.5"):
        optim.lr_scheduler.LinearLR(opt, total_iters=2.5)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.5), lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9), lambda ps: optim.Adam(ps),
    lambda ps: optim.AdamW(ps), lambda ps: optim.RMSprop(ps),
])
def test_a_step_moves_the_version_so_backward_through_an_older_graph_raises_as_torch(make):
    # the GAN mistake: step the generator, then backward through a graph that used its old weights;
    # d(sum w * x)/dx was silently the new w
    w = Tensor(np.ones(3), requires_grad=True)
    x = Tensor(np.full(3, 2.0), requires_grad=True)
    y = (w * x).sum()
    w.grad = Tensor(np.ones(3))
    version, array = w._version, w.data
    make([w]).step()
    assert w._version > version and w.data is array  # still updated in place
    with pytest.raises(RuntimeError, match="version"):
        y.backward()
