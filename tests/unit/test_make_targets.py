"""The Makefile's test targets mean what they say: `make test` runs everything, `make test-fast`
leaves out a marker that is registered and that tests actually carry (a filter on a marker no test
carries would run everything and call it fast)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert m, f"no {target} target"
    return m.group(1)


def test_test_fast_leaves_out_a_registered_marker_that_tests_carry() -> None:
    (expr,) = re.findall(r"-m '([^']*)'", recipe("test-fast"))
    (marker,) = re.fullmatch(r"not (\w+)", expr).groups()  # type: ignore[union-attr]
    registered = [m.split(":")[0] for m in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]]
    assert marker in registered
    carriers = [p.name for p in (ROOT / "tests").rglob("test_*.py") if f"@pytest.mark.{marker}\n" in p.read_text()]
    assert len(carriers) >= 3, carriers


def test_make_test_runs_everything() -> None:
    (line,) = recipe("test").splitlines()
    assert line.strip() == "$(PY) -m pytest -q"  # no marker or keyword filter: the README's command runs it all
