"""Human and JSON summaries of a cycle."""

from __future__ import annotations

from typing import Any

from imagebot.model import Change, CycleResult, Problem, Resolution
from imagebot.report.diff import unified


def counts(result: CycleResult) -> dict[str, int]:
    plan = result.plan
    return {
        "files_scanned": result.discovery.files_scanned,
        "references": len(result.discovery.occurrences),
        "changes": len(plan.changes),
        "unchanged": len(plan.unchanged),
        "skipped": len(plan.skipped),
        "refused": len(result.rendered.refused),
        "problems": len(result.problems),
    }


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()] + [
        fmt.format(*r).rstrip() for r in rows
    ]


def _version(ref: str, image: str) -> str:
    """'reg.io/app:1.2@sha256:abcd...' -> '1.2@sha256:abcd1234' (short enough for a table)."""
    rest = ref[len(image):].lstrip(":") if ref.startswith(image) else ref
    tag, _, digest = rest.partition("@")
    return tag + (f"@{digest[:15]}" if digest else "")


def _change_row(c: Change) -> tuple[str, ...]:
    occ = c.occurrence
    old, new = _version(c.old_ref, occ.image), _version(c.new_ref, occ.image)
    return (occ.image, str(occ.location), f"{old} -> {new}", c.reason)


def text(result: CycleResult, *, diff: bool = True) -> str:
    """The report `plan` and `run --once` print: changes, skips, problems, then the diff."""
    out: list[str] = []
    plan = result.plan
    refused = {id(r.change) for r in result.rendered.refused}
    changes = [c for c in plan.changes if id(c) not in refused]
    if changes:
        verb = "Would change" if result.dry_run else "Changes"
        out.append(f"{verb} ({len(changes)}):")
        out += ["  " + line for line in _table([_change_row(c) for c in changes], ("IMAGE", "WHERE", "CURRENT -> NEW", "WHY"))]
    else:
        out.append("Nothing to change: every image with a policy is up to date." if not result.problems
                   else "Nothing to change.")
    skipped = [r for r in plan.skipped if r.problem is None]
    if skipped:
        out.append("")
        out.append(f"Kept ({len(skipped)}):")
        out += [f"  {r.occurrence.location}: {r.occurrence.image}: {r.reason}" for r in skipped]
    stale = [r for r in result.resolutions if r.stale_age is not None]
    if stale:
        out.append("")
        out.append("Decided from a cached tag list (registry unavailable):")
        out += [f"  {r.occurrence.image}: list is {r.stale_age:.0f}s old" for r in stale]
    if result.problems:
        out.append("")
        out.append(f"Problems ({len(result.problems)}):")
        by_place = sorted(result.problems, key=lambda p: (p.location.file, p.location.line) if p.location else ("", 0))
        out += [f"  {p}" + (" (temporary)" if p.temporary else "") for p in by_place]
    d = result.delivery
    if d is not None:
        out.append("")
        if d.commit:
            out.append(f"Committed {d.commit[:12]} to {d.branch}" + (" and pushed." if d.pushed else " (not pushed)."))
        for url in d.pull_requests:
            out.append(f"Pull request: {url}")
        for url in d.closed_pull_requests:
            out.append(f"Closed pull request: {url}")
        if not d.commit and not d.pull_requests and not d.closed_pull_requests:
            out.append("Nothing delivered.")
    if diff and result.rendered.edits:
        out.append("")
        out.append(unified(result.rendered.edits).rstrip("\n"))
    return "\n".join(out) + "\n"


def _problem(p: Problem) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "message": p.message,
        "file": p.location.file if p.location else None,
        "line": p.location.line if p.location else None,
        "column": p.location.column if p.location else None,
        "subject": p.subject,
        "temporary": p.temporary,
    }


def _resolution(r: Resolution) -> dict[str, Any]:
    o = r.occurrence
    return {
        "image": o.image,
        "file": o.location.file,
        "line": o.location.line,
        "column": o.location.column,
        "field": o.field.value,
        "subject": o.subject,
        "policy": o.policy.policy,
        "current": o.value,
        "target": {"tag": r.target.tag, "digest": r.target.digest} if r.target else None,
        "reason": r.reason,
        "stale_age": r.stale_age,
    }


def as_json(result: CycleResult) -> dict[str, Any]:
    plan = result.plan
    doc: dict[str, Any] = {
        "plan_id": plan.id,
        "dry_run": result.dry_run,
        "counts": counts(result),
        "changes": [
            {
                "image": c.occurrence.image,
                "file": c.file,
                "line": c.occurrence.location.line,
                "column": c.occurrence.location.column,
                "field": c.occurrence.field.value,
                "subject": c.occurrence.subject,
                "policy": c.occurrence.policy.policy,
                "old": c.old,
                "new": c.new,
                "old_ref": c.old_ref,
                "new_ref": c.new_ref,
                "reason": c.reason,
            }
            for c in plan.changes
        ],
        "unchanged": [_resolution(r) for r in plan.unchanged],
        "skipped": [_resolution(r) for r in plan.skipped],
        "refused": [{"file": r.change.file, "line": r.change.occurrence.location.line, "reason": r.reason}
                    for r in result.rendered.refused],
        "problems": [_problem(p) for p in result.problems],
        "diff": unified(result.rendered.edits),
        "duration_seconds": round(result.duration, 3),
        "registry_requests": dict(result.registry_requests),
    }
    if result.delivery is not None:
        d = result.delivery
        doc["delivery"] = {
            "mode": d.mode,
            "branch": d.branch,
            "commit": d.commit,
            "pushed": d.pushed,
            "attempts": d.attempts,
            "pull_requests": list(d.pull_requests),
            "closed_pull_requests": list(d.closed_pull_requests),
        }
    return doc
