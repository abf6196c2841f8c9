"""Pull-request mode against a fake GitHub (schema-checked) and a real Git remote over HTTP."""

from __future__ import annotations

import logging
import secrets
import traceback
from pathlib import Path

import pytest

from imagebot.config.schema import Config
from imagebot.deliver import GitWorkspace, make_deliverer
from imagebot.errors import DeliveryError
from imagebot.model import Delivery
from tests.conftest import shared_path
from tests.support import crash, gitrepo
from tests.support.deliver_plans import change, manifest, plan, render
from tests.support.fake_github import FakeGitHub

REPO = "acme/deploy"
WEB, API, DB = "ghcr.io/org/web", "ghcr.io/org/api", "docker.io/library/postgres"
FILES = {
    "apps/web.yaml": manifest("web", f"{WEB}:1.0.0"),
    "apps/api.yaml": manifest("api", f"{API}:2.0.0"),
    "apps/db.yaml": manifest("db", f"{DB}:15.1"),
}


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "ghp_" + secrets.token_hex(18)
    monkeypatch.setenv("IMAGEBOT_TEST_GITHUB_TOKEN", value)
    return value


@pytest.fixture
def fake(tmp_path: Path, token: str):
    spec = shared_path("github", "openapi-pr-subset.json")
    remote = gitrepo.make_remote(tmp_path, FILES)
    with FakeGitHub(tmp_path / "fake", spec, token) as gh:
        gh.add_repo(REPO, remote)
        yield gh
    gh.assert_no_drift()


def bare(fake: FakeGitHub) -> Path:
    return fake.repos[REPO].bare


def config(fake: FakeGitHub, git: dict | None = None, **pr) -> Config:
    settings = {
        "api_url": fake.api_url,
        "token_env": "IMAGEBOT_TEST_GITHUB_TOKEN",
        "throttle": False,
        "labels": ["dependencies", "images"],
        "reviewers": ["alice"],
        "team_reviewers": ["platform"],
        **pr,
    }
    return Config.model_validate(
        {"repository": {"url": fake.git_url(REPO), "branch": "main"}, "delivery": {"mode": "pull-request", "pull_request": settings, "git": git or {}}}
    )


def cycle(cfg: Config, cache: Path, *changes, labels=None) -> Delivery:
    """One pipeline cycle as `run` does it: checkout, render the plan there, deliver."""
    ws = GitWorkspace(cfg, cache)
    root = ws.checkout()
    p = plan(*changes)
    return make_deliverer(cfg, ws).deliver(p, render(root, p), lambda r: render(r, p), image_labels=labels)


def human_push(tmp_path: Path, fake: FakeGitHub, branch: str, files: dict[str, str], message: str) -> str:
    work = tmp_path / f"human-{secrets.token_hex(4)}"
    gitrepo.clone(bare(fake), work, branch)
    gitrepo.write_files(work, files)
    sha = gitrepo.commit_all(work, message)
    gitrepo.git(work, "push", "-q", "origin", f"HEAD:{branch}")
    return sha


def test_new_tag_opens_a_pull_request(tmp_path: Path, fake: FakeGitHub):
    main = gitrepo.rev(bare(fake), "main")
    labels = {f"{WEB}:1.1.0": {"org.opencontainers.image.source": "https://github.com/org/web"}}
    result = cycle(config(fake), tmp_path / "cache", change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), labels=labels)

    [pr] = fake.open_pulls(REPO)
    assert result.pushed and result.pull_requests == (f"{fake.base}/{REPO}/pull/1",)
    assert (pr.head, pr.base, pr.title) == ("imagebot/ghcr.io-org-web", "main", f"Update {WEB} to 1.1.0")
    assert pr.labels == ["dependencies", "images"] and pr.reviewers == ["alice"] and pr.team_reviewers == ["platform"]
    assert "| [`ghcr.io/org/web`](https://github.com/org/web) | minor | `1.0.0` → `1.1.0`<br>[release notes](https://github.com/org/web/releases/tag/1.1.0)" in pr.body
    assert "| `apps/web.yaml:10` | `semver:^1` |" in pr.body
    assert "setup=pending" not in pr.body and not pr.draft
    assert gitrepo.rev(bare(fake), "main") == main
    assert gitrepo.show(bare(fake), pr.head, "apps/web.yaml") == manifest("web", f"{WEB}:1.1.0").encode()
    assert gitrepo.rev(bare(fake), f"{pr.head}~1") == main
    assert gitrepo.branches(bare(fake)) == ["imagebot/ghcr.io-org-web", "main"]


def test_newer_tag_updates_the_same_pull_request(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    result = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.2.0"))

    [pr] = fake.open_pulls(REPO)
    assert pr.number == 1 and len(fake.repos[REPO].pulls) == 1
    assert pr.title == f"Update {WEB} to 1.2.0" and "1.2.0" in pr.body and "1.1.0" not in pr.body
    assert result.pushed and result.pull_requests == (f"{fake.base}/{REPO}/pull/1",)
    assert gitrepo.show(bare(fake), pr.head, "apps/web.yaml") == manifest("web", f"{WEB}:1.2.0").encode()
    assert len(gitrepo.log(bare(fake), pr.head)) == 2  # force-pushed: one bot commit on main


def test_base_edited_by_hand_closes_the_pull_request(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    human_push(tmp_path, fake, "main", {"apps/web.yaml": manifest("web", f"{WEB}:1.1.0")}, "bump web by hand")

    result = cycle(cfg, cache)  # the image is up to date now: nothing to change

    assert fake.open_pulls(REPO) == []
    assert result.closed_pull_requests == (f"{fake.base}/{REPO}/pull/1",)
    [comment] = fake.repos[REPO].comments.values()
    assert "no longer needed" in comment.body
    assert gitrepo.branches(bare(fake)) == ["main"]


@pytest.mark.parametrize("grouping, expected", [("per-image", 3), ("per-file", 3), ("all", 1)])
def test_grouping(tmp_path: Path, fake: FakeGitHub, grouping: str, expected: int):
    changes = (
        change("apps/web.yaml", WEB, "1.0.0", "1.1.0"),
        change("apps/api.yaml", API, "2.0.0", "2.1.0"),
        change("apps/db.yaml", DB, "15.1", "15.4"),
    )
    cycle(config(fake, grouping=grouping), tmp_path / "cache", *changes)
    pulls = fake.open_pulls(REPO)
    assert len(pulls) == expected
    if grouping == "all":
        assert pulls[0].head == "imagebot/all" and pulls[0].title == "Update 3 images"
        for c in changes:
            assert gitrepo.show(bare(fake), "imagebot/all", c.file).count(c.new.encode()) == 1
    if grouping == "per-file":
        assert sorted(p.head for p in pulls) == ["imagebot/apps-api.yaml", "imagebot/apps-db.yaml", "imagebot/apps-web.yaml"]


def test_rerun_with_nothing_new_writes_nothing(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake), tmp_path / "cache"
    changes = (change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0"))
    cycle(cfg, cache, *changes)
    writes, pushes = len(fake.writes()), fake.git_requests.count("POST /acme/deploy.git/git-receive-pack")

    result = cycle(cfg, cache, *changes)

    assert fake.writes()[writes:] == []
    assert fake.git_requests.count("POST /acme/deploy.git/git-receive-pack") == pushes
    assert not result.pushed and len(result.pull_requests) == 2 and not result.problems


def test_policy_change_closes_one_of_several(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0"))
    result = cycle(cfg, cache, change("apps/api.yaml", API, "2.0.0", "2.1.0"))
    assert [p.head for p in fake.open_pulls(REPO)] == ["imagebot/ghcr.io-org-api"]
    assert len(result.closed_pull_requests) == 1
    assert gitrepo.branches(bare(fake)) == ["imagebot/ghcr.io-org-api", "main"]


def test_branch_with_a_human_commit_is_not_overwritten(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    human = human_push(tmp_path, fake, "imagebot/ghcr.io-org-web", {"apps/web.yaml": manifest("web", f"{WEB}:1.1.1")}, "tweak")

    result = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.2.0"))

    assert gitrepo.rev(bare(fake), "imagebot/ghcr.io-org-web") == human
    assert any("someone else" in p.message for p in result.problems)
    assert len(fake.open_pulls(REPO)) == 1


def test_draft_and_enterprise_api_url(tmp_path: Path, fake: FakeGitHub):
    cycle(config(fake, draft=True), tmp_path / "cache", change("apps/db.yaml", DB, "15.1", "15.4"))
    [pr] = fake.open_pulls(REPO)
    assert pr.draft
    assert all(path.startswith("/repos/") for _, path in fake.calls)  # served under /api/v3, as GHE does


def test_preview_matches_what_deliver_does(tmp_path: Path, fake: FakeGitHub):
    cfg = config(fake)
    ws = GitWorkspace(cfg, tmp_path / "cache")
    root = ws.checkout()
    p = plan(change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0"))
    deliverer = make_deliverer(cfg, ws)
    calls = len(fake.calls)
    preview = deliverer.preview(p, render(root, p))
    assert len(fake.calls) == calls  # no network
    deliverer.deliver(p, render(root, p), lambda r: render(r, p))
    got = {pr.head: (pr.title, pr.body) for pr in fake.open_pulls(REPO)}
    assert got == {pr.branch: (pr.title, pr.body) for pr in preview.pull_requests}
    assert "Pull request imagebot/ghcr.io-org-web -> main: Update ghcr.io/org/web to 1.1.0" in str(preview)


def test_commit_status_round_trip(fake: FakeGitHub):
    from imagebot.deliver.forge import connect_forge
    from imagebot.deliver.forge.base import CommitStatus

    cfg = config(fake)
    forge = connect_forge(cfg, cfg.repository.url)
    sha = gitrepo.rev(bare(fake), "main")
    forge.set_status(CommitStatus(sha, "imagebot/promotion", "pending", "waiting for staging", "https://ci.example/1"))
    assert [(s.context, s.state, s.target_url) for s in forge.statuses(sha)] == [("imagebot/promotion", "pending", "https://ci.example/1")]


# --- crashes ------------------------------------------------------------------------------

CRASH_POINTS = {
    "clone": ("imagebot.deliver.workspace.GitWorkspace", "checkout"),
    "commit": ("imagebot.deliver.workspace.GitWorkspace", "commit"),
    "push": ("imagebot.deliver.workspace.GitWorkspace", "push"),
    "pr-create": ("imagebot.deliver.forge.github.GitHubForge", "create"),
    "labels": ("imagebot.deliver.forge.github.GitHubForge", "add_labels"),
    "reviewers": ("imagebot.deliver.forge.github.GitHubForge", "request_reviewers"),
    "pr-edit": ("imagebot.deliver.forge.github.GitHubForge", "update"),
    "comment": ("imagebot.deliver.forge.github.GitHubForge", "comment"),
    "close": ("imagebot.deliver.forge.github.GitHubForge", "close"),
    "branch-delete": ("imagebot.deliver.workspace.GitWorkspace", "delete_branch"),
}


def crash_after(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    crash.crash_after(monkeypatch, *CRASH_POINTS[point])


@pytest.mark.parametrize("point", ["clone", "commit", "push", "pr-edit", "comment", "close", "branch-delete"])
def test_crash_after_each_step_converges(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, point: str):
    cfg, cache = config(fake), tmp_path / "cache"
    web, api = change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0")
    # Cycle 1 opens two PRs; cycle 2 (crashing) updates web, drops api (closing its PR); cycle 3 converges.
    cycle(cfg, cache, web, api)
    newer = change("apps/web.yaml", WEB, "1.0.0", "1.2.0")
    with monkeypatch.context() as m:
        crash_after(m, point)
        with pytest.raises(crash.Crash):
            cycle(cfg, cache, newer)
    cycle(cfg, cache, newer)

    [pr] = fake.open_pulls(REPO)
    assert pr.head == "imagebot/ghcr.io-org-web" and pr.title == f"Update {WEB} to 1.2.0"
    assert pr.labels == ["dependencies", "images"] and pr.reviewers == ["alice"] and "setup=pending" not in pr.body
    assert gitrepo.branches(bare(fake)) == ["imagebot/ghcr.io-org-web", "main"]
    assert gitrepo.show(bare(fake), pr.head, "apps/web.yaml") == manifest("web", f"{WEB}:1.2.0").encode()
    assert len(fake.repos[REPO].pulls) == 2  # web and api, never a duplicate
    [api_pr] = [p for p in fake.repos[REPO].pulls.values() if p.head == "imagebot/ghcr.io-org-api"]
    assert api_pr.state == "closed"
    assert len([c for c in fake.repos[REPO].comments.values() if c.issue == api_pr.number]) == 1


@pytest.mark.parametrize("point", ["clone", "commit", "push", "pr-create", "labels", "reviewers", "pr-edit"])
def test_crash_while_opening_converges(tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, point: str):
    cfg, cache = config(fake), tmp_path / "cache"
    web = change("apps/web.yaml", WEB, "1.0.0", "1.1.0")
    with monkeypatch.context() as m:
        crash_after(m, point)
        with pytest.raises(crash.Crash):
            cycle(cfg, cache, web)
    cycle(cfg, cache, web)
    writes = len(fake.writes())
    cycle(cfg, cache, web)

    [pr] = fake.repos[REPO].pulls.values()
    assert pr.state == "open" and pr.labels == ["dependencies", "images"] and pr.reviewers == ["alice"]
    assert "setup=pending" not in pr.body
    assert len(fake.writes()) == writes  # converged: the third cycle changes nothing


# --- secrets ------------------------------------------------------------------------------

def test_token_appears_nowhere(tmp_path: Path, fake: FakeGitHub, token: str, caplog: pytest.LogCaptureFixture, monkeypatch):
    caplog.set_level(logging.DEBUG)
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    cycle(cfg, cache)  # and closes it again
    texts = [r.getMessage() for r in caplog.records]
    for pr in fake.repos[REPO].pulls.values():
        texts += [pr.title, pr.body or ""]
    texts += [c.body for c in fake.repos[REPO].comments.values()]
    texts += [p.read_bytes().decode("latin-1") for p in cache.rglob("*") if p.is_file() and "objects" not in p.parts]
    git_config = next(cache.glob("git/*/.git/config")).read_text()
    assert "Authorization" not in git_config and "extraheader" not in git_config.lower()

    # Rejected tokens: the errors say what was refused, without the tokens.
    wrong = "ghp_wrong" + secrets.token_hex(12)
    monkeypatch.setenv("IMAGEBOT_TEST_WRONG_TOKEN", wrong)
    bad_api = config(fake, git={"token_env": "IMAGEBOT_TEST_GITHUB_TOKEN"}, token_env="IMAGEBOT_TEST_WRONG_TOKEN")
    with pytest.raises(DeliveryError, match="token was rejected") as api_error:
        cycle(bad_api, tmp_path / "cache-api", change("apps/web.yaml", WEB, "1.0.0", "1.3.0"))
    bad_git = config(fake, token_env="IMAGEBOT_TEST_WRONG_TOKEN")
    with pytest.raises(DeliveryError, match="refused the credentials") as git_error:
        cycle(bad_git, tmp_path / "cache-git", change("apps/web.yaml", WEB, "1.0.0", "1.3.0"))
    for e in (api_error.value, git_error.value):
        texts += [str(e), repr(e.args), "".join(traceback.format_exception(e))]
    texts += [r.getMessage() for r in caplog.records]
    assert all(token not in t and wrong not in t for t in texts)


def test_pull_request_closed_by_a_human_is_not_reopened(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    fake.repos[REPO].pulls[1].state = "closed"  # a reviewer said no

    result = cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    assert fake.open_pulls(REPO) == [] and any("will not reopen" in p.message for p in result.problems)

    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.2.0"))  # a newer tag is a new proposal
    [pr] = fake.open_pulls(REPO)
    assert pr.number == 2 and pr.title == f"Update {WEB} to 1.2.0"


def test_git_server_hiccups_are_retried(tmp_path: Path, fake: FakeGitHub):
    fake.git_failures = 2
    result = cycle(config(fake), tmp_path / "cache", change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    assert result.pushed and len(fake.open_pulls(REPO)) == 1
    assert sum("-> 503" in r for r in fake.git_requests) == 2


def test_branch_prefix_without_a_slash(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake, branch_prefix="deps-"), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"))
    assert [p.head for p in fake.open_pulls(REPO)] == ["deps-ghcr.io-org-web"]
    cycle(cfg, cache)
    assert fake.open_pulls(REPO) == [] and gitrepo.branches(bare(fake)) == ["main"]


def test_targeted_cycle_leaves_other_images_pull_requests_alone(tmp_path: Path, fake: FakeGitHub):
    cfg, cache = config(fake), tmp_path / "cache"
    cycle(cfg, cache, change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0"))
    ws = GitWorkspace(cfg, cache)
    root = ws.checkout()
    p = plan(change("apps/web.yaml", WEB, "1.0.0", "1.2.0"))  # a webhook for web only
    make_deliverer(cfg, ws).deliver(p, render(root, p), lambda r: render(r, p), scope={WEB})
    assert sorted((x.head, x.title) for x in fake.open_pulls(REPO)) == [
        ("imagebot/ghcr.io-org-api", f"Update {API} to 2.1.0"),
        ("imagebot/ghcr.io-org-web", f"Update {WEB} to 1.2.0"),
    ]
    # With `all`, a targeted cycle cannot rebuild the one branch: it waits for a full cycle.
    cfg_all = config(fake, grouping="all")
    result = make_deliverer(cfg_all, GitWorkspace(cfg_all, cache)).deliver(p, render(root, p), lambda r: render(r, p), scope={WEB})
    assert not result.pushed and "next full cycle" in result.problems[0].message
