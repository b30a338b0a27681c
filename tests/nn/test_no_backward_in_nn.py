"""nn never writes a gradient: no Function subclasses and no backward methods anywhere under nn/."""

import ast
from pathlib import Path

import nn

NN_ROOT = Path(nn.__file__).parent


def _base_names(cls: ast.ClassDef) -> list[str]:
    return [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in cls.bases]


def _offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and "Function" in _base_names(node):
            found.append(f"class {node.name} derives from Function (line {node.lineno})")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "backward":
            found.append(f"def backward (line {node.lineno})")
    return found


def test_the_scan_catches_both_kinds_of_offence():
    source = "class Cube(autograd.Function):\n    @staticmethod\n    def backward(ctx, g):\n        pass\n"
    assert len(_offences(source)) == 2
    assert _offences("class Square(Function):\n    pass\n") == ["class Square derives from Function (line 1)"]
    assert _offences("loss.backward()\n") == []


def test_no_module_under_nn_defines_a_gradient():
    files = sorted(NN_ROOT.rglob("*.py"))
    assert NN_ROOT / "functional.py" in files
    offences = {str(f.relative_to(NN_ROOT)): _offences(f.read_text()) for f in files}
    assert {f: o for f, o in offences.items() if o} == {}
