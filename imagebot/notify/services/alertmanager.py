"""Alertmanager-compatible alerts: ``POST /api/v2/alerts`` with a list of alerts.

https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml (postableAlerts:
``labels`` required, ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``). A started
problem or drift is a firing alert (re-sent every cycle while it lasts, as Alertmanager expects
of a client, with ``endsAt`` a few intervals ahead); a resolved one is sent once with ``endsAt``
= now. Deliveries are not alerts and are never sent here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from imagebot.model import utc_iso
from imagebot.notify.notices import Kind, Notice

ALERTABLE = frozenset({Kind.PROBLEM_STARTED, Kind.PROBLEM_RESOLVED, Kind.DRIFT_DETECTED, Kind.DRIFT_RESOLVED})
FIRING_FOR = 3600.0  # endsAt of a firing alert: an hour ahead unless re-sent (every cycle) or resolved




def alert(n: Notice, now: float) -> dict[str, Any]:
    resolved = n.kind in (Kind.PROBLEM_RESOLVED, Kind.DRIFT_RESOLVED)
    problem = n.kind in (Kind.PROBLEM_STARTED, Kind.PROBLEM_RESOLVED)
    labels = {
        "alertname": "ImagebotProblem" if problem else "ImagebotDrift",
        "severity": "warning" if resolved else n.severity.value,
        "key": n.key,
    }
    if n.subject:
        labels["subject"] = n.subject[:200]
    if n.repository:
        labels["repository"] = n.repository[:200]
    title = n.title.removeprefix("resolved: ").removeprefix("drift resolved: ")
    return {
        "labels": labels,
        "annotations": {"summary": title[:500], "description": (n.text or title)[:2000],
                        **({"location": n.location} if n.location else {})},
        "startsAt": utc_iso(n.since or now),
        "endsAt": utc_iso(now if resolved else now + FIRING_FOR),
    }


def render(notices: Sequence[Notice], now: float | None = None) -> list[list[dict[str, Any]]]:
    t = time.time() if now is None else now
    alerts = [alert(n, t) for n in notices if n.kind in ALERTABLE]
    return [alerts] if alerts else []
