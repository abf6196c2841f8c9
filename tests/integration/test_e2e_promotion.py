"""Staged promotion end to end on real parts: docker-registry, a Git remote served by the fake
GitHub (with commit statuses), the pipeline in-process with a fake clock for the soak, and the CLI
for `plan --json`. Both layouts: kustomize-style overlay folders in one branch, and a branch per
environment."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from imagebot import pipeline
from imagebot.config.load import load
from imagebot.report.status import entries_of
from tests.conftest import shared_path
from tests.support import gitrepo
from tests.support.cli import imagebot
from tests.support.fake_github import FakeGitHub

REPO = "acme/gitops"
HOUR = 3600.0


def deployment(image: str, namespace: str, *, managed: bool) -> str:
    notes = '  annotations:\n    imagebot.io/policy: "semver:^1"\n' if managed else ""
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {namespace}\n{notes}"
            "spec:\n  template:\n    spec:\n      containers:\n        - name: app\n"
            f"          image: {image}\n")


class World:
    def __init__(self, tmp: Path, gh: FakeGitHub, registry, token: str, remote: Path, promotion: str, branch: str):
        self.tmp, self.gh, self.registry, self.token, self.remote = tmp, gh, registry, token, remote
        self.offset = 0.0
        self.staging_branch = branch
        self.config = self.write("imagebot.yaml", promotion)

    def write(self, name: str, promotion: str) -> Path:
        gh, reg = self.gh, self.registry
        path = self.tmp / name
        path.write_text(
            f"repository: {{url: '{gh.git_url(REPO)}', branch: {self.staging_branch}}}\n"
            "delivery:\n  mode: commit\n  git: {token_env: TEST_GH_TOKEN}\n  pull_request:\n"
            f"    api_url: {gh.api_url}\n    repository: {REPO}\n    token_env: TEST_GH_TOKEN\n    throttle: false\n"
            f"registries: [{{host: '{reg.host}', insecure: true}}]\ncache_dir: {self.tmp / 'cache'}\n"
            f"promotions:\n{promotion}"
        )
        return path

    def clock(self) -> float:
        return time.time() + self.offset

    def cycle(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("TEST_GH_TOKEN", self.token)
        result = pipeline.run_cycle(load(self.config), clock=self.clock)
        assert not [p for p in result.problems if p.kind != "promotion"], result.problems
        return result

    def status(self, sha: str, state: str) -> None:
        r = requests.post(f"{self.gh.api_url}/repos/{REPO}/statuses/{sha}", timeout=10,
                          json={"state": state, "context": "ci/e2e", "target_url": f"https://ci.example/{sha[:7]}"},
                          headers={"Authorization": f"token {self.token}"})
        assert r.status_code == 201, r.text

    def plan_json(self, config: Path) -> dict:
        # its own clone: this process holds the in-process cycles' clone for its lifetime
        cli = config.with_name("cli-" + config.name)
        cli.write_text(config.read_text().replace(f"cache_dir: {self.tmp / 'cache'}", f"cache_dir: {self.tmp / 'cache-cli'}"))
        res = imagebot("plan", "--json", "--config", str(cli), cwd=self.tmp, env={"TEST_GH_TOKEN": self.token}, timeout=60)
        assert res.code in (0, 2), res.err + res.out
        return json.loads(res.out)


def _world(tmp_path: Path, registry, files: Callable[[str, str], dict[str, str]], promotion: str, staging_branch: str | None = None):
    """The remote (main; with `staging_branch`, also that branch as a copy of main) behind the fake
    GitHub, files written with team/web 1.0.0's (image, digest); yields the World."""
    d1 = registry.push("team/web", "1.0.0")
    token = "ghp_" + secrets.token_hex(18)
    remote = gitrepo.make_remote(tmp_path, files(f"{registry.host}/team/web", d1))
    if staging_branch:
        gitrepo.git(tmp_path / "remote.git.seed", "push", "-q", "origin", f"main:{staging_branch}")
    with FakeGitHub(tmp_path / "fake", shared_path("github", "openapi-pr-subset.json"), token) as gh:
        gh.add_repo(REPO, remote)
        yield World(tmp_path, gh, registry, token, gh.repos[REPO].bare, promotion, staging_branch or "main")
        gh.assert_no_drift()


OVERLAYS = """  - name: production
    from: {path: overlays/staging}
    to: {path: overlays/production}
    soak: 1h
    checks: required
    delivery: {mode: pull-request}
"""


@pytest.fixture
def overlays(tmp_path: Path, registry):
    yield from _world(tmp_path, registry, lambda img, d1: {
        "overlays/staging/web.yaml": deployment(f"{img}:1.0.0@{d1}", "staging", managed=True),
        "overlays/production/web.yaml": deployment(f"{img}:1.0.0@{d1}", "production", managed=False),
    }, OVERLAYS)


def test_overlays_soak_checks_window_then_pull_request(overlays: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w, img = overlays, f"{overlays.registry.host}/team/web"
    prod_file = "overlays/production/web.yaml"
    before = gitrepo.show(w.remote, "main", prod_file)
    d2 = w.registry.push("team/web", "1.1.0")

    # 1. the push lands on staging by commit; production is untouched; the promotion soaks
    r = w.cycle(monkeypatch)
    staging = gitrepo.show(w.remote, "main", "overlays/staging/web.yaml").decode()
    assert f"image: {img}:1.1.0@{d2}" in staging
    assert gitrepo.show(w.remote, "main", prod_file) == before
    staging_commit = gitrepo.rev(w.remote, "main")
    held = [s for s in r.plan.skipped if s.occurrence.location.file == prod_file]
    assert len(held) == 1 and "promotion production held by soak" in held[0].reason and staging_commit[:12] in held[0].reason
    assert r.wake_at is not None and abs(r.wake_at - (float(gitrepo.git(w.remote, "log", "-1", "--format=%ct", "main")) + HOUR)) < 1
    assert w.gh.open_pulls(REPO) == []

    # 2. soaked (fake clock) but the staging commit's check failed: held by checks, no PR
    w.status(staging_commit, "failure")
    w.offset = 2 * HOUR
    r = w.cycle(monkeypatch)
    (held,) = [s for s in r.plan.skipped if s.occurrence.location.file == prod_file]
    assert "held by checks" in held.reason and "ci/e2e failure" in held.reason and f"https://ci.example/{staging_commit[:7]}" in held.reason
    status = entries_of(r)[held.occurrence.location]  # what /status shows for it
    assert status["state"] == "held" and "held by checks" in status["reason"]
    assert w.gh.open_pulls(REPO) == []
    # ... and `plan --json` (real clock, soak shortened to 1s) says so in `skipped`, not in `changes`
    fast = w.write("fast.yaml", OVERLAYS.replace("soak: 1h", "soak: 1s"))
    time.sleep(1.5)
    doc = w.plan_json(fast)
    assert not [c for c in doc["changes"] if c["file"] == prod_file]
    (skip,) = [s for s in doc["skipped"] if s["file"] == prod_file]
    assert "held by checks" in skip["reason"] and "ci/e2e failure" in skip["reason"]

    # 3. outside the window: held by window (blackout today), in plan --json too
    w.status(staging_commit, "success")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    closed = w.write("closed.yaml", OVERLAYS.replace("soak: 1h", f"soak: 1s\n    windows: [{{blackout: '{today}'}}]"))
    doc = w.plan_json(closed)
    (skip,) = [s for s in doc["skipped"] if s["file"] == prod_file]
    assert f"held by window: blackout {today}" in skip["reason"]
    # ready: `plan --json` lists it in changes with production's file and staging's tag@digest
    doc = w.plan_json(fast)
    (change,) = [c for c in doc["changes"] if c["file"] == prod_file]
    assert change["new"] == f"{img}:1.1.0@{d2}"
    assert w.gh.open_pulls(REPO) == []  # plan writes nothing

    # 4. green and soaked: a production PR carrying exactly staging's tag and digest, with the evidence
    r = w.cycle(monkeypatch)
    (pr,) = w.gh.open_pulls(REPO)
    assert pr.base == "main" and pr.head.startswith("imagebot-promote-production/")
    assert pr.title == f"Promote to production: Update {img} to 1.1.0@{d2[:19]}", pr.title
    (entry,) = [e for loc, e in entries_of(r).items() if loc.file == prod_file]
    assert entry["state"] == "updated" and entry["pull_request"].endswith(f"/pull/{pr.number}")  # pushed to its PR
    assert gitrepo.show(w.remote, pr.head, prod_file).decode() == deployment(f"{img}:1.1.0@{d2}", "production", managed=False)
    assert gitrepo.show(w.remote, pr.head, "overlays/staging/web.yaml").decode() == staging
    body = pr.body or ""
    assert staging_commit[:12] in body and "soaked 1h by" in body and f"https://ci.example/{staging_commit[:7]}" in body and d2 in body
    assert gitrepo.show(w.remote, "main", prod_file) == before  # production changes only by the PR

    # 5. a newer tag reaches staging: the soak restarts and the pending PR is closed
    w.offset = 0
    d3 = w.registry.push("team/web", "1.2.0")
    r = w.cycle(monkeypatch)
    assert f"{img}:1.2.0@{d3}" in gitrepo.show(w.remote, "main", "overlays/staging/web.yaml").decode()
    (held,) = [s for s in r.plan.skipped if s.occurrence.location.file == prod_file]
    assert "held by soak" in held.reason
    assert w.gh.open_pulls(REPO) == [] and w.gh.repos[REPO].pulls[pr.number].state == "closed"
    # ... soaked and green: a new PR proposes 1.2.0 with its digest
    new_commit = gitrepo.rev(w.remote, "main")
    w.status(new_commit, "success")
    w.offset = 2 * HOUR
    w.cycle(monkeypatch)
    (pr2,) = w.gh.open_pulls(REPO)
    assert f"{img}:1.2.0@{d3}" in gitrepo.show(w.remote, pr2.head, prod_file).decode() and new_commit[:12] in (pr2.body or "")

    # nothing new: the next cycle writes nothing
    writes = len(w.gh.writes())
    w.cycle(monkeypatch)
    assert len(w.gh.writes()) == writes


BRANCHES = """  - name: production
    from: {branch: staging}
    to: {branch: main}
    soak: 30m
    checks: required
"""


@pytest.fixture
def branches(tmp_path: Path, registry):
    yield from _world(tmp_path, registry, lambda img, d1: {"apps/web.yaml": deployment(f"{img}:1.0.0@{d1}", "web", managed=True)},
                      BRANCHES, staging_branch="staging")


def test_branch_per_environment(branches: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w, img = branches, f"{branches.registry.host}/team/web"
    before = gitrepo.show(w.remote, "main", "apps/web.yaml")
    d2 = w.registry.push("team/web", "1.1.0")
    r = w.cycle(monkeypatch)
    assert f"{img}:1.1.0@{d2}" in gitrepo.show(w.remote, "staging", "apps/web.yaml").decode()
    assert gitrepo.show(w.remote, "main", "apps/web.yaml") == before
    (held,) = [s for s in r.plan.skipped if s.reason.startswith("promotion production")]
    assert "held by soak" in held.reason
    w.status(gitrepo.rev(w.remote, "staging"), "success")
    w.offset = HOUR
    w.cycle(monkeypatch)
    (pr,) = w.gh.open_pulls(REPO)
    assert pr.base == "main"
    assert gitrepo.show(w.remote, pr.head, "apps/web.yaml").decode() == deployment(f"{img}:1.1.0@{d2}", "web", managed=True)
    assert gitrepo.show(w.remote, "main", "apps/web.yaml") == before


KUSTOMIZE = """  - name: production
    from: {path: overlays/staging}
    to: {path: overlays/production}
    soak: 0s
    checks: none
"""


def kustomization(name: str, tag: str, marker: str = "") -> str:
    return f"resources: [../../base]\nimages:\n  - name: {name}\n    newTag: {tag}{marker}\n"


@pytest.fixture
def kustomize(tmp_path: Path, registry):
    yield from _world(tmp_path, registry, lambda img, d1: {
        "base/deployment.yaml": deployment(f"{img}:1.0.0", "web", managed=False),
        "overlays/staging/kustomization.yaml": kustomization(img, f"1.0.0@{d1}", " # imagebot: semver:^1"),
        # a marker here too (copied overlays keep them): only the promotion may change production
        "overlays/production/kustomization.yaml": kustomization(img, f"1.0.0@{d1}", " # imagebot: semver:^1"),
    }, KUSTOMIZE)


def test_kustomize_overlays_plan_json_lists_the_promotion_as_a_change(kustomize: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w, img = kustomize, f"{kustomize.registry.host}/team/web"
    d2 = w.registry.push("team/web", "1.1.0")
    w.offset = 0
    # plan before staging moved: production already runs what staging runs, nothing to promote
    doc = w.plan_json(w.config)
    assert [c["file"] for c in doc["changes"]] == ["overlays/staging/kustomization.yaml"]
    production = gitrepo.show(w.remote, "main", "overlays/production/kustomization.yaml")
    w.cycle(monkeypatch)  # staging gets 1.1.0@d2 by commit (base and production untouched)
    assert f"newTag: 1.1.0@{d2}" in gitrepo.show(w.remote, "main", "overlays/staging/kustomization.yaml").decode()
    assert gitrepo.show(w.remote, "main", "overlays/production/kustomization.yaml") == production
    doc = w.plan_json(w.config)
    (change,) = doc["changes"]
    assert change["file"] == "overlays/production/kustomization.yaml" and change["new"] == f"1.1.0@{d2}"
    assert change["new_ref"] == f"{img}:1.1.0@{d2}"
    # the plan's preview shows only the repository's own delivery: production goes by pull request
    assert not (doc.get("delivery_preview") or {}).get("commit")


def test_a_pending_promotion_pull_request_follows_staging(kustomize: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """soak 0s, checks none: each staging move is promotable at once, so the open production pull
    request is updated in place (same branch, same number) to what staging runs now."""
    w, prod = kustomize, "overlays/production/kustomization.yaml"
    d2 = w.registry.push("team/web", "1.1.0")
    w.cycle(monkeypatch)  # staging: 1.1.0 by commit; promotion: a PR for it in the same cycle
    (pr,) = w.gh.open_pulls(REPO)
    assert f"newTag: 1.1.0@{d2}" in gitrepo.show(w.remote, pr.head, prod).decode()
    d3 = w.registry.push("team/web", "1.2.0")
    r = w.cycle(monkeypatch)
    (again,) = w.gh.open_pulls(REPO)
    assert again.number == pr.number and f"newTag: 1.2.0@{d3}" in gitrepo.show(w.remote, again.head, prod).decode()
    assert [o.action.value for o in r.delivery.outcomes if o.branch.startswith("imagebot-promote-")] == ["updated"]
    assert "1.0.0@" in gitrepo.show(w.remote, "main", prod).decode()  # production itself: only by merging the PR
