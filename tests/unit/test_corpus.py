"""The real-world corpus (../shared/testdata/manifests): every reference is rewritable byte-exactly.

INDEX.json lists 91 image references in 42 files copied byte-for-byte from public repositories,
with positions computed by a different parser (PyYAML). For each reference we rewrite its value
(or each of its split fields) and compare with an oracle built from the INDEX alone: the
original bytes with just that token replaced. Files without a change must stay byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

import pytest

from imagebot.apply import edit_text, render
from imagebot.config.schema import NamedPolicy
from imagebot.discover import scan
from imagebot.model import Change, FieldKind, Location, Occurrence, PolicySpec
from tests.conftest import SHARED_TESTDATA, shared_path

pytestmark = pytest.mark.shared
_INDEX = SHARED_TESTDATA / "manifests" / "INDEX.json"
_QUOTE = {"plain": "", "double-quoted": '"', "single-quoted": "'"}


@cache
def index() -> dict[str, Any]:
    return json.loads(shared_path("manifests", "INDEX.json").read_text())


def _refs() -> list[tuple[str, int]]:
    """(file, ref number) for every reference; computed at collection (empty without ../shared)."""
    if not _INDEX.is_file():
        return []
    data = json.loads(_INDEX.read_text())
    return [(f["file"], i) for f in data["files"] for i in range(len(f["image_refs"]))]


def _fields(ref: dict[str, Any]) -> list[dict[str, Any]]:
    """The scalars of one reference: itself, or each of its split fields."""
    return list(ref["fields"].values()) if "fields" in ref else [ref]


def _new_value(value: str) -> str:
    """A different value of the same shape, chosen without imagebot code."""
    if value.startswith("sha256:") or value == "":
        return "sha256:" + ("f" * 64 if value != "sha256:" + "f" * 64 else "e" * 64)
    return value + "-next1"


def _change(file: str, ref: dict[str, Any], field: dict[str, Any]) -> Change:
    occ = Occurrence(
        location=Location(file, field["line"], field["column"]),
        document=ref["document"],
        field=FieldKind.TAG,
        value=field["value"],
        image="corpus",
        tag=None,
        digest=None,
        policy=PolicySpec("semver:*"),
        subject=f"{file} {ref['path']}",
    )
    return Change(occ, field["value"], _new_value(field["value"]), "", "", "corpus")


def _oracle(text: str, edits: list[dict[str, Any]]) -> bytes:
    """The original text with each (line, column) token replaced - from the INDEX alone."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    spans = []
    for f in edits:
        q = _QUOTE[f["style"]]
        old, new = q + f["value"] + q, q + _new_value(f["value"]) + q
        start = offsets[f["line"] - 1] + f["column"] - 1
        assert text[start : start + len(old)] == old, (f, text[start : start + len(old)])
        spans.append((start, start + len(old), new))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text.encode()


def _load(file: str, entry: dict[str, Any]) -> tuple[bytes, str]:
    data = shared_path("manifests", *file.split("/")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "the corpus file changed"
    return data, data.decode()


@pytest.mark.parametrize(("file", "number"), _refs())
def test_each_reference_rewrites_only_its_bytes(file: str, number: int):
    entry = next(f for f in index()["files"] if f["file"] == file)
    ref = entry["image_refs"][number]
    data, text = _load(file, entry)
    fields = _fields(ref)
    after = edit_text(data, [_change(file, ref, f) for f in fields])
    assert after == _oracle(text, fields)
    assert after != data


def test_the_corpus_has_91_references():
    assert sum(len(f["image_refs"]) for f in index()["files"]) == 91


def test_all_references_of_a_file_in_one_pass_and_other_files_untouched():
    root = shared_path("manifests")
    changes, oracles = [], {}
    for entry in index()["files"]:
        data, text = _load(entry["file"], entry)
        fields = [(ref, f) for ref in entry["image_refs"] for f in _fields(ref)]
        if entry["file"].endswith("redis/values.yaml"):
            continue  # leave one file with references unchanged: it must come out untouched
        changes += [_change(entry["file"], ref, f) for ref, f in fields]
        oracles[entry["file"]] = _oracle(text, [f for _, f in fields])
    rendered = render(root, changes)
    assert rendered.refused == ()
    assert {e.path: e.after for e in rendered.edits} == oracles
    assert edit_text((root / "bitnami/charts/bitnami/redis/values.yaml").read_bytes(), []) == (
        root / "bitnami/charts/bitnami/redis/values.yaml"
    ).read_bytes()


def test_scanning_the_corpus_without_policies_finds_nothing_to_do():
    """No workload has an imagebot policy; the Flux markers name policies the config lacks."""
    found = scan(shared_path("manifests"))
    assert found.occurrences == ()
    markers = {(e["file"], m["line"]) for e in index()["files"] for m in e["imagepolicy_markers"]}
    assert {(p.kind, p.location.file, p.location.line) for p in found.problems if p.location} == {
        ("marker", f, line) for f, line in markers
    }
    assert all("unknown policy 'flux-system:podinfo'" in p.message for p in found.problems)
    assert found.files_scanned == 42
    assert found.files_parsed == 1  # the text screen skips every file that mentions neither imagebot nor $imagepolicy


def test_kustomize_entries_are_found_by_config_policy_where_the_index_says():
    """Config policies for each kustomize image with a newTag: discover reports exactly the
    newTag/digest fields the INDEX lists (and the Flux-marked entry through its markers)."""
    policies: dict[str, NamedPolicy] = {}
    expected: set[tuple[str, int, int]] = set()
    for entry in index()["files"]:
        for ref in entry["image_refs"]:
            if ref["kind"] != "kustomize_images_entry" or "newTag" not in ref["fields"]:
                continue
            fields = ref["fields"]
            image = (fields.get("newName") or fields["name"])["value"]
            policies[f"p{len(policies)}"] = NamedPolicy(image=image, policy="semver:*")
            for key in ("newTag", "digest"):
                if key in fields:
                    expected.add((entry["file"], fields[key]["line"], fields[key]["column"]))
            if entry["imagepolicy_markers"]:  # the name field carries a :name marker
                expected.add((entry["file"], fields["newName"]["line"], fields["newName"]["column"]))
    for entry in index()["files"]:
        for marker in entry["imagepolicy_markers"]:
            policy = marker["policy"].rsplit(":", 1)[0] if marker["policy"].count(":") == 2 else marker["policy"]
            policies[policy] = NamedPolicy(image="ghcr.io/stefanprodan/podinfo", policy="semver:*")
    found = scan(shared_path("manifests"), policies=policies)
    assert found.problems == ()
    assert {(o.location.file, o.location.line, o.location.column) for o in found.occurrences} == expected
