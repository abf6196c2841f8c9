"""The request budget, end to end: N workloads on M repositories -> exactly M tag listings."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import make_remote


def workload(i: int, host: str, repo: str, tag: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w{i}\n  annotations:\n"
        f"    imagebot.io/policy: \"semver:~1\"\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: c\n          image: {host}/{repo}:{tag}\n"
    )


def test_n_workloads_on_m_repositories_list_each_repository_once(tmp_path: Path, registry) -> None:
    m, n = 4, 24
    for j in range(m):
        registry.push_tags(f"team/svc{j}", ["1.0.0", "1.1.0", "1.2.0"])
    files = {f"apps/w{i}.yaml": workload(i, registry.host, f"team/svc{i % m}", "1.0.0" if i % 2 else "1.1.0") for i in range(n)}
    remote = make_remote(tmp_path, files)
    write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host)

    res = imagebot("plan", "--json", cwd=tmp_path)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert len(doc["changes"]) == n
    listings = [r for r in doc["registry_requests"] if r["kind"] == "tags"]
    assert sum(r["count"] for r in listings) == m, doc["registry_requests"]
    assert all(r["registry"] == registry.host for r in listings)
