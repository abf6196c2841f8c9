"""imagebot.reference against every vector of distribution/reference (../shared docker_reference.json)."""

from __future__ import annotations

import fnmatch
import json
from functools import cache

import pytest

from imagebot import reference
from imagebot.errors import ReferenceError_
from tests.conftest import shared_path

pytestmark = pytest.mark.shared


@cache
def _vectors() -> dict:
    return json.loads(shared_path("peers", "docker_reference.json").read_text())


def _cases(api: str) -> list[dict]:
    try:
        data = _vectors()
    except BaseException:  # collected without ../shared: one skipped placeholder
        return [pytest.param({}, marks=pytest.mark.skip(reason="../shared/testdata is absent"))]
    return [c for c in data["cases"] if c["api"] == api]


def _computed() -> list:
    try:
        data = _vectors()
    except BaseException:
        return [pytest.param("", {}, marks=pytest.mark.skip(reason="../shared/testdata is absent"))]
    return list(data["computed_by_input"].items())


def _parse_any(text: str) -> reference.Reference | str:
    """distribution/reference ParseAnyReference: a bare digest, or a normalised name."""
    if reference.IDENTIFIER_RE.fullmatch(text):  # a bare 64-hex image id
        return "sha256:" + text
    try:
        return reference.validate_digest(text)
    except ReferenceError_:
        return reference.parse(text)


def _docker_ref(text: str) -> reference.Reference:
    """ParseDockerRef: the digest wins over the tag; no tag and no digest means `latest`."""
    ref = reference.parse(text)
    if ref.digest:
        return reference.Reference(ref.registry, ref.repository, None, ref.digest)
    return reference.Reference(ref.registry, ref.repository, ref.tag or "latest", None)


def _assert_same(got: reference.Reference, want: dict, *, normalized: bool) -> None:
    assert got.name == want["name"]
    assert got.repository == want["path"]
    assert got.registry == want.get("domain", "")
    assert (got.tag or "") == want.get("tag", "")
    assert (got.digest or "") == want.get("digest", "")
    assert str(got) == want["string"]
    assert got.familiar_name == want["familiar_name"]
    assert got.familiar() == want["familiar_string"]


@pytest.mark.parametrize(("text", "results"), _computed(), ids=lambda v: repr(v)[:60] if isinstance(v, str) else "")
def test_every_input_like_the_go_library(text: str, results: dict) -> None:
    for api, parse in (
        ("Parse", lambda t: reference.parse(t, normalize=False)),
        ("ParseNormalizedNamed", reference.parse),
        ("ParseDockerRef", _docker_ref),
        ("ParseAnyReference", _parse_any),
    ):
        want = results[api]
        if not want["ok"]:
            with pytest.raises(ReferenceError_) as err:
                parse(text)
            assert want["error"] in str(err.value), api
            assert repr(text[:64]) in str(err.value) or repr(text) in str(err.value)
            continue
        got = parse(text)
        if want["kind"] == "digestReference":
            assert got == want["string"]
            continue
        if api == "Parse":  # names as written have no registry to strip: familiar == as written
            assert got.name == want["name"] and str(got) == want["string"]
            assert got.repository == want["path"] and got.registry == want.get("domain", "")
            continue
        _assert_same(got, want, normalized=True)


@pytest.mark.parametrize("case", _cases("Parse") + _cases("Field.UnmarshalText (Parse)"), ids=lambda c: c.get("input", ""))
def test_parse_as_written(case: dict) -> None:
    if not case["valid"]:
        with pytest.raises(ReferenceError_):
            reference.parse(case["input"], normalize=False)
        return
    got = reference.parse(case["input"], normalize=False)
    want = case["expected"]
    if "string" in want:
        assert str(got) == want["string"]
    assert got.name == want["name"]
    if want.get("domain"):
        assert got.registry == want["domain"]
    assert (got.tag or "") == want["tag"]
    assert (got.digest or "") == want["digest"]


@pytest.mark.parametrize("case", _cases("ParseNormalizedNamed"), ids=lambda c: c.get("input", ""))
def test_parse_normalized(case: dict) -> None:
    if not case["valid"]:
        with pytest.raises(ReferenceError_):
            reference.parse(case["input"])
        return
    got = reference.parse(case["input"])
    want = case.get("expected") or {}
    for key, value in want.items():
        actual = {
            "domain": got.registry,
            "path": got.repository,
            "full_name": got.name,
            "familiar_name": got.familiar_name,
            "string": str(got),
            "familiar_string": got.familiar(),
            "tag": got.tag or "",
            "digest": got.digest or "",
        }[key]
        assert actual == value, key


@pytest.mark.parametrize("case", _cases("ParseNamed"), ids=lambda c: c.get("input", ""))
def test_parse_named_requires_the_canonical_form(case: dict) -> None:
    """ParseNamed accepts only the fully normalised form: parse(text) must print back as text."""
    got = reference.parse(case["input"])
    assert (str(got) == case["input"]) is case["valid"]
    if case["valid"]:
        assert (got.registry, got.repository) == (case["expected"]["domain"], case["expected"]["path"])


@pytest.mark.parametrize("case", _cases("WithName"), ids=lambda c: c.get("input", "")[:40])
def test_parse_name(case: dict) -> None:
    if not case["valid"]:
        with pytest.raises(ReferenceError_):
            ref = reference.parse(case["input"], normalize=False)
            if ref.tag or ref.digest:
                raise ReferenceError_("not a name")
        return
    got = reference.parse(case["input"], normalize=False)
    assert (got.registry, got.repository) == (case["expected"]["domain"], case["expected"]["path"])
    reference.parse_name(case["input"])


@pytest.mark.parametrize("case", _cases("WithTag") + _cases("WithDigest"), ids=lambda c: str(c.get("input", ""))[:40])
def test_with_tag_and_digest(case: dict) -> None:
    inp = case["input"]
    tag = inp.get("tag") or None
    digest = inp.get("digest") or None
    if not case["valid"]:
        with pytest.raises(ReferenceError_):
            reference.with_tag(inp["name"], tag, digest)
        return
    assert reference.with_tag(inp["name"], tag, digest) == case["expected"]["string"]


@pytest.mark.parametrize("case", _cases("ParseAnyReference"), ids=lambda c: c.get("input", ""))
def test_parse_any(case: dict) -> None:
    got = _parse_any(case["input"])
    assert str(got) == case["expected"]["string"]


@pytest.mark.parametrize("case", _cases("ParseDockerRef"), ids=lambda c: c.get("input", ""))
def test_parse_docker_ref(case: dict) -> None:
    assert str(_docker_ref(case["input"])) == case["expected"]["string"]


def _path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: `*` never crosses `/` (fnmatch's does, so match segment by segment)."""
    pat, parts = pattern.split("/"), name.split("/")
    return len(pat) == len(parts) and all(fnmatch.fnmatchcase(n, p) for p, n in zip(pat, parts, strict=True))


@pytest.mark.parametrize("case", _cases("FamiliarMatch(pattern, ParseAnyReference(input))"), ids=lambda c: c.get("pattern", ""))
def test_familiar_match(case: dict) -> None:
    ref = _parse_any(case["input"])
    assert isinstance(ref, reference.Reference)
    matched = _path_match(case["pattern"], ref.familiar()) or _path_match(case["pattern"], ref.familiar_name)
    assert matched is case["expected"]["match"]


_REGEXES = {
    "regexp:^domainAndPort$": reference.DOMAIN_AND_PORT_RE,
    "regexp:anchoredNameRegexp (subs: domain, path)": reference.NAME_RE,
    "regexp:referenceRegexp (subs: name, tag, digest)": reference.REFERENCE_RE,
    "regexp:anchoredIdentifierRegexp (64 lowercase hex)": reference.IDENTIFIER_RE,
}


@pytest.mark.parametrize("case", [c for api in _REGEXES for c in _cases(api)], ids=lambda c: c.get("input", "")[:40])
def test_grammar(case: dict) -> None:
    m = _REGEXES[case["api"]].fullmatch(case["input"])
    assert (m is not None) is case["valid"]
    subs = (case.get("expected") or {}).get("subs")
    if m is not None and subs is not None:
        assert [g or "" for g in m.groups()] == subs
