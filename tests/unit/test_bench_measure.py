"""bench.measure: peak RSS of the largest process (the kernel's) and of the whole process tree
(sampled), so that imagebot's parsing worker is counted with it against the memory targets."""

from __future__ import annotations

import sys

import pytest

from bench.measure import run, speed_probe

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
    assert sample.rss_mb >= 40  # the largest process (the kernel may count the forking parent's pages too)
    assert sample.tree_rss_mb >= 80  # both blocks, held at once


def test_a_single_process_tree_is_that_process():
    sample = run([sys.executable, "-c", HOLD])
    assert 40 <= sample.tree_rss_mb < 75


def test_the_speed_probe_counts_cpu_time_of_a_fixed_piece_of_work() -> None:
    """A positive number of milliseconds; the best of five runs is not slower than one run
    (beyond the machine's own jitter)."""
    one = speed_probe(1)
    assert 0 < one < 10_000
    assert speed_probe(5) <= one * 1.5  # the best of five: no slower than one run, give or take the machine
