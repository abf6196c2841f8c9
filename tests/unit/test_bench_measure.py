"""bench.measure: peak RSS of the largest process (the kernel's) and of the whole process tree
(sampled), so that imagebot's parsing worker is counted with it against the memory targets."""

from __future__ import annotations

import sys

import pytest

from bench.measure import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

HOLD = """
import subprocess, sys, time
block = bytearray(40 * 1024 * 1024)  # touched: resident
for i in range(0, len(block), 4096):
    block[i] = 1
if len(sys.argv) > 1:
    subprocess.run([sys.executable, "-c", __import__("sys").argv[1]], check=True)
else:
    time.sleep(0.5)
"""


def test_the_tree_figure_sums_a_process_and_its_child_the_kernels_does_not():
    child = HOLD
    sample = run([sys.executable, "-c", HOLD, child])
    assert 40 <= sample.rss_mb < 75  # one process's peak
    assert sample.tree_rss_mb >= sample.rss_mb + 35  # both, while the child held its block


def test_a_single_process_tree_is_its_own_peak():
    sample = run([sys.executable, "-c", HOLD])
    assert sample.tree_rss_mb == pytest.approx(sample.rss_mb, abs=3)
