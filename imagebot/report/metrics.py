"""Prometheus metrics (`/metrics`): ``imagebot_*``, plus the standard ``process_*`` / ``python_*``.

Each :class:`Metrics` owns its own CollectorRegistry (no process-global state: two agents in one
test process do not share counters). Cycle figures derive from the CycleResult alone, through
:class:`MetricsReporter` - "updated" means a change in ``Delivery.landed``, nothing else; the agent
sets the few gauges that are not about a cycle (leader, drift) and counts webhooks. No
``*_created`` series (prometheus_client's creation timestamps are noise for alerting).

Per-image series are bounded by the repository: one ``imagebot_image_info`` per (image, current
tag, newest allowed, policy) the last full cycle saw, replaced at each full cycle, and one
``imagebot_image_update_pending_seconds`` per image, so "an update waits for more than an hour"
is one alert rule.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

import prometheus_client
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, GCCollector, Histogram,
                               PlatformCollector, ProcessCollector, generate_latest)
from prometheus_client.core import CounterMetricFamily

from imagebot import __version__
from imagebot.model import CycleResult

#: Registry request statuses that mean "the registry asked us to slow down".
RATE_LIMITED = ("429",)

prometheus_client.disable_created_metrics()


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.build_info = Gauge("imagebot_build_info", "Always 1: the imagebot version and Python running.",
                                ["version", "python"], registry=r)
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.cycles = Counter("imagebot_cycles", "Cycles run, by trigger (interval|webhook) and result (ok|partial|failed).",
                              ["trigger", "result"], registry=r)
        self.cycle_duration = Histogram("imagebot_cycle_duration_seconds", "Wall time of a cycle.", ["trigger"],
                                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300), registry=r)
        self.images_checked = Counter("imagebot_images_checked", "Image references resolved against a registry.", registry=r)
        self.images_updated = Counter("imagebot_images_updated", "Image references changed and delivered.", registry=r)
        self.images_skipped = Counter("imagebot_images_skipped", "Image references skipped, by reason.", ["reason"], registry=r)
        self.registry_requests = Counter("imagebot_registry_requests", "Registry HTTP requests by registry, kind and status.",
                                         ["registry", "kind", "status"], registry=r)
        self.rate_limit_waits = Counter("imagebot_registry_rate_limited",
                                        "Registry answers asking to slow down (429), by registry.", ["registry"], registry=r)
        self.push_retries = Counter("imagebot_push_retries", "Pushes retried after the remote branch moved.", registry=r)
        self.open_pull_requests = Gauge("imagebot_open_pull_requests", "Pull requests open after the last full cycle (opened, updated or left as they were).",
                                        registry=r)
        self.leader = Gauge("imagebot_leader", "1 while this replica holds the leader Lease (or runs alone).", registry=r)
        self.drifted_workloads = Gauge("imagebot_drifted_workloads",
                                       "Workloads whose live images differ from Git at the last drift check.", registry=r)
        self.repository_drifted_workloads = Gauge(
            "imagebot_repository_drifted_workloads", "Workloads of the repository (lane) whose live images differ "
            "from Git at its last drift check (lanes this replica holds).", ["repository"], registry=r)
        self.last_success = Gauge("imagebot_last_success_timestamp_seconds", "End of the last cycle that did not fail.",
                                  registry=r)
        self.webhooks = Counter("imagebot_webhooks", "Webhook requests by kind and result.", ["kind", "result"], registry=r)
        self.events = Counter("imagebot_kubernetes_events", "Kubernetes Events posted, by reason.", ["reason"], registry=r)
        self.notifications = Counter("imagebot_notifications", "Notification messages by target and result "
                                     "(sent|failed|dropped).", ["target", "result"], registry=r)
        self.webhooks_forwarded = Counter("imagebot_webhooks_forwarded", "Webhooks a follower handed to the leader, by result.",
                                          ["result"], registry=r)
        # The cycle in flight, updated as it goes (a 60 s first scan is not 60 s of silence).
        self.cycle_in_progress = Gauge("imagebot_cycle_in_progress", "1 while a cycle runs.", registry=r)
        self.cycle_started = Gauge("imagebot_cycle_started_timestamp_seconds", "Start of the current or last cycle.",
                                   registry=r)
        self.cycle_images_total = Gauge("imagebot_cycle_images_to_resolve",
                                        "Repositories the current (or last) cycle looks up in registries.", registry=r)
        self.cycle_images_resolved = Gauge("imagebot_cycle_images_resolved",
                                           "Repositories the current (or last) cycle has looked up so far.", registry=r)
        self.image_info = Gauge("imagebot_image_info",
                                "1 per managed image, current tag, newest tag its policy allows and policy (last full cycle).",
                                ["image", "current", "latest_allowed", "policy"], registry=r)
        self.image_pending = Gauge("imagebot_image_update_pending_seconds",
                                   "How long an allowed update of the image has waited to reach the base branch "
                                   "(0: up to date). Held, refused and unmerged updates keep growing.", ["image"], registry=r)
        self.image_held = Gauge("imagebot_image_held", "1 when the last cycle could not decide or make the image's update.",
                                ["image"], registry=r)
        self.repository_cycles = Counter("imagebot_repository_cycles", "Cycles per repository (lane) and result "
                                         "(ok|partial|failed|timed-out|busy).", ["repository", "result"], registry=r)
        self.repository_last_success = Gauge("imagebot_repository_last_success_timestamp_seconds",
                                             "End of the repository's last cycle that did not fail.", ["repository"],
                                             registry=r)
        self.repository_held = Gauge("imagebot_repository_held", "1 while this replica holds the repository's "
                                     "lane Lease (or runs without sharding).", ["repository"], registry=r)

    #: True once registry request counts are read live from the client (see watch_registry).
    live_registry = False

    def watch_registry(self, stats: Any) -> None:
        """Export the registry client's request counts as they happen (read at each scrape), not
        when a cycle ends: a 60 s first scan shows its requests while it runs."""
        self.registry.unregister(self.registry_requests)
        self.registry.unregister(self.rate_limit_waits)
        self.registry.register(_LiveRegistryRequests(stats))
        self.live_registry = True

    def exposition(self) -> tuple[bytes, str]:
        """The text format for a /metrics response: (body, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def cycle_failed(self, trigger: str, duration: float) -> None:
        """A cycle that raised (nothing else to report about it)."""
        self.cycles.labels(trigger, "failed").inc()
        self.cycle_duration.labels(trigger).observe(duration)


class MetricsReporter:
    """Updates :class:`Metrics` from each cycle: progress as it goes, figures when it ends."""

    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.time):
        self.metrics = metrics
        self._clock = clock
        self._pending_since: dict[str, float] = {}

    def cycle_started(self, images_to_resolve: int) -> None:
        m = self.metrics
        m.cycle_in_progress.set(1)
        m.cycle_started.set(self._clock())
        m.cycle_images_total.set(images_to_resolve)
        m.cycle_images_resolved.set(0)

    def cycle_progress(self, resolved: int, total: int) -> None:
        self.metrics.cycle_images_resolved.set(resolved)
        self.metrics.cycle_images_total.set(total)

    def cycle_finished(self, result: CycleResult) -> None:
        m = self.metrics
        trigger = "interval" if result.images is None else "webhook"
        m.cycles.labels(trigger, "partial" if result.problems else "ok").inc()
        m.cycle_duration.labels(trigger).observe(result.duration)
        m.last_success.set(result.started + result.duration)
        m.images_checked.inc(len(result.resolutions))
        for res in result.plan.skipped:
            m.images_skipped.labels(skip_reason(res.problem.kind if res.problem else None)).inc()
        m.cycle_in_progress.set(0)
        delivery = result.delivery
        if delivery is not None:
            m.images_updated.inc(len(delivery.landed))
            if delivery.attempts > 1:
                m.push_retries.inc(delivery.attempts - 1)
            if delivery.mode == "pull-request" and result.images is None:
                m.open_pull_requests.set(len(delivery.pull_requests))
        if not result.dry_run:
            self._images(result)
        count_requests(m, result.registry_requests)
        if result.lane:
            m.repository_cycles.labels(result.lane, "partial" if result.problems else "ok").inc()
            m.repository_last_success.labels(result.lane).set(result.started + result.duration)


    def _images(self, result: CycleResult) -> None:
        """Per-image series: replaced wholesale by a full cycle, per image by a targeted one."""
        m, now = self.metrics, self._clock()
        scope = result.images
        if scope is None:
            m.image_info.clear()
            m.image_held.clear()
        else:
            for labels in list(_label_sets(m.image_info)):
                if labels[0] in scope:
                    m.image_info.remove(*labels)
        landed = {x.change.occurrence.image for x in result.delivery.landed} if result.delivery else set()
        base_landed = landed if result.delivery is not None and result.delivery.mode == "commit" else set()
        waiting: set[str] = set()
        seen: set[str] = set()
        for r in result.resolutions:
            o = r.occurrence
            seen.add(o.image)
            latest = r.target.tag if r.target is not None else ""
            m.image_info.labels(o.image, o.tag or o.digest or "", latest, o.policy.policy).set(1)
            if r.target is None and r.problem is not None:
                waiting.add(o.image)
                m.image_held.labels(o.image).set(1)
        waiting |= {c.occurrence.image for c in result.plan.changes} - base_landed
        for image in seen:
            if image in waiting:
                since = self._pending_since.setdefault(image, now)
                m.image_pending.labels(image).set(now - since)
            else:
                self._pending_since.pop(image, None)
                m.image_pending.labels(image).set(0)
                if scope is not None:
                    m.image_held.labels(image).set(0)
        if scope is None:
            for image in set(self._pending_since) - seen:
                self._pending_since.pop(image, None)
            for labels in list(_label_sets(m.image_pending)):
                if labels[0] not in seen:
                    m.image_pending.remove(*labels)


class _LiveRegistryRequests:
    """imagebot_registry_requests_total and imagebot_registry_rate_limited_total from RequestStats."""

    def __init__(self, stats: Any):
        self.stats = stats

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        requests = CounterMetricFamily("imagebot_registry_requests", "Registry HTTP requests by registry, kind and status.",
                                       labels=["registry", "kind", "status"])
        limited = CounterMetricFamily("imagebot_registry_rate_limited",
                                      "Registry answers asking to slow down (429), by registry.", labels=["registry"])
        per_registry: dict[str, int] = {}
        for (registry, kind, status), n in sorted(self.stats.snapshot().items()):
            requests.add_metric([registry, kind, status], n)
            if status in RATE_LIMITED:
                per_registry[registry] = per_registry.get(registry, 0) + n
        for registry, n in per_registry.items():
            limited.add_metric([registry], n)
        yield requests
        yield limited


def _label_sets(gauge: Gauge) -> list[tuple[str, ...]]:
    return [tuple(labels.values()) for _, labels in
            ((s.name, s.labels) for family in gauge.collect() for s in family.samples)]


def count_requests(m: Metrics, requests: tuple[tuple[str, int], ...]) -> None:
    """Registry requests (a cycle's, or a fleet round's shared by its lanes) into the counters,
    unless they are read live from the client (`watch_registry`)."""
    for key, count in () if m.live_registry else requests:
        registry, kind, status = split_request_key(key)
        m.registry_requests.labels(registry, kind, status).inc(count)
        if status in RATE_LIMITED:
            m.rate_limit_waits.labels(registry).inc(count)


def skip_reason(kind: str | None) -> str:
    """A bounded label: the problem kind ("registry", "policy", ...) or "no-candidate"."""
    return kind or "no-candidate"


def split_request_key(key: object) -> tuple[str, str, str]:
    """Registry stats keys are (registry, kind, status) tuples; tolerate "registry kind status" text."""
    parts = [str(p) for p in key] if isinstance(key, tuple) else str(key).split()
    parts = (parts + ["", "", ""])[:3]
    return parts[0], parts[1], parts[2]
