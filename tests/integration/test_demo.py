"""`make demo` works: the demo script runs end to end and shows the commit it made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.registry import registry_available

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed (make test installs it)")
def test_demo_runs_and_shows_the_commit(tmp_path: Path) -> None:
    # Run a copy of the demo's folder layout in place: the demo writes only under ./.demo/.
    p = subprocess.run([sys.executable, str(ROOT / "demo" / "demo.py")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "imagebot run --once" in out
    assert "demo/web:1.0.0" in out and "demo/web:1.10.0" in out  # the 1.x line, never 2.0.0
    assert "demo/worker:3.2.0-alpine" in out  # variant kept, minor policy
    assert "demo/exporter:1.0" not in out  # the container without a policy is left alone
    assert "commits on staging ahead of main: 1" in out  # the second run made no commit
