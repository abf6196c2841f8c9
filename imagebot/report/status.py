"""What the running agent knows, for `GET /status` and `imagebot status`: every managed
reference with its current value, the newest its policy allows, its state and why (held,
refused, proposed in a pull request, updated, up to date), the last cycles, the open pull
requests and the problems.

:class:`StatusBoard` is one more reporter: a full cycle replaces the references it saw, a
targeted cycle those of its images. Everything derives from the cycles' values (the delivery
outcome included); nothing is counted on the side.
"""

from __future__ import annotations

import threading
from typing import Any

from imagebot.model import Change, CycleResult, Location, Resolution, utc_iso
from imagebot.report.summary import _problem

#: A reference's state, from the last cycle that looked at its image.
UP_TO_DATE, UPDATED, PROPOSED, PENDING, HELD, REFUSED = "up-to-date", "updated", "proposed", "update-pending", "held", "refused"


def _iso(t: float | None) -> str | None:
    return None if t is None else utc_iso(t)


def _cycle(result: CycleResult) -> dict[str, Any]:
    d = result.delivery
    return {
        "started": _iso(result.started),
        "duration_seconds": round(result.duration, 3),
        "trigger": "interval" if result.images is None else "webhook",
        "images": sorted(result.images) if result.images is not None else None,
        "references": len(result.resolutions),
        "changes_planned": len(result.plan.changes),
        "changes_landed": len(d.landed) if d is not None else 0,
        "problems": len(result.problems),
        "commit": d.commit if d is not None and d.commit else None,
    }


class StatusBoard:
    """Keeps the latest word on every reference; `snapshot()` is the /status document."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[tuple[str, Location], dict[str, Any]] = {}  # (lane, location): one board for every lane
        self._last: CycleResult | None = None
        self._last_full: CycleResult | None = None

    def cycle_finished(self, result: CycleResult) -> None:
        lane = result.lane
        entries = {(lane, where): {**e, "repository": lane} if lane else e for where, e in entries_of(result).items()}
        with self._lock:
            if result.images is None:  # a lane's full cycle replaces what that lane's references said
                self._refs = {k: v for k, v in self._refs.items() if k[0] != lane}
                self._last_full = result
            else:
                self._refs = {k: v for k, v in self._refs.items() if k[0] != lane or v["image"] not in result.images}
            self._refs.update(entries)
            self._last = result

    def snapshot(self, **agent: Any) -> dict[str, Any]:
        with self._lock:
            refs = [self._refs[k] for k in sorted(self._refs)]
            last, full = self._last, self._last_full
        prs = []
        if full is not None and full.delivery is not None:
            prs = [{"url": o.url, "branch": o.branch, "action": o.action.value, "changes": len(o.changes)}
                   for o in full.delivery.outcomes if o.action.value != "closed"]
        return {
            **agent,
            "last_cycle": _cycle(last) if last is not None else None,
            "last_full_cycle": _cycle(full) if full is not None else None,
            "counts": {state: sum(1 for r in refs if r["state"] == state)
                       for state in (UP_TO_DATE, UPDATED, PROPOSED, PENDING, HELD, REFUSED)},
            "references": refs,
            "pull_requests": prs,
            "problems": [_problem(p) for p in last.problems] if last is not None else [],
        }


def entries_of(result: CycleResult) -> dict[Location, dict[str, Any]]:
    """One entry per reference the cycle resolved, keyed by its location."""
    changes: dict[Location, Change] = {c.occurrence.location: c for c in result.plan.changes}
    d = result.delivery
    refused = {r.change.occurrence.location: r.reason for r in (d.refused if d is not None else result.rendered.refused)}
    landed = {x.change.occurrence.location: x for x in d.landed} if d is not None else {}
    proposed = {c.occurrence.location: o.url for o in d.outcomes for c in o.changes} if d is not None else {}
    skipped = {r.occurrence.location: r for r in result.plan.skipped}  # plan may hold what resolve decided
    return {r.occurrence.location: _entry(skipped.get(r.occurrence.location, r), changes, refused, landed, proposed)
            for r in result.resolutions}


def _entry(r: Resolution, changes: dict[Location, Change], refused: dict[Location, str], landed: dict[Location, Any],
           proposed: dict[Location, str]) -> dict[str, Any]:
    o = r.occurrence
    where = o.location
    change = changes.get(where)
    state, reason, extra = UP_TO_DATE, r.reason, {}
    if r.target is None:
        state = HELD
    elif change is not None:
        if where in refused:
            state, reason = REFUSED, f"the edit was refused: {refused[where]}"
        elif where in landed:
            x = landed[where]
            state = UPDATED
            extra = {"commit": x.commit, "branch": x.branch, "pull_request": x.pull_request or None}
        elif where in proposed:
            state, extra = PROPOSED, {"pull_request": proposed[where]}
        else:
            state = PENDING
    return {
        "image": o.image,
        "file": where.file,
        "line": where.line,
        "subject": o.subject,
        "policy": o.policy.policy,
        "current": o.value,
        "current_tag": o.tag,
        "latest_allowed": r.target.tag if r.target is not None else None,
        "new": change.new_ref if change is not None else None,
        "state": state,
        "reason": reason,
        "problem": r.problem.message if r.problem is not None else None,
        "stale_age": r.stale_age,
        **extra,
    }


def render_text(doc: dict[str, Any]) -> str:
    """`imagebot status`: who and how the agent is, the counts, then each reference given with its reason."""
    out = []
    who = doc.get("identity") or "agent"
    lead = "leader" if doc.get("leader") else "follower"
    ready = doc.get("ready") or {}
    out.append(f"{who}: {lead}, {'ready' if ready.get('ok', True) else 'NOT READY: ' + str(ready.get('reason'))}")
    last = doc.get("last_cycle")
    if last:
        out.append(f"last cycle: {last['started']} ({last['trigger']}), {last['duration_seconds']}s, "
                   f"{last['changes_landed']} landed, {last['problems']} problem(s)")
    else:
        out.append("last cycle: none finished yet")
    counts = doc.get("counts") or {}
    out.append("references: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n) if counts else "references: none")
    notable = doc.get("references", [])
    if notable:
        out.append("")
        for r in notable:
            target = f" -> {r['latest_allowed']}" if r.get("latest_allowed") and r["state"] != HELD else ""
            out.append(f"{r['state'].upper():<15} {r['image']}:{r.get('current_tag') or ''}{target}  {r['file']}:{r['line']}")
            out.append(f"{'':<15} {r['reason']}" + (f" ({r['pull_request']})" if r.get("pull_request") else ""))
    if doc.get("pull_requests"):
        out.append("")
        out += [f"pull request {p['url']} ({p['branch']}, {p['action']})" for p in doc["pull_requests"]]
    if doc.get("problems"):
        out.append("")
        out.append(f"problems ({len(doc['problems'])}):")
        for p in doc["problems"]:
            where = f"{p['file']}:{p['line']}: " if p.get("file") else ""
            out.append(f"  {where}{p['subject'] + ': ' if p.get('subject') else ''}{p['message']}")
    return "\n".join(out) + "\n"
