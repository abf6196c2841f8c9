"""Policies, table-driven: every rule of issue 3 with the current tag known and unknown."""

from __future__ import annotations

import pytest

from imagebot.errors import PolicyError
from imagebot.model import PolicySpec
from imagebot.policy import Choice, Rejected, compile_spec


def choose(policy: str, tags: list[str], current: str | None = None, **options: object) -> Choice:
    return compile_spec(PolicySpec(policy, **options)).choose(tags, current)  # type: ignore[arg-type]


def reason_of(choice: Choice, tag: str) -> str:
    return next(r.reason for r in choice.rejected if r.tag == tag)


# (policy, current, tags, chosen)
VARIANTS = [
    ("semver:^1", "1.25.3-alpine", ["1.25.3-alpine", "1.27.1-alpine", "1.27.1", "1.28.0-bookworm", "2.0.0-alpine"], "1.27.1-alpine"),
    ("semver:^1", "1.25.3", ["1.25.3", "1.27.1-alpine", "1.26.0", "1.28.0-bookworm"], "1.26.0"),
    ("minor", "3.11.4-slim-bookworm", ["3.11.9-slim-bookworm", "3.12.1-slim-bookworm", "3.12.1-slim", "4.0.0-slim-bookworm"], "3.12.1-slim-bookworm"),
    ("patch", "17.0.2-jdk17", ["17.0.9-jdk17", "17.0.9-jdk21", "17.1.0-jdk17"], "17.0.9-jdk17"),
    ("major", "1.25-alpine", ["1.27-alpine", "1.27.1-alpine", "2.0-alpine", "2.1"], "2.0-alpine"),
]
PRECISION = [
    ("semver:*", "1.25", ["1.25", "1.27", "1.27.1", "1.26.9"], "1.27"),
    ("major", "3", ["3", "4", "4.1", "4.1.0"], "4"),
    ("minor", "20.04", ["20.04", "20.10", "22.04", "20.10.1"], "20.10"),
    ("semver:>=1.0.0", "1.2.3.4", ["1.2.3.5", "1.2.4", "1.3.0.0"], "1.3.0.0"),
    ("semver:*", "1.2.3", ["1.2.3", "1.3", "1.2.4"], "1.2.4"),
]
PRERELEASE_TRACKS = [
    ("semver:*", "2.0.0-rc.2", ["2.0.0-rc.1", "2.0.0-rc.2", "2.0.0-rc.10", "2.1.0-rc.1", "1.9.0"], "2.0.0-rc.10"),
    ("semver:*", "2.0.0-rc.2", ["2.0.0-rc.10", "2.0.0"], "2.0.0"),
    ("semver:*", "2.0.0-beta2", ["2.0.0-beta10", "2.0.0-beta9"], "2.0.0-beta10"),
    ("semver:*", "2.0.0-beta.3", ["2.0.0-rc.1", "2.0.0-alpha.9"], "2.0.0-rc.1"),
    ("minor", "1.4.0", ["1.5.0-rc.1", "1.4.1"], "1.4.1"),
    ("patch", "1.4.0-rc.1", ["1.4.0-rc.2", "1.4.1-rc.1"], "1.4.0-rc.2"),
]
NEVER_VERSIONS = [
    ("semver:*", "1.0.0", ["1.0.0", "latest", "main", "stable", "a1b2c3d", "deadbeefcafe"], "1.0.0"),
    ("major", "1", ["1", "1234567"], "1234567"),  # all digits: a version, not a hash
    ("semver:*", None, ["0.1.0", "latest", "0a1b2c3"], "0.1.0"),
]
NEVER_DOWNGRADE = [
    ("semver:^1", "1.5.0", ["1.0.0", "1.4.9", "0.9.0"], "1.5.0"),
    ("semver:~1.2", "1.5.0", ["1.2.9", "1.2.0"], "1.5.0"),  # current outside the range: stay
    ("semver:<2", "2.3.0", ["1.9.0"], "2.3.0"),
    ("numerical", "30", ["10", "20", "29"], "30"),
    ("numerical:desc", "10", ["11", "20"], "10"),
    ("alphabetical", "focal", ["bionic", "artful"], "focal"),
    ("alphabetical:desc", "b", ["c", "d"], "b"),
    ("minor", "1.5.0", ["1.4.0", "2.0.0"], "1.5.0"),
]
TIES = [
    ("semver:>=1.0.0", "v1.2.0", ["1.3.0", "v1.3.0", "1.2.0"], "v1.3.0"),
    ("semver:>=1.0.0", "1.2.0", ["v1.3.0", "1.3.0"], "1.3.0"),
    ("semver:>=1.0.0", "1.3.0", ["v1.3.0"], "1.3.0"),  # an equal version is not an update
    ("semver:>=1.0.0", "v1.3.0", ["1.3.0", "v1.3.0"], "v1.3.0"),
]
EXTRACT = [
    ("numerical", None, ["main-100-abc", "main-99-def", "pr-500-x"], "main-100-abc", dict(tag_filter=r"^main-(?P<n>\d+)-", extract="$n")),
    ("numerical", "main-99-def", ["main-100-abc", "main-98"], "main-100-abc", dict(tag_filter=r"^main-(\d+)", extract="$1")),
    ("semver:^1", None, ["app-1.2.0", "app-1.10.0", "app-2.0.0", "1.11.0"], "app-1.10.0", dict(tag_filter=r"^app-(.*)", extract="${1}")),
    ("alphabetical", None, ["build-2024-01-05", "build-2023-12-31"], "build-2024-01-05", dict(tag_filter=r"build-(?P<date>.+)", extract="${date}")),
    ("semver:*", "v1.0.0-debug", ["v1.1.0", "v1.2.0-debug"], "v1.2.0-debug", dict(tag_filter=r"-debug$")),
    ("semver:*", None, ["v1.1.0", "v1.2.0-debug"], None, dict(tag_filter=r"-debug$")),  # Masterminds: a prerelease
]
WITHOUT_CURRENT = [
    ("semver:^1.0", None, ["1.0.0", "1.5.0", "2.0.0", "1.6.0-rc.1"], "1.5.0"),
    ("semver:^1.0", None, ["1.0.0", "1.6.0-rc.1"], "1.0.0"),
    ("semver:>=1.6.0-0", None, ["1.5.0", "1.6.0-rc.1"], "1.6.0-rc.1"),  # prerelease in the range
    ("semver:1.0.x", None, ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], "1.0.1"),
    ("semver:1.x", None, ["1.2", "1.10", "1.9.9"], "1.10"),  # Masterminds reads 1.10 as 1.10.0
    ("semver:*", None, ["1.25.3-alpine", "1.25.2"], "1.25.2"),  # Masterminds: -alpine is a prerelease
    ("alphabetical", None, ["16.04", "20.10", "20.04"], "20.10"),
    ("numerical", None, ["1", "10", "9", "x"], "10"),
    ("numerical", None, ["1e3", "999", "-5"], "1e3"),
]


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), VARIANTS, ids=lambda v: str(v)[:30])
def test_variants_must_match(policy: str, current: str, tags: list[str], chosen: str) -> None:
    assert choose(policy, tags, current).chosen == chosen


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), PRECISION, ids=lambda v: str(v)[:30])
def test_precision_is_kept(policy: str, current: str, tags: list[str], chosen: str) -> None:
    assert choose(policy, tags, current).chosen == chosen


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), PRERELEASE_TRACKS, ids=lambda v: str(v)[:30])
def test_prerelease_tracks(policy: str, current: str, tags: list[str], chosen: str) -> None:
    assert choose(policy, tags, current).chosen == chosen


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), NEVER_VERSIONS, ids=lambda v: str(v)[:30])
def test_hashes_and_moving_names_are_never_versions(policy: str, current: str | None, tags: list[str], chosen: str) -> None:
    choice = choose(policy, tags, current)
    assert choice.chosen == chosen
    for r in choice.rejected:
        if r.tag in ("latest", "main", "stable"):
            assert "moving name" in r.reason
        elif not r.tag.isdigit() and r.tag.isalnum():
            assert "commit hash" in r.reason


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), NEVER_DOWNGRADE, ids=lambda v: str(v)[:30])
def test_never_downgrade(policy: str, current: str, tags: list[str], chosen: str) -> None:
    choice = choose(policy, tags, current)
    assert choice.chosen == current == chosen
    assert "nothing newer than" in choice.reason or "already the newest" in choice.reason


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), TIES, ids=lambda v: str(v)[:30])
def test_ties_keep_the_current_style(policy: str, current: str, tags: list[str], chosen: str) -> None:
    assert choose(policy, tags, current).chosen == chosen


@pytest.mark.parametrize(("policy", "current", "tags", "chosen", "options"), EXTRACT, ids=lambda v: str(v)[:30])
def test_tag_filter_and_extract_write_the_original_tag(
    policy: str, current: str | None, tags: list[str], chosen: str | None, options: dict
) -> None:
    choice = choose(policy, tags, current, **options)
    assert choice.chosen == chosen
    assert set(choice.candidates) <= set(tags)


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), WITHOUT_CURRENT, ids=lambda v: str(v)[:30])
def test_without_a_current_tag(policy: str, current: None, tags: list[str], chosen: str) -> None:
    assert choose(policy, tags, current).chosen == chosen


def test_prerelease_option_allows_prereleases() -> None:
    assert choose("semver:^1", ["1.5.0", "1.6.0-rc.1"], None, prerelease=True).chosen == "1.6.0-rc.1"
    assert choose("semver:^1", ["1.5.0", "1.6.0-rc.1"], "1.4.0", prerelease=True).chosen == "1.6.0-rc.1"
    assert choose("minor", ["1.5.0", "1.6.0-rc.1"], "1.4.0", prerelease=True).chosen == "1.6.0-rc.1"
    choice = choose("minor", ["1.6.0-rc.1"], "1.4.0")
    assert "set prerelease to allow" in reason_of(choice, "1.6.0-rc.1")


def test_choice_explains_every_tag() -> None:
    choice = choose("semver:^1.0", ["1.0.0", "1.5.0", "2.0.0", "x", "1.5.0", "a.sig"], "1.0.0")
    assert choice.chosen == "1.5.0"
    assert choice.candidates == ("1.5.0", "1.0.0")
    assert [r.tag for r in choice.rejected] == ["2.0.0", "x", "a.sig"]
    assert reason_of(choice, "2.0.0") == "2.0.0 does not have same major version as \"1.0\""
    assert "newer than 1.0.0" in choice.reason and "3 rejected" in choice.reason


def test_rejections_count_without_being_written_and_equal_the_written_list() -> None:
    """A cycle reads only the counts in the reason; --explain reads every line: both agree."""
    tags = ["1.0.0", "2.0.0", "x", "1.1.0-rc.1", "1.2-alpine", "0.9.0", "a.sig"]
    choice = choose("semver:^1", tags, "1.0.0")
    assert len(choice.rejected) == 6 and "6 rejected" in choice.reason
    written = tuple(choice.rejected)
    assert [r.tag for r in written] == ["2.0.0", "x", "1.1.0-rc.1", "1.2-alpine", "0.9.0", "a.sig"]
    assert choice.rejected == written and choice.rejected[1] == written[1]
    assert reason_of(choice, "0.9.0") == "older than the current tag 1.0.0 (never downgrade)"
    assert reason_of(choice, "1.2-alpine") == "variant 'alpine' differs from the current '(none)'"
    assert "set prerelease to allow" in reason_of(choice, "1.1.0-rc.1")


def test_the_same_tag_filter_with_another_extract_ranks_other_text() -> None:
    """Filter outcomes are remembered across decisions per (tag-filter, exclude, extract)."""
    tags = ["1-zeta", "2-alpha", "3-beta"]
    by_number = choose("alphabetical", tags, tag_filter=r"^(\d+)-(\w+)$", extract="$1")
    by_name = choose("alphabetical", tags, tag_filter=r"^(\d+)-(\w+)$", extract="$2")
    unextracted = choose("alphabetical", tags, tag_filter=r"^(\d+)-(\w+)$")
    assert (by_number.chosen, by_name.chosen, unextracted.chosen) == ("3-beta", "1-zeta", "3-beta")
    again = choose("alphabetical", [*tags, "4-aaa"], tag_filter=r"^(\d+)-(\w+)$", extract="$2")
    assert again.chosen == "1-zeta" and again.candidates[-1] == "4-aaa"


def test_nothing_qualifies() -> None:
    choice = choose("semver:^3", ["1.0.0", "2.0.0"])
    assert choice.chosen is None and choice.candidates == ()
    assert "no tag is allowed by semver:^3" in choice.reason and "2 outside range" in choice.reason
    empty = choose("semver:^3", [])
    assert empty.chosen is None and "no tags to choose from" in empty.reason


def test_relative_policies_need_a_current_version() -> None:
    for policy in ("major", "minor", "patch"):
        assert choose(policy, ["1.0.0"]).chosen is None
        assert "relative to the current" in choose(policy, ["1.0.0"]).reason
    kept = choose("minor", ["1.0.0"], "latest")
    assert kept.chosen == "latest" and kept.held and "moving name" in kept.reason


@pytest.mark.parametrize("policy", ["semver:^1", "semver:*", "major", "numerical"])
@pytest.mark.parametrize("current", ["latest", "master", "rocm7", "server-cuda", "sha-e4eaba8", "proton-v2.3.2", "latest-build-441"])
def test_a_current_tag_that_cannot_be_ordered_is_held_not_replaced(policy: str, current: str) -> None:
    # Not a fall-back to a policy without a current tag: that took 1.2.0 over `master` and
    # v4.0.0 over `proton-v2.3.2` (a different line) without a word.
    choice = choose(policy, ["1.0.0", "1.2.0", "v4.0.0", current], current)
    assert choice.chosen == current and choice.held and choice.candidates == ()
    assert f"the current tag {current} " in choice.reason and "cannot be ordered" in choice.reason
    assert f"kept {current}" in choice.reason


def test_a_tag_filter_that_rules_out_a_moving_tag_is_the_explicit_way_off_it() -> None:
    choice = choose("semver:^1", ["1.0.0", "1.2.0", "latest"], "latest", tag_filter=r"^\d+\.\d+\.\d+$")
    assert choice.chosen == "1.2.0" and not choice.held
    assert "current tag 'latest' is filtered out" in choice.reason


def test_a_filtered_out_current_tag_with_nothing_else_allowed_is_held() -> None:
    choice = choose("semver:*", ["latest", "nightly"], "latest", tag_filter=r"^\d+\.\d+\.\d+$")
    assert choice.chosen == "latest" and choice.held and "keeping latest" in choice.reason


def test_a_filtered_out_current_version_is_still_a_floor() -> None:
    plain = r"^\d+\.\d+\.\d+$"  # rules out the current 2.0.0-bookworm: the user moves it to plain tags
    choice = choose("semver:*", ["1.0.0", "1.5.0", "3.0.0"], "2.0.0-bookworm", tag_filter=plain)
    assert choice.chosen == "3.0.0"
    rejected = {r.tag: r.reason for r in choice.rejected}
    assert "never downgrade" in rejected["1.5.0"] and "never downgrade" in rejected["1.0.0"]
    assert choose("semver:*", ["1.5.0"], "2.0.0-bookworm", tag_filter=plain).chosen == "2.0.0-bookworm"


def test_digest_policy_keeps_the_current_tag() -> None:
    policy = compile_spec(PolicySpec("digest"))
    assert policy.needs_digest
    choice = policy.choose(["1.0", "2.0"], "1.0")
    assert choice.chosen == "1.0" and choice.candidates == ("1.0",)
    assert choice.rejected == (Rejected("2.0", "the digest policy keeps the current tag 1.0"),)
    assert policy.choose(["2.0"], "1.0").chosen is None
    assert policy.choose(["2.0"], None).chosen is None


def test_pin_digest_asks_for_the_digest() -> None:
    assert compile_spec(PolicySpec("semver:^1", pin_digest=True)).needs_digest
    assert not compile_spec(PolicySpec("semver:^1")).needs_digest


def test_cosign_artefacts_are_always_excluded() -> None:
    tags = ["sha256-" + "a" * 64 + ".sig", "sha256-" + "b" * 64 + ".att", "x.sbom", "zzz"]
    choice = choose("alphabetical", tags, None, exclude="^nothing$")
    assert choice.chosen == "zzz"
    assert all("cosign" in r.reason for r in choice.rejected)


def test_exclude() -> None:
    choice = choose("semver:*", ["1.0.0", "1.1.0-debug", "1.1.0"], "1.0.0", exclude="^1\\.1\\.0$")
    assert choice.chosen == "1.0.0"
    assert reason_of(choice, "1.1.0") == "matches exclude '^1\\.1\\.0$'"


def test_filtered_out_current_tag_is_not_compared() -> None:
    choice = choose("numerical", ["build-5", "build-7"], "old", tag_filter=r"^build-(\d+)$", extract="$1")
    assert choice.chosen == "build-7"
    assert "current tag 'old' is filtered out" in choice.reason


# (policy, options, message fragments)
BAD = [
    ("", {}, ["empty policy"]),
    ("semver:", {}, ["a constraint is needed after 'semver:'"]),
    ("semver:>= bar", {}, ["invalid semver constraint '>= bar'", "improper constraint: >= bar"]),
    ("semver:*-*", {}, ["invalid semver constraint '*-*'"]),
    ("semverr:^1", {}, ["unknown policy 'semverr:^1'"]),
    ("latest", {}, ["unknown policy 'latest'", "digest"]),
    ("alphabetical:up", {}, ["invalid order 'up'"]),
    ("minor:1", {}, ["'minor' takes no argument"]),
    ("digest:x", {}, ["'digest' takes no argument"]),
    ("digest", {"tag_filter": "x"}, ["tag-filter and extract do not apply"]),
    ("semver:*", {"tag_filter": "[="}, ["invalid tag-filter regular expression '[='", "position 2"]),
    ("semver:*", {"exclude": "(a"}, ["invalid exclude regular expression '(a'"]),
    ("semver:*", {"extract": "$1"}, ["needs a tag-filter"]),
    ("semver:*", {"tag_filter": "(a)", "extract": "$2"}, ["uses $2", "has 1 group(s)"]),
    ("semver:*", {"tag_filter": "(?P<v>a)", "extract": "${ver}"}, ["no group named 'ver'", "named groups: v"]),
    ("semver:*", {"tag_filter": "(a)", "extract": "v"}, ["uses no group"]),
]


@pytest.mark.parametrize(("policy", "options", "says"), BAD, ids=lambda v: str(v)[:30])
def test_bad_policies_point_at_the_bad_part(policy: str, options: dict, says: list[str]) -> None:
    with pytest.raises(PolicyError) as err:
        compile_spec(PolicySpec(policy, source="apps/web.yaml:7 annotation imagebot.io/policy", **options))
    for fragment in says:
        assert fragment in str(err.value)
    assert "apps/web.yaml:7" in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("policy", ["semver:^1.2", "SEMVER:^1", "major", "Minor", "patch", "alphabetical", "alphabetical:DESC", "numerical:asc", "digest", "semver: >=1.0, <2 || 3.x"])
def test_good_policies_compile(policy: str) -> None:
    compile_spec(PolicySpec(policy))


# (pattern, template, tag, expanded) — Go's Regexp.ExpandString semantics
TEMPLATES = [
    (r"(?P<a>x)(y)", "pre-$a-${2}$$-$1", "xy", "pre-x-y$-x"),
    (r"v(\d+)\.(\d+)", "$2", "v1.22", "22"),
    (r"v(\d+)(-rc)?", "$1${2}", "v7", "7"),  # a group that matched nothing expands to ""
    (r"(?P<n>\d+)", "${n}0", "12", "120"),
]


@pytest.mark.parametrize(("pattern", "template", "tag", "expanded"), TEMPLATES)
def test_extract_templates(pattern: str, template: str, tag: str, expanded: str) -> None:
    from imagebot.policy.filters import Template, compile_pattern

    compiled = compile_pattern(pattern, "tag-filter")
    match = compiled.search(tag)
    assert match is not None
    assert Template.compile(template, compiled).expand(match) == expanded


def test_go_template_names_take_the_longest_word() -> None:
    """`$1x` names the group "1x", as in Go, so it is refused rather than read as `${1}x`."""
    with pytest.raises(PolicyError, match="no group named '1x'"):
        compile_spec(PolicySpec("semver:*", tag_filter="(a)", extract="$1x"))


# Tags a person reads as versions, which the policy must order with the current tag: never a
# downgrade, never another variant. (policy, current, tags, chosen)
VERSION_LIKE = [
    # the case: dash-less prerelease with a variant; it was 3.12.7 (down, -slim dropped)
    ("semver:>=3.12 <3.14", "3.13.0rc2-slim", ["3.12.7-slim", "3.12.7", "3.13.0rc3-slim"], "3.13.0rc3-slim"),
    ("semver:>=3.12 <3.14", "3.13.0rc2-slim", ["3.12.7-slim", "3.12.7", "3.13.0rc3", "3.13.0-slim"], "3.13.0-slim"),
    ("semver:>=3.12 <3.14", "3.13.0rc2", ["3.12.7", "3.13.0rc10", "3.13.0rc3"], "3.13.0rc10"),
    ("semver:*", "3.13.0rc2", ["3.12.7", "3.13.0rc1", "3.14.0a1"], "3.13.0rc2"),  # other versions' prereleases need the option
    ("semver:*", "3.13.0rc2", ["3.14.0a1"], "3.13.0rc2"),
    ("semver:*", "1.0b1", ["0.9", "1.0a3", "1.0b2"], "1.0b2"),
    ("semver:*", "1.0b1", ["0.9", "1.0b2", "1.0"], "1.0"),
    ("semver:*", "2.0.0-rc.1-alpine", ["1.9.0-alpine", "2.0.0-rc.2-alpine", "2.0.0-rc.3"], "2.0.0-rc.2-alpine"),
    # four and more parts compare on every part
    ("semver:<=1.2.3", "1.2.2.0", ["1.2.3.9", "1.2.3.0", "1.2.2.5"], "1.2.3.0"),
    ("semver:<=1.2.3", "1.2.3.0", ["1.2.3.9"], "1.2.3.0"),
    ("semver:>1.2.3", "1.2.3.0", ["1.2.3.9", "1.2.2.9"], "1.2.3.9"),
    ("semver:~4.0", "4.0.19.3001", ["4.0.19.3000", "4.0.19.3002", "4.0.20.1", "4.1.0.1", "5.0.0.3041"], "4.0.20.1"),
    ("patch", "4.0.19.3001", ["4.0.19.3002", "4.0.20.3021", "4.1.0.3031"], "4.0.20.3021"),
    ("semver:*", "4.0.19.3001", ["4.0.19.300", "4.0.18.9999", "4.0.19"], "4.0.19.3001"),
    ("semver:*", "1.2.3.4.5", ["1.2.3.4.4", "1.2.3.4.6", "1.2.3.5"], "1.2.3.4.6"),
    # build suffixes and zero padding as the corpus has them: the rest is a variant
    ("semver:*", "2026.4.24-a7ac696b4", ["2026.4.23-0a1b2c3d4", "2027.1.1-9bcf3889f"], "2026.4.24-a7ac696b4"),
    ("semver:*", "2.86.01", ["2.86.00", "2.87.00", "3.00.00"], "3.00.00"),
]


def test_a_commit_hash_is_never_read_as_a_glued_prerelease() -> None:
    from imagebot.policy.tags import DockerTag

    for tag in ("1234a56", "12345b6", "0a1b2c3", "1a2b3c4d"):
        assert DockerTag.parse(tag) is None, tag
    assert choose("semver:*", ["1234a56", "1234b7f", "1235"], "1234").chosen == "1235"
    assert DockerTag.parse("1234a5") is not None  # 6 characters: too short for a hash


@pytest.mark.parametrize(("policy", "current", "tags", "chosen"), VERSION_LIKE)
def test_version_like_tags_are_ordered_with_the_current_tag(policy: str, current: str, tags: list[str], chosen: str) -> None:
    choice = choose(policy, tags, current)
    assert choice.chosen == chosen, choice.reason
    assert not choice.held


def test_the_hold_on_a_version_like_tag_says_what_is_newest() -> None:
    choice = choose("semver:<=1.2.3", ["1.2.3.9", "1.2.4"], "1.2.3.0")
    assert choice.chosen == "1.2.3.0" and "nothing newer than 1.2.3.0" in choice.reason
    assert "greater than" in reason_of(choice, "1.2.3.9")


def test_a_prefixed_version_is_followed_when_the_filter_says_where_the_version_is() -> None:
    rocm = choose("semver:*", ["7.0.0", "rocm-6.4.3", "rocm-7.0.0", "8.0.0"], "rocm-6.4.4",
                  tag_filter="^rocm-(?P<v>.+)$", extract="$v")
    assert rocm.chosen == "rocm-7.0.0" and not rocm.held
    build = choose("numerical", ["latest-build-440", "latest-build-541", "1.1.0"], "latest-build-441",
                   tag_filter="^latest-build-(?P<n>[0-9]+)$", extract="$n")
    assert build.chosen == "latest-build-541"
