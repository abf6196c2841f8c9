"""A warm process (the agent) keeps discover's per-file cache across cycles: against a real
registry and a real Git remote that people keep committing to, every cycle with the cache
decides exactly what a cold cycle (no cache) decides, and a no-change cycle parses nothing."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imagebot import pipeline
from imagebot.agent.loop import Agent
from imagebot.config.load import load
from imagebot.config.schema import Config
from imagebot.discover import DiscoverCache
from imagebot.model import CycleResult
from imagebot.registry import RegistryClient
from imagebot.report.metrics import Metrics
from tests.support.manifests import deployment as workload
from tests.support.cli import write_config
from tests.support.gitrepo import clone, git, make_remote, show, write_files
from tests.support.registry import RegistryServer, registry_available

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")


def seed(host: str) -> dict[str, str]:
    files = {f"apps/svc-{i}.yaml": workload(f"svc-{i}", f"{host}/team/app{i % 3}:1.0.0") for i in range(9)}
    files |= {f"config/settings-{i}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s{i}\n" for i in range(20)}
    files["values/web.yaml"] = f"image: {host}/team/app0:1.0.0 # imagebot: semver:^1.0\n"
    return files


class Human:
    """Someone committing to the remote's main branch from their own clone."""

    def __init__(self, remote: Path, work: Path):
        self.work = clone(remote, work, "main")

    def commit(self, message: str, change: Callable[[Path], Any]) -> None:
        git(self.work, "pull", "-q", "--ff-only", "origin", "main")
        change(self.work)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "main")


def same_size(rel: str, old: str, new: str) -> Callable[[Path], None]:
    assert len(old) == len(new)

    def change(work: Path) -> None:
        p = work / rel
        p.write_text(p.read_text().replace(old, new))
    return change


def move(a: str, b: str) -> Callable[[Path], None]:
    def change(work: Path) -> None:
        (work / b).parent.mkdir(parents=True, exist_ok=True)
        git(work, "mv", a, b)
    return change


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with RegistryServer(tmp_path / "reg") as reg:
        for r in range(3):
            reg.push(f"team/app{r}", "1.0.0")
            reg.push(f"team/app{r}", "1.1.0")
        remote = make_remote(tmp_path, seed(reg.host))
        # The bot commits straight to main, so the people's commits and the bot's meet there.
        cfg = load(write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=reg.host, delivery_branch=None))
        yield {"reg": reg, "remote": remote, "cfg": cfg, "human": Human(remote, tmp_path / "human")}


def decisions(result: CycleResult) -> tuple[Any, ...]:
    """Everything a cycle decided, in a comparable form."""
    changes = tuple((c.file, c.occurrence.location, c.old_ref, c.new_ref) for c in result.plan.changes)
    edits = tuple((e.path, e.after) for e in result.rendered.edits)
    return result.discovery, changes, edits, tuple(sorted(map(str, result.problems)))


def cold(cfg: Config, client: RegistryClient, images: frozenset[str] | None = None) -> CycleResult:
    """A dry-run cycle that discovers everything from scratch (discover's store on disk removed first)."""
    shutil.rmtree(pipeline.cache_dir(cfg) / "discover", ignore_errors=True)
    return pipeline.run_cycle(cfg, dry_run=True, registry=client, images=images)


def test_warm_cycles_decide_what_cold_cycles_decide_while_people_commit(world: dict[str, Any]):
    cfg, reg, human, remote = world["cfg"], world["reg"], world["human"], world["remote"]
    host = reg.host
    cache = DiscoverCache()
    client = pipeline.new_registry_client(cfg)
    try:
        first = pipeline.run_cycle(cfg, registry=client, discover_cache=cache)
        assert first.delivery is not None and first.delivery.pushed and len(first.plan.changes) == 10
        steps: list[tuple[str, Callable[[Path], Any]]] = [
            ("an older tag back on one service", same_size("apps/svc-1.yaml", "1.1.0", "1.0.0")),
            ("same size: another image", same_size("apps/svc-2.yaml", "team/app2", "team/app1")),
            ("same size: the policy switched off", same_size("apps/svc-4.yaml", "imagebot.io/policy", "imagebot.io/xolicy")),
            ("a service deleted", lambda w: (w / "apps/svc-5.yaml").unlink()),
            ("a service renamed", move("apps/svc-6.yaml", "apps/renamed/svc-6.yaml")),
            ("a new service", lambda w: write_files(w, {"apps/new.yaml": workload("new", f"{host}/team/app2:1.0.0")})),
            ("a settings file gains a marker", lambda w: write_files(w, {
                "config/settings-3.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s3\n"
                                          f"data:\n  image: {host}/team/app1:1.0.0 # imagebot: semver:^1.0\n"})),
            ("a broken file", lambda w: write_files(w, {"apps/svc-7.yaml": "kind: [\n# imagebot: semver:^1\n"})),
        ]
        for name, change in steps:
            human.commit(name, change)
            for images in (None, frozenset({f"{host}/team/app1"}), frozenset({f"{host}/team/app2"})):
                warm = pipeline.run_cycle(cfg, dry_run=True, registry=client, images=images, discover_cache=cache)
                assert decisions(warm) == decisions(cold(cfg, client, images)), (name, images)
            # The warm agent delivers; the remote gets exactly the cold cycle's edits.
            expected = {e.path: e.after for e in cold(cfg, client).rendered.edits}
            delivered = pipeline.run_cycle(cfg, registry=client, discover_cache=cache)
            assert {e.path: e.after for e in delivered.rendered.edits} == expected, name
            for path, after in expected.items():
                assert show(remote, "main", path) == after
        # A new tag, then a webhook-targeted warm cycle for it.
        reg.push("team/app1", "1.2.0")
        images = frozenset({f"{host}/team/app1"})
        expected_targeted = decisions(cold(cfg, client, images))
        targeted = pipeline.run_cycle(cfg, registry=client, images=images, discover_cache=cache)
        assert decisions(targeted)[1:3] == expected_targeted[1:3] and targeted.plan.changes
        assert targeted.delivery is not None and targeted.delivery.pushed
        assert b":1.2.0" in show(remote, "main", "config/settings-3.yaml")
        # Nothing left to do. The first cycle after the bot's own commit parses the files that
        # commit rewrote (new bytes); the next one parses nothing.
        again = pipeline.run_cycle(cfg, registry=client, discover_cache=cache)
        assert not again.plan.changes and decisions(again) == decisions(cold(cfg, client))
        assert cache.stats.parsed == len(targeted.rendered.edits)
        again = pipeline.run_cycle(cfg, registry=client, discover_cache=cache)
        assert not again.plan.changes and decisions(again) == decisions(cold(cfg, client))
        assert cache.stats.parsed == 0 and cache.stats.evaluated == 0
    finally:
        client.close()


def test_a_restarted_agent_starts_from_discovers_store(world: dict[str, Any]):
    """The agent's cache lives on disk too: after a restart (a new DiscoverCache) the first cycle
    neither reads nor parses a file of the commit it scanned before, and decides the same."""
    cfg = world["cfg"]
    client = pipeline.new_registry_client(cfg)
    try:
        before = pipeline.run_cycle(cfg, dry_run=True, registry=client, discover_cache=DiscoverCache())
        restarted = DiscoverCache()
        after = pipeline.run_cycle(cfg, dry_run=True, registry=client, discover_cache=restarted)
        assert decisions(after) == decisions(before) == decisions(cold(cfg, client))
        assert (restarted.stats.reused, restarted.stats.evaluated, restarted.stats.parsed) == (len(seed("h")), 0, 0)
    finally:
        client.close()


def test_the_agent_keeps_one_cache_across_its_cycles(world: dict[str, Any]):
    """After its first cycle (which commits), the agent's next cycle parses only the files its
    own commit rewrote, and the one after that parses nothing (files younger than the racy
    window are read back, not parsed)."""
    agent = Agent(world["cfg"], run_cycle=pipeline.run_cycle, metrics=Metrics())
    t = threading.Thread(target=agent.run)
    t.start()
    try:
        assert agent.wait_cycles(1, 60)
        first = agent.last_result
        assert first is not None and first.delivery is not None and first.delivery.pushed
        for n, parsed in ((2, len(first.rendered.edits)), (3, 0)):
            agent.request_full_cycle()
            assert agent.wait_cycles(n, 60)
            result = agent.last_result
            assert result is not None and not result.plan.changes and not result.problems
            stats = agent.discover_cache.stats
            assert (stats.parsed, stats.evaluated) == (parsed, parsed)
            assert stats.reused + stats.reread + stats.evaluated == result.discovery.files_scanned == len(seed("h"))
    finally:
        agent.stop()
        t.join(30)
    assert not t.is_alive()


@pytest.mark.parametrize("mode", ["commit", "pull-request"])
def test_the_workspace_follows_the_remote_whether_or_not_it_fetches(tmp_path: Path, mode: str):
    """checkout() skips the fetch when the local remote-tracking refs already match the remote:
    a moved branch is still fetched, a new or deleted bot branch still shows up or is pruned."""
    from imagebot.deliver import GitWorkspace

    remote = make_remote(tmp_path, {"a.yaml": "a: 1\n"})
    human = Human(remote, tmp_path / "human")
    cfg = Config.model_validate({"repository": {"url": str(remote), "branch": "main"},
                                 "delivery": {"mode": mode, "branch": "bot" if mode == "commit" else None}})

    def synced() -> GitWorkspace:
        ws = GitWorkspace(cfg, tmp_path / "cache")
        root = ws.checkout()
        target = "bot" if mode == "commit" and "bot" in ws.remote_heads else "main"
        assert ws.head() == git(remote, "rev-parse", target).strip()
        assert (root / "a.yaml").read_text() == show(remote, target, "a.yaml").decode()
        return ws

    synced()
    synced()  # nothing moved
    human.commit("main moves", lambda w: write_files(w, {"a.yaml": "a: 2\n"}))
    synced()
    git(human.work, "push", "-q", "origin", "main:refs/heads/bot", "main:refs/heads/imagebot/pr-1")
    ws = synced()
    if mode == "pull-request":
        assert set(ws.remote_branches("imagebot/")) == {"imagebot/pr-1"}
    git(human.work, "push", "-q", "origin", ":refs/heads/imagebot/pr-1")  # merged, branch deleted; main as it was
    ws = synced()
    assert ws.remote_branches("imagebot/") == {}
    human.commit("main moves again", lambda w: write_files(w, {"a.yaml": "a: 3\n"}))
    synced()
    git(human.work, "push", "-q", "origin", ":refs/heads/bot")
    synced()
    synced()


def test_the_workspace_names_the_files_a_commit_modified_and_nothing_else(world: dict[str, Any], tmp_path: Path):
    """What the agent's next scan may skip: only when every difference is a modified file."""
    from imagebot.deliver.workspace import GitWorkspace

    ws = GitWorkspace(world["cfg"], tmp_path / "cache")
    ws.checkout()
    before = ws.head()
    world["human"].commit("two tags", lambda w: (same_size("apps/svc-1.yaml", "1.0.0", "1.0.9")(w),
                                                 same_size("values/web.yaml", "1.0.0", "1.0.7")(w)))
    ws.checkout()
    after = ws.head()
    assert ws.modified_between(before, after) == {"apps/svc-1.yaml", "values/web.yaml"}
    assert ws.modified_between(after, after) == frozenset()
    world["human"].commit("a new file", lambda w: write_files(w, {"apps/new.yaml": "kind: ConfigMap\n"}))
    ws.checkout()
    assert ws.modified_between(after, ws.head()) is None  # added: the scan walks again
    world["human"].commit("a rename", move("apps/svc-2.yaml", "apps/moved/svc-2.yaml"))
    ws.checkout()
    assert ws.modified_between(after, ws.head()) is None
    assert ws.modified_between("0" * 40, ws.head()) is None  # unknown here
