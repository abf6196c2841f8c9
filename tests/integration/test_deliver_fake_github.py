"""The fake GitHub itself: it answers like GitHub and reports any drift from the schema."""

from __future__ import annotations

from pathlib import Path

import github
import pytest
import requests
from github import Auth

from tests.conftest import shared_path
from tests.support import gitrepo
from tests.support.fake_github import FakeGitHub

TOKEN = "fake-token-for-the-fake"


@pytest.fixture
def fake(tmp_path: Path):
    spec = shared_path("github", "openapi-pr-subset.json")
    remote = gitrepo.make_remote(tmp_path, {"a.txt": "a\n"})
    work = gitrepo.clone(remote, tmp_path / "work")
    for n in range(3):
        gitrepo.git(work, "push", "-q", "origin", f"HEAD:refs/heads/feature-{n}")
    with FakeGitHub(tmp_path / "fake", spec, TOKEN) as gh:
        gh.add_repo("acme/deploy", remote)
        yield gh


def client(fake: FakeGitHub, **kwargs) -> github.Github:
    return github.Github(auth=Auth.Token(TOKEN), base_url=fake.api_url, seconds_between_requests=0, seconds_between_writes=0, **kwargs)


def test_pygithub_round_trip_without_drift(fake: FakeGitHub):
    repo = client(fake, per_page=2).get_repo("acme/deploy")
    assert repo.default_branch == "main" and repo.get_branch("feature-1").commit.sha == gitrepo.rev(fake.repos["acme/deploy"].bare, "feature-1")
    for n in range(3):
        repo.create_pull(base="main", head=f"feature-{n}", title=f"PR {n}", body="b")
    assert sorted(p.number for p in repo.get_pulls(state="open")) == [1, 2, 3]  # paged: 2 + 1
    pr = repo.get_pull(2)
    pr.add_to_labels("x", "y")
    pr.create_review_request(reviewers=["alice"], team_reviewers=["ops"])
    comment = pr.create_issue_comment("hello")
    comment.edit("hello again")
    pr.edit(title="PR two", state="closed")
    assert [c.body for c in pr.get_issue_comments()] == ["hello again"]
    assert [label.name for label in pr.get_labels()] == ["x", "y"]
    assert [p.number for p in repo.get_pulls(state="closed")] == [2]
    assert [f.filename for f in pr.get_files()] == []
    ref = repo.get_git_ref("heads/feature-2")
    ref.delete()
    assert "feature-2" not in gitrepo.branches(fake.repos["acme/deploy"].bare)
    sha = gitrepo.rev(fake.repos["acme/deploy"].bare, "main")
    auth = {"Authorization": f"token {TOKEN}"}
    posted = requests.post(f"{fake.api_url}/repos/acme/deploy/statuses/{sha}", json={"state": "success", "context": "ci"}, headers=auth, timeout=10)
    status = requests.get(f"{fake.api_url}/repos/acme/deploy/commits/main/status", headers=auth, timeout=10).json()
    assert posted.status_code == 201 and status["state"] == "success" and status["sha"] == sha
    fake.assert_no_drift()
    assert fake.writes()[:3] == [("POST", "/repos/acme/deploy/pulls")] * 3


def test_github_errors(fake: FakeGitHub):
    repo = client(fake, retry=None).get_repo("acme/deploy")
    repo.create_pull(base="main", head="feature-0", title="t", body="b")
    with pytest.raises(github.GithubException) as e:
        repo.create_pull(base="main", head="feature-0", title="t", body="b")
    assert e.value.status == 422 and "already exists" in str(e.value.data)
    with pytest.raises(github.GithubException) as e:
        repo.create_pull(base="main", head="no-such-branch", title="t", body="b")
    assert e.value.status == 422
    with pytest.raises(github.UnknownObjectException):
        repo.get_pull(99)
    with pytest.raises(github.BadCredentialsException):
        github.Github(auth=Auth.Token("wrong-token"), base_url=fake.api_url, retry=None).get_repo("acme/deploy")
    fake.assert_no_drift()


@pytest.mark.parametrize(
    "method, path, body, drift",
    [
        ("POST", "/repos/acme/deploy/pulls", {"title": 5, "head": "feature-0", "base": "main"}, "5 is not of type 'string'"),
        ("GET", "/repos/acme/deploy/teams", None, "undocumented endpoint GET /repos/acme/deploy/teams"),
        ("GET", "/repos/acme/deploy/pulls?colour=red", None, "undocumented query parameters ['colour']"),
        ("PATCH", "/repos/acme/deploy/pulls/1", {"state": "merged"}, "'merged' is not one of"),
    ],
)
def test_requests_outside_the_schema_are_drift(fake: FakeGitHub, method: str, path: str, body, drift: str):
    requests.request(method, fake.api_url + path, json=body, headers={"Authorization": f"token {TOKEN}"}, timeout=10)
    assert any(drift in d for d in fake.drift), fake.drift
    with pytest.raises(AssertionError, match="outside the schema"):
        fake.assert_no_drift()


def test_responses_outside_the_schema_are_drift(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch):
    original = FakeGitHub._repo_json
    monkeypatch.setattr(FakeGitHub, "_repo_json", lambda self, repo, full=False: {**original(self, repo, full), "id": "not-a-number"})
    client(fake, retry=None).get_repo("acme/deploy")
    assert any("'not-a-number' is not of type 'integer' at $.id" in d for d in fake.drift), fake.drift
