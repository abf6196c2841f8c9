"""$HTTP_PROXY / $NO_PROXY are honoured by registry requests, as requests honours them."""

from __future__ import annotations

import pytest

from imagebot.config.schema import RegistrySettings
from imagebot.errors import RegistryError
from imagebot.registry import RegistryClient, RetryPolicy
from tests.support.registry import registry_available
from tests.support.registry_proxy import RegistryProxy

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")
FAST = RetryPolicy(attempts=1, backoff=0.001, max_backoff=0.01)
NAMED = "registry.imagebot-test.invalid:5000"  # resolves nowhere: only a proxy can reach it


@pytest.fixture
def no_env_proxies(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_requests_go_through_the_environments_proxy(registry, no_env_proxies):
    digests = registry.push_tags("team/app", ["1.0", "1.1"])
    with RegistryProxy(registry.url) as forward:
        no_env_proxies.setenv("HTTP_PROXY", f"http://{forward.host}")
        with RegistryClient([RegistrySettings(host=NAMED, insecure=True)], env={}, retry=FAST) as client:
            assert sorted(client.tags(f"{NAMED}/team/app").tags) == ["1.0", "1.1"]
            assert client.digest(f"{NAMED}/team/app", "1.1") == digests["1.1"]
    assert ("GET", "/v2/team/app/tags/list") in forward.paths and ("HEAD", "/v2/team/app/manifests/1.1") in forward.paths


def test_no_proxy_sends_directly(registry, no_env_proxies):
    registry.push_tags("team/app", ["1.0"])
    with RegistryProxy(registry.url) as forward:
        no_env_proxies.setenv("HTTP_PROXY", f"http://{forward.host}")
        no_env_proxies.setenv("NO_PROXY", "registry.imagebot-test.invalid")
        with RegistryClient([RegistrySettings(host=NAMED, insecure=True)], env={}, retry=FAST) as client:
            with pytest.raises(RegistryError, match="connection failed"):
                client.tags(f"{NAMED}/team/app")
    assert forward.paths == []
