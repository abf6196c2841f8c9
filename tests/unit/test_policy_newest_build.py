"""newest-build: the tag whose image was built last, as Argo CD Image Updater's strategy of that name.

Behaviour follows argoproj-labs/argocd-image-updater docs/basics/update-strategies.md
("newest-build - Update to the most recently built image"): the build date, not the push date;
tags of one image (same build date) go to the lexically greatest name; allow-tags / ignore-tags
narrow the tags inspected. imagebot adds: never older than the current tag's build.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imagebot.errors import PolicyError, RegistryError
from imagebot.model import PolicySpec
from imagebot.policy import compile_spec
from imagebot.registry.created import parse_created


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=UTC)


BUILDS = {"a5fb3d3": at(1), "f7bb2e3": at(3), "0c1d2e4": at(2), "latest": at(3), "dev": at(3), "nodate": None}


def lookup(builds):
    def created(tag):
        value = builds[tag]
        if isinstance(value, Exception):
            raise value
        return value
    return created


def choose(tags, current, spec=PolicySpec("newest-build"), builds=BUILDS):
    return compile_spec(spec).choose(tags, current, created=lookup(builds))


def test_newest_build_wins_not_the_greatest_name() -> None:
    c = choose(["a5fb3d3", "0c1d2e4", "f7bb2e3"], "a5fb3d3")
    assert c.chosen == "f7bb2e3"
    assert "newest build (2025-03-03T00:00:00Z)" in c.reason


def test_same_build_time_goes_to_the_greatest_name_as_argo_cd_image_updater() -> None:
    # The docs' example: f33bacd, dev and latest tag one image; the updater picks `latest`.
    c = choose(["f7bb2e3", "dev", "latest"], None)
    assert c.chosen == "latest"
    # ... which allow-tags prevents (the docs' remedy)
    c = choose(["f7bb2e3", "dev", "latest"], None, PolicySpec("newest-build", tag_filter=r"^[0-9a-f]{7}$"))
    assert c.chosen == "f7bb2e3"


def test_a_tag_without_created_time_is_skipped_with_a_reason() -> None:
    c = choose(["a5fb3d3", "nodate"], "a5fb3d3")
    assert c.chosen == "a5fb3d3"
    assert {r.tag: r.reason for r in c.rejected}["nodate"] == "the image states no creation time"
    assert "1 without a creation time" in c.reason


def test_never_older_than_the_current_build() -> None:
    c = choose(["a5fb3d3", "0c1d2e4", "f7bb2e3"], "f7bb2e3", PolicySpec("newest-build", exclude="latest|dev"))
    assert c.chosen == "f7bb2e3"
    assert "2 built before f7bb2e3 (never downgrade)" in c.reason
    reasons = {r.tag: r.reason for r in c.rejected}
    assert reasons["a5fb3d3"].startswith("built 2025-03-01T00:00:00Z, before the current tag f7bb2e3")


def test_current_without_a_build_time_is_kept() -> None:
    c = choose(["nodate", "f7bb2e3"], "nodate")
    assert c.chosen == "nodate"
    assert "states no creation time" in c.reason
    gone = {**BUILDS, "a5fb3d3": RegistryError("manifest unknown", temporary=False)}
    c = choose(["f7bb2e3"], "a5fb3d3", builds=gone)  # the deployed tag was deleted from the registry
    assert c.chosen == "a5fb3d3" and "build time of the current tag a5fb3d3 is unreadable (manifest unknown)" in c.reason


def test_temporary_registry_trouble_keeps_the_current_tag_this_cycle() -> None:
    builds = {**BUILDS, "f7bb2e3": RegistryError("503 from registry", temporary=True)}
    c = choose(["a5fb3d3", "0c1d2e4", "f7bb2e3"], "a5fb3d3", builds=builds)
    assert c.chosen == "a5fb3d3"  # not 0c1d2e4: f7bb2e3 might be newer still
    assert "could not be read" in c.reason
    # a permanent error on one tag skips that tag only
    builds = {**BUILDS, "f7bb2e3": RegistryError("manifest unknown", temporary=False)}
    c = choose(["a5fb3d3", "0c1d2e4", "f7bb2e3"], "a5fb3d3", builds=builds)
    assert c.chosen == "0c1d2e4"
    assert {r.tag: r.reason for r in c.rejected}["f7bb2e3"].startswith("build time unreadable")


def test_without_a_created_lookup_nothing_moves() -> None:
    c = compile_spec(PolicySpec("newest-build")).choose(["a", "b"], "a")
    assert c.chosen == "a" and "needs image build times" in c.reason


def test_compiles_only_without_argument() -> None:
    assert getattr(compile_spec(PolicySpec("newest-build")), "needs_created")
    with pytest.raises(PolicyError, match="newest-build"):
        compile_spec(PolicySpec("newest-build:asc"))


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", None),
    ("yesterday", None),
    (None, None),
])
def test_parse_created(text, expected) -> None:
    assert parse_created(text) == expected
