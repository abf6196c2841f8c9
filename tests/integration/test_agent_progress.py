"""A long cycle is not a silent one: while the agent's first cycle waits on a slow registry,
/metrics already shows the cycle in progress, how many repositories it has resolved of how many,
and the registry requests made so far (real agent, registry behind a proxy that delays one tag
list, real Git remote)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_agent_e2e import TOKEN, pytestmark, start_replica  # noqa: F401
from tests.support.cli import write_config
from tests.support.gitrepo import make_remote
from tests.support.manifests import deployment
from tests.support.registry import RegistryServer, free_port
from tests.support.registry_proxy import RegistryProxy

DELAY = 4.0


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_progress_and_registry_requests_are_visible_while_the_first_cycle_runs(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("IMAGEBOT_WEBHOOK_TOKEN", TOKEN)
    with RegistryServer(tmp_path) as reg, RegistryProxy(reg.url) as proxy:
        reg.push_tags("team/fast", ["1.0.0"])
        reg.push_tags("team/slow", ["1.0.0"])
        proxy.inject("slow", path="/team/slow/tags/list", times=1, delay=DELAY)
        remote = make_remote(tmp_path, {"apps/fast.yaml": deployment("fast", f"{proxy.host}/team/fast:1.0.0"),
                                        "apps/slow.yaml": deployment("slow", f"{proxy.host}/team/slow:1.0.0")})
        cfg = write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=proxy.host,
                           extra="interval: 1h\nagent:\n  drift_interval: null\n")
        replica = start_replica(cfg, free_port())
        try:
            seen = None
            deadline = time.monotonic() + DELAY + 20
            while time.monotonic() < deadline and replica.agent.cycles == 0:
                m = samples(replica.url)
                if m.get(("imagebot_cycle_in_progress", ())) == 1 and m.get(("imagebot_cycle_images_resolved", ())) == 1:
                    seen = m
                    break
                time.sleep(0.1)
            assert seen is not None, "no mid-cycle progress seen"
            assert seen[("imagebot_cycle_images_to_resolve", ())] == 2
            live = sum(v for (name, labels), v in seen.items()
                       if name == "imagebot_registry_requests_total" and ("kind", "tags") in labels)
            assert live >= 1, "the fast listing is counted before the cycle ends"
            assert replica.agent.wait_cycles(1, DELAY + 30)
            after = samples(replica.url)
            assert after[("imagebot_cycle_in_progress", ())] == 0
            assert after[("imagebot_cycle_images_resolved", ())] == 2
        finally:
            replica.stop()
