"""`imagebot run` without --once: wire the agent's parts together and run until SIGTERM.

Threads: the worker (the main thread: cycles and drift checks, one at a time), the HTTP
server, and the Lease elector (in a cluster). SIGTERM / SIGINT close the write gate, let the
worker finish its step, release the Lease and return 0.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from imagebot import notify, pipeline
from imagebot.agent.auth import WebhookAuth, load_secret
from imagebot.agent.fanout import LaneFanOut
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
from imagebot.k8s.shards import LaneShards
from imagebot.lanes import Lane, lanes_of, workspace_for
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


class _LaneEvents:
    """Hands each lane's cycle to that lane's EventsReporter."""

    def __init__(self, by_lane: dict[str, EventsReporter]):
        self.by_lane = by_lane

    def cycle_finished(self, result: Any) -> None:
        reporter = self.by_lane.get(result.lane)
        if reporter is not None:
            reporter.cycle_finished(result)


def _label(lane: Lane) -> str | None:
    """The repository name Events, logs and notices carry: a listed lane's name (None for `repository:`)."""
    return lane.name if lane.keyed else None


class _DriftCheck:
    """The periodic drift check: every lane this replica holds, each against its own declared
    workloads; the metric, logs, Events and notices carry the lane (repository)."""

    def __init__(self, lanes: Sequence[Lane], workloads: dict[str, _Workloads], read: Any, metrics: Metrics,
                 recorder: EventRecorder | None, notifier: notify.Notifier | None, can_write: Callable[[str], bool]):
        self.lanes, self.workloads, self.read, self.metrics = lanes, workloads, read, metrics
        self.recorder, self.notifier, self.can_write = recorder, notifier, can_write
        self.drifted: dict[str, int] = {}

    def run(self) -> None:
        for lane in self.lanes:
            if not self.can_write(lane.name):  # another replica holds it (and checks it)
                self.drifted.pop(lane.name, None)
                try:
                    self.metrics.repository_drifted_workloads.remove(lane.name)
                except KeyError:
                    pass
                continue
            try:
                self.check(lane)
            except Exception:  # noqa: BLE001 - one lane's trouble (a clone that fails) never skips the others
                log.exception("drift check of repository %s failed", lane.name)
        self.metrics.drifted_workloads.set(sum(self.drifted.values()))

    def check(self, lane: Lane) -> None:
        w = self.workloads[lane.name]
        w.workspace.checkout()
        w.refresh()
        report = check_drift(w.workloads, self.read, DEFAULT_WORKLOAD_NAMESPACE)
        label = _label(lane)
        self.drifted[lane.name] = report.drifted_workloads
        self.metrics.repository_drifted_workloads.labels(lane.name).set(report.drifted_workloads)
        where = f" in repository {label}" if label else ""
        for d in report.drifts:
            log.warning("drift%s: %s", where, d,
                        extra={"fields": {"event": "drift", "repository": lane.name, **d.as_dict()}})
        for p in report.problems:
            log.warning("drift%s: %s", where, p)
        if self.recorder is not None:
            self.recorder.drift(report, repository=label)
        if self.notifier is not None and not report.problems:  # a failed read is no "drift resolved"
            self.notifier.drift([notify.DriftFinding(
                f"{d.workload.kind}/{d.namespace}/{d.workload.name}", d.container, d.declared, d.live,
                str(d.workload.location)) for d in report.drifts], lane=label)


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
    lanes: Sequence[Lane] | None = None,
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
    lanes = tuple(lanes) if lanes is not None else lanes_of(cfg)
    elector: LeaseElector | None = None
    shards: LaneShards | None = None
    if api is not None and a.leader_election.enabled and cfg.repositories:
        # Several repositories: one Lease per lane, each replica holding a fair share of them.
        le = a.leader_election
        shards = LaneShards.for_client(
            api, base_name=le.lease_name, namespace=le.namespace or kube.own_namespace(), lanes=[x.name for x in lanes],
            identity=f"{me}_{os.urandom(4).hex()}",
            timing=LeaseTiming(parse_duration(le.lease_duration), parse_duration(le.renew_deadline),
                               parse_duration(le.retry_period)),
            on_change=lambda lane, leading: (metrics.repository_held.labels(lane).set(1 if leading else 0),
                                             leading and holder["agent"].leadership_changed(True)),  # cycle + drift
            healthy=lambda: "agent" not in holder or holder["agent"].alive()[0],
        )
        metrics.leader.set(1)
    elif api is not None and a.leader_election.enabled:
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
    if shards is None:
        for lane in lanes:
            metrics.repository_held.labels(lane.name).set(1)

    # Each lane's declared workloads, from its own workspace: where its Events are located and
    # what its drift check compares with the cluster.
    single = len(lanes) == 1
    lane_workloads = {lane.name: _Workloads(lane.config, workspace_for(cfg, lane))
                      for lane in lanes}
    board = StatusBoard()
    reporters: list[Reporter] = [MetricsReporter(metrics), LogReporter(), board]
    recorder: EventRecorder | None = None
    if api is not None and a.events:
        recorder = EventRecorder.for_client(
            api, instance=me, repeat_after=parse_duration(a.event_interval),
            on_posted=lambda reason: metrics.events.labels(reason).inc(),
        )
        if single:
            reporters.append(EventsReporter(recorder, lane_workloads[lanes[0].name].index,
                                            lambda: holder["agent"].lane_can_write(lanes[0].name),
                                            repository=_label(lanes[0])))
        else:  # each lane's results are located in that lane's own workloads, posted while it holds the lane
            reporters.append(_LaneEvents({lane.name: EventsReporter(
                recorder, lane_workloads[lane.name].index, lambda name=lane.name: holder["agent"].lane_can_write(name),
                repository=lane.name) for lane in lanes}))

    notifier = notify.from_config(
        cfg, on_outcome=lambda target, outcome: metrics.notifications.labels(target, outcome).inc(),
        enabled=lambda: holder["agent"].can_write(),  # the leader speaks; a follower would repeat it
    )
    if notifier is not None:
        reporters.append(notifier)

    drift_check = None
    if api is not None and a.drift_interval:
        drift = _DriftCheck(lanes, lane_workloads, api_reader(api), metrics, recorder, notifier,
                            lambda name: holder["agent"].lane_can_write(name))
        drift_check = drift.run

    registry = pipeline.new_registry_client(cfg)
    stats = getattr(registry, "stats", None)
    if stats is not None:
        metrics.watch_registry(stats)
    if run_cycle is None and api is not None and any(p.healthy for p in cfg.promotions):  # the healthy gate reads the cluster
        run_cycle = functools.partial(pipeline.run_cycle, workloads=api_reader(api))
    agent = Agent(cfg, run_cycle=run_cycle or pipeline.run_cycle, metrics=metrics, reporters=reporters,
                  is_leader=is_leader, registry=registry, drift_check=drift_check, lanes=lanes,
                  holds=shards.holds if shards is not None else None)
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
                              ready={"ok": ok, "reason": why}, cycles=agent.cycles) | {
            "repositories": {n: {**lane, "held": agent.lane_can_write(n)} for n, lane in agent.fleet.status().items()}}

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
    if shards is not None:
        own = advertised_address(server.server_address[1], parse_listen(address)[0])
        for e in shards.electors.values():
            e.address = own  # written on each lane Lease this replica holds
        server.fan_out = LaneFanOut(
            auth, lambda: {e.holder_address for n, e in shards.electors.items() if e.holder and not shards.holds(n)},
            own, on_result=lambda r: metrics.webhooks_forwarded.labels(r).inc())
    server.start()
    log.info("agent listening on %s%s (leader election %s)", server.url,
             f", webhooks on {server.hooks_url}" if server.hooks_address else "",
             "on" if elector else f"sharded over {len(lanes)} lanes" if shards else "off",
             extra={"fields": {"event": "started", "listen": server.url, "webhooks": server.hooks_url, "identity": me}})

    elector_stop = threading.Event()
    elector_thread = None
    if elector is not None or shards is not None:
        run_leases = elector.run if elector is not None else shards.run  # type: ignore[union-attr]
        elector_thread = threading.Thread(target=run_leases, args=(elector_stop,), name="imagebot-lease", daemon=True)
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
