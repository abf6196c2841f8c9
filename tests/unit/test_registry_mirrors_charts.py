"""The pure parts of charts and mirrors in the registry client: artifact kinds from config media
types, HTTP Helm index parsing and naming, mirror chains, and the config that sets them."""

from __future__ import annotations

import pytest
import requests
from pydantic import ValidationError

from imagebot.config.schema import RegistrySettings
from imagebot.errors import RegistryError
from imagebot.registry import helm_index
from imagebot.registry.manifests import artifact_kind
from imagebot.registry.mirrors import Endpoint, endpoints, upstream


def _manifest(config_type: str | None) -> dict:
    config = {"digest": "sha256:" + "0" * 64, "size": 2}
    if config_type:
        config["mediaType"] = config_type
    return {"schemaVersion": 2, "config": config, "layers": []}


@pytest.mark.parametrize(("config_type", "kind"), [
    ("application/vnd.cncf.helm.config.v1+json", "chart"),
    ("application/vnd.cncf.flux.config.v1+json", "artifact"),
    ("application/vnd.oci.empty.v1+json", "artifact"),
    ("application/vnd.oci.image.config.v1+json", "image"),
    ("application/vnd.docker.container.image.v1+json", "image"),
    (None, "image"),
])
def test_artifact_kind_is_read_from_the_config_media_type(config_type: str | None, kind: str) -> None:
    assert artifact_kind(_manifest(config_type)) == kind


def _response(body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r._content = body
    r.status_code = 200
    r.headers.update(headers or {})
    return r


def test_helm_index_versions_per_chart_in_index_order() -> None:
    index = helm_index.parse_index(_response(b"""\
apiVersion: v1
entries:
  cert-manager:
  - {name: cert-manager, version: v1.16.2, urls: [cert-manager-v1.16.2.tgz]}
  - {name: cert-manager, version: v1.17.0}
  - {name: cert-manager, version: v1.17.0}
  - {name: cert-manager}
  odd: not-a-list
"""), "where")
    assert index == {"cert-manager": ("v1.16.2", "v1.17.0"), "odd": ()}
    assert helm_index.chart_versions(index, "https://x/cert-manager", "cert-manager") == ("v1.16.2", "v1.17.0")
    with pytest.raises(RegistryError, match="lists no chart 'nope'") as e:
        helm_index.chart_versions(index, "https://x/nope", "nope")
    assert not e.value.temporary


@pytest.mark.parametrize(("body", "headers", "message", "temporary"), [
    (b"<html>login</html>", {}, "no 'entries' map", False),
    (b"entries: [unclosed", {}, "not valid YAML", True),
    (b"entries: {}", {"Content-Length": str(helm_index.MAX_INDEX_BYTES + 1)}, "larger than", False),
])
def test_a_bad_index_is_a_clear_error(body: bytes, headers: dict, message: str, temporary: bool) -> None:
    with pytest.raises(RegistryError, match=message) as e:
        helm_index.parse_index(_response(body, headers), "registry charts.example.com: index.yaml")
    assert e.value.temporary is temporary


def test_helm_chart_names() -> None:
    assert helm_index.chart_name("https://charts.jetstack.io/", "cert-manager") == "https://charts.jetstack.io/cert-manager"
    assert helm_index.split_chart("https://charts.rook.io/release/rook-ceph") == ("https", "charts.rook.io", "/release", "rook-ceph")
    assert helm_index.index_path("/release") == "/release/index.yaml"
    assert helm_index.index_path("", "charts.jetstack.io") == "/charts.jetstack.io/index.yaml"
    assert helm_index.index_path("/") == "/index.yaml"
    with pytest.raises(RegistryError):
        helm_index.split_chart("https://charts.example.com/")


def _settings(*entries: RegistrySettings) -> dict[str, RegistrySettings]:
    return {e.host: e for e in entries}


def test_mirror_chain_in_order_then_the_registry_unless_mirrors_only() -> None:
    hub = RegistrySettings(host="docker.io", mirrors=("mirror.gcr.io", "harbor.example.com/dockerhub-proxy/"))
    assert endpoints("docker.io", _settings(hub)) == (
        Endpoint("mirror.gcr.io", "", True), Endpoint("harbor.example.com", "dockerhub-proxy", True), Endpoint("docker.io"))
    only = hub.model_copy(update={"mirrors_only": True})
    assert endpoints("docker.io", _settings(only))[-1] == Endpoint("harbor.example.com", "dockerhub-proxy", True)
    assert endpoints("ghcr.io", _settings(hub)) == (Endpoint("ghcr.io"),)
    assert Endpoint("harbor.example.com", "dockerhub-proxy", True).repository("library/redis") == "dockerhub-proxy/library/redis"


def test_mirror_hosts_written_in_files_stand_for_what_they_mirror_when_configured() -> None:
    settings = _settings(
        RegistrySettings(host="mirror.gcr.io", mirror_of="docker.io"),
        RegistrySettings(host="public.ecr.aws", mirror_of="docker.io", mirror_path="docker"),
    )
    assert upstream("mirror.gcr.io/library/nginx", settings) == "docker.io/library/nginx"
    assert upstream("mirror.gcr.io/cloudflare/cloudflared", settings) == "docker.io/cloudflare/cloudflared"
    assert upstream("public.ecr.aws/docker/library/redis", settings) == "docker.io/library/redis"
    assert upstream("public.ecr.aws/emqx/emqx", settings) == "public.ecr.aws/emqx/emqx"  # outside the mirrored path
    assert upstream("quay.io/jetstack/cert-manager", settings) == "quay.io/jetstack/cert-manager"
    assert upstream("mirror.gcr.io/library/nginx", {}) == "mirror.gcr.io/library/nginx"  # not unless the user says so


@pytest.mark.parametrize(("entry", "message"), [
    ({"location": "http://127.0.0.1:5000/ghcr.io"}, "without the scheme"),
    ({"mirrors": ["https://mirror.gcr.io"]}, "without the scheme"),
    ({"mirrors": ["harbor.example.com//x"]}, "not host"),
    ({"mirrors_only": True}, "needs at least one entry in mirrors"),
    ({"mirror_path": "docker"}, "mirror_path needs mirror_of"),
    ({"mirror_of": "docker.io/library"}, "registry host"),
])
def test_bad_mirror_settings_are_named(entry: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RegistrySettings(host="docker.io", **entry)


def test_a_location_is_where_requests_go_and_docker_hubs_stricter_rate_stays_with_docker_hub() -> None:
    from imagebot.registry import RegistryClient
    from imagebot.registry.budget import DEFAULT_RATE, DOCKER_HUB_RATE

    with RegistryClient([RegistrySettings(host="docker.io", location="127.0.0.1:5000/docker.io", insecure=True)]) as c:
        hub = c.registry("docker.io")
        assert (hub.base_url, hub.repository("library/redis")) == ("http://127.0.0.1:5000", "docker.io/library/redis")
        assert hub.budget.limit == DEFAULT_RATE
    with RegistryClient() as c:
        hub = c.registry("docker.io")
        assert (hub.base_url, hub.repository("library/redis"), hub.budget.limit) == (
            "https://registry-1.docker.io", "library/redis", DOCKER_HUB_RATE)
