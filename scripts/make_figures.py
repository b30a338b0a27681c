"""Regenerate the graph pictures under docs/img/ (run from anywhere: `make figures`).

* ``lecture_graph.svg`` / ``.png``: the lecture's first backpropagation example,
  f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4, with each wire's forward value (green) above
  and its gradient (red) below;
* ``cnn_graph.svg``: one training step of a small CNN (conv -> relu -> maxpool -> linear ->
  cross-entropy) on four real 8x8 digits, one box per module.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograd import Tensor, manual_seed, viz

ROOT = Path(__file__).resolve().parent.parent
PNG_DPI = "160"  # sharp enough for a slide, small enough to commit


def lecture_graph(out: Path) -> list[Path]:
    x = Tensor(-2.0, requires_grad=True, name="x")
    y = Tensor(5.0, requires_grad=True, name="y")
    z = Tensor(-4.0, requires_grad=True, name="z")
    f = (x + y) * z
    f.name = "f"
    f.backward()
    graph = viz.draw(f, show_edges=True, show_shapes=False, legend=True)
    png = graph.copy()
    png.attr(dpi=PNG_DPI)
    return [viz.save(graph, out / "lecture_graph.svg"), viz.save(png, out / "lecture_graph.png")]


def cnn_graph(out: Path) -> list[Path]:
    import nn  # the CNN's pieces; the lecture figure needs only autograd
    from nn import functional as F
    from nn.data import load_digits

    x, y = load_digits(split="train")
    manual_seed(0)  # the same initial weights every run
    model = nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3),  # (4, 1, 8, 8) -> (4, 4, 6, 6)
        nn.ReLU(),
        nn.MaxPool2d(2),  # -> (4, 4, 3, 3)
        nn.Flatten(),  # -> (4, 36)
        nn.Linear(4 * 3 * 3, 10),
    )
    graph = viz.draw_model_step(model, x[:4], y[:4], F.cross_entropy, legend=True, rankdir="TB")
    return [viz.save(graph, out / "cnn_graph.svg")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="default: docs/img")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for path in lecture_graph(out) + cnn_graph(out):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
