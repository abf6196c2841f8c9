"""discover's per-file cache: after any change to the checkout or the settings, a scan with the
cache returns exactly what a fresh scan returns; unchanged files are neither read nor parsed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imagebot.config.schema import NamedPolicy
from imagebot.discover import DiscoverCache, scan
from imagebot.discover.cache import FileResult
from imagebot.model import Discovery
from tests.support.manifests import deployment as workload
from tests.support.gitrepo import commit_all, git

HOST = "registry.example.com"


FILES = {
    "apps/a.yaml": workload("a", f"{HOST}/team/alpha:1.0.0"),
    "apps/b.yaml": workload("b", f"{HOST}/team/beta:1.2.0"),
    "apps/c.yml": workload("c", f"{HOST}/team/alpha:1.1.0", "minor"),
    "apps/broken.yaml": "kind: Deployment\nmetadata: {name: [\n# imagebot: semver:^1\n",
    "values/web.yaml": f"image:\n  repository: {HOST}/team/web # {{\"$imagebot\": \"web:name\"}}\n  tag: 2.0.0 # {{\"$imagebot\": \"web:tag\"}}\n",
    "base/kustomization.yaml": "images:\n  - name: gamma\n    newName: registry.example.com/team/gamma\n    newTag: 3.0.0\n",
    "config/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n",
    "vendor/lib.yaml": workload("vendored", f"{HOST}/team/alpha:0.9.0"),
}
POLICIES = {
    "web": NamedPolicy.model_validate({"image": f"{HOST}/team/web", "policy": "semver:^2"}),
    "gamma": NamedPolicy.model_validate({"image": f"{HOST}/team/gamma", "policy": "minor"}),
}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def same_size_edit(root: Path, rel: str, old: str, new: str) -> None:
    """Rewrite `rel` with `old` replaced by `new` (same length), then put the old mtime back:
    what a `git checkout` of another version of the file can look like to stat."""
    assert len(old) == len(new)
    p = root / rel
    st = p.stat()
    p.write_text(p.read_text().replace(old, new))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_size == st.st_size and p.stat().st_mtime_ns == st.st_mtime_ns


def rename(root: Path, a: str, b: str) -> None:
    (root / b).parent.mkdir(parents=True, exist_ok=True)
    (root / a).rename(root / b)


Step = Callable[[Path], Any]
SCENARIOS: dict[str, Step] = {
    "nothing changed": lambda r: None,
    "a tag edited": lambda r: (r / "apps/a.yaml").write_text(workload("a", f"{HOST}/team/alpha:1.0.10")),
    "same size and mtime, other tag": lambda r: same_size_edit(r, "apps/b.yaml", "1.2.0", "1.3.0"),
    "same size and mtime, other image": lambda r: same_size_edit(r, "apps/a.yaml", "alpha", "omega"),
    "policy removed, same size": lambda r: same_size_edit(r, "apps/c.yml", "imagebot.io/policy", "imagebot.io/xolicy"),
    "a file deleted": lambda r: (r / "apps/b.yaml").unlink(),
    "a file renamed": lambda r: rename(r, "apps/a.yaml", "apps/renamed/a.yaml"),
    "renamed onto another file": lambda r: (r / "apps/a.yaml").replace(r / "apps/b.yaml"),
    "a new file": lambda r: write(r, {"apps/new.yaml": workload("new", f"{HOST}/team/delta:1.0.0")}),
    "a broken file fixed": lambda r: write(r, {"apps/broken.yaml": workload("fixed", f"{HOST}/team/beta:1.0.0")}),
    "a good file broken": lambda r: write(r, {"apps/a.yaml": "kind: [\n# imagebot: semver:^1\n"}),
    "a marker added to a plain file": lambda r: write(r, {"config/settings.yaml": FILES["config/settings.yaml"]
                                                          + f"  image: {HOST}/team/eps:1.0.0 # imagebot: semver:^1\n"}),
    "a kustomization emptied": lambda r: write(r, {"base/kustomization.yaml": ""}),
    "a folder removed": lambda r: [p.unlink() for p in (r / "apps").glob("*.y*ml")],
}


def fresh(root: Path, **kw: Any) -> Discovery:
    return scan(root, **kw)


@pytest.mark.parametrize("images", [None, [f"{HOST}/team/alpha"], [f"{HOST}/team/web"]], ids=["full", "alpha", "web"])
@pytest.mark.parametrize("step", list(SCENARIOS), ids=list(SCENARIOS))
def test_a_cached_scan_equals_a_fresh_scan_after_each_change(tmp_path: Path, step: str, images: list[str] | None):
    write(tmp_path, FILES)
    cache = DiscoverCache()
    kw = {"policies": POLICIES, "exclude": ["vendor"], "images": images}
    assert scan(tmp_path, cache=cache, **kw) == fresh(tmp_path, **kw)
    assert scan(tmp_path, cache=cache, **kw) == fresh(tmp_path, **kw)  # the warm path, before the change
    SCENARIOS[step](tmp_path)
    got = scan(tmp_path, cache=cache, **kw)
    assert got == fresh(tmp_path, **kw)
    assert len(cache) == got.files_scanned  # nothing kept for paths the walk no longer finds
    # A full scan after targeted ones (and the other way round) sees everything too.
    assert scan(tmp_path, cache=cache, policies=POLICIES, exclude=["vendor"]) == fresh(tmp_path, policies=POLICIES, exclude=["vendor"])
    assert scan(tmp_path, cache=cache, **kw) == fresh(tmp_path, **kw)


def test_every_change_in_a_row_with_one_cache(tmp_path: Path):
    """The agent's case: one cache through many cycles, each after another change."""
    write(tmp_path, FILES)
    cache = DiscoverCache()
    for name, step in SCENARIOS.items():
        write(tmp_path, FILES)  # back to the start (itself a change), then this step's change
        step(tmp_path)
        for images in (None, [f"{HOST}/team/alpha"], [f"{HOST}/team/gamma"]):
            got = scan(tmp_path, cache=cache, policies=POLICIES, images=images)
            assert got == fresh(tmp_path, policies=POLICIES, images=images), name


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"policies": POLICIES}, {"policies": {**POLICIES, "gamma": NamedPolicy.model_validate({"image": f"{HOST}/team/gamma", "policy": "semver:^3"})}}),
        ({"policies": POLICIES}, {"policies": {"web": POLICIES["web"]}}),
        ({"policies": POLICIES}, {"policies": {}}),
        ({"policies": {}}, {"policies": POLICIES}),
        ({"policies": POLICIES}, {"policies": {"gamma": NamedPolicy.model_validate({"image": f"{HOST}/team/other", "policy": "minor"})}}),
        ({}, {"paths": ["apps"]}),
        ({"paths": ["apps"]}, {"paths": ["apps", "values/web.yaml"]}),
        ({"paths": ["apps"]}, {}),
        ({}, {"exclude": ["apps/b.yaml", "values"]}),
        ({"exclude": ["vendor"]}, {}),
        ({}, {"parse_all": True}),
        ({"parse_all": True}, {}),
        ({}, {"paths": ["missing"]}),
    ],
    ids=lambda kw: ",".join(f"{k}={sorted(v) if isinstance(v, dict) else v}" for k, v in kw.items()) or "defaults",
)
def test_changed_settings(tmp_path: Path, first: dict[str, Any], then: dict[str, Any]):
    """Another config (`policies`, `paths`, `exclude`) or a validate-style full parse: the same
    answers as a fresh scan, and back again."""
    write(tmp_path, FILES)
    cache = DiscoverCache()
    for kw in (first, then, first):
        assert scan(tmp_path, cache=cache, **kw) == fresh(tmp_path, **kw), kw
        assert scan(tmp_path, cache=cache, **kw) == fresh(tmp_path, **kw), kw


def test_another_checkout_root(tmp_path: Path):
    """Same relative paths under another root (a re-cloned workspace): nothing is taken from the old one."""
    write(tmp_path / "one", FILES)
    write(tmp_path / "two", {**FILES, "apps/a.yaml": workload("a", f"{HOST}/team/alpha:1.5.0")})
    cache = DiscoverCache()
    for root in (tmp_path / "one", tmp_path / "two", tmp_path / "one"):
        assert scan(root, cache=cache, policies=POLICIES) == fresh(root, policies=POLICIES)


def test_unchanged_files_are_neither_read_nor_parsed(tmp_path: Path):
    write(tmp_path, FILES)
    # racy_window=0: the files written just now count as settled (see the racy tests below).
    cache = DiscoverCache(racy_window=0)
    first = scan(tmp_path, cache=cache, policies=POLICIES)
    assert cache.stats.evaluated == len(FILES) and cache.stats.parsed == first.files_parsed > 0
    again = scan(tmp_path, cache=cache, policies=POLICIES)
    assert again == first
    assert (cache.stats.reused, cache.stats.reread, cache.stats.evaluated, cache.stats.parsed) == (len(FILES), 0, 0, 0)

    (tmp_path / "apps/a.yaml").write_text(workload("a", f"{HOST}/team/alpha:1.0.1"))
    assert scan(tmp_path, cache=cache, policies=POLICIES) == fresh(tmp_path, policies=POLICIES)
    assert (cache.stats.reused, cache.stats.evaluated, cache.stats.parsed) == (len(FILES) - 1, 1, 1)


def test_a_touched_file_is_read_but_not_parsed_again(tmp_path: Path):
    write(tmp_path, FILES)
    cache = DiscoverCache(racy_window=0)
    first = scan(tmp_path, cache=cache, policies=POLICIES)
    (tmp_path / "apps/a.yaml").touch()
    assert scan(tmp_path, cache=cache, policies=POLICIES) == first
    assert (cache.stats.reread, cache.stats.evaluated, cache.stats.parsed) == (1, 0, 0)


def test_a_targeted_scan_parses_only_what_it_needs_and_the_next_scan_reuses_it(tmp_path: Path):
    write(tmp_path, FILES)
    cache = DiscoverCache(racy_window=0)
    targeted = scan(tmp_path, cache=cache, policies=POLICIES, images=[f"{HOST}/team/web"])
    assert cache.stats.parsed == targeted.files_parsed == 1  # values/web.yaml: the only file naming `web`
    full = scan(tmp_path, cache=cache, policies=POLICIES)
    assert full == fresh(tmp_path, policies=POLICIES)
    assert cache.stats.parsed == full.files_parsed - 1


def test_files_younger_than_the_racy_window_are_read_again(tmp_path: Path):
    """Two writes within one timestamp tick look alike to stat: a file whose timestamps are not
    yet `racy_window` old when it is read is read again by the next scan (Git's racy-clean rule)."""
    write(tmp_path, FILES)
    cache = DiscoverCache(racy_window=3600)
    scan(tmp_path, cache=cache, policies=POLICIES)
    scan(tmp_path, cache=cache, policies=POLICIES)
    assert (cache.stats.reused, cache.stats.reread) == (0, len(FILES))


def _next_ctime_tick(probe: Path, after_ns: int) -> None:
    """Wait (bounded) until the file system stamps a change later than `after_ns`."""
    for _ in range(100_000):
        probe.write_text("tick")
        if probe.stat().st_ctime_ns > after_ns:
            return
    raise AssertionError("the file system clock did not advance")


def test_a_rewrite_that_restores_size_and_mtime_of_a_settled_file_is_seen(tmp_path: Path):
    """`touch -d`, `cp -p`, tar or a checkout can give new bytes the old size and mtime; the
    change time (which no user can set) still moves."""
    root = tmp_path / "repo"
    write(root, FILES)
    newest = max(p.stat().st_ctime_ns for p in root.rglob("*.y*ml"))
    _next_ctime_tick(tmp_path / "probe", newest)  # every file is now older than the scan below
    cache = DiscoverCache(racy_window=0)
    scan(root, cache=cache, policies=POLICIES)
    assert scan(root, cache=cache, policies=POLICIES) == fresh(root, policies=POLICIES)
    assert cache.stats.reused == len(FILES)  # settled: trusted without reading
    _next_ctime_tick(tmp_path / "probe", newest)
    same_size_edit(root, "apps/b.yaml", "1.2.0", "1.3.0")
    got = scan(root, cache=cache, policies=POLICIES)
    assert got == fresh(root, policies=POLICIES)
    assert any(o.tag == "1.3.0" for o in got.occurrences)


def test_git_checkout_of_a_same_size_version(tmp_path: Path):
    """Two commits whose versions of a file have the same size, checked out back and forth
    within the same second: every scan sees the checked-out bytes."""
    write(tmp_path, FILES)
    git(tmp_path, "init", "-q", "-b", "main")
    first = commit_all(tmp_path, "v1")
    same_size_edit(tmp_path, "apps/b.yaml", "1.2.0", "1.9.0")
    same_size_edit(tmp_path, "values/web.yaml", "2.0.0", "2.7.0")
    second = commit_all(tmp_path, "v2")
    cache = DiscoverCache()
    start = time.monotonic()
    for rev in (first, second, first, second):
        git(tmp_path, "checkout", "-q", rev)
        for images in (None, [f"{HOST}/team/beta"]):
            assert scan(tmp_path, cache=cache, policies=POLICIES, images=images) == fresh(tmp_path, policies=POLICIES, images=images)
    tags = {o.tag for o in scan(tmp_path, cache=cache, policies=POLICIES).occurrences}
    assert {"1.9.0", "2.7.0"} <= tags and "1.2.0" not in tags
    assert time.monotonic() - start < 60


def test_a_file_replaced_by_a_folder_and_back(tmp_path: Path):
    write(tmp_path, FILES)
    cache = DiscoverCache()
    scan(tmp_path, cache=cache, policies=POLICIES)
    target = tmp_path / "apps/a.yaml"
    target.unlink()
    target.mkdir()  # the walk skips folders: the file is gone for it
    assert scan(tmp_path, cache=cache, policies=POLICIES) == fresh(tmp_path, policies=POLICIES)
    target.rmdir()
    write(tmp_path, {"apps/a.yaml": workload("a", f"{HOST}/team/alpha:1.0.7")})
    got = scan(tmp_path, cache=cache, policies=POLICIES)
    assert got == fresh(tmp_path, policies=POLICIES) and any(o.tag == "1.0.7" for o in got.occurrences)
    assert len(cache) == got.files_scanned


def test_a_file_that_vanishes_before_it_is_read_is_forgotten(tmp_path: Path):
    """The walk saw it, the read fails: scan reports the OSError as a problem (as without the
    cache), and the cache keeps nothing for the path, so the next scan reads it afresh."""
    write(tmp_path, {"a.yaml": workload("a", f"{HOST}/team/alpha:1.0.0")})
    cache = DiscoverCache(racy_window=0)
    def screen(data: bytes) -> FileResult:
        return FileResult(worth=True, data=data)
    with cache.session(tmp_path, "settings") as session:
        assert session.result("a.yaml", screen).data.startswith(b"apiVersion")
    assert len(cache) == 1
    (tmp_path / "a.yaml").unlink()
    with cache.session(tmp_path, "settings") as session, pytest.raises(FileNotFoundError):
        session.result("a.yaml", screen)
    assert len(cache) == 0


def test_a_scan_at_the_revision_of_the_last_one_neither_walks_nor_stats(tmp_path: Path):
    """The pipeline scans right after a hard reset + clean, and names the commit: at the same
    commit, every remembered result holds, even for files younger than the racy window."""
    write(tmp_path, FILES)
    cache = DiscoverCache()
    first = scan(tmp_path, cache=cache, policies=POLICIES, revision="c1")
    again = scan(tmp_path, cache=cache, policies=POLICIES, revision="c1")
    assert again == first
    assert (cache.stats.reused, cache.stats.reread, cache.stats.evaluated) == (len(FILES), 0, 0)
    targeted = scan(tmp_path, cache=cache, policies=POLICIES, revision="c1", images=[f"{HOST}/team/web"])
    assert targeted == fresh(tmp_path, policies=POLICIES, images=[f"{HOST}/team/web"])
    assert cache.stats.reused == len(FILES)


@pytest.mark.parametrize(
    "then",
    [{"revision": "c2"}, {"revision": None}, {"revision": "c1", "paths": ["apps"]}, {"revision": "c1", "exclude": ["values"]},
     {"revision": "c1", "policies": {}}],
    ids=["another commit", "no commit named", "other paths", "other exclude", "other policies"],
)
def test_anything_but_the_same_revision_and_settings_walks_and_checks_again(tmp_path: Path, then: dict[str, Any]):
    write(tmp_path, FILES)
    cache = DiscoverCache()
    scan(tmp_path, cache=cache, policies=POLICIES, revision="c1")
    write(tmp_path, {"apps/a.yaml": workload("a", f"{HOST}/team/alpha:1.0.9"), "apps/new.yaml": workload("n", f"{HOST}/team/beta:1.0.0")})
    kw = {"policies": POLICIES, **then}
    got = scan(tmp_path, cache=cache, **kw)
    assert got == fresh(tmp_path, **{k: v for k, v in kw.items() if k != "revision"})
    assert "apps/new.yaml" in {o.location.file for o in got.occurrences} or "apps" not in kw.get("paths", ["apps"])


def test_git_revisions_back_and_forth(tmp_path: Path):
    """The pipeline's use: scan right after checking out a commit, naming it."""
    write(tmp_path, FILES)
    git(tmp_path, "init", "-q", "-b", "main")
    first = commit_all(tmp_path, "v1")
    same_size_edit(tmp_path, "apps/b.yaml", "1.2.0", "1.9.0")
    (tmp_path / "apps/a.yaml").unlink()
    write(tmp_path, {"apps/new.yaml": workload("n", f"{HOST}/team/beta:1.0.0")})
    second = commit_all(tmp_path, "v2")
    cache = DiscoverCache()
    for rev in (first, first, second, second, first, second):
        git(tmp_path, "checkout", "-q", "-f", rev)
        git(tmp_path, "clean", "-q", "-ffdx")
        for images in (None, [f"{HOST}/team/beta"], [f"{HOST}/team/alpha"]):
            got = scan(tmp_path, cache=cache, policies=POLICIES, images=images, revision=rev)
            assert got == fresh(tmp_path, policies=POLICIES, images=images), (rev, images)


def test_a_scan_after_a_commit_that_only_modified_files_looks_only_at_those(tmp_path: Path):
    """The agent's usual case: the last scan was at the parent commit, and Git says which paths'
    bytes differ. Those are read again (whatever stat says); the others are neither walked nor
    stat'ed, and the result equals a fresh scan."""
    write(tmp_path, FILES)
    git(tmp_path, "init", "-q", "-b", "main")
    first = commit_all(tmp_path, "v1")
    cache = DiscoverCache()
    scan(tmp_path, cache=cache, policies=POLICIES, revision=first)
    same_size_edit(tmp_path, "apps/b.yaml", "1.2.0", "1.9.0")  # same size and mtime: stat cannot tell
    second = commit_all(tmp_path, "v2")
    got = scan(tmp_path, cache=cache, policies=POLICIES, revision=second, since=(first, frozenset({"apps/b.yaml"})))
    assert got == fresh(tmp_path, policies=POLICIES)
    assert (cache.stats.reused, cache.stats.evaluated) == (len(FILES) - 1, 1)
    assert cache.revision == second


def test_since_another_revision_than_the_last_scan_walks_again(tmp_path: Path):
    write(tmp_path, FILES)
    cache = DiscoverCache()
    scan(tmp_path, cache=cache, policies=POLICIES, revision="c1")
    write(tmp_path, {"apps/new.yaml": workload("n", f"{HOST}/team/beta:1.0.0")})
    got = scan(tmp_path, cache=cache, policies=POLICIES, revision="c3", since=("c2", frozenset()))
    assert got == fresh(tmp_path, policies=POLICIES)
    assert "apps/new.yaml" in {o.location.file for o in got.occurrences}
