"""The suite's own settings hold for every test, whatever the test modules import."""

import os

from hypothesis import settings


def test_every_property_test_runs_with_the_suites_hypothesis_budget():
    # PyTorch's OpInfo database (tests/torch_opinfo) loads PyTorch's hypothesis profile, 10 examples,
    # when it is imported; conftest loads ours again after collection, so `make fuzz` fuzzes what it says
    assert settings.default.max_examples == int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "20"))
    assert settings.default.deadline is None
