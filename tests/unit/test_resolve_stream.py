"""Resolutions arrive as images are decided, not when the slowest listing is in: an image's
occurrences are resolved while another image's tag list is still on its way, and the pipeline
plans and renders a file as soon as every reference in it is decided. The outcome is the one a
resolve that waits for everything gives, whatever order the listings arrive in."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from imagebot import apply, pipeline
from imagebot import plan as planner
from imagebot.model import FieldKind, Location, Occurrence, PolicySpec, Problem
from imagebot.resolve import resolve, resolve_each

FAST, SLOW, BROKEN = "reg.io/team/fast", "reg.io/team/slow", "reg.io/team/broken"
TAGS = {FAST: ("1.0.0", "1.1.0"), SLOW: ("2.0.0", "2.3.0"), BROKEN: ("0.1",)}


@dataclass
class GatedTags:
    """Tags from memory; the listing of `gated` waits (at most 10 s) until `release` is set."""

    gated: str = SLOW
    release: threading.Event = field(default_factory=threading.Event)
    listed: list[str] = field(default_factory=list)

    @dataclass(frozen=True)
    class Listing:
        tags: tuple[str, ...]
        stale_age: float | None = None

    def tags(self, image: str) -> GatedTags.Listing:
        if image == self.gated:
            assert self.release.wait(timeout=10), "the gated listing was never released"
        self.listed.append(image)
        return self.Listing(TAGS[image])

    def missing_platforms(self, image: str, tag: str) -> tuple[str, ...]:
        return ()

    def digest(self, image: str, tag: str) -> str:
        return "sha256:" + "ab" * 32


def occ(file: str, image: str, tag: str, line: int = 3, policy: str = "semver:*") -> Occurrence:
    return Occurrence(location=Location(file, line, 10), document=0, field=FieldKind.IMAGE,
                      value=f"{image}:{tag}", image=image, tag=tag, digest=None,
                      policy=PolicySpec(policy), subject=f"Deployment/x line {line}")


def test_an_image_is_resolved_while_another_listing_is_still_on_its_way() -> None:
    source = GatedTags()
    occurrences = [occ("a.yaml", SLOW, "2.0.0"), occ("b.yaml", FAST, "1.0.0"), occ("c.yaml", FAST, "1.0.0", line=7)]
    stream = resolve_each(occurrences, source, workers=4)
    first = [next(stream), next(stream)]  # both FAST references, with SLOW's listing held back
    assert sorted(i for i, _ in first) == [1, 2]
    assert all(r.target is not None and r.target.tag == "1.1.0" for _, r in first)
    assert SLOW not in source.listed
    source.release.set()
    rest = list(stream)
    assert [(i, r.target.tag) for i, r in rest] == [(0, "2.3.0")]  # type: ignore[union-attr]


def test_the_order_of_arrival_changes_no_answer() -> None:
    occurrences = [occ("a.yaml", SLOW, "2.0.0"), occ("a.yaml", FAST, "1.0.0", line=9),
                   occ("b.yaml", FAST, "1.1.0"), occ("c.yaml", SLOW, "2.0.0", policy="semver:~9")]
    in_order = GatedTags(gated="nothing")
    in_order.release.set()
    fast_last = GatedTags(gated=FAST)
    threading.Timer(0.2, fast_last.release.set).start()
    assert resolve(occurrences, in_order, workers=4) == resolve(occurrences, fast_last, workers=4)
    assert resolve(occurrences, in_order, workers=1) == resolve(occurrences, in_order, workers=4)


def test_an_invalid_policy_is_answered_first_and_each_index_once() -> None:
    source = GatedTags()
    source.release.set()
    occurrences = [occ("a.yaml", FAST, "1.0.0", policy="semver:not a range"), occ("a.yaml", SLOW, "2.0.0", line=5),
                   occ("b.yaml", BROKEN, "0.1", policy="bogus:policy")]
    got = list(resolve_each(occurrences, source, workers=4))
    assert sorted(i for i, _ in got) == [0, 1, 2]
    assert {i for i, _ in got[:2]} == {0, 2}  # no listing needed to say a policy is invalid
    assert all(r.problem is not None and r.problem.kind == "policy" for i, r in got if i != 1)


def _files(root: Path) -> None:
    (root / "a.yaml").write_text(f"kind: Pod\nspec:\n  image: {SLOW}:2.0.0\n")
    (root / "b.yaml").write_text(f"kind: Pod\nspec:\n  image: {FAST}:1.0.0\n")


def test_the_pipeline_renders_a_file_once_its_references_are_decided(tmp_path: Path) -> None:
    _files(tmp_path)
    source = GatedTags()
    occurrences = [occ("a.yaml", SLOW, "2.0.0"), occ("b.yaml", FAST, "1.0.0")]
    cache = apply.RenderCache(None)
    early: dict[str, apply.FileRendered] = {}
    rendered_early: list[set[str]] = []

    def release_once_b_is_rendered() -> None:  # b.yaml must be rendered while SLOW's listing is held
        for _ in range(200):
            if "b.yaml" in early:
                break
            threading.Event().wait(0.05)
        rendered_early.append(set(early))
        source.release.set()

    watcher = threading.Thread(target=release_once_b_is_rendered)
    watcher.start()
    resolutions, the_plan = pipeline._resolve_rendering(occurrences, source, lambda: 0.0, None, tmp_path, cache, early)  # type: ignore[arg-type]
    watcher.join(timeout=15)
    assert rendered_early == [{"b.yaml"}]
    assert set(early) == {"a.yaml", "b.yaml"}
    assert the_plan == planner.build(resolutions)

    # the final render takes both from `early` (b.yaml is gone from disk by now) and equals a render from scratch
    changes = the_plan.changes
    (tmp_path / "b.yaml").unlink()
    final = apply.render(tmp_path, changes, cache, done=early)
    _files(tmp_path)
    assert final == apply.render(tmp_path, changes)
    assert [e.after for e in final.edits] == [f"kind: Pod\nspec:\n  image: {SLOW}:2.3.0\n".encode(),
                                              f"kind: Pod\nspec:\n  image: {FAST}:1.1.0\n".encode()]


def test_a_file_rendered_for_other_changes_is_rendered_again(tmp_path: Path) -> None:
    _files(tmp_path)
    source = GatedTags()
    source.release.set()
    occurrences = [occ("a.yaml", SLOW, "2.0.0"), occ("b.yaml", FAST, "1.0.0")]
    resolutions = resolve(occurrences, source, workers=2)
    changes = planner.build(resolutions).changes
    stale = {"b.yaml": apply.render_file(tmp_path, "b.yaml", [changes[0]])}  # a.yaml's change, not b's
    assert apply.render(tmp_path, changes, done=stale) == apply.render(tmp_path, changes)


def test_the_plan_joined_from_the_files_is_the_plan_built_from_all(tmp_path: Path) -> None:
    _files(tmp_path)
    source = GatedTags()
    source.release.set()
    problems = (Problem("yaml", "broken.yaml:1: not YAML", Location("broken.yaml", 1)),)
    together = [occ("a.yaml", SLOW, "2.0.0"), occ("a.yaml", FAST, "1.0.0"),  # two policies on one scalar: refused
                occ("a.yaml", FAST, "1.0.0", line=12), occ("a.yaml", SLOW, "2.0.0", line=15),
                occ("b.yaml", FAST, "1.0.0"), occ("c.yaml", BROKEN, "0.1", policy="bogus")]
    apart = [together[2], together[4], together[3], together[0], together[1], together[5]]  # a.yaml in pieces
    # in `apart`, b.yaml's change comes between a.yaml's two: joining the files' plans would misorder them
    assert [c.occurrence for c in planner.build(resolve(apart, source)).changes] == [apart[0], apart[1], apart[2]]
    for occurrences in (together, apart):
        resolutions, the_plan = pipeline._resolve_rendering(occurrences, source, lambda: 0.0, None, tmp_path,  # type: ignore[arg-type]
                                                            apply.RenderCache(None), {}, problems)
        assert the_plan == planner.build(resolutions, problems)
        assert [p.kind for p in the_plan.problems] == ["yaml", "policy", "policy"]
