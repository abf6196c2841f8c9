"""Policy decisions kept on disk (imagebot.decisions): a hit is the decision a miss makes, with
the same reason; what depends on the clock or on build times is never kept; a damaged, foreign or
other-code file costs decisions, never a wrong one; an entry that names a tag the list does not
have is decided again; only what a run used is written back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagebot import resolve as resolve_mod
from imagebot.decisions import KEPT_CANDIDATES, DecisionMemo, policy_key, tags_digest
from imagebot.model import FieldKind, Location, Occurrence, PolicySpec
from imagebot.policy import Choice
from imagebot.resolve import resolve

TAGS = ("1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0-rc.1", "latest")


class Source:
    """A registry stand-in for resolve: tags per image, every platform present."""

    def __init__(self, tags: dict[str, tuple[str, ...]]):
        self._tags = tags

    def tags(self, image: str):
        class Listing:
            tags = self._tags[image]
            stale_age = None
        return Listing()

    def digest(self, image: str, tag: str) -> str:
        return "sha256:" + "0" * 64

    def missing_platforms(self, image: str, tag: str) -> tuple[str, ...]:
        return ()


def occ(image: str, tag: str, policy: str, line: int = 1, **opts) -> Occurrence:
    ref = f"{image}:{tag}"
    return Occurrence(Location("apps/a.yaml", line, 10), 0, FieldKind.IMAGE, ref, image, tag, None,
                      PolicySpec(policy, source=f"apps/a.yaml:{line}", **opts), "Deployment/a container app")


def decide(tmp_path: Path, occurrences: list[Occurrence], tags=TAGS) -> tuple[list[tuple], DecisionMemo]:
    memo = DecisionMemo(tmp_path / "decisions.json")
    out = resolve(occurrences, Source({o.image: tags for o in occurrences}), workers=1, kept=memo)
    return [(r.target.tag if r.target else None, r.reason) for r in out], memo


OCCS = [occ("r.io/a", "1.0.0", "semver:^1.0", 1), occ("r.io/a", "1.0.0", "semver:^1.0", 2),
        occ("r.io/a", "1.1.0", "minor", 3), occ("r.io/b", "1.0.0", "semver:>=1.0", 4, prerelease=True),
        occ("r.io/b", "latest", "semver:^1.0", 5), occ("r.io/c", "1.0.0", "alphabetical", 6)]


def test_a_second_run_decides_nothing_and_gets_the_same_answers_and_reasons(tmp_path):
    first, memo = decide(tmp_path, OCCS)
    assert memo.hits == 0 and memo.misses > 0
    again, memo2 = decide(tmp_path, OCCS)
    assert again == first
    assert memo2.misses == 0 and memo2.hits == memo.misses
    assert first[0] == ("1.2.0", first[0][1]) and "1.2.0" in first[0][1]


def test_another_tag_list_is_decided_afresh(tmp_path):
    decide(tmp_path, OCCS)
    more = TAGS + ("1.3.0",)
    answers, memo = decide(tmp_path, OCCS, tags=more)
    assert memo.hits == 0
    assert answers[0][0] == "1.3.0"


def test_decisions_that_depend_on_the_clock_are_never_kept():
    assert policy_key(PolicySpec("semver:^1.0", min_age="1h")) is None
    assert policy_key(PolicySpec("semver:^1.0")) is not None
    assert policy_key(PolicySpec("semver:^1.0", source="x")) == policy_key(PolicySpec("semver:^1.0", source="y"))
    assert policy_key(PolicySpec("semver:^1.0", tag_filter="^1")) != policy_key(PolicySpec("semver:^1.0"))


def test_a_decision_a_pattern_timed_out_on_is_not_kept(tmp_path):
    memo = DecisionMemo(tmp_path / "d.json")
    memo.put("r.io/a", tags_digest(TAGS), "k", "1.0.0", Choice("1.0.0", "1 rejected", timed_out=True))
    memo.put("r.io/b", tags_digest(TAGS), "k", "1.0.0", Choice("1.0.0", "a reason that mentions 'timed out'"))
    memo.save()
    again = DecisionMemo(tmp_path / "d.json")
    assert again.get("r.io/a", set(TAGS), tags_digest(TAGS), "k", "1.0.0") is None  # what the policy says counts
    assert again.get("r.io/b", set(TAGS), tags_digest(TAGS), "k", "1.0.0") is not None  # not the reason's words


def kept_file(tmp_path: Path) -> Path:
    decide(tmp_path, OCCS)
    return tmp_path / "decisions.json"


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[:40]),  # truncated
    lambda p: p.write_text('{"tool": "someone-else"}'),  # foreign
    lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "format": 99})),  # another format
    lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "code": "0" * 64})),  # another imagebot
    lambda p: p.write_text("[" * 100_000),  # nested beyond any parser's depth
])
def test_a_damaged_or_foreign_file_is_ignored_and_rewritten(tmp_path, damage):
    path = kept_file(tmp_path)
    first, _ = decide(tmp_path, OCCS)
    damage(path)
    again, memo = decide(tmp_path, OCCS)
    assert again == first and memo.hits == 0
    assert json.loads(path.read_text())["tool"] == "imagebot"  # rewritten
    _, memo = decide(tmp_path, OCCS)
    assert memo.misses == 0


def test_an_entry_naming_a_tag_the_list_does_not_have_is_decided_again(tmp_path):
    path = kept_file(tmp_path)
    first, _ = decide(tmp_path, OCCS)
    data = json.loads(path.read_text())
    for entry in data["images"].values():
        for raw in entry["decisions"].values():
            if raw[0] is not None:
                raw[0] = "9.9.9"  # a tag no listing has: a forged or stale entry
            raw[2] = ["9.9.9"] + raw[2]
    path.write_text(json.dumps(data))
    again, memo = decide(tmp_path, OCCS)
    assert again == first
    assert memo.hits == 0


@pytest.mark.parametrize("raw", [None, "x", [1, 2, 3], ["1.2.0", 5, [], False], ["1.2.0", "why", "notalist", False],
                                 ["1.2.0", "why", [], "no"], ["1.2.0", "why", [3], False],
                                 ["1.2.0", "why", [["1.0.0"]], False], ["1.2.0", "why", [{}], False], [3, "why", [], False],
                                 [["1.2.0"], "why", [], False], ["1.2.0", "why", ["1.0.0", None], False]])
def test_entries_of_the_wrong_shape_are_decided_again(tmp_path, raw):
    memo = DecisionMemo(tmp_path / "d.json")
    memo.put("r.io/a", tags_digest(TAGS), "k", "1.0.0", Choice("1.2.0", "why"))
    memo.save()
    data = json.loads((tmp_path / "d.json").read_text())
    data["images"]["r.io/a"]["decisions"] = {k: raw for k in data["images"]["r.io/a"]["decisions"]}
    (tmp_path / "d.json").write_text(json.dumps(data))
    assert DecisionMemo(tmp_path / "d.json").get("r.io/a", set(TAGS), tags_digest(TAGS), "k", "1.0.0") is None


def test_only_what_a_run_used_is_written_back(tmp_path):
    decide(tmp_path, OCCS)
    decide(tmp_path, OCCS[:1])
    data = json.loads((tmp_path / "decisions.json").read_text())
    assert set(data["images"]) == {"r.io/a"} and len(data["images"]["r.io/a"]["decisions"]) == 1


def test_nothing_is_written_when_nothing_changed(tmp_path):
    path = kept_file(tmp_path)
    before = path.stat().st_mtime_ns, path.stat().st_ino
    decide(tmp_path, OCCS)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_the_kept_candidates_cover_every_fallback_resolve_looks_at():
    assert resolve_mod.PLATFORM_FALLBACKS < KEPT_CANDIDATES
    assert resolve_mod.MIN_AGE_FALLBACKS < KEPT_CANDIDATES


def test_an_unwritable_place_costs_speed_not_the_cycle(tmp_path):
    (tmp_path / "ro").write_text("a file where a folder should be")
    memo = DecisionMemo(tmp_path / "ro" / "decisions.json")
    out = resolve(OCCS, Source({o.image: TAGS for o in OCCS}), workers=1, kept=memo)
    assert out[0].target.tag == "1.2.0"


def test_a_policy_that_reads_build_times_is_decided_every_time(tmp_path):
    from datetime import UTC, datetime

    class Built(Source):
        def created(self, image: str, tag: str):
            return datetime(2026, 1, 1 + TAGS.index(tag), tzinfo=UTC)

    occurrences = [occ("r.io/a", "1.0.0", "newest-build", 1)]
    memo = DecisionMemo(tmp_path / "decisions.json")
    out = resolve(occurrences, Built({"r.io/a": TAGS}), workers=1, kept=memo)
    assert out[0].target.tag == "latest"  # built last
    assert memo.hits == memo.misses == 0  # never asked: build times are not an input the key holds
    assert not (tmp_path / "decisions.json").exists() or not json.loads(
        (tmp_path / "decisions.json").read_text())["images"]
