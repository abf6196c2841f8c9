"""Lanes sharded across replicas with one Lease per lane, against the Kubernetes API emulator.

A fake monotonic clock drives the replicas (as in test_k8s_leader), so "within the lease
duration" is exact; every Lease read and replace is a real HTTP request to the emulator.

No replica may take a lane before `lease_duration` has passed (on its own clock) since it saw
the holder's last renewal, or two could write; it sees that renewal up to one retry period late
and acts at its next step. So a dead replica's lanes move between lease_duration and
lease_duration + 2 retry periods after its last renewal.
"""

from __future__ import annotations

from collections import Counter

import pytest
from kubernetes import client

from imagebot.k8s.leader import LeaseTiming
from imagebot.k8s.shards import LaneShards, lane_lease_name
from tests.integration.test_k8s_leader import FakeClock
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)

TIMING = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=2)
LEASES = "coordination.k8s.io/v1/leases"
LANES = [f"team-{i:02d}" for i in range(12)]


def replica(kube: KubeServer, identity: str, clock: FakeClock, lanes: list[str] = LANES) -> LaneShards:
    return LaneShards(client.CoordinationV1Api(kube.api_client()), base_name="imagebot", namespace="imagebot",
                      lanes=lanes, identity=identity, timing=TIMING, clock=clock, now=clock.wall)


def test_lease_names_are_dns_labels() -> None:
    assert lane_lease_name("imagebot", "apps") == "imagebot-apps"
    long = lane_lease_name("imagebot-production-fleet", "x" * 60)
    assert len(long) <= 63 and long.startswith("imagebot-production-fleet-xxx")
    assert long != lane_lease_name("imagebot-production-fleet", "x" * 61)
    assert lane_lease_name("Imagebot", "a_b") == "imagebot-a-b"


@pytest.mark.slow
def test_three_replicas_share_12_lanes_one_holder_each_and_a_dead_ones_lanes_move_within_the_lease_duration(
        kube: KubeServer) -> None:
    clock = FakeClock()
    replicas = {name: replica(kube, name, clock) for name in ("a", "b", "c")}
    alive = dict(replicas)
    killed = killed_at = None
    moved_at: float | None = None
    samples = 0

    for tick in range(60):
        if tick % 2 == 0:  # every retry period
            for r in alive.values():
                r.step()
        # At every moment, for every lane: at most one replica (dead or alive) believes it may write.
        holders = {lane: [n for n, r in replicas.items() if r.holds(lane)] for lane in LANES}
        assert all(len(h) <= 1 for h in holders.values()), (clock.t, holders)
        if tick >= 6 and killed is None:
            # Settled: every lane has exactly one holder, on record and in belief, and the share is fair.
            assert all(len(h) == 1 for h in holders.values()), (tick, holders)
            for lane, (who,) in holders.items() if tick % 6 == 0 else ():
                assert kube.get(LEASES, "imagebot", lane_lease_name("imagebot", lane))["spec"]["holderIdentity"] == who
            assert Counter(h[0] for h in holders.values()) == {"a": 4, "b": 4, "c": 4}
            samples += 1
        if tick == 24:
            killed, killed_at = "b", clock.t
            orphaned = set(replicas["b"].held())
            del alive["b"]  # crashed: it never steps again (and never releases)
        if killed and moved_at is None and all(h and h[0] != killed for lane, h in holders.items()):
            moved_at = clock.t
        if moved_at is not None:
            assert all(len(h) == 1 for h in holders.values()), (tick, holders)
        clock.t += 1

    assert samples >= 18
    assert moved_at is not None, "the dead replica's lanes were not taken over"
    assert TIMING.lease_duration <= moved_at - killed_at <= TIMING.lease_duration + 2 * TIMING.retry_period, (killed_at, moved_at)
    assert sorted(len(r.held()) for r in alive.values()) == [6, 6]
    assert not replicas["b"].held()  # it stepped down on its own clock before anyone took over
    for lane in orphaned:
        lease = kube.get(LEASES, "imagebot", lane_lease_name("imagebot", lane))
        assert lease["spec"]["holderIdentity"] in ("a", "c") and lease["spec"]["leaseTransitions"] == 1


@pytest.mark.slow
def test_a_new_replica_gets_its_share_and_a_stopping_one_hands_its_lanes_over_at_once(kube: KubeServer) -> None:
    clock = FakeClock()
    a = replica(kube, "a", clock)
    for _ in range(3):
        a.step()
        clock.t += 2
    assert len(a.held()) == 12  # alone: every lane
    b = replica(kube, "b", clock)
    for _ in range(4):
        for r in (a, b):
            r.step()
            held = {lane for lane in LANES if a.holds(lane) and b.holds(lane)}
            assert not held, held
        clock.t += 2
    assert (len(a.held()), len(b.held())) == (6, 6)
    a.release()  # SIGTERM: give everything back, leave the membership
    b.step()
    clock.t += 2
    b.step()
    assert len(b.held()) == 12 and not a.held()
