"""Mirrors and pull-through caches: tags listed and digests resolved through the mirror, the
upstream never asked (each registry's own access log says who was asked), and mirror hosts
written in files understood as what they mirror when the config says so.

Two real docker-registry processes: one stands for Docker Hub (docker.io's `location`), one for
the pull-through cache (docker.io's `mirrors`, under a Harbor-style project `dockerhub`). The
upstream holds a newer tag than the mirror, so listing it there would also show in the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.support.cli import imagebot
from tests.support.gitrepo import make_remote, show
from tests.support.registry import OCI_INDEX, RegistryServer, registry_available

ACCESS_LOG = {"log": {"level": "info", "accesslog": {"disabled": False}}}
WORKFLOW = "fluxcd/flux2-kustomize-helm-example/.github/workflows/e2e.yaml"  # node_image: kindest/node:v1.36.1
ENVOY = "onedr0p/home-ops/kubernetes/apps/network/envoy-gateway/app/envoy.yaml"  # mirror.gcr.io/envoyproxy/envoy:v1.39.0


def _requests(reg: RegistryServer) -> list[str]:
    """Request lines ("GET /v2/… HTTP/1.1") of the registry's access log."""
    text = (reg.workdir / "registry.log").read_text(errors="replace")
    return [line.split('"')[1] for line in text.splitlines() if '"' in line and " /v2/" in line.split('"')[1]]


@pytest.fixture
def registries(tmp_path: Path):
    if not registry_available():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry; `make test` does it)")
    with RegistryServer(tmp_path, extra_config=ACCESS_LOG) as upstream, \
            RegistryServer(tmp_path, extra_config=ACCESS_LOG) as mirror:
        yield upstream, mirror


def _tags(name: str) -> list[str]:
    return json.loads(shared_path("realworld", "registry.json").read_text())["repositories"][name]["tags"]


def _docker_io(upstream: RegistryServer, mirror: RegistryServer, *, mirrors_only: bool = False) -> str:
    """docker.io's entry: the API at `upstream` (for the test), the cache at `mirror`/dockerhub."""
    return (f"  - host: docker.io\n    location: {upstream.host}\n    insecure: true\n"
            f"    mirrors: [{mirror.host}/dockerhub]\n" + ("    mirrors_only: true\n" if mirrors_only else ""))


def _setup(tmp_path: Path, path: str, old: str, registries_yaml: str) -> tuple[Path, bytes]:
    data = (shared_path("realworld", "files") / path).read_bytes()
    line = next(x for x in data.split(b"\n") if old.encode() in x)
    marked = data.replace(line, line + b" # imagebot: semver:*", 1)
    remote = make_remote(tmp_path, {path: marked})
    (tmp_path / "imagebot.yaml").write_text(
        f"repository:\n  url: {remote}\n  branch: main\ndelivery:\n  mode: commit\n  branch: staging\n"
        f"cache_dir: {tmp_path / 'cache'}\n" + registries_yaml)
    return remote, marked


def test_docker_hub_tags_are_listed_through_its_mirror_and_the_upstream_is_never_asked(tmp_path: Path, registries) -> None:
    upstream, mirror = registries
    tags = _tags("docker.io/kindest/node")
    mirror.push_tags("dockerhub/kindest/node", tags)
    upstream.push_tags("kindest/node", tags + ["v3.0.0"])  # asked, it would win
    before = len(_requests(upstream))
    remote, marked = _setup(tmp_path, WORKFLOW, "kindest/node:v1.36.1", "registries:\n" + _docker_io(upstream, mirror))

    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out

    after = show(remote, "staging", WORKFLOW)
    assert after == marked.replace(b"kindest/node:v1.36.1", b"kindest/node:v2.0.0")  # the short name stays short
    asked = _requests(mirror)
    assert any(r.startswith("GET /v2/dockerhub/kindest/node/tags/list") for r in asked), asked
    assert any("/v2/dockerhub/kindest/node/manifests/v2.0.0" in r for r in asked), asked  # the platform check too
    assert _requests(upstream)[before:] == []


def test_a_failing_mirror_hands_over_to_the_upstream_unless_mirrors_only(tmp_path: Path, registries) -> None:
    upstream, mirror = registries
    upstream.push_tags("kindest/node", _tags("docker.io/kindest/node"))  # the mirror has nothing: 404
    remote, marked = _setup(tmp_path, WORKFLOW, "kindest/node:v1.36.1", "registries:\n" + _docker_io(upstream, mirror))
    res = imagebot("plan", cwd=tmp_path)
    assert res.code == 0, res.err + res.out
    assert "v1.36.1 -> v2.0.0" in res.out
    assert any(r.startswith("GET /v2/dockerhub/kindest/node/tags/list") for r in _requests(mirror))
    assert any(r.startswith("GET /v2/kindest/node/tags/list") for r in _requests(upstream))

    (tmp_path / "imagebot.yaml").write_text(
        (tmp_path / "imagebot.yaml").read_text() + "    mirrors_only: true\n")
    before = len(_requests(upstream))
    res = imagebot("plan", cwd=tmp_path)
    assert res.code == 1, res.err + res.out  # the image is skipped with the mirror's reason
    assert "not found" in res.out + res.err and "dockerhub/kindest/node" in res.out + res.err
    assert _requests(upstream)[before:] == []


def test_a_mirror_host_written_in_a_file_is_listed_as_what_it_mirrors(tmp_path: Path, registries) -> None:
    """`mirror.gcr.io/envoyproxy/envoy` with `mirror_of: docker.io` is docker.io/envoyproxy/envoy:
    listed through docker.io's mirror; the file keeps the mirror's name."""
    upstream, mirror = registries
    mirror.push_tags("dockerhub/envoyproxy/envoy", _tags("mirror.gcr.io/envoyproxy/envoy"),
                     media_type=OCI_INDEX, platforms=("linux/amd64", "linux/arm64"))
    before = len(_requests(upstream))
    remote, marked = _setup(tmp_path, ENVOY, "mirror.gcr.io/envoyproxy/envoy:v1.39.0", (
        "registries:\n  - host: mirror.gcr.io\n    mirror_of: docker.io\n" + _docker_io(upstream, mirror, mirrors_only=True)))

    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out
    after = show(remote, "staging", ENVOY)
    assert after == marked.replace(b"envoyproxy/envoy:v1.39.0 #", b"envoyproxy/envoy:v2.0.0 #")
    assert b"mirror.gcr.io/envoyproxy/envoy:v2.0.0" in after
    assert any(r.startswith("GET /v2/dockerhub/envoyproxy/envoy/tags/list") for r in _requests(mirror))
    assert _requests(upstream)[before:] == []
