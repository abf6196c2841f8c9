"""Pull-request mode on GitLab and Gitea/Forgejo: the forge-neutral reconciler through each
adapter, against the fake forges (every request and response validated against the subsets)
and a real Git remote over HTTP. The same lifecycle as tests/integration/test_deliver_pull_requests.py."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from imagebot.config.schema import Config
from imagebot.deliver import GitWorkspace, make_deliverer
from imagebot.deliver.forge import connect_forge
from imagebot.deliver.forge.base import CommitStatus
from imagebot.model import Delivery
from tests.conftest import shared_path
from tests.support import crash, gitrepo
from tests.support.deliver_plans import change, manifest, plan, render
from tests.support.fake_forge import FakeForge

WEB, API = "ghcr.io/org/web", "ghcr.io/org/api"
FILES = {"apps/web.yaml": manifest("web", f"{WEB}:1.0.0"), "apps/api.yaml": manifest("api", f"{API}:2.0.0")}
PROJECT = {"gitlab": "platform/deploy/apps", "gitea": "acme/deploy"}  # GitLab: a project in a subgroup
ADAPTER = {"gitlab": "imagebot.deliver.forge.gitlab.GitLabForge", "gitea": "imagebot.deliver.forge.gitea.GiteaForge"}


def start_fake(kind: str, root: Path, token: str) -> FakeForge:
    if kind == "gitlab":
        from tests.support.fake_gitlab import FakeGitLab

        return FakeGitLab(root, shared_path("gitlab", "openapi-mr-subset.json"), token, members=("alice", "bob"))
    from tests.support.fake_gitea import FakeGitea

    return FakeGitea(root, shared_path("gitea", "openapi-pr-subset.json"), token, users=("alice", "bob"))


@pytest.fixture(params=["gitlab", "gitea"])
def forge(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    token = secrets.token_hex(20)
    monkeypatch.setenv("IMAGEBOT_TEST_FORGE_TOKEN", token)
    remote = gitrepo.make_remote(tmp_path, FILES)
    with start_fake(request.param, tmp_path / "fake", token) as fake:
        fake.add_project(PROJECT[request.param], remote)
        fake.kind = request.param
        yield fake
    fake.assert_no_drift()


def config(fake: FakeForge, **pr) -> Config:
    """Only the provider, the clone URL and the token: project and API root come from the URL."""
    settings = {"provider": fake.kind, "token_env": "IMAGEBOT_TEST_FORGE_TOKEN", "labels": ["dependencies", "images"], "reviewers": ["alice"], **pr}
    return Config.model_validate(
        {"repository": {"url": fake.git_url(PROJECT[fake.kind]), "branch": "main"}, "delivery": {"mode": "pull-request", "pull_request": settings}}
    )


def cycle(cfg: Config, cache: Path, *changes) -> Delivery:
    ws = GitWorkspace(cfg, cache)
    root = ws.checkout()
    p = plan(*changes)
    return make_deliverer(cfg, ws).deliver(p, render(root, p), lambda r: render(r, p))


def bare(fake: FakeForge) -> Path:
    return fake.projects[PROJECT[fake.kind]].bare


def test_self_hosted_url_gives_project_and_api(forge: FakeForge):
    cfg = config(forge)
    adapter = connect_forge(cfg, cfg.repository.url)
    assert cfg.delivery.git.username == "oauth2"
    if forge.kind == "gitlab":
        assert adapter.project_path == "platform/deploy/apps"
    else:
        assert adapter.repository == "acme/deploy"
    assert forge.calls == []  # connecting makes no request


def test_lifecycle(tmp_path: Path, forge: FakeForge):
    cfg, cache, project = config(forge, draft=True), tmp_path / "cache", forge.projects[PROJECT[forge.kind]]
    first = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    [pr] = forge.open_pulls(PROJECT[forge.kind])
    assert first.pushed and first.pull_requests and not first.problems
    assert (pr.head, pr.base, pr.title, pr.draft) == ("imagebot/ghcr.io-org-web", "main", f"Update {WEB} to 1.1.0", True)
    assert pr.labels == ["dependencies", "images"] and pr.reviewers == ["alice"] and "setup=pending" not in pr.body
    assert "| `ghcr.io/org/web` | minor | `1.0.0` → `1.1.0` |" in pr.body
    noun = "merge request" if forge.kind == "gitlab" else "pull request"
    assert f"**Closing this {noun}**" in pr.body

    # a newer tag: the same pull request, updated in place
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.2.0"))
    [again] = forge.open_pulls(PROJECT[forge.kind])
    assert again.number == pr.number and again.title == f"Update {WEB} to 1.2.0" and again.draft
    assert gitrepo.show(bare(forge), pr.head, "apps/web.yaml") == manifest("web", f"{WEB}:1.2.0").encode()

    # nothing new: no API write, no push
    writes, pushes = len(forge.writes()), sum("git-receive-pack" in r and r.startswith("POST") for r in forge.git_requests)
    quiet = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.2.0"))
    assert forge.writes()[writes:] == [] and not quiet.pushed
    assert sum("git-receive-pack" in r and r.startswith("POST") for r in forge.git_requests) == pushes

    # no longer needed: closed with a comment, branch deleted
    closed = cycle(cfg, cache)
    assert forge.open_pulls(PROJECT[forge.kind]) == [] and closed.closed_pull_requests == (again_url := first.pull_requests[0],)
    assert again_url.endswith(f"/{pr.number}")
    [comment] = project.pulls[pr.number].comments
    assert f"imagebot closes this {noun}" in comment and "no longer needed" in comment
    assert gitrepo.branches(bare(forge)) == ["main"]


def test_commit_status_round_trip(forge: FakeForge):
    cfg = config(forge)
    adapter = connect_forge(cfg, cfg.repository.url)
    sha = forge.projects[PROJECT[forge.kind]].branch_sha("main")
    adapter.set_status(CommitStatus(sha, "imagebot/promotion", "failure", "held: smoke test red", "https://ci.example/1"))
    adapter.set_status(CommitStatus(sha, "imagebot/promotion", "success", "promoted"))
    assert [(s.context, s.state, s.description) for s in adapter.statuses(sha)] == [
        ("imagebot/promotion", "success", "promoted"),
        ("imagebot/promotion", "failure", "held: smoke test red"),
    ]


def test_api_errors_say_whether_a_retry_helps(tmp_path: Path, forge: FakeForge):
    cfg, cache = config(forge), tmp_path / "cache"
    create = ("POST", "/api/v4/projects/{id}/merge_requests" if forge.kind == "gitlab" else "/repos/{owner}/{repo}/pulls")
    forge.fail_next[create] = 503 if forge.kind == "gitlab" else 404
    result = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    [problem] = result.problems
    assert problem.temporary == (forge.kind == "gitlab") and "failed" in problem.message
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))  # the next cycle opens it
    assert len(forge.open_pulls(PROJECT[forge.kind])) == 1


# --- crashes ------------------------------------------------------------------------------

WORKSPACE = "imagebot.deliver.workspace.GitWorkspace"
CRASH_POINTS = {
    "push": (WORKSPACE, "push"),
    "pr-create": (None, "create"),
    "labels": (None, "add_labels"),
    "reviewers": (None, "request_reviewers"),
    "pr-edit": (None, "update"),
    "comment": (None, "comment"),
    "close": (None, "close"),
    "branch-delete": (WORKSPACE, "delete_branch"),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_crash_after_each_write_converges(tmp_path: Path, forge: FakeForge, monkeypatch: pytest.MonkeyPatch, point: str):
    cfg, cache, path = config(forge), tmp_path / "cache", PROJECT[forge.kind]
    web, api = change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0")
    opening = point in ("pr-create", "labels", "reviewers")
    if not opening:
        cycle(cfg, cache, web, api)  # two PRs; the crashing cycle updates web and closes api
    newer = change("apps/web.yaml", WEB, "1.0.0", "1.2.0")
    with monkeypatch.context() as m:
        where, method = CRASH_POINTS[point]
        crash.crash_after(m, where or ADAPTER[forge.kind], method)
        with pytest.raises(crash.Crash):
            cycle(cfg, cache, newer)
    cycle(cfg, cache, newer)
    writes = len(forge.writes())
    cycle(cfg, cache, newer)
    assert len(forge.writes()) == writes  # converged: the next cycle writes nothing

    [pr] = forge.open_pulls(path)
    assert pr.head == "imagebot/ghcr.io-org-web" and pr.title == f"Update {WEB} to 1.2.0"
    assert pr.labels == ["dependencies", "images"] and pr.reviewers == ["alice"] and "setup=pending" not in pr.body
    assert gitrepo.branches(bare(forge)) == ["imagebot/ghcr.io-org-web", "main"]  # no orphan branch
    assert gitrepo.show(bare(forge), pr.head, "apps/web.yaml") == manifest("web", f"{WEB}:1.2.0").encode()
    pulls = forge.projects[path].pulls.values()
    assert len([p for p in pulls if p.head == "imagebot/ghcr.io-org-web"]) == 1  # never a duplicate
    if not opening:
        [api_pr] = [p for p in pulls if p.head == "imagebot/ghcr.io-org-api"]
        assert api_pr.state == "closed" and len(api_pr.comments) == 1


def test_unknown_reviewer_is_reported_and_retried(tmp_path: Path, forge: FakeForge, caplog: pytest.LogCaptureFixture):
    cfg, cache, path = config(forge, reviewers=["alice", "nobody"]), tmp_path / "cache", PROJECT[forge.kind]
    result = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    [pr] = forge.open_pulls(path)
    [problem] = result.problems
    assert "nobody" in problem.message and not problem.temporary
    assert "setup=pending" in pr.body  # finished by a later cycle once the name is fixed
    fixed = cycle(config(forge), cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    [pr] = forge.open_pulls(path)
    assert not fixed.problems and pr.reviewers == ["alice"] and "setup=pending" not in pr.body
    token = forge.token
    assert all(token not in r.getMessage() for r in caplog.records) and token not in problem.message


def test_the_fakes_catch_drift(forge: FakeForge):
    """The validation can fail: a wrong body, an unknown query parameter, an undocumented endpoint."""
    import requests

    path = PROJECT[forge.kind]
    if forge.kind == "gitlab":
        headers = {"PRIVATE-TOKEN": forge.token}
        project = f"{forge.api_url}/projects/{path.replace('/', '%2F')}"
        requests.post(f"{project}/merge_requests", json={"title": "x", "source_branch": "a", "target_branch": "main", "add_labels": "a,b"},
                      headers=headers, timeout=10)
        requests.get(f"{project}/merge_requests", params={"state": "opened", "head": "x"}, headers=headers, timeout=10)
        requests.get(f"{project}/merge_requests/1/approvals", headers=headers, timeout=10)
    else:
        headers = {"Authorization": f"token {forge.token}"}
        repo = f"{forge.api_url}/repos/{path}"
        requests.post(f"{repo}/pulls", json={"title": "x", "head": "a", "base": "main", "labels": ["dependencies"]}, headers=headers, timeout=10)
        requests.get(f"{repo}/pulls", params={"state": "open", "head": "x"}, headers=headers, timeout=10)
        requests.get(f"{repo}/issues/1/reactions", headers=headers, timeout=10)
    drift, forge.drift = list(forge.drift), []  # seen here, so the fixture's teardown passes
    assert len(drift) == 3, drift
    assert "is not of type 'array'" in drift[0] or "is not of type 'integer'" in drift[0]
    assert "undocumented query parameters ['head']" in drift[1] and "undocumented endpoint" in drift[2]
