"""The package carries no dead or test-only code: every public top-level function and class of
imagebot/ is named somewhere else in imagebot/ (a call, an import, a registry, a docstring). What
only tests use belongs in tests/support."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "imagebot"


def test_every_public_function_and_class_is_used_by_the_package() -> None:
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    everything = "\n".join(sources.values())
    unused = [f"{p.relative_to(PACKAGE.parent)}: {node.name}"
              for p, text in sources.items() for node in ast.parse(text).body
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_")
              and len(re.findall(rf"\b{node.name}\b", everything)) == 1]  # its own definition only
    assert unused == [], "defined but never used by imagebot/ (move test-only helpers to tests/support): " + ", ".join(unused)
