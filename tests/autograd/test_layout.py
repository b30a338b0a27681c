"""The import structure the design relies on: a ground module, an engine that reads the graph by
protocol, kernels apart from the math, and autograd never reaching into nn."""

import ast
from pathlib import Path

import pytest

AUTOGRAD = Path(__file__).resolve().parents[2] / "autograd"


def _imports(path: Path) -> set[str]:
    """The modules a file imports, anywhere in it, as absolute dotted names."""
    package = ".".join(path.relative_to(AUTOGRAD.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
    return found


def _ours(path: Path) -> set[str]:
    return {m for m in _imports(path) if m.split(".")[0] == "autograd" and m != "autograd"}


@pytest.mark.parametrize("path", sorted(AUTOGRAD.rglob("*.py")), ids=lambda p: str(p.relative_to(AUTOGRAD)))
def test_autograd_never_imports_nn(path):
    assert not {m for m in _imports(path) if m.split(".")[0] == "nn"}
    assert 'modules["nn"]' not in path.read_text()


def test_the_modes_and_the_kernels_import_nothing_of_ours():
    assert _ours(AUTOGRAD / "mode.py") == set()
    assert _ours(AUTOGRAD / "kernels.py") == set()


def test_the_engine_imports_only_the_modes():
    assert {m.rsplit(".", 1)[0] if m.count(".") > 1 else m for m in _ours(AUTOGRAD / "engine.py")} == {"autograd.mode"}
