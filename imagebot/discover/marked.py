"""Format: any YAML scalar carrying an inline marker comment (Helm values, HelmRelease
``spec.values``, CRDs, workloads, kustomization fields...). See :mod:`imagebot.discover.markers`
for the marker syntax.

Split fields (``image.repository`` + ``image.tag`` with ``:name`` / ``:tag`` markers of one
policy) in one mapping form a group: each field is its own occurrence, and each knows the
group's current tag and digest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from imagebot.discover import image_maps, kustomize, markers
from imagebot.discover.kinds import classify
from imagebot.discover.markers import InlineMarker, MarkerError, NamedMarker
from imagebot.discover.occurrences import bare_tag, full_reference, inline_spec, named_spec, no_digest_field, policy_image, split_field
from imagebot.discover.parsed import Found, ParsedFile
from imagebot.discover.yamltree import Scalar, line_comment, scalars
from imagebot.errors import ReferenceError_
from imagebot.model import FieldKind, Location, Problem


@dataclass(frozen=True)
class _Named:
    scalar: Scalar
    marker: NamedMarker
    line: int

    @property
    def group(self) -> tuple[int, str, str]:
        parent = self.scalar.path.rpartition(".")[0] if self.scalar.parent is not None else self.scalar.path
        return (self.scalar.document, parent, self.marker.name)


def marker_lines(text: str) -> set[int]:
    """1-based numbers of the lines that may hold a marker (a cheap text screen)."""
    lines, line, pos = set(), 1, 0
    for m in markers.CANDIDATE.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        lines.add(line)
    return lines


def find(pf: ParsedFile, claimed: set[tuple[int, int]]) -> Found:
    found = Found()
    lines = marker_lines(pf.text)
    if not lines:
        return found
    named: list[_Named] = []
    used: set[int] = set()
    entries: set[tuple[int, str]] = set()  # kustomization images entries an inline marker governs
    for scalar in scalars(pf.docs):
        line = int(scalar.node.end_mark.line) + 1
        if line not in lines:
            continue
        if (scalar.line, scalar.column) in claimed:  # an earlier format (charts) read this marker
            used.add(line)
            continue
        comment = line_comment(pf.text, scalar.node)
        if comment is None:
            continue
        used.add(line)
        try:
            marker = markers.parse(comment)
        except MarkerError as exc:
            found.problems.append(Problem("marker", str(exc), Location(pf.path, line), f"{pf.path} {scalar.path}"))
            found.claimed.add((scalar.line, scalar.column))
            continue
        if marker is None:
            continue
        found.claimed.add((scalar.line, scalar.column))
        if isinstance(marker, InlineMarker):
            _inline(pf, scalar, marker, line, found, entries)
        else:
            named.append(_Named(scalar, marker, line))
    _named(pf, named, found)
    found.problems += _stray(pf, lines - used)
    found.occurrences = [classify(pf, o) for o in found.occurrences]
    return found


def _inline(pf: ParsedFile, scalar: Scalar, marker: InlineMarker, line: int, found: Found, entries: set[tuple[int, str]]) -> None:
    spec = inline_spec(marker, f"{pf.path}:{line} marker")
    entry = kustomize.marked_entry(pf, scalar, spec)
    if entry is not None:  # a field of a kustomization images entry: a tag or a match key
        key = (scalar.document, scalar.path.rpartition(".")[0])
        if key in entries:
            found.problems.append(Problem("marker", "this images entry already has an inline marker; keep one", Location(pf.path, line), f"{pf.path} {scalar.path}"))
            return
        entries.add(key)
        found.take(entry)
        return
    governed = image_maps.marked_map(pf, scalar, spec)
    if governed is not None:  # a field of a Helm image map: the marker governs its tag and digest
        found.take(governed)
        return
    if bare_tag(scalar.value):
        hint = '# {"$imagebot": "NAME:tag"} with a config policy NAME'
        found.problems.append(Problem("marker", f"{scalar.value!r} looks like a tag, not an image reference: an inline marker needs name:tag; for a field that holds only the tag use {hint}", pf.location(scalar.node), f"{pf.path} {scalar.path}"))
        return
    found.take([full_reference(pf, scalar, spec, f"{pf.path} {scalar.path}")])


def _named(pf: ParsedFile, items: list[_Named], found: Found) -> None:
    groups: dict[tuple[int, str, str], list[_Named]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    for (document, parent, name), members in groups.items():
        first = members[0]
        subject = f"{pf.path} {parent or first.scalar.path} (policy {name})"
        policy = pf.policies.get(name)
        if policy is None:
            known = ", ".join(sorted(pf.policies)) or "none configured"
            for m in members:
                found.problems.append(Problem("marker", f"{m.marker.key} marker names an unknown policy {name!r} (config policies: {known})", Location(pf.path, m.line), subject))
            continue
        try:
            image = policy_image(name, policy)
        except ReferenceError_ as exc:
            found.problems.append(Problem("policy", str(exc), Location(pf.path, first.line), subject))
            continue
        kinds = {m.marker.field for m in members}
        tag = next((m.scalar.value for m in members if m.marker.field is FieldKind.TAG), None)
        if FieldKind.TAG in kinds and FieldKind.DIGEST not in kinds:
            why = no_digest_field(named_spec(policy, ""), f'a digest field with the marker {{"{first.marker.key}": "{name}:digest"}}', tag)
            if why:
                found.problems.append(Problem("marker", why, Location(pf.path, first.line), subject))
                continue
        digest = next((m.scalar.value or None for m in members if m.marker.field is FieldKind.DIGEST), None)
        group = f"{pf.path}#{document}:{parent}:{name}"
        for m in members:
            spec = replace(named_spec(policy, f"{pf.path}:{m.line} marker {m.marker.key} {name}"), origin="marker")
            governed = image_maps.marked_map(pf, m.scalar, spec) if m.marker.field is FieldKind.IMAGE else None
            if governed is not None:  # on a field of a Helm image map: governs its tag and digest
                found.take(governed)
                continue
            if m.marker.field is FieldKind.IMAGE:
                result = full_reference(pf, m.scalar, spec, subject, image=image)
            else:
                result = split_field(pf, m.scalar, m.marker.field, spec, subject, image, tag, digest, group)
            found.take([result])


def _stray(pf: ParsedFile, lines: set[int]) -> list[Problem]:
    """Markers that sit on a line holding no one-line value (e.g. after a mapping key): they
    would silently do nothing, so say so. Comment-only lines are documentation, not markers."""
    out: list[Problem] = []
    all_lines = pf.text.splitlines()
    for line in sorted(lines):
        text = all_lines[line - 1] if line <= len(all_lines) else ""
        code, hash_, comment = text.partition("#")
        if not code.strip() or not hash_:
            continue
        try:
            marker = markers.parse(comment)
        except MarkerError as exc:
            out.append(Problem("marker", str(exc), Location(pf.path, line)))
            continue
        if marker is not None:
            out.append(Problem("marker", "this marker is not on the line of a one-line value, so it applies to nothing", Location(pf.path, line)))
    return out
