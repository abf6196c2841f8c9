"""Pull-request mode end to end through the CLI: a real registry, a real Git remote served over
HTTP, and the schema-checked fake GitHub (its API reached through `pull_request.api_url`)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.support import gitrepo
from tests.support.cli import imagebot
from tests.support.fake_github import FakeGitHub

REPO = "acme/gitops"


def deployment(name: str, image: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}  # owned by team {name}\n"
        f"  annotations:\n    imagebot.io/policy: \"semver:^1\"\nspec:\n  template:\n    spec:\n"
        f"      containers:\n        - name: {name}\n          image: {image}\n"
    )


@pytest.fixture
def world(tmp_path: Path, registry, monkeypatch: pytest.MonkeyPatch):
    token = "ghp_" + secrets.token_hex(18)
    registry.push_tags("team/web", ["1.0.0", "1.1.0"], labels={"org.opencontainers.image.source": "https://github.com/acme/web"})
    registry.push_tags("team/api", ["1.0.0", "1.2.0"])
    files = {
        "apps/web.yaml": deployment("web", f"{registry.host}/team/web:1.0.0"),
        "apps/api.yaml": deployment("api", f"{registry.host}/team/api:1.0.0"),
    }
    remote = gitrepo.make_remote(tmp_path, files)
    with FakeGitHub(tmp_path / "fake", shared_path("github", "openapi-pr-subset.json"), token) as gh:
        remote = gh.add_repo(REPO, remote).bare
        (tmp_path / "imagebot.yaml").write_text(
            f"repository: {{url: '{gh.git_url(REPO)}', branch: main}}\n"
            "delivery:\n  mode: pull-request\n  pull_request:\n"
            f"    api_url: {gh.api_url}\n    repository: {REPO}\n    token_env: TEST_GH_TOKEN\n"
            "    throttle: false\n    labels: [imagebot]\n"
            f"registries: [{{host: '{registry.host}', insecure: true}}]\ncache_dir: {tmp_path / 'cache'}\n"
        )
        yield tmp_path, gh, remote, registry, {"TEST_GH_TOKEN": token}, token
        gh.assert_no_drift()


def test_open_update_and_stay_quiet(world) -> None:
    cwd, gh, remote, registry, env, token = world

    first = imagebot("run", "--once", "--json", cwd=cwd, env=env)
    assert first.code == 0, first.err + first.out
    pulls = gh.open_pulls(REPO)
    assert len(pulls) == 2  # per-image grouping (default): one PR per image
    web = next(p for p in pulls if "team/web" in p.title)
    assert "1.1.0" in web.title and "https://github.com/acme/web" in (web.body or "")
    assert web.labels == ["imagebot"]
    assert gitrepo.show(remote, web.head, "apps/web.yaml").decode() == deployment("web", f"{registry.host}/team/web:1.1.0")
    assert len(gitrepo.log(remote, "main")) == 1  # the base is untouched

    # a newer tag updates the same PR: still one PR for web
    registry.push("team/web", "1.2.0")
    second = imagebot("run", "--once", cwd=cwd, env=env)
    assert second.code == 0, second.err + second.out
    pulls = gh.open_pulls(REPO)
    assert len(pulls) == 2
    web2 = next(p for p in pulls if "team/web" in p.title)
    assert web2.number == web.number and "1.2.0" in web2.title
    assert "team/web:1.2.0" in gitrepo.show(remote, web2.head, "apps/web.yaml").decode()

    # nothing new: no write calls to the API at all
    writes = len(gh.writes())
    third = imagebot("run", "--once", cwd=cwd, env=env)
    assert third.code == 0, third.err + third.out
    assert len(gh.writes()) == writes

    # the token appears in no output
    for res in (first, second, third):
        assert token not in res.out + res.err
    git_configs = list((cwd / "cache" / "repos").rglob(".git/config"))
    assert git_configs and all(token not in c.read_text() for c in git_configs)


def test_plan_shows_the_pull_requests_run_would_open(world) -> None:
    cwd, gh, remote, registry, env, token = world
    res = imagebot("plan", "--json", cwd=cwd, env=env)
    assert res.code == 0, res.err
    preview = json.loads(res.out)["delivery_preview"]
    assert preview["mode"] == "pull-request"
    assert sorted(p["base"] for p in preview["pull_requests"]) == ["main", "main"]
    assert gh.writes() == []  # plan writes nothing
