"""Leader election on a coordination.k8s.io/v1 Lease, on the official client.

Only the leader writes (pushes, opens pull requests). The rules, as in client-go:

- a candidate takes the Lease when it is free, or when its record has not changed for
  `lease_duration` as measured on the candidate's *own* monotonic clock (from the moment it first
  saw that record): no trust in other hosts' wall clocks;
- every write is a replace carrying the `resourceVersion` that was read, so two candidates
  racing for an expired Lease cannot both win: the API server answers 409 to the stale one;
- the leader counts itself leader only until `renew_deadline` after the start of its last
  successful renewal. As `renew_deadline < lease_duration`, a leader that cannot renew steps
  down before anyone else may take over: at no moment do two replicas both believe they lead.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

log = logging.getLogger(__name__)

#: The leader writes where followers can reach it (host:port) on the Lease it holds.
ADDRESS_ANNOTATION = "imagebot.io/leader-address"


@dataclass(frozen=True)
class LeaseTiming:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need 0 < retry_period < renew_deadline < lease_duration")


def default_identity() -> str:
    """The pod name (the hostname in a pod) plus a random suffix: a restarted pod is a new candidate."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class LeaseElector:
    """Acquire and renew one Lease. `step()` is one attempt; `run()` repeats it every retry period."""

    def __init__(
        self,
        api: client.CoordinationV1Api,
        *,
        name: str,
        namespace: str,
        identity: str | None = None,
        timing: LeaseTiming = LeaseTiming(),
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[bool], None] | None = None,
        healthy: Callable[[], bool] = lambda: True,
    ):
        self.api = api
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.timing = timing
        self._clock = clock
        self._now = now
        self._on_change = on_change
        #: The worker's liveness: while it says no, the Lease is not acquired or renewed, so a
        #: stuck leader loses it (after renew_deadline it stops writing; after lease_duration the
        #: standby takes over) and takes it back only once it recovers.
        self._healthy = healthy
        # A hung API server must not stall the elector past its renew deadline.
        self._timeout = max(0.5, timing.renew_deadline / 2)
        self._lock = threading.Lock()
        self._renewed_at: float | None = None  # start of our last successful acquire/renew
        self._observed: tuple[object, ...] | None = None  # the other holder's record, as last seen
        self._observed_at = 0.0
        self._was_leader = False
        #: Who holds the lease as far as we know ("" when free or unknown).
        self.holder = ""
        #: host:port this replica serves on, written on the Lease while it leads ("" : none).
        self.address = ""
        #: The holder's address as last read from the Lease ("" when free or unknown).
        self.holder_address = ""

    @classmethod
    def for_client(cls, api: client.ApiClient, **kwargs: Any) -> "LeaseElector":
        """An elector over an ApiClient (callers above imagebot.k8s never touch `kubernetes`)."""
        return cls(client.CoordinationV1Api(api), **kwargs)

    # -- the gate the agent asks before every write -----------------------------------------
    def is_leader(self) -> bool:
        with self._lock:
            return self._renewed_at is not None and self._clock() - self._renewed_at < self.timing.renew_deadline

    # -- one attempt ---------------------------------------------------------------------------
    def step(self) -> bool:
        """Try once to acquire or renew the Lease; returns whether we lead now."""
        started = self._clock()
        try:
            self._attempt(started)
        except ApiException as e:
            if e.status == 409:
                log.debug("lease %s/%s: lost a race (409 conflict)", self.namespace, self.name)
            else:
                log.warning("lease %s/%s: API error %s %s", self.namespace, self.name, e.status, e.reason)
        except (HTTPError, OSError) as e:
            log.warning("lease %s/%s: API server unreachable: %s", self.namespace, self.name, e)
        return self._notify()

    def _attempt(self, started: float) -> None:
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self._timeout)
        except ApiException as e:
            if e.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace,
                                             annotations={ADDRESS_ANNOTATION: self.address} if self.address else None),
                spec=self._spec(None),
            )
            self.api.create_namespaced_lease(self.namespace, body, _request_timeout=self._timeout)
            self._won(started)
            return

        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        self.holder = holder
        self.holder_address = ((lease.metadata.annotations or {}).get(ADDRESS_ANNOTATION) or "") if holder else ""
        record = (holder, spec.renew_time, spec.acquire_time, spec.lease_transitions, lease.metadata.resource_version)
        if record != self._observed:
            self._observed, self._observed_at = record, started
        if holder and holder != self.identity:
            duration = float(spec.lease_duration_seconds or self.timing.lease_duration)
            if started - self._observed_at < duration:
                self._lost()
                return
            log.info("lease %s/%s: %s did not renew for %.0fs; taking over", self.namespace, self.name, holder, duration)
        lease.spec = self._spec(spec)
        if self.address:
            lease.metadata.annotations = {**(lease.metadata.annotations or {}), ADDRESS_ANNOTATION: self.address}
        # The resourceVersion read above goes back with the replace: a stale one gets 409.
        self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self._timeout)
        self._won(started)

    def _spec(self, old: client.V1LeaseSpec | None) -> client.V1LeaseSpec:
        now = self._now()
        ours = old is not None and old.holder_identity == self.identity
        transitions = (old.lease_transitions or 0) if old is not None else 0
        return client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=math.ceil(self.timing.lease_duration),
            acquire_time=old.acquire_time if ours and old is not None else now,
            renew_time=now,
            lease_transitions=transitions if ours or old is None else transitions + 1,
        )

    def _won(self, started: float) -> None:
        with self._lock:
            self._renewed_at = started
        self.holder = self.identity
        self.holder_address = self.address

    def _lost(self) -> None:
        with self._lock:
            self._renewed_at = None

    def _notify(self) -> bool:
        leading = self.is_leader()
        if leading != self._was_leader:
            self._was_leader = leading
            log.info("lease %s/%s: %s %s", self.namespace, self.name, self.identity,
                     "became the leader" if leading else "is no longer the leader")
            if self._on_change is not None:
                self._on_change(leading)
        return leading

    # -- the loop --------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Acquire/renew every retry period until `stop` is set, then release the Lease."""
        while not stop.is_set():
            if self._healthy():
                self.step()
            else:
                log.warning("lease %s/%s: the worker is stuck: not renewing", self.namespace, self.name)
                self._notify()
            stop.wait(self.timing.retry_period)
        self.release()

    def release(self) -> None:
        """Give the Lease up at shutdown so the other replica takes over at once, not after the duration."""
        was_leader = self.is_leader()
        self._lost()
        self._notify()
        if not was_leader:
            return
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self._timeout)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = self._now()
            self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self._timeout)
            log.info("lease %s/%s: released by %s", self.namespace, self.name, self.identity)
        except (ApiException, HTTPError, OSError) as e:
            log.warning("lease %s/%s: could not release: %s", self.namespace, self.name, e)
