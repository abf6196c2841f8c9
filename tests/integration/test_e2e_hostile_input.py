"""Hostile input, end to end through `imagebot run --once`: files and registries built to crash
or stall the bot are refused or outlived, each with a problem naming its file or registry,
while the healthy workload in the same repository is updated in the same cycle.

The registries are real: docker-registry behind small hostile HTTP proxies on 127.0.0.1
(tests/support/registry_proxy.py), one proxy per hostile behaviour so each names its own host.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.cli import imagebot
from tests.support.gitrepo import make_remote, show
from tests.support.manifests import deployment
from tests.support.registry_proxy import RegistryProxy

# name -> (fault, fault keywords, path the fault answers)
HOSTILE_REGISTRIES = {
    "deepjson": ("deep", {"count": 100_000}, r"/tags/list"),
    "huge": ("huge", {"count": 300 * 1024 * 1024}, r"/tags/list"),
    "million": ("many", {"count": 1_000_000}, r"/tags/list"),
    "drip": ("drip", {"delay": 0.4}, r"/tags/list"),
    "notlist": ("notlist", {"method": "GET"}, r"/manifests/1\.1\.0"),
    "baddigest": ("baddigest", {}, r"/manifests/1\.1\.0"),
    "headlie": ("baddigest", {}, r"/manifests/1\.0\.0"),  # policy digest: HEAD states a digest
}


def _nested_block(depth: int) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "leaf\n"


@pytest.fixture
def world(tmp_path: Path, registry):
    stack = ExitStack()
    registry.push_tags("team/good", ["1.0.0", "1.1.0"])
    old = registry.push("team/moving", "1.0.0")
    new = registry.push("team/moving", "1.0.0", labels={"rebuilt": "yes"})
    files: dict[str, str] = {
        "apps/good.yaml": deployment("good", f"{registry.host}/team/good:1.0.0", "semver:^1"),
        # policy `Digest` in another case than lowercase still follows the tag's digest
        "apps/moving.yaml": deployment("moving", f"{registry.host}/team/moving:1.0.0@{old}", "Digest"),
    }
    files_after = {"apps/moving.yaml": files["apps/moving.yaml"].replace(old, new)}
    settings = [f"  - host: {registry.host}\n    insecure: true\n"]
    hosts = {}
    for name, (fault, kw, path) in HOSTILE_REGISTRIES.items():
        digests = registry.push_tags(f"team/{name}", ["1.0.0", "1.1.0"])
        proxy = stack.enter_context(RegistryProxy(registry.url))
        proxy.inject(fault, path=path, times=1000, **kw)
        hosts[name] = proxy.host
        image = f"{proxy.host}/team/{name}:1.0.0"
        if name in ("baddigest", "headlie"):
            image += "@" + digests["1.0.0"]
        if name == "headlie":
            registry.push(f"team/{name}", "1.0.0", labels={"rebuilt": "yes"})  # the tag moves on
        files[f"apps/{name}.yaml"] = deployment(name, image, "digest" if name == "headlie" else "semver:^1")
        settings.append(f"  - host: {proxy.host}\n    insecure: true\n    timeout: {1 if name == 'drip' else 5}\n")
    # files that crashed the interpreter or ended the cycle before
    files["apps/deep-flow.yaml"] = "# imagebot.io/policy lives here\nx: " + "[" * 60_000 + "]" * 60_000 + "\n"
    files["apps/deep-block.yaml"] = "# imagebot.io/policy\n" + _nested_block(1_200)
    files["apps/big.yaml"] = "# imagebot.io/policy\n" + ("# padding padding padding padding padding padding\n" * 180_000)
    remote = make_remote(tmp_path, files)
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: {remote}}}\ndelivery: {{branch: staging}}\nregistries:\n{''.join(settings)}"
        f"cache_dir: {tmp_path / 'cache'}\n"
    )
    yield tmp_path, remote, files, hosts, files_after
    stack.close()


def test_hostile_files_and_registries_are_refused_and_the_healthy_workload_updates(world) -> None:
    cwd, remote, files, hosts, files_after = world
    t0 = time.monotonic()
    res = imagebot("run", "--once", "--json", cwd=cwd, timeout=120)
    elapsed = time.monotonic() - t0
    assert res.code == 1, res.err + res.out  # partial: problems, but the cycle ran
    doc = json.loads(res.out)

    # the healthy workload is updated in the same cycle
    assert sorted(c["new"].rsplit("/", 1)[-1].split("@")[0] for c in doc["changes"]) == ["good:1.1.0", "moving:1.0.0"]
    assert show(remote, "staging", "apps/good.yaml").decode() == files["apps/good.yaml"].replace(":1.0.0", ":1.1.0")
    assert show(remote, "staging", "apps/moving.yaml").decode() == files_after["apps/moving.yaml"]

    by_file = {p["file"]: p for p in doc["problems"]}
    assert "nested deeper than 100 levels" in by_file["apps/deep-flow.yaml"]["message"]
    assert "nested deeper than 100 levels" in by_file["apps/deep-block.yaml"]["message"]
    assert by_file["apps/deep-block.yaml"]["line"] > 1
    assert "over the limit" in by_file["apps/big.yaml"]["message"]

    expected = {
        "deepjson": "nested too deeply",
        "huge": "refused an answer over",
        "million": "more than 100,000 tags",
        "drip": "within the request's deadline",
        "notlist": "'manifests' is not a list",
        "baddigest": "does not match the manifest received",
        "headlie": "does not match the manifest received",
    }
    for name, words in expected.items():
        problem = by_file[f"apps/{name}.yaml"]
        assert problem["kind"] == "registry", problem
        text = problem["subject"] + " " + problem["message"]
        assert hosts[name] in text and words in text, problem
        # untouched, byte for byte
        assert show(remote, "staging", f"apps/{name}.yaml").decode() == files[f"apps/{name}.yaml"]

    # the slow drip (one byte every 0.4 s of a 40-byte answer, 4 attempts) cannot stretch the cycle:
    # each request ends at its 1 s deadline
    assert elapsed < 45, elapsed
