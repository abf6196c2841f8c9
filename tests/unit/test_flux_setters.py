"""Flux's own setter fixtures (image-automation-controller testdata): with config policies named
as Flux's (``<namespace>:<name>``), our output equals theirs byte for byte.

The fixtures are under ../shared/testdata/peers/flux_setters/<case>/{before,after}/ with
case.json; cases marked stale (produced by a removed Flux code path that re-indented YAML) are
not ours to match. A file absent from after/ must come out unchanged. The `*.raw` copies keep
the upstream placeholder text and are not manifests.
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
from imagebot.reference import split
from tests.conftest import SHARED_TESTDATA, shared_path

pytestmark = pytest.mark.shared
_DIR = SHARED_TESTDATA / "peers" / "flux_setters"


def _cases() -> list[str]:
    if not _DIR.is_dir():
        return []
    return sorted(p.name for p in _DIR.iterdir() if (p / "case.json").is_file())


def _files(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".raw")
    }


def test_the_live_fixtures_are_all_here():
    live = [c for c in _cases() if not json.loads((_DIR / c / "case.json").read_text()).get("stale")]
    assert sorted(live) == [
        "policy-appconfig-multiple-policies",
        "policy-appconfig-one-policy",
        "policy-pathconfig-update-path",
        "update-setters",
    ] or not _DIR.is_dir()


@pytest.mark.parametrize("case", _cases())
def test_flux_setter_case(case: str):
    root = shared_path("peers", "flux_setters", case)
    desc = json.loads((root / "case.json").read_text())
    if desc.get("stale"):
        pytest.skip(f"{case}: stale upstream fixture ({desc['notes'][0][:80]}...)")
    policies, latest = {}, {}
    for p in desc["policies"]:
        name, tag, digest = split(p["latest_image"])
        key = f"{p['namespace']}:{p['name']}"
        # Flux writes the digest whenever its policy reflects one: that is our pin-digest option.
        policies[key] = NamedPolicy.model_validate({"image": name, "policy": "semver:*", "pin-digest": bool(digest)})
        latest[key] = (tag, digest)
    paths = [desc["update_path"].removeprefix("./")] if desc.get("update_path") else []

    found = scan(root / "before", paths=paths, policies=policies)
    resolutions = []
    for occ in found.occurrences:
        key = occ.policy.source.rsplit(" ", 1)[-1]  # "<file>:<line> marker $imagepolicy <ns>:<name>"
        resolutions.append(Resolution(occ, Target(*latest[key]), "latest per the Flux fixture"))
    rendered = render(root / "before", build(resolutions).changes)
    assert rendered.refused == ()

    before, after = _files(root / "before"), _files(root / "after")
    ours = dict(before) | {e.path: e.after for e in rendered.edits}
    theirs = dict(before) | after
    for path in sorted(before):
        assert ours[path] == theirs[path], f"{case}/{path}:\n{ours[path].decode()}"
    # Flux silently ignores a marker naming a policy it does not know; we say so.
    unknown = [p for p in found.problems if "unknown policy" in p.message]
    assert len(unknown) == len(found.problems)
