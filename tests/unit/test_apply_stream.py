"""apply's event-stream path (imagebot.apply.stream) answers exactly as the composing path does,
and only when it is certain: it declines (None) whenever the proof would need more than equal
event streams, and then the composing path decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagebot.apply import edit_file, stream
from imagebot.apply.splice import Locator
from imagebot.config.schema import NamedPolicy
from imagebot.discover import scan
from imagebot.discover.yamltree import c_events, compose, decode
from imagebot.model import Change, Resolution, Target
from imagebot.plan import build

from tests.unit.test_apply import change

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").is_file())

pytestmark = pytest.mark.skipif(c_events("a: 1\n") is None, reason="ruamel.yaml.clib is not installed")


def _composing_only(monkeypatch: pytest.MonkeyPatch, before: bytes, changes: list[Change]):
    with monkeypatch.context() as m:
        m.setattr(stream, "edit", lambda text, changes: None)
        return edit_file(before, changes)


def _same_answer(monkeypatch: pytest.MonkeyPatch, before: bytes, changes: list[Change]) -> bool:
    """edit_file with and without the stream path: same bytes, same changes made, same refusals."""
    fast, slow = edit_file(before, changes), _composing_only(monkeypatch, before, changes)
    assert fast[0] == slow[0]
    assert [id(c) for c in fast[1]] == [id(c) for c in slow[1]]
    assert [(id(r.change), r.reason) for r in fast[2]] == [(id(r.change), r.reason) for r in slow[2]]
    return stream.edit(decode(before)[1], changes) is not None


def _golden_changes(case: str) -> dict[str, list[Change]]:
    root = GOLDEN / case
    desc = json.loads((root / "case.json").read_text())
    policies = {k: NamedPolicy.model_validate(v) for k, v in desc.get("policies", {}).items()}
    found = scan(root / "original", paths=desc.get("paths", ()), policies=policies)
    resolutions = [Resolution(o, Target(desc["targets"][o.image]["tag"], desc["targets"][o.image].get("digest")), "golden")
                   for o in found.occurrences]
    by_file: dict[str, list[Change]] = {}
    for c in build(resolutions).changes:
        by_file.setdefault(c.file, []).append(c)
    return by_file


@pytest.mark.parametrize("case", CASES)
def test_golden_files_get_the_composing_paths_answer(monkeypatch: pytest.MonkeyPatch, case: str):
    for file, changes in _golden_changes(case).items():
        _same_answer(monkeypatch, (GOLDEN / case / "original" / file).read_bytes(), changes)


@pytest.mark.parametrize(
    ("text", "changes", "taken"),
    [
        ("tag: 1.0.0\n", [(1, 6, "1.0.0", "1.1.0")], True),
        ("tag: v1\n", [(1, 6, "v1", "1.20")], True),  # quoted on the way: still a string
        ("a: x:1\nb: [x1, 'x1', \"x1\"]\nc: {d: e}\n", [(1, 4, "x:1", "x:2"), (2, 5, "x1", "x3"),
                                                       (2, 9, "x1", "x4"), (2, 15, "x1", "x5"), (3, 8, "e", "f")], True),
        ("b: [x1]\n", [(1, 5, "x1", "x:2")], False),  # libyaml refuses a colon in a flow plain scalar
        ("? {k: [x1]}\n: x:1\n", [(2, 3, "x:1", "x:2")], True),  # a complex key's scalars are not values
        ("? {k: [x1]}\n: x:1\n", [(1, 8, "x1", "x2")], False),
        ("k: &a v1\nj: *a\n", [(1, 4, "v1", "v9")], False),  # anchors and aliases: composing path
        ("k: &a v1\nj: v1\n", [(2, 4, "v1", "v9")], False),
        ("k: |\n  v1\n", [(1, 4, "v1\n", "v9")], False),  # refusals come from the composing path
        ("k: v1\n", [(1, 4, "v0", "v9")], False),
        ("k: v1\n", [(1, 4, "v1", "v2"), (1, 4, "v1", "v3")], False),  # two changes, one value
        ("k: !!str v1\n", [(1, 4, "v1", "v9")], False),
        ("flow: {image: app:1.0}\n", [(1, 15, "app:1.0", "app:2.0")], False),  # libyaml refuses: YAML 1.2 decides
        ("k: v1\n---\nk: v2\n", [(3, 4, "v2", "v9")], True),
        ("", [(1, 1, "", "v9")], False),
    ],
)
def test_stream_path_is_taken_only_when_certain(monkeypatch: pytest.MonkeyPatch, text: str, changes: list, taken: bool):
    lines = text.split("\n")
    made = [change(line, col, old, new, document=lines[: line - 1].count("---")) for line, col, old, new in changes]
    assert _same_answer(monkeypatch, text.encode(), made) is taken


def _events(text: str) -> list:
    events = c_events(text)
    assert events is not None
    return events


def _scalar(events: list, value: str):
    return next(e for e in events if type(e).__name__ == "ScalarEvent" and e.value == value)


@pytest.mark.parametrize(
    ("new", "same"),
    [
        ("a: '2'\nb: x\n", True),
        ('a: "2"\nb: x  # a comment does not count\n', True),
        ("a: 2\nb: x\n", False),  # an int, not the string
        ("a: !!int '2'\nb: x\n", False),  # an explicit tag on the edited value
        ("a: '3'\nb: x\n", False),  # not the value expected
        ("a: '2'\nb: y\n", False),  # another value changed
        ("a: '2'\nb: 'x'\n", False),  # another value's style changed
        ("a: '2'\nb: !!str x\n", False),  # another value's tag changed
        ("a: '2'\nb: [x]\n", False),  # a value's kind changed
        ("a: '2'\nb: x\nc: y\n", False),  # a key more
        ("a: '2'\nb: x\n---\n", False),  # a document more
        ("a: '2'\nb: &x x\n", False),  # an anchor appeared
        ("a: &y '2'\nb: *y\n", False),  # an alias appeared
        ("a: '2'\n? b\n: x\n", True),  # the same tree, written otherwise around the edit
    ],
)
def test_same_stream_proves_only_the_expected_difference(new: str, same: bool):
    old = _events("a: 1\nb: x\n")
    assert stream.same_stream(old, _events(new), {id(_scalar(old, "1")): "2"}) is same


def test_same_stream_compares_quote_styles_and_collection_tags():
    assert stream.same_stream(_events("a: 'x'\n"), _events('a: "x"\n'), {}) is False
    assert stream.same_stream(_events("a: |\n  x\n"), _events("a: >\n  x\n"), {}) is False
    old = _events("a: [x]\n")
    assert stream.same_stream(old, _events("a: [x]\n"), {}) is True
    assert stream.same_stream(old, _events("a: !!set [x]\n"), {}) is False
    assert stream.same_stream(old, _events("a: {x: y}\n"), {}) is False


def _value_scalars(text: str) -> dict:
    located = Locator(compose(text))._at
    return {pos: (doc, node.value, node.start_mark.index, node.end_mark.index) for pos, (doc, node) in located.items()}


@pytest.mark.parametrize("case", CASES)
def test_event_locator_finds_what_the_node_locator_finds(case: str):
    for p in sorted((GOLDEN / case / "original").rglob("*.y*ml")):
        text = decode(p.read_bytes())[1]
        events = c_events(text)
        if events is None:
            continue
        located = stream.EventLocator.of(events)
        if located is None:
            assert any(getattr(e, "anchor", None) for e in events) or any(type(e).__name__ == "AliasEvent" for e in events)
            continue
        got = {pos: (doc, ev.value, ev.start_mark.index, ev.end_mark.index) for pos, (doc, ev) in located._at.items()}
        assert got == _value_scalars(text), p


def test_event_locator_skips_keys_and_complex_keys():
    text = "a: 1\n? {k: [v]}\n: 2\n---\n- 3\n- {b: 4}\n"
    located = stream.EventLocator.of(_events(text))
    assert located is not None
    assert {pos: (doc, ev.value) for pos, (doc, ev) in located._at.items()} == \
        {pos: (doc, value) for pos, (doc, value, *_) in _value_scalars(text).items()} == \
        {(1, 4): (0, "1"), (3, 3): (0, "2"), (5, 3): (1, "3"), (6, 7): (1, "4")}



def test_real_world_manifests_get_the_composing_paths_answer(monkeypatch: pytest.MonkeyPatch):
    """Every kind of value in real manifests (anchors, flow, block scalars, comments, many
    documents): edits one at a time and all at once, with new values that stay plain, need
    quotes, or cannot be written - the same bytes and refusals either way."""
    from tests.conftest import shared_path

    taken = 0
    for p in sorted(shared_path("manifests").rglob("*.y*ml")):
        before = p.read_bytes()
        try:
            located = sorted(Locator(compose(decode(before)[1]))._at.items())
        except Exception:  # noqa: BLE001 - not YAML: both paths refuse alike, covered by test_apply
            continue
        picked = located[:: max(1, len(located) // 6)]
        for k, new in enumerate(("v9.9.9", "1.20", "a #b", "x\ny")):
            made = [change(line, col, str(node.value), f"{node.value}{new}" if k == 0 else new, document=doc)
                    for (line, col), (doc, node) in picked]
            taken += _same_answer(monkeypatch, before, made)
            for one in made[:2]:
                taken += _same_answer(monkeypatch, before, [one])
    assert taken  # the stream path was taken on real files too
