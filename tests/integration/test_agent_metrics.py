"""Metrics: every imagebot_* figure derives from the CycleResult, scraped as Prometheus text."""

from __future__ import annotations

import platform

from prometheus_client.parser import text_string_to_metric_families

from imagebot import __version__
from imagebot.model import (Change, Landed, CycleResult, Delivery, Discovery, FieldKind, Location, Occurrence, Plan, PolicySpec,
                            Problem, Rendered, Resolution, Target)
from imagebot.report.metrics import Metrics, MetricsReporter


def occurrence(line: int, image: str = "ghcr.io/org/app") -> Occurrence:
    return Occurrence(Location("a.yaml", line, 5), 0, FieldKind.IMAGE, f"{image}:1.0.0", image, "1.0.0", None,
                      PolicySpec("semver:^1"), "Deployment/web")


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, ctype = metrics.exposition()
    assert ctype.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_a_cycle_is_counted_from_its_result() -> None:
    updated, skipped, broken = occurrence(1), occurrence(2, "ghcr.io/org/old"), occurrence(3, "ghcr.io/org/gone")
    problem = Problem("registry", "ghcr.io: 503", broken.location, temporary=True)
    resolutions = (
        Resolution(updated, Target("1.1.0"), "newer"),
        Resolution(skipped, None, "no tag matches semver:^1"),
        Resolution(broken, None, "registry unavailable", problem),
    )
    change = Change(updated, "ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.1.0", "ghcr.io/org/app:1.0.0",
                    "ghcr.io/org/app:1.1.0", "newer")
    result = CycleResult(
        Discovery(tuple(r.occurrence for r in resolutions)), resolutions,
        Plan((change,), skipped=resolutions[1:]), Rendered(()),
        Delivery("commit", branch="staging", commit="abc", pushed=True, attempts=3, landed=(Landed(change, "staging", "abc"),)),
        (problem,),
        started=1_700_000_000.0, duration=0.4, images=frozenset({"ghcr.io/org/app"}),
        registry_requests=((("ghcr.io", "tags", 200), 2), (("ghcr.io", "tags", 429), 1), (("ghcr.io", "tags", 503), 1)),
    )
    metrics = Metrics()
    MetricsReporter(metrics).cycle_finished(result)
    m = scrape(metrics)
    assert m[("imagebot_cycles_total", (("result", "partial"), ("trigger", "webhook")))] == 1
    assert m[("imagebot_cycle_duration_seconds_count", (("trigger", "webhook"),))] == 1
    assert m[("imagebot_images_checked_total", ())] == 3
    assert m[("imagebot_images_updated_total", ())] == 1
    assert m[("imagebot_images_skipped_total", (("reason", "no-candidate"),))] == 1
    assert m[("imagebot_images_skipped_total", (("reason", "registry"),))] == 1
    assert m[("imagebot_registry_requests_total", (("kind", "tags"), ("registry", "ghcr.io"), ("status", "200")))] == 2
    assert m[("imagebot_registry_rate_limited_total", (("registry", "ghcr.io"),))] == 1
    assert m[("imagebot_push_retries_total", ())] == 2
    assert m[("imagebot_last_success_timestamp_seconds", ())] == 1_700_000_000.4


def test_failed_cycles_leader_and_drift_gauges() -> None:
    metrics = Metrics()
    metrics.cycle_failed("interval", 1.5)
    metrics.leader.set(1)
    metrics.drifted_workloads.set(4)
    m = scrape(metrics)
    assert m[("imagebot_cycles_total", (("result", "failed"), ("trigger", "interval")))] == 1
    assert m[("imagebot_leader", ())] == 1
    assert m[("imagebot_drifted_workloads", ())] == 4
    names = {name for name, _ in m}
    assert all(n.startswith(("imagebot_", "process_", "python_")) for n in names)
    assert not [n for n in names if n.endswith("_created")]
    assert m[("imagebot_build_info", (("python", platform.python_version()), ("version", __version__)))] == 1
    assert ("process_resident_memory_bytes", ()) in m


def test_two_agents_in_one_process_do_not_share_counters() -> None:
    a, b = Metrics(), Metrics()
    a.cycle_failed("interval", 1.0)
    assert ("imagebot_cycles_total", (("result", "failed"), ("trigger", "interval"))) not in scrape(b)


def test_progress_gauges_move_during_the_cycle_and_per_image_series_follow_the_repository() -> None:
    now = [1000.0]
    metrics = Metrics()
    reporter = MetricsReporter(metrics, clock=lambda: now[0])
    reporter.cycle_started(3)
    reporter.cycle_progress(1, 3)
    m = scrape(metrics)
    assert m[("imagebot_cycle_in_progress", ())] == 1
    assert (m[("imagebot_cycle_images_resolved", ())], m[("imagebot_cycle_images_to_resolve", ())]) == (1, 3)

    app, gone = occurrence(1), occurrence(2, "ghcr.io/org/gone")
    change = Change(app, "ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.1.0", "ghcr.io/org/app:1.0.0",
                    "ghcr.io/org/app:1.1.0", "newer")
    problem = Problem("registry", "503", gone.location, temporary=True)
    res = (Resolution(app, Target("1.1.0"), "newer"), Resolution(gone, None, "registry unavailable", problem))

    def cycle(delivery: Delivery, changes: tuple[Change, ...] = (change,)) -> None:
        reporter.cycle_finished(CycleResult(Discovery((app, gone)), res, Plan(changes, skipped=res[1:]), Rendered(()),
                                            delivery, (problem,), started=now[0], duration=1.0))

    cycle(Delivery("pull-request"))  # proposed, not merged: pending
    now[0] += 600
    cycle(Delivery("pull-request"))
    m = scrape(metrics)
    assert m[("imagebot_cycle_in_progress", ())] == 0
    assert m[("imagebot_image_info", (("current", "1.0.0"), ("image", "ghcr.io/org/app"), ("latest_allowed", "1.1.0"),
                                      ("policy", "semver:^1")))] == 1
    assert m[("imagebot_image_update_pending_seconds", (("image", "ghcr.io/org/app"),))] == 600
    assert m[("imagebot_image_update_pending_seconds", (("image", "ghcr.io/org/gone"),))] == 600
    assert m[("imagebot_image_held", (("image", "ghcr.io/org/gone"),))] == 1
    assert m[("imagebot_images_updated_total", ())] == 0  # nothing landed

    now[0] += 60
    cycle(Delivery("commit", commit="abc", pushed=True, landed=(Landed(change, "staging", "abc"),)))
    m = scrape(metrics)
    assert m[("imagebot_image_update_pending_seconds", (("image", "ghcr.io/org/app"),))] == 0
    assert m[("imagebot_images_updated_total", ())] == 1
    series = [k for k in m if k[0] == "imagebot_image_info"]
    assert len(series) == 2  # one per managed image and tag: bounded by the repository


def test_registry_requests_are_exported_as_they_happen_and_not_counted_twice() -> None:
    from imagebot.registry.stats import RequestStats

    stats = RequestStats()
    metrics = Metrics()
    metrics.watch_registry(stats)
    stats.record("ghcr.io", "tags", 200)
    stats.record("ghcr.io", "tags", 429)
    m = scrape(metrics)  # mid-cycle: no cycle has ended yet
    assert m[("imagebot_registry_requests_total", (("kind", "tags"), ("registry", "ghcr.io"), ("status", "200")))] == 1
    assert m[("imagebot_registry_rate_limited_total", (("registry", "ghcr.io"),))] == 1
    result = CycleResult(Discovery(()), (), Plan(()), Rendered(()), None, (), 0.0, 1.0,
                         registry_requests=((("ghcr.io", "tags", "200"), 1), (("ghcr.io", "tags", "429"), 1)))
    MetricsReporter(metrics).cycle_finished(result)
    m = scrape(metrics)
    assert m[("imagebot_registry_requests_total", (("kind", "tags"), ("registry", "ghcr.io"), ("status", "200")))] == 1
