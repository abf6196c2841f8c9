"""Golden cases: tests/golden/<case>/{original,expected}/ + case.json.

Each case runs discover on `original/` with the case's config policies, resolves every
occurrence to the case's target for its image, plans (imagebot.plan) and renders the changes,
and compares bytes: a file under `expected/` must come out exactly so; every other
file must not be edited. `refused` lists the changes apply must refuse (location -> reason
fragment) and `problems` the problems discover must report ([kind, location prefix, fragment]).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagebot.apply import render
from imagebot.config.schema import NamedPolicy
from imagebot.discover import scan
from imagebot.model import Resolution, Target
from imagebot.plan import build

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").is_file())


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_format_and_refusal_has_a_case():
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str):
    root = GOLDEN / case
    desc = json.loads((root / "case.json").read_text())
    original = root / "original"
    before = _files(original)
    expected = _files(root / "expected") if (root / "expected").is_dir() else {}
    policies = {k: NamedPolicy.model_validate(v) for k, v in desc.get("policies", {}).items()}

    found = scan(original, paths=desc.get("paths", ()), policies=policies)

    want_problems = sorted(tuple(p) for p in desc.get("problems", []))
    got_problems = sorted((p.kind, str(p.location), p.message) for p in found.problems)
    assert len(got_problems) == len(want_problems), "\n".join(map(str, found.problems))
    for (kind, where, fragment), (gkind, gwhere, gmsg) in zip(want_problems, got_problems):
        same_place = gwhere == where or gwhere.startswith(where + ":")
        assert (gkind, fragment in gmsg, same_place) == (kind, True, True), (gkind, gwhere, gmsg)

    resolutions = []
    for occ in found.occurrences:
        assert occ.image in desc["targets"], f"unexpected occurrence {occ}"
        target = desc["targets"][occ.image]
        resolutions.append(Resolution(occ, Target(target["tag"], target.get("digest")), "golden target"))
    rendered = render(original, build(resolutions).changes)

    refused = {str(r.change.occurrence.location): r.reason for r in rendered.refused}
    assert set(refused) == set(desc.get("refused", {})), refused
    for where, fragment in desc.get("refused", {}).items():
        assert fragment in refused[where]
    edited = {e.path: e.after for e in rendered.edits}
    assert set(edited) == set(expected), f"edited {sorted(edited)}, expected {sorted(expected)}"
    for path, data in expected.items():
        assert edited[path] == data, f"{path}:\n{edited[path].decode(errors='replace')}"
    for e in rendered.edits:
        assert e.before == before[e.path]
    assert _files(original) == before, "render must not write files"
