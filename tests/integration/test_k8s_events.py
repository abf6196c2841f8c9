"""Kubernetes Events from a cycle's outcome, posted to the API emulator over HTTP, rate limited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagebot.discover.declared import declared_workloads
from imagebot.k8s.events import EventRecorder, EventsReporter, ObjectRef, WorkloadIndex
from imagebot.model import (Landed, PullRequestAction, PullRequestOutcome, Refusal, Change, CycleResult, Delivery, Discovery, FieldKind, Location, Occurrence, Plan, PolicySpec,
                            Problem, Rendered)
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  template:
    spec:
      containers:
        - name: pg
          image: postgres:16.1
"""


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def index(tmp_path: Path) -> WorkloadIndex:
    (tmp_path / "apps.yaml").write_text(MANIFEST)
    return WorkloadIndex(declared_workloads(tmp_path).workloads, "default")


def change(line: int, old: str, new: str) -> Change:
    occ = Occurrence(Location("apps.yaml", line, 18), 1, FieldKind.IMAGE, old, "ghcr.io/org/app", "1.0.0", None,
                     PolicySpec("semver:^1"), "Deployment/web container app")
    return Change(occ, old, new, old, new, "newer")


def result(changes: tuple[Change, ...] = (), problems: tuple[Problem, ...] = (), delivery: Delivery | None = None) -> CycleResult:
    return CycleResult(Discovery(()), (), Plan(changes), Rendered(()), delivery, problems, 0.0, 0.1)


def events(kube: KubeServer) -> list[dict[str, Any]]:
    return sorted(kube.list("v1/events"), key=lambda e: e["metadata"]["resourceVersion"])


def test_workload_index_maps_a_line_to_the_workload_declared_around_it(index: WorkloadIndex) -> None:
    assert index.locate(Location("apps.yaml", 16, 18)) == ObjectRef("apps/v1", "Deployment", "shop", "web")
    assert index.locate(Location("apps.yaml", 27, 18)) == ObjectRef("apps/v1", "StatefulSet", "default", "db")
    assert index.locate(Location("other.yaml", 3)) is None


def test_image_updated_pull_request_policy_and_registry_events(kube: KubeServer, index: WorkloadIndex) -> None:
    posted: list[str] = []
    recorder = EventRecorder.for_client(kube.api_client(), instance="imagebot-0", on_posted=posted.append)
    reporter = EventsReporter(recorder, lambda: index)
    c = change(16, "ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.1.0")
    refused = change(27, "ghcr.io/org/db:1.0.0", "ghcr.io/org/db:1.1.0")  # planned, but apply refused the edit
    reporter.cycle_finished(result((c, refused), delivery=Delivery(
        "commit", branch="staging", commit="0123456789abcdef", pushed=True,
        landed=(Landed(c, "staging", "0123456789abcdef"),), refused=(Refusal(refused, "anchor"),))))
    reporter.cycle_finished(result(problems=(
        Problem("policy", "bad semver range '^1.x.y'", Location("apps.yaml", 27), "StatefulSet/db"),
        Problem("registry", "ghcr.io: 503 Service Unavailable", Location("apps.yaml", 16), "Deployment/web", temporary=True),
        Problem("edit", "not edited", Location("apps.yaml", 16)),  # no Event for this kind
    )))
    got = [(e["reason"], e["type"], e["involvedObject"]["kind"], e["involvedObject"]["namespace"], e["metadata"]["namespace"])
           for e in events(kube)]
    assert got == [
        ("ImageUpdated", "Normal", "Deployment", "shop", "shop"),
        ("PolicyInvalid", "Warning", "StatefulSet", "default", "default"),
        ("RegistryUnavailable", "Warning", "Deployment", "shop", "shop"),
    ]
    first = events(kube)[0]
    assert "ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.1.0" in first["message"] and "0123456789ab" in first["message"]
    assert first["reportingComponent"] == "imagebot" and first["reportingInstance"] == "imagebot-0"
    assert posted == ["ImageUpdated", "PolicyInvalid", "RegistryUnavailable"]

    url = "https://github.com/o/r/pull/7"
    opened = PullRequestOutcome(url, "imagebot/app", PullRequestAction.OPENED, (c,), "abc")
    reporter.cycle_finished(result((c,), delivery=Delivery("pull-request", outcomes=(opened,),
                                                           landed=(Landed(c, "imagebot/app", "abc", url),))))
    assert events(kube)[-1]["reason"] == "PullRequestOpened"
    assert url in events(kube)[-1]["message"]
    assert [e["reason"] for e in events(kube)].count("ImageUpdated") == 1  # a proposal is not an update
    n = len(events(kube))
    quiet = PullRequestOutcome(url, "imagebot/app", PullRequestAction.UNCHANGED, (c,))
    reporter.cycle_finished(result((c,), delivery=Delivery("pull-request", outcomes=(quiet,))))
    assert len(events(kube)) == n  # nothing written, nothing announced


def test_the_same_event_is_not_repeated_within_the_interval_and_bursts_are_capped(kube: KubeServer, index: WorkloadIndex) -> None:
    clock = Clock()
    recorder = EventRecorder.for_client(kube.api_client(), instance="i", repeat_after=600, burst=3, clock=clock)
    ref = ObjectRef("apps/v1", "Deployment", "shop", "web")
    assert recorder.emit(ref, "RegistryUnavailable", "ghcr.io down", warning=True)
    assert not recorder.emit(ref, "RegistryUnavailable", "ghcr.io down", warning=True)  # same, too soon
    clock.t = 601
    assert recorder.emit(ref, "RegistryUnavailable", "ghcr.io down", warning=True)  # same, later: again
    # A flood of distinct Events: at most `burst` at once, then `burst` per minute.
    sent = [recorder.emit(ref, "PolicyInvalid", f"problem {i}", warning=True) for i in range(10)]
    assert sent.count(True) == 2  # 3 tokens, one already spent at t=601
    clock.t += 20
    assert recorder.emit(ref, "PolicyInvalid", "problem 11", warning=True)
    assert len(events(kube)) == 5


def test_only_the_writer_posts_events(kube: KubeServer, index: WorkloadIndex) -> None:
    recorder = EventRecorder.for_client(kube.api_client(), instance="follower")
    reporter = EventsReporter(recorder, lambda: index, can_write=lambda: False)
    reporter.cycle_finished(result(problems=(Problem("policy", "bad", Location("apps.yaml", 16)),)))
    assert events(kube) == []


def test_api_trouble_is_logged_not_raised(index: WorkloadIndex) -> None:
    from kubernetes import client

    conf = client.Configuration()
    conf.host, conf.retries = "http://127.0.0.1:9", False
    recorder = EventRecorder(client.CoreV1Api(client.ApiClient(conf)), instance="i")
    assert not recorder.emit(ObjectRef("apps/v1", "Deployment", "shop", "web"), "ImageUpdated", "x")


def test_events_of_a_lane_name_its_repository(kube: KubeServer, index: WorkloadIndex) -> None:
    recorder = EventRecorder.for_client(kube.api_client(), instance="imagebot-0")
    EventsReporter(recorder, lambda: index, repository="payments").cycle_finished(result(problems=(
        Problem("policy", "bad semver range", Location("apps.yaml", 27), "StatefulSet/db"),)))
    EventsReporter(recorder, lambda: index).cycle_finished(result(problems=(  # the single `repository:` form
        Problem("registry", "ghcr.io: 503", Location("apps.yaml", 16), "Deployment/web", temporary=True),)))
    lane, single = events(kube)
    assert lane["metadata"]["annotations"] == {"imagebot.io/repository": "payments"}
    assert lane["message"].startswith("[payments] ") and "bad semver range" in lane["message"]
    assert lane["involvedObject"]["name"] == "db"
    assert not single["metadata"].get("annotations")
    assert "ghcr.io: 503" in single["message"] and not single["message"].startswith("[")
