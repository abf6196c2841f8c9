"""The forge-neutral reconciler against an in-memory forge and a local bare Git remote:
what it does to pull requests, and the frozen outcomes it reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.config.schema import Config
from imagebot.deliver import GitWorkspace, make_deliverer
from imagebot.deliver.forge.base import Forge
from imagebot.deliver.pull_requests import PullRequestDeliverer
from imagebot.deliver.reconcile import CLOSED_MARKER
from tests.support import gitrepo
from tests.support.deliver_plans import change, manifest, plan, render
from tests.support.memory_forge import MemoryForge

WEB, API = "ghcr.io/org/web", "ghcr.io/org/api"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return gitrepo.make_remote(tmp_path, {"apps/web.yaml": manifest("web", f"{WEB}:1.0.0"), "apps/api.yaml": manifest("api", f"{API}:2.0.0")})


def deliver(remote: Path, cache: Path, forge: MemoryForge, *changes, **pr) -> PullRequestDeliverer:
    cfg = Config.model_validate(
        {"repository": {"url": str(remote), "branch": "main"},
         "delivery": {"mode": "pull-request", "pull_request": {"provider": "gitlab", "labels": ["deps"], "reviewers": ["alice"], **pr}}}
    )
    ws = GitWorkspace(cfg, cache)
    root = ws.checkout()
    p = plan(*changes)
    d = make_deliverer(cfg, ws, forge_factory=lambda: forge)
    assert isinstance(d, PullRequestDeliverer)
    d.deliver(p, render(root, p), lambda r: render(r, p))
    return d


def test_memory_forge_is_a_forge():
    forge: Forge = MemoryForge()  # the type checker's view; at run time, every method is there
    assert all(callable(getattr(forge, m)) for m in ("open_pull_requests", "closed_pull_requests", "create", "update", "add_labels",
                                                      "request_reviewers", "comments", "comment", "close", "set_status", "statuses"))


def test_outcomes_open_update_unchanged_close(tmp_path: Path, remote: Path):
    forge, cache = MemoryForge(), tmp_path / "cache"
    web, api = change("apps/web.yaml", WEB, "1.0.0", "1.1.0"), change("apps/api.yaml", API, "2.0.0", "2.1.0")

    first = deliver(remote, cache, forge, web, api).outcomes
    assert [(o.branch, o.action) for o in first] == [("imagebot/ghcr.io-org-api", "opened"), ("imagebot/ghcr.io-org-web", "opened")]
    assert all(len(o.commit) == 40 and o.changes and o.files for o in first)
    assert forge.writes == [
        "create imagebot/ghcr.io-org-api", "labels #1", "reviewers #1", "update #1",
        "create imagebot/ghcr.io-org-web", "labels #2", "reviewers #2", "update #2",
    ]
    assert forge.pulls[1].labels == ("deps",) and forge.pulls[1].reviewers == ("alice",) and "setup=pending" not in forge.pulls[1].body

    newer = change("apps/web.yaml", WEB, "1.0.0", "1.2.0")
    second = deliver(remote, cache, forge, newer).outcomes
    assert [(o.branch, o.action, o.number) for o in second] == [
        ("imagebot/ghcr.io-org-web", "updated", 2),
        ("imagebot/ghcr.io-org-api", "closed", 1),
    ]
    assert forge.pulls[1].state == "closed" and CLOSED_MARKER in forge.comments_of[1][0]
    assert "merge request" in forge.comments_of[1][0] or "pull request" in forge.comments_of[1][0]
    assert gitrepo.branches(remote) == ["imagebot/ghcr.io-org-web", "main"]

    writes = len(forge.writes)
    third = deliver(remote, cache, forge, newer).outcomes
    assert [(o.action, o.commit) for o in third] == [("unchanged", "")] and len(forge.writes) == writes


def test_a_second_open_pull_request_for_a_branch_is_closed(tmp_path: Path, remote: Path):
    forge, cache = MemoryForge(), tmp_path / "cache"
    web = change("apps/web.yaml", WEB, "1.0.0", "1.1.0")
    deliver(remote, cache, forge, web)
    from dataclasses import replace

    forge.pulls[2] = replace(forge.pulls[1], number=2, url="memory://2", base="develop")  # someone opened one into another base
    outcomes = deliver(remote, cache, forge, web).outcomes
    assert forge.pulls[2].state == "closed" and "duplicates #1" in forge.comments_of[2][0]
    assert [(o.number, o.action) for o in outcomes] == [(2, "closed"), (1, "unchanged")]
    assert gitrepo.branches(remote) == ["imagebot/ghcr.io-org-web", "main"]  # the duplicate's branch is the kept one's


def test_texts_follow_templates_and_prefix(tmp_path: Path, remote: Path):
    forge = MemoryForge()
    deliver(
        remote, tmp_path / "cache", forge, change("apps/web.yaml", WEB, "1.0.0", "2.0.0", policy="semver"),
        title_template="[{update_type}] {summary}", body_template="{summary}\n\n{table}",
    )
    [pr] = forge.pulls.values()
    assert pr.title == f"[major] Update {WEB} to 2.0.0"
    assert pr.body.startswith(f"Update {WEB} to 2.0.0\n\n| Image | Update |") and "<details>" not in pr.body


def test_no_forge_call_starts_past_the_cycle_deadline() -> None:
    """A cycle out of time is abandoned between forge calls (DeadlineExceeded), never in one."""
    from imagebot.deadline import Deadline, DeadlineExceeded
    from imagebot.deliver.forge.base import Deadlined

    calls: list[str] = []

    class Forge:
        name = "Fake"
        body_limit = 100

        def open_pull_requests(self, prefix: str) -> list:
            calls.append(prefix)
            return []

    now = [0.0]
    deadline = Deadline(10, clock=lambda: now[0])
    forge = Deadlined(Forge(), deadline)
    assert forge.open_pull_requests("imagebot/") == [] and forge.body_limit == 100
    now[0] = 11.0
    try:
        forge.open_pull_requests("imagebot/")
    except DeadlineExceeded as e:
        assert "calling Fake (open_pull_requests)" in str(e)
    else:
        raise AssertionError("a call started past the deadline")
    assert calls == ["imagebot/"]


def test_an_open_pull_request_on_the_legacy_branch_name_is_adopted_not_closed_and_reopened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Issue #14 renamed branches whose flat name was ambiguous ('ghcr.io/org/my-api' now gets a
    hash suffix). The bot's open pull request on the old name keeps its number, review and
    discussion: the update goes to the old branch; after that PR is merged, the new name is used."""
    from imagebot.deliver import grouping

    image = "ghcr.io/org/my-api"
    legacy, new = grouping.legacy_branch_name("imagebot/", image), grouping.branch_name("imagebot/", image)
    assert legacy == "imagebot/ghcr.io-org-my-api" and new.startswith(legacy + "-")
    remote = gitrepo.make_remote(tmp_path, {"apps/my-api.yaml": manifest("my-api", f"{image}:1.0.0"),
                                            "apps/web.yaml": manifest("web", f"{WEB}:1.0.0")})
    forge, cache = MemoryForge(), tmp_path / "cache"
    with monkeypatch.context() as m:  # a cycle of the imagebot before #14
        m.setattr(grouping, "branch_name", grouping.legacy_branch_name)
        deliver(remote, cache, forge, change("apps/my-api.yaml", image, "1.0.0", "1.1.0"))
    assert [(p.number, p.branch) for p in forge.pulls.values()] == [(1, legacy)]
    forge.comment(forge.pulls[1], "LGTM once CI passes")  # a reviewer's context, on this PR

    newer, web = change("apps/my-api.yaml", image, "1.0.0", "1.2.0"), change("apps/web.yaml", WEB, "1.0.0", "1.1.0")
    outcomes = deliver(remote, cache, forge, newer, web).outcomes
    assert [(o.branch, o.action, o.number) for o in outcomes] == [
        (legacy, "updated", 1), ("imagebot/ghcr.io-org-web", "opened", 2)]
    assert forge.pulls[1].state == "open" and "1.2.0" in forge.pulls[1].title
    assert b":1.2.0" in gitrepo.show(remote, legacy, "apps/my-api.yaml")
    assert gitrepo.branches(remote) == [legacy, "imagebot/ghcr.io-org-web", "main"]  # no new-name branch

    writes = len(forge.writes)  # converged: the next cycle writes nothing, and never fights over names
    assert [o.action for o in deliver(remote, cache, forge, newer, web).outcomes] == ["unchanged", "unchanged"]
    assert len(forge.writes) == writes

    from dataclasses import replace
    forge.pulls[1] = replace(forge.pulls[1], state="merged")  # the PR is merged: its branch is done
    latest = change("apps/my-api.yaml", image, "1.0.0", "1.3.0")
    outcomes = deliver(remote, cache, forge, latest, web).outcomes
    assert [(o.branch, o.action, o.number) for o in outcomes] == [
        (new, "opened", 3), ("imagebot/ghcr.io-org-web", "unchanged", 2)]
    assert legacy not in gitrepo.branches(remote)  # its PR merged: an orphan of the bot, deleted


def test_a_legacy_branch_with_someone_else_s_commits_is_not_adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from imagebot.deliver import grouping

    image = "ghcr.io/org/my-api"
    legacy, new = grouping.legacy_branch_name("imagebot/", image), grouping.branch_name("imagebot/", image)
    remote = gitrepo.make_remote(tmp_path, {"apps/my-api.yaml": manifest("my-api", f"{image}:1.0.0")})
    forge, cache = MemoryForge(), tmp_path / "cache"
    with monkeypatch.context() as m:
        m.setattr(grouping, "branch_name", grouping.legacy_branch_name)
        deliver(remote, cache, forge, change("apps/my-api.yaml", image, "1.0.0", "1.1.0"))
    work = gitrepo.clone(remote, tmp_path / "human")
    gitrepo.git(work, "checkout", "-q", legacy)
    (work / "notes.txt").write_text("a human pushed here\n")
    gitrepo.git(work, "add", "-A")
    gitrepo.git(work, "-c", "user.email=dev@example.com", "-c", "user.name=dev", "commit", "-q", "-m", "human")
    gitrepo.git(work, "push", "-q", "origin", legacy)

    outcomes = deliver(remote, cache, forge, change("apps/my-api.yaml", image, "1.0.0", "1.2.0")).outcomes
    assert [(o.branch, o.action, o.number) for o in outcomes] == [(new, "opened", 2), (legacy, "closed", 1)]
    assert "superseded by memory://2" in forge.comments_of[1][-1]  # the old PR links the one that took over
    assert legacy in gitrepo.branches(remote)  # a human's commits are never deleted
