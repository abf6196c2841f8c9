"""Format: kustomization ``images:`` entries (``name``, ``newName``, ``newTag``, ``digest``).

An entry is governed by a marker on one of its fields (handled by the marker format, which
runs first) or else by the config policy whose image is the entry's ``newName`` (or ``name``
when there is no ``newName``), compared after normalisation (``nginx`` = ``docker.io/library/nginx``).
imagebot edits ``newTag`` and ``digest`` in place; it never adds a field (that would mean
re-writing the entry), so an entry with neither is reported.
"""

from __future__ import annotations

import posixpath

from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from imagebot.discover.occurrences import named_spec, policy_image, split_field
from imagebot.discover.parsed import Found, ParsedFile
from imagebot.discover.yamltree import Scalar, mapping_get, scalar_text
from imagebot.errors import ReferenceError_
from imagebot.model import FieldKind, Location, Problem
from imagebot.reference import parse_name

FILE_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_FIELDS = {"newTag": FieldKind.TAG, "digest": FieldKind.DIGEST}


def is_kustomization(path: str) -> bool:
    return posixpath.basename(path) in FILE_NAMES


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    if not is_kustomization(pf.path) or not pf.policies:
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
    fields = {k: v for k in ("name", "newName", "newTag", "digest") if isinstance(v := mapping_get(entry, k), ScalarNode)}
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
        return
    path = f"images[{i}]"
    subject = f"{pf.path} {path} ({written.value})"
    where = Location(pf.path, int(entry.start_mark.line) + 1)
    if len(names) > 1:
        found.problems.append(Problem("policy", f"config policies {', '.join(sorted(names))} all claim image {image}; keep one", where, subject))
        return
    name = names[0]
    editable = {k: v for k, v in fields.items() if k in _FIELDS}
    if not editable:
        found.problems.append(Problem("manifest", f"config policy {name!r} applies, but the entry has no newTag or digest to update (add newTag)", where, subject))
        return
    spec = named_spec(pf.policies[name], f"config policy {name} (kustomization {pf.path}:{where.line})")
    tag = scalar_text(fields.get("newTag"))
    digest = scalar_text(fields.get("digest")) or None
    group = f"{pf.path}#{document}:{path}:{name}"
    for key, node in editable.items():
        scalar = Scalar(node, document, f"{path}.{key}", entry, key)
        result = split_field(pf, scalar, _FIELDS[key], spec, f"{subject} (policy {name})", image, tag, digest, group)
        if isinstance(result, Problem):
            found.problems.append(result)
        else:
            found.occurrences.append(result)
            found.claimed.add((scalar.line, scalar.column))
