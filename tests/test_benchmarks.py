"""The benchmark's reference columns are right, and its cells are measured as it says.

Only the machinery is tested here (no wall-clock figures are asserted): the hand-written NumPy
gradients against PyTorch, and each cell in a fresh process with the median of its rounds.
"""

import json
import os
import statistics
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import handwritten  # noqa: E402
import run  # noqa: E402


def test_the_hand_written_gradients_match_torch(torch):
    report = handwritten.check(verbose=False)  # raises AssertionError past 1e-8 (float64) or 1e-3 (float32)
    assert {"cnn float64", "mlp float64", "chains float64", "maxpool ties", "scalar float64"} <= set(report)
    assert max(report["cnn float64"].values()) < 1e-8


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

