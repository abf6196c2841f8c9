"""Webhooks: payloads of every registry family, authentication, rate limiting, and the real
docker-registry's notifications reaching the agent.

The agent here is the real one (loop, debounce, HTTP server) with a recording cycle function
in place of the pipeline, so what a webhook triggers is visible exactly.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from imagebot.agent.auth import WebhookAuth, sign, timestamped_headers
from imagebot.agent.http import AgentServer
from imagebot.agent.loop import Agent
from imagebot.throttle import TokenBucket
from imagebot.agent.webhooks import BadPayload, Push, parse
from imagebot.config.schema import Config
from imagebot.model import CycleResult, Discovery, Plan, Rendered
from imagebot.report.metrics import Metrics
from tests.support.registry import RegistryServer, registry_available

SECRET = b"s3cret-webhook-token"


def empty_result(images: frozenset[str] | None) -> CycleResult:
    return CycleResult(Discovery(()), (), Plan(()), Rendered(()), None, (), 0.0, 0.0, images=images)


class Recorder:
    """Stands in for pipeline.run_cycle: records each cycle's target images."""

    def __init__(self) -> None:
        self.calls: list[frozenset[str] | None] = []

    def __call__(self, cfg: Config, *, images: Any = None, **kw: Any) -> CycleResult:
        self.calls.append(frozenset(images) if images is not None else None)
        return empty_result(self.calls[-1])


def make_config(**agent: Any) -> Config:
    return Config.model_validate({"repository": {"url": "/nonexistent"}, "interval": "1h",
                                  "agent": {"drift_interval": None, **agent}})


class Running:
    def __init__(self, agent: Agent, server: AgentServer, recorder: Recorder):
        self.agent, self.server, self.recorder = agent, server, recorder
        self.url = server.url


@pytest.fixture
def running() -> Iterator[Running]:
    yield from _running(make_config(webhooks={"debounce": "50ms", "rate_limit": 50, "burst": 50}))


def _running(cfg: Config, secret: bytes | None = SECRET) -> Iterator[Running]:
    recorder = Recorder()
    metrics = Metrics()
    agent = Agent(cfg, run_cycle=recorder, metrics=metrics)
    hooks = cfg.agent.webhooks
    server = AgentServer("127.0.0.1:0", agent, metrics, WebhookAuth(secret), TokenBucket(hooks.rate_limit, hooks.burst),
                         unauthenticated=TokenBucket(hooks.unauthenticated_rate_limit, hooks.unauthenticated_burst),
                         http=cfg.agent.http)
    server.start()
    worker = threading.Thread(target=agent.run)
    worker.start()
    assert agent.wait_cycles(1, 10)  # the start-up full cycle
    try:
        yield Running(agent, server, recorder)
    finally:
        agent.stop()
        worker.join(10)
        server.shutdown()
        server.server_close()


# --- payloads -----------------------------------------------------------------------------------

DISTRIBUTION = {
    "events": [
        {"action": "push", "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                      "repository": "team/app", "tag": "1.2.0",
                                      "url": "http://127.0.0.1:5000/v2/team/app/manifests/sha256:ab"},
         "request": {"host": "127.0.0.1:5000", "method": "PUT"}},
        {"action": "push", "target": {"repository": "team/app", "url": "http://127.0.0.1:5000/v2/team/app/blobs/sha256:cd"},
         "request": {"host": "127.0.0.1:5000"}},  # a blob: no tag
        {"action": "pull", "target": {"repository": "team/other", "tag": "1"}, "request": {"host": "127.0.0.1:5000"}},
    ]
}
CASES = [
    ("distribution", DISTRIBUTION, [Push("127.0.0.1:5000/team/app", "1.2.0")]),
    ("dockerhub", {"push_data": {"tag": "7.2"}, "repository": {"repo_name": "bitnami/redis"}},
     [Push("docker.io/bitnami/redis", "7.2")]),
    ("dockerhub", {"push_data": {"tag": "1.27"}, "repository": {"repo_name": "nginx", "name": "nginx"}},
     [Push("docker.io/library/nginx", "1.27")]),
    ("ghcr", {"action": "published", "package": {"name": "app", "package_type": "CONTAINER", "owner": {"login": "Org"},
                                                "package_version": {"container_metadata": {"tag": {"name": "v2"}}}}},
     [Push("ghcr.io/org/app", "v2")]),
    ("ghcr", {"action": "published", "registry_package": {"package_type": "container",
                                                         "package_version": {"package_url": "ghcr.io/org/app:v3"}}},
     [Push("ghcr.io/org/app", None)]),
    ("ghcr", {"action": "published", "package": {"package_type": "npm", "name": "x"}}, []),
    ("harbor", {"type": "PUSH_ARTIFACT", "event_data": {"resources": [
        {"tag": "v1", "resource_url": "harbor.example.com/library/app:v1"}]}}, [Push("harbor.example.com/library/app", "v1")]),
    ("harbor", {"type": "DELETE_ARTIFACT", "event_data": {"resources": []}}, []),
    ("quay", {"repository": "org/app", "docker_url": "quay.io/org/app", "updated_tags": ["1.0", "latest"]},
     [Push("quay.io/org/app", "1.0"), Push("quay.io/org/app", "latest")]),
    ("generic", {"image": "ghcr.io/org/app", "tag": "1.2.3"}, [Push("ghcr.io/org/app", "1.2.3")]),
    ("generic", {"image": "registry.local:5000/app:2.0"}, [Push("registry.local:5000/app", "2.0")]),
]


@pytest.mark.parametrize("kind,payload,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_payloads(kind: str, payload: dict[str, Any], expected: list[Push]) -> None:
    assert list(parse(kind, json.dumps(payload).encode())) == expected


@pytest.mark.parametrize("kind,body", [
    ("generic", b"not json"),
    ("generic", b'{"tag": "1"}'),
    ("generic", b'{"image": "UPPER/Case"}'),
    ("distribution", b'{"events": {}}'),
    ("dockerhub", b'{"push_data": {}}'),
    ("quay", b"[]"),
])
def test_bad_payloads_are_refused_with_a_reason(kind: str, body: bytes) -> None:
    with pytest.raises(BadPayload):
        parse(kind, body)


# --- authentication over HTTP -----------------------------------------------------------------------

GENERIC = json.dumps({"image": "ghcr.io/org/app", "tag": "1.2.3"}).encode()


@pytest.mark.parametrize("headers,query", [
    ({}, ""),
    ({"Authorization": "Bearer wrong-token"}, ""),
    ({"Authorization": "Basic " + "czNjcmV0"}, ""),
    ({"Authorization": "Bearer " + SECRET.decode() + "x"}, ""),
    ({"X-Imagebot-Signature": "sha256=" + "0" * 64}, ""),
    ({"X-Imagebot-Signature": sign(b"other-secret", GENERIC)}, ""),
    ({"X-Imagebot-Signature": sign(SECRET, GENERIC + b" ")}, ""),  # signature of another body
    ({"X-Imagebot-Signature": sign(SECRET, GENERIC)}, ""),  # no timestamp: replayable, refused
    (timestamped_headers(SECRET, GENERIC, 1_000_000_000), ""),  # timestamp far outside the replay window
    ({**timestamped_headers(SECRET, GENERIC), "X-Imagebot-Timestamp": "12"}, ""),  # signed for another time
    ({}, "?token=" + SECRET.decode()),  # query tokens only for dockerhub / quay
])
def test_unauthenticated_and_bad_signatures_get_401_and_trigger_nothing(running: Running, headers: dict[str, str], query: str) -> None:
    r = requests.post(f"{running.url}/hooks/generic{query}", data=GENERIC, headers=headers, timeout=5)
    assert r.status_code == 401
    assert running.agent.debouncer.deadline() is None
    assert running.recorder.calls == [None]
    text = requests.get(f"{running.url}/metrics", timeout=5).text
    assert re.search(r'imagebot_webhooks_total\{kind="generic",result="(unauthorized|expired)"\} 1\.0', text)


@pytest.mark.parametrize("kind,body,headers,query", [
    ("generic", GENERIC, {"Authorization": "Bearer " + SECRET.decode()}, ""),
    ("generic", GENERIC, timestamped_headers(SECRET, GENERIC), ""),
    ("ghcr", json.dumps(CASES[3][1]).encode(), {"X-Hub-Signature-256": sign(SECRET, json.dumps(CASES[3][1]).encode())}, ""),
    ("dockerhub", json.dumps(CASES[1][1]).encode(), {}, "?token=" + SECRET.decode()),
])
def test_authenticated_push_triggers_one_targeted_cycle(running: Running, kind: str, body: bytes,
                                                        headers: dict[str, str], query: str) -> None:
    r = requests.post(f"{running.url}/hooks/{kind}{query}", data=body, headers=headers, timeout=5)
    assert r.status_code == 202, r.text
    images = frozenset(r.json()["triggered"])
    assert running.agent.wait_cycles(2, 10)
    assert running.recorder.calls == [None, images]


def test_without_a_configured_secret_every_webhook_is_refused() -> None:
    for run in _running(make_config(), secret=None):
        r = requests.post(f"{run.url}/hooks/generic", data=GENERIC, headers={"Authorization": "Bearer "}, timeout=5)
        assert r.status_code == 401
        assert run.agent.debouncer.deadline() is None


def _burst(run: Running) -> None:
    auth = {"Authorization": "Bearer " + SECRET.decode()}
    for name in ("a", "b", "a", "c"):
        body = json.dumps({"image": f"ghcr.io/org/{name}", "tag": "1"}).encode()
        assert requests.post(f"{run.url}/hooks/generic", data=body, headers=auth, timeout=5).status_code == 202


def test_a_burst_of_pushes_is_at_most_two_cycles_the_first_at_once(running: Running) -> None:
    _burst(running)
    assert running.agent.wait_cycles(2, 10)
    time.sleep(0.3)  # the debounce (50 ms) of the gathered rest has long passed
    targeted = running.recorder.calls[1:]
    assert 1 <= len(targeted) <= 2
    assert "ghcr.io/org/a" in targeted[0]  # the first push did not wait
    assert frozenset().union(*targeted) == {"ghcr.io/org/a", "ghcr.io/org/b", "ghcr.io/org/c"}


def test_without_leading_a_burst_of_pushes_is_one_cycle_for_all_their_images() -> None:
    for run in _running(make_config(webhooks={"debounce": "300ms", "leading": False, "rate_limit": 50, "burst": 50})):
        _burst(run)
        assert run.agent.wait_cycles(2, 10)
        time.sleep(0.4)
        assert run.recorder.calls[1:] == [{"ghcr.io/org/a", "ghcr.io/org/b", "ghcr.io/org/c"}]


def test_rate_limited_webhooks_get_429_with_retry_after() -> None:
    for run in _running(make_config(webhooks={"rate_limit": 0.01, "burst": 2})):
        auth = {"Authorization": "Bearer " + SECRET.decode()}
        codes = [requests.post(f"{run.url}/hooks/generic", data=GENERIC, headers=auth, timeout=5) for _ in range(4)]
        assert [r.status_code for r in codes] == [202, 202, 429, 429]
        assert int(codes[2].headers["Retry-After"]) >= 1


def test_health_ready_metrics_and_unknown_paths(running: Running) -> None:
    assert requests.get(f"{running.url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{running.url}/readyz", timeout=5).status_code == 200
    metrics = requests.get(f"{running.url}/metrics", timeout=5)
    assert 'imagebot_cycles_total' in metrics.text or "imagebot_cycle_duration_seconds" in metrics.text
    assert requests.post(f"{running.url}/hooks/nexus", data=b"{}", timeout=5).status_code == 404
    assert requests.get(f"{running.url}/nope", timeout=5).status_code == 404


# --- the real docker-registry's notifications ---------------------------------------------------------

@pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")
def test_real_registry_notifications_trigger_a_cycle_for_the_pushed_repository(running: Running, tmp_path: Any) -> None:
    notifications = {"endpoints": [{
        "name": "imagebot",
        "url": f"{running.url}/hooks/distribution",
        "headers": {"Authorization": [f"Bearer {SECRET.decode()}"]},
        "timeout": "2s", "threshold": 5, "backoff": "200ms",
        "ignoredmediatypes": ["application/octet-stream"],
    }]}
    with RegistryServer(tmp_path, extra_config={"notifications": notifications}) as reg:
        reg.push("team/app", "1.0.0")
        assert running.agent.wait_cycles(2, 15), "no targeted cycle after the push"
    assert running.recorder.calls[1] == {f"{reg.host}/team/app"}


def test_a_follower_answers_503_so_the_registry_retries_elsewhere_and_triggers_nothing() -> None:
    recorder = Recorder()
    metrics = Metrics()
    agent = Agent(make_config(), run_cycle=recorder, metrics=metrics, is_leader=lambda: False)
    server = AgentServer("127.0.0.1:0", agent, metrics, WebhookAuth(SECRET), TokenBucket(10, 10))
    server.start()
    try:
        r = requests.post(f"{server.url}/hooks/generic", data=GENERIC,
                          headers={"Authorization": "Bearer " + SECRET.decode()}, timeout=5)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert agent.debouncer.deadline() is None
    finally:
        server.shutdown()
        server.server_close()
