"""Importing autograd asks glibc to keep freed large blocks for the next step (kernels.keep_freed_memory):
a training step's temporaries then come back without page faults."""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and Linux page faults")

PROGRAM = textwrap.dedent("""
    import resource
    import numpy as np
    import autograd  # noqa: F401
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    def step():  # the temporaries of a training step: 20 + 20 + 12 MiB, freed at its end
        a, b, c = np.ones(20 << 17), np.ones(20 << 17), np.ones(12 << 17)
    for _ in range(2):
        step()
    before = faults()
    for _ in range(5):
        step()
    print((faults() - before) // 5)
""")


def _faults_per_step(keep: str) -> int:
    env = {"CHAINRULE_KEEP_FREED_MEMORY": keep, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_a_freed_large_block_is_reused_without_page_faults():
    assert _faults_per_step("1") < 100  # the step touches 13,312 pages
    assert _faults_per_step("0") > 1000  # glibc's default: the heap top is trimmed, and faults back in
