"""RegistryClient against the real docker-registry, anonymously: tags, digests, platforms, labels, budget."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from imagebot.config.schema import RateLimit, RegistrySettings
from imagebot.errors import RegistryError
from imagebot.registry import RegistryClient, RetryPolicy, TagList
from tests.support.registry import DOCKER_LIST, DOCKER_V2, OCI_INDEX, OCI_MANIFEST
from tests.support.registry_proxy import RegistryProxy

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01)


def client_for(*hosts: str, **kw: object) -> RegistryClient:
    return RegistryClient([RegistrySettings(host=h, insecure=True, **kw) for h in hosts], env={}, retry=FAST)


def test_lists_every_tag_anonymously(registry):
    registry.push_tags("team/app", ["1.0.0", "1.2.0", "1.10.0", "latest"])
    with client_for(registry.host) as client:
        listing = client.tags(f"{registry.host}/team/app")
    assert isinstance(listing, TagList)
    assert listing.image == f"{registry.host}/team/app"
    assert sorted(listing.tags) == ["1.0.0", "1.10.0", "1.2.0", "latest"]
    assert listing.stale_age is None


def test_a_loopback_registry_without_settings_speaks_plain_http(registry):
    registry.push("app", "1")
    with RegistryClient(env={}) as client:
        assert client.tags(f"{registry.host}/app").tags == ("1",)


@pytest.mark.parametrize("media_type", [DOCKER_V2, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX])
def test_digest_is_the_one_the_registry_stores(registry, media_type):
    stored = registry.push("team/app", "2.0.0", media_type=media_type, platforms=("linux/amd64", "linux/arm64"))
    other = registry.push("team/app", "2.0.1", media_type=media_type)
    with client_for(registry.host) as client:
        assert client.digest(f"{registry.host}/team/app", "2.0.0") == stored
        assert client.digest(f"{registry.host}/team/app", "2.0.1") == other
        # a HEAD each, and once per (tag, digest) a GET whose bytes must hash to the stated digest
        assert client.stats.count(kind="manifest") == 4
        client.new_cycle()
        assert client.digest(f"{registry.host}/team/app", "2.0.0") == stored
        assert client.stats.count(kind="manifest") == 5  # verified before: a HEAD only
        manifest = client.manifest(f"{registry.host}/team/app", "2.0.0")
    assert manifest.media_type == media_type and manifest.digest == stored
    assert stored != other


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
def test_index_platforms_are_checked(registry, media_type):
    registry.push("team/app", "3.0", media_type=media_type, platforms=("linux/amd64", "linux/arm64"))
    image = f"{registry.host}/team/app"
    with client_for(registry.host) as client:
        assert client.missing_platforms(image, "3.0") == ()  # default: linux/amd64
        assert client.missing_platforms(image, "3.0", ["linux/arm64", "linux/amd64"]) == ()
        assert client.missing_platforms(image, "3.0", ["linux/amd64", "linux/s390x", "windows/amd64"]) == (
            "linux/s390x", "windows/amd64")


def test_single_image_platform_comes_from_its_config(registry):
    registry.push("team/app", "arm-only", media_type=OCI_MANIFEST, platforms=("linux/arm64",))
    with client_for(registry.host) as client:
        assert client.missing_platforms(f"{registry.host}/team/app", "arm-only") == ("linux/amd64",)
        assert client.missing_platforms(f"{registry.host}/team/app", "arm-only", ["linux/arm64"]) == ()


@pytest.mark.parametrize("media_type", [DOCKER_V2, OCI_MANIFEST, OCI_INDEX, DOCKER_LIST])
def test_labels_come_from_the_config_blob(registry, media_type):
    source = "https://github.com/example/app"
    registry.push("team/app", "4.0", media_type=media_type, labels={"org.opencontainers.image.source": source})
    with client_for(registry.host) as client:
        labels = client.labels(f"{registry.host}/team/app", "4.0")
        config = client.image_config(f"{registry.host}/team/app", "4.0")
    assert labels["org.opencontainers.image.source"] == source
    assert config.created == "2026-01-01T00:00:00Z"
    assert str(config.platform) == "linux/amd64"


def test_unknown_repository_and_tag_are_permanent_errors_naming_the_image(registry):
    registry.push("team/app", "1.0")
    with client_for(registry.host) as client:
        with pytest.raises(RegistryError) as e:
            client.tags(f"{registry.host}/team/nope")
        assert not e.value.temporary
        assert f"{registry.host}/team/nope" in str(e.value) and "not found" in str(e.value)
        with pytest.raises(RegistryError) as e:
            client.digest(f"{registry.host}/team/app", "9.9")
        assert not e.value.temporary and "team/app:9.9" in str(e.value)


def test_each_repository_is_listed_once_per_cycle_however_many_ask(registry):
    repos = [f"team/app{i}" for i in range(3)]
    for r in repos:
        registry.push(r, "1.0")
    images = [f"{registry.host}/{r}" for r in repos] * 10  # 30 workloads on 3 repositories
    with client_for(registry.host) as client:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(client.tags, images))
        assert {r.tags for r in results} == {("1.0",)}
        assert client.stats.count(kind="tags") == 3
        client.new_cycle()
        for image in images:
            client.tags(image)
        assert client.stats.count(kind="tags") == 6


def test_a_failure_is_remembered_for_the_cycle(registry):
    with client_for(registry.host) as client:
        for _ in range(3):
            with pytest.raises(RegistryError):
                client.tags(f"{registry.host}/missing/app")
        assert client.stats.count(kind="tags") == 1


def test_concurrency_per_registry_is_limited(registry):
    repos = [f"team/slow{i}" for i in range(6)]
    for r in repos:
        registry.push(r, "1.0")
    with RegistryProxy(registry.url) as proxy:
        proxy.inject("slow", path="/tags/list", times=6, delay=0.15)
        client = client_for(proxy.host, rate_limit=RateLimit(concurrency=2, requests_per_second=100, burst=100))
        started = time.monotonic()
        with client, ThreadPoolExecutor(6) as pool:
            list(pool.map(client.tags, [f"{proxy.host}/{r}" for r in repos]))
            budget = client.registry(proxy.host).budget
        elapsed = time.monotonic() - started
    assert budget.max_in_flight == 2
    assert elapsed >= 3 * 0.15 * 0.9  # six slow requests, two at a time


def test_rate_limit_spaces_requests(registry):
    registry.push("team/app", "1.0")
    client = client_for(registry.host, rate_limit=RateLimit(requests_per_second=20, burst=1, concurrency=4))
    started = time.monotonic()
    with client:
        for i in range(6):
            client.new_cycle()
            client.tags(f"{registry.host}/team/app")
    assert time.monotonic() - started >= 5 / 20 * 0.9


def test_is_thread_safe_across_registries(registry, tmp_path):
    from tests.support.registry import RegistryServer

    registry.push("a/app", "1")
    with RegistryServer(tmp_path) as second:
        second.push("b/app", "2")
        errors: list[BaseException] = []
        with client_for(registry.host, second.host) as client:
            def work(i: int) -> None:
                try:
                    img = f"{registry.host}/a/app" if i % 2 else f"{second.host}/b/app"
                    client.tags(img)
                    client.digest(img, "1" if i % 2 else "2")
                except BaseException as e:  # pragma: no cover - reported below
                    errors.append(e)
            threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        assert not errors
        assert client.stats.count(registry=registry.host, kind="tags") == 1
        assert client.stats.count(registry=second.host, kind="tags") == 1
