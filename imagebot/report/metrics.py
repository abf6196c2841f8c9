"""Prometheus metrics (`/metrics`), all named ``imagebot_*``.

Each :class:`Metrics` owns its own CollectorRegistry (no process-global state: two agents in one
test process do not share counters). Cycle figures derive from the CycleResult alone, through
:class:`MetricsReporter`; the agent sets the few gauges that are not about a cycle (leader,
drift) and counts webhooks.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from imagebot.model import CycleResult

#: Registry request statuses that mean "the registry asked us to slow down".
RATE_LIMITED = ("429",)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
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
        self.open_pull_requests = Gauge("imagebot_open_pull_requests", "Pull requests opened or updated by the last full cycle.",
                                        registry=r)
        self.leader = Gauge("imagebot_leader", "1 while this replica holds the leader Lease (or runs alone).", registry=r)
        self.drifted_workloads = Gauge("imagebot_drifted_workloads",
                                       "Workloads whose live images differ from Git at the last drift check.", registry=r)
        self.last_success = Gauge("imagebot_last_success_timestamp_seconds", "End of the last cycle that did not fail.",
                                  registry=r)
        self.webhooks = Counter("imagebot_webhooks", "Webhook requests by kind and result.", ["kind", "result"], registry=r)
        self.events = Counter("imagebot_kubernetes_events", "Kubernetes Events posted, by reason.", ["reason"], registry=r)
        self.notifications = Counter("imagebot_notifications", "Notification messages by target and result "
                                     "(sent|failed|dropped).", ["target", "result"], registry=r)

        self.repository_cycles = Counter("imagebot_repository_cycles", "Cycles per repository (lane) and result "
                                         "(ok|partial|failed|timed-out|busy).", ["repository", "result"], registry=r)
        self.repository_last_success = Gauge("imagebot_repository_last_success_timestamp_seconds",
                                             "End of the repository's last cycle that did not fail.", ["repository"],
                                             registry=r)
        self.repository_held = Gauge("imagebot_repository_held", "1 while this replica holds the repository's "
                                     "lane Lease (or runs without sharding).", ["repository"], registry=r)

    def exposition(self) -> tuple[bytes, str]:
        """The text format for a /metrics response: (body, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def cycle_failed(self, trigger: str, duration: float) -> None:
        """A cycle that raised (nothing else to report about it)."""
        self.cycles.labels(trigger, "failed").inc()
        self.cycle_duration.labels(trigger).observe(duration)


class MetricsReporter:
    """Updates :class:`Metrics` from each finished cycle."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def cycle_finished(self, result: CycleResult) -> None:
        m = self.metrics
        trigger = "interval" if result.images is None else "webhook"
        m.cycles.labels(trigger, "partial" if result.problems else "ok").inc()
        m.cycle_duration.labels(trigger).observe(result.duration)
        m.last_success.set(result.started + result.duration)
        m.images_checked.inc(len(result.resolutions))
        for res in result.plan.skipped:
            m.images_skipped.labels(skip_reason(res.problem.kind if res.problem else None)).inc()
        delivery = result.delivery
        if delivery is not None:
            if delivery.pushed or delivery.pull_requests:
                m.images_updated.inc(len(result.plan.changes))
            if delivery.attempts > 1:
                m.push_retries.inc(delivery.attempts - 1)
            if delivery.mode == "pull-request" and result.images is None:
                m.open_pull_requests.set(len(delivery.pull_requests))
        count_requests(m, result.registry_requests)
        if result.lane:
            m.repository_cycles.labels(result.lane, "partial" if result.problems else "ok").inc()
            m.repository_last_success.labels(result.lane).set(result.started + result.duration)


def count_requests(m: Metrics, requests: tuple[tuple[str, int], ...]) -> None:
    """Registry requests (a cycle's, or a fleet round's shared by its lanes) into the counters."""
    for key, count in requests:
        registry, kind, status = _split_key(key)
        m.registry_requests.labels(registry, kind, status).inc(count)
        if status in RATE_LIMITED:
            m.rate_limit_waits.labels(registry).inc(count)


def skip_reason(kind: str | None) -> str:
    """A bounded label: the problem kind ("registry", "policy", ...) or "no-candidate"."""
    return kind or "no-candidate"


def _split_key(key: object) -> tuple[str, str, str]:
    """Registry stats keys are (registry, kind, status) tuples; tolerate "registry kind status" text."""
    parts = [str(p) for p in key] if isinstance(key, tuple) else str(key).split()
    parts = (parts + ["", "", ""])[:3]
    return parts[0], parts[1], parts[2]
