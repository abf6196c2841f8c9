"""The benchmark harness works: the tiny smoke size end to end against the real registry and a
real Git remote (without Renovate), plus the pieces it relies on. Timings are not asserted —
benchmarks are not timed tests — only that it runs and counts right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from bench import run as bench_run
from bench.compare import compare, renovate_answer
from bench.generate import Reference, generate
from bench.proxy import CountingProxy, path_kind
from bench.renovate import Proposal
from tests.support.registry import registry_available


@pytest.mark.parametrize(
    "path, kind, repo",
    [
        ("/v2/", "ping", None),
        ("/v2/bench/app-0001/tags/list", "tags", "bench/app-0001"),
        ("/v2/bench/app-0001/tags/list?n=100&last=1.2.0", "tags", "bench/app-0001"),
        ("/v2/a/b/c/manifests/1.0.0", "manifest", "a/b/c"),
        ("/v2/x/blobs/sha256:abc", "blob", "x"),
        ("/token?scope=repository:x:pull", "token", None),
        ("/v2/_catalog", "catalog", None),
    ],
)
def test_proxy_classifies_paths(path: str, kind: str, repo: str | None) -> None:
    assert path_kind(path) == (kind, repo)


@pytest.mark.parametrize(
    "policy, current, updates, expected",
    [
        ("semver:^1.0", "1.0.0", [("1.0.3", 1, 0, 3), ("1.4.0", 1, 4, 0), ("2.1.0", 2, 1, 0)], "1.4.0"),
        ("semver:~1.0", "1.0.0", [("1.0.3", 1, 0, 3), ("1.4.0", 1, 4, 0), ("2.1.0", 2, 1, 0)], "1.0.3"),
        ("major", "1.0.0", [("1.0.3", 1, 0, 3), ("3.0.0", 3, 0, 0), ("2.1.0", 2, 1, 0)], "3.0.0"),
        ("semver:^2.0", "2.3.0-alpine", [("3.0.0-alpine", 3, 0, 0)], "2.3.0-alpine"),  # nothing admitted
    ],
)
def test_renovate_answer_per_policy(policy: str, current: str, updates: list, expected: str) -> None:
    assert renovate_answer(policy, current, updates) == expected


def test_compare_reports_each_disagreement_with_both_answers() -> None:
    refs = [Reference("a.yaml", 5, "bench/app-0000", "1.0.0", "semver:^1.0", "workload"),
            Reference("a.yaml", 9, "bench/app-0001", "1.0.0", "semver:^1.0", "workload")]
    decisions = [{"file": "a.yaml", "line": 5, "chosen": "1.2.0"}, {"file": "a.yaml", "line": 9, "chosen": "1.0.0"}]
    proposals = [Proposal("a.yaml", "bench/app-0000", "1.0.0", (("1.2.0", 1, 2, 0),)),
                 Proposal("a.yaml", "bench/app-0001", "1.0.0", (("1.1.0", 1, 1, 0),))]
    result = compare(refs, decisions, proposals)
    assert result.agreed == 1
    [d] = result.disagreements
    assert (d.file, d.line, d.imagebot, d.renovate) == ("a.yaml", 9, "1.0.0", "1.1.0")


def test_generator_is_seeded_and_references_point_at_their_tags() -> None:
    one = generate(60, 12, "127.0.0.1:5000", seed=3, tags_per_repo=20)
    again = generate(60, 12, "127.0.0.1:5000", seed=3, tags_per_repo=20)
    assert one.files == again.files and one.references == again.references
    assert {r.repo for r in one.references} == {r.name for r in one.repos}  # every repository is used
    kinds = {r.kind for r in one.references}
    assert {"workload", "helm", "kustomize"} <= kinds
    for ref in one.references:
        line = one.files[ref.file].split("\n")[ref.line - 1]
        assert ref.current in line, (ref, line)
        assert ref.current in next(r for r in one.repos if r.name == ref.repo).tags


def test_proxy_counts_requests_through_to_the_real_registry(registry) -> None:
    registry.push_tags_bulk("bench/x", ["1.0.0", "1.1.0", "latest"])
    with CountingProxy(registry.url) as proxy:
        base = f"http://{proxy.host}"
        assert sorted(requests.get(f"{base}/v2/bench/x/tags/list", timeout=5).json()["tags"]) == ["1.0.0", "1.1.0", "latest"]
        head = requests.head(f"{base}/v2/bench/x/manifests/1.1.0", timeout=5,
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert head.status_code == 200 and head.headers["Docker-Content-Digest"].startswith("sha256:")
        counts = requests.get(f"{base}/__bench__/take", timeout=5).json()
        assert counts["by_kind"] == {"GET tags": 1, "HEAD manifest": 1}
        assert proxy.take().total == 0  # reset by the read above


@pytest.mark.skipif(not registry_available(), reason="docker-registry is not installed")
def test_smoke_size_runs_end_to_end_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    code = bench_run.main(["--smoke", "--no-renovate", "--work", str(tmp_path / "work"), "--results", str(results)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "imagebot plan" in out and "warm no-change cycle" in out
    [path] = results.glob("*-smoke.json")
    doc = json.loads(path.read_text())
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["python"]
    [res] = doc["results"]
    repos = res["M"]
    for phase in (res["plan"], res["plan"]["cold"], res["run_once"]):
        assert phase["wall_s"] > 0 and phase["rss_mb"] > 0
        assert phase["requests"]["tag_listings"] == repos  # each repository listed once per cycle
        assert phase["requests"]["max_listings_of_one_repository"] == 1
    assert res["run_once"]["new_commits_per_run"] == [1]  # the run delivered exactly one commit
    warm = res["warm_cycle"]
    assert warm["first_cycle"]["changes"] > 0 and warm["first_cycle"]["commit"]
    assert warm["changes"] == [0]  # the next cycle finds nothing to do
    assert warm["requests"]["tag_listings"] == repos
    assert res["renovate"] == {"skipped": "--no-renovate"}
