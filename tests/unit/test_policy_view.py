"""A TagView shared by many decisions gives exactly the Choice a plain tag list gives.

resolve hands every policy one TagView per image listing, and the policies keep what they derive
from the tags alone in it (steps 1-2 per set of patterns, the Docker-tag index, a policy's
verdicts per group, judged as far down as current tags needed). These tests compare, for every
policy kind and many current tags, the whole Choice (chosen, reason, candidates, every rejected
tag with its reason, held) of a plain list with that of one view shared by all decisions, asked
in a shuffled order, and check what any decision must satisfy: every listed tag is a candidate or
rejected, once, and the summary counts the rejected tags that are listed on request.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest

from imagebot.model import PolicySpec
from imagebot.policy import compile_spec, filters
from imagebot.policy.view import DockerIndex, TagView

REGISTRY = [
    "1.25.3", "1.25.3-alpine", "1.25", "1.25-alpine", "1.26.0", "1.26.0-alpine", "1.27.0-rc.1", "1.27.0-rc.2-alpine",
    "v1.27.0", "1.27.0", "v1.27.1", "latest", "stable", "mainline", "2.0.0b1", "3.13.0rc2", "3.13.0rc2-slim", "3.13.0",
    "3.13.0-slim", "4.0.19.3001", "4.0.19", "20.04", "22.04", "a1b2c3d", "sha256-abc.sig", "1.2.3.4", "0.0.1", "0.3.2",
    "0.3.9", "0.4.0", "1.0.0-rc1", "1.0.0", "1.0", "1", "2", "2.5.0", "2.5.1", "2.3.9", "2.3.10", "2.4.0", "3.2.0",
    "v2.3.11", "1.0.0",  # listed twice: one tag
]

SPECS = [
    PolicySpec("semver:^1.0"), PolicySpec("semver:~2.3"), PolicySpec("semver:>=1.0 <3"), PolicySpec("semver:1.x || 3.x"),
    PolicySpec("semver:*"), PolicySpec("semver:^1.0", prerelease=True), PolicySpec("semver:!=2.5.0"),
    PolicySpec("semver:^0.3"), PolicySpec("semver:<=3.2"), PolicySpec("semver:^1.0-rc"),
    PolicySpec("major"), PolicySpec("minor"), PolicySpec("patch"), PolicySpec("minor", prerelease=True),
    PolicySpec("patch", prerelease=True), PolicySpec("major", tag_filter=r"^v?\d"),
    PolicySpec("semver:^2.0", exclude="alpine"), PolicySpec("minor", exclude="rc"),
    PolicySpec("semver:>=1.0", tag_filter=r"^(\d+\.\d+\.\d+)-alpine$", extract="$1"),
    PolicySpec("semver:>=1.0", tag_filter=r"^v(?P<v>\d+\.\d+\.\d+)", extract="${v}"),
    PolicySpec("alphabetical"), PolicySpec("alphabetical:desc"), PolicySpec("numerical"), PolicySpec("numerical:desc"),
    PolicySpec("numerical", tag_filter=r"^(\d+)\.", extract="$1"), PolicySpec("digest"),
]

CURRENTS = [None, "latest", "not-listed", "9.9.9", "1.27.0-rc.1", "1.27.0-rc.2-alpine", "1.25.3", "1.25", "v1.27.0",
            "1.0.0", "2.3.9", "3.13.0rc2", "4.0.19.3001", "0.3.2", "2", "sha256-abc.sig", "20.04", "1.25-alpine"]


def accounted_for(choice: object, tags: list[str], current: str | None) -> None:
    """Every distinct listed tag is a candidate or rejected, exactly once (the rejected tags are
    listed lazily: this reads them), and the summary's count is the number rejected."""
    rejected = [r.tag for r in choice.rejected]  # type: ignore[attr-defined]
    candidates = set(choice.candidates)  # type: ignore[attr-defined]
    assert len(rejected) == len(set(rejected)) == len(choice.rejected)  # type: ignore[attr-defined]
    assert not candidates & set(rejected)
    assert set(tags) <= candidates | set(rejected) <= set(tags) | {current}
    if (m := re.search(r"(\d+) rejected \(", choice.reason)) is not None:  # type: ignore[attr-defined]
        assert int(m.group(1)) == len(rejected)


def everything(choice: object) -> tuple:
    c = choice
    return (c.chosen, c.reason, tuple(c.candidates), tuple((r.tag, r.reason) for r in c.rejected),  # type: ignore[attr-defined]
            c.held, len(c.rejected))  # type: ignore[attr-defined]


def generated_tags(seed: int, n: int = 150) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        a, b, c, kind = rng.randrange(4), rng.randrange(12), rng.randrange(12), rng.random()
        out.append(f"{a}.{b}.{c}" if kind < 0.4 else f"{a}.{b}.{c}-alpine" if kind < 0.55 else
                   f"v{a}.{b}.{c}" if kind < 0.65 else f"{a}.{b}.{c}-rc.{rng.randrange(1, 12)}" if kind < 0.75 else
                   f"{a}.{b}" if kind < 0.85 else f"{rng.getrandbits(28):07x}" if kind < 0.95 else f"sha256-{a}{b}.sig")
    return out


@pytest.mark.parametrize("tags", [REGISTRY, REGISTRY[::-1], generated_tags(1), generated_tags(2)], ids=["registry", "reversed", "gen1", "gen2"])
def test_a_shared_view_gives_the_choice_of_a_plain_list_for_every_policy_kind(tags: list[str]) -> None:
    policies = [compile_spec(spec) for spec in SPECS]
    currents = CURRENTS + random.Random(3).sample(tags, 20)
    asked = [(p, c) for p in range(len(policies)) for c in currents]
    random.Random(4).shuffle(asked)  # decisions about one listing come in any order
    view = TagView(tags)
    for p, current in asked:
        shared = policies[p].choose(view, current)
        alone = compile_spec(SPECS[p]).choose(list(tags), current)  # a new policy, a plain list
        assert everything(shared) == everything(alone), (SPECS[p].policy, current)
        accounted_for(shared, tags, current)


def test_policies_with_the_same_patterns_share_steps_one_and_two_of_a_view() -> None:
    view = TagView(REGISTRY)
    first, second = compile_spec(PolicySpec("major", exclude="alpine")), compile_spec(PolicySpec("minor", exclude="alpine"))
    first.choose(view, "1.25.3")
    second.choose(view, "1.25.3")
    shared = view.known((None, "alpine", None))  # (tag-filter, exclude, extract)
    assert shared is not None and "1.25.3-alpine" in shared.excluded  # type: ignore[attr-defined]
    assert view.known((None, None, None)) is None  # no policy without patterns asked


def test_newest_build_reads_a_view_as_the_tags() -> None:
    times = {"a1": datetime(2026, 1, 1, tzinfo=UTC), "b2": datetime(2026, 2, 1, tzinfo=UTC)}
    policy = compile_spec(PolicySpec("newest-build"))
    shared = policy.choose(TagView(["a1", "b2", "a1"]), "a1", created=times.get)  # type: ignore[call-arg]
    alone = policy.choose(["a1", "b2", "a1"], "a1", created=times.get)  # type: ignore[call-arg]
    assert shared.chosen == "b2" and everything(shared) == everything(alone)


def test_a_view_lists_the_tags_as_the_registry_did() -> None:
    view = TagView(["2.0", "1.0", "x.sig", "2.0"])
    assert list(view) == ["2.0", "1.0", "x.sig", "2.0"] and len(view) == 4  # iterating: the listing itself
    assert view.listed == ("2.0", "1.0", "x.sig")
    assert (view.cosign, view.plain) == (("x.sig",), ("2.0", "1.0"))
    assert TagView.of(view) is view
    assert view.derived("k", lambda: (1,)) == (1,) and view.derived("k", lambda: (2,)) == (1,)  # made once per key


def test_the_docker_index_groups_by_variant_and_precision() -> None:
    tags = ["1.10.0", "1.2.0", "v1.2.0", "1.2.0-alpine", "1.2", "latest", "1.1.0"]
    index = DockerIndex(tags, tags)
    assert index.not_versions == ("latest",)
    assert [t for _, t, _ in index.group("", 3).entries] == ["1.10.0", "1.2.0", "v1.2.0", "1.1.0"]  # registry's order
    assert [t for _, t, _ in index.group("", 3).not_older(index.group("", 3).entries[1][2].key)] == ["1.10.0", "1.2.0", "v1.2.0"]
    assert len(index.group("alpine", 3)) == 1 and len(index.group("", 2)) == 1 and len(index.group("slim", 3)) == 0
    assert index.variants == {"": 5, "alpine": 1}


def test_a_timed_out_pattern_is_not_kept_in_the_view() -> None:
    """A timeout is no outcome: the next decision about the listing tries the pattern again."""
    filters._memos.clear()
    policy = compile_spec(PolicySpec("alphabetical", tag_filter=r"^(c|c)+$"))
    view = TagView(["c" * 40 + "!", "ccc"])
    for _ in range(2):
        choice = policy.choose(view, None)
        (slow,) = [r for r in choice.rejected if r.tag.endswith("!")]
        assert "took longer than" in slow.reason or "budget" in slow.reason
    assert view.known((r"^(c|c)+$", None, None)) is None
