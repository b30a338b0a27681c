"""AdamW and parameter groups, the learning-rate schedules and gradient clipping against PyTorch in
float64: parameters and every group's lr after each step."""

import math

import numpy as np
import pytest

from autograd import Tensor
from nn import optim
from nn.optim import lr_scheduler
from nn.utils import clip_grad_norm_, clip_grad_value_

_rng = np.random.default_rng(3)
A = _rng.standard_normal((5, 3))
A = A.T @ A + np.eye(3)  # a positive definite quadratic 0.5 x^T A x - c^T x, the same for both libraries
C = _rng.standard_normal(3)
STARTS = [_rng.standard_normal(3) for _ in range(3)]


def _loss(x, a, c):
    return (x @ (a @ x)) * 0.5 - (c * x).sum()


def _groups(params, lrs=(None, 0.05, 0.2)):
    """Three groups: the first takes the optimizer's defaults, the others override lr and more."""
    overrides = [{}, {"lr": lrs[1], "weight_decay": 0.1}, {"lr": lrs[2]}]
    return [{"params": [p], **o} for p, o in zip(params, overrides)]


def _run(lib, torch, opt_name, opt_kwargs, sched=None, steps=10, metrics=None):
    """(parameters, lrs) after each step of ``steps``: ``lib`` is "ours" or "torch"."""
    if lib == "ours":
        params = [Tensor(s.copy(), requires_grad=True) for s in STARTS]
        a, c, make_opt, make_sched = Tensor(A), Tensor(C), getattr(optim, opt_name), lr_scheduler
    else:
        params = [torch.tensor(s, requires_grad=True) for s in STARTS]
        a, c = torch.tensor(A), torch.tensor(C)
        make_opt, make_sched = getattr(torch.optim, opt_name), torch.optim.lr_scheduler
    opt = make_opt(_groups(params), **opt_kwargs)
    scheduler = None if sched is None else getattr(make_sched, sched[0])(opt, **sched[1])
    history = []
    for step in range(steps):
        opt.zero_grad()
        sum(_loss(p, a, c) for p in params).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step(*([] if metrics is None else [metrics[step]]))
        history.append(([np.array(p.detach().numpy()) for p in params], [g["lr"] for g in opt.param_groups]))
    return history


def _assert_same_history(ours, theirs):
    for step, ((p_ours, lr_ours), (p_torch, lr_torch)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(lr_ours, lr_torch, rtol=1e-13, err_msg=f"lrs after step {step + 1}")
        for i, (a, b) in enumerate(zip(p_ours, p_torch)):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=f"group {i} after step {step + 1}")


OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.1)),
    ("AdamW", dict(lr=0.1)),
    ("AdamW", dict(lr=0.1, weight_decay=0.3, betas=(0.8, 0.95))),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
]


@pytest.mark.parametrize("opt_name, opt_kwargs", OPTIMIZERS)
def test_param_groups_follow_torch_step_by_step(torch, opt_name, opt_kwargs):
    _assert_same_history(_run("ours", None, opt_name, opt_kwargs), _run("torch", torch, opt_name, opt_kwargs))


@pytest.mark.parametrize("opt_name, opt_kwargs", OPTIMIZERS)
def test_a_torch_optimizer_state_dict_resumes_here_as_in_torch(torch, opt_name, opt_kwargs):
    """Train 3 steps in PyTorch, load its parameters and optimizer state here, and go on in both."""
    tparams = [torch.tensor(s, requires_grad=True) for s in STARTS]
    a, c = torch.tensor(A), torch.tensor(C)
    theirs = getattr(torch.optim, opt_name)(_groups(tparams), **opt_kwargs)
    params = [Tensor(s.copy(), requires_grad=True) for s in STARTS]
    ours = getattr(optim, opt_name)(_groups(params), **opt_kwargs)
    for step in range(6):
        if step == 3:
            for p, tp in zip(params, tparams):
                p.data = tp.detach().numpy().copy()
            ours.load_state_dict(theirs.state_dict())
        theirs.zero_grad()
        sum(_loss(p, a, c) for p in tparams).backward()
        theirs.step()
        if step >= 3:
            ours.zero_grad()
            sum(_loss(p, Tensor(A), Tensor(C)) for p in params).backward()
            ours.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("opt_name, flag", [("Adam", "amsgrad"), ("SGD", "maximize")])
def test_a_torch_state_dict_of_a_variant_we_lack_is_refused(torch, opt_name, flag):
    theirs = getattr(torch.optim, opt_name)([torch.zeros(2, requires_grad=True)], lr=0.1, **{flag: True})
    ours = getattr(optim, opt_name)([Tensor(np.zeros(2), requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=f"group 0 sets {flag}=True"):
        ours.load_state_dict(theirs.state_dict())
    ours.load_state_dict(getattr(torch.optim, opt_name)([torch.zeros(2, requires_grad=True)], lr=0.1).state_dict())


def test_param_groups_read_as_torchs(torch):
    ours = optim.AdamW(_groups([Tensor(s, requires_grad=True) for s in STARTS]), lr=0.1)
    theirs = torch.optim.AdamW(_groups([torch.tensor(s, requires_grad=True) for s in STARTS]), lr=0.1)
    for mine, reference in zip(ours.param_groups, theirs.param_groups):
        for key, value in mine.items():
            if key != "params":
                assert value == reference[key], key


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.8)),
    ("CosineAnnealingLR", dict(T_max=4)),  # past T_max: back up the cosine
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 1 / (1 + epoch) ** 0.5)),
    ("LinearLR", dict(start_factor=0.25, total_iters=4)),  # a warm-up
    ("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=6)),  # a linear decay
]


@pytest.mark.parametrize("sched", SCHEDULES, ids=[f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)])
def test_schedules_follow_torch_on_every_group(torch, sched):
    ours = _run("ours", None, "SGD", dict(lr=0.1, momentum=0.5), sched, steps=14)
    theirs = _run("torch", torch, "SGD", dict(lr=0.1, momentum=0.5), sched, steps=14)
    _assert_same_history(ours, theirs)
    assert len({tuple(lrs) for _, lrs in ours}) > 2  # the schedule did move the lrs


def test_lambda_lr_takes_one_function_per_group(torch):
    sched = ("LambdaLR", dict(lr_lambda=[lambda e: 0.9**e, lambda e: 1 + e, lambda e: 1 / (e + 1)]))
    ours, theirs = (_run(lib, t, "SGD", dict(lr=0.01), sched, steps=6) for lib, t in (("ours", None), ("torch", torch)))
    _assert_same_history(ours, theirs)


METRICS = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]


@pytest.mark.parametrize("kwargs", [
    dict(patience=1),
    dict(patience=2, factor=0.5, cooldown=2),
    dict(patience=0, threshold=0.1, threshold_mode="abs", min_lr=[0.0, 0.02, 0.1]),
    dict(mode="max", patience=1, factor=0.5),
    dict(mode="max", patience=0, threshold=0.5, threshold_mode="abs", cooldown=1, min_lr=0.004),
])
def test_reduce_lr_on_plateau_follows_torch(torch, kwargs):
    sched = ("ReduceLROnPlateau", kwargs)
    ours = _run("ours", None, "SGD", dict(lr=0.1), sched, steps=len(METRICS), metrics=METRICS)
    theirs = _run("torch", torch, "SGD", dict(lr=0.1), sched, steps=len(METRICS), metrics=METRICS)
    _assert_same_history(ours, theirs)
    assert ours[-1][1] != ours[0][1]


def test_reduce_lr_on_plateau_takes_a_tensor_metric_and_checks_its_arguments():
    opt = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    scheduler.step(Tensor(np.array(1.0)))
    scheduler.step(Tensor(np.array(2.0)))
    assert scheduler.get_last_lr() == [0.1]
    with pytest.raises(ValueError, match=r"factor must lie in \[0, 1\)"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="2 min_lrs for 1 param groups"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])


@pytest.mark.parametrize("sched", [*SCHEDULES[:5], ("ReduceLROnPlateau", dict(patience=1, cooldown=1))])
def test_scheduler_and_optimizer_state_dicts_resume_identically(sched):
    name, kwargs = sched

    def make():
        params = [Tensor(s.copy(), requires_grad=True) for s in STARTS]
        opt = optim.AdamW(_groups(params), lr=0.1)
        return params, opt, getattr(lr_scheduler, name)(opt, **kwargs)

    def train(params, opt, scheduler, steps, offset):
        for step in range(offset, offset + steps):
            opt.zero_grad()
            sum(_loss(p, Tensor(A), Tensor(C)) for p in params).backward()
            opt.step()
            scheduler.step(*([METRICS[step]] if name == "ReduceLROnPlateau" else []))
        return [p.data.copy() for p in params], [g["lr"] for g in opt.param_groups]

    params, opt, scheduler = make()
    train(params, opt, scheduler, 5, 0)
    params2, opt2, scheduler2 = make()
    for p, q in zip(params, params2):
        q.data = p.data.copy()
    opt2.load_state_dict(opt.state_dict())
    scheduler2.load_state_dict(scheduler.state_dict())
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    expected, resumed = train(params, opt, scheduler, 6, 5), train(params2, opt2, scheduler2, 6, 5)
    assert resumed[1] == expected[1]
    for a, b in zip(expected[0], resumed[0]):
        np.testing.assert_array_equal(a, b)


def test_lambda_lr_state_dict_keeps_callable_objects_not_functions():
    class Warmup:
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.steps)

    opt = optim.SGD(_groups([Tensor(s, requires_grad=True) for s in STARTS]), lr=1.0)
    state = lr_scheduler.LambdaLR(opt, [Warmup(4), lambda e: 1.0, Warmup(2)]).state_dict()
    assert state["lr_lambdas"] == [{"steps": 4}, None, {"steps": 2}]
    other = lr_scheduler.LambdaLR(opt, [Warmup(9), lambda e: 1.0, Warmup(9)])
    other.load_state_dict(state)
    assert [getattr(fn, "steps", None) for fn in other.lr_lambdas] == [4, None, 2]


def test_schedulers_reject_bad_arguments():
    opt = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="MultiStepLR: milestones must be ints >= 0"):
        lr_scheduler.MultiStepLR(opt, milestones=[2, -1])
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive int"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="LambdaLR: 2 lr_lambdas for 1 param groups"):
        lr_scheduler.LambdaLR(opt, [math.exp, math.exp])


# --- gradient clipping ---------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    grads = [_rng.standard_normal(s) for s in [(3, 4), (4,), (2, 2, 2)]]
    ours = [Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = Tensor(g.copy()), torch.tensor(g)
    no_grad = Tensor(np.zeros(2), requires_grad=True)  # skipped, as PyTorch
    total = clip_grad_norm_([*ours, no_grad], max_norm, norm_type=norm_type)
    reference = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.item() == pytest.approx(reference.item(), rel=1e-13)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-13)
    clipped = any(not np.array_equal(p.grad.data, g) for p, g in zip(ours, grads))
    assert clipped == (max_norm < reference.item())


def test_clip_grad_norm_takes_one_tensor_and_can_refuse_a_nonfinite_norm():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = Tensor(np.array([3.0, 4.0]))
    assert clip_grad_norm_(p, 1.0).item() == 5.0
    np.testing.assert_allclose(p.grad.data, [0.6, 0.8], rtol=1e-6)
    p.grad = Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch(torch):
    g = _rng.standard_normal((4, 5)) * 2
    p, q = Tensor(np.zeros_like(g), requires_grad=True), torch.zeros(g.shape, requires_grad=True)
    p.grad, q.grad = Tensor(g.copy()), torch.tensor(g)
    clip_grad_value_([p], 0.7)
    torch.nn.utils.clip_grad_value_([q], 0.7)
    np.testing.assert_array_equal(p.grad.data, q.grad.numpy())
    assert np.abs(p.grad.data).max() == 0.7


def test_clip_grad_norm_without_gradients_is_a_zero_of_the_default_dtype_as_torch(torch):
    ours = clip_grad_norm_([Tensor(np.zeros(3, np.float32), requires_grad=True)], 1.0)
    torch.set_default_dtype(torch.float32)  # the fixture's float64 would hide the difference
    reference = torch.nn.utils.clip_grad_norm_([torch.zeros(3, requires_grad=True)], 1.0)
    assert ours.shape == tuple(reference.shape) == () and ours.item() == reference.item() == 0.0
    assert ours.dtype == reference.numpy().dtype == np.float32
