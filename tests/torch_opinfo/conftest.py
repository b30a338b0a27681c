"""A per-op table of the OpInfo comparison (tests/torch_opinfo/test_opinfo.py) after the run.

Outcomes travel in each test report's ``user_properties``, so the table is complete under
pytest-xdist too; the samples that never became tests (no chainrule function yet, or an
argument chainrule cannot spell) come from the plan, sent by an xdist worker when there are any.
"""

import sys
from collections import Counter, defaultdict

import pytest

OUTCOMES = ("matched", "refused", "mismatched", "crashed", "torch fails")
NOT_RUN = ("absent", "untranslatable")
_ran: dict[str, Counter] = defaultdict(Counter)
_not_run: dict[str, Counter] = {}


def _plan_counts() -> dict:
    cases = sys.modules.get("opinfo_cases")  # imported by the test module, if it was collected
    return cases.not_run_counts() if cases else {}


def pytest_runtest_logreport(report):
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "opinfo":
                _ran[value[0]][value[1]] += 1


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the plan's counts to the controller
        workeroutput["opinfo_not_run"] = _plan_counts()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node):
    _not_run.update({k: Counter(v) for k, v in node.workeroutput.get("opinfo_not_run", {}).items()})


def pytest_terminal_summary(terminalreporter):
    if not _ran:
        return
    not_run = _not_run or {k: Counter(v) for k, v in _plan_counts().items()}
    columns = (*OUTCOMES, *NOT_RUN)
    keys = sorted(set(_ran) | set(not_run))
    width = max(len(key) for key in keys)

    def row(label, counts):
        return f"{label:<{width}}  " + "  ".join(f"{counts[c]:>{len(c)}}" for c in columns)

    terminalreporter.section("PyTorch OpInfo float64 samples per op")
    terminalreporter.write_line(f"{'op':<{width}}  " + "  ".join(columns))
    totals = Counter()
    for key in keys:
        counts = _ran[key] + not_run.get(key, Counter())
        totals += counts
        terminalreporter.write_line(row(key, counts))
    terminalreporter.write_line(row("total", totals))
    ran = sum(totals[c] for c in OUTCOMES)
    terminalreporter.write_line(
        f"refused: {totals['refused']} of {ran} samples run ({totals['refused'] / max(ran, 1):.0%}); "
        f"not run: {totals['absent']} with no chainrule function yet, {totals['untranslatable']} untranslatable")
