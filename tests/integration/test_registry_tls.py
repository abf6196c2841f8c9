"""TLS: verification on by default, a private CA per registry, verification off on request."""

from __future__ import annotations

import pytest

from imagebot.config.schema import RegistrySettings
from imagebot.errors import RegistryError
from imagebot.registry import RegistryClient, RetryPolicy
from tests.support.registry import RegistryServer, free_port, registry_available
from tests.support.registry_tls import RegistryPKI

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")
FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01)


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    pki = RegistryPKI(tmp / "pki")
    port = free_port()
    with RegistryServer(tmp, port=port, extra_config=pki.registry_config(f"127.0.0.1:{port}")) as reg:
        reg.url = f"https://{reg.host}"
        reg.session.verify = str(pki.ca_file)
        reg.session.trust_env = False  # else $REQUESTS_CA_BUNDLE overrides session.verify
        reg.digest = reg.push("team/app", "1.0")
        reg.pki = pki
        yield reg


def test_private_ca_per_registry(tls_registry):
    s = [RegistrySettings(host=tls_registry.host, ca_file=str(tls_registry.pki.ca_file))]
    with RegistryClient(s, env={}, retry=FAST) as client:
        assert client.tags(f"{tls_registry.host}/team/app").tags == ("1.0",)
        assert client.digest(f"{tls_registry.host}/team/app", "1.0") == tls_registry.digest


def test_unknown_ca_is_a_permanent_error_with_a_hint(tls_registry):
    s = [RegistrySettings(host=tls_registry.host)]
    with RegistryClient(s, env={}, retry=FAST) as client:
        with pytest.raises(RegistryError, match="TLS failed .*set ca_file") as e:
            client.tags(f"{tls_registry.host}/team/app")
        assert not e.value.temporary
        assert client.stats.count(kind="tags") == 1  # not retried


def test_verification_can_be_turned_off(tls_registry):
    s = [RegistrySettings(host=tls_registry.host, tls_verify=False)]
    with RegistryClient(s, env={}, retry=FAST) as client:
        assert client.tags(f"{tls_registry.host}/team/app").tags == ("1.0",)


def test_https_to_a_plain_http_registry_fails_clearly(registry):
    registry.push("team/app", "1.0")
    with RegistryClient([RegistrySettings(host=registry.host)], env={}, retry=FAST) as client:
        with pytest.raises(RegistryError, match="insecure: true") as e:
            client.tags(f"{registry.host}/team/app")
        assert not e.value.temporary
