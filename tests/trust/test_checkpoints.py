"""Checkpoints under failure: an interrupted save keeps the previous file, loading never unpickles, and a
checkpoint that does not fit leaves the model, its BatchNorm buffers and the optimizer exactly as they were.

tests/nn/test_serialization.py covers OSErrors in a save, refusal of pickled and corrupt files and exact
round trips; tests/nn/test_module.py and test_optim.py the in-memory all-or-nothing loads. These tests
add interrupts, failures after the rename, a pickle payload that must never run, and whole
checkpoints (model, optimizer and random state together) through ``nn.save``/``nn.load`` and
``fit(resume=...)``.
"""

import os
import pickle
import zipfile

import numpy as np
import pytest

import autograd as ag
import nn
from autograd import Tensor
from nn.data import DataLoader, TensorDataset
from nn.train import CheckpointError, fit


def _model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 4)
    )


def _loader(seed: int = 0) -> DataLoader:
    rng = np.random.default_rng(0)
    x, y = rng.random((24, 1, 8, 8), dtype=np.float32), rng.integers(0, 4, 24)
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=seed)


def _trained(seed: int = 0, optimizer: type = nn.optim.Adam, epochs: int = 1):
    """A model, optimizer and loader after some training: every buffer and state entry is non-trivial."""
    ag.manual_seed(seed)
    model = _model()
    opt = optimizer(model.parameters(), lr=0.01)
    loader = _loader(seed)
    fit(model, loader, opt, epochs=epochs, progress=False)
    return model, opt, loader


def _everything(model: nn.Module, opt: nn.optim.Optimizer, loader: DataLoader) -> dict:
    """Copies of every parameter (and gradient), every buffer, the optimizer state and both generators."""
    return {
        "params": {k: (p.data.copy(), p.dtype, None if p.grad is None else p.grad.data.copy())
                   for k, p in model.named_parameters()},
        "buffers": {k: (b.data.copy(), b.dtype) for k, b in model.named_buffers()},
        "optim": opt.state_dict(),
        "loader": loader.generator.bit_generator.state,
        "autograd": ag.generator().bit_generator.state,
    }


def _assert_unchanged(before: dict, after: dict) -> None:
    for kind in ("params", "buffers"):
        assert before[kind].keys() == after[kind].keys()
        for key, (data, dtype, *grad) in before[kind].items():
            new_data, new_dtype, *new_grad = after[kind][key]
            assert new_dtype == dtype, key
            np.testing.assert_array_equal(new_data, data, err_msg=key)
            if grad and grad[0] is not None:
                np.testing.assert_array_equal(new_grad[0], grad[0], err_msg=f"{key}.grad")
    assert after["optim"]["param_groups"] == before["optim"]["param_groups"]
    assert after["optim"]["state"].keys() == before["optim"]["state"].keys()
    for i, state in before["optim"]["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(after["optim"]["state"][i][key], value, err_msg=f"optim {i} {key}")
    assert after["loader"] == before["loader"] and after["autograd"] == before["autograd"]


# --- interrupted saves ------------------------------------------------------------------------------
class _Interrupt:
    """Stands in for a library call and raises on its ``at``-th call (counting from 1)."""

    def __init__(self, real, at: int, error: BaseException):
        self.real, self.at, self.error, self.calls = real, at, error, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise self.error
        return self.real(*args, **kwargs)


@pytest.mark.parametrize(
    ("target", "name", "at", "error"),
    [
        (np.lib.format, "write_array", 5, KeyboardInterrupt()),  # mid-archive: four members already written
        (zipfile.ZipFile, "close", 1, KeyboardInterrupt()),  # while the central directory is written
        (os, "fsync", 1, KeyboardInterrupt()),
        (os, "chmod", 1, PermissionError("read-only file system")),
        (os, "replace", 1, KeyboardInterrupt()),
    ],
    ids=["write-member-5", "zip-close", "fsync", "chmod", "replace"],
)
def test_an_interrupted_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(
    tmp_path, monkeypatch, target, name, at, error
):
    model, opt, _ = _trained()
    path = tmp_path / "checkpoint.npz"
    nn.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 1}, path)
    old_bytes, old_weight = path.read_bytes(), model[0].weight.data.copy()

    for p in model.parameters():
        p.data = p.data + 1.0  # the next save would write different weights
    monkeypatch.setattr(target, name, _Interrupt(getattr(target, name), at, error))
    with pytest.raises(type(error)):
        nn.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 2}, path)
    monkeypatch.undo()

    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    assert path.read_bytes() == old_bytes
    loaded = nn.load(path)
    assert loaded["epoch"] == 1
    fresh = _model()
    fresh.load_state_dict(loaded["model"])  # the old file is whole and loads
    np.testing.assert_array_equal(fresh[0].weight.data, old_weight)


def test_a_failure_after_the_rename_leaves_the_complete_new_checkpoint(tmp_path, monkeypatch):
    """Syncing the directory is the last step: if it fails, the new file is already whole in place."""
    path = tmp_path / "checkpoint.npz"
    nn.save({"epoch": 1, "w": np.zeros(3)}, path)
    real_open = os.open

    def open_files_only(name, *args, **kwargs):
        if os.path.isdir(name):
            raise OSError("directory fsync failed")
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_files_only)
    with pytest.raises(OSError, match="directory fsync failed"):
        nn.save({"epoch": 2, "w": np.ones(3)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    loaded = nn.load(path)
    assert loaded["epoch"] == 2 and np.array_equal(loaded["w"], np.ones(3))


# --- loading never unpickles ----------------------------------------------------------------------
class _Payload:
    """Unpickling this object would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_payload_in_a_checkpoint_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    model = _model()
    state = model.state_dict()
    state["0.weight"] = np.array([_Payload(marker)], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **state)  # a "state dict" whose weight is a pickled object
    before = model.state_dict()
    with pytest.raises(ValueError, match="pickled object arrays, which are refused"):
        model.load_state_dict(nn.load(path))
    assert not marker.exists()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])

    raw = tmp_path / "raw.npz"  # a bare pickle with an .npz name
    raw.write_bytes(pickle.dumps({"0.weight": _Payload(marker)}))
    with pytest.raises(ValueError, match="is not an .npz archive"):
        nn.load(raw)
    assert not marker.exists()


# --- checkpoints that do not fit -----------------------------------------------------------------
def _checkpoint(model, opt, loader) -> dict:
    return {
        "model": model.state_dict(),
        "optim": opt.state_dict(),
        "epoch": 1,
        "history": {"epochs": [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": None,
                                "test_acc": None, "seconds": 0.1}]},
        "loader_rng": loader.generator.bit_generator.state,
        "autograd_rng": ag.generator().bit_generator.state,
    }


def _drop(section, key):
    return lambda ckpt: ckpt[section].pop(key)


def _set(section, key, value):
    return lambda ckpt: ckpt[section].__setitem__(key, value)


def _optim_state(index, key, value):
    return lambda ckpt: ckpt["optim"]["state"][index].__setitem__(key, value)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_set("model", "1.running_var", np.ones(4, np.float32)), r"1\.running_var: shape \(4,\)"),
        (_drop("model", "1.num_batches_tracked"), "missing key '1.num_batches_tracked'"),
        (_set("model", "1.num_batches_tracked", np.array(3.0)), "dtype float64 in the state, int64"),
        (_set("model", "5.weight", np.ones((4, 47), np.float32)), r"5\.weight: shape \(4, 47\)"),
        # the model part fits; the optimizer part does not, and must not leave a half-loaded model
        (_optim_state(0, "exp_avg", np.zeros((3, 1, 3, 2))), r"state\[0\]\['exp_avg'\] has shape"),
        (_drop("optim", "param_groups"), "param_groups"),
        (_drop("autograd_rng", "state"), "state"),
    ],
    ids=["bn-running-var-shape", "bn-counter-missing", "bn-counter-dtype", "linear-shape", "adam-state-shape",
         "optim-groups-missing", "rng-state-missing"],
)
def test_resuming_from_a_checkpoint_that_does_not_fit_changes_nothing(tmp_path, corrupt, message):
    """Model parameters and gradients, BatchNorm buffers, optimizer state and random states: all as before;
    the error is one line that names the file."""
    source = _trained(seed=1)
    checkpoint = _checkpoint(*source)
    corrupt(checkpoint)
    path = tmp_path / "checkpoint.npz"
    nn.save(checkpoint, path)

    model, opt, loader = _trained(seed=2, epochs=2)
    before = _everything(model, opt, loader)
    with pytest.raises(CheckpointError, match=message) as raised:
        fit(model, loader, opt, epochs=3, resume=path, progress=False)
    assert raised.value.mismatch and "\n" not in str(raised.value) and str(path) in str(raised.value)
    _assert_unchanged(before, _everything(model, opt, loader))


def test_an_adam_checkpoint_resumed_with_sgd_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "adam.npz"
    nn.save(_checkpoint(*_trained(seed=1)), path)
    model, opt, loader = _trained(seed=2, optimizer=nn.optim.SGD)
    before = _everything(model, opt, loader)
    with pytest.raises(CheckpointError, match="param group 0 lacks .*'momentum'.*another optimizer"):
        fit(model, loader, opt, epochs=2, resume=path, progress=False)
    _assert_unchanged(before, _everything(model, opt, loader))


def _truncate(path, keep):
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda path: _truncate(path, path.stat().st_size // 2), "is not an .npz archive"),
        (lambda path: _truncate(path, 0), "is not an .npz archive"),
        (lambda path: nn.save(_model().state_dict(), path), "has no entry 'history'"),  # a model file, not a checkpoint
    ],
    ids=["truncated-half", "empty", "a-state-dict"],
)
def test_resuming_from_an_unreadable_checkpoint_changes_nothing(tmp_path, spoil, message):
    path = tmp_path / "checkpoint.npz"
    nn.save(_checkpoint(*_trained(seed=1)), path)
    spoil(path)
    model, opt, loader = _trained(seed=2, epochs=2)
    before = _everything(model, opt, loader)
    with pytest.raises(CheckpointError, match=message) as raised:
        fit(model, loader, opt, epochs=3, resume=path, progress=False)
    assert not raised.value.mismatch and str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)
    _assert_unchanged(before, _everything(model, opt, loader))


def test_a_fitting_checkpoint_restores_every_buffer_and_the_optimizer_exactly(tmp_path):
    """The control for the tests above: the same checkpoint, uncorrupted, does load, bit for bit."""
    source = _trained(seed=1)
    path = tmp_path / "checkpoint.npz"
    nn.save(_checkpoint(*source), path)
    expected = _everything(*source)
    model, opt, loader = _trained(seed=2, epochs=2)
    fit(model, loader, opt, epochs=1, resume=path, progress=False)  # epoch 1 is done: nothing left to train
    actual = _everything(model, opt, loader)
    for section in ("params", "buffers"):  # gradients are not part of a checkpoint
        actual[section] = {k: v[:2] for k, v in actual[section].items()}
        expected[section] = {k: v[:2] for k, v in expected[section].items()}
    _assert_unchanged(expected, actual)
    assert isinstance(model[1].num_batches_tracked, Tensor) and model[1].num_batches_tracked.item() == 3
