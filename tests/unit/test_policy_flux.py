"""Policies against Flux image-reflector-controller's own vectors (../shared flux_policy.json).

Every vector passes except the documented by-design differences in ``BY_DESIGN`` (also listed
in docs/policies.md); for those, the test checks *our* answer instead of Flux's.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from imagebot.errors import PolicyError
from imagebot.model import PolicySpec
from imagebot.policy import compile_spec
from imagebot.policy.filters import Template, compile_pattern
from imagebot.policy.semver import SemverError, Version
from tests.conftest import shared_path

pytestmark = pytest.mark.shared

#: (kind, label or first tag) -> (why we differ, what we answer instead).
BY_DESIGN: dict[tuple[str, str], tuple[str, object]] = {
    ("latest", "With invalid numerical value"): ("numerical skips non-numeric tags instead of failing", "0"),
    ("parse_tag", "v1.0"): ("two-part tags are versions (Masterminds NewVersion; precision kept)", True),
    ("parse_tag", "v1"): ("one-part tags are versions (Masterminds NewVersion; precision kept)", True),
    ("parse_tag", "v1.2-5"): ("Masterminds NewVersion reads 1.2.0-5", True),
    ("parse_tag", "v1.2-beta5"): ("Masterminds NewVersion reads 1.2.0-beta5", True),
    ("sort", ""): ("a tag listed twice is one tag", ["1.2.4", "v1.2.4", "v1.2.3", "v1.2.0"]),
    ("exclusionList", "fetch image tags - tags in exclusionList are excluded"): (
        "cosign artefacts stay excluded when an exclude pattern is given",
        ["0.1.0", "0.1.1", "1.0.0"],
    ),
}


@cache
def _data() -> dict:
    return json.loads(shared_path("peers", "flux_policy.json").read_text())


def _cases() -> list:
    try:
        return _data()["cases"]
    except BaseException:  # collected without ../shared
        return [pytest.param({}, id="shared-absent", marks=pytest.mark.skip(reason="../shared/testdata is absent"))]


def _id(case: dict) -> str:
    label = (case.get("source") or {}).get("label") or case.get("tags", [""])[:1]
    return f"{case.get('kind')}-{case.get('policy_type')}-{label}"


def _policy_string(case: dict) -> str:
    params = case["params"]
    kind = case["policy_type"]
    if kind == "semver":
        return f"semver:{params['range']}"
    if kind in ("alphabetical", "numerical"):
        order = params.get("order") or ""
        return f"{kind}:{order}" if order else kind
    return ""


def _spec(case: dict) -> PolicySpec:
    flt = case["params"].get("filterTags") or {}
    return PolicySpec(
        _policy_string(case), tag_filter=flt.get("pattern") or None, extract=flt.get("extract") or None
    )


def _difference(case: dict) -> tuple[str, object] | None:
    label = case["source"].get("label") or ""
    first = case["tags"][0] if case.get("tags") and case["kind"] == "parse_tag" else label
    return BY_DESIGN.get((case["kind"], first))


@pytest.mark.parametrize("case", _cases(), ids=_id)
def test_flux_vector(case: dict) -> None:
    kind = case["kind"]
    differs = _difference(case)
    if kind == "new":
        if case["expected_error"]:
            with pytest.raises(PolicyError):
                compile_spec(_spec(case))
        else:
            compile_spec(_spec(case))
    elif kind in ("latest", "pipeline"):
        try:
            policy = compile_spec(_spec(case))
        except PolicyError:
            assert case["expected_error"]
            return
        choice = policy.choose(case["tags"], None)
        want = differs[1] if differs else case["expected"]
        assert choice.chosen == want, choice.reason
        if want is None:
            assert choice.reason
    elif kind == "filterTags":
        params = case["params"]
        spec = PolicySpec("alphabetical", tag_filter=params["pattern"] or None, extract=params["extract"] or None)
        choice = compile_spec(spec).choose(case["tags"], None)
        if params["pattern"] and params["extract"]:
            pattern = compile_pattern(params["pattern"], "tag-filter")
            template = Template.compile(params["extract"], pattern)
            # Flux keeps one tag per extracted value (a map); we keep every tag and rank by the value.
            got = sorted({template.expand(pattern.search(t)) for t in choice.candidates})
        else:
            got = sorted(choice.candidates)
        assert got == case["expected"]
    elif kind == "parse_tag":
        try:
            Version.parse(case["tags"][0])
            ok = True
        except SemverError:
            ok = False
        assert ok is (differs[1] if differs else case["expected"])
    elif kind == "sort":
        choice = compile_spec(PolicySpec(f"semver:{case['params']['range']}")).choose(case["tags"], None)
        assert list(choice.candidates) == (differs[1] if differs else case["expected"])
    elif kind == "exclusionList":
        patterns = case["params"]["exclusionList"]
        spec = PolicySpec("alphabetical", exclude="|".join(patterns) if patterns else None)
        choice = compile_spec(spec).choose(case["tags"], None)
        assert sorted(choice.candidates) == sorted(differs[1] if differs else case["expected"])
    else:
        pytest.fail(f"unknown vector kind {kind}")


def test_every_difference_is_used() -> None:
    """A by-design difference that matches no vector is stale and must go."""
    used = {
        key for case in _data()["cases"] for key in [(case["kind"], (case["tags"][0] if case["kind"] == "parse_tag" else case["source"].get("label") or ""))] if key in BY_DESIGN
    }
    assert used == set(BY_DESIGN)


def test_differences_are_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "policies.md").read_text()
    for why, _ in BY_DESIGN.values():
        assert why in doc, why
