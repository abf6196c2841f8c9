"""The values notifications are made of: one :class:`Notice` per thing a team should hear.

Notices are derived from the cycle's typed values (the delivery outcome, the problems, the drift
report), never from counters kept on the side, so a message says what the summary, the JSON
report and the metrics say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    DELIVERED = "delivered"  # changes committed (commit mode)
    PR_OPENED = "pull-request-opened"
    PR_UPDATED = "pull-request-updated"
    PR_CLOSED = "pull-request-closed"
    PROBLEM_STARTED = "problem-started"
    PROBLEM_RESOLVED = "problem-resolved"
    DRIFT_DETECTED = "drift-detected"
    DRIFT_RESOLVED = "drift-resolved"
    PROMOTION_HELD = "promotion-held"
    PROMOTION_PROPOSED = "promotion-proposed"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True)
class Update:
    """One image moved: `old` -> `new` (tags or digests, short), where it is written."""

    image: str  # the repository, e.g. ghcr.io/org/web
    old: str
    new: str
    files: tuple[str, ...]  # repo-relative "file:line", deduplicated


@dataclass(frozen=True)
class Notice:
    """Something to tell a team, ready to be formatted for any service."""

    kind: Kind
    severity: Severity
    title: str  # one line: "web 1.4.2 → 1.5.0 committed to staging"
    text: str = ""  # a few lines of detail (plain text; services format it)
    repository: str = ""  # the Git repository (URL with any credentials removed)
    subject: str = ""  # workload / container / image concerned
    location: str = ""  # "file:line"
    updates: tuple[Update, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (label, url): commit, pull request, compare, ...
    since: float | None = None  # problems and drift: when it started (unix time)
    at: float = 0.0  # when the notice was made (unix time)
    #: A stable identity: the same problem keeps its key while it lasts (Alertmanager fingerprints, dedup).
    key: str = ""
    images: tuple[str, ...] = field(default=())  # every image the notice concerns (for filters)
