"""Every reference discover found, one entry per reference (split fields of one image map or
kustomization entry are one reference), with the policy that governs it and where that policy
comes from, or none: the data behind `imagebot inventory`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from imagebot.discover.kinds import reference_kind
from imagebot.model import Discovery, Occurrence

#: Where a policy comes from, as `Entry.source`: PolicySpec.origin, or "" for older producers.
SOURCES = ("annotation", "marker", "policy", "rule")


@dataclass(frozen=True)
class Entry:
    file: str
    line: int
    column: int
    kind: str
    image: str
    current: str  # tag[@digest], or the digest alone, or "" (nothing written)
    policy: str | None  # None: unmanaged
    #: "annotation", "marker", "policy" (config policy), "rule", "compat:keel", "compat:argocd-image-updater";
    #: None when unmanaged
    source: str | None
    declared: str  # where the policy was declared ("apps/web.yaml:7 annotation imagebot.io/policy")
    subject: str
    lines: tuple[int, ...]  # every line of the reference's fields imagebot found

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file, "line": self.line, "column": self.column, "kind": self.kind, "image": self.image,
            "current": self.current, "policy": self.policy, "source": self.source, "declared": self.declared or None,
            "subject": self.subject, "lines": list(self.lines),
        }


def current_value(occ: Occurrence) -> str:
    tag = occ.tag or ""
    if occ.digest and "@" not in tag:
        return f"{tag}@{occ.digest}" if tag else occ.digest
    return tag


def entries(found: Discovery) -> list[Entry]:
    """One entry per reference, sorted by file and line."""
    groups: dict[tuple[str, str, int, int], list[Occurrence]] = {}
    for occ in found.occurrences:
        key = (occ.location.file, occ.group, 0, 0) if occ.group else (occ.location.file, "", occ.location.line, occ.location.column)
        groups.setdefault(key, []).append(occ)
    out = [_entry(members, managed=True) for members in groups.values()]
    out += [_entry([occ], managed=False) for occ in found.unmanaged]
    return sorted(out, key=lambda e: (e.file, e.line, e.column))


def _entry(members: list[Occurrence], managed: bool) -> Entry:
    first = min(members, key=lambda o: o.location)
    spec = first.policy
    return Entry(
        file=first.location.file, line=first.location.line, column=first.location.column, kind=reference_kind(first),
        image=first.image, current=current_value(first), policy=spec.policy if managed else None,
        source=(spec.origin or "unknown") if managed else None, declared=spec.source if managed else "",
        subject=first.subject, lines=tuple(sorted({o.location.line for o in members})),
    )


def counts(items: list[Entry]) -> dict[str, object]:
    return {
        "references": len(items),
        "managed": sum(1 for e in items if e.policy is not None),
        "unmanaged": sum(1 for e in items if e.policy is None),
        "by_kind": dict(sorted(Counter(e.kind for e in items).items())),
        "by_source": dict(sorted(Counter(e.source or "unmanaged" for e in items).items())),
    }
