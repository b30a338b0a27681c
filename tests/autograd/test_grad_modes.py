"""Grad mode and anomaly mode as a long training script relies on them: per thread, restored after
exceptions, and as decorators of plain and generator functions."""

import threading

import numpy as np
import pytest

import autograd as ag
from autograd import tensor


def test_no_grad_on_a_generator_function_covers_its_body_and_gives_the_caller_its_mode_back():
    @ag.no_grad()
    def batches(x):
        for k in range(3):
            yield x * k, ag.is_grad_enabled()

    x = tensor(1.0, requires_grad=True)
    for y, inside in batches(x):
        assert not inside and not y.requires_grad
        assert ag.is_grad_enabled()  # the caller's own code between yields records the graph
        assert (x * 2).requires_grad


def test_a_decorated_generator_gets_sent_and_thrown_values_and_returns_its_value():
    log = []

    @ag.no_grad
    def gen():
        try:
            got = yield 1
            log.append((got, ag.is_grad_enabled()))
            try:
                yield 2
            except KeyError:
                log.append(("caught", ag.is_grad_enabled()))
            yield 3
        finally:
            log.append(("closed", ag.is_grad_enabled()))

    it = gen()
    assert next(it) == 1 and it.send("x") == 2 and it.throw(KeyError()) == 3
    it.close()
    assert log == [("x", False), ("caught", False), ("closed", False)] and ag.is_grad_enabled()

    @ag.no_grad()
    def inner():
        yield 1
        return 42

    def outer():
        return (yield from inner())

    o = outer()
    next(o)
    with pytest.raises(StopIteration) as stop:
        next(o)
    assert stop.value.value == 42


def test_set_grad_enabled_as_a_decorator_sets_the_mode_only_during_calls():
    @ag.set_grad_enabled(False)
    def evaluate(x):
        return x * 2

    assert ag.is_grad_enabled()  # decorating changed nothing
    assert not evaluate(tensor(1.0, requires_grad=True)).requires_grad
    assert ag.is_grad_enabled()


def test_set_grad_enabled_as_a_call_and_as_a_context_manager():
    try:
        ag.set_grad_enabled(False)
        assert not ag.is_grad_enabled()
        with ag.set_grad_enabled(True):
            assert ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    finally:
        ag.set_grad_enabled(True)
    assert ag.is_grad_enabled()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_false_as_a_decorator_turns_checking_off_inside():
    @ag.detect_anomaly(False)
    def unchecked(x):
        return x.log()

    with ag.detect_anomaly():
        assert np.isnan(unchecked(tensor(-1.0, requires_grad=True)).item())
        with pytest.raises(FloatingPointError):
            tensor(-1.0, requires_grad=True).log()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nested_modes_are_restored_after_an_exception():
    with pytest.raises(KeyError), ag.detect_anomaly(), ag.no_grad(), ag.enable_grad(), ag.set_grad_enabled(False):
        raise KeyError
    assert ag.is_grad_enabled()
    with ag.no_grad():
        with pytest.raises(FloatingPointError), ag.detect_anomaly(), ag.enable_grad():
            tensor(-1.0, requires_grad=True).log()  # raised by the anomaly check itself
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    assert np.isnan(tensor(-1.0, requires_grad=True).log().item())  # anomaly mode is off again


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_modes_set_in_one_thread_do_not_reach_another_running_at_the_same_time():
    entered, checked, seen = threading.Event(), threading.Event(), {}

    def evaluating():
        with ag.no_grad(), ag.detect_anomaly():
            entered.set()
            checked.wait(10)
            seen["own"] = ag.is_grad_enabled()

    def training():
        entered.wait(10)
        y = tensor(-1.0, requires_grad=True).log()  # no anomaly check here: no raise
        seen["other"] = (ag.is_grad_enabled(), y.requires_grad)
        checked.set()

    threads = [threading.Thread(target=evaluating), threading.Thread(target=training)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"own": False, "other": (True, True)}
