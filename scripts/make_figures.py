"""Regenerate the README's pictures under docs/img/ (run from anywhere: `make figures`).

* ``lecture_graph.svg`` / ``.png``: the lecture's first example, f(x, y, z) = (x + y) z at
  x = -2, y = 5, z = -4, with each wire's forward value (green) over its gradient (red);
* ``backward_film.gif``: the lecture's sigmoid neuron, 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), its
  backward pass one op per frame (upstream x local = downstream);
* ``cnn_graph.svg`` / ``.png``: one training step of the demo CNN (``chainrule train``'s model) on
  eight real 8x8 digits, one node per layer;
* ``grad_flow.png``: the same 8-layer network with sigmoid and with ReLU, each node coloured by the
  norm of the gradient reaching it (the lecture's vanishing gradients, side by side);
* ``curves.png``: learning curves of the demo CNN, the loss on a log axis.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

import nn
from autograd import Tensor, manual_seed, viz
from nn import functional as F
from nn.data import DataLoader, TensorDataset, load_digits
from nn.models import cnn
from nn.train import fit, plot_history

ROOT = Path(__file__).resolve().parent.parent
PNG_DPI = "110"  # sharp enough for a slide, small enough to commit


def _png(graph: viz.Graph, path: Path) -> Path:
    png = graph.copy()
    png.attr(dpi=PNG_DPI)
    return viz.save(png, path)


def lecture_graph(out: Path) -> list[Path]:
    x = Tensor(-2.0, requires_grad=True, name="x")
    y = Tensor(5.0, requires_grad=True, name="y")
    z = Tensor(-4.0, requires_grad=True, name="z")
    f = (x + y) * z
    f.name = "f"
    graph = viz.draw(f, show_edges=True, show_shapes=False, legend=True)
    return [viz.save(graph, out / "lecture_graph.svg"), _png(graph, out / "lecture_graph.png")]


def backward_film(out: Path) -> list[Path]:
    w0, x0, w1, x1, w2 = (Tensor(v, requires_grad=True, name=n)
                          for v, n in [(2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")])
    f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    f.name = "f"
    viz.storyboard(f, out / "backward_film.gif")
    return [out / "backward_film.gif"]


def _digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(split="train")
    return x[:n], y[:n]


def cnn_graph(out: Path) -> list[Path]:
    x, y = _digits(8)
    manual_seed(0)  # the same initial weights every run
    graph = viz.draw_model_step(cnn(1, 10, 8), x, y, F.cross_entropy, rankdir="TB")
    return [viz.save(graph, out / "cnn_graph.svg"), _png(graph, out / "cnn_graph.png")]


class Dense(nn.Module):
    """Linear followed by an activation: one layer of the deep network, one node in the picture."""

    def __init__(self, fan_in: int, fan_out: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.linear, self.act = nn.Linear(fan_in, fan_out), activation()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.linear(x))


def deep_network(activation: type[nn.Module], layers: int = 8, width: int = 32) -> nn.Sequential:
    manual_seed(0)
    blocks = [Dense(64 if k == 0 else width, width, activation) for k in range(layers)]
    return nn.Sequential(nn.Flatten(), *blocks, nn.Linear(width, 10))


def grad_flow(out: Path) -> list[Path]:
    from PIL import Image, ImageDraw  # Pillow comes with matplotlib

    x, y = _digits(64)
    images = []
    for activation in (nn.Sigmoid, nn.ReLU):
        graph = viz.draw_model_step(deep_network(activation), x, y, F.cross_entropy, grad_flow=True, rankdir="TB")
        graph.attr(label=f"8 x (Linear -> {activation.__name__})", labelloc="t", fontsize="16")
        graph.attr(dpi=PNG_DPI)
        images.append(Image.open(io.BytesIO(graph.pipe(format="png"))).convert("RGB"))
    gap = 40
    canvas = Image.new("RGB", (sum(i.width for i in images) + gap, max(i.height for i in images)), "white")
    canvas.paste(images[0], (0, 0))
    canvas.paste(images[1], (images[0].width + gap, 0))
    ImageDraw.Draw(canvas).line([(images[0].width + gap // 2, 10), (images[0].width + gap // 2, canvas.height - 10)],
                                fill="#9ca3af", width=1)
    canvas.save(out / "grad_flow.png")
    return [out / "grad_flow.png"]


def curves(out: Path) -> list[Path]:
    x, y = load_digits(split="train")
    x_test, y_test = load_digits(split="test")
    manual_seed(0)
    model = cnn(1, 10, 8)
    train = DataLoader(TensorDataset(x, y), 32, shuffle=True, seed=0)
    history = fit(model, train, nn.optim.Adam(model.parameters(), lr=1e-3), 8,
                  test_loader=DataLoader(TensorDataset(x_test, y_test), 256), progress=False)
    return [plot_history(history, out / "curves.png")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="default: docs/img")
    parser.add_argument("--only", nargs="+", choices=("lecture", "film", "cnn", "flow", "curves"),
                        help="regenerate only these pictures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    makers = {"lecture": lecture_graph, "film": backward_film, "cnn": cnn_graph, "flow": grad_flow, "curves": curves}
    for name, make in makers.items():
        if args.only is None or name in args.only:
            for path in make(args.out):
                print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
