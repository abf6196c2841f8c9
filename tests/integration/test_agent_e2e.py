"""The agent end to end with the real pipeline: a real docker-registry whose `notifications:`
post to /hooks/distribution, a real bare Git remote, and (for two replicas) the Kubernetes API
emulator holding the Lease.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from imagebot.agent.loop import Agent
from imagebot.agent.serve import serve
from imagebot.config.load import load
from tests.support.cli import write_config
from tests.support.gitrepo import log, make_remote, show
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)
from tests.support.registry import RegistryServer, free_port, registry_available

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")

TOKEN = "e2e-webhook-token-0123"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    imagebot.io/policy: "semver:^1.0"
spec:
  template:
    spec:
      containers:
        - name: app
          image: HOST/team/app:1.0.0   # the shop
        - name: other
          image: HOST/team/other:1.0.0
"""
AGENT = """\
interval: 1h
agent:
  drift_interval: null
  webhooks:
    debounce: 20ms
  leader_election:
    lease_duration: 2s
    renew_deadline: 1500ms
    retry_period: 100ms
"""


@dataclass
class Replica:
    agent: Agent
    url: str
    thread: threading.Thread

    def stop(self) -> None:
        self.agent.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


class RecordingPipeline:
    """The real pipeline.run_cycle, keeping every result."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def __call__(self, cfg: Any, **kw: Any) -> Any:
        from imagebot import pipeline

        result = pipeline.run_cycle(cfg, **kw)
        self.results.append(result)
        return result

    def pushed(self) -> list[Any]:
        return [r for r in self.results if r.delivery is not None and r.delivery.pushed]


def start_replica(cfg_path: Path, port: int, kube_api: Any = None, run_cycle: Any = None) -> Replica:
    got: dict[str, Any] = {}
    up = threading.Event()

    def on_started(agent: Agent, server: Any) -> None:
        got.update(agent=agent, url=server.url)
        up.set()

    t = threading.Thread(target=serve, args=(load(cfg_path),), kwargs={
        "listen": f"127.0.0.1:{port}", "kube_api": kube_api, "on_started": on_started, "install_signals": False,
        "run_cycle": run_cycle})
    t.start()
    assert up.wait(20), "the agent did not start"
    return Replica(got["agent"], got["url"], t)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("IMAGEBOT_WEBHOOK_TOKEN", TOKEN)
    port = free_port()
    host = f"127.0.0.1:{port}"
    remote = make_remote(tmp_path, {"apps/web.yaml": DEPLOYMENT.replace("HOST", host)})
    yield {"tmp": tmp_path, "host": host, "port": port, "remote": remote}


def registry_notifying(world: dict[str, Any], *ports: int) -> RegistryServer:
    """The registry, posting its notifications to agents on `ports` (started before them: a
    notification to an agent not up yet is retried; the agents' first cycles find the registry up)."""
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    endpoints = [{
        "name": f"imagebot-{i}", "url": f"{url}/hooks/distribution",
        "headers": {"Authorization": [f"Bearer {TOKEN}"]},
        "timeout": "2s", "threshold": 3, "backoff": "100ms",
    } for i, url in enumerate(urls)]
    return RegistryServer(world["tmp"], port=world["port"], extra_config={"notifications": {"endpoints": endpoints}})


def staging_updates(remote: Path) -> list[str]:
    try:
        return [s for s in log(remote, "staging") if s.startswith("Update") or "->" in s or "team/" in s]
    except Exception:  # no staging branch yet
        return []


def wait_for(predicate: Any, timeout: float = 20) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        done.wait(0.05)
    return predicate()


def test_pushing_a_tag_to_the_real_registry_leads_to_a_commit_on_the_remote(world: dict[str, Any]) -> None:
    cfg = write_config(world["tmp"] / "imagebot.yaml", remote=world["remote"], registry_host=world["host"], extra=AGENT)
    cycles = RecordingPipeline()
    port = free_port()
    with registry_notifying(world, port) as reg:
        reg.push("team/other", "1.0.0")
        reg.push("team/app", "1.0.0")
        replica = start_replica(cfg, port, run_cycle=cycles)
        try:
            assert replica.agent.wait_cycles(1, 20)
            reg.push("team/app", "1.1.0")  # the push the agent must react to
            assert wait_for(lambda: "team/app:1.1.0" in show(world["remote"], "staging", "apps/web.yaml").decode()
                            if staging_updates(world["remote"]) else False), "no commit after the push"
            assert wait_for(lambda: cycles.pushed())  # the remote moves before run_cycle returns
            [commit] = cycles.pushed()
            # A targeted cycle made it (notifications of the seeding pushes may join the same batch).
            assert commit.images is not None and f"{world['host']}/team/app" in commit.images
        finally:
            replica.stop()
    text = show(world["remote"], "staging", "apps/web.yaml").decode()
    assert text == DEPLOYMENT.replace("HOST", world["host"]).replace("team/app:1.0.0", "team/app:1.1.0")
    assert len(staging_updates(world["remote"])) == 1


def test_two_replicas_one_lease_no_duplicate_commits_and_the_survivor_takes_over(world: dict[str, Any], kube: KubeServer) -> None:
    cfg = write_config(world["tmp"] / "imagebot.yaml", remote=world["remote"], registry_host=world["host"], extra=AGENT)
    ports = [free_port(), free_port()]
    replicas: list[Replica] = []
    with registry_notifying(world, *ports) as reg:  # both receive every push
        try:
            reg.push("team/other", "1.0.0")
            reg.push("team/app", "1.0.0")
            a = start_replica(cfg, ports[0], kube.api_client())
            replicas.append(a)
            b = start_replica(cfg, ports[1], kube.api_client())
            replicas.append(b)
            assert wait_for(lambda: sum(r.agent.can_write() for r in replicas) == 1)
            reg.push("team/app", "1.1.0")
            assert wait_for(lambda: "team/app:1.1.0" in show(world["remote"], "staging", "apps/web.yaml").decode()
                            if staging_updates(world["remote"]) else False)
            leader = next(r for r in replicas if r.agent.can_write())
            survivor = b if leader is a else a
            follower_hooks = requests.get(f"{survivor.url}/metrics", timeout=5).text
            # The follower hands each notification to the leader (which also got it directly): no duplicate commit.
            assert 'imagebot_webhooks_total{kind="distribution",result="forwarded"}' in follower_hooks
            assert 'result="accepted"' not in follower_hooks, "the follower triggered nothing itself"

            leader.stop()  # rolling update: the leader goes away (and releases the lease)
            replicas.remove(leader)
            assert wait_for(lambda: survivor.agent.can_write(), timeout=5), "the survivor did not take over"

            reg.push("team/app", "1.2.0")
            assert wait_for(lambda: "team/app:1.2.0" in show(world["remote"], "staging", "apps/web.yaml").decode())
        finally:
            for r in replicas:  # before the registry goes: no cycle waits on a registry that is gone
                r.stop()
    updates = staging_updates(world["remote"])
    assert len(updates) == 2, updates  # one commit per pushed tag: none duplicated
    assert len(set(updates)) == 2


def test_a_replica_that_loses_the_lease_mid_cycle_pushes_nothing(world: dict[str, Any]) -> None:
    cfg = load(write_config(world["tmp"] / "imagebot.yaml", remote=world["remote"], registry_host=world["host"],
                            extra=AGENT))
    from imagebot import pipeline
    from imagebot.report.metrics import Metrics

    answers = iter([True])  # leader when the cycle starts; the lease is gone by the time it would push
    agent = Agent(cfg, run_cycle=pipeline.run_cycle, metrics=Metrics(), is_leader=lambda: next(answers, False))
    with RegistryServer(world["tmp"], port=world["port"]) as reg:
        reg.push("team/other", "1.0.0")
        reg.push_tags("team/app", ["1.0.0", "1.1.0"])
        agent._cycle(None)
    result = agent.last_result
    assert result is not None and len(result.plan.changes) == 1  # it found the update...
    assert result.delivery is not None and not result.delivery.pushed  # ... and did not push it
    assert staging_updates(world["remote"]) == []
