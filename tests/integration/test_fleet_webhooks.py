"""Webhooks with lanes: a push runs only the lanes that use the image, and with lanes sharded
over replicas the replica that got the webhook hands it to the others (signed /internal/push),
which run their own lanes and hand it on no further.

Real agents (loop, debounce, HTTP server) with a recording cycle function per lane.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import requests

from imagebot.agent.auth import WebhookAuth, timestamped_headers
from imagebot.agent.fanout import LaneFanOut
from imagebot.agent.http import AgentServer
from imagebot.agent.loop import Agent
from imagebot.config.load import load_text
from imagebot.model import CycleResult, Discovery, Plan, Rendered
from imagebot.report.metrics import Metrics
from imagebot.throttle import TokenBucket

SECRET = b"s3cret-webhook-token"
CONFIG = """\
repositories:
  - {name: web, url: /srv/web.git}
  - {name: db, url: /srv/db.git}
  - {name: both, url: /srv/both.git}
interval: 1h
agent: {drift_interval: null, webhooks: {debounce: 20ms}}
"""
USES = {"web": ["ghcr.io/o/web"], "db": ["ghcr.io/o/db"], "both": ["ghcr.io/o/web", "ghcr.io/o/db"]}


class LaneRecorder:
    """Stands in for pipeline.run_cycle: each lane 'discovers' its images; records (lane, images)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, frozenset[str] | None]] = []
        self.lock = threading.Lock()

    def __call__(self, cfg: Any, *, lane: str, images: Any = None, **kw: Any) -> CycleResult:
        with self.lock:
            self.calls.append((lane, frozenset(images) if images is not None else None))
        found = Discovery(tuple(SimpleNamespace(image=i) for i in USES[lane]))  # type: ignore[misc]
        return CycleResult(found, (), Plan(()), Rendered(()), None, (), 0.0, 0.0,
                           images=frozenset(images) if images is not None else None, lane=lane)

    def targeted(self) -> list[tuple[str, frozenset[str] | None]]:
        with self.lock:
            return sorted((lane, i) for lane, i in self.calls if i is not None)


@contextmanager
def replica(holds: set[str]) -> Iterator[tuple[Agent, AgentServer, LaneRecorder]]:
    cfg = load_text(CONFIG)
    recorder = LaneRecorder()
    agent = Agent(cfg, run_cycle=recorder, metrics=Metrics(), holds=lambda lane: lane in holds)
    server = AgentServer("127.0.0.1:0", agent, Metrics(), WebhookAuth(SECRET), TokenBucket(50, 50))
    server.start()
    worker = threading.Thread(target=agent.run)
    worker.start()
    assert agent.wait_cycles(1, 10)  # the start-up full round: discovery fills the image index
    try:
        yield agent, server, recorder
    finally:
        agent.stop()
        worker.join(10)
        server.shutdown()
        server.server_close()


def post(server: AgentServer, image: str) -> requests.Response:
    body = json.dumps({"image": image, "tag": "2.0.0"}).encode()
    return requests.post(f"{server.url}/hooks/generic", data=body, headers=timestamped_headers(SECRET, body), timeout=5)


def wait_for(check: Any, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not check():
        time.sleep(0.02)
    assert check()


def test_a_push_runs_only_the_lanes_using_the_image() -> None:
    with replica({"web", "db", "both"}) as (agent, server, rec):
        assert post(server, "ghcr.io/o/db").status_code == 202
        wait_for(lambda: len(rec.targeted()) == 2)
        time.sleep(0.2)
        assert rec.targeted() == [("both", frozenset({"ghcr.io/o/db"})), ("db", frozenset({"ghcr.io/o/db"}))]


def test_with_sharded_lanes_the_webhook_reaches_the_other_holders_once() -> None:
    with replica({"web"}) as (a, server_a, rec_a), replica({"db", "both"}) as (b, server_b, rec_b):
        addr = {id(server_a): server_a.url.removeprefix("http://"), id(server_b): server_b.url.removeprefix("http://")}
        server_a.fan_out = LaneFanOut(WebhookAuth(SECRET), lambda: [addr[id(server_b)]], addr[id(server_a)])
        server_b.fan_out = LaneFanOut(WebhookAuth(SECRET), lambda: [addr[id(server_a)]], addr[id(server_b)])

        assert post(server_a, "ghcr.io/o/web").status_code == 202
        wait_for(lambda: rec_a.targeted() and rec_b.targeted())
        time.sleep(0.3)  # nothing more arrives: b does not hand it back to a
        assert rec_a.targeted() == [("web", frozenset({"ghcr.io/o/web"}))]
        assert rec_b.targeted() == [("both", frozenset({"ghcr.io/o/web"}))]  # b holds db too, which does not use it
        assert all(lane != "web" for lane, _ in rec_b.calls) and all(lane == "web" for lane, _ in rec_a.calls)
