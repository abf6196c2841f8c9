"""discover's cache on disk (imagebot.discover.store): a new process with the same store answers
exactly as a fresh scan, reading and parsing only what changed; a damaged, foreign or outdated
store is ignored and rewritten, never trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagebot.config.schema import NamedPolicy, Rule
from imagebot.discover import DiscoverCache, scan, scan_settings, store
from tests.support.manifests import deployment as workload
from tests.unit.test_discover_cache import FILES, HOST, POLICIES, SCENARIOS, write

KW: dict[str, Any] = {"policies": POLICIES, "exclude": ["vendor"]}


def new_process(path: Path, **kw: Any) -> DiscoverCache:
    """A cache as a new process has it: nothing in memory, the store at `path`."""
    return DiscoverCache(path=path, **kw)


def stored(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, FILES)
    return root


def test_a_new_process_at_the_same_revision_reads_and_parses_nothing(repo: Path, tmp_path: Path):
    path = tmp_path / "discover.json"
    first = scan(repo, cache=new_process(path), revision="c1", **KW)
    assert path.exists()
    cache = new_process(path)
    again = scan(repo, cache=cache, revision="c1", **KW)
    assert again == first == scan(repo, **KW)
    assert (cache.stats.reused, cache.stats.reread, cache.stats.evaluated, cache.stats.parsed) == (len(cache), 0, 0, 0)
    assert again.files_parsed == first.files_parsed > 0


def test_without_a_revision_settled_files_are_trusted_by_stat(repo: Path, tmp_path: Path):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path, racy_window=0), **KW)
    cache = new_process(path, racy_window=0)
    assert scan(repo, cache=cache, **KW) == scan(repo, **KW)
    assert (cache.stats.evaluated, cache.stats.parsed) == (0, 0) and cache.stats.reused == len(cache)


def test_nothing_changed_nothing_written(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), revision="c1", **KW)
    writes: list[Path] = []
    real = store.save
    monkeypatch.setattr(store, "save", lambda p, *a: (writes.append(p), real(p, *a)))
    scan(repo, cache=new_process(path), revision="c1", **KW)
    assert writes == []
    (repo / "apps/a.yaml").write_text(workload("a", f"{HOST}/team/alpha:1.0.1"))
    scan(repo, cache=new_process(path), revision="c2", **KW)
    assert writes == [path]


@pytest.mark.parametrize("images", [None, [f"{HOST}/team/alpha"], [f"{HOST}/team/web"]], ids=["full", "alpha", "web"])
@pytest.mark.parametrize("step", list(SCENARIOS), ids=list(SCENARIOS))
def test_a_new_process_after_each_change_equals_a_fresh_scan(repo: Path, tmp_path: Path, step: str,
                                                             images: list[str] | None):
    path = tmp_path / "discover.json"
    kw = {**KW, "images": images}
    scan(repo, cache=new_process(path), **KW)  # a full scan stored
    SCENARIOS[step](repo)
    assert scan(repo, cache=new_process(path), **kw) == scan(repo, **kw)
    assert scan(repo, cache=new_process(path), **KW) == scan(repo, **KW)


def test_a_changed_file_is_the_only_one_parsed(repo: Path, tmp_path: Path):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), revision="c1", **KW)
    (repo / "apps/b.yaml").write_text(workload("b", f"{HOST}/team/beta:1.2.1"))
    cache = new_process(path)
    assert cache.revision == "c1"  # what the pipeline asks first, to know what changed since
    got = scan(repo, cache=cache, revision="c2", since=("c1", frozenset({"apps/b.yaml"})), **KW)
    assert got == scan(repo, **KW)
    assert (cache.stats.evaluated, cache.stats.parsed) == (1, 1)


def test_a_targeted_scan_reads_the_bytes_it_needs(repo: Path, tmp_path: Path):
    """Entries are stored without the bytes: a targeted scan (it searches them for the images'
    names) and a parse of a file screened but not parsed before read the file."""
    path = tmp_path / "discover.json"
    web = [f"{HOST}/team/web"]
    scan(repo, cache=new_process(path), revision="c1", images=web, **KW)  # parses values/web.yaml only
    cache = new_process(path)
    assert scan(repo, cache=cache, revision="c1", **KW) == scan(repo, **KW)  # parses the others now
    assert cache.stats.evaluated == 0 and cache.stats.parsed > 0
    cache = new_process(path)
    for images in (web, [f"{HOST}/team/alpha"]):
        assert scan(repo, cache=cache, revision="c1", images=images, **KW) == scan(repo, images=images, **KW)
    assert (cache.stats.evaluated, cache.stats.parsed) == (0, 0)


def test_bytes_that_differ_from_the_stored_digest_are_evaluated_afresh(repo: Path, tmp_path: Path):
    """A stored entry is reused without reading at the same revision; when a scan needs the bytes
    after all and they are not the ones the entry was made from, they are screened and parsed anew."""
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), revision="c1", **KW)
    (repo / "apps/a.yaml").write_text(workload("a", f"{HOST}/team/alpha:1.0.3"))  # behind the revision's back
    cache = new_process(path)
    alpha = [f"{HOST}/team/alpha"]
    got = scan(repo, cache=cache, revision="c1", images=alpha, **KW)
    assert got == scan(repo, images=alpha, **KW) and any(o.tag == "1.0.3" for o in got.occurrences)
    assert cache.stats.evaluated == 1


def _damage(path: Path, how: str) -> None:
    data = stored(path)
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "not json":
        path.write_bytes(b"\x80\x04\x95 a pickle, say")
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "a list":
        path.write_text("[1, 2, 3]")
    elif how == "another tool":
        path.write_text(json.dumps({**data, "tool": "renovate"}))
    elif how == "another cache":
        path.write_text(json.dumps({**data, "cache": "render"}))
    elif how == "another format":
        path.write_text(json.dumps({**data, "format": store.FORMAT + 1}))
    elif how == "another code":
        path.write_text(json.dumps({**data, "code": "0" * 64}))
    elif how == "another scope":
        path.write_text(json.dumps({**data, "scope": "0" * 64}))
    elif how == "entries of the wrong shape":
        path.write_text(json.dumps({**data, "entries": [1, 2]}))
    elif how == "pinned of the wrong shape":
        path.write_text(json.dumps({**data, "pinned": {"c1": 1}}))
    elif how == "deeply nested":
        path.write_text('{"tool": ' + "[" * 100_000 + "]" * 100_000 + "}")
    else:
        raise AssertionError(how)


DAMAGE = ["truncated", "not json", "empty", "a list", "another tool", "another cache", "another format", "another code",
          "another scope", "entries of the wrong shape", "pinned of the wrong shape", "deeply nested"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_or_foreign_store_is_ignored_and_rewritten(repo: Path, tmp_path: Path, how: str):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), revision="c1", **KW)
    _damage(path, how)
    (repo / "apps/a.yaml").write_text(workload("a", f"{HOST}/team/alpha:1.0.4"))  # what a trusted store would hide
    cache = new_process(path)
    got = scan(repo, cache=cache, revision="c1", **KW)
    assert got == scan(repo, **KW) and any(o.tag == "1.0.4" for o in got.occurrences)
    if how != "pinned of the wrong shape":  # the entries themselves are good: only a walk and stats again
        assert cache.stats.parsed == got.files_parsed
    rewritten = new_process(path)
    assert scan(repo, cache=rewritten, revision="c1", **KW) == got
    assert rewritten.stats.parsed == 0


def _first_occurrence_entry(data: dict[str, Any]) -> str:
    return next(rel for rel, e in data["entries"].items() if e[9])


@pytest.mark.parametrize("how", ["a string for a line", "an unknown field kind", "a policy index out of range",
                                 "a negative policy index", "too short", "a bad digest", "not a list"])
def test_an_entry_that_does_not_decode_is_read_and_parsed_again(repo: Path, tmp_path: Path, how: str):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), revision="c1", **KW)
    data = stored(path)
    rel = _first_occurrence_entry(data)
    entry = data["entries"][rel]
    if how == "a string for a line":
        entry[9][0][0] = "7"
    elif how == "an unknown field kind":
        entry[9][0][3] = "everything"
    elif how == "a policy index out of range":
        entry[9][0][8] = len(data["policies"])
    elif how == "a negative policy index":
        entry[9][0][8] = -1
    elif how == "too short":
        data["entries"][rel] = entry[:5]
    elif how == "a bad digest":
        entry[6] = "not hex"
    elif how == "not a list":
        data["entries"][rel] = {"occurrences": []}
    path.write_text(json.dumps(data))
    cache = new_process(path)
    assert scan(repo, cache=cache, revision="c1", **KW) == scan(repo, **KW)
    assert (cache.stats.evaluated, cache.stats.parsed) == (1, 1)


def test_a_location_of_another_file_is_never_stored(repo: Path, tmp_path: Path):
    """The store keeps line and column only: an entry's locations are its own file's."""
    path = tmp_path / "discover.json"
    cache = new_process(path)
    scan(repo, cache=cache, revision="c1", **KW)
    data = stored(path)
    rel = _first_occurrence_entry(data)
    # what a scan would find if the entry named another file: it is left out, and parsed again next time
    from dataclasses import replace
    entry = cache._entries[rel]
    occ = entry.result.occurrences[0]
    cache._entries[rel] = replace(entry, result=replace(entry.result, occurrences=(
        replace(occ, location=replace(occ.location, file="../elsewhere.yaml")),)))
    cache._dirty = True
    cache._save()
    assert rel not in stored(path)["entries"]


def test_changed_settings_start_afresh(repo: Path, tmp_path: Path):
    path = tmp_path / "discover.json"
    other = {"gamma": NamedPolicy.model_validate({"image": f"{HOST}/team/gamma", "policy": "semver:^3"})}
    for kw in (KW, {**KW, "policies": other}, {**KW, "rules": [Rule.model_validate({"policy": "minor"})]}, KW):
        cache = new_process(path)
        assert scan(repo, cache=cache, revision="c1", **kw) == scan(repo, **kw)
        assert cache.stats.parsed > 0  # nothing taken from the store of other settings
        cache = new_process(path)
        assert scan(repo, cache=cache, revision="c1", **kw) == scan(repo, **kw)
        assert cache.stats.parsed == 0


def test_another_version_of_imagebot_starts_afresh(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), revision="c1", **KW)
    monkeypatch.setattr(store, "_CODE", "another version")
    cache = new_process(path)
    assert scan(repo, cache=cache, revision="c1", **KW) == scan(repo, **KW)
    assert cache.stats.parsed > 0
    assert stored(path)["code"] == "another version"


def test_the_code_fingerprint_covers_every_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from imagebot import cachefile

    def fingerprint() -> str:  # a new process: the fingerprint is read once per process
        cachefile._module_digest.cache_clear()
        cachefile._package_modules.cache_clear()
        return cachefile.code_fingerprint("t")

    fake = tmp_path / "imagebot"
    (fake / "discover").mkdir(parents=True)
    (fake / "model.py").write_text("A = 1\n")
    (fake / "discover" / "x.py").write_text("B = 1\n")
    monkeypatch.setattr(cachefile, "_PACKAGE", fake)
    before = fingerprint()
    (fake / "model.py").write_text("A = 2\n")
    assert fingerprint() != before
    (fake / "model.py").write_text("A = 1\n")
    assert fingerprint() == before
    (fake / "discover" / "y.py").write_text("")
    with_y = fingerprint()
    assert with_y != before
    (fake / "discover" / "__pycache__").mkdir()
    (fake / "discover" / "__pycache__" / "z.py").write_text("")
    assert fingerprint() == with_y  # byte-code directories are not the code
    (fake / "model.py").write_text("A = 3\n")
    assert cachefile.code_fingerprint("t") == with_y  # within a process: the code it loaded


_SETTINGS = """
import sys
from imagebot.config.schema import NamedPolicy, Rule
from imagebot.discover import scan_settings, store
policies = {n: NamedPolicy.model_validate({"image": f"r.example/{n}", "policy": "semver:^1", "tag-filter": "^v"})
            for n in ("b", "a", "c")}
rules = [Rule.model_validate({"policy": "minor", "match": {"kind": ["container", "image"], "image": "r.example/*"}})]
print(store.scope_key("/clone", scan_settings(policies, False, True, rules, frozenset({"keel", "argocd-image-updater"}))))
"""


def test_the_settings_fingerprint_is_the_same_in_every_process():
    keys = set()
    for seed in ("0", "1", "12345"):
        out = subprocess.run([sys.executable, "-c", _SETTINGS], capture_output=True, text=True, check=True, timeout=60,
                             env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(__file__).parents[2])})
        keys.add(out.stdout.strip())
    assert len(keys) == 1 and len(next(iter(keys))) == 64


def test_the_settings_fingerprint_tells_settings_apart():
    a = {"a": NamedPolicy.model_validate({"image": "r.example/a", "policy": "semver:^1"})}
    b = {"a": NamedPolicy.model_validate({"image": "r.example/a", "policy": "semver:^2"})}
    keys = {store.scope_key("/clone", scan_settings(p, parse_all, False, (), frozenset()))
            for p in (a, b) for parse_all in (False, True)}
    keys.add(store.scope_key("/other", scan_settings(a, False, False, (), frozenset())))
    assert len(keys) == 5


def test_lanes_sharing_a_cache_dir_have_a_store_each(tmp_path: Path):
    """Two lanes over one repository share its clone, not its store (pipeline.lane_cache_path)."""
    from types import SimpleNamespace

    from imagebot import pipeline
    from imagebot.config.schema import Config

    cfg = Config.model_validate({"repository": {"url": "https://git.example/x.git"}, "cache_dir": str(tmp_path)})
    ws = SimpleNamespace(root=tmp_path / "repos" / "git" / "x")
    paths = {pipeline.lane_cache_path(cfg, ws, lane, "discover") for lane in ("staging", "production", "")}  # type: ignore[arg-type]
    assert len(paths) == 3 and {p.parent for p in paths} == {tmp_path / "discover"}


def test_an_unwritable_store_costs_speed_not_the_scan(repo: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = new_process(blocker / "discover.json")  # its folder cannot be made
    assert scan(repo, cache=cache, revision="c1", **KW) == scan(repo, **KW)


def test_only_files_the_last_scan_walked_are_kept(repo: Path, tmp_path: Path):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), **KW)
    (repo / "apps/b.yaml").unlink()
    scan(repo, cache=new_process(path), exclude=["vendor", "values"], policies=POLICIES)
    assert set(stored(path)["entries"]) == {rel for rel in FILES if not rel.startswith(("vendor/", "values/"))} - {"apps/b.yaml"}


@pytest.mark.parametrize("bad", ["../outside.yaml", "/etc/passwd.yaml", "apps/../../x.yaml", "", "apps//a.yaml"])
def test_a_pinned_walk_leading_outside_the_clone_is_not_trusted(repo: Path, tmp_path: Path, bad: str):
    path = tmp_path / "discover.json"
    scan(repo, cache=new_process(path), revision="c1", **KW)
    data = stored(path)
    data["pinned"][3].append(bad)
    path.write_text(json.dumps(data))
    cache = new_process(path)
    assert scan(repo, cache=cache, revision="c1", **KW) == scan(repo, **KW)  # walked again
    assert cache.stats.parsed == 0  # the entries themselves still hold


def test_a_stored_revision_reaches_git_only_as_a_commit_id(tmp_path: Path):
    from imagebot import pipeline

    class Workspace:
        def modified_between(self, old: str, new: str) -> frozenset[str]:
            return frozenset({"a.yaml"})

    head = "b" * 40
    assert pipeline._since(Workspace(), "a" * 40, head) == ("a" * 40, frozenset({"a.yaml"}))  # type: ignore[arg-type]
    for previous in ("--output=/tmp/x", "c1", "A" * 40, "a" * 39, head):
        assert pipeline._since(Workspace(), previous, head) is None  # type: ignore[arg-type]


def test_the_last_images_are_read_without_decoding_the_entries(repo: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "discover.json"
    first = scan(repo, cache=new_process(path), revision="c1", **KW)
    images = frozenset(o.image for o in first.occurrences)
    assert images and stored(path)["images"] == sorted(images)
    assert json.loads(store.images_path(path).read_text())["scan"]["images"] == sorted(images)
    decoded: list[Path] = []
    read: list[Path] = []
    real_decode, real_read = store.decode, store.read
    monkeypatch.setattr(store, "decode", lambda data, p: decoded.append(p) or real_decode(data, p))
    monkeypatch.setattr(store, "read", lambda p: read.append(p) or real_read(p))
    cache = new_process(path)
    assert cache.last_images() == images and read == [] and decoded == []  # the small file beside it only
    assert scan(repo, cache=cache, revision="c1", **KW) == first and decoded == [path]  # decoded once, by the scan
    assert read == [path]
    # without the small file (or with a damaged one), the store's header list: still no entry decoded
    for damage in (None, "not json", json.dumps({"tool": "imagebot", "cache": "discover-images", "format": 1,
                                                 "code": store.code(), "scan": {"images": [1, 2]}})):
        if damage is None:
            store.images_path(path).unlink()
        else:
            store.images_path(path).write_text(damage)
        decoded.clear()
        cache = new_process(path)
        assert cache.last_images() == images and decoded == []


def test_a_store_that_does_not_list_its_images_is_decoded_for_them(repo: Path, tmp_path: Path):
    path = tmp_path / "discover.json"
    first = scan(repo, cache=new_process(path), revision="c1", **KW)
    for listed in (None, "not a list", [1, 2]):
        data = stored(path)
        if listed is None:
            del data["images"]
        else:
            data["images"] = listed
        path.write_text(json.dumps(data))
        store.images_path(path).unlink(missing_ok=True)  # nor beside it
        cache = new_process(path)
        assert cache.last_images() == frozenset(o.image for o in first.occurrences)
        assert scan(repo, cache=cache, revision="c1", **KW) == first
        assert cache.stats.parsed == 0
