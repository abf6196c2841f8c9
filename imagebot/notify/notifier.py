"""The reporter that turns each finished cycle (and each drift check) into notices and hands them
to the dispatcher. It never raises into a cycle and never waits for a target."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from imagebot.model import CycleResult
from imagebot.notify.derive import DriftFinding, Open, Tracker, delivery_notices
from imagebot.notify.dispatch import Dispatcher, Sender
from imagebot.notify.notices import Kind, Notice, Severity, Update
from imagebot.notify.services import RENDERERS
from imagebot.notify.targets import Target

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, targets: Sequence[Target], tracker: Tracker, repository: str, *,
                 dispatcher: Dispatcher | None = None, enabled: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.time, lane_urls: Mapping[str, str] | None = None):
        self.targets = list(targets)
        self.tracker = tracker
        self.repository = repository
        #: Lane name -> its repository's URL, when the config lists several (`result.lane` picks one).
        self.lane_urls = dict(lane_urls or {})
        self.dispatcher = dispatcher or Dispatcher(self.targets)
        self.enabled = enabled
        self.clock = clock

    # -- Reporter ---------------------------------------------------------------------------
    def cycle_finished(self, result: CycleResult) -> None:
        if result.dry_run or not self.targets or not self.enabled():
            return
        try:
            repository = self.lane_urls.get(result.lane, self.repository)
            notices = delivery_notices(result, repository, self.clock())
            notices += self.tracker.problems(result, repository)
            notices += self.tracker.holds(result, repository)
            self.dispatch(notices, alerts_due=True)
        except Exception:  # noqa: BLE001 - notifications never end a cycle
            log.exception("notifications: could not build this cycle's notices")

    def drift(self, findings: Sequence[DriftFinding], lane: str | None = None) -> None:
        """One drift check's findings; `lane` names the repository checked when the config lists several."""
        if not self.targets or not self.enabled():
            return
        try:
            repository = self.lane_urls.get(lane, self.repository) if lane else self.repository
            self.dispatch(self.tracker.drifts(findings, repository, scope=lane or ""), alerts_due=False)
        except Exception:  # noqa: BLE001
            log.exception("notifications: could not build the drift notices")

    # -- fan-out ---------------------------------------------------------------------------
    def dispatch(self, notices: Sequence[Notice], *, alerts_due: bool) -> int:
        """Enqueue one batch per target (split where a service limits a message); returns bodies queued."""
        queued = 0
        now = self.clock()
        for t in self.targets:
            if t.type == "alertmanager":
                # Alertmanager forgets a firing alert nobody re-sends: every open one goes each cycle.
                started = {n.key for n in notices if n.kind in (Kind.PROBLEM_STARTED, Kind.DRIFT_DETECTED)}
                batch = [n for n in notices if n.kind in (Kind.PROBLEM_RESOLVED, Kind.DRIFT_RESOLVED) or n.key in started]
                if alerts_due:
                    batch += [self._firing(o, now) for o in self.tracker.firing() if o.key not in started]
            else:
                batch = list(notices)
            batch = [n for n in batch if t.wants(n)]
            if not batch:
                continue
            for body in RENDERERS[t.type](batch):
                queued += self.dispatcher.submit(t, body)
        return queued

    def _firing(self, o: Open, now: float) -> Notice:
        kind = Kind.PROBLEM_STARTED if o.kind == "problem" else Kind.DRIFT_DETECTED
        return Notice(kind, Severity(o.severity), o.title, repository=self.lane_urls.get(o.scope, self.repository), subject=o.subject,
                      location=o.location, since=o.since, at=now, key=o.key)

    # -- `imagebot notify test` -----------------------------------------------------------------
    def test(self) -> list[tuple[str, bool, str]]:
        """Send one sample notice to each target now (synchronously); (name, sent, why not) each."""
        now = self.clock()
        sample = Notice(
            Kind.DELIVERED, Severity.INFO, "imagebot test: web 1.4.2 → 1.5.0 committed to staging",
            text="This is a test message from `imagebot notify test`.", repository=self.repository,
            updates=(Update("ghcr.io/example/web", "1.4.2", "1.5.0", ("apps/web/deployment.yaml:21",)),),
            at=now, key="test", images=("ghcr.io/example/web",),
        )
        problem = Notice(Kind.PROBLEM_STARTED, Severity.WARNING, "imagebot test: an example problem",
                         text="Sent by `imagebot notify test`; nothing is wrong.", repository=self.repository,
                         since=now, at=now, key="test")
        out = []
        for t in self.targets:
            batch = [problem] if t.type == "alertmanager" else [sample]
            sender = Sender(t)
            results = [sender.send(body) for body in RENDERERS[t.type](batch)]
            ok = all(r[0] for r in results)
            out.append((t.name, ok, "; ".join(r[1] for r in results if not r[0])))
        return out

    def flush(self, timeout: float) -> bool:
        return self.dispatcher.flush(timeout)

    def close(self) -> None:
        self.dispatcher.close()
