"""Registry trouble, end to end through `imagebot run --once`: the failing image is reported
with a skip reason naming it, every other image still updates, and no file is edited wrongly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import imagebot
from tests.support.gitrepo import log, make_remote, show
from tests.support.registry import OCI_INDEX
from tests.support.registry_proxy import RegistryProxy


def deployment(name: str, image: str) -> str:
    return (
        f"# {name}: keep on the newest 1.x\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
        f"  annotations:\n    imagebot.io/policy: \"semver:^1\"\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: main\n          image: {image}   # pinned by imagebot\n"
    )


@pytest.fixture
def world(tmp_path: Path, registry):
    for repo in ("team/good", "team/bad"):
        registry.push_tags(repo, ["1.0.0", "1.1.0"])
    proxy = RegistryProxy(registry.url).__enter__()
    files = {
        "apps/good.yaml": deployment("good", f"{proxy.host}/team/good:1.0.0"),
        "apps/bad.yaml": deployment("bad", f"{proxy.host}/team/bad:1.0.0"),
    }
    remote = make_remote(tmp_path, files)
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: {remote}}}\ndelivery: {{branch: staging}}\n"
        f"registries:\n  - host: {proxy.host}\n    insecure: true\n    timeout: 1\n"
        f"cache_dir: {tmp_path / 'cache'}\n"
    )
    yield tmp_path, remote, files, proxy
    proxy.stop()


FAULTS = [
    ("429", {"retry_after": "1"}),
    ("500", {}),
    ("502", {}),
    ("503", {}),
    ("timeout", {"delay": 1.5}),
    ("reset", {}),
    ("cut", {}),
    ("truncated", {}),
    ("html", {}),
]


@pytest.mark.parametrize(("fault", "kw"), FAULTS, ids=[f for f, _ in FAULTS])
def test_a_failing_repository_is_skipped_and_the_rest_updates(world, fault: str, kw: dict) -> None:
    cwd, remote, files, proxy = world
    proxy.inject(fault, path=r"/team/bad/tags/list", times=1000, **kw)

    res = imagebot("run", "--once", "--json", cwd=cwd, timeout=240)
    assert res.code == 1, res.err + res.out  # partial: one image needs attention
    doc = json.loads(res.out)
    assert [c["image"] for c in doc["changes"]] == [f"{proxy.host}/team/good"]
    (problem,) = doc["problems"]
    assert problem["kind"] == "registry" and problem["file"] == "apps/bad.yaml"
    assert "team/bad" in problem["subject"] + problem["message"]

    assert show(remote, "staging", "apps/good.yaml").decode() == files["apps/good.yaml"].replace(":1.0.0", ":1.1.0")
    assert show(remote, "staging", "apps/bad.yaml").decode() == files["apps/bad.yaml"]  # untouched, byte for byte


def test_a_registry_that_fails_after_a_good_cycle_uses_the_cached_list(world) -> None:
    cwd, remote, files, proxy = world
    first = imagebot("plan", "--json", cwd=cwd)
    assert first.code == 0, first.err

    proxy.inject("503", path=r"/tags/list", times=1000)
    second = imagebot("plan", "--json", cwd=cwd, timeout=240)
    doc = json.loads(second.out)
    assert sorted(c["new"] for c in doc["changes"]) == [f"{proxy.host}/team/bad:1.1.0", f"{proxy.host}/team/good:1.1.0"]
    assert all(c["reason"] for c in doc["changes"])
    plain = imagebot("plan", cwd=cwd, timeout=240)
    assert "Decided from a cached tag list" in plain.out


def test_a_tag_without_the_required_platform_is_passed_over(tmp_path: Path, registry) -> None:
    registry.push_tags("team/multi", ["1.0.0", "1.1.0"])
    registry.push("team/multi", "1.2.0", media_type=OCI_INDEX, platforms=("linux/arm64",))
    remote = make_remote(tmp_path, {"app.yaml": deployment("multi", f"{registry.host}/team/multi:1.0.0")})
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: {remote}}}\nregistries:\n  - host: {registry.host}\n    insecure: true\n"
        f"    platforms: [linux/amd64]\ncache_dir: {tmp_path / 'cache'}\n"
    )
    res = imagebot("run", "--once", "--json", cwd=tmp_path)
    assert res.code == 0, res.err + res.out
    (change,) = json.loads(res.out)["changes"]
    assert change["new"].endswith("team/multi:1.1.0")
    assert "1.2.0 lacks linux/amd64" in change["reason"]
    assert len(log(remote, "main")) == 2
