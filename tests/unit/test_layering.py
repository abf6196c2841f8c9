"""The layering contract in pyproject.toml ([tool.importlinter]) holds: no upward imports, and
`kubernetes` is imported only under imagebot/k8s/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"],
        cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 2 kept, 0 broken." in out.stdout, out.stdout


def test_no_unused_imports_or_undefined_names() -> None:
    """pyflakes' rules (via ruff) over the package: dead imports and undefined names are bugs here."""
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F", "--quiet", "--output-format", "concise", "imagebot"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
