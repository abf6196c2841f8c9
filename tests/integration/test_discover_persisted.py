"""`imagebot plan` twice with a kept cache directory (issue #21): the second process reads and
parses no manifest, and answers exactly as the first; after a commit only the file it changed is
parsed again; a damaged store costs the parse, never the answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import clone, commit_all, git, make_remote, write_files

N = 6


def workload(i: int, host: str, tag: str = "1.0.0") -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w{i}\n  annotations:\n"
        f"    imagebot.io/policy: \"semver:~1\"\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: c\n          image: {host}/team/svc{i % 2}:{tag}\n"
    )


def setup(tmp_path: Path, registry: Any) -> Path:
    for j in range(2):
        registry.push_tags(f"team/svc{j}", ["1.0.0", "1.0.1", "1.2.0"])
    files = {f"apps/w{i}.yaml": workload(i, registry.host) for i in range(N)}
    files["apps/plain.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n"
    remote = make_remote(tmp_path, files)
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host)
    return remote


def plan(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """plan --json: (the plan without its timings, discover's cache event)."""
    res = imagebot("plan", "--json", "--log-level", "info", "--log-format", "json", cwd=tmp_path)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    for key in ("duration_seconds", "registry_requests", "plan_id"):
        doc.pop(key, None)
    events = [json.loads(line) for line in res.err.splitlines() if line.startswith("{")]
    found = [e for e in events if e.get("event") == "discover-cache"]
    assert len(found) == 1, res.err
    return doc, found[0]


def test_a_second_plan_parses_nothing_and_answers_the_same(tmp_path: Path, registry: Any):
    setup(tmp_path, registry)
    first, cold = plan(tmp_path)
    assert len(first["changes"]) == N and cold["parsed"] == N and cold["evaluated"] == N + 1
    stores = sorted(p.name for p in (tmp_path / "cache" / "discover").glob("*.json"))
    assert len(stores) == 2 and stores[0] == stores[1].replace(".json", ".images.json")  # the store, its image list
    second, warm = plan(tmp_path)
    assert second == first
    assert (warm["reused"], warm["reread"], warm["evaluated"], warm["parsed"]) == (N + 1, 0, 0, 0)


def test_after_a_commit_only_the_changed_file_is_parsed(tmp_path: Path, registry: Any):
    remote = setup(tmp_path, registry)
    plan(tmp_path)
    work = clone(remote, tmp_path / "work")
    write_files(work, {"apps/w1.yaml": workload(1, registry.host, "1.0.1")})
    commit_all(work, "w1 to 1.0.1")
    git(work, "push", "-q", "origin", "main")
    doc, event = plan(tmp_path)
    # the last process's revision is known from the store: only the file the commit modified is looked at
    assert (event["reused"], event["reread"], event["evaluated"], event["parsed"]) == (N, 0, 1, 1)
    assert {c["file"]: c["old"] for c in doc["changes"]}["apps/w1.yaml"].endswith("1.0.1")
    assert plan(tmp_path)[1]["parsed"] == 0


def test_a_damaged_store_is_rebuilt_and_the_answers_do_not_change(tmp_path: Path, registry: Any):
    setup(tmp_path, registry)
    first, _ = plan(tmp_path)
    (store,) = [p for p in (tmp_path / "cache" / "discover").glob("*.json") if not p.name.endswith(".images.json")]
    store.write_bytes(store.read_bytes()[:100])
    again, event = plan(tmp_path)
    assert again == first and event["parsed"] == N
    again, event = plan(tmp_path)
    assert again == first and event["parsed"] == 0
