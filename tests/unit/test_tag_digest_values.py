"""Tag and digest together: a value ``TAG@sha256:…`` is a tag plus a pin, wherever it is written.

Found on real home-ops repositories (bjw-s app-template values write ``tag: 1.6.0@sha256:…``):
the whole text was read as a tag that is not a version, so a fall-back policy wrote
``1.6.0@sha256:… -> 1.6.0`` (pin dropped), ``-> 1.5.0`` (down) or ``2.2.1-distroless@… ->
2.3.0`` (variant switched). Now the policy runs on the tag, the pin is kept and re-pinned to
the chosen tag's digest in the same value, quoting kept, and the ``digest`` policy follows a
moving tag's digest in place. Real discover, resolve, plan and apply; the registry in memory.
"""

from __future__ import annotations

import pytest

from imagebot.apply import edit_text
from imagebot.config.schema import NamedPolicy
from imagebot.discover import scan_file
from imagebot.model import Plan
from imagebot.plan import build
from imagebot.reference import TagValue
from imagebot.resolve import resolve
from tests.support.memory_tags import InMemoryTags
from tests.support.memory_tags import made_up_digest as digest_of

OLD = "sha256:" + "0" * 64
APP = "ghcr.io/org/app"
TAGS = {
    APP: ("1.5.0", "1.6.0", "1.7.0", "2.0.0-rc.1", "2.2.1-distroless", "2.3.0", "2.3.0-distroless", "latest", "master", "0a1b2c3"),
}


def run(path: str, text: str, **policy: object) -> tuple[str, Plan]:
    policies = {"app": NamedPolicy(image=APP, **policy)} if policy else {}  # type: ignore[arg-type]
    found = scan_file(path, text.encode(), policies)
    assert not found.problems, found.problems
    plan = build(resolve(found.occurrences, InMemoryTags(TAGS), workers=1))
    return edit_text(text.encode(), plan.changes).decode(), plan


def values(tag: str, marker: str = ' # {"$imagebot": "app:tag"}') -> str:
    return f"image:\n  repository: {APP}\n  tag: {tag}{marker}\n  pullPolicy: IfNotPresent\n"


def test_tag_value_reads_a_pin_written_after_the_tag() -> None:
    assert TagValue.read(f"4.0.19.3001@{OLD}") == TagValue("4.0.19.3001", OLD)
    assert TagValue.read("4.0.19.3001") == TagValue("4.0.19.3001")
    assert TagValue.read(f"4.0.19.3001@{OLD}").pinned and not TagValue.read("1.0").pinned
    for text in ("1.0@sha256:abc", f"@{OLD}", f"1.0@{OLD.upper()}", f"-x@{OLD}", "1.0@"):
        assert TagValue.read(text) == TagValue(text)  # never split half-way
    assert TagValue.read("1.0").text("1.1", None) == "1.1"
    assert TagValue.read(f"1.0@{OLD}").text("1.1", digest_of(APP, "1.1")) == f"1.1@{digest_of(APP, '1.1')}"


@pytest.mark.parametrize(
    ("policy", "written", "expected_tag"),
    [
        ("semver:*", "1.6.0", "2.3.0"),  # not 1.6.0 (pin dropped), not 1.5.0 (down)
        ("semver:^1", "1.6.0", "1.7.0"),
        ("semver:*", "2.2.1-distroless", "2.3.0-distroless"),  # not 2.3.0: the variant stays
        ("minor", "1.5.0", "1.7.0"),
    ],
)
def test_a_pinned_tag_field_moves_by_its_tag_and_is_re_pinned_in_place(policy: str, written: str, expected_tag: str) -> None:
    for quote in ("", '"', "'"):
        text = values(f"{quote}{written}@{OLD}{quote}")
        after, plan = run("values.yaml", text, policy=policy)
        want = f"{quote}{expected_tag}@{digest_of(APP, expected_tag)}{quote}"
        assert after == text.replace(f"{quote}{written}@{OLD}{quote}", want), plan
        (change,) = plan.changes
        assert change.old_ref == f"{APP}:{written}@{OLD}"
        assert change.new_ref == f"{APP}:{expected_tag}@{digest_of(APP, expected_tag)}"


def test_a_tag_field_without_a_pin_gets_none() -> None:
    text = values("1.6.0")
    after, _ = run("values.yaml", text, policy="semver:*")
    assert after == text.replace("tag: 1.6.0", "tag: 2.3.0")


@pytest.mark.parametrize("moving", ["latest", "master", "0a1b2c3"])
def test_the_digest_policy_follows_a_moving_tag_in_place(moving: str) -> None:
    text = values(f"{moving}@{OLD}")
    after, plan = run("values.yaml", text, policy="digest")
    assert after == text.replace(f"{moving}@{OLD}", f"{moving}@{digest_of(APP, moving)}"), plan


def test_pin_digest_on_a_pinned_tag_field_works() -> None:
    text = values(f"1.6.0@{OLD}")
    after, _ = run("values.yaml", text, policy="semver:^1", **{"pin-digest": True})
    assert after == text.replace(f"1.6.0@{OLD}", f"1.7.0@{digest_of(APP, '1.7.0')}")


def test_pin_digest_on_a_plain_tag_field_is_still_refused_with_a_hint() -> None:
    found = scan_file("values.yaml", values("1.6.0").encode(), {"app": NamedPolicy(image=APP, policy="semver:^1", **{"pin-digest": True})})
    (problem,) = found.problems
    assert "no digest field" in problem.message and "tag@sha256" in problem.message


@pytest.mark.parametrize("current", ["master", "latest", "0a1b2c3"])
def test_a_pinned_moving_tag_under_a_semver_policy_is_held_as_written(current: str) -> None:
    text = values(f"{current}@{OLD}")
    after, plan = run("values.yaml", text, policy="semver:*")
    assert after == text and plan.changes == ()
    (kept,) = plan.skipped
    assert kept.problem is None and f"the current tag {current} " in kept.reason and "cannot be ordered" in kept.reason


def test_kustomize_new_tag_with_a_pin() -> None:
    text = f"images:\n  - name: {APP}\n    newTag: 1.6.0@{OLD} # imagebot: semver:^1\n"
    after, _ = run("kustomization.yaml", text)
    assert after == text.replace(f"1.6.0@{OLD}", f"1.7.0@{digest_of(APP, '1.7.0')}")


def test_a_full_reference_with_tag_and_digest() -> None:
    text = f"image: {APP}:2.2.1-distroless@{OLD} # imagebot: semver:*\n"
    after, _ = run("pod.yaml", text)
    assert after == text.replace(f"2.2.1-distroless@{OLD}", f"2.3.0-distroless@{digest_of(APP, '2.3.0-distroless')}")
