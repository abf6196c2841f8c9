"""Two replicas behind one webhook Service: every accepted webhook leads to a cycle on the leader.

Two real agents (HTTP server, loop, the real pipeline) share a Lease on the Kubernetes API
emulator, a real docker-registry and a real bare Git remote. Twenty pushes, each announced by a
webhook sent round-robin to the two replicas as a Service would: the follower hands its half to
the leader (the address the leader wrote on the Lease), and every push lands as its own commit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from imagebot.k8s.leader import ADDRESS_ANNOTATION
from tests.integration.test_agent_e2e import (AGENT, TOKEN, Replica, pytestmark, staging_updates,  # noqa: F401
                                              start_replica, wait_for, world)
from tests.support.cli import write_config
from tests.support.gitrepo import show
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)
from tests.support.registry import RegistryServer, free_port


@pytest.mark.slow
def test_twenty_pushes_sent_round_robin_to_two_replicas_all_land_as_commits(world: dict[str, Any], kube: KubeServer) -> None:
    cfg = write_config(world["tmp"] / "imagebot.yaml", remote=world["remote"], registry_host=world["host"], extra=AGENT)
    replicas: list[Replica] = []
    with RegistryServer(world["tmp"], port=world["port"]) as reg:
        try:
            reg.push("team/other", "1.0.0")
            reg.push("team/app", "1.0.0")
            for _ in range(2):
                replicas.append(start_replica(cfg, free_port(), kube.api_client()))
            assert wait_for(lambda: sum(r.agent.can_write() for r in replicas) == 1)
            leader = next(r for r in replicas if r.agent.can_write())
            lease = kube.get("coordination.k8s.io/v1/leases", "default", "imagebot") or {}
            assert lease["metadata"]["annotations"][ADDRESS_ANNOTATION] == leader.url.removeprefix("http://")
            answers = []
            for i in range(1, 21):
                tag = f"1.{i}.0"
                reg.push("team/app", tag)
                body = json.dumps({"image": f"{world['host']}/team/app", "tag": tag}).encode()
                r = requests.post(f"{replicas[i % 2].url}/hooks/generic", data=body,
                                  headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
                answers.append(r.status_code)
                assert r.status_code == 202, (i, r.status_code, r.text)
                assert wait_for(lambda: f"team/app:{tag}" in show(world["remote"], "staging", "apps/web.yaml").decode()
                                if staging_updates(world["remote"]) else False, timeout=30), f"push {tag} did not land"
            follower = next(r for r in replicas if r is not leader)
            text = requests.get(f"{follower.url}/metrics", timeout=5).text
            assert 'imagebot_webhooks_total{kind="generic",result="forwarded"} 10.0' in text
            assert 'result="accepted"' not in text, "the follower ran nothing itself"
        finally:
            for r in replicas:
                r.stop()
    assert answers == [202] * 20
    updates = staging_updates(world["remote"])
    assert len(updates) == 20, updates  # one commit per push: none lost, none merged, none duplicated
