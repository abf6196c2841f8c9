"""imagebot.policy.semver against every Masterminds/semver v3 vector (../shared masterminds_*.json)."""

from __future__ import annotations

import json
from functools import cache

import pytest

from imagebot.policy.semver import Constraints, SemverError, Version, parse_comparator
from tests.conftest import shared_path

pytestmark = pytest.mark.shared


@cache
def _load(name: str) -> dict:
    return json.loads(shared_path("peers", name).read_text())


def _rows(name: str, key: str) -> list:
    try:
        return _load(name)[key]
    except BaseException:  # collected without ../shared: one skipped placeholder
        return [pytest.param({}, marks=pytest.mark.skip(reason="../shared/testdata is absent"))]


def _id(row: dict) -> str:
    return " ".join(str(row.get(k, "")) for k in ("constraint", "version", "a", "b", "input"))[:60]


def _lenient(text: str) -> Version | None:
    try:
        return Version.parse(text)
    except SemverError:
        return None


@pytest.mark.parametrize("row", _rows("masterminds_versions.json", "versions"), ids=_id)
def test_version_parsing(row: dict) -> None:
    computed = row["computed_by_running_library"]
    got = _lenient(row["version"])
    want_ok = computed.get("valid_lenient", row["valid_lenient"])
    if want_ok is None:
        want_ok = "string" in computed
    assert (got is not None) is want_ok
    if got is not None and "string" in computed:
        assert str(got) == computed["string"]
        assert got.original == row["version"]
    strict_ok = computed.get("valid_strict", row.get("valid_strict"))
    if strict_ok is not None:
        try:
            Version.parse_strict(row["version"])
            ok = True
        except SemverError:
            ok = False
        assert ok is strict_ok


@pytest.mark.parametrize("row", _rows("masterminds_versions.json", "prerelease_validation"), ids=_id)
def test_prerelease_validation(row: dict) -> None:
    _check_validation(f"1.2.3-{row['input']}", row["error"])


@pytest.mark.parametrize("row", _rows("masterminds_versions.json", "metadata_validation"), ids=_id)
def test_metadata_validation(row: dict) -> None:
    _check_validation(f"1.2.3+{row['input']}", row["error"])


def _check_validation(text: str, error: str | None) -> None:
    messages = {
        "ErrSegmentStartsZero": "version segment starts with 0",
        "ErrInvalidPrerelease": "invalid prerelease string",
        "ErrInvalidMetadata": "invalid metadata string",
    }
    if error is None:
        Version.parse_strict(text)
        return
    with pytest.raises(SemverError, match=messages[error]):
        Version.parse_strict(text)


@pytest.mark.parametrize("row", _rows("masterminds_compare.json", "compare"), ids=_id)
def test_compare(row: dict) -> None:
    if row["a"] is None or row["b"] is None:  # Go's Equal on nil pointers: only nil equals nil
        assert (row["a"] is None and row["b"] is None) is row["expected"]
        return
    a, b = Version.parse(row["a"]), Version.parse(row["b"])
    if "cmp" in row:
        assert a.compare(b) == row["cmp"]
        return
    op = {
        "lt": lambda c: c < 0,
        "le": lambda c: c <= 0,
        "gt": lambda c: c > 0,
        "ge": lambda c: c >= 0,
        "eq": lambda c: c == 0,
    }[row["op"]]
    assert op(a.compare(b)) is row["expected"]


@pytest.mark.parametrize("row", _rows("masterminds_compare.json", "sort"), ids=_id)
def test_sort(row: dict) -> None:
    assert [str(v) for v in sorted(Version.parse(t) for t in row["input"])] == row["sorted_strings"]


@pytest.mark.parametrize("row", _rows("masterminds_compare.json", "increment"), ids=_id)
def test_increment(row: dict) -> None:
    v = Version.parse(row["version"])
    got = {"patch": v.next_patch, "minor": v.next_minor, "major": v.next_major}[row["how"]]()
    assert str(got) == row["expected_string"]
    assert got.original == row["expected_original"]


@pytest.mark.parametrize("row", _rows("masterminds_constraints.json", "checks"), ids=_id)
def test_constraint_check(row: dict) -> None:
    api = row["api"]
    if api.startswith("single-constraint"):
        comparator = parse_comparator(row["constraint"])
        v = Version.parse(row["version"])
        assert (comparator.check(v, bool(comparator.con.pre) or row["include_prerelease"]) is None) is row["expected"]
        return
    constraints = Constraints.parse(row["constraint"], include_prerelease=row["include_prerelease"])
    if "StrictNewVersion" in api:
        try:
            v = Version.parse_strict(row["version"])
        except SemverError as err:
            assert row["expected"] is False
            assert str(err) == row["validate_first_message"]
            return
    else:
        v = Version.parse(row["version"])
    if "Validate" in api:
        first = constraints.first_failure(v)
        assert (first is None) is row["expected"]
        if "validate_first_message" in row:
            assert first == row["validate_first_message"]
    else:
        assert constraints.check(v) is row["expected"]


@pytest.mark.parametrize("row", _rows("masterminds_constraints.json", "parse"), ids=_id)
def test_constraint_parse(row: dict) -> None:
    if row["api"] == "NewConstraint":
        if not row["valid"]:
            with pytest.raises(SemverError):
                Constraints.parse(row["constraint"])
            return
        c = Constraints.parse(row["constraint"])
        assert len(c.groups) == row["or_groups"]
        assert len(c.groups[0]) == row["and_count_in_first_group"]
        return
    if not row["valid"]:
        with pytest.raises(SemverError):
            parse_comparator(row["constraint"])
        return
    comparator = parse_comparator(row["constraint"])
    funcs = {
        "constraintGreaterThanEqual": (">=", "=>"),
        "constraintTildeOrEqual": ("", "="),
        "constraintLessThanEqual": ("<=", "=<"),
        "constraintGreaterThan": (">",),
        "constraintLessThan": ("<",),
    }
    assert comparator.op in funcs[row["operator_func"]]
    assert str(comparator.con) == row["normalized_version"]


@pytest.mark.parametrize("row", _rows("masterminds_constraints.json", "to_string"), ids=_id)
def test_constraint_string(row: dict) -> None:
    assert str(Constraints.parse(row["constraint"])) == row["string"]


@pytest.mark.parametrize("row", _rows("masterminds_constraints.json", "rewrite_range"), ids=_id)
def test_rewrite_range(row: dict) -> None:
    from imagebot.policy.semver import _rewrite_ranges

    assert _rewrite_ranges(row["input"]) == row["rewritten"]


@pytest.mark.parametrize("row", _rows("masterminds_constraints.json", "is_x"), ids=_id)
def test_wildcards(row: dict) -> None:
    c = parse_comparator(row["input"]) if row["is_wildcard"] else None
    if row["is_wildcard"]:
        assert c is not None and c.dirty and str(c.con) == "0.0.0"
    else:
        with pytest.raises(SemverError):
            parse_comparator(row["input"])
