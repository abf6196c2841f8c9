"""`plan` / `run --once` from CI with a persisted cache directory (issue #21): the second job pays
one tag listing per repository and nothing else; a damaged cache costs requests, never answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import make_remote

M, N = 3, 9


def workload(i: int, host: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w{i}\n  annotations:\n"
        f"    imagebot.io/policy: \"semver:~1\"\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: c\n          image: {host}/team/svc{i % M}:1.0.0\n"
    )


def setup(tmp_path: Path, registry) -> Path:
    for j in range(M):
        registry.push_tags(f"team/svc{j}", ["1.0.0", "1.1.0", "1.2.0"])
    remote = make_remote(tmp_path, {f"apps/w{i}.yaml": workload(i, registry.host) for i in range(N)})
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host)
    return tmp_path / "cache"


def plan(tmp_path: Path) -> tuple[list[tuple[str, str]], dict[str, int]]:
    res = imagebot("plan", "--json", cwd=tmp_path)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    return sorted((c["file"], c["new"]) for c in doc["changes"]), by_kind(doc)


def by_kind(doc: dict) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for r in doc["registry_requests"]:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + r["count"]
    return kinds


def test_a_second_job_with_the_restored_cache_only_lists_tags(tmp_path, registry):
    cache = setup(tmp_path, registry)
    changes, cold = plan(tmp_path)
    assert len(changes) == N and all(new.endswith(":1.2.0") for _, new in changes)
    assert cold["tags"] == M and cold["manifest"] == M and cold["blob"] >= 1
    # the CI job ends; the next one restores the cache directory from its cache key
    saved = tmp_path / "ci-cache"
    shutil.copytree(cache, saved)
    shutil.rmtree(cache)
    shutil.copytree(saved, cache)
    again, warm = plan(tmp_path)
    assert again == changes
    assert warm == {"tags": M}, warm
    # what the first job worked out was kept: discover's conclusions, the decisions, apply's proofs
    assert all(list((cache / kind).glob("*.json")) for kind in ("discover", "decisions", "render"))


def test_a_damaged_cache_is_rebuilt_and_the_answers_do_not_change(tmp_path, registry):
    cache = setup(tmp_path, registry)
    changes, _ = plan(tmp_path)
    entries = [p for p in (cache / "tags" / "manifests").glob("*.json") if p.name != "CACHEDIR.json"]
    assert len(entries) == M
    entries[0].write_bytes(entries[0].read_bytes()[:20])  # truncated
    entries[1].write_text('{"tool": "somethingelse"}')  # foreign
    again, kinds = plan(tmp_path)
    assert again == changes
    assert kinds["manifest"] == 2 and kinds["tags"] == M  # the two damaged repositories asked again
    # a cache of another format: everything asked again, then trusted again
    (cache / "tags" / "manifests" / "CACHEDIR.json").write_text('{"tool": "imagebot", "format": 99}')
    again, kinds = plan(tmp_path)
    assert again == changes and kinds["manifest"] == M
    again, kinds = plan(tmp_path)
    assert again == changes and kinds == {"tags": M}


def test_run_once_with_a_persisted_cache(tmp_path, registry):
    setup(tmp_path, registry)
    plan(tmp_path)  # an earlier job filled the cache
    res = imagebot("run", "--once", "--json", cwd=tmp_path)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert by_kind(doc) == {"tags": M}, doc["registry_requests"]


def test_two_repositories_sharing_a_cache_dir_keep_their_own_proven_edits(tmp_path, registry):
    """apply's proven edits are kept per clone and lane: a run keeps only the entries it used, so
    a plan of another repository with the same cache_dir must not evict this one's."""
    cache = setup(tmp_path, registry)
    other = tmp_path / "other"
    other.mkdir()
    remote = make_remote(other, {f"apps/x{i}.yaml": workload(i, registry.host) for i in range(2)})
    write_config(other / "imagebot.yaml", remote=remote, registry_host=registry.host)
    (other / "imagebot.yaml").write_text((other / "imagebot.yaml").read_text().replace(
        f"cache_dir: {other / 'cache'}", f"cache_dir: {cache}"))
    plan(tmp_path)
    files = list((cache / "render").glob("*.json"))
    assert len(files) == 1
    mine = files[0].read_bytes()
    assert len(json.loads(mine)["entries"]) == N
    res = imagebot("plan", "--json", cwd=other)
    assert res.code == 0, res.err
    assert len(json.loads(res.out)["changes"]) == 2
    after = sorted((cache / "render").glob("*.json"))
    assert len(after) == 2 and files[0] in after
    assert files[0].read_bytes() == mine  # untouched by the other repository's run
