"""Notices from a finished cycle: what was delivered, which problems started or ended.

Deliveries are announced once because they happen once. Problems last: :class:`Tracker`
remembers which are open (and since when), so a problem that persists for ten cycles is
announced when it starts and when it ends — not every cycle. A cycle aimed at a few images
(a webhook) can start problems but never ends one: it did not look at the others. The tracker's
state can be kept in a file, so `run --once` from a CronJob deduplicates across runs too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagebot.model import Change, CycleResult, Problem, PullRequestAction, utc_iso
from imagebot.notify.notices import Kind, Notice, Severity, Update
from imagebot.redact import redact
from imagebot.reference import shown_version

log = logging.getLogger(__name__)

#: 2: problem and hold keys carry the lane (two repositories with a problem at the same file:line are two
#: problems); a version-1 file is still read (see `Tracker._load`).
STATE_VERSION = 2
MAX_OPEN = 10_000  # bound on remembered problems / drifts (a state file cannot grow without limit)


def public_url(url: str) -> str:
    """A Git URL fit for a message: no user info (a token in `https://x:TOKEN@host/...`)."""
    return redact(re.sub(r"^([a-z][a-z0-9+.-]*://)[^@/]*@", r"\1", url))


def updates(changes: Iterable[Change]) -> tuple[Update, ...]:
    """One Update per (image, old, new), its places deduplicated, in a stable order."""
    by_key: dict[tuple[str, str, str], list[str]] = {}
    for c in changes:
        image = c.occurrence.image
        key = (image, shown_version(c.old_ref, image), shown_version(c.new_ref, image))
        where = f"{c.occurrence.location.file}:{c.occurrence.location.line}"
        places = by_key.setdefault(key, [])
        if where not in places:
            places.append(where)
    return tuple(Update(i, o, n, tuple(p)) for (i, o, n), p in sorted(by_key.items()))


def _headline(ups: Sequence[Update]) -> str:
    if len(ups) == 1:
        u = ups[0]
        return f"{u.image.rsplit('/', 1)[-1]} {u.old} → {u.new}"
    return f"{len(ups)} image updates"


def delivery_notices(result: CycleResult, repository: str, now: float) -> list[Notice]:
    """From the typed delivery outcome — what landed, and each pull request's action — the same
    value the summary, the metrics and the Events read. A PR left unchanged is no news."""
    d = result.delivery
    if d is None or result.dry_run:
        return []
    out: list[Notice] = []
    committed = [x for x in d.landed if not x.pull_request]
    by_commit: dict[tuple[str, str], list[Change]] = {}
    for x in committed:
        by_commit.setdefault((x.branch, x.commit), []).append(x.change)
    for (branch, commit), changes in by_commit.items():
        ups = updates(changes)
        out.append(Notice(
            Kind.DELIVERED, Severity.INFO, f"{_headline(ups)} committed to {branch}",
            text=f"commit {commit[:12]} on {branch}", repository=repository, updates=ups,
            links=_commit_link(repository, commit), at=now, key=f"commit:{commit}",
            images=tuple(sorted({u.image for u in ups})),
        ))
    kinds = {PullRequestAction.OPENED: (Kind.PR_OPENED, "opened"), PullRequestAction.UPDATED: (Kind.PR_UPDATED, "updated"),
             PullRequestAction.CLOSED: (Kind.PR_CLOSED, "closed")}
    for o in d.outcomes:
        if o.action not in kinds:
            continue
        kind, verb = kinds[o.action]
        ups = updates(o.changes)
        what = _headline(ups) if ups else o.branch
        title = f"Pull request {verb}: {what}" if o.action is not PullRequestAction.CLOSED else \
            f"Pull request closed (no longer needed): {o.branch}"
        if o.action is PullRequestAction.OPENED and o.changes and all(c.occurrence.policy.origin == "promotion" for c in o.changes):
            kind, title = Kind.PROMOTION_PROPOSED, f"Promotion proposed: {what}"  # staged promotion (docs/promotion.md)
        out.append(Notice(kind, Severity.INFO, title, text=o.url, repository=repository, updates=ups,
                          links=(("pull request", o.url),), at=now, key=f"pr:{o.url}:{verb}",
                          images=tuple(sorted({u.image for u in ups}))))
    return out


def _commit_link(repository: str, sha: str) -> tuple[tuple[str, str], ...]:
    """`<web URL>/commit/<sha>` for an https remote: GitHub, GitLab and Gitea/Forgejo all serve it."""
    if not repository.startswith("https://"):
        return ()
    return (("commit", f"{repository.removesuffix('/').removesuffix('.git')}/commit/{sha}"),)


def problem_key(p: Problem, lane: str = "") -> str:
    """Who and where, not the wording: a message that mentions a changing number stays one problem.
    The lane (repository) is part of where: each repository has its own apps/web.yaml:7."""
    where = f"{p.location.file}:{p.location.line}" if p.location else ""
    return _key(lane, f"{p.kind}\0{where}\0{p.subject}")


def _key(lane: str, raw: str) -> str:
    """A short stable hash of `raw` within `lane` ("" : the only repository, keyed as before lanes existed)."""
    return hashlib.sha256((f"{lane}\0{raw}" if lane else raw).encode()).hexdigest()[:16]


#: A promotion's skip reason names its gate: "promotion production held by soak: ..." (imagebot.promote).
_HELD = re.compile(r"promotion \S+ held by (\w+):")


@dataclass(frozen=True)
class Open:
    """An open problem or drift as remembered: enough to announce its end."""

    key: str
    kind: str  # "problem" | "drift" | "hold" (a promotion held by a gate)
    title: str
    subject: str
    location: str
    since: float
    severity: str
    #: The lane it belongs to ("" before lanes, or with one repository): only a report on the same
    #: lane can end it (one lane's clean drift check must not resolve another lane's drift).
    scope: str = ""


class Tracker:
    """Which problems and drifts are open, and since when; persisted to `state_file` if given."""

    def __init__(self, state_file: Path | None = None, clock=time.time):
        self.state_file = state_file
        self.clock = clock
        self.open: dict[str, Open] = {}
        if state_file is not None:
            self._load()

    # -- problems -------------------------------------------------------------------------
    def problems(self, result: CycleResult, repository: str) -> list[Notice]:
        now = self.clock()
        out: list[Notice] = []
        seen: set[str] = set()
        for p in result.problems:
            key = "p:" + problem_key(p, result.lane)
            if key in seen:
                continue
            seen.add(key)
            if key in self.open:
                continue
            sev = Severity.WARNING if p.temporary else Severity.ERROR
            where = f"{p.location.file}:{p.location.line}" if p.location else ""
            title = redact(f"{p.subject or p.kind}: {p.message}")
            if len(self.open) < MAX_OPEN:
                self.open[key] = Open(key, "problem", title, p.subject, where, now, sev.value, result.lane)
            out.append(Notice(Kind.PROBLEM_STARTED, sev, title, text=redact(str(p)), repository=repository,
                              subject=p.subject, location=where, since=now, at=now, key=key,
                              images=_images_of(p, result)))
        if result.images is None:  # only a full cycle looked at everything (of its own lane)
            for key, o in list(self.open.items()):
                if o.kind == "problem" and key not in seen and o.scope in ("", result.lane):
                    del self.open[key]
                    out.append(Notice(Kind.PROBLEM_RESOLVED, Severity.INFO, f"resolved: {o.title}",
                                      text=f"open since {utc_iso(o.since)}", repository=repository, subject=o.subject,
                                      location=o.location, since=o.since, at=now, key=key))
        self._save()
        return out

    # -- promotions held ------------------------------------------------------------------
    def holds(self, result: CycleResult, repository: str) -> list[Notice]:
        """A promotion held by a gate: told once when the gate starts holding a reference (a new
        gate for it is news again); forgotten when it is no longer held. Never an alert."""
        if result.images is not None:  # promotions run on full cycles only
            return []
        now = self.clock()
        out: list[Notice] = []
        seen: set[str] = set()
        for r in result.plan.skipped:
            o = r.occurrence
            gate = _HELD.match(r.reason)
            if o.policy.origin != "promotion" or gate is None:
                continue
            where = f"{o.location.file}:{o.location.line}"
            key = "h:" + _key(result.lane, f"{where}\0{gate.group(1)}")
            seen.add(key)
            if key in self.open:
                continue
            title = redact(f"{o.image.rsplit('/', 1)[-1]}: {r.reason}")
            if len(self.open) < MAX_OPEN:
                self.open[key] = Open(key, "hold", title, o.subject, where, now, "info", result.lane)
            out.append(Notice(Kind.PROMOTION_HELD, Severity.INFO, title, text=redact(r.reason), repository=repository,
                              subject=o.subject, location=where, since=now, at=now, key=key, images=(o.image,)))
        for key, o in list(self.open.items()):
            if o.kind == "hold" and key not in seen and o.scope in ("", result.lane):
                del self.open[key]
        self._save()
        return out

    # -- drift ----------------------------------------------------------------------------
    def drifts(self, findings: Sequence[DriftFinding], repository: str, scope: str = "") -> list[Notice]:
        """Notices for one drift check of one lane (`scope`): new drifts, and the lane's drifts now gone."""
        now = self.clock()
        out: list[Notice] = []
        seen: set[str] = set()
        for f in findings:
            raw = f"{f.workload}\0{f.container}\0{f.declared}\0{f.live}"
            key = "d:" + _key(scope, raw)
            seen.add(key)
            if key in self.open:
                continue
            if len(self.open) < MAX_OPEN:
                self.open[key] = Open(key, "drift", f.describe(), f.workload, f.location, now, "warning", scope)
            out.append(Notice(Kind.DRIFT_DETECTED, Severity.WARNING, f"drift: {f.describe()}", text=f.describe(),
                              repository=repository, subject=f.workload, location=f.location, since=now, at=now,
                              key=key, images=(f.image,) if f.image else ()))
        for key, o in list(self.open.items()):
            if o.kind == "drift" and key not in seen and o.scope in ("", scope):
                del self.open[key]
                out.append(Notice(Kind.DRIFT_RESOLVED, Severity.INFO, f"drift resolved: {o.title}",
                                  repository=repository, subject=o.subject, location=o.location, since=o.since,
                                  at=now, key=key))
        self._save()
        return out

    def firing(self) -> list[Open]:
        """Every open problem and drift (Alertmanager wants firing alerts re-sent regularly); a held promotion is no alert."""
        return sorted((o for o in self.open.values() if o.kind != "hold"), key=lambda o: o.since)

    # -- persistence ----------------------------------------------------------------------
    def _load(self) -> None:
        assert self.state_file is not None
        try:
            raw = self.state_file.read_text()
        except FileNotFoundError:
            return
        except OSError as e:
            log.warning("notifications: cannot read %s (%s); starting afresh", self.state_file, e)
            return
        try:
            doc = json.loads(raw)
            version = doc.get("version")
            if version not in (1, STATE_VERSION):
                raise ValueError(f"version {version!r}, expected {STATE_VERSION}")
            entries = [Open(**o) for o in doc["open"][:MAX_OPEN]]
            if version == 1:  # a lane's problem was keyed without its lane then: forget it (it is announced once more)
                entries = [o for o in entries if not (o.kind == "problem" and o.scope)]
            self.open = {o.key: o for o in entries}
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            log.warning("notifications: %s is not a state file this imagebot wrote (%s); starting afresh",
                        self.state_file, e)
            self.open = {}

    def _save(self) -> None:
        if self.state_file is None:
            return
        doc = {"version": STATE_VERSION, "open": [o.__dict__ for o in self.open.values()]}
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".notify-state.")
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh)
            os.replace(tmp, self.state_file)
        except OSError as e:
            log.warning("notifications: cannot write %s: %s", self.state_file, e)


@dataclass(frozen=True)
class DriftFinding:
    """A workload whose live image differs from Git — as the agent's drift check found it."""

    workload: str  # "Deployment/prod/payments"
    container: str
    declared: str
    live: str | None
    location: str = ""
    image: str = ""

    def describe(self) -> str:
        if not self.container:
            return f"{self.workload} is declared in Git but not found in the cluster"
        if self.live is None:
            return f"{self.workload} container {self.container}: declared {self.declared}, missing in the cluster"
        return f"{self.workload} container {self.container} runs {self.live}, Git says {self.declared}"


def _images_of(p: Problem, result: CycleResult) -> tuple[str, ...]:
    """The images a problem concerns, for per-target image filters (by the occurrence at its place)."""
    if p.location is None:
        return ()
    return tuple(sorted({o.image for o in result.discovery.occurrences
                         if o.location.file == p.location.file and o.location.line == p.location.line}))


