"""apply: splice values into the original text, keep its style, refuse what cannot be done safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.apply import edit_file, edit_text, render
from imagebot.apply.token import plain_is_safe, render_token
from imagebot.apply.verify import verify
from imagebot.discover.yamltree import compose
from imagebot.errors import EditError
from imagebot.model import Change, FieldKind, Location, Occurrence, PolicySpec


def change(line: int, column: int, old: str, new: str, *, document: int = 0, file: str = "f.yaml") -> Change:
    occ = Occurrence(Location(file, line, column), document, FieldKind.TAG, old, "x", old, None, PolicySpec("semver:*"), "test")
    return Change(occ, old, new, "", "", "test")


@pytest.mark.parametrize(
    ("text", "col", "old", "new", "expected"),
    [
        ("tag: 1.0.0\n", 6, "1.0.0", "1.1.0", "tag: 1.1.0\n"),
        ("tag: '1.0'\n", 6, "1.0", "1.20", "tag: '1.20'\n"),
        ('tag: "1.0"\n', 6, "1.0", "1.20", 'tag: "1.20"\n'),
        # a plain value whose new form would change type or tokenisation is double-quoted
        ("tag: v1\n", 6, "v1", "1.20", 'tag: "1.20"\n'),
        ("tag: v1\n", 6, "v1", "on", 'tag: "on"\n'),  # a bool in YAML 1.1 (Kubernetes)
        ("tag: v1\n", 6, "v1", "0777", 'tag: "0777"\n'),
        ("tag: v1\n", 6, "v1", "12:30", 'tag: "12:30"\n'),  # sexagesimal in YAML 1.1
        ("tag: v1\n", 6, "v1", "null", 'tag: "null"\n'),
        ("tag: v1\n", 6, "v1", "a #b", 'tag: "a #b"\n'),
        ("tag: v1\n", 6, "v1", "", 'tag: ""\n'),
        ("tag: v1\n", 6, "v1", '-"x\\', 'tag: "-\\"x\\\\"\n'),
        ("tag: 'v1'\n", 6, "v1", "it's", "tag: 'it''s'\n"),
        ("tag: v1 # keep\n", 6, "v1", "v2", "tag: v2 # keep\n"),
        ("- {name: c, image: a:1}\n", 20, "a:1", "a:2", "- {name: c, image: a:2}\n"),
        ("x: [a:1, b]\n", 5, "a:1", "a:22", "x: [a:22, b]\n"),
        ("k: 'it''s'\n", 4, "it's", "v2", "k: 'v2'\n"),
        ('k: "a\\tb"\n', 4, "a\tb", "v2", 'k: "v2"\n'),
        ("é: ünïcode:1 # ü\n", 4, "ünïcode:1", "ünïcode:2", "é: ünïcode:2 # ü\n"),
    ],
)
def test_splice_keeps_the_style(text: str, col: int, old: str, new: str, expected: str):
    assert edit_text(text.encode(), [change(1, col, old, new)]) == expected.encode()


@pytest.mark.parametrize(
    ("text", "line", "col", "old", "reason"),
    [
        ("k: &a v1\nj: *a\n", 1, 4, "v1", "anchor"),
        ("k: |\n  v1\n", 1, 4, "v1\n", "block scalar"),
        ("k: >-\n  v1\n", 1, 4, "v1", "block scalar"),
        ("k: v1\n  v1b\n", 1, 4, "v1 v1b", "several lines"),
        ('k: "v1\n  v1b"\n', 1, 4, "v1 v1b", "several lines"),
        ("k: !!str v1\n", 1, 4, "v1", "explicit tag"),
        ("k: v1\n", 1, 4, "v0", "was expected"),
        ("k: v1\n", 1, 5, "v1", "no YAML value starts at f.yaml:1:5"),
        ("k: v1\n---\nk: v2\n", 1, 4, "v1", "document 0, not 1"),
    ],
)
def test_unsafe_edits_are_refused(text: str, line: int, col: int, old: str, reason: str):
    doc = 1 if "not 1" in reason else 0
    with pytest.raises(EditError, match=reason):
        edit_text(text.encode(), [change(line, col, old, "v9", document=doc)])


def test_control_characters_are_refused():
    with pytest.raises(EditError, match="control character"):
        edit_text(b"k: v1\n", [change(1, 4, "v1", "v\n2")])


def test_two_changes_to_one_value_refuse_the_second():
    after, made, refused = edit_file(b"k: v1\n", [change(1, 4, "v1", "v2"), change(1, 4, "v1", "v3")])
    assert after == b"k: v2\n" and len(made) == 1
    assert "already rewrites this value" in refused[0].reason


def test_many_changes_in_one_pass_keep_positions():
    text = b"a: x:1\n---\nb: [x:1, 'x:1', \"x:1\"]\nc: x:1 # x:1\n"
    changes = [change(1, 4, "x:1", "x:10000"), change(3, 5, "x:1", "x:2", document=1),
               change(3, 10, "x:1", "x:33", document=1), change(3, 17, "x:1", "x:444", document=1),
               change(4, 4, "x:1", "x:5", document=1)]
    assert edit_text(text, changes) == b"a: x:10000\n---\nb: [x:2, 'x:33', \"x:444\"]\nc: x:5 # x:1\n"


def test_verify_catches_other_values_and_types():
    docs = compose("a: 1\nb: x\n")
    a = docs[0].value[0][1]
    verify(docs, "a: '2'\nb: x\n", {id(a): "2"})
    with pytest.raises(EditError, match="not the string '2'"):
        verify(docs, "a: 2\nb: x\n", {id(a): "2"})  # an int, not the string
    with pytest.raises(EditError, match=r"b \(line 2\) would change"):
        verify(docs, "a: '2'\nb: y\n", {id(a): "2"})
    with pytest.raises(EditError, match="no longer valid YAML"):
        verify(docs, "a: [\n", {})
    with pytest.raises(EditError, match="documents"):
        verify(docs, "a: 1\nb: x\n---\n", {})


def test_plain_safety():
    assert plain_is_safe("ghcr.io/org/app:1.2.3@sha256:" + "a" * 64)
    assert plain_is_safe("1.2.3") and plain_is_safe("v1.20") and plain_is_safe("1.25-alpine")
    for bad in ("1.20", "1", "1e3", "yes", "Off", "~", ".inf", "-1", "a b", "a:", "@x", "!x", "*x", "&x", "[x]"):
        assert not plain_is_safe(bad), bad
    assert render_token("1.20", None) == '"1.20"'


def test_render_reads_but_never_writes_and_reports_per_file(tmp_path: Path):
    (tmp_path / "ok.yaml").write_bytes(b"a: v1\r\nb: &x v1\r\n")
    (tmp_path / "bad.yaml").write_bytes(b"a: [v1\n")
    (tmp_path / "latin1.yaml").write_bytes(b"a: v1 # \xe9\n")
    changes = [
        change(1, 4, "v1", "v2", file="ok.yaml"),
        change(2, 4, "v1", "v2", file="ok.yaml"),
        change(1, 5, "v1", "v2", file="bad.yaml"),
        change(1, 4, "v1", "v2", file="latin1.yaml"),
        change(1, 4, "v1", "v2", file="missing.yaml"),
    ]
    rendered = render(tmp_path, changes)
    assert [(e.path, e.before, e.after, len(e.changes)) for e in rendered.edits] == [
        ("ok.yaml", b"a: v1\r\nb: &x v1\r\n", b"a: v2\r\nb: &x v1\r\n", 1)
    ]
    reasons = {r.change.file: r.reason for r in rendered.refused}
    assert "anchor" in reasons["ok.yaml"]
    assert "not valid YAML (line 2" in reasons["bad.yaml"]
    assert "not UTF-8" in reasons["latin1.yaml"]
    assert "cannot read missing.yaml" in reasons["missing.yaml"]
    assert (tmp_path / "ok.yaml").read_bytes() == b"a: v1\r\nb: &x v1\r\n"


def test_edit_text_names_the_location_of_a_refusal():
    with pytest.raises(EditError, match=r"^f.yaml:1:4: the value has an anchor"):
        edit_text(b"a: &x v1\n", [change(1, 4, "v1", "v2")])
    assert edit_text(b"a: v1", []) == b"a: v1"


# -- plain_is_safe reads ruamel's resolver tables directly: the same answer as its resolve ---------

_TRICKY = ["yes", "Yes", "NO", "on", "off", "y", "n", "true", "False", "null", "Null", "~", "", "0777", "0o17", "0x1F",
           "1_000", "12:30", "190:20:30", "1e3", "1.0e+3", ".inf", "-.inf", ".nan", ".NaN", "1.20", "1.2.3", "v1.20",
           "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "=", "<<", "1.25-alpine",
           "latest", "sha256:" + "0" * 64, "127.0.0.1:5000/app:1.0", "+1", "-1", "+.5", "0b1010", "0.", ".5", "1:2:3.5",
           "4:20", "-12:30", "2024.01.02", "20240102", "1e", "E1", "0", "00", "08", "0_1", "y1", "ON1", "nulls"]


def _ruamel_says_str(value: str) -> bool:
    from ruamel.yaml.nodes import ScalarNode

    from imagebot.apply import token
    return all(str(r.resolve(ScalarNode, value, (True, False))) == token.STR_TAG for r in token._RESOLVERS)


def test_the_resolver_tables_answer_as_ruamels_resolve() -> None:
    from imagebot.apply import token
    values = list(_TRICKY) + [f"{a}{b}" for a in "0123456789.+-~yYnNoOtTfF" for b in ("", "0", ".1", ":30", "e5", "x1")]
    for value in values:
        assert all(token._reads_as_str(t, value) for t in token._TABLES) == _ruamel_says_str(value), value


def test_every_real_world_tag_reads_as_ruamels_resolve_says() -> None:
    import json

    from imagebot.apply import token
    from tests.conftest import shared_path
    registry = json.loads(shared_path("realworld", "registry.json").read_text())
    tags = {t for repo in registry["repositories"].values() for t in repo.get("tags", [])}
    assert len(tags) > 300
    for value in sorted(tags):
        assert all(token._reads_as_str(t, value) for t in token._TABLES) == _ruamel_says_str(value), value
