"""Kubernetes Events on the workloads imagebot acts on: one more reporter.

Reasons: ImageUpdated, PullRequestOpened, PullRequestUpdated (Normal); PolicyInvalid, RegistryUnavailable,
DriftDetected (Warning). The same (object, reason, message) is posted at most once per
`repeat_after` seconds, and at most `burst` Events go out per minute in all, so a registry
outage on a 500-workload repository does not flood the API server.

Events name a workload by kind, namespace and name, which the change or problem does not
carry: :class:`WorkloadIndex` maps a file location back to the workload declared there.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from imagebot.discover.declared import DeclaredWorkload
from imagebot.k8s.drift import DriftReport
from imagebot.model import CycleResult, Location, Problem, PullRequestAction

log = logging.getLogger(__name__)

POLICY_PROBLEMS = frozenset({"policy", "annotation", "marker"})
MAX_MESSAGE = 1024
#: On an Event posted for one lane's workloads: the repository (lane name) it comes from.
REPOSITORY_ANNOTATION = "imagebot.io/repository"
REQUEST_TIMEOUT = 10.0  # seconds; an Event is never worth stalling a cycle


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str


class WorkloadIndex:
    """Which declared workload a (file, line) of the repository belongs to."""

    def __init__(self, workloads: Iterable[DeclaredWorkload], default_namespace: str):
        self.default_namespace = default_namespace
        self._by_file: dict[str, list[DeclaredWorkload]] = {}
        for w in sorted(workloads, key=lambda w: (w.location.file, w.location.line)):
            self._by_file.setdefault(w.location.file, []).append(w)

    def locate(self, location: Location | None) -> ObjectRef | None:
        if location is None:
            return None
        items = self._by_file.get(location.file)
        if not items:
            return None
        lines = [w.location.line for w in items]
        i = bisect.bisect_right(lines, location.line) - 1
        w = items[max(i, 0)]
        return ObjectRef(w.api_version, w.kind, w.namespace or self.default_namespace, w.name)


class EventRecorder:
    def __init__(
        self,
        api: client.CoreV1Api,
        *,
        instance: str,
        repeat_after: float = 600.0,
        burst: int = 30,
        clock: Callable[[], float] = time.monotonic,
        on_posted: Callable[[str], None] | None = None,
    ):
        self.api = api
        self.instance = instance
        self.repeat_after = repeat_after
        self.burst = burst
        self._clock = clock
        self._on_posted = on_posted
        self._lock = threading.Lock()
        self._last: dict[tuple[ObjectRef, str, str], float] = {}
        self._tokens = float(burst)
        self._tokens_at = clock()

    @classmethod
    def for_client(cls, api: client.ApiClient, **kwargs: Any) -> "EventRecorder":
        return cls(client.CoreV1Api(api), **kwargs)

    def _admit(self, key: tuple[ObjectRef, str, str]) -> bool:
        with self._lock:
            now = self._clock()
            last = self._last.get(key)
            if last is not None and now - last < self.repeat_after:
                return False
            self._tokens = min(self.burst, self._tokens + (now - self._tokens_at) * self.burst / 60.0)
            self._tokens_at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            self._last[key] = now
            return True

    def emit(self, ref: ObjectRef, reason: str, message: str, warning: bool = False, *,
             repository: str | None = None) -> bool:
        """Post one Event unless rate limited; True when posted. API trouble is logged, never raised.

        `repository`: the lane the Event comes from (several repositories may declare workloads
        of one cluster): an annotation on the Event and a prefix of its message."""
        if repository:
            message = f"[{repository}] {message}"
        message = message[:MAX_MESSAGE]
        if not self._admit((ref, reason, message)):
            return False
        now = datetime.now(UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{ref.name}.", namespace=ref.namespace,
                                         annotations={REPOSITORY_ANNOTATION: repository} if repository else None),
            involved_object=client.V1ObjectReference(
                api_version=ref.api_version, kind=ref.kind, name=ref.name, namespace=ref.namespace
            ),
            reason=reason,
            message=message,
            type="Warning" if warning else "Normal",
            source=client.V1EventSource(component="imagebot"),
            reporting_component="imagebot",
            reporting_instance=self.instance,
            action=reason,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        try:
            self.api.create_namespaced_event(ref.namespace, event, _request_timeout=REQUEST_TIMEOUT)
        except (ApiException, HTTPError, OSError) as e:
            log.warning("cannot post Event %s on %s/%s/%s: %s", reason, ref.kind, ref.namespace, ref.name,
                        getattr(e, "reason", None) or e)
            return False
        if self._on_posted is not None:
            self._on_posted(reason)
        return True

    def drift(self, report: DriftReport, repository: str | None = None) -> None:
        for d in report.drifts:
            ref = ObjectRef(d.workload.api_version, d.workload.kind, d.namespace, d.workload.name)
            self.emit(ref, "DriftDetected", str(d), warning=True, repository=repository)


class EventsReporter:
    """Posts a finished cycle's outcome as Events (only while this replica may write)."""

    def __init__(self, recorder: EventRecorder, index: Callable[[], WorkloadIndex | None],
                 can_write: Callable[[], bool] = lambda: True, repository: str | None = None):
        self.recorder = recorder
        self._index = index
        self._can_write = can_write
        #: The lane whose workloads these are (None: the single `repository:` form).
        self.repository = repository

    def _emit(self, ref: ObjectRef, reason: str, message: str, warning: bool = False) -> None:
        self.recorder.emit(ref, reason, message, warning, repository=self.repository)

    def cycle_finished(self, result: CycleResult) -> None:
        index = self._index()
        if index is None or not self._can_write():
            return
        d = result.delivery
        if d is not None:
            # Only what the delivery says landed or was proposed: a refused edit is never announced.
            for x in d.landed:
                ref = index.locate(x.change.occurrence.location)
                if ref is not None and not x.pull_request:
                    c = x.change
                    self._emit(ref, "ImageUpdated",
                                       f"{c.old_ref} -> {c.new_ref} ({c.file}, commit {x.commit[:12]} on {x.branch})")
            for o in d.outcomes:
                if o.action not in (PullRequestAction.OPENED, PullRequestAction.UPDATED):
                    continue
                reason = "PullRequestOpened" if o.action is PullRequestAction.OPENED else "PullRequestUpdated"
                for c in o.changes:
                    ref = index.locate(c.occurrence.location)
                    if ref is not None:
                        self._emit(ref, reason, f"{c.old_ref} -> {c.new_ref} proposed in {o.url}")
        for p in _problems(result.problems, index):
            self._emit(*p, warning=True)


def _problems(problems: Sequence[Problem], index: WorkloadIndex) -> Iterable[tuple[ObjectRef, str, str]]:
    for p in problems:
        reason = "PolicyInvalid" if p.kind in POLICY_PROBLEMS else "RegistryUnavailable" if p.kind == "registry" else None
        ref = index.locate(p.location) if reason else None
        if reason and ref is not None:
            yield ref, reason, str(p)
