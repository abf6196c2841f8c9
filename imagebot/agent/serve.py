"""`imagebot run` without --once: wire the agent's parts together and run until SIGTERM.

Threads: the worker (the main thread: cycles and drift checks, one at a time), the HTTP
server, and the Lease elector (in a cluster). SIGTERM / SIGINT close the write gate, let the
worker finish its step, release the Lease and return 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from imagebot import notify, pipeline
from imagebot.agent.auth import WebhookAuth, load_secret
from imagebot.agent.forward import LeaderForwarder
from imagebot.agent.http import AgentServer, parse_listen
from imagebot.agent.loop import Agent, CycleFn
from imagebot.throttle import TokenBucket
from imagebot.config.schema import Config, parse_duration
from imagebot.deliver import GitWorkspace
from imagebot.errors import UsageError
from imagebot.discover.declared import declared_workloads
from imagebot.k8s import client as kube
from imagebot.k8s.drift import api_reader, check_drift
from imagebot.k8s.events import EventRecorder, EventsReporter, WorkloadIndex
from imagebot.k8s.leader import LeaseElector, LeaseTiming
from imagebot.report import Reporter
from imagebot.report import log as logsetup
from imagebot.report.log import LogReporter
from imagebot.report.metrics import Metrics, MetricsReporter
from imagebot.report.status import StatusBoard

log = logging.getLogger("imagebot.agent")

DEFAULT_WORKLOAD_NAMESPACE = "default"


def identity() -> str:
    """$POD_NAME (downward API) or the host name: who holds the Lease, who posted an Event."""
    return os.environ.get("POD_NAME") or socket.gethostname()


class _Workloads:
    """The declared workloads of the current checkout, re-read when the checkout's HEAD moves."""

    def __init__(self, cfg: Config, workspace: GitWorkspace):
        self.cfg = cfg
        self.workspace = workspace
        self._head: str | None = None
        self._index: WorkloadIndex | None = None
        self.workloads: tuple[Any, ...] = ()

    def refresh(self) -> None:
        root = self.workspace.root
        head = _head(root)
        if head is not None and head == self._head:
            return
        found = declared_workloads(root, paths=self.cfg.repository.paths, exclude=self.cfg.repository.exclude)
        for p in found.problems:
            log.warning("drift: %s", p)
        self.workloads = found.workloads
        self._index = WorkloadIndex(found.workloads, DEFAULT_WORKLOAD_NAMESPACE)
        self._head = head

    def index(self) -> WorkloadIndex | None:
        if not (self.workspace.root / ".git").exists():
            return None
        self.refresh()
        return self._index


def advertised_address(port: int, host: str) -> str:
    """Where the other replicas reach this one: $IMAGEBOT_ADVERTISE_ADDRESS, or $POD_IP (downward
    API) and the port it listens on, or the listen host itself (tests, one machine)."""
    explicit = os.environ.get("IMAGEBOT_ADVERTISE_ADDRESS")
    if explicit:
        return explicit
    ip = os.environ.get("POD_IP") or (host if host not in ("0.0.0.0", "::", "") else socket.gethostname())
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _head(root: Any) -> str | None:
    try:
        ref = (root / ".git" / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            return (root / ".git" / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return None


def serve(
    cfg: Config,
    *,
    listen: str | None = None,
    log_format: str | None = None,
    run_cycle: CycleFn | None = None,
    kube_api: Any = None,
    on_started: Callable[[Agent, AgentServer], None] | None = None,
    install_signals: bool = True,
) -> int:
    """Run the agent until SIGTERM / SIGINT (or `agent.stop()`); returns the exit code (0).

    `kube_api` (a kubernetes ApiClient) replaces the in-cluster client (tests, `kubectl proxy`);
    without it and outside a cluster, leader election, Events and drift are off.
    `on_started` is called once the HTTP server listens (tests, the benchmark).
    """
    if log_format is not None and not logging.getLogger().handlers:
        logsetup.setup("info", log_format)
    a = cfg.agent
    metrics = Metrics()
    secret = load_secret(a.webhooks)
    if secret is None:
        log.warning("no webhook secret (env %s or agent.webhooks.token_file): every POST /hooks/* gets 401",
                    a.webhooks.token_env)
    api = kube_api if kube_api is not None else (kube.api_client() if kube.in_cluster() else None)
    me = identity()

    holder: dict[str, Agent] = {}
    elector: LeaseElector | None = None
    if api is not None and a.leader_election.enabled:
        le = a.leader_election
        elector = LeaseElector.for_client(
            api,
            name=le.lease_name,
            namespace=le.namespace or kube.own_namespace(),
            identity=f"{me}_{os.urandom(4).hex()}",
            timing=LeaseTiming(parse_duration(le.lease_duration), parse_duration(le.renew_deadline),
                               parse_duration(le.retry_period)),
            on_change=lambda leading: (metrics.leader.set(1 if leading else 0),
                                       holder["agent"].leadership_changed(leading)),
            healthy=lambda: "agent" not in holder or holder["agent"].alive()[0],
        )
    else:
        metrics.leader.set(1)
    is_leader = elector.is_leader if elector is not None else (lambda: True)

    workspace = GitWorkspace(cfg, pipeline.cache_dir(cfg) / "repos")
    workloads = _Workloads(cfg, workspace)
    board = StatusBoard()
    reporters: list[Reporter] = [MetricsReporter(metrics), LogReporter(), board]
    recorder: EventRecorder | None = None
    if api is not None and a.events:
        recorder = EventRecorder.for_client(
            api, instance=me, repeat_after=parse_duration(a.event_interval),
            on_posted=lambda reason: metrics.events.labels(reason).inc(),
        )
        reporters.append(EventsReporter(recorder, workloads.index, lambda: holder["agent"].can_write()))

    notifier = notify.from_config(
        cfg, on_outcome=lambda target, outcome: metrics.notifications.labels(target, outcome).inc(),
        enabled=lambda: holder["agent"].can_write(),  # the leader speaks; a follower would repeat it
    )
    if notifier is not None:
        reporters.append(notifier)

    drift_check = None
    if api is not None and a.drift_interval:
        read = api_reader(api)

        def drift_check() -> None:
            workspace.checkout()
            workloads.refresh()
            report = check_drift(workloads.workloads, read, DEFAULT_WORKLOAD_NAMESPACE)
            metrics.drifted_workloads.set(report.drifted_workloads)
            for d in report.drifts:
                log.warning("drift: %s", d, extra={"fields": {"event": "drift", **d.as_dict()}})
            for p in report.problems:
                log.warning("drift: %s", p)
            if recorder is not None and holder["agent"].can_write():
                recorder.drift(report)
            if notifier is not None and not report.problems:  # a failed read is no "drift resolved"
                notifier.drift([notify.DriftFinding(
                    f"{d.workload.kind}/{d.namespace}/{d.workload.name}", d.container, d.declared, d.live,
                    str(d.workload.location)) for d in report.drifts])

    registry = pipeline.new_registry_client(cfg)
    stats = getattr(registry, "stats", None)
    if stats is not None:
        metrics.watch_registry(stats)
    agent = Agent(cfg, run_cycle=run_cycle or pipeline.run_cycle, metrics=metrics, reporters=reporters,
                  is_leader=is_leader, registry=registry, drift_check=drift_check)
    holder["agent"] = agent
    address = listen or a.listen
    hooks = a.webhooks
    auth = WebhookAuth(secret, replay_window=parse_duration(hooks.replay_window))
    forward = None
    if elector is not None:
        forward = LeaderForwarder(auth, lambda: elector.holder_address if elector.holder else "",
                                  on_result=lambda r: metrics.webhooks_forwarded.labels(r).inc())

    def status() -> dict[str, Any]:
        ok, why = agent.ready()
        return board.snapshot(identity=me, leader=agent.can_write(),
                              leader_address=elector.holder_address if elector is not None else None,
                              ready={"ok": ok, "reason": why}, cycles=agent.cycles)

    try:
        server = AgentServer(address, agent, metrics, auth, TokenBucket(hooks.rate_limit, hooks.burst),
                             unauthenticated=TokenBucket(hooks.unauthenticated_rate_limit, hooks.unauthenticated_burst),
                             http=a.http, forward=forward, status=status, hooks_listen=a.webhooks_listen)
    except OSError as e:
        raise UsageError(f"--listen {address}: cannot listen: {e.strerror or e}") from None
    if elector is not None:
        elector.address = advertised_address(server.server_address[1], parse_listen(address)[0])
        if forward is not None:
            forward.own_address = elector.address
    server.start()
    log.info("agent listening on %s%s (leader election %s)", server.url,
             f", webhooks on {server.hooks_url}" if server.hooks_address else "", "on" if elector else "off",
             extra={"fields": {"event": "started", "listen": server.url, "webhooks": server.hooks_url, "identity": me}})

    elector_stop = threading.Event()
    elector_thread = None
    if elector is not None:
        elector_thread = threading.Thread(target=elector.run, args=(elector_stop,), name="imagebot-lease", daemon=True)
        elector_thread.start()

    previous: dict[int, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():
        def on_signal(signum: int, frame: object) -> None:
            log.info("signal %s: finishing the current step, then exiting", signal.Signals(signum).name)
            agent.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        if on_started is not None:
            on_started(agent, server)
        agent.run()
    finally:
        server.shutdown()
        server.server_close()
        elector_stop.set()
        if elector_thread is not None:
            elector_thread.join(10)
        if notifier is not None:
            notifier.flush(5.0)
            notifier.close()
        close = getattr(registry, "close", None)
        if close is not None:
            close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
