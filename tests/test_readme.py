"""The README's code runs and prints what it says."""

import contextlib
import io
import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_lecture_example_prints_the_numbers_it_shows():
    (block,) = [b for b in BLOCKS if "f = (x + y) * z" in b]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(block, {})
    assert out.getvalue().split() == ["-12.0", "-4.0", "-4.0", "3.0"]


def test_the_property_test_example_passes_for_softplus():
    (block,) = [b for b in BLOCKS if "class Softplus" in b]
    namespace: dict = {}
    exec(block, namespace)
    namespace["test_softplus"]()  # hypothesis runs it over drawn tensors
