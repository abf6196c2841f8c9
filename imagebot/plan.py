"""plan: resolutions -> a Plan of concrete scalar rewrites (old -> new), no-ops dropped.

The new scalar is derived from the field kind (imagebot.discover.rewrite): a full reference
keeps its name text exactly as written and gets the new tag (and digest when pinned); a split
tag field gets the tag; a split digest field gets the digest; a name field changes only when
a named policy (Flux-style marker) says the field belongs to another image.
"""

from __future__ import annotations

from collections.abc import Sequence

from imagebot.discover.rewrite import new_value
from imagebot.errors import ReferenceError_
from imagebot.model import Change, FieldKind, Plan, Problem, Resolution
from imagebot.reference import TagValue


def build(resolutions: Sequence[Resolution], problems: Sequence[Problem] = ()) -> Plan:
    changes: list[Change] = []
    skipped: list[Resolution] = []
    unchanged: list[Resolution] = []
    seen: dict[tuple[object, ...], Change | None] = {}
    written: dict[tuple[object, ...], str] = {}  # new_value's answers: many files write the same value alike
    for res in resolutions:
        if res.target is None:
            skipped.append(res)
            continue
        try:
            change = _change(res, written)
        except ReferenceError_ as e:
            occ = res.occurrence
            p = Problem("reference", str(e), occ.location, occ.subject)
            skipped.append(Resolution(occ, None, p.message, p))
            continue
        if change is None:
            unchanged.append(res)
            continue
        loc = res.occurrence.location
        key = (loc.file, loc.line, loc.column, res.occurrence.document)  # a plain tuple: Location's hash is Python code
        if key in seen:  # two (or more) policies claim one scalar: refuse them all rather than guess
            first = seen[key]
            if first is None or first.new != change.new:
                why = f"({first.new} vs {change.new})" if first is not None else f"(also {change.new})"
                p = Problem("policy", f"two policies want different values here {why}",
                            res.occurrence.location, res.occurrence.subject)
                skipped.append(Resolution(res.occurrence, None, p.message, p))
                if first is not None:
                    changes.remove(first)
                    seen[key] = None
            continue
        seen[key] = change
        changes.append(change)
    all_problems = tuple(problems) + tuple(r.problem for r in skipped if r.problem)
    return Plan(tuple(changes), tuple(skipped), tuple(unchanged), all_problems)


def _change(res: Resolution, written: dict[tuple[object, ...], str] | None = None) -> Change | None:
    """`written`: new_value's answers so far, by all it reads (field, value, image, tag, pin)."""
    occ, target = res.occurrence, res.target
    assert target is not None
    pin = target.digest if target.digest and (occ.digest or occ.policy.pin_digest or occ.policy.policy.strip().lower() == "digest") else None
    if occ.field in (FieldKind.IMAGE, FieldKind.NAME):  # a named policy's image is written (as Flux does)
        key = (occ.field, occ.value, occ.image, target.tag, pin)
        new = written.get(key) if written is not None else None
        if new is None:
            new = new_value(occ, target.tag, pin)
            if written is not None:
                written[key] = new
    elif occ.field is FieldKind.TAG:
        # A tag field that carries a pin (`1.6.0@sha256:…`) is re-pinned in the same value;
        # one without gets the tag alone. The pin is never written away.
        tag_value = TagValue.read(occ.value)
        if tag_value.pinned and not target.digest:
            return None  # defensive: resolve always asks for the digest of a pinned reference
        new = tag_value.text(target.tag, target.digest if tag_value.pinned else None)
    elif occ.field is FieldKind.DIGEST:
        if not target.digest:
            return None
        new = target.digest
    else:
        return None
    if new == occ.value:
        return None
    return Change(occ, occ.value, new, _ref(occ.image, occ.tag, occ.digest), _ref(occ.image, target.tag, target.digest if (pin or occ.field is FieldKind.DIGEST) else None), res.reason)


def _ref(image: str, tag: str | None, digest: str | None) -> str:
    return image + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
