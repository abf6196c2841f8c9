"""Leader election on a Lease, against the Kubernetes API emulator over real HTTP.

A fake monotonic clock drives the electors, so "within the lease duration" is exact and the
tests take no real time; every Lease read and replace is a real HTTP request.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client

from imagebot.k8s.leader import LeaseElector, LeaseTiming
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)

TIMING = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=2)
LEASES = "coordination.k8s.io/v1/leases"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t)


def elector(kube: KubeServer, identity: str, clock: FakeClock, api: client.CoordinationV1Api | None = None) -> LeaseElector:
    return LeaseElector(
        api or client.CoordinationV1Api(kube.api_client()),
        name="imagebot",
        namespace="imagebot",
        identity=identity,
        timing=TIMING,
        clock=clock,
        now=clock.wall,
    )


def test_one_leader_at_every_moment_and_takeover_within_the_lease_duration(kube: KubeServer) -> None:
    clock = FakeClock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    alive = {"a": a, "b": b}
    writes: list[tuple[float, str]] = []  # (time, writer): what a replica writes while it believes it leads
    leaders_over_time: list[str] = []
    killed_at = None
    took_over_at = None

    for tick in range(60):
        for e in list(alive.values()):
            if tick % 2 == 0:  # every retry period
                e.step()
        # The safety property, checked at every moment for both replicas, dead or alive:
        leading = [e.identity for e in (a, b) if e.is_leader()]
        assert len(leading) <= 1, f"two leaders at t={clock.t}"
        for who in leading:
            writes.append((clock.t, who))
        leaders_over_time.append(leading[0] if leading else "-")
        if tick == 20:
            first = leading[0]
            del alive[first]  # killed: it never steps (renews) again
            killed_at = clock.t
        if killed_at is not None and took_over_at is None and leading and leading[0] != first:
            took_over_at = clock.t
        clock.t += 1

    assert leaders_over_time[0] in ("a", "b")
    assert took_over_at is not None, leaders_over_time
    assert took_over_at - killed_at <= TIMING.lease_duration + TIMING.retry_period
    assert len({t for t, _ in writes}) == len(writes), "two writers at the same moment"
    lease = kube.get(LEASES, "imagebot", "imagebot")
    assert lease["spec"]["holderIdentity"] != first
    assert lease["spec"]["leaseTransitions"] == 1


def test_a_leader_cut_off_from_the_api_steps_down_before_the_other_may_take_over(kube: KubeServer) -> None:
    clock = FakeClock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    assert a.step() and not b.step()
    cut_at = clock.t
    # a keeps running but every renewal fails (its API server connection is gone).
    a.api = client.CoordinationV1Api(client.ApiClient(_unreachable()))
    a_stepped_down = b_took_over = None
    for _ in range(40):
        clock.t += 1
        a.step()
        b.step()
        assert not (a.is_leader() and b.is_leader())
        if a_stepped_down is None and not a.is_leader():
            a_stepped_down = clock.t
        if b_took_over is None and b.is_leader():
            b_took_over = clock.t
    assert a_stepped_down is not None and b_took_over is not None
    assert a_stepped_down - cut_at <= TIMING.renew_deadline
    assert a_stepped_down < b_took_over <= cut_at + TIMING.lease_duration + TIMING.retry_period


def test_two_candidates_racing_for_a_free_lease_one_wins_the_other_gets_409(kube: KubeServer) -> None:
    clock = FakeClock()
    assert elector(kube, "old", clock).step()
    racers = [elector(kube, name, clock) for name in ("x", "y")]
    assert not any(r.step() for r in racers)  # both see "old" holding the lease...
    clock.t += 100  # ... which then expires
    barrier = threading.Barrier(2, timeout=10)

    class ReadThenWait(client.CoordinationV1Api):
        """Both candidates read the same record before either writes: the race a real cluster has."""

        def read_namespaced_lease(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            lease = super().read_namespaced_lease(*args, **kwargs)
            barrier.wait()
            return lease

    for r in racers:
        r.api = ReadThenWait(kube.api_client())
    threads = [threading.Thread(target=r.step) for r in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [r.is_leader() for r in racers].count(True) == 1
    assert kube.emulator is not None and kube.emulator.conflicts == 1
    winner = next(r for r in racers if r.is_leader())
    assert kube.get(LEASES, "imagebot", "imagebot")["spec"]["holderIdentity"] == winner.identity


def test_release_at_shutdown_lets_the_other_replica_lead_at_once(kube: KubeServer) -> None:
    clock = FakeClock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    assert a.step()
    clock.t += 1
    assert not b.step()
    a.release()
    assert not a.is_leader()
    clock.t += 1
    assert b.step(), "a released lease is free: no need to wait for it to expire"


def test_run_renews_until_stopped_then_releases(kube: KubeServer) -> None:
    changes: list[bool] = []
    became = threading.Event()

    def on_change(leading: bool) -> None:
        changes.append(leading)
        if leading:
            became.set()

    e = LeaseElector(
        client.CoordinationV1Api(kube.api_client()),
        name="imagebot", namespace="imagebot", identity="solo",
        timing=LeaseTiming(lease_duration=3, renew_deadline=2, retry_period=0.05),
        on_change=on_change,
    )
    stop = threading.Event()
    t = threading.Thread(target=e.run, args=(stop,))
    t.start()
    assert became.wait(10)
    stop.set()
    t.join(10)
    assert changes == [True, False]
    assert "holderIdentity" not in kube.get(LEASES, "imagebot", "imagebot")["spec"]


@pytest.mark.parametrize("bad", [(15, 15, 2), (15, 10, 10), (15, 10, 0)])
def test_timing_must_be_ordered(bad: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError):
        LeaseTiming(*bad)


def _unreachable() -> client.Configuration:
    conf = client.Configuration()
    conf.host = "http://127.0.0.1:9"  # discard port: connection refused
    conf.retries = False
    return conf
