"""Suite-wide settings: hypothesis profiles and the optional PyTorch reference."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# `make test` runs a fixed, small budget; `make fuzz` raises it through the environment.
settings.register_profile(
    "chainrule",
    max_examples=int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("chainrule")


def pytest_collection_modifyitems(config, items):
    """Load our profile again once every test module is imported: importing PyTorch's OpInfo database
    (tests/torch_opinfo) loads PyTorch's own hypothesis profile, 10 examples, for every test after it."""
    settings.load_profile("chainrule")


@pytest.fixture
def torch():
    """PyTorch as a float64 reference; the test skips where it is not installed."""
    torch = pytest.importorskip("torch", reason="PyTorch is an optional reference: `make torch`")
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(torch.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
