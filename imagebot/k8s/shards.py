"""Sharding lanes across replicas: one Lease per lane, each replica holding a fair share.

- Every lane has its own Lease (`<lease_name>-<lane>`, DNS-safe), taken and renewed by the same
  :class:`~imagebot.k8s.leader.LeaseElector` rules as the single leader Lease: a holder that
  stops renewing loses the lane after `lease_duration` (measured on the taker's own clock), a
  stale replace gets 409, and a holder that cannot renew stops writing before anyone may take
  over. So a lane never has two writers; the write gate of a lane is its elector's `is_leader`.
- Replicas see each other through one small membership Lease (`<lease_name>-members`): its
  annotation holds a heartbeat per replica; a heartbeat that has not moved for `lease_duration`
  (on the reader's clock) is a replica gone. With R replicas alive and L lanes, a replica takes a
  free or expired lane only while it holds fewer than ceil(L / R), and gives back (releases)
  lanes beyond that share, so a new replica gets its share and a dead one's lanes move to the
  others within the lease duration.
- A replica takes no lane in its first retry period: it first makes itself seen, so that
  replicas starting together do not all grab every lane and hand most of them back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from imagebot.k8s.leader import LeaseElector, LeaseTiming

log = logging.getLogger(__name__)

MEMBERS_ANNOTATION = "imagebot.io/members"


def lane_lease_name(base: str, lane: str) -> str:
    """`<base>-<lane>` as a DNS label (<= 63): lower-case, [a-z0-9-]; long names end in a hash."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{base}-{lane}".lower()).strip("-")
    if len(name) > 63:
        digest = hashlib.sha256(f"{base}/{lane}".encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


class Membership:
    """The replicas alive, from heartbeats in one Lease's annotation (read-modify-replace, 409-safe)."""

    def __init__(self, api: client.CoordinationV1Api, *, name: str, namespace: str, identity: str, timing: LeaseTiming,
                 clock: Callable[[], float]):
        self.api, self.name, self.namespace, self.identity = api, name, namespace, identity
        self.timing = timing
        self._clock = clock
        self._timeout = max(0.5, timing.renew_deadline / 2)
        self._seen: dict[str, tuple[int, float]] = {}  # identity -> (heartbeat, when we first saw it)
        self._beat = 0
        self.alive: tuple[str, ...] = (identity,)

    def beat(self) -> tuple[str, ...]:
        """Write our heartbeat, drop replicas gone for twice the lease duration; returns those alive."""
        for _ in range(3):  # a 409 means another replica wrote in between: read again
            try:
                self._beat_once()
                break
            except ApiException as e:
                if e.status != 409:
                    log.warning("lease %s/%s: API error %s %s", self.namespace, self.name, e.status, e.reason)
                    break
            except (HTTPError, OSError) as e:
                log.warning("lease %s/%s: API server unreachable: %s", self.namespace, self.name, e)
                break
        return self.alive

    def _beat_once(self) -> None:
        now = self._clock()
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self._timeout)
        except ApiException as e:
            if e.status != 404:
                raise
            self._beat += 1
            body = client.V1Lease(metadata=client.V1ObjectMeta(
                name=self.name, namespace=self.namespace,
                annotations={MEMBERS_ANNOTATION: json.dumps({self.identity: self._beat})}), spec=client.V1LeaseSpec())
            self.api.create_namespaced_lease(self.namespace, body, _request_timeout=self._timeout)
            self._observe({self.identity: self._beat}, now)
            return
        annotations = dict(lease.metadata.annotations or {})
        try:
            beats = {str(k): int(v) for k, v in json.loads(annotations.get(MEMBERS_ANNOTATION, "{}")).items()}
        except (ValueError, TypeError, AttributeError):
            beats = {}
        self._observe(beats, now)
        gone = [i for i, (_, t) in self._seen.items() if i != self.identity and now - t > 2 * self.timing.lease_duration]
        for i in gone:
            beats.pop(i, None)
            self._seen.pop(i, None)
        self._beat = max(self._beat, beats.get(self.identity, 0)) + 1
        beats[self.identity] = self._beat
        annotations[MEMBERS_ANNOTATION] = json.dumps(beats, sort_keys=True)
        lease.metadata.annotations = annotations
        self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self._timeout)
        self._seen[self.identity] = (self._beat, now)
        self._update(now)

    def _observe(self, beats: dict[str, int], now: float) -> None:
        for gone in [i for i in self._seen if i not in beats and i != self.identity]:
            del self._seen[gone]  # it left (released its lanes at shutdown) or was pruned
        for who, beat in beats.items():
            if self._seen.get(who, (None,))[0] != beat:
                self._seen[who] = (beat, now)
        self._update(now)

    def _update(self, now: float) -> None:
        self.alive = tuple(sorted({self.identity} | {i for i, (_, t) in self._seen.items()
                                                      if now - t < self.timing.lease_duration}))

    def leave(self) -> None:
        """Remove our heartbeat at shutdown, so the others count one replica fewer at once."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self._timeout)
            annotations = dict(lease.metadata.annotations or {})
            beats = json.loads(annotations.get(MEMBERS_ANNOTATION, "{}"))
            if beats.pop(self.identity, None) is None:
                return
            annotations[MEMBERS_ANNOTATION] = json.dumps(beats, sort_keys=True)
            lease.metadata.annotations = annotations
            self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self._timeout)
        except (ApiException, HTTPError, OSError, ValueError) as e:
            log.warning("lease %s/%s: could not leave: %s", self.namespace, self.name, e)


class LaneShards:
    """Holds this replica's fair share of the lanes. `holds(lane)` is that lane's write gate."""

    def __init__(
        self,
        api: client.CoordinationV1Api,
        *,
        base_name: str,
        namespace: str,
        lanes: Sequence[str],
        identity: str,
        timing: LeaseTiming = LeaseTiming(),
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[str, bool], None] | None = None,
        healthy: Callable[[], bool] = lambda: True,
    ):
        self.identity = identity
        self._healthy = healthy
        self.timing = timing
        self._clock = clock
        self.lanes = tuple(lanes)
        self.membership = Membership(api, name=lane_lease_name(base_name, "members"), namespace=namespace,
                                     identity=identity, timing=timing, clock=clock)
        self.electors: dict[str, LeaseElector] = {}
        for lane in self.lanes:
            e = LeaseElector(api, name=lane_lease_name(base_name, lane), namespace=namespace, identity=identity,
                             timing=timing, clock=clock, now=now,
                             on_change=(lambda leading, lane=lane: on_change(lane, leading)) if on_change else None)
            e.may_acquire = self._may_acquire
            self.electors[lane] = e
        # Each replica tries the lanes in its own order: fewer replicas race for the same free Lease.
        self._order = sorted(self.lanes, key=lambda n: hashlib.sha256(f"{identity}/{n}".encode()).digest())
        self._joined_at: float | None = None
        self._target = len(self.lanes)

    @classmethod
    def for_client(cls, api: client.ApiClient, **kwargs: Any) -> "LaneShards":
        return cls(client.CoordinationV1Api(api), **kwargs)

    def holds(self, lane: str) -> bool:
        e = self.electors.get(lane)
        return e is not None and e.is_leader()

    def held(self) -> tuple[str, ...]:
        return tuple(n for n in self.lanes if self.holds(n))

    @property
    def target(self) -> int:
        """This replica's fair share: ceil(lanes / replicas alive)."""
        return self._target

    def _may_acquire(self) -> bool:
        settled = self._joined_at is not None and self._clock() - self._joined_at >= self.timing.retry_period
        return settled and len(self.held()) < self._target

    def step(self) -> tuple[str, ...]:
        """Heartbeat, give back lanes beyond the fair share, renew the rest, take free ones; returns those held."""
        alive = self.membership.beat()
        if self._joined_at is None:
            self._joined_at = self._clock()
        self._target = math.ceil(len(self.lanes) / max(1, len(alive)))
        surplus = [n for n in reversed(self._order) if self.holds(n)][: max(0, len(self.held()) - self._target)]
        for lane in surplus:
            log.info("lane %s: giving it back (holding more than the fair share of %d)", lane, self._target)
            self.electors[lane].release()
        for lane in self._order:
            if lane not in surplus:
                self.electors[lane].step()
        return self.held()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self._healthy():
                # A stuck worker renews nothing and beats no heartbeat: its lanes expire and move,
                # and the others stop counting it.
                log.warning("lane shards: the worker is stuck: not renewing any lane")
                for e in self.electors.values():
                    e._notify()  # is_leader lapses after renew_deadline: tell the agent
                stop.wait(self.timing.retry_period)
                continue
            try:
                self.step()
            except Exception:  # one bad answer must not end sharding; the Leases expire safely
                log.exception("lane shards: step failed")
            stop.wait(self.timing.retry_period)
        self.release()

    def release(self) -> None:
        """Give every lane back and leave, so the other replicas take over at once."""
        for e in self.electors.values():
            e.release()
        self.membership.leave()
