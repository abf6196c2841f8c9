"""imagebot.reference: the contract other stages rely on (normalising, with_tag, parse_name)."""

from __future__ import annotations

import time

import pytest

from imagebot.errors import ReferenceError_
from imagebot.reference import Reference, parse, parse_name, split, with_tag

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "name"),
    [
        ("nginx", "docker.io", "library/nginx", None, None, "docker.io/library/nginx"),
        ("nginx:1.25-alpine", "docker.io", "library/nginx", "1.25-alpine", None, "docker.io/library/nginx"),
        ("index.docker.io/nginx:1", "docker.io", "library/nginx", "1", None, "docker.io/library/nginx"),
        ("docker.io/bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None, "docker.io/bitnami/redis"),
        ("bitnami/redis", "docker.io", "bitnami/redis", None, None, "docker.io/bitnami/redis"),
        ("127.0.0.1:5000/team/app:1.0.0", "127.0.0.1:5000", "team/app", "1.0.0", None, "127.0.0.1:5000/team/app"),
        ("localhost/app", "localhost", "app", None, None, "localhost/app"),
        ("localhost:5000/app", "localhost:5000", "app", None, None, "localhost:5000/app"),
        (f"ghcr.io/a/b:1@{DIGEST}", "ghcr.io", "a/b", "1", DIGEST, "ghcr.io/a/b"),
        (f"ghcr.io/a/b@{DIGEST}", "ghcr.io", "a/b", None, DIGEST, "ghcr.io/a/b"),
        ("[::1]:5000/app:v2", "[::1]:5000", "app", "v2", None, "[::1]:5000/app"),
        ("Registry/app", "Registry", "app", None, None, "Registry/app"),
    ],
)
def test_parse_normalises(text: str, registry: str, repository: str, tag: str | None, digest: str | None, name: str) -> None:
    ref = parse(text)
    assert ref == Reference(registry, repository, tag, digest)
    assert ref.name == name
    assert str(ref) == name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    assert parse(str(ref)) == ref  # the normalised form is a fixed point


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the reference is empty"),
        ("Nginx", "must be lowercase"),
        ("nginx:-1", "bad tag '-1'"),
        ("nginx:" + "a" * 129, "bad tag"),
        ("nginx@sha256:abc", "bad digest"),
        ("nginx@sha512:" + "a" * 128, "unsupported digest algorithm"),
        ("nginx@sha256:" + "a" * 63, "invalid checksum digest length"),
        ("a//b", "empty path component"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("x/" + "a" * 300, "must not be more than 255 characters"),
        ("a_b.com/x", "not a valid host name"),
        ("nginx;rm -rf /", "invalid reference format"),
        ("nginx:1.0\n", "invalid reference format"),
        ("ngïnx:1", "invalid reference format"),
    ],
)
def test_parse_errors_name_the_text_and_the_bad_part(text: str, says: str) -> None:
    with pytest.raises(ReferenceError_) as err:
        parse(text)
    assert says in str(err.value)
    assert repr(text[:40])[:-1] in str(err.value)
    assert err.value.exit_code == 2 and not err.value.temporary


def test_hostile_long_input_is_refused_quickly() -> None:
    started = time.perf_counter()
    for text in ("a" * 100_000, "a-" * 50_000 + "!", "a." * 50_000 + ":", "a/" * 50_000):
        with pytest.raises(ReferenceError_, match="longer than 1024"):
            parse(text)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("raw", "tag", "digest", "want"),
    [
        ("nginx:1.2", "1.3", None, "nginx:1.3"),
        ("nginx", "1.3", None, "nginx:1.3"),
        ("docker.io/nginx:1.2", "1.3", None, "docker.io/nginx:1.3"),
        ("index.docker.io/library/nginx:1.2", "1.3", None, "index.docker.io/library/nginx:1.3"),
        ("localhost:5000/x", "2", None, "localhost:5000/x:2"),
        ("localhost:5000/x:1", "2", None, "localhost:5000/x:2"),
        (f"ghcr.io/a/b:1@{DIGEST}", "2", None, "ghcr.io/a/b:2"),
        ("ghcr.io/a/b:1", "1", DIGEST, f"ghcr.io/a/b:1@{DIGEST}"),
        (f"ghcr.io/a/b@{DIGEST}", None, "sha256:" + "cd" * 32, "ghcr.io/a/b@sha256:" + "cd" * 32),
        ("Registry:5000/app:1", "2", None, "Registry:5000/app:2"),
    ],
)
def test_with_tag_keeps_the_name_as_written(raw: str, tag: str | None, digest: str | None, want: str) -> None:
    assert with_tag(raw, tag, digest) == want


@pytest.mark.parametrize(
    ("raw", "tag", "digest", "says"),
    [
        ("nginx:1", "-bad", None, "invalid tag '-bad'"),
        ("nginx:1", "1", "md5:x", "invalid digest 'md5:x'"),
        ("Nginx:1", "2", None, "lowercase"),
        ("nginx:1", "a b", None, "invalid tag"),
    ],
)
def test_with_tag_refuses_bad_parts(raw: str, tag: str | None, digest: str | None, says: str) -> None:
    with pytest.raises(ReferenceError_, match=says):
        with_tag(raw, tag, digest)


def test_split_is_byte_exact() -> None:
    assert split("localhost:5000/x:1") == ("localhost:5000/x", "1", None)
    assert split("localhost:5000/x") == ("localhost:5000/x", None, None)
    assert split(f"nginx@{DIGEST}") == ("nginx", None, DIGEST)


def test_parse_name() -> None:
    assert parse_name("nginx").name == "docker.io/library/nginx"
    assert parse_name("ghcr.io/org/app").name == "ghcr.io/org/app"
    with pytest.raises(ReferenceError_, match="cannot carry a tag"):
        parse_name("nginx:1.2")
    with pytest.raises(ReferenceError_, match="cannot carry a tag"):
        parse_name(f"nginx@{DIGEST}")


def test_familiar_forms() -> None:
    assert parse("docker.io/library/nginx:1").familiar() == "nginx:1"
    assert parse("docker.io/library/a/b").familiar_name == "library/a/b"
    assert parse("ghcr.io/library/x").familiar_name == "ghcr.io/library/x"
    assert parse("bitnami/redis").familiar_name == "bitnami/redis"


def test_shown_version_is_the_part_after_the_image_with_a_short_digest() -> None:
    from imagebot.reference import shown_version

    digest = "sha256:" + "ab12" * 16
    assert shown_version(f"ghcr.io/o/app:1.2.3@{digest}", "ghcr.io/o/app") == "1.2.3@sha256:ab12ab12"
    assert shown_version(f"ghcr.io/o/app@{digest}", "ghcr.io/o/app") == "sha256:ab12ab12"
    assert shown_version("ghcr.io/o/app:1.2.3-alpine", "ghcr.io/o/app") == "1.2.3-alpine"
    assert shown_version("localhost:5000/app:3", "docker.io/library/app") == "app:3"  # written otherwise: its last part
