"""Pull-request mode under trouble, end to end through the CLI (real registry, real Git over HTTP,
the schema-checked fake GitHub):

* housekeeping that fails (an orphan bot branch the remote refuses to delete) is a problem of
  that branch; the healthy groups' pull requests are opened in the same cycle;
* images whose names flatten alike (`team/api`, `team-api`) get distinct branches and pull
  requests, and a second run writes nothing (no branch fought over);
* pull requests an imagebot before issue #14 left open on the old branch names are migrated:
  one whose old name only its image claims is adopted (same PR, same branch), the one
  `team/api` and `team-api` fought over is closed with a comment linking both new PRs.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.support import gitrepo
from tests.support.cli import imagebot
from tests.support.fake_github import FakeGitHub
from tests.support.manifests import deployment

REPO = "acme/gitops"
BOT_EMAIL = "imagebot@users.noreply.github.com"
REFUSE_DELETE = """#!/bin/sh
while read old new ref; do
  if [ "$ref" = "refs/heads/imagebot/orphan" ] && [ "$new" = "0000000000000000000000000000000000000000" ]; then
    echo "protected branch: $ref may not be deleted" >&2
    exit 1
  fi
done
"""


@pytest.fixture
def world(tmp_path: Path, registry):
    token = "ghp_" + secrets.token_hex(18)
    for image in ("team/api", "team-api"):
        registry.push_tags(image, ["1.0.0", "1.1.0"])
    files = {
        "apps/api.yaml": deployment("api", f"{registry.host}/team/api:1.0.0", "semver:^1"),
        "apps/team-api.yaml": deployment("team-api", f"{registry.host}/team-api:1.0.0", "semver:^1"),
    }
    remote = gitrepo.make_remote(tmp_path, files)
    with FakeGitHub(tmp_path / "fake", shared_path("github", "openapi-pr-subset.json"), token) as gh:
        remote = gh.add_repo(REPO, remote).bare
        (tmp_path / "imagebot.yaml").write_text(
            f"repository: {{url: '{gh.git_url(REPO)}', branch: main}}\n"
            "delivery:\n  mode: pull-request\n  pull_request:\n"
            f"    api_url: {gh.api_url}\n    repository: {REPO}\n    token_env: TEST_GH_TOKEN\n    throttle: false\n"
            f"registries: [{{host: '{registry.host}', insecure: true}}]\ncache_dir: {tmp_path / 'cache'}\n"
        )
        yield tmp_path, gh, remote, {"TEST_GH_TOKEN": token}


def _orphan_branch(tmp_path: Path, remote: Path) -> None:
    """A branch under the bot's prefix, authored by the bot, with no pull request (a crash left it)."""
    work = gitrepo.clone(remote, tmp_path / "orphan-work")
    (work / "stray.txt").write_text("left by a crash\n")
    gitrepo.git(work, "add", "-A")
    gitrepo.git(work, "-c", f"user.email={BOT_EMAIL}", "-c", "user.name=imagebot", "commit", "-q",
                "--author", f"imagebot <{BOT_EMAIL}>", "-m", "stray")
    gitrepo.git(work, "push", "-q", "origin", "HEAD:refs/heads/imagebot/orphan")


def test_failed_housekeeping_is_a_problem_and_the_healthy_pull_requests_open(world) -> None:
    cwd, gh, remote, env = world
    _orphan_branch(cwd, remote)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(REFUSE_DELETE)
    hook.chmod(0o755)

    res = imagebot("run", "--once", "--json", cwd=cwd, env=env)
    assert res.code == 1, res.err + res.out  # partial: the cycle ran and reported
    doc = json.loads(res.out)
    assert len(gh.open_pulls(REPO)) == 2  # the healthy groups, in the same cycle
    (problem,) = [p for p in doc["problems"] if "orphan" in p["message"] or "orphan" in p["subject"]]
    assert problem["subject"] == "imagebot/orphan" and "pre-receive hook declined" in problem["message"]
    assert "imagebot/orphan" in gitrepo.branches(remote)


def test_images_that_flatten_alike_get_distinct_branches_and_are_not_fought_over(world) -> None:
    cwd, gh, remote, env = world
    first = imagebot("run", "--once", cwd=cwd, env=env)
    assert first.code == 0, first.err + first.out
    pulls = gh.open_pulls(REPO)
    assert len(pulls) == 2 and len({p.head for p in pulls}) == 2, [p.head for p in pulls]
    for p in pulls:
        name = "apps/api.yaml" if "team/api" in p.title else "apps/team-api.yaml"
        assert b":1.1.0" in gitrepo.show(remote, p.head, name)
    heads = {p.head: gitrepo.rev(remote, p.head) for p in pulls}
    writes = len(gh.writes())

    second = imagebot("run", "--once", cwd=cwd, env=env)
    assert second.code == 0, second.err + second.out
    assert len(gh.writes()) == writes  # nothing rewritten
    assert {h: gitrepo.rev(remote, h) for h in heads} == heads  # no force-push back and forth


def _legacy_pull(gh: FakeGitHub, remote: Path, tmp_path: Path, env: dict[str, str], branch: str, path: str,
                 old: str, new: str) -> int:
    """What an imagebot before #14 left: its branch (tip authored by the bot) and an open PR on it."""
    import requests

    work = gitrepo.clone(remote, tmp_path / f"legacy-{path.replace('/', '-')}")
    gitrepo.git(work, "checkout", "-q", "-b", branch)
    (work / path).write_text((work / path).read_text().replace(old, new))
    gitrepo.git(work, "add", "-A")
    gitrepo.git(work, "-c", f"user.email={BOT_EMAIL}", "-c", "user.name=imagebot", "commit", "-q",
                "--author", f"imagebot <{BOT_EMAIL}>", "-m", f"Update to {new}")
    gitrepo.git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    r = requests.post(f"{gh.api_url}/repos/{REPO}/pulls", timeout=10,
                      headers={"Authorization": f"Bearer {env['TEST_GH_TOKEN']}"},
                      json={"title": f"Update to {new}", "head": branch, "base": "main", "body": "old imagebot"})
    assert r.status_code == 201, r.text
    return int(r.json()["number"])


def test_pull_requests_on_the_branch_names_before_issue_14_are_migrated_not_fought_over(world, registry) -> None:
    from imagebot.deliver.grouping import branch_name, legacy_branch_name

    cwd, gh, remote, env = world
    registry.push_tags("team/web", ["1.0.0", "1.1.0"])
    work = gitrepo.clone(remote, cwd / "add-web")
    (work / "apps/web.yaml").write_text(deployment("web", f"{registry.host}/team/web:1.0.0", "semver:^1"))
    gitrepo.commit_all(work, "add web")
    gitrepo.git(work, "push", "-q", "origin", "HEAD:main")
    web, api, team_api = (f"{registry.host}/{name}" for name in ("team/web", "team/api", "team-api"))
    web_legacy, shared_legacy = legacy_branch_name("imagebot/", web), legacy_branch_name("imagebot/", api)
    assert shared_legacy == legacy_branch_name("imagebot/", team_api)  # the name the two fought over
    assert web_legacy != branch_name("imagebot/", web)
    adopted = _legacy_pull(gh, remote, cwd, env, web_legacy, "apps/web.yaml", ":1.0.0", ":1.1.0")
    fought = _legacy_pull(gh, remote, cwd, env, shared_legacy, "apps/api.yaml", ":1.0.0", ":1.1.0")

    first = imagebot("run", "--once", cwd=cwd, env=env)
    assert first.code == 0, first.err + first.out
    pulls = {p.head: p for p in gh.open_pulls(REPO)}
    assert set(pulls) == {web_legacy, branch_name("imagebot/", api), branch_name("imagebot/", team_api)}, set(pulls)
    assert pulls[web_legacy].number == adopted and "team/web" in pulls[web_legacy].title  # same PR, now the bot's title
    assert b":1.1.0" in gitrepo.show(remote, web_legacy, "apps/web.yaml")
    assert branch_name("imagebot/", web) not in gitrepo.branches(remote)
    repo = gh.repos[REPO]
    assert repo.pulls[fought].state == "closed"
    [closing] = [c.body for c in repo.comments.values() if c.issue == fought]
    links = [f"/pull/{pulls[branch_name('imagebot/', x)].number}" for x in (api, team_api)]
    assert "superseded by" in closing and all(link in closing for link in links), closing
    assert shared_legacy not in gitrepo.branches(remote)  # the bot's own old branch, deleted with its PR
    writes, heads = len(gh.writes()), {h: gitrepo.rev(remote, h) for h in pulls}

    second = imagebot("run", "--once", cwd=cwd, env=env)
    assert second.code == 0, second.err + second.out
    assert len(gh.writes()) == writes and {h: gitrepo.rev(remote, h) for h in heads} == heads  # converged
    gh.assert_no_drift()
