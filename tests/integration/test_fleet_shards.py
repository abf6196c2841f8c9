"""Three agents share 12 repositories through per-lane Leases on the Kubernetes API emulator,
running real cycles against docker-registry and 12 bare Git remotes: 50 pushes, one agent
killed half way, and not one change committed twice.

The Leases are stepped by the test on a fake clock (as in test_k8s_shards), so the takeover
timing is exact; the agents themselves run their real loops, cycles and pushes in real time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from imagebot import pipeline
from imagebot.agent.loop import Agent
from imagebot.config.load import load
from imagebot.k8s.leader import LeaseTiming
from imagebot.k8s.shards import LaneShards
from imagebot.lanes import lanes_of
from imagebot.report.metrics import Metrics
from tests.integration.test_k8s_leader import FakeClock
from tests.support.gitrepo import git, make_remote, show
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)
from tests.support.manifests import deployment
from tests.support.registry import RegistryServer, registry_available

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")

TIMING = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=2)
LANES = 12
IMAGES = 4
PUSHES = 50


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    with RegistryServer(tmp_path / "reg") as reg:
        for k in range(IMAGES):
            reg.push(f"team/img{k}", "1.0.0")
        remotes = {}
        for i in range(LANES):
            files = {f"apps/web-{i}.yaml": deployment(f"web-{i}", f"{reg.host}/team/img{i % IMAGES}:1.0.0")}
            remotes[f"lane-{i:02d}"] = make_remote(tmp_path, files, name=f"lane-{i:02d}.git")
        items = "\n".join(f"  - {{name: {n}, url: {r}}}" for n, r in remotes.items())
        (tmp_path / "imagebot.yaml").write_text(
            f"repositories:\n{items}\ndelivery: {{mode: commit}}\n"
            f"registries: [{{host: '{reg.host}', insecure: true}}]\ninterval: 1h\n"
            "agent: {drift_interval: null, webhooks: {debounce: 50ms}}\nfleet: {concurrency: 4}\n")
        yield {"reg": reg, "remotes": remotes, "config": tmp_path / "imagebot.yaml", "tmp": tmp_path}


def value(remote: Path, lane: str) -> str:
    text = show(remote, "main", f"apps/web-{int(lane[-2:])}.yaml").decode()
    return text.split("/team/img", 1)[1].split(":", 1)[1].split()[0].strip('"')


@pytest.mark.slow
def test_three_agents_12_lanes_50_pushes_an_agent_killed_no_change_committed_twice(kube: KubeServer, world: dict) -> None:
    reg, remotes = world["reg"], world["remotes"]
    clock = FakeClock()
    agents: dict[str, Agent] = {}
    shards: dict[str, LaneShards] = {}
    threads = []
    for name in ("a", "b", "c"):
        cfg = load(world["config"]).model_copy(update={"cache_dir": str(world["tmp"] / f"cache-{name}")})
        lanes = lanes_of(cfg)
        shards[name] = LaneShards(
            client.CoordinationV1Api(kube.api_client()), base_name="imagebot", namespace="imagebot",
            lanes=[x.name for x in lanes], identity=name, timing=TIMING, clock=clock, now=clock.wall,
            on_change=lambda lane, leading, name=name: leading and agents[name].request_full_cycle())
        agents[name] = Agent(cfg, run_cycle=pipeline.run_cycle, metrics=Metrics(), lanes=lanes, holds=shards[name].holds,
                             registry=pipeline.new_registry_client(cfg))
        threads.append(threading.Thread(target=agents[name].run, daemon=True))
    for t in threads:
        t.start()
    alive = dict(shards)

    def step() -> None:
        for s in alive.values():
            s.step()
        holders = {lane: [n for n, s in shards.items() if s.holds(lane)] for lane in remotes}
        assert all(len(h) <= 1 for h in holders.values()), holders  # never two writers for one lane
        clock.t += TIMING.retry_period

    def holder(lane: str) -> str | None:
        return next((n for n, s in alive.items() if s.holds(lane)), None)

    latest = {k: "1.0.0" for k in range(IMAGES)}

    def settled(lanes: list[str], timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(value(remotes[lane], lane) == latest[int(lane[-2:]) % IMAGES] for lane in lanes):
                return
            time.sleep(0.05)
        raise AssertionError({lane: (value(remotes[lane], lane), holder(lane)) for lane in lanes})

    try:
        for _ in range(4):
            step()
        assert Counter(holder(lane) for lane in remotes) == {"a": 4, "b": 4, "c": 4}
        killed_at = moved_at = None
        for p in range(PUSHES):
            k = p % IMAGES
            latest[k] = f"1.{p + 1}.0"
            reg.push(f"team/img{k}", latest[k])
            if p == PUSHES // 2:
                killed_at = clock.t
                agents["b"].stop()  # crashed: no more cycles, and its Leases are never renewed or released
                del alive["b"]
            step()
            if killed_at is not None and moved_at is None and all(holder(lane) for lane in remotes):
                moved_at = clock.t - TIMING.retry_period  # the step that took the last of them
            for name in alive:
                agents[name].push([f"{reg.host}/team/img{k}"])  # the registry's webhook, as every replica sees it
            # Every lane using the image whose holder is alive has it committed before the next push.
            settled([lane for lane in remotes if int(lane[-2:]) % IMAGES == k and holder(lane)])
        assert moved_at is not None and moved_at - killed_at <= TIMING.lease_duration + 2 * TIMING.retry_period
        assert sorted(Counter(holder(lane) for lane in remotes).values()) == [6, 6]
        settled(list(remotes))  # the new holders caught up with what was pushed while the lanes moved
    finally:
        for a in agents.values():
            a.stop()
        for t in threads:
            t.join(30)
        for a in agents.values():
            a.registry.close()

    duplicates = 0
    commits = 0
    for lane, remote in remotes.items():
        shas = git(remote, "rev-list", "main").split()[:-1]  # all but the seed commit
        commits += len(shas)
        added = Counter()
        for sha in shas:
            diff = git(remote, "show", "--format=", "-U0", sha)
            added.update(line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
        duplicates += sum(n - 1 for n in added.values() if n > 1)
    assert duplicates == 0, f"{duplicates} change(s) committed twice in {commits} commits"
    # Every lane was updated; the lanes that kept a live holder got one commit per push of their image.
    assert commits >= LANES + 8 * (PUSHES // 2) // IMAGES, commits
