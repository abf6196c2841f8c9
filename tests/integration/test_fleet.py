"""Several repositories (lanes) in one round, on real parts: docker-registry with its access
log on, bare Git remotes, the real `imagebot` command line.

- three repositories sharing 30 images: the round lists each image repository exactly once
  (counted in the registry's own access log), and each repository gets its own commit;
- one lane's remote hangs (a TCP server that accepts and never answers) and another's rejects
  every push: the other lanes commit on time, and the round returns at the lane deadline.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagebot.config.load import load
from imagebot.fleet import Fleet
from imagebot.lanes import lanes_of
from tests.integration.test_e2e_hangs import SilentServer
from tests.support.cli import imagebot
from tests.support.gitrepo import git, log, make_remote, show
from tests.support.manifests import deployment
from tests.support.registry import RegistryServer, registry_available

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")

ACCESS_LOG = {"log": {"level": "error", "accesslog": {"disabled": False}}}
TAGS_LIST = re.compile(r'"GET /v2/(?P<repo>[^ ]+?)/tags/list[^ ]* HTTP')


def tag_listings(reg: RegistryServer) -> Counter[str]:
    """GET .../tags/list requests per image repository, from the registry's access log."""
    return Counter(m["repo"] for m in TAGS_LIST.finditer((reg.workdir / "registry.log").read_text(errors="replace")))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path / "reg", extra_config=ACCESS_LOG) as reg:
        for i in range(30):
            reg.push_tags_bulk(f"team/img{i}", ["1.0.0", "1.1.0"], mount_from="team/img0" if i else None)
        yield reg


def repositories_config(tmp_path: Path, reg: RegistryServer, items: list[str], extra: str = "") -> Path:
    lines = ["repositories:", *items, "delivery: {mode: commit}", "registries:",
             f"  - host: {reg.host}", "    insecure: true", f"cache_dir: {tmp_path / 'cache'}", extra]
    path = tmp_path / "imagebot.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def remote_using(tmp_path: Path, name: str, host: str, images: range) -> Path:
    files = {f"apps/{name}-{i}.yaml": deployment(f"svc-{i}", f"{host}/team/img{i}:1.0.0") for i in images}
    return make_remote(tmp_path, files, name=f"{name}.git")


def test_three_repositories_sharing_30_images_list_each_image_once_and_commit_each(tmp_path: Path,
                                                                                  registry: RegistryServer) -> None:
    host = registry.host
    remotes = {"apps": remote_using(tmp_path, "apps", host, range(0, 20)),
               "platform": remote_using(tmp_path, "platform", host, range(10, 30)),
               "edge": remote_using(tmp_path, "edge", host, range(0, 30))}
    cfg = repositories_config(tmp_path, registry, [f"  - {{name: {n}, url: {r}}}" for n, r in remotes.items()])
    before = tag_listings(registry)

    out = imagebot("run", "--once", "--json", "-c", str(cfg), cwd=tmp_path, timeout=300)

    assert out.code == 0, out.err
    doc = json.loads(out.out)
    listed = tag_listings(registry) - before
    assert listed == Counter({f"team/img{i}": 1 for i in range(30)}), listed  # one round: each image once
    assert doc["registry_requests"][f"{host} tags 200"] == 30
    per_lane = {lane["name"]: lane for lane in doc["repositories"]}
    assert {n: len(per_lane[n]["changes"]) for n in remotes} == {"apps": 20, "platform": 20, "edge": 30}
    for name, remote in remotes.items():
        history = log(remote, "main")
        assert len(history) == 2, history  # the seed commit + imagebot's one commit
        assert per_lane[name]["delivery"]["commit"] == git(remote, "rev-parse", "main").strip()
        first = sorted(p for p in git(remote, "ls-tree", "-r", "--name-only", "main").split() if p.startswith("apps/"))[0]
        assert b":1.1.0" in show(remote, "main", first)
    # The lanes' clones are their own (keyed by the lane), never one shared work tree.
    assert sorted(p.name for p in (tmp_path / "cache" / "repos" / "lanes").iterdir()) == ["apps", "edge", "platform"]

    # --repository runs one lane; plan covers all of them and writes nothing.
    again = imagebot("plan", "--json", "-c", str(cfg), cwd=tmp_path)
    assert again.code == 0, again.err
    assert json.loads(again.out)["changes"] == []
    one = imagebot("run", "--once", "--repository", "platform", "-c", str(cfg), cwd=tmp_path)
    assert one.code == 0, one.err
    missing = imagebot("plan", "--repository", "nope", "-c", str(cfg), cwd=tmp_path)
    assert missing.code == 2 and "no repository named 'nope'" in missing.err and "apps, platform, edge" in missing.err
    valid = imagebot("validate", "-c", str(cfg), cwd=tmp_path)
    assert valid.code == 0, valid.err
    assert [line for line in valid.out.splitlines() if line.startswith("repository ")] == [
        f"repository {n} ({r}):" for n, r in remotes.items()]


def test_a_hanging_and_a_rejecting_remote_do_not_delay_or_fail_the_other_lanes(tmp_path: Path,
                                                                              registry: RegistryServer) -> None:
    host = registry.host
    good = {n: remote_using(tmp_path, n, host, range(i * 5, i * 5 + 5)) for i, n in enumerate(("one", "two", "three"))}
    rejecting = remote_using(tmp_path, "rejecting", host, range(0, 5))
    hook = rejecting / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with SilentServer() as silent:  # the hanging remote
        items = [f"  - {{name: {n}, url: {r}}}" for n, r in good.items()]
        items += [f"  - {{name: rejecting, url: {rejecting}}}",
                  f"  - {{name: hanging, url: 'http://127.0.0.1:{silent.port}/gitops.git'}}"]
        cfg = load(repositories_config(tmp_path, registry, items, "fleet: {concurrency: 2, lane_deadline: 8s}"))
        fleet = Fleet(cfg, lanes_of(cfg))

        t0 = time.monotonic()
        r = fleet.run_round()
        took = time.monotonic() - t0

        states = {o.lane: o.state for o in r.outcomes}
        assert states == {"one": "ok", "two": "ok", "three": "ok", "rejecting": "failed", "hanging": "timed-out"}, r
        assert "pre-receive hook declined" in r.outcome("rejecting").error
        for name, remote in good.items():
            assert len(log(remote, "main")) == 2, name  # committed, in this round
            assert r.outcome(name).duration < 8
        # With 2 lanes at once, the hanging lane holds one slot for its deadline; the round ends then.
        assert 8 <= took < 8 + 8, took
        assert r.exit_code == 3

        # Next round: the hung run has not ended, so that lane is skipped, not started twice; others run.
        again = fleet.run_round()
        assert {o.lane: o.state for o in again.outcomes}["hanging"] == "busy"
        assert {o.lane: o.state for o in again.outcomes}["one"] == "ok"
        assert fleet.status()["hanging"]["running"] is True
    deadline = time.monotonic() + 30
    while fleet.status()["hanging"]["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not fleet.status()["hanging"]["running"], "the hung lane's git did not end once its remote closed"


class FromStaging:
    """A stand-in promotion source: proposes the tag the staging overlay runs, read from the
    lane's checkout; it never asks the registry."""

    kind = "promotion"

    def resolve(self, occurrences, registry, checkout):  # type: ignore[no-untyped-def]
        from imagebot.model import Resolution, Target

        staged = (checkout / "staging" / "web.yaml").read_text().split(":")[-1].strip()
        return tuple(Resolution(o, Target(staged), f"staging runs {staged}") for o in occurrences)


def test_a_lane_takes_its_candidates_from_its_source(tmp_path: Path, registry: RegistryServer) -> None:
    """The seam staged promotion plugs into: a lane whose source is not the registry."""
    from dataclasses import replace

    host = registry.host
    remote = make_remote(tmp_path, {"staging/web.yaml": f"image: {host}/team/img3:1.0.7\n",
                                    "prod/web.yaml": deployment("web", f"{host}/team/img3:1.0.0")}, name="envs.git")
    cfg = load(repositories_config(tmp_path, registry, [f"  - {{name: prod, url: {remote}, paths: [prod/]}}"]))
    (lane,) = lanes_of(cfg)
    before = tag_listings(registry)
    r = Fleet(cfg, [replace(lane, source=FromStaging())]).run_round()
    assert r.outcome("prod").state == "ok", r.outcome("prod").error
    assert b"team/img3:1.0.7" in show(remote, "main", "prod/web.yaml")  # not 1.1.0, the registry's newest
    assert tag_listings(registry) == before  # no tag listed for it
    assert Fleet(cfg, [lane]).run_round().outcome("prod").result.plan.changes[0].new.endswith(":1.1.0")  # registries


def test_the_agent_runs_every_repository_and_reports_each(tmp_path: Path, registry: RegistryServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`imagebot run` (serve) with `repositories:`: one round commits to each; /status lists each lane,
    /metrics carries the repository label, /readyz aggregates the lanes."""
    import requests

    from tests.integration.test_agent_e2e import start_replica
    from tests.support.registry import free_port

    monkeypatch.setenv("IMAGEBOT_WEBHOOK_TOKEN", "t" * 32)
    host = registry.host
    remotes = {"apps": remote_using(tmp_path, "apps", host, range(0, 3)),
               "platform": remote_using(tmp_path, "platform", host, range(2, 5))}
    items = [f"  - {{name: {n}, url: {r}}}" for n, r in remotes.items()]
    items.append(f"  - {{name: broken, url: {tmp_path / 'missing.git'}}}")
    cfg = repositories_config(tmp_path, registry, items, "interval: 1h\nagent: {drift_interval: null}")
    replica = start_replica(cfg, free_port())
    try:
        assert replica.agent.wait_cycles(1, 60)
        for remote in remotes.values():
            assert len(log(remote, "main")) == 2
        status = requests.get(f"{replica.url}/status", timeout=5).json()
        lanes = status["repositories"]
        assert {n: lanes[n]["state"] for n in lanes} == {"apps": "ok", "platform": "ok", "broken": "failed"}
        assert lanes["apps"]["target"] == "commit to main" and lanes["apps"]["held"] is True
        assert {r["repository"] for r in status["references"]} == {"apps", "platform"}
        metrics = requests.get(f"{replica.url}/metrics", timeout=5).text
        assert 'imagebot_repository_cycles_total{repository="apps",result="ok"} 1.0' in metrics
        assert 'imagebot_repository_cycles_total{repository="broken",result="failed"} 1.0' in metrics
        assert requests.get(f"{replica.url}/readyz", timeout=5).status_code == 200  # one broken lane of three
    finally:
        replica.stop()


def test_two_agents_in_a_cluster_share_the_lanes_and_post_events_per_lane(tmp_path: Path, registry: RegistryServer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`imagebot run` twice over the Kubernetes API emulator with `repositories:`: one Lease per
    lane, each agent holding its share; each repository gets exactly one commit; ImageUpdated
    Events are posted on the workloads of each lane by its holder."""
    from tests.integration.test_agent_e2e import start_replica
    from tests.support.kube import KubeServer
    from tests.support.registry import free_port

    monkeypatch.setenv("IMAGEBOT_WEBHOOK_TOKEN", "t" * 32)
    host = registry.host
    remotes = {f"r{i}": remote_using(tmp_path, f"r{i}", host, range(i, i + 2)) for i in range(4)}
    cfg = repositories_config(tmp_path, registry, [f"  - {{name: {n}, url: {r}}}" for n, r in remotes.items()],
                              "interval: 1h\nagent: {drift_interval: null, leader_election: {namespace: imagebot, "
                              "lease_duration: 3s, renew_deadline: 2s, retry_period: 500ms}}")
    with KubeServer() as kube:
        replicas = [start_replica(cfg, free_port(), kube.api_client()) for _ in range(2)]
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end and not all(len(log(r, "main")) == 2 for r in remotes.values()):
                time.sleep(0.2)
            assert all(len(log(r, "main")) == 2 for r in remotes.values())
            holders = {n: (kube.get("coordination.k8s.io/v1/leases", "imagebot", f"imagebot-{n}") or {})
                       .get("spec", {}).get("holderIdentity") for n in remotes}
            assert all(holders.values()) and len(set(holders.values())) == 2, holders  # both hold a share
            held = [sorted(n for n in remotes if rep.agent.lane_can_write(n)) for rep in replicas]
            assert sorted(len(h) for h in held) == [2, 2] and not set(held[0]) & set(held[1]), held
            end = time.monotonic() + 10
            while time.monotonic() < end and len([e for e in kube.list("v1/events") if e["reason"] == "ImageUpdated"]) < 8:
                time.sleep(0.1)
            updated = sorted(e["involvedObject"]["name"] for e in kube.list("v1/events") if e["reason"] == "ImageUpdated")
            assert updated == sorted(f"svc-{j}" for i in range(4) for j in range(i, i + 2)), updated
        finally:
            for rep in replicas:
                rep.stop()
    for remote in remotes.values():
        assert len(log(remote, "main")) == 2  # nobody committed twice
