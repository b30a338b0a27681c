import io
import sys

import numpy as np
import pytest

import autograd
import nn
from autograd import Tensor
from nn.data import DataLoader, TensorDataset
from nn.functional import cross_entropy
from nn.serialization import load
from nn.train import HISTORY_KEYS, CheckpointError, History, evaluate, fit, plot_history

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def blobs(n=120, seed=0):
    """Two well separated Gaussian blobs in 2-D: an easy problem that any classifier learns."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(0.0, 0.5, (n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return X.astype(np.float32), y.astype(np.int64)


def small_net(seed):
    """BatchNorm (buffers), Dropout (the shared generator) and Adam (optimizer state): all that resume must restore."""
    autograd.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10)
    )


def image_loaders(loader_seed, n=200):
    """Random 1x8x8 "images" with random labels: enough to exercise every piece of state."""
    rng = np.random.default_rng(0)
    X, y = rng.random((n + 100, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, n + 100)
    train = DataLoader(TensorDataset(X[:n], y[:n]), batch_size=32, shuffle=True, seed=loader_seed)
    test = DataLoader(TensorDataset(X[n:], y[n:]), batch_size=50)
    return train, test


def test_fit_records_one_entry_per_epoch_with_decreasing_training_loss():
    X, y = blobs()
    autograd.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, seed=0)
    test_loader = DataLoader(TensorDataset(*blobs(seed=1)), batch_size=50)
    history = fit(model, loader, nn.optim.SGD(model.parameters(), lr=0.1), epochs=4, test_loader=test_loader,
                  progress=False)
    assert [list(entry) for entry in history] == [list(HISTORY_KEYS)] * 4
    assert history["epoch"] == [1, 2, 3, 4]
    losses = history["train_loss"]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert history["test_acc"][-1] > 0.95
    assert all(seconds > 0 for seconds in history["seconds"])


def test_fit_without_test_loader_records_no_test_metrics():
    X, y = blobs(n=20)
    model = nn.Linear(2, 2)
    history = fit(model, DataLoader(TensorDataset(X, y), batch_size=8), nn.optim.SGD(model.parameters(), lr=0.1),
                  epochs=1, progress=False)
    assert history["test_loss"] == [None] and history["test_acc"] == [None]
    assert history.to_dict() == {"epochs": history.epochs}


def test_evaluate_weights_batches_by_size_and_restores_train_mode():
    X, y = blobs(n=50)
    autograd.manual_seed(0)
    model = nn.Linear(2, 2)
    model.train()
    loss, acc = evaluate(model, DataLoader(TensorDataset(X, y), batch_size=7))  # last batch has 1 sample
    scores = model(Tensor(X))
    assert loss == pytest.approx(cross_entropy(scores, y).item(), rel=1e-5)
    assert acc == np.mean(scores.data.argmax(axis=1) == y)
    assert model.training


def test_a_checkpoint_is_written_after_every_epoch(tmp_path):
    train, test = image_loaders(loader_seed=0, n=64)
    model = small_net(0)
    path = tmp_path / "ckpt.npz"
    seen = []

    def check(entry):
        checkpoint = nn.load(path)
        seen.append((entry["epoch"], int(checkpoint["epoch"])))
        assert set(checkpoint["model"]) == set(model.state_dict())

    fit(model, train, nn.optim.Adam(model.parameters()), epochs=3, test_loader=test, checkpoint_path=path,
        progress=False, on_epoch_end=check)
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_resume_gives_exactly_the_weights_of_an_uninterrupted_run(tmp_path):
    train, test = image_loaders(loader_seed=1)
    straight = small_net(0)
    straight_history = fit(straight, train, nn.optim.Adam(straight.parameters(), lr=1e-2), epochs=2,
                           test_loader=test, checkpoint_path=tmp_path / "straight.npz", progress=False)

    path = tmp_path / "interrupted.npz"
    train, test = image_loaders(loader_seed=1)
    first = small_net(0)
    fit(first, train, nn.optim.Adam(first.parameters(), lr=1e-2), epochs=1, test_loader=test,
        checkpoint_path=path, progress=False)

    # A new process: other initial weights, another loader seed and generator state, fresh Adam.
    train, test = image_loaders(loader_seed=99)
    resumed = small_net(7)
    resumed_history = fit(resumed, train, nn.optim.Adam(resumed.parameters(), lr=1e-2), epochs=2,
                          test_loader=test, checkpoint_path=path, resume=True, progress=False)

    expected, actual = straight.state_dict(), resumed.state_dict()
    assert list(actual) == list(expected)
    for key in expected:
        assert np.array_equal(np.asarray(actual[key]), np.asarray(expected[key])), key
    for metric in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert resumed_history[metric] == straight_history[metric], metric
    assert not np.array_equal(np.asarray(first.state_dict()["1.weight"]), np.asarray(expected["1.weight"]))


def test_resume_from_an_explicit_path_continues_the_history(tmp_path):
    train, _ = image_loaders(loader_seed=0, n=64)
    model = small_net(0)
    fit(model, train, nn.optim.SGD(model.parameters(), lr=0.1), epochs=1, checkpoint_path=tmp_path / "a.npz",
        progress=False)
    model = small_net(0)
    history = fit(model, train, nn.optim.SGD(model.parameters(), lr=0.1), epochs=3, resume=tmp_path / "a.npz",
                  progress=False)
    assert history["epoch"] == [1, 2, 3]


def scheduled_run(path, epochs, resume=False):
    """A fresh process's run with a StepLR schedule: the model and the lr set after each epoch it trained."""
    train, _ = image_loaders(loader_seed=1, n=64)
    model = small_net(0)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    scheduler = nn.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    lrs = []
    fit(model, train, optimizer, epochs, checkpoint_path=path, resume=resume, progress=False, scheduler=scheduler,
        on_epoch_end=lambda entry: lrs.append(optimizer.param_groups[0]["lr"]))
    return model, lrs


def test_fit_steps_the_scheduler_per_epoch_and_resume_goes_on_with_its_schedule(tmp_path):
    straight, straight_lrs = scheduled_run(tmp_path / "straight.npz", epochs=5)
    assert straight_lrs == [0.1 * 0.5 ** (epoch // 2) for epoch in range(1, 6)]  # the lr for epoch + 1
    scheduled_run(tmp_path / "cut.npz", epochs=3)
    resumed, resumed_lrs = scheduled_run(tmp_path / "cut.npz", epochs=5, resume=True)
    assert resumed_lrs == straight_lrs[3:]
    for key, value in straight.state_dict().items():
        assert np.array_equal(np.asarray(resumed.state_dict()[key]), np.asarray(value)), key


def test_resuming_with_a_scheduler_from_a_checkpoint_without_one_changes_nothing(tmp_path):
    train, _ = image_loaders(loader_seed=0, n=64)
    model = small_net(0)
    fit(model, train, nn.optim.SGD(model.parameters(), lr=0.1), 1, checkpoint_path=tmp_path / "a.npz", progress=False)
    model = small_net(1)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    scheduler = nn.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    before = model.state_dict()["1.weight"].copy()
    with pytest.raises(CheckpointError, match="has no entry 'scheduler'"):
        fit(model, train, optimizer, 2, resume=tmp_path / "a.npz", progress=False, scheduler=scheduler)
    assert np.array_equal(model.state_dict()["1.weight"], before) and scheduler.last_epoch == 0


@pytest.mark.parametrize("with_test", [True, False], ids=["test-loss", "train-loss"])
def test_fit_gives_reduce_lr_on_plateau_the_test_loss_or_else_the_training_loss(with_test):
    train, test = image_loaders(loader_seed=0, n=64)
    model = small_net(0)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    class Recording(nn.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics):
            seen.append(metrics)
            super().step(metrics)

    history = fit(model, train, optimizer, 3, test_loader=test if with_test else None, progress=False,
                  scheduler=Recording(optimizer))
    assert seen == history["test_loss" if with_test else "train_loss"]


def test_on_epoch_end_returning_true_stops_fit_early():
    X, y = blobs(n=40)
    model = nn.Linear(2, 2)
    history = fit(model, DataLoader(TensorDataset(X, y), batch_size=8), nn.optim.SGD(model.parameters(), lr=0.1),
                  epochs=10, progress=False, on_epoch_end=lambda entry: entry["epoch"] == 3)
    assert history["epoch"] == [1, 2, 3]


def test_resume_needs_a_checkpoint(tmp_path):
    train, _ = image_loaders(loader_seed=0, n=64)
    model = small_net(0)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="checkpoint_path"):
        fit(model, train, optimizer, epochs=1, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        fit(model, train, optimizer, epochs=1, checkpoint_path=tmp_path / "missing.npz", resume=True, progress=False)


@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # the diverging weights
def test_a_diverging_loss_stops_fit_before_its_step_and_keeps_the_last_checkpoint(tmp_path):
    X, y = blobs()
    autograd.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    loader = DataLoader(TensorDataset(X, y), batch_size=30)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)

    def diverge(entry):  # after epoch 1 and its checkpoint, a step size that blows every weight up
        optimizer.param_groups[0]["lr"] = 1e30

    with pytest.raises(FloatingPointError, match=r"fit: the training loss became (nan|inf) at epoch 2, batch \d"):
        fit(model, loader, optimizer, 3, checkpoint_path=tmp_path / "ckpt.npz", progress=False, on_epoch_end=diverge)
    assert load(tmp_path / "ckpt.npz")["epoch"] == 1


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "log-file"])
def test_the_progress_bar_is_drawn_in_a_terminal_and_left_out_of_a_log_file(terminal, monkeypatch, capsys):
    class Stderr(io.StringIO):
        def isatty(self):
            return terminal

    monkeypatch.setattr(sys, "stderr", Stderr())
    X, y = blobs(n=40)
    model = nn.Linear(2, 2)
    fit(model, DataLoader(TensorDataset(X, y), batch_size=8), nn.optim.SGD(model.parameters(), lr=0.1), 2)
    assert ("epoch 2/2:   0%" in sys.stderr.getvalue()) == terminal  # the bar, as it starts epoch 2
    assert capsys.readouterr().out.count("train loss") == 2  # the summary line of each epoch, always


def test_history_rejects_unknown_metrics():
    with pytest.raises(KeyError, match="loss"):
        History()["loss"]


def test_plot_history_writes_a_png(tmp_path):
    history = History([
        {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.1, "test_acc": 0.4, "seconds": 1.0},
        {"epoch": 2, "train_loss": 0.5, "train_acc": 0.8, "test_loss": 0.7, "test_acc": 0.7, "seconds": 1.0},
    ])
    path = plot_history(history, tmp_path / "curves.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_history_puts_the_loss_on_a_log_axis(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    scales = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: scales.extend(ax.get_yscale() for ax in self.axes))
    history = History([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.1, "test_acc": 0.4,
                        "seconds": 1.0}])
    plot_history(history, tmp_path / "curves.png")
    assert scales == ["log", "linear"]  # loss, accuracy


@pytest.mark.parametrize(("n", "drop_last"), [(0, False), (20, True)], ids=["empty", "all-dropped"])
def test_a_loader_without_a_batch_is_refused_not_recorded_as_loss_0(n, drop_last):
    X, y = blobs()
    model = nn.Linear(2, 2)
    empty = DataLoader(TensorDataset(X[:n], y[:n]), batch_size=30, drop_last=drop_last)
    full = DataLoader(TensorDataset(X, y), batch_size=30)
    message = rf"gives no batch \({n} samples, batch_size 30, drop_last={drop_last}\)"
    with pytest.raises(ValueError, match="fit: train_loader " + message):
        fit(model, empty, nn.optim.SGD(model.parameters(), lr=0.1), 1, progress=False)
    with pytest.raises(ValueError, match="fit: test_loader " + message):
        fit(model, full, nn.optim.SGD(model.parameters(), lr=0.1), 1, test_loader=empty, progress=False)
    with pytest.raises(ValueError, match="evaluate: loader " + message):
        evaluate(model, empty)
