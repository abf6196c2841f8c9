"""apply's render cache (issue #21): a second run with the same bytes and changes gives the same
edit without parsing again; anything that does not fit exactly is recomputed, never trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagebot import apply, cores
from imagebot.apply import RenderCache, render
from tests.unit.test_apply import change

TEXT = "a: 1.0.0\nb: '2.0'\nc: &x v1\nd: *x\n"
CHANGES = [change(1, 4, "1.0.0", "1.1.0"), change(2, 4, "2.0", "2.1"), change(3, 4, "v1", "v2")]


def run(tmp_path: Path, cache_file: Path):
    (tmp_path / "tree").mkdir(exist_ok=True)
    (tmp_path / "tree" / "f.yaml").write_text(TEXT)
    cache = RenderCache(cache_file)
    return render(tmp_path / "tree", CHANGES, cache), cache


@pytest.fixture
def composes(monkeypatch):
    calls = []
    real = apply.compose

    def counting(text):
        calls.append(1)
        return real(text)

    monkeypatch.setattr(apply, "compose", counting)
    return calls


def test_the_second_run_is_the_same_edit_without_a_parse(tmp_path, composes):
    cache_file = tmp_path / "render.json"
    first, c1 = run(tmp_path, cache_file)
    assert c1.misses == 1 and composes
    assert first.edits[0].after == b"a: 1.1.0\nb: '2.1'\nc: &x v1\nd: *x\n"
    assert [r.reason for r in first.refused] == ["the value has an anchor (&x): its aliases would change too"]
    composes.clear()
    second, c2 = run(tmp_path, cache_file)
    assert c2.hits == 1 and not composes
    assert second == first


@pytest.mark.parametrize("damage", [
    lambda d: d["entries"].update({k: {"splices": [[0, 3, 9, "1.1.0"]], "refused": []} for k in d["entries"]}),
    lambda d: d["entries"].update({k: {"splices": [[0, 3, 8, "evil"], [1, 13, 18, "'2.1'"]], "refused": [[2, "x"]]}
                                   for k in d["entries"]}),
    lambda d: d.update(code="another version"),
    lambda d: d.update(tool="othertool"),
    lambda d: d["entries"].update({k: "garbage" for k in d["entries"]}),
    # the right places and tokens, but numbers and reasons of the wrong type: JSON's own types only
    lambda d: d["entries"].update({k: {**e, "splices": [["0", *s[1:]] if s[0] == 0 else s for s in e["splices"]]}
                                   for k, e in d["entries"].items()}),
    lambda d: d["entries"].update({k: {**e, "splices": [[True, *s[1:]] if s[0] == 1 else s for s in e["splices"]]}
                                   for k, e in d["entries"].items()}),
    lambda d: d["entries"].update({k: {**e, "refused": [[i, 7] for i, _ in e["refused"]]} for k, e in d["entries"].items()}),
])
def test_an_entry_that_does_not_fit_is_recomputed(tmp_path, damage, composes):
    cache_file = tmp_path / "render.json"
    first, _ = run(tmp_path, cache_file)
    data = json.loads(cache_file.read_text())
    damage(data)
    cache_file.write_text(json.dumps(data))
    composes.clear()
    second, c2 = run(tmp_path, cache_file)
    assert c2.hits == 0 and composes
    assert second == first
    assert json.loads(cache_file.read_text())["tool"] == "imagebot"  # rewritten


def test_a_truncated_file_is_recomputed(tmp_path):
    cache_file = tmp_path / "render.json"
    first, _ = run(tmp_path, cache_file)
    cache_file.write_bytes(cache_file.read_bytes()[:30])
    second, c2 = run(tmp_path, cache_file)
    assert c2.hits == 0 and second == first


def test_other_bytes_are_another_entry(tmp_path):
    cache_file = tmp_path / "render.json"
    run(tmp_path, cache_file)
    (tmp_path / "tree" / "f.yaml").write_text(TEXT + "# touched\n")
    cache = RenderCache(cache_file)
    out = render(tmp_path / "tree", CHANGES, cache)
    assert cache.misses == 1 and out.edits[0].after.endswith(b"# touched\n")


def test_the_key_names_every_input_of_the_edit():
    cache = RenderCache(None)
    keys = {cache.key(TEXT.encode(), CHANGES), cache.key(TEXT.encode() + b"#", CHANGES),
            cache.key(TEXT.encode(), CHANGES[:2]), cache.key(TEXT.encode(), [CHANGES[1], CHANGES[0], CHANGES[2]]),
            cache.key(TEXT.encode(), [change(1, 4, "1.0.0", "1.2.0"), *CHANGES[1:]]),
            cache.key(TEXT.encode(), [change(1, 5, "1.0.0", "1.1.0"), *CHANGES[1:]]),
            cache.key(TEXT.encode(), [change(2, 4, "1.0.0", "1.1.0"), *CHANGES[1:]])}
    assert len(keys) == 7
    assert cache.key(TEXT.encode(), CHANGES) == RenderCache(None).key(TEXT.encode(), list(CHANGES))


def test_a_cold_render_on_two_cores_is_the_one_process_render(tmp_path, monkeypatch):
    """Files the cache does not answer are edited by the parsing worker too (imagebot.cores):
    the same edits, refusals and cache entries, file by file, in the same order."""
    tree = tmp_path / "tree"
    tree.mkdir()
    changes = []
    for i in range(450):
        name = f"f{i:03d}.yaml"
        if i % 50 == 7:
            (tree / name).write_bytes(b"a: 1.0.0\nb: '\xff'\n")  # not UTF-8: refused
        elif i % 50 == 9:
            pass  # missing: cannot read
        else:
            (tree / name).write_text(TEXT)
        changes += [change(1, 4, "1.0.0", f"1.{i}.0", file=name), change(3, 4, "v1", "v2", file=name)]
    monkeypatch.setenv(cores.ENV, "0")
    one = render(tree, changes, RenderCache(tmp_path / "one.json"))
    monkeypatch.setenv(cores.ENV, "1")
    used = []
    real = cores._pool
    monkeypatch.setattr(cores, "_pool", lambda *a: used.append(1) or real(*a))
    monkeypatch.setattr(apply, "edit_file", _slowly(apply.edit_file))  # so that the worker's chunks are its own
    two = render(tree, changes, RenderCache(tmp_path / "two.json"))
    assert used == [1]
    assert two == one
    # 432 readable UTF-8 files, one of which (f000: 1.0.0 -> 1.0.0) does not change; refused: the
    # anchored value in each of those, both changes of the 9 non-UTF-8 and of the 9 missing files
    assert (len(one.edits), len(one.refused)) == (431, 432 + 18 + 18)
    entries = [json.loads((tmp_path / f).read_text())["entries"] for f in ("one.json", "two.json")]
    assert entries[0] == entries[1] and len(entries[0]) == 432  # a non-UTF-8 file's refusal is not kept


def _slowly(edit_file):
    import time

    def slow(*a, **kw):
        time.sleep(0.002)
        return edit_file(*a, **kw)
    return slow
