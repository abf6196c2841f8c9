"""The real home-ops / app-template corpus, value by value: every reference of EXPECTED.json.

For each reference the corpus file is read as it is, a named marker is added after the
version field (the files carry none; corpus README step 5), and the real discover -> resolve
-> plan -> apply path runs over the tags registry.json serves for that repository (HTTP Helm
charts: the versions of their index.yaml). Only the registry is in memory here, with one
made-up digest per (repository, tag); tests/integration/test_realworld_tag_digest.py does the
same for a few files through the CLI and a real docker-registry.

Run per reference, and once per file with every reference marked (one config for the whole
corpus). Asserted per reference: the file after the run equals the file with exactly the field of
`write` replaced (quoting kept, `{digest}` = the registry's digest of the new tag) and every
other byte identical; or, for an expected `null`, the file unchanged. Counted over the corpus
and asserted to be 0: pins dropped, downgrades, variant switches.

Choices for the ambiguous references (EXPECTED.json allows two answers; we assert ours):
- a tag that cannot be ordered (``master``, ``rocm7``, ``edge``, ``server-cuda``,
  ``sha-e4eaba8``, ``latest-build-441``, ``proton-v2.3.2``, ``rocm-6.4.4``) is held: the tag
  and its pin stay exactly as written (refreshing the pin is the ``digest`` policy's job);
- ``4.5.3-4.8.2-distroless``, ``2026.4.24-a7ac696b4``, ``0.0.1-25011901255-SNAPSHOT``: the rest
  after the version is the variant, which must be equal: nothing newer, they stay;
- ``0.7.0-beta.3``: prereleases of the current version only (the track): ``0.7.0-rc.1``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from imagebot.apply import edit_text
from imagebot.config.schema import NamedPolicy
from imagebot.discover import charts, scan_file
from imagebot.plan import build
from imagebot.policy.tags import DockerTag
from imagebot.reference import TagValue, parse
from imagebot.resolve import resolve
from tests.conftest import shared_path
from tests.support.memory_tags import InMemoryTags, made_up_digest

#: The field that carries the version, per reference kind of INDEX.json.
VERSION_FIELD = {
    "split_fields": "tag",
    "full_ref": "image",
    "oci_chart_ref_tag": "ref.tag",
    "oci_artifact_ref_tag": "ref.tag",
    "helmrelease_chart_version_oci": "version",
    "helmrelease_chart_version_http": "version",
    "kustomize_images_entry": "newTag",
    "oci_chart_ref_semver": "ref.semver",  # a range, not a tag: nothing for a policy to move
}
#: Our answer for each reference EXPECTED.json marks as ambiguous in its tag ("stays" = None).
AMBIGUOUS_CHOICE = {
    "latest-build-441": None, "latest-build-377": None, "latest-build-530": None, "latest-build-1433": None,
    "proton-v2.3.2": None, "rocm-6.4.4": None, "4.5.3-4.8.2-distroless": None, "2026.4.24-a7ac696b4": None,
    "0.0.1-25011901255-SNAPSHOT": None, "0.7.0-beta.3": "0.7.0-rc.1",
}


@cache
def corpus() -> tuple[Path, dict, dict, dict]:
    root = shared_path("realworld")
    index = json.loads((root / "INDEX.json").read_text())
    refs = {r["id"]: r for f in index["files"] for r in f["image_refs"]}
    return root, refs, json.loads((root / "EXPECTED.json").read_text()), json.loads((root / "registry.json").read_text())


def _image_and_tags(ref: dict, registry: dict) -> tuple[str, tuple[str, ...]]:
    """The name imagebot looks tags up under, and the tags served for it."""
    parsed = ref["parsed"]
    if ref["kind"] == "helmrelease_chart_version_http":
        url = parsed["helm_repository"]["url"]
        versions = registry["http_helm_repositories"][url]["charts"][parsed["chart"]]["versions"]
        # An HTTP chart is named by its repository's URL and the chart (imagebot.discover.charts).
        return f"{url.rstrip('/')}/{parsed['chart']}", tuple(versions)
    key = parsed.get("name_normalized") or parse(parsed["name"]).name
    return parse(key).name, tuple(registry["repositories"][key]["tags"])


def _cases() -> list[str]:
    try:
        expected = corpus()[2]
    except pytest.skip.Exception:
        return ["corpus-absent"]
    return [e["id"] for e in expected["references"]]


def _quoted(raw: str, value: str) -> str:
    if raw.startswith('"'):
        return f'"{value}"'
    if raw.startswith("'"):
        return f"'{value}'"
    return value


@dataclass(frozen=True)
class Run:
    """One run over one corpus file with a marker on every reference of `ids`."""

    lines_before: list[str]
    lines_after: list[str]  # markers taken out again
    values: dict[str, tuple[str | None, str | None]]  # id -> version field's value before, after
    reasons: dict[str, str]


def _no_tag(ref: dict) -> bool:
    return ref["fields"].get(VERSION_FIELD[ref["kind"]]) is None or bool(ref["parsed"].get("version_is_range")) \
        or ref["kind"] == "oci_chart_ref_semver"


def run_file(rel: str, ids: list[str]) -> Run:
    """Mark each reference (named policy p<i>, semver:*), then discover, resolve, plan and apply
    once over the file, as one config would."""
    root, refs, _, registry = corpus()
    lines = (root / "files" / rel).read_text().split("\n")
    marked = list(lines)
    policies: dict[str, NamedPolicy] = {}
    tag_lists: dict[str, tuple[str, ...]] = {}
    fields: dict[str, dict] = {}
    for i, ref_id in enumerate(ids):
        ref = refs[ref_id]
        if _no_tag(ref):
            continue
        field = fields[ref_id] = ref["fields"][VERSION_FIELD[ref["kind"]]]
        image, tag_lists[image] = _image_and_tags(ref, registry)
        policies[f"p{i}"] = NamedPolicy(image=image, policy="semver:*")
        marker = f'{{"$imagebot": "p{i}"}}' if ref["kind"] == "full_ref" else f'{{"$imagebot": "p{i}:tag"}}'
        # A line that has a comment already (rook-ceph's `# TODO: …`) gets the marker instead,
        # for the run; the comment is put back before comparing (a marker after another
        # comment is discover's business, not this test's).
        text = lines[field["end_line"] - 1]
        marked[field["end_line"] - 1] = text[: field["end_column"] - 1] + f" # {marker}"
    data = "\n".join(marked).encode()
    found = scan_file(rel, data, policies)
    assert not found.problems, found.problems
    # A HelmRelease's chart is named by its HelmRepository, in another file of the same repository.
    repo_root = root / "files" / "/".join(rel.split("/")[:2])
    occurrences, unresolved = charts.resolve_sources(
        repo_root, found.occurrences, lambda: (str(p.relative_to(repo_root)) for p in repo_root.rglob("*.yaml")))
    assert not unresolved, unresolved
    resolutions = resolve(occurrences, InMemoryTags(tag_lists), workers=1)
    plan = build(resolutions)
    assert not plan.problems, plan.problems
    after = edit_text(data, plan.changes).decode().split("\n")
    values, reasons = {}, {}
    for ref_id in ids:
        field = fields.get(ref_id)
        if field is None:
            values[ref_id], reasons[ref_id] = (None, None), "no tag to update"
            continue
        n = field["end_line"] - 1
        marker = marked[n][marked[n].rindex(" # {"):]
        assert after[n].endswith(marker), (after[n], marker)
        after[n] = after[n].removesuffix(marker) + lines[n][field["end_column"] - 1:]
        at = [r for r in resolutions if r.occurrence.location.line == field["line"]]
        assert at, f"{ref_id}: no occurrence found at line {field['line']}: {found.occurrences}"
        new = {c.new for c in plan.changes if c.occurrence.location.line == field["line"]}
        assert len(new) <= 1, plan.changes
        values[ref_id] = (field["value"], next(iter(new), field["value"]))
        reasons[ref_id] = "; ".join(r.reason for r in at)
    return Run(lines, after, values, reasons)


def allowed_values(ref_id: str) -> set[str | None]:
    """The new values EXPECTED.json allows for the reference's version field (the value, not
    its quoting); our choice for an ambiguous tag (module docstring)."""
    _, refs, expected, registry = corpus()
    (exp,) = [e for e in expected["references"] if e["id"] == ref_id]
    ref = refs[ref_id]
    if _no_tag(ref):
        return {None}
    current = ref["fields"][VERSION_FIELD[ref["kind"]]]["value"]
    if exp["ambiguous"] and exp.get("ambiguity") != "digest":
        want = AMBIGUOUS_CHOICE[exp["current"]["tag"]]
        answer = next(a for a in exp["answers"] if a["tag"] == want)
        write, digest = answer["write"], answer["digest"]
    else:
        want, write, digest = exp["expected"]["tag"], exp["write"], exp["expected"]["digest"]
    image, _ = _image_and_tags(ref, registry)
    if want is not None:
        ((key, value),) = write.items()
        assert key == VERSION_FIELD[ref["kind"]], (ref_id, key)
        return {value.replace("{digest}", made_up_digest(image, want))}
    allowed: set[str | None] = {current}
    if isinstance(digest, dict) and "registry" in digest["answers"]:
        # The tag stays and EXPECTED.json leaves the pin open: the registry's digest of the same
        # tag is the other allowed answer (imagebot refreshes the pin of a version tag it keeps;
        # a tag it cannot order is held as written).
        tag, pin = _tag_and_pin(ref["kind"], current)
        if pin is not None and DockerTag.parse(tag) is not None:
            allowed = {current.replace(pin, made_up_digest(image, tag))}  # type: ignore[arg-type]
    return allowed


def _expected_file(run: Run, ids: list[str]) -> list[str]:
    """The file before, with each reference's version field replaced by what imagebot wrote
    (checked against EXPECTED.json separately): nothing else may differ."""
    _, refs, _, registry = corpus()
    lines = list(run.lines_before)
    for ref_id in ids:
        before, after = run.values[ref_id]
        pin = refs[ref_id]["fields"].get("ref.digest")
        if pin is not None and after is not None:
            # Flux's OCIRepository `ref.digest` beside `ref.tag`: re-pinned to the digest of the chosen tag
            image = _image_and_tags(refs[ref_id], registry)[0]
            line = lines[pin["line"] - 1]
            lines[pin["line"] - 1] = line[: pin["column"] - 1] + made_up_digest(image, after) + line[pin["end_column"] - 1:]
        if after is None or after == before:
            continue
        field = refs[ref_id]["fields"][VERSION_FIELD[refs[ref_id]["kind"]]]
        line = lines[field["line"] - 1]
        lines[field["line"] - 1] = line[: field["column"] - 1] + _quoted(field["raw"], after) + line[field["end_column"] - 1:]
    return lines


@pytest.mark.parametrize("ref_id", _cases())
def test_every_reference_gets_exactly_the_expected_value(ref_id: str) -> None:
    run = run_file(ref_id.split("#")[0], [ref_id])
    assert run.values[ref_id][1] in allowed_values(ref_id), (ref_id, run.reasons[ref_id])
    assert run.lines_after == _expected_file(run, [ref_id]), ref_id


def test_one_config_over_the_whole_corpus_every_file_at_once() -> None:
    """Every reference of a file marked at once (one config for the corpus): the same values."""
    expected = corpus()[2]
    by_file: dict[str, list[str]] = {}
    for exp in expected["references"]:
        by_file.setdefault(exp["id"].split("#")[0], []).append(exp["id"])
    assert len(by_file) > 50
    for rel, ids in by_file.items():
        run = run_file(rel, ids)
        for ref_id in ids:
            assert run.values[ref_id][1] in allowed_values(ref_id), (ref_id, run.reasons[ref_id])
        assert run.lines_after == _expected_file(run, ids), rel


def _tag_and_pin(kind: str, value: str) -> tuple[str, str | None]:
    if kind == "full_ref":
        ref = parse(value)
        return ref.tag or "", ref.digest
    current = TagValue.read(value)
    return current.tag, current.digest


def test_over_the_corpus_no_pin_dropped_no_downgrade_no_variant_switch() -> None:
    _, refs, expected, _ = corpus()
    tally: Counter[str] = Counter()
    for exp in expected["references"]:
        ref = refs[exp["id"]]
        before, after = run_file(exp["id"].split("#")[0], [exp["id"]]).values[exp["id"]]
        if before is None:
            tally["no tag"] += 1
            continue
        (old_tag, old_pin), (new_tag, new_pin) = (_tag_and_pin(ref["kind"], v) for v in (before, after))
        tally["references"] += 1
        tally["value changed" if after != before else "value kept"] += 1
        tally["pins kept"] += bool(old_pin and new_pin)
        if old_pin and not new_pin:
            tally["pins dropped"] += 1
        if new_pin and not old_pin:
            tally["pins added"] += 1
        old, new = DockerTag.parse(old_tag), DockerTag.parse(new_tag)
        if new_tag != old_tag:
            tally["tag changed"] += 1
            if old is None or new is None:
                tally["moved from or to a tag that is not a version"] += 1
            else:
                tally["downgrades"] += new.key < old.key
                tally["variant switches"] += new.variant != old.variant
                tally["precision switches"] += len(new.numbers) != len(old.numbers)
    # 82 references: 75 with a tag; 7 without (2 repositories without tag, a HelmRelease
    # without version, 2 version ranges in patches, 2 OCIRepository ref.semver ranges).
    assert tally["references"] == 75 and tally["no tag"] == 7, tally
    for bad in ("pins dropped", "pins added", "downgrades", "variant switches", "precision switches",
                "moved from or to a tag that is not a version"):
        assert tally[bad] == 0, (bad, tally)
    # 59 clear changes and rss-forwarder's 0.7.0-rc.1 move a tag; dcgm-exporter and searxng keep
    # their version tag and refresh its pin (allowed either way); the 8 holds change nothing.
    assert tally["tag changed"] == 60 and tally["value changed"] == 62 and tally["value kept"] == 13, tally
    # 42 references are pinned; 41 in the value itself (`tag: X@sha256:…`, `image: …:X@sha256:…`),
    # the 42nd in an OCIRepository's separate ref.digest (games-on-whales, held).
    assert tally["pins kept"] == 41, tally
