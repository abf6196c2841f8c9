"""Format: kustomization ``images:`` entries (``name``, ``newName``, ``newTag``, ``digest``).

An entry is governed by a marker on one of its fields (handled by the marker format, which
runs first) or else by the config policy whose image is the entry's ``newName`` (or ``name``
when there is no ``newName``), compared after normalisation (``nginx`` = ``docker.io/library/nginx``).
An inline marker (``newTag: 1.2.3 # imagebot: semver:^1``) on any field of an entry governs
the whole entry the same way (:func:`marked_entry`, called by the marker format): the field holds
a tag or a match key, never a full reference.
imagebot edits ``newTag`` and ``digest`` in place; it never adds a field (that would mean
re-writing the entry), so an entry with neither is reported.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace

from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from imagebot.discover.occurrences import named_spec, no_digest_field, policy_image, split_field
from imagebot.discover.parsed import Candidate, Found, ParsedFile
from imagebot.discover.yamltree import Scalar, mapping_get, scalar_text
from imagebot.errors import ReferenceError_
from imagebot.model import UNMANAGED, FieldKind, Location, Occurrence, PolicySpec, Problem
from imagebot.reference import parse_name

KIND = "kustomize"
FILE_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_FIELDS = {"newTag": FieldKind.TAG, "digest": FieldKind.DIGEST}
_ENTRY_FIELD = re.compile(r"(images\[\d+\])\.(?:name|newName|newTag|digest)")


def is_kustomization(path: str) -> bool:
    return posixpath.basename(path) in FILE_NAMES


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    if not is_kustomization(pf.path) or not (pf.policies or pf.everything):
        return found
    by_image: dict[str, list[str]] = {}
    for name, policy in pf.policies.items():
        try:
            by_image.setdefault(policy_image(name, policy), []).append(name)
        except ReferenceError_:
            continue  # reported by the config check; an unusable policy matches nothing
    for index, doc in enumerate(pf.docs):
        images = mapping_get(doc, "images")
        if not isinstance(images, SequenceNode):
            continue
        for i, entry in enumerate(images.value):
            if isinstance(entry, MappingNode):
                _entry(pf, index, i, entry, by_image, claimed, found)
    return found


def _entry(
    pf: ParsedFile,
    document: int,
    i: int,
    entry: MappingNode,
    by_image: dict[str, list[str]],
    claimed: set[tuple[int, int]],
    found: Found,
) -> None:
    fields = _fields(entry)
    if any((int(v.start_mark.line) + 1, int(v.start_mark.column) + 1) in claimed for v in fields.values()):
        return  # a marker governs this entry
    written = fields.get("newName") or fields.get("name")
    if written is None:
        return
    try:
        image = parse_name(str(written.value)).name
    except ReferenceError_:
        return  # not an image we could look up; kustomize itself reports it
    names = by_image.get(image)
    if not names:
        if pf.everything:
            _candidate(pf, document, i, entry, image, written, found)
        return
    path = f"images[{i}]"
    if len(names) > 1:
        where = Location(pf.path, int(entry.start_mark.line) + 1)
        subject = f"{pf.path} {path} ({written.value})"
        found.problems.append(Problem("policy", f"config policies {', '.join(sorted(names))} all claim image {image}; keep one", where, subject))
        return
    name = names[0]
    spec = named_spec(pf.policies[name], f"config policy {name} (kustomization {pf.path}:{int(entry.start_mark.line) + 1})")
    found.take(_governed(pf, document, path, entry, spec, f"config policy {name!r}", name))


def _candidate(pf: ParsedFile, document: int, i: int, entry: MappingNode, image: str, written: ScalarNode, found: Found) -> None:
    """An entry no marker or config policy governs: config rules may."""
    fields = _fields(entry)
    path = f"images[{i}]"
    first = fields.get("name") or written
    tag, digest = scalar_text(fields.get("newTag")), scalar_text(fields.get("digest")) or None
    ref = Occurrence(
        location=pf.location(first), document=document, field=FieldKind.NAME, value=str(first.value), image=image,
        tag=tag, digest=digest, policy=UNMANAGED, subject=f"{pf.path} {path} ({written.value})",
        group=f"{pf.path}#{document}:{path}", path=f"{path}.name", form=KIND,
    )
    found.candidates.append(Candidate(
        ref, lambda spec: _governed(pf, document, path, entry, spec, "the rule", None),
        updatable=any(k in fields for k in _FIELDS),
        positions=frozenset((int(v.start_mark.line) + 1, int(v.start_mark.column) + 1) for v in fields.values()),
    ))


def marked_entry(pf: ParsedFile, scalar: Scalar, spec: PolicySpec) -> list[Occurrence | Problem] | None:
    """The occurrences of the `images:` entry whose field `scalar` carries an inline marker, or
    None when `scalar` is not a field of such an entry (then the marker is an ordinary one)."""
    if not is_kustomization(pf.path) or scalar.parent is None:
        return None
    m = _ENTRY_FIELD.fullmatch(scalar.path)
    if m is None:
        return None
    return _governed(pf, scalar.document, m.group(1), scalar.parent, spec, "the marker", None)


def _fields(entry: MappingNode) -> dict[str, ScalarNode]:
    return {k: v for k in ("name", "newName", "newTag", "digest") if isinstance(v := mapping_get(entry, k), ScalarNode)}


def _governed(
    pf: ParsedFile, document: int, path: str, entry: MappingNode, spec: PolicySpec, by: str, name: str | None
) -> list[Occurrence | Problem]:
    """One occurrence per editable field (newTag, digest) of an entry governed by `spec` (from
    the config policy `name`, or from an inline marker when `name` is None)."""
    fields = _fields(entry)
    where = Location(pf.path, int(entry.start_mark.line) + 1)
    written = fields.get("newName") or fields.get("name")
    if written is None:
        return [Problem("manifest", f"{by} applies, but the entry has no name or newName", where, f"{pf.path} {path}")]
    subject = f"{pf.path} {path} ({written.value})"
    try:
        image = parse_name(str(written.value)).name
    except ReferenceError_ as exc:
        return [Problem("reference", str(exc), where, subject)]
    editable = {k: v for k, v in fields.items() if k in _FIELDS}
    if not editable:
        return [Problem("manifest", f"{by} applies, but the entry has no newTag or digest to update (add newTag)", where, subject)]
    tag = scalar_text(fields.get("newTag"))
    if "digest" not in editable and (why := no_digest_field(spec, "a `digest:` field to the entry", tag)):
        return [Problem("manifest", why, where, subject)]
    digest = scalar_text(fields.get("digest")) or None
    group = f"{pf.path}#{document}:{path}:{name or 'marker'}"
    if name:
        subject += f" (policy {name})"
    out: list[Occurrence | Problem] = []
    for key, node in editable.items():
        result = split_field(pf, Scalar(node, document, f"{path}.{key}", entry, key), _FIELDS[key], spec,
                             subject, image, tag, digest, group)
        out.append(replace(result, form=KIND) if isinstance(result, Occurrence) else result)
    return out
