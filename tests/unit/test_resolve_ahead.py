"""resolve starts the registry work of a decision (platform check, digest) as soon as the decision
is made, while the other decisions are still being made; each (image, tag) is asked once."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest

from imagebot import resolve as resolve_module
from imagebot.errors import RegistryError
from imagebot.model import FieldKind, Location, Occurrence, PolicySpec
from imagebot.resolve import resolve

APP, OTHER = "reg.io/team/app", "reg.io/team/other"
TAGS = {APP: ["1.0.0", "1.2.0", "1.10.0", "2.0.0"], OTHER: ["3.0", "3.1"]}


@dataclass
class CountingTags:
    """An in-memory tag source that counts every platform and digest lookup, from any thread."""

    lacking: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    failing: set[tuple[str, str]] = field(default_factory=set)
    asked: Counter = field(default_factory=Counter)
    seen: dict[tuple[str, str, str], threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @dataclass(frozen=True)
    class Listing:
        tags: tuple[str, ...]
        stale_age: float | None = None

    def tags(self, image: str) -> CountingTags.Listing:
        return self.Listing(tuple(TAGS[image]))

    def event(self, kind: str, image: str, tag: str) -> threading.Event:
        with self.lock:
            return self.seen.setdefault((kind, image, tag), threading.Event())

    def _ask(self, kind: str, image: str, tag: str) -> None:
        with self.lock:
            self.asked[(kind, image, tag)] += 1
        self.event(kind, image, tag).set()
        if (image, tag) in self.failing:
            raise RegistryError(f"{kind} of {image}:{tag}: registry down", temporary=True)

    def missing_platforms(self, image: str, tag: str) -> tuple[str, ...]:
        self._ask("platforms", image, tag)
        return self.lacking.get((image, tag), ())

    def digest(self, image: str, tag: str) -> str:
        self._ask("digest", image, tag)
        return "sha256:" + (tag.replace(".", "") * 64)[:64]


def occ(image: str, tag: str, *, line: int = 1, policy: str = "semver:*", pin: bool = False) -> Occurrence:
    return Occurrence(location=Location("apps/a.yaml", line, 10), document=0, field=FieldKind.IMAGE,
                      value=f"{image}:{tag}", image=image, tag=tag, digest=None,
                      policy=PolicySpec(policy, pin_digest=pin), subject=f"Deployment/a line {line}")


def test_the_platform_check_of_a_decision_starts_before_the_last_decision_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    source = CountingTags()
    first_checked = source.event("platforms", APP, "2.0.0")
    started_early: list[bool] = []
    choose = resolve_module._Chooser._choose

    def last_waits_for_first(self: object, o: Occurrence, policy: object) -> object:
        if o.image == OTHER:  # the last decision: the first one's platform check must be under way
            started_early.append(first_checked.wait(timeout=5))
        return choose(self, o, policy)  # type: ignore[arg-type]

    monkeypatch.setattr(resolve_module._Chooser, "_choose", last_waits_for_first)
    out = resolve([occ(APP, "1.0.0"), occ(OTHER, "3.0", line=2)], source, workers=4)
    assert started_early == [True]
    assert [r.target.tag for r in out] == ["2.0.0", "3.1"]  # type: ignore[union-attr]


@pytest.mark.parametrize("workers", [1, 8])
def test_each_image_and_tag_is_asked_once_however_many_workloads_share_it(workers: int) -> None:
    source = CountingTags()
    occurrences = [occ(APP, tag, line=i, pin=True) for i, tag in enumerate(["1.0.0", "1.2.0", "1.0.0", "2.0.0"] * 3)]
    occurrences += [occ(OTHER, "3.0", line=100 + i) for i in range(5)]
    out = resolve(occurrences, source, workers=workers)
    assert {r.target.tag for r in out} == {"2.0.0", "3.1"}  # type: ignore[union-attr]
    assert source.asked == Counter({("platforms", APP, "2.0.0"): 1, ("digest", APP, "2.0.0"): 1, ("platforms", OTHER, "3.1"): 1})


def test_a_failed_lookup_started_ahead_is_the_decision_s_problem_and_not_asked_again() -> None:
    source = CountingTags(failing={(APP, "2.0.0")})
    out = resolve([occ(APP, "1.0.0"), occ(APP, "1.2.0", line=2), occ(OTHER, "3.0", line=3)], source, workers=4)
    assert [r.target for r in out][:2] == [None, None]
    assert all(r.problem is not None and "registry down" in r.problem.message and r.problem.temporary for r in out[:2])
    assert out[2].target is not None and out[2].target.tag == "3.1"
    assert source.asked[("platforms", APP, "2.0.0")] == 1


def test_a_fallback_for_a_tag_lacking_a_platform_is_asked_after_the_decisions() -> None:
    """Only the chosen tag is looked up ahead; the next candidates only when it lacks a platform."""
    source = CountingTags(lacking={(APP, "2.0.0"): ("linux/arm64",)})
    (r,) = resolve([occ(APP, "1.0.0")], source, workers=4)
    assert r.target is not None and r.target.tag == "1.10.0"
    assert source.asked == Counter({("platforms", APP, "2.0.0"): 1, ("platforms", APP, "1.10.0"): 1})


def test_declarations_that_differ_only_in_where_they_were_written_share_one_compiled_policy() -> None:
    here, there = PolicySpec("semver:^1.0", source="a.yaml:1"), PolicySpec("semver:^1.0", source="b.yaml:9", origin="rule")
    other = PolicySpec("semver:^1.0", source="c.yaml:3", prerelease=True)
    aged, bogus = PolicySpec("semver:^1.0", min_age="3d"), PolicySpec("semver:^1.0", min_age="soon")
    good: dict = {}
    bad: dict = {}
    out = resolve_module._compiled_each([here, there, other, aged, here, bogus], good, bad)
    assert out[0] is out[1] is out[4] is good[here] is good[there] and out[2] is not out[0]
    assert out[3] is good[aged] is not good[here]
    assert out[5] is None and list(bad) == [bogus] and "min-age" in str(bad[bogus])


@dataclass
class KnowingTags(CountingTags):
    """A source that already knows some platform answers (remembered facts, a warm run)."""

    known: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    threads: set[str] = field(default_factory=set)  # where known answers were given

    def missing_platforms_known(self, image: str, tag: str) -> tuple[str, ...] | None:
        answer = self.known.get((image, tag))
        with self.lock:
            self.asked[("known", image, tag)] += 1
            if answer is not None:
                self.threads.add(threading.current_thread().name)
        return answer


def test_platform_answers_the_source_knows_are_taken_in_place_not_asked_on_a_thread() -> None:
    source = KnowingTags(known={(APP, "2.0.0"): ("linux/arm64",), (APP, "1.10.0"): ()})
    out = resolve([occ(APP, "1.0.0"), occ(APP, "1.0.0", line=2), occ(OTHER, "3.0", line=3)], source, workers=4)
    # 2.0.0 is known to lack arm64: the next best, 1.10.0, is known to have it all; 3.1 must be asked
    assert [r.target.tag for r in out] == ["1.10.0", "1.10.0", "3.1"]  # type: ignore[union-attr]
    assert "arm64" in out[0].reason
    assert source.asked[("platforms", APP, "2.0.0")] == source.asked[("platforms", APP, "1.10.0")] == 0
    assert source.asked[("platforms", OTHER, "3.1")] == 1
    assert source.asked[("known", APP, "2.0.0")] == 1  # once, then kept
    assert source.threads == {threading.main_thread().name}


def test_a_source_whose_shortcut_fails_is_asked_the_usual_way() -> None:
    """The known-answer shortcut is only that: an exception in it (a damaged facts entry, a bug)
    neither ends resolve nor changes its answers; the platform check is asked as before."""

    class Broken(KnowingTags):
        def missing_platforms_known(self, image: str, tag: str) -> tuple[str, ...] | None:
            raise KeyError("damaged")

    source = Broken()
    out = resolve([occ(APP, "1.0.0"), occ(OTHER, "3.0", line=2)], source, workers=4)
    assert [r.target.tag for r in out] == ["2.0.0", "3.1"]  # type: ignore[union-attr]
    assert source.asked[("platforms", APP, "2.0.0")] == source.asked[("platforms", OTHER, "3.1")] == 1
