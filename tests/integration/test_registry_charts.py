"""The registry client and charts, against real servers: OCI charts need no platform (images
still do), and an HTTP Helm repository's index.yaml is a tag source fetched once per cycle, with
Basic auth, through `location`, stale from disk when the repository is down."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from imagebot.config.schema import RegistrySettings
from imagebot.errors import AuthError, RegistryError
from imagebot.registry import RegistryClient, RetryPolicy
from tests.support.git_http import LoopbackServer
from tests.support.realworld import HELM_CONFIG, HELM_LAYER, RealWorld
from tests.support.registry import OCI_INDEX

FAST = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02, failures_before_skip=10)
INDEX = b"""\
apiVersion: v1
entries:
  cert-manager:
  - {name: cert-manager, version: v1.16.2}
  - {name: cert-manager, version: v1.17.0}
  trust-manager:
  - {name: trust-manager, version: 0.12.0}
"""


@contextmanager
def helm_repository(user: str = "bot", password: str = "s3cret") -> Iterator[dict]:
    """A private HTTP Helm repository at /charts/index.yaml (Basic auth); `state` counts requests."""
    state = {"requests": [], "down": False}
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state["requests"].append((self.path, self.headers.get("Authorization")))
            if state["down"]:
                self.send_response(503)
                self.end_headers()
                return
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                self.end_headers()
                return
            body = INDEX if self.path == "/mirror/charts/index.yaml" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/x-yaml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with LoopbackServer(Handler) as server:
        state["host"] = server.host
        yield state


def _client(repo: dict, tmp_path: Path, env: dict[str, str], password_env: str = "CHARTS_PASSWORD") -> RegistryClient:
    settings = RegistrySettings(host="charts.example.com", location=f"{repo['host']}/mirror", insecure=True,
                                username="bot", password_env=password_env)
    return RegistryClient([settings], cache_dir=tmp_path / "tags", env=env, retry=FAST)


def test_http_helm_index_once_per_cycle_with_basic_auth_and_stale_on_error(tmp_path: Path) -> None:
    with helm_repository() as repo:
        with _client(repo, tmp_path, {"CHARTS_PASSWORD": "s3cret"}) as client:
            assert client.tags("https://charts.example.com/charts/cert-manager").tags == ("v1.16.2", "v1.17.0")
            assert client.tags("https://charts.example.com/charts/trust-manager").tags == ("0.12.0",)
            # one index for both charts: the 401 challenge, then the request with credentials
            assert [p for p, _ in repo["requests"]] == ["/mirror/charts/index.yaml"] * 2
            assert repo["requests"][0][1] is None and repo["requests"][1][1].startswith("Basic ")
            assert client.missing_platforms("https://charts.example.com/charts/cert-manager", "v1.17.0") == ()
            assert client.artifact_kind("https://charts.example.com/charts/cert-manager", "v1.17.0") == "chart"
            with pytest.raises(RegistryError, match="has no registry digest"):
                client.digest("https://charts.example.com/charts/cert-manager", "v1.17.0")
            with pytest.raises(RegistryError, match="lists no chart 'nope'"):
                client.tags("https://charts.example.com/charts/nope")

            client.new_cycle()  # a new cycle reads the index again; the repository is down: stale list
            repo["down"] = True
            stale = client.tags("https://charts.example.com/charts/cert-manager")
            assert stale.tags == ("v1.16.2", "v1.17.0") and stale.stale_age is not None

        with _client(repo, tmp_path / "other", {"CHARTS_PASSWORD": "wrong"}) as client:
            repo["down"] = False
            with pytest.raises(AuthError, match="rejected"):
                client.tags("https://charts.example.com/charts/cert-manager")


def test_charts_have_no_platform_and_images_still_need_theirs(tmp_path: Path, corpus_world: RealWorld) -> None:
    world = corpus_world
    world.registry.push("ghcr.io/example/app", "2.0.0")  # linux/amd64 only
    world.registry.push("ghcr.io/example/app", "2.1.0", media_type=OCI_INDEX, platforms=("linux/amd64", "linux/arm64"))
    settings = [RegistrySettings(host="ghcr.io", location=f"{world.registry.host}/ghcr.io", insecure=True,
                                 platforms=("linux/amd64", "linux/arm64"))]
    with RegistryClient(settings, retry=FAST) as client:
        chart = "ghcr.io/bjw-s-labs/helm/app-template"
        assert "6.0.0" in client.tags(chart).tags
        assert client.artifact_kind(chart, "6.0.0") == "chart"
        assert client.missing_platforms(chart, "6.0.0") == ()  # a chart is not an image: nothing to lack
        manifest = client.manifest(chart, "6.0.0")
        assert manifest.body["config"]["mediaType"] == HELM_CONFIG and manifest.body["layers"][0]["mediaType"] == HELM_LAYER
        assert client.missing_platforms("ghcr.io/example/app", "2.0.0") == ("linux/arm64",)
        assert client.missing_platforms("ghcr.io/example/app", "2.1.0") == ()
        assert client.artifact_kind("ghcr.io/example/app", "2.1.0") == "image"


@pytest.fixture
def corpus_world(tmp_path: Path):
    from tests.conftest import shared_path
    from tests.support.registry import registry_available

    if not registry_available():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry; `make test` does it)")
    with RealWorld(tmp_path, shared_path("realworld"), only={"ghcr.io/bjw-s-labs/helm/app-template"}) as world:
        yield world
