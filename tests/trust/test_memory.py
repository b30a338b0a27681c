"""Memory stays flat over a long training run, graphs die by reference counting alone, and very long
chains (first and second order) give exact results without recursion.

tests/autograd/test_engine.py already covers a 100,000-step chain of additions, a sum of 10,000
inputs and the freeing of a small graph; these tests go through real layers and a mix of ops.
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import autograd as ag
import nn
from autograd import Function, Tensor, viz
from nn import functional as F


def _tiny_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    )


def _batches(n_steps: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_steps, 8, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, size=(n_steps, 8))
    return x, y


def _step(model, optimizer, x, y) -> float:
    optimizer.zero_grad()
    loss = F.cross_entropy(model(Tensor(x)), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def test_peak_memory_of_1000_training_steps_stays_flat():
    ag.manual_seed(0)
    model = _tiny_cnn()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = _batches(1000)
    base, peak, losses = {}, {}, []
    try:
        for step in range(1000):
            if step == 50:
                tracemalloc.start()  # NumPy reports its array buffers to tracemalloc
            if step in (100, 900):
                # The engine pauses the cyclic collector during backward, and only a full collection
                # empties the interpreter's free lists (tuples, floats, frames): start both windows
                # from empty ones, so that they compare like with like.
                gc.collect()
                tracemalloc.reset_peak()
                base[step] = tracemalloc.get_traced_memory()[0]
            losses.append(_step(model, optimizer, x[step], y[step]))
            if step in (199, 999):
                peak[step - 99] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert all(np.isfinite(losses)) and np.mean(losses[-100:]) < np.mean(losses[:100])  # it really trained
    # One leaked Tensor with a 0-d array (about 200 bytes) per step would add 160 KB over the 800 steps
    # between the windows; NumPy itself grows a few KB of small caches (sliding_window_view's flags).
    slack = 64 * 1024
    assert base[900] <= base[100] + slack, f"retained memory grew from {base[100]} to {base[900]} bytes"
    assert peak[900] <= peak[100] + slack, f"the peak grew from {peak[100]} to {peak[900]} bytes"


def _graph(root: Tensor) -> tuple[list[Function], list[Tensor], list[np.ndarray]]:
    """Every node behind ``root``, the non-leaf tensors they saved, and the arrays they hold."""
    nodes, seen, stack = [], set(), [root.grad_fn]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack += [p for p in node.next if isinstance(p, Function)]
    saved = [t for n in nodes for t in n._saved if isinstance(t, Tensor) and t.grad_fn is not None]
    arrays = [t.data for t in saved] + [n._out for n in nodes if n._out is not None]
    consts = [c for n in nodes for c in n.consts if isinstance(c, (Tensor, np.ndarray))]
    arrays += [c.data if isinstance(c, Tensor) else c for c in consts]
    return nodes, saved, arrays


def test_a_training_step_frees_its_whole_graph_without_the_garbage_collector():
    ag.manual_seed(0)
    model = _tiny_cnn()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = _batches(20)
    _step(model, optimizer, x[0], y[0])  # the optimizer's state exists from here on
    gc.collect()
    gc.disable()
    try:
        for step in range(1, 20):
            optimizer.zero_grad()
            scores = model(Tensor(x[step]))
            loss = F.cross_entropy(scores, y[step])
            nodes, saved, arrays = _graph(loss)
            assert len(nodes) > 20 and saved and arrays
            refs = [weakref.ref(o) for o in (scores, *nodes, *saved, *arrays)]
            loss.backward()
            optimizer.step()
            del scores, loss, nodes, saved, arrays
            alive = [r() for r in refs if r() is not None]
            assert not alive, f"step {step}: {len(alive)} graph objects outlive the loss, e.g. {alive[0]!r:.200}"
        assert gc.collect() == 0  # nothing was left for the cycle collector either
    finally:
        gc.enable()


def test_a_100000_op_chain_of_mixed_ops_backpropagates_exactly():
    """Each 10-op round permutes the elements, applies y + h sin(y) (and exp then log), and permutes back.

    So round k maps y to y + h sin(y) elementwise, and the gradient of sum(w * y_final) is w times the
    product over rounds of 1 + h cos(y_k): a recurrence NumPy computes directly.
    """
    h, rounds = 1e-4, 10_000
    rng = np.random.default_rng(0)
    start, w = rng.uniform(-3, 3, (2, 3)), rng.standard_normal((2, 3))
    x = Tensor(start, requires_grad=True)
    y, n_ops = x, 0
    for _ in range(rounds):
        a = y.T[::-1].reshape(6)  # 3 ops
        a = a + a.sin() * h  # 3 ops
        a = a.exp().log()  # 2 ops
        y = a.reshape(3, 2)[::-1].T  # 3 ops: undoes the permutation
        n_ops += 11
    assert n_ops > 100_000
    (y * w).sum().backward()

    value, slope = start.copy(), np.ones_like(start)
    for _ in range(rounds):
        slope *= 1 + h * np.cos(value)
        value = value + h * np.sin(value)
    np.testing.assert_allclose(y.data, value, rtol=1e-9)
    np.testing.assert_allclose(x.grad.data, w * slope, rtol=1e-9)


def test_second_order_gradient_through_a_10000_op_chain():
    """y <- y + h sin(y) (3 ops per round): the first and second derivatives by the chain rule.

    d'  <- d' (1 + h cos y),   d'' <- d'' (1 + h cos y) - h sin(y) d'^2.
    """
    h, rounds = 1e-3, 3_334
    x = Tensor(0.7, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(rounds):
        y = y + y.sin() * h
    (first,) = ag.grad(y, x, create_graph=True)
    (second,) = ag.grad(first, x)

    value, d1, d2 = 0.7, 1.0, 0.0
    for _ in range(rounds):
        d1, d2 = d1 * (1 + h * np.cos(value)), d2 * (1 + h * np.cos(value)) - h * np.sin(value) * d1 * d1
        value += h * np.sin(value)
    np.testing.assert_allclose([y.item(), first.item(), second.item()], [value, d1, d2], rtol=1e-9)
    assert abs(d2) > 0.1  # a second derivative far from zero: the test can tell a wrong one


def test_backward_frees_saved_arrays_at_once_and_retain_graph_keeps_them_until_the_loss_goes():
    rng = np.random.default_rng(0)
    gc.collect()
    gc.disable()
    try:
        for retain in (False, True):
            x = Tensor(rng.standard_normal((30, 30)), requires_grad=True)
            h, e = (x @ x).tanh(), x.exp()  # tanh and exp keep their outputs, Mul keeps both factors
            loss = (h * e).sum()
            refs = [weakref.ref(h.data), weakref.ref(e.data)]
            del h, e
            loss.backward(retain_graph=retain)
            if not retain:  # freed while the user still holds the loss
                assert all(r() is None for r in refs)
                with pytest.raises(RuntimeError, match="retain_graph=True"):
                    loss.backward()
            else:
                assert all(r() is not None for r in refs)
                first = x.grad.data.copy()
                loss.backward()  # the retained graph runs again and accumulates
                np.testing.assert_allclose(x.grad.data, 2 * first)
                del loss
                assert all(r() is None for r in refs)
            x.grad = None
    finally:
        gc.enable()


def test_a_model_in_eval_mode_under_no_grad_builds_no_graph_and_keeps_no_input():
    model = _tiny_cnn().eval()
    x = Tensor(_batches(1)[0][0])
    ref = weakref.ref(x.data)
    with ag.no_grad():
        scores = model(x)
    del x
    assert scores.grad_fn is None and not scores.requires_grad
    assert ref() is None  # no node holds the batch while the scores are kept


def test_hooks_retain_grad_anomaly_mode_and_drawings_leave_nothing_for_the_garbage_collector():
    """Per step: forward hooks registered and removed, a tensor hook that replaces the gradient,
    retain_grad, detect_anomaly, and every other step a drawing of the step."""
    ag.manual_seed(0)
    model = _tiny_cnn()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.01)
    x, y = _batches(8)
    _step(model, optimizer, x[0], y[0])
    gc.collect()
    gc.disable()
    try:
        for step in range(1, 8):
            optimizer.zero_grad()
            handles = [m.register_forward_hook(lambda m, args, out: None) for m in model.modules()]
            with ag.detect_anomaly():
                scores = model(Tensor(x[step]))
                scores.retain_grad()
                scores.register_hook(lambda g: g * 0.5)
                loss = F.cross_entropy(scores, y[step])
                nodes, saved, arrays = _graph(loss)
                refs = [weakref.ref(o) for o in (scores, *nodes, *saved, *arrays)]
                loss.backward()
            for handle in handles:
                handle.remove()
            assert scores.grad is not None
            optimizer.step()
            if step % 2:
                viz.draw_model_step(model, Tensor(x[step]), y[step], F.cross_entropy, grad_flow=True)
            del scores, loss, nodes, saved, arrays
            alive = [r() for r in refs if r() is not None]
            assert not alive, f"step {step}: {len(alive)} graph objects outlive the loss, e.g. {alive[0]!r:.200}"
            assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
        assert gc.collect() == 0
    finally:
        gc.enable()
