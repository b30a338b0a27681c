import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nn
from nn.cli import main
from nn.train import HISTORY_KEYS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed")


def train(tmp_path, *options):
    return main(["train", "--out", str(tmp_path), "--no-progress", *options])


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainrule: error: "), err
    return err


@needs_dot
@pytest.mark.parametrize(
    "options",
    [("--model", "mlp", "--data", "spiral", "--epochs", "1"),
     ("--model", "cnn", "--data", "digits", "--epochs", "1", "--batch-size", "64")],
    ids=["mlp-spiral", "cnn-digits"],
)
def test_train_writes_every_output_file(tmp_path, capsys, options):
    assert train(tmp_path, *options) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "after 1 epoch\n" in out
    assert out.index("trainable params:") < out.index("test accuracy")  # the model's summary comes first
    for name in ("model.npz", "history.json", "curves.png", "graph.svg", "checkpoint.npz"):
        assert (tmp_path / name).is_file(), name
        assert str(tmp_path / name) in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert list(history) == ["epochs"]
    assert [list(entry) for entry in history["epochs"]] == [list(HISTORY_KEYS)]
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (tmp_path / "graph.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    state = nn.load(tmp_path / "model.npz")
    assert set(state) == set(nn.load(tmp_path / "checkpoint.npz")["model"])


def test_train_resume_continues_up_to_the_total_epochs(tmp_path, capsys):
    options = ("--model", "mlp", "--data", "spiral", "--batch-size", "100")
    assert train(tmp_path, *options, "--epochs", "1") == 0
    assert train(tmp_path, *options, "--epochs", "3", "--resume") == 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert [entry["epoch"] for entry in history["epochs"]] == [1, 2, 3]
    assert "after 3 epochs" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["train"], ["graph"], ["gradcheck"]])
def test_help_exits_0(capsys, command):
    assert main([*command, "--help"]) == 0
    assert "usage: chainrule" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "required"),
        (["fly"], "invalid choice"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--lr", "fast"], "--lr"),
        (["train", "--lr", "inf"], "--lr"),
        (["train", "--seed", "-1"], "--seed"),
        (["train", "--model", "rnn"], "--model"),
        (["train", "--model", "cnn", "--data", "spiral"], "cnn needs image data"),
        (["train", "--data", "cifar10"], "--data-dir"),
        (["train", "--data", "digits", "--data-dir", "."], "only used with --data cifar10"),
        (["graph", "--model", "mlp"], "-o"),
        (["graph", "--model", "mlp", "-o", "g.gif"], "format"),
        (["graph", "--model", "mlp", "-o", "g.svg", "--depth", "-1"], "--depth"),
        (["graph", "--model", "mlp", "-o", "g.svg", "--seed", "-1"], "--seed"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in one_line_error(capsys)


def write_fake_cifar_bin(root, records=8):
    """The official binary layout: six files of records (1 label byte, 3072 pixel bytes), random content."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, (records, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, (records, 3072), dtype=np.uint8)
        np.concatenate([labels, pixels], axis=1).tofile(folder / f"{name}.bin")


def test_train_reads_cifar10_from_data_dir(tmp_path, capsys):
    write_fake_cifar_bin(tmp_path)
    out = tmp_path / "out"
    assert train(out, "--model", "mlp", "--data", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1") == 0
    assert "after 1 epoch\n" in capsys.readouterr().out
    assert nn.load(out / "model.npz")["1.weight"].shape == (100, 3 * 32 * 32)


def test_unreadable_cifar_dir_gives_one_line_and_status_2(tmp_path, capsys):
    assert train(tmp_path / "out", "--data", "cifar10", "--data-dir", str(tmp_path / "nowhere")) == 2
    assert "nowhere" in one_line_error(capsys)
    assert train(tmp_path / "out", "--data", "cifar10", "--data-dir", str(tmp_path)) == 2
    assert "CIFAR-10" in one_line_error(capsys)


def test_resume_without_a_checkpoint_gives_status_2(tmp_path, capsys):
    assert train(tmp_path, "--model", "mlp", "--data", "spiral", "--resume") == 2
    assert "checkpoint.npz" in one_line_error(capsys)


SPIRAL = ("--model", "mlp", "--data", "spiral", "--batch-size", "100")


def snapshot(folder):
    """Every file under ``folder`` with its bytes and modification time."""
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("keep", [0, 100, -100], ids=["empty", "first-100-bytes", "last-100-bytes-cut"])
def test_resume_from_a_truncated_checkpoint_gives_one_line_and_status_2(tmp_path, capsys, keep):
    assert train(tmp_path, *SPIRAL, "--epochs", "1") == 0
    checkpoint = tmp_path / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:keep])
    capsys.readouterr()
    assert train(tmp_path, *SPIRAL, "--epochs", "2", "--resume") == 2
    assert f"--resume: {checkpoint} is not an .npz archive (is it truncated or corrupt?)" in one_line_error(capsys)


@pytest.mark.parametrize(
    "first, then, message",
    [
        (("--model", "mlp"), ("--model", "cnn"), r"does not fit this model and optimizer: .*\(100, 64\) in the state"),
        (("--optimizer", "adam"), ("--optimizer", "sgd"), "does not fit this model and optimizer: SGD.load_state_dict"),
    ],
    ids=["mlp-resumed-as-cnn", "adam-resumed-with-sgd"],
)
def test_resume_with_other_options_gives_one_line_and_status_2(tmp_path, capsys, first, then, message):
    common = ("--data", "digits", "--batch-size", "500")
    assert train(tmp_path, *common, *first, "--epochs", "1") == 0
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert train(tmp_path, *common, *then, "--epochs", "2", "--resume") == 2
    err = one_line_error(capsys)
    assert re.search(message, err), err
    assert str(tmp_path / "checkpoint.npz") in err and "resume with the --model, --data and --optimizer" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("epochs", [1, 2])
def test_resume_with_the_epochs_already_done_changes_no_file(tmp_path, capsys, epochs):
    assert train(tmp_path, *SPIRAL, "--epochs", "2") == 0
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert train(tmp_path, *SPIRAL, "--epochs", str(epochs), "--resume") == 0
    captured = capsys.readouterr()
    assert captured.out == f"{tmp_path} already has 2 epochs (asked for {epochs}): nothing to do\n"
    assert captured.err == ""
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("blocked", ["model.npz", "history.json", "curves.png", "checkpoint.npz"])
def test_an_output_that_cannot_be_written_gives_one_line_and_status_1(tmp_path, capsys, blocked):
    (tmp_path / blocked).mkdir()  # as a full disk would, the write of this one file fails
    assert train(tmp_path, *SPIRAL, "--epochs", "1") == 1
    assert f"{tmp_path / blocked}" in one_line_error(capsys)
    assert (tmp_path / blocked).is_dir()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]  # no partial file left


@pytest.mark.filterwarnings("ignore:.*encountered in matmul:RuntimeWarning")  # the diverging weights
def test_a_diverging_loss_stops_the_run_with_one_line_and_status_1(tmp_path, capsys):
    assert train(tmp_path, *SPIRAL, "--epochs", "2", "--lr", "1e30") == 1
    err = one_line_error(capsys)
    assert "fit: the training loss became nan at epoch 1, batch 2" in err and "--lr" in err
    assert not (tmp_path / "model.npz").exists()


def interrupt_on_call(monkeypatch, module, name, call):
    """Make ``module.name`` raise KeyboardInterrupt (as Ctrl-C would) on its ``call``-th call."""
    original, calls = getattr(module, name), []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, interrupted)


def test_ctrl_c_in_the_middle_of_training_then_resume_gives_the_uninterrupted_model(tmp_path, capsys, monkeypatch):
    import nn.train

    options = ("--model", "mlp", "--data", "spiral", "--batch-size", "64", "--epochs", "3")
    assert train(tmp_path / "whole", *options) == 0
    interrupt_on_call(monkeypatch, nn.train, "evaluate", 2)  # epoch 2 is trained but never checkpointed
    capsys.readouterr()
    assert train(tmp_path / "cut", *options) == 130
    assert "--resume" in capsys.readouterr().err
    assert nn.load(tmp_path / "cut" / "checkpoint.npz")["epoch"] == 1
    monkeypatch.undo()
    assert train(tmp_path / "cut", *options, "--resume") == 0
    whole, cut = nn.load(tmp_path / "whole" / "model.npz"), nn.load(tmp_path / "cut" / "model.npz")
    assert all(np.array_equal(whole[key], cut[key]) for key in whole)


def test_ctrl_c_while_the_files_are_written_leaves_resume_to_write_the_missing_ones(tmp_path, capsys, monkeypatch):
    import nn.cli

    interrupt_on_call(monkeypatch, nn.cli, "plot_history", 1)
    assert train(tmp_path, *SPIRAL, "--epochs", "1") == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "curves.png").exists()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]
    model = (tmp_path / "model.npz").stat().st_mtime_ns
    monkeypatch.undo()
    assert train(tmp_path, *SPIRAL, "--epochs", "1", "--resume") == 0
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (tmp_path / "model.npz").stat().st_mtime_ns == model  # what was complete stays as it was


def test_graph_writes_dot_source(tmp_path, capsys):
    path = tmp_path / "step.dot"
    assert main(["graph", "--model", "cnn", "--data", "digits", "-o", str(path), "--show-grads"]) == 0
    source = path.read_text()
    assert source.startswith("digraph") and "0: Conv2d" in source and "loss" in source
    assert "0.weight" not in source  # at depth 1 a layer is one node, its parameters inside it


def test_graph_depth_rankdir_and_grad_flow(tmp_path):
    path = tmp_path / "step.dot"
    argv = ["graph", "--model", "cnn", "-o", str(path)]
    assert main([*argv, "--depth", "all", "--rankdir", "LR", "--grad-flow"]) == 0
    source = path.read_text()
    assert "0.weight" in source and "<b>Linear</b>" in source and "rankdir=LR" in source and "gradient norm" in source
    assert main([*argv, "--depth", "0"]) == 0
    assert "model: Sequential" in path.read_text() and "rankdir=TB" in path.read_text()


@needs_dot
def test_graph_writes_svg_of_an_mlp(tmp_path):
    path = tmp_path / "step.svg"
    assert main(["graph", "--model", "mlp", "--data", "spiral", "-o", str(path)]) == 0
    assert path.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_gradcheck_prints_a_table_for_the_chosen_ops(capsys):
    assert main(["gradcheck", "--op", "add", "mul", "--order", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["op", "order", "result", "max|a-n|", "max_rel", "kinks", "time_ms"]
    rows = [line.split() for line in lines[1:-2]]
    assert sorted(row[0] for row in rows) == ["add", "mul"]
    assert all(row[1:3] == ["1", "ok"] and 0 < float(row[3]) < 1e-6 and float(row[6]) > 0 for row in rows)
    assert "tolerance |a - n| <= 1e-05 + 0.001 |n|" in lines[-2] and lines[-1] == "2 of 2 checks passed"


def test_gradcheck_rejects_unknown_ops(capsys):
    assert main(["gradcheck", "--op", "no_such_op"]) == 2
    assert "no_such_op" in one_line_error(capsys)


def test_python_m_nn_cli_exits_with_mains_status():
    result = subprocess.run([sys.executable, "-m", "nn.cli", "train", "--epochs", "x"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("chainrule: error: argument --epochs") and result.stderr.count("\n") == 1
