"""Pull-request mode under trouble, end to end through the CLI (real registry, real Git over HTTP,
the schema-checked fake GitHub):

* housekeeping that fails (an orphan bot branch the remote refuses to delete) is a problem of
  that branch; the healthy groups' pull requests are opened in the same cycle;
* images whose names flatten alike (`team/api`, `team-api`) get distinct branches and pull
  requests, and a second run writes nothing (no branch fought over).
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
