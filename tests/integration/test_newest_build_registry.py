"""newest-build on the real docker-registry: images pushed with known `created` times.

The push order is deliberately not the build order, and the tag names sort neither way, so
only the build time can explain the choice.
"""

from __future__ import annotations

from imagebot.config.schema import RegistrySettings
from imagebot.model import FieldKind, Location, Occurrence, PolicySpec
from imagebot.registry import RegistryClient, RetryPolicy
from imagebot.resolve import resolve
from tests.support.built_images import push_built, retag
from tests.support.registry import DOCKER_V2

FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01)
BUILDS = {  # pushed in this order
    "b71c3aa": "2025-03-02T09:00:00Z",
    "zz01": "2025-03-04T18:30:00.123456789Z",  # the newest build (Go's nanoseconds)
    "0a9f00d": "2025-03-03T12:00:00+01:00",
    "c0ffee1": "2025-03-01T00:00:00Z",
}


def client_for(host: str) -> RegistryClient:
    return RegistryClient([RegistrySettings(host=host, insecure=True)], env={}, retry=FAST)


def occurrence(image: str, tag: str, spec: PolicySpec) -> Occurrence:
    return Occurrence(Location("app.yaml", 1, 8), 0, FieldKind.IMAGE, f"{image}:{tag}", image, tag, None, spec, "Deployment/app")


def test_chooses_by_creation_time_on_a_real_registry(registry) -> None:
    for tag, created in BUILDS.items():
        push_built(registry, "team/app", tag, created, media_type=DOCKER_V2 if tag == "0a9f00d" else "application/vnd.oci.image.manifest.v1+json")
    push_built(registry, "team/app", "undated", None)
    image = f"{registry.host}/team/app"
    spec = PolicySpec("newest-build", source="test")
    with client_for(registry.host) as client:
        client.new_cycle()
        assert client.created(image, "zz01").isoformat() == "2025-03-04T18:30:00.123456+00:00"
        assert client.created(image, "undated") is None

        res = resolve([occurrence(image, "b71c3aa", spec)], client)[0]
        assert res.target is not None and res.target.tag == "zz01", res.reason
        assert "newest build (2025-03-04T18:30:00Z)" in res.reason
        assert "1 without a creation time" in res.reason

        # from the newest build nothing moves; from an older one, never to an older one
        assert resolve([occurrence(image, "zz01", spec)], client)[0].target.tag == "zz01"

        # a later cycle reads no config blob again: they are cached by manifest digest
        fetched = client.created_times.fetched
        assert fetched == 5
        client.new_cycle()
        assert resolve([occurrence(image, "b71c3aa", spec)], client)[0].target.tag == "zz01"
        assert client.created_times.fetched == fetched

        # a tag moved to another image (a new digest) is read again: a newer build under an old name
        push_built(registry, "team/app", "c0ffee1", "2025-03-05T00:00:00Z")
        client.new_cycle()
        res = resolve([occurrence(image, "b71c3aa", spec)], client)[0]
        assert res.target.tag == "c0ffee1", res.reason
        assert client.created_times.fetched == fetched + 1


def test_tags_of_one_image_and_a_tag_filter(registry) -> None:
    push_built(registry, "team/web", "1a2b3c4", "2025-04-01T00:00:00Z")
    push_built(registry, "team/web", "9f8e7d6", "2025-04-02T00:00:00Z")
    retag(registry, "team/web", "9f8e7d6", "latest")  # same image, same build time, greater name
    image = f"{registry.host}/team/web"
    with client_for(registry.host) as client:
        client.new_cycle()
        plain = resolve([occurrence(image, "1a2b3c4", PolicySpec("newest-build"))], client)[0]
        assert plain.target.tag == "latest"  # what Argo CD Image Updater's docs warn about
        filtered = resolve([occurrence(image, "1a2b3c4", PolicySpec("newest-build", tag_filter=r"^[0-9a-f]{7}$"))], client)[0]
        assert filtered.target.tag == "9f8e7d6", filtered.reason


def test_policy_test_command_reads_build_times_from_the_registry(registry, tmp_path) -> None:
    from tests.support.cli import imagebot

    for tag, created in BUILDS.items():
        push_built(registry, "team/cli", tag, created)
    res = imagebot("policy", "test", "--policy", "newest-build", "--image", f"{registry.host}/team/cli:b71c3aa", cwd=tmp_path)
    assert (res.code, res.out) == (0, "zz01\n"), res.err
    res = imagebot("policy", "test", "--policy", "newest-build", "--current", "b71c3aa", "zz01", "b71c3aa", cwd=tmp_path)
    assert res.out == "b71c3aa\n"  # tags alone carry no build time: nothing moves
