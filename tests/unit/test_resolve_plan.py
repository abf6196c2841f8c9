"""resolve and plan are pure: table-driven tests with an in-memory tag source."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from imagebot import plan as planner
from imagebot.errors import RegistryError
from imagebot.model import FieldKind, Location, Occurrence, PolicySpec
from imagebot.resolve import resolve

DIGESTS = {("reg.io/team/app", t): "sha256:" + (t.replace(".", "").ljust(64, "0"))[:64] for t in ("1.0.0", "1.2.0", "1.10.0", "2.0.0")}


@dataclass
class MemoryTags:
    """A tag source backed by a dict; counts calls so the once-per-repository rule is visible."""

    tags_of: dict[str, list[str]]
    failing: dict[str, RegistryError] = field(default_factory=dict)
    lacking: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    listed: list[str] = field(default_factory=list)
    digested: list[tuple[str, str]] = field(default_factory=list)

    @dataclass(frozen=True)
    class Listing:
        tags: tuple[str, ...]
        stale_age: float | None = None

    def tags(self, image: str) -> "MemoryTags.Listing":
        self.listed.append(image)
        if image in self.failing:
            raise self.failing[image]
        return self.Listing(tuple(self.tags_of[image]))

    def missing_platforms(self, image: str, tag: str) -> tuple[str, ...]:
        return self.lacking.get((image, tag), ())

    def digest(self, image: str, tag: str) -> str:
        self.digested.append((image, tag))
        return DIGESTS[(image, tag)]


def occ(value: str, *, image: str = "reg.io/team/app", tag: str | None = "1.0.0", digest: str | None = None,
        policy: str = "semver:^1.0", field: FieldKind = FieldKind.IMAGE, line: int = 1, pin: bool = False) -> Occurrence:
    return Occurrence(
        location=Location("apps/a.yaml", line, 10), document=0, field=field, value=value, image=image,
        tag=tag, digest=digest, policy=PolicySpec(policy, pin_digest=pin), subject=f"Deployment/a line {line}",
    )


TAGS = {"reg.io/team/app": ["1.0.0", "1.2.0", "1.10.0", "2.0.0", "latest"], "reg.io/team/other": ["3.0", "3.1"]}


@pytest.mark.parametrize(
    ("occurrence", "new"),
    [
        (occ("reg.io/team/app:1.0.0"), "reg.io/team/app:1.10.0"),
        (occ("1.0.0", field=FieldKind.TAG), "1.10.0"),
        (occ("reg.io/team/app:1.10.0", tag="1.10.0"), None),  # up to date: no change
        (occ("reg.io/team/app:1.0.0", policy="semver:^2.0"), "reg.io/team/app:2.0.0"),
        # a pinned digest is refreshed with the tag
        (occ("reg.io/team/app:1.0.0@sha256:" + "a" * 64, digest="sha256:" + "a" * 64),
         "reg.io/team/app:1.10.0@" + DIGESTS[("reg.io/team/app", "1.10.0")]),
        # pin-digest adds one
        (occ("reg.io/team/app:1.0.0", pin=True), "reg.io/team/app:1.10.0@" + DIGESTS[("reg.io/team/app", "1.10.0")]),
    ],
)
def test_plan_rewrites_the_field(occurrence: Occurrence, new: str | None) -> None:
    p = planner.build(resolve([occurrence], MemoryTags(TAGS)))
    assert [c.new for c in p.changes] == ([new] if new else [])
    if new:
        assert p.changes[0].old == occurrence.value


def test_each_repository_is_listed_once_per_cycle() -> None:
    source = MemoryTags(TAGS)
    occs = [occ("reg.io/team/app:1.0.0", line=i) for i in range(1, 30)]
    occs += [occ("reg.io/team/other:3.0", image="reg.io/team/other", tag="3.0", policy="minor", line=40)]
    resolutions = resolve(occs, source)
    assert sorted(source.listed) == ["reg.io/team/app", "reg.io/team/other"]
    assert all(r.target for r in resolutions)


def test_a_name_field_naming_its_image_is_left_alone() -> None:
    p = planner.build(resolve([occ("reg.io/team/app", field=FieldKind.NAME)], MemoryTags(TAGS)))
    assert p.changes == () and len(p.unchanged) == 1


def test_a_failing_registry_skips_only_its_images() -> None:
    source = MemoryTags(TAGS, failing={"reg.io/team/other": RegistryError("reg.io: 503 Service Unavailable", temporary=True)})
    occs = [occ("reg.io/team/app:1.0.0"), occ("reg.io/team/other:3.0", image="reg.io/team/other", tag="3.0", line=9)]
    p = planner.build(resolve(occs, source))
    assert [c.new for c in p.changes] == ["reg.io/team/app:1.10.0"]
    (problem,) = p.problems
    assert problem.kind == "registry" and problem.temporary and problem.location.line == 9
    assert "503" in problem.message


def test_bad_policy_is_a_problem_naming_the_workload() -> None:
    p = planner.build(resolve([occ("reg.io/team/app:1.0.0", policy="newest-please")], MemoryTags(TAGS)))
    assert not p.changes
    (problem,) = p.problems
    assert problem.kind == "policy" and "newest-please" in problem.message
    assert problem.subject == "Deployment/a line 1" and problem.location.file == "apps/a.yaml"


def test_plan_id_is_stable_and_order_free() -> None:
    occs = [occ("reg.io/team/app:1.0.0", line=1), occ("reg.io/team/app:1.2.0", tag="1.2.0", line=2)]
    a = planner.build(resolve(occs, MemoryTags(TAGS)))
    b = planner.build(resolve(list(reversed(occs)), MemoryTags(TAGS)))
    assert a.id == b.id and len(a.changes) == 2
    c = planner.build(resolve(occs[:1], MemoryTags(TAGS)))
    assert c.id != a.id


def test_never_downgrades_when_the_current_tag_vanished() -> None:
    # 1.10.0 is current but the registry no longer lists it: keep it, never move down.
    p = planner.build(resolve([occ("reg.io/team/app:1.10.0", tag="1.10.0")], MemoryTags({"reg.io/team/app": ["1.0.0", "1.2.0"]})))
    assert p.changes == ()


def test_a_tag_lacking_a_required_platform_is_passed_over() -> None:
    source = MemoryTags(TAGS, lacking={("reg.io/team/app", "1.10.0"): ("linux/arm64",)})
    (res,) = resolve([occ("reg.io/team/app:1.0.0")], source)
    assert res.target.tag == "1.2.0"
    assert "1.10.0 lacks linux/arm64" in res.reason


def test_the_current_tag_stays_when_no_newer_tag_has_the_platforms() -> None:
    lacking = {("reg.io/team/app", t): ("linux/arm64",) for t in ("1.2.0", "1.10.0")}
    p = planner.build(resolve([occ("reg.io/team/app:1.0.0")], MemoryTags(TAGS, lacking=lacking)))
    assert p.changes == ()
    (kept,) = p.unchanged
    assert "kept 1.0.0" in kept.reason and "lack required platforms" in kept.reason


def declared(where: str, policy: str = "semver:^1.0", line: int = 1) -> Occurrence:
    """An occurrence whose policy names where it was declared, as discover's do."""
    return replace(occ("reg.io/team/app:1.0.0", line=line), policy=PolicySpec(policy, source=f"{where} annotation"))


def test_one_policy_declared_by_many_workloads_is_compiled_and_decided_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import imagebot.resolve as resolve_module

    compiled: list[PolicySpec] = []
    currents: list[str | None] = []
    real = resolve_module.compile_spec

    def counting(spec: PolicySpec) -> Any:
        policy = real(spec)
        compiled.append(spec)
        choose = policy.choose
        policy.choose = lambda tags, current: (currents.append(current), choose(tags, current))[1]  # type: ignore[method-assign]
        return policy

    monkeypatch.setattr(resolve_module, "compile_spec", counting)
    occs = [declared(f"apps/svc-{i}.yaml:7", line=i) for i in range(1, 20)]
    resolutions = resolve(occs, MemoryTags(TAGS))
    assert len(compiled) == 1 and currents == ["1.0.0"]
    assert all(r.target is not None and r.target.tag == "1.10.0" for r in resolutions)


def test_an_invalid_policy_declared_twice_names_each_place() -> None:
    occs = [declared("apps/a.yaml:7", "newest-please", 1), declared("apps/b.yaml:9", "newest-please", 2)]
    problems = planner.build(resolve(occs, MemoryTags(TAGS))).problems
    assert ["apps/a.yaml:7" in p.message for p in problems] == [True, False]
    assert ["apps/b.yaml:9" in p.message for p in problems] == [False, True]


def test_three_policies_claiming_one_value_are_all_refused() -> None:
    # the same scalar (same location) claimed by three policies wanting three different values
    occs = [occ("reg.io/team/app:1.0.0", policy=p) for p in ("semver:~1.2", "semver:^1.0", "semver:>=1")]
    p = planner.build(resolve(occs, MemoryTags(TAGS)))
    assert p.changes == ()
    assert len([x for x in p.problems if "two policies want different values" in x.message]) == 2


class _Broken(MemoryTags):
    def tags(self, image: str) -> "MemoryTags.Listing":
        if image == "reg.io/team/other":
            raise TypeError("'int' object is not iterable")  # as a hostile registry answer once caused
        return super().tags(image)


def test_an_unexpected_exception_is_that_images_problem_only() -> None:
    occs = [occ("reg.io/team/app:1.0.0"), occ("reg.io/team/other:3.0", image="reg.io/team/other", tag="3.0",
                                               policy="semver:^3", line=2)]
    p = planner.build(resolve(occs, _Broken(TAGS)))
    assert [c.new for c in p.changes] == ["reg.io/team/app:1.10.0"]
    (problem,) = p.problems
    assert "reg.io/team/other" in problem.message and "TypeError" in problem.message
