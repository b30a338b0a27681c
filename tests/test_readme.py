"""The README's code runs and prints what it says, and its commands, files and paths exist."""

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

from nn.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")


def block(marker: str) -> str:
    (found,) = [b for b in BLOCKS if marker in b]
    return found


def run(code: str) -> tuple[dict, str]:
    """Execute a README block as a fresh script would, returning its namespace and what it printed."""
    namespace: dict = {"__name__": "__readme__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, namespace)
    return namespace, out.getvalue()


def test_every_python_block_has_a_test_below():
    markers = ["f = (x + y) * z", "class Softplus", "viz.draw_model_step", "fast_mode=True"]
    assert sorted(BLOCKS) == sorted(block(m) for m in markers)


def test_the_lecture_example_prints_the_numbers_it_shows():
    _, printed = run(block("f = (x + y) * z"))
    assert printed.split() == ["-12.0", "-4.0", "-4.0", "3.0"]


def test_the_property_test_examples_pass_for_softplus():
    namespace, _ = run(block("class Softplus"))
    namespace["test_softplus"]()  # hypothesis runs each over drawn tensors and programs
    namespace["test_softplus_in_programs"]()


@needs_dot
def test_the_model_drawing_example_writes_the_picture_and_prints_the_summary(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, printed = run(block("viz.draw_model_step"))
    assert (tmp_path / "cnn.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert "trainable params: 9,978" in printed  # the demo CNN of the Training section


def test_the_layer_gradcheck_example_passes():
    run(block("fast_mode=True"))  # its asserts are the check


def test_every_make_target_the_readme_names_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w.-]+(?: [\w.-]+)*):", makefile, flags=re.M))
    targets = {name for line in targets for name in line.split()}
    named = set(re.findall(r"`make (\w+)", README))
    assert named and named <= targets, named - targets


def test_every_file_the_layout_section_names_exists():
    layout = README.split("## Layout", 1)[1].split("```")[1]
    names = set(re.findall(r"[\w/]+\.py\b|\b\w+/", layout)) - {"NN_name.py"}  # NN_name: a pattern
    files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if ".venv" not in p.parts}
    missing = [n for n in names if not any(f == n.rstrip("/") or f.endswith("/" + n.rstrip("/")) for f in files)]
    assert not missing


def test_every_script_and_benchmark_the_readme_runs_exists():
    paths = set(re.findall(r"\b((?:scripts|benchmarks)/\w+\.py)", README))
    assert paths and all((ROOT / p).is_file() for p in paths), paths


@needs_dot
def test_train_writes_the_files_the_readme_lists(tmp_path, capsys):
    training = README.split("## Training", 1)[1].split("##", 1)[0]
    listed = set(re.findall(r"`(\w+\.(?:npz|json|png|svg))`", training))
    assert main(["train", "--model", "mlp", "--data", "spiral", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    assert listed == {p.name for p in tmp_path.iterdir()}
    printed = capsys.readouterr().out
    assert all(str(tmp_path / name) in printed for name in listed)
