"""The benchmark's reference columns are right, and its cells are measured as it says.

Only the machinery is tested here (no wall-clock figures are asserted): the hand-written NumPy
gradients against PyTorch, and each cell in a fresh process with the median of its rounds.
"""

import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import handwritten  # noqa: E402
import run  # noqa: E402


def test_the_hand_written_gradients_match_torch(torch):
    report = handwritten.check(verbose=False)  # raises AssertionError past 1e-8 (float64) or 1e-3 (float32)
    assert {"cnn float64", "mlp float64", "chains float64", "maxpool ties", "scalar float64", "tiny mlp float64",
            "cnn inference float64", "depthwise-separable float64"} <= set(report)
    assert max(report["cnn float64"].values()) < 1e-8
    assert max(report["cnn inference float64"].values()) < 1e-8


def test_the_chainrule_cells_of_the_new_rows_compute_what_the_hand_written_ones_do():
    import autograd

    params = [tuple(autograd.Tensor(a, requires_grad=True) for a in wb) for wb in handwritten.tiny_mlp_params(0)]
    run._tiny_mlp_step(autograd.Tensor(run.TINY_X), params, lambda t: t.relu())()
    _, grads = handwritten.tiny_mlp_step(run.TINY_X, handwritten.tiny_mlp_params(0))
    for (w, b), (dw, db) in zip(params, grads):
        assert abs(w.grad.numpy() - dw).max() < 1e-6 and abs(b.grad.numpy() - db).max() < 1e-6
    logits = run.cnninfer_chainrule(batch=2)()
    want = handwritten.HandCNN(handwritten.cnn_init(0)).forward_eval(run._cnn_data(2)[0])
    assert logits.shape == (2, 10) and abs(logits.numpy() - want).max() < 1e-4


def test_the_depthwise_row_gives_chainrule_the_hand_written_gradients():
    import nn.functional as F
    from autograd import Tensor

    rng = np.random.default_rng(0)
    x, wd, wp = (rng.standard_normal(s) for s in ((2, 4, 5, 5), (4, 1, 3, 3), (6, 4, 1, 1)))
    tensors = [Tensor(a, requires_grad=True) for a in (x, wd, wp)]
    loss = F.conv2d(F.conv2d(tensors[0], tensors[1], padding=1, groups=4), tensors[2]).sum()
    loss.backward()
    want = handwritten.dwsep_step(x, wd, wp)
    assert loss.item() == pytest.approx(want[0], rel=1e-12)
    for t, g in zip(tensors, want[1:]):
        np.testing.assert_allclose(t.grad.data, g, rtol=1e-10, atol=1e-12)


def test_each_cell_runs_in_a_fresh_process_and_reports_the_median_of_its_rounds(tmp_path):
    out = tmp_path / "bench.json"
    assert run.main(["--quick", "--only", "1", "--impls", "hand", "--rounds", "3", "--pause", "0",
                     "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    hand = row["cells"]["hand"]
    assert len(hand["rounds"]) == 3 and hand["value"] == statistics.median(hand["rounds"])
    assert hand["pid"] != os.getpid()
    assert row["cells"]["chainrule"]["error"] == "skipped" and row["ratio_chainrule_numpy"] is None


def test_a_failing_cell_reports_its_reason_instead_of_a_number(monkeypatch):
    def broken(batch=None):
        raise RuntimeError("no such model")

    monkeypatch.setitem(run.ROWS[0].makers, "hand", broken)
    args = run.argparse.Namespace(quick=True, gc=False, verbose=False, cell_timeout=None, mem="auto",
                                  same_process=True, pause=0, rounds=2, threads=None)
    cells = run.measure_row(run.ROWS[0], ["hand"], args)
    assert cells["hand"].value is None and "no such model" in cells["hand"].error



def test_the_kernel_replay_times_each_recorded_call_with_and_without_its_trick():
    import kernel_replay

    result = kernel_replay.replay("cnninfer", reps=1)
    # the inference CNN pads twice (two convolutions) and pools twice
    assert result["pad"][0] == 2 and result["reduce_windows"][0] == 2
    assert all(fast > 0 and plain > 0 for _, fast, plain in result.values())
    from autograd import kernels
    from autograd.ops import reduce
    assert reduce.reduce_windows is kernels.reduce_windows  # the recording patches are undone
