"""Redirects, as registries send them for blobs kept on a CDN: followed, bounded, and the
Authorization header goes to no other host than the registry that asked for it."""

from __future__ import annotations

import pytest

from imagebot.config.schema import RegistrySettings
from imagebot.errors import RegistryError
from imagebot.registry import RegistryClient, RetryPolicy
from imagebot.registry.transport import MAX_REDIRECTS
from tests.support.registry import OCI_MANIFEST, RegistryServer, registry_available
from tests.support.registry_proxy import RegistryProxy
from tests.support.registry_creds import basic_auth_entry, write_docker_config

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")
FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01)
USER, PASSWORD = "puller", "redirect-test-pw"


@pytest.fixture
def basic_registry(tmp_path):
    with RegistryServer(tmp_path, htpasswd={USER: PASSWORD}) as reg:
        reg.push("team/app", "arm-only", media_type=OCI_MANIFEST, platforms=("linux/arm64",))
        yield reg


def client(tmp_path, host: str) -> RegistryClient:
    write_docker_config(tmp_path / "docker", {"auths": {host: basic_auth_entry(USER, PASSWORD)}})
    return RegistryClient([RegistrySettings(host=host, insecure=True)], env={"DOCKER_CONFIG": str(tmp_path / "docker")},
                          retry=FAST)


def test_a_blob_on_another_host_is_fetched_without_the_registrys_credentials(tmp_path, basic_registry):
    with RegistryProxy(basic_registry.url) as registry, RegistryProxy(basic_registry.url) as cdn:
        cdn._session.auth = (USER, PASSWORD)  # a CDN serves by signed URL: it needs no credentials of ours
        # "localhost" is another host than "127.0.0.1" for the Authorization rule, as a CDN is
        registry.inject("redirect", path="/blobs/", target=f"http://localhost:{cdn.host.rsplit(':', 1)[1]}")
        with client(tmp_path, registry.host) as c:
            assert c.missing_platforms(f"{registry.host}/team/app", "arm-only") == ("linux/amd64",)
    blob_at_registry = [a for m, path, a in registry.authorizations if "/blobs/" in path]
    assert blob_at_registry and all(a and a.startswith("Basic ") for a in blob_at_registry)
    assert [(m, a) for m, path, a in cdn.authorizations] == [("GET", None)]  # the blob, once, no credentials
    assert "/blobs/sha256:" in cdn.authorizations[0][1]


def test_a_redirect_on_the_same_host_keeps_the_credentials(tmp_path, basic_registry):
    with RegistryProxy(basic_registry.url) as registry:
        registry.inject("redirect", path="/blobs/", target=f"http://{registry.host}")
        with client(tmp_path, registry.host) as c:
            assert c.missing_platforms(f"{registry.host}/team/app", "arm-only") == ("linux/amd64",)
    blobs = [a for m, path, a in registry.authorizations if "/blobs/" in path]
    assert len(blobs) == 2 and all(a and a.startswith("Basic ") for a in blobs)


def test_a_redirect_loop_is_a_permanent_error_after_a_bounded_number_of_hops(tmp_path, basic_registry):
    with RegistryProxy(basic_registry.url) as registry:
        registry.inject("redirect", path="/blobs/", target=f"http://{registry.host}", times=100)
        with client(tmp_path, registry.host) as c, pytest.raises(RegistryError, match="more than 10 redirects") as e:
            c.missing_platforms(f"{registry.host}/team/app", "arm-only")
    assert not e.value.temporary
    assert len([p for m, p, a in registry.authorizations if "/blobs/" in p]) == MAX_REDIRECTS + 1  # not retried


def test_a_load_balancers_sticky_cookie_is_sent_back_to_its_host_only(tmp_path, basic_registry):
    """Registry answers that set a cookie (an AWS ALB's AWSALB) get it back on the next requests
    to that host, as requests' Session did; a blob redirected to another host does not."""
    with RegistryProxy(basic_registry.url) as registry, RegistryProxy(basic_registry.url) as cdn:
        cdn._session.auth = (USER, PASSWORD)
        registry.sticky = "AWSALB=node-7"
        registry.inject("redirect", path="/blobs/", target=f"http://localhost:{cdn.host.rsplit(':', 1)[1]}")
        with client(tmp_path, registry.host) as c:
            image = f"{registry.host}/team/app"
            assert c.tags(image).tags == ("arm-only",)
            assert c.missing_platforms(image, "arm-only") == ("linux/amd64",)
    assert len(registry.cookies) >= 3  # the listing (401, then answered), the manifest, the blob
    assert registry.cookies[0] is None  # nothing set yet
    assert all(cookie == "AWSALB=node-7" for cookie in registry.cookies[1:]), registry.cookies
    assert [h for m, p, h in cdn.authorizations] == [None]
    assert cdn.cookies == []  # (the CDN sets none; it is sent none)
