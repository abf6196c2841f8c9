"""Platform and label answers remembered by manifest digest, on disk, across runs (issue #21).

Every test uses the real docker-registry and two RegistryClients on one cache directory: the
second one is "the next run" (`imagebot plan` again, `run --once` in CI with a persisted cache).
"""

from __future__ import annotations

import json
from pathlib import Path

from imagebot.config.schema import RegistrySettings
from imagebot.registry import RegistryClient, RetryPolicy
from imagebot.registry.platform_cache import MARKER
from tests.support.registry import DOCKER_V2, OCI_INDEX

FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01)


def client(registry, cache: Path | None, **kw: object) -> RegistryClient:
    return RegistryClient([RegistrySettings(host=registry.host, insecure=True, **kw)], cache_dir=cache, env={},
                          retry=FAST)


def requests(c: RegistryClient) -> dict[str, int]:
    return {k: c.stats.count(kind=k) for k in ("manifest", "blob", "tags")}


def entry_files(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "manifests").glob("*.json") if p.name != MARKER)


def seed(registry) -> str:
    registry.push("team/app", "1.0", media_type=DOCKER_V2, platforms=("linux/amd64",),
                  labels={"org.opencontainers.image.source": "https://example.org/app"})
    registry.push("team/app", "2.0", media_type=OCI_INDEX, platforms=("linux/amd64", "linux/arm64"))
    registry.push("team/app", "arm", media_type=DOCKER_V2, platforms=("linux/arm64",))
    return f"{registry.host}/team/app"


def check_all(c: RegistryClient, image: str) -> None:
    assert c.missing_platforms(image, "1.0") == ()
    assert c.missing_platforms(image, "2.0", ["linux/arm64", "linux/amd64"]) == ()
    assert c.missing_platforms(image, "arm") == ("linux/amd64",)


def test_a_second_run_asks_the_registry_nothing_for_platforms(registry, tmp_path):
    image = seed(registry)
    with client(registry, tmp_path) as first:
        check_all(first, image)
        cold = requests(first)
    # cold: one manifest GET per tag, one config blob per single image; the index answers itself
    assert cold == {"manifest": 3, "blob": 2, "tags": 0}
    with client(registry, tmp_path) as second:
        check_all(second, image)
        assert second.labels(image, "1.0")["org.opencontainers.image.source"] == "https://example.org/app"
        assert requests(second) == {"manifest": 0, "blob": 0, "tags": 0}


def test_known_answers_need_no_request_and_unknown_ones_say_so(registry, tmp_path):
    """`missing_platforms_known` (what resolve asks first, in place): the answer when the next run
    remembers it within the TTL, the same as `missing_platforms`; None when only the registry can tell."""
    image = seed(registry)
    with client(registry, tmp_path) as fresh:
        assert fresh.missing_platforms_known(image, "1.0") is None  # nothing remembered yet
        assert requests(fresh) == {"manifest": 0, "blob": 0, "tags": 0}
        check_all(fresh, image)
    with client(registry, tmp_path) as second:
        assert second.missing_platforms_known(image, "1.0") == ()
        assert second.missing_platforms_known(image, "arm") == ("linux/amd64",)
        assert second.missing_platforms_known(image, "3.0") is None  # a tag never seen
        assert requests(second) == {"manifest": 0, "blob": 0, "tags": 0}
    with client(registry, tmp_path, tag_digest_ttl=0) as past_ttl:
        assert past_ttl.missing_platforms_known(image, "arm") is None  # the tag may have moved: ask
        assert past_ttl.missing_platforms(image, "arm") == ("linux/amd64",)  # a HEAD confirms it
        assert past_ttl.missing_platforms_known(image, "arm") == ("linux/amd64",)  # this cycle's answer
    with client(registry, tmp_path, platforms=()) as none_required:
        assert none_required.missing_platforms_known(image, "3.0") == ()


def test_a_listing_reads_the_images_remembered_facts_on_its_own_thread(registry, tmp_path):
    image = seed(registry)
    with client(registry, tmp_path) as first:
        check_all(first, image)
    with client(registry, tmp_path) as second:
        second.tags(image)
        assert image in second.facts._repos  # read with the listing, not later by the decisions
        assert second.missing_platforms_known(image, "2.0") == ()


def test_past_the_ttl_a_head_per_tag_confirms_the_digest(registry, tmp_path):
    image = seed(registry)
    with client(registry, tmp_path, tag_digest_ttl=0) as first:
        check_all(first, image)
    with client(registry, tmp_path, tag_digest_ttl=0) as second:
        check_all(second, image)
        # a HEAD each (kind "manifest"), no manifest body and no blob
        assert requests(second) == {"manifest": 3, "blob": 0, "tags": 0}


def test_a_moved_tag_is_checked_again(registry, tmp_path):
    image = seed(registry)
    with client(registry, tmp_path, tag_digest_ttl=0) as first:
        assert first.missing_platforms(image, "1.0") == ()
    registry.push("team/app", "1.0", media_type=DOCKER_V2, platforms=("linux/arm64",))  # re-pushed: now arm only
    with client(registry, tmp_path, tag_digest_ttl=0) as second:
        assert second.missing_platforms(image, "1.0") == ("linux/amd64",)
        assert requests(second) == {"manifest": 2, "blob": 1, "tags": 0}  # HEAD, GET by digest, its config


def test_within_the_ttl_the_remembered_digest_is_trusted_but_pins_are_not(registry, tmp_path):
    image = seed(registry)
    with client(registry, tmp_path) as first:
        old = first.digest(image, "1.0")
        assert first.missing_platforms(image, "1.0") == ()
    new = registry.push("team/app", "1.0", media_type=DOCKER_V2, platforms=("linux/arm64",))
    with client(registry, tmp_path) as second:
        assert second.digest(image, "1.0") == new != old  # a digest to write is always asked for
        assert second.missing_platforms(image, "1.0") == ("linux/amd64",)  # ... and then used


def test_no_required_platform_means_no_request(registry, tmp_path):
    image = seed(registry)
    with client(registry, tmp_path, platforms=()) as c:
        assert c.missing_platforms(image, "arm") == ()
        assert requests(c) == {"manifest": 0, "blob": 0, "tags": 0}


def test_without_a_cache_directory_answers_last_for_the_process(registry):
    image = seed(registry)
    with client(registry, None) as c:
        check_all(c, image)
        c.new_cycle()
        check_all(c, image)
        assert requests(c) == {"manifest": 3, "blob": 2, "tags": 0}


# -- a corrupt or foreign cache is rebuilt, never trusted ---------------------------------------------


def warm(registry, cache: Path) -> str:
    image = seed(registry)
    with client(registry, cache) as c:
        check_all(c, image)
    return image


def rerun(registry, cache: Path, image: str) -> dict[str, int]:
    with client(registry, cache) as c:
        check_all(c, image)
        assert c.labels(image, "1.0")["org.opencontainers.image.source"] == "https://example.org/app"
        return requests(c)


def test_a_truncated_file_is_rebuilt(registry, tmp_path):
    image = warm(registry, tmp_path)
    [entry] = entry_files(tmp_path)
    entry.write_bytes(entry.read_bytes()[:37])
    assert rerun(registry, tmp_path, image) == {"manifest": 3, "blob": 2, "tags": 0}
    json.loads(entry.read_text())  # rewritten whole
    assert rerun(registry, tmp_path, image) == {"manifest": 0, "blob": 0, "tags": 0}


def test_wrong_shapes_are_not_trusted(registry, tmp_path):
    image = warm(registry, tmp_path)
    [entry] = entry_files(tmp_path)
    data = json.loads(entry.read_text())
    for facts in data["digests"].values():
        facts["platforms"] = "linux/amd64"  # a string, not a list
    entry.write_text(json.dumps(data))
    assert rerun(registry, tmp_path, image) == {"manifest": 3, "blob": 2, "tags": 0}


def test_a_cache_of_another_format_version_is_dropped(registry, tmp_path):
    image = warm(registry, tmp_path)
    marker = tmp_path / "manifests" / MARKER
    marker.write_text(json.dumps({"tool": "imagebot", "cache": "manifest-facts", "format": 0}))
    assert rerun(registry, tmp_path, image) == {"manifest": 3, "blob": 2, "tags": 0}
    assert json.loads(marker.read_text())["format"] == 1


def test_another_tools_files_are_not_read_or_deleted(registry, tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / MARKER).write_text('{"tool": "othertool"}')
    notes = manifests / "notes.txt"
    notes.write_text("not ours")
    image = seed(registry)
    # an entry file at our name, written by something else
    with client(registry, tmp_path) as c:
        path = c.facts._path(image)
    path.write_text(json.dumps({"tool": "othertool", "tags": {"1.0": "x"}}))
    assert rerun(registry, tmp_path, image) == {"manifest": 3, "blob": 2, "tags": 0}
    assert notes.read_text() == "not ours"
    assert json.loads(path.read_text())["tool"] == "imagebot"


def test_a_file_written_for_another_registry_host_is_ignored(registry, tmp_path):
    image = warm(registry, tmp_path)
    [entry] = entry_files(tmp_path)
    data = json.loads(entry.read_text())
    data["image"] = "registry.example.org/team/app"
    entry.write_text(json.dumps(data))  # at this host's path, but written for another host
    assert rerun(registry, tmp_path, image) == {"manifest": 3, "blob": 2, "tags": 0}
    assert json.loads(entry.read_text())["image"] == image


def test_an_unwritable_cache_costs_speed_not_the_answer(registry, tmp_path):
    image = seed(registry)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    with client(registry, blocked) as c:
        check_all(c, image)


def test_a_hostile_marker_file_costs_the_entries_not_the_listing(registry, tmp_path):
    """A marker nested too deep to parse (a CI cache from an untrusted build) is not ours: the
    entries are dropped and rewritten; the tag listing that reads the facts ahead still answers."""
    image = seed(registry)
    with client(registry, tmp_path) as first:
        check_all(first, image)
    (tmp_path / "manifests" / MARKER).write_text("[" * 100_000 + "]" * 100_000)
    with client(registry, tmp_path) as second:
        assert second.tags(image).tags  # the listing reads the facts ahead: no exception reaches it
        check_all(second, image)
        assert any("marker" in why for why in second.facts.rebuilt)
