"""A round's report: each lane's cycle report under its name, and the lanes that produced none."""

from __future__ import annotations

from typing import Any

from imagebot.fleet.round import RoundResult
from imagebot.report.summary import as_json, text


def round_text(r: RoundResult, *, diff: bool = True) -> str:
    out: list[str] = []
    for o in r.outcomes:
        out.append(f"=== repository {o.lane}: {o.state}" + (f" - {o.error}" if o.error else "") + "\n")
        if o.result is not None:
            out.append(text(o.result, diff=diff))
    reqs = sum(n for _, n in r.registry_requests)
    out.append(f"=== {len(r.outcomes)} repositories in {r.duration:.2f}s; {reqs} registry request(s) for all of them\n")
    return "".join(out)


def round_json(r: RoundResult) -> dict[str, Any]:
    """{"repositories": [...one cycle report each, with name/state/error...], "changes": [...all, each with
    its "repository"], "skipped": [...], "registry_requests": {...the round's}, "exit_code"}."""
    lanes: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for o in r.outcomes:
        doc: dict[str, Any] = {"name": o.lane, "state": o.state, "error": o.error}
        if o.result is not None:
            doc.update(as_json(o.result))
            changes += [{"repository": o.lane, **c} for c in doc["changes"]]
            skipped += [{"repository": o.lane, **s} for s in doc["skipped"]]
        lanes.append(doc)
    return {"repositories": lanes, "changes": changes, "skipped": skipped,
            "registry_requests": dict(r.registry_requests), "duration_seconds": round(r.duration, 3),
            "exit_code": r.exit_code}
