"""Pull-request mode on GitLab and Gitea/Forgejo end to end through the CLI (`imagebot run
--once` in a subprocess): a real registry, a real Git remote served over HTTP by the fake
forge, the fake forge's API validated against the OpenAPI subsets. The configuration names
only the provider and the self-hosted clone URL (GitLab: a project in a subgroup); the
project path and the API root are derived from it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.integration.test_deliver_forges import PROJECT, start_fake
from tests.integration.test_e2e_pull_requests import deployment
from tests.support import gitrepo
from tests.support.cli import imagebot


@pytest.fixture(params=["gitlab", "gitea"])
def world(request, tmp_path: Path, registry):
    kind, token = request.param, secrets.token_hex(20)
    registry.push_tags("team/web", ["1.0.0", "1.1.0"], labels={"org.opencontainers.image.source": "https://github.com/acme/web"})
    files = {"apps/web.yaml": deployment("web", f"{registry.host}/team/web:1.0.0")}
    remote = gitrepo.make_remote(tmp_path, files)
    with start_fake(kind, tmp_path / "fake", token) as fake:
        bare = fake.add_project(PROJECT[kind], remote).bare
        (tmp_path / "imagebot.yaml").write_text(
            f"repository: {{url: '{fake.git_url(PROJECT[kind])}', branch: main}}\n"
            "delivery:\n  mode: pull-request\n  message_prefix: 'chore(deps): '\n  pull_request:\n"
            f"    provider: {kind}\n    labels: [imagebot, dependencies]\n    reviewers: [alice]\n"
            f"registries: [{{host: '{registry.host}', insecure: true}}]\ncache_dir: {tmp_path / 'cache'}\n"
        )
        env = {"GITLAB_TOKEN" if kind == "gitlab" else "GITEA_TOKEN": token}
        yield kind, tmp_path, fake, bare, registry, env, token
        fake.assert_no_drift()


def run(cwd: Path, env: dict[str, str], code: int = 0) -> str:
    res = imagebot("run", "--once", cwd=cwd, env=env)
    assert res.code == code, res.err + res.out
    return res.out + res.err


def test_pull_request_lifecycle_through_the_cli(world, tmp_path: Path) -> None:
    kind, cwd, fake, bare, registry, env, token = world
    path, image = PROJECT[kind], f"{registry.host}/team/web"

    outputs = [run(cwd, env)]
    [pr] = fake.open_pulls(path)
    assert pr.title == f"chore(deps): Update {image} to 1.1.0"
    assert pr.labels == ["imagebot", "dependencies"] and pr.reviewers == ["alice"]
    assert "[release notes](https://github.com/acme/web/releases/tag/1.1.0)" in pr.body and "setup=pending" not in pr.body
    assert gitrepo.show(bare, pr.head, "apps/web.yaml").decode() == deployment("web", f"{image}:1.1.0")
    assert gitrepo.log(bare, pr.head)[0].startswith("chore(deps): Update")

    # a newer tag: the same pull request, updated in place
    registry.push("team/web", "1.2.0")
    outputs.append(run(cwd, env))
    [again] = fake.open_pulls(path)
    assert again.number == pr.number and again.title == f"chore(deps): Update {image} to 1.2.0"
    assert f"{image}:1.2.0" in gitrepo.show(bare, pr.head, "apps/web.yaml").decode()

    # nothing new: not one API write
    writes = len(fake.writes())
    outputs.append(run(cwd, env))
    assert fake.writes()[writes:] == []

    # a human bumps the base: the pull request is no longer needed
    work = tmp_path / "human"
    gitrepo.clone(bare, work, "main")
    gitrepo.write_files(work, {"apps/web.yaml": deployment("web", f"{image}:1.2.0")})
    gitrepo.commit_all(work, "bump web by hand")
    gitrepo.git(work, "push", "-q", "origin", "HEAD:main")
    outputs.append(run(cwd, env))
    assert fake.open_pulls(path) == []
    closed = fake.projects[path].pulls[pr.number]
    assert closed.state == "closed" and len(closed.comments) == 1 and "no longer needed" in closed.comments[0]
    assert gitrepo.branches(bare) == ["main"]
    assert all(token not in out for out in outputs)


def test_a_pull_request_closed_by_a_human_stays_closed(world) -> None:
    kind, cwd, fake, bare, registry, env, token = world
    path = PROJECT[kind]
    run(cwd, env)
    [pr] = fake.open_pulls(path)
    fake.projects[path].pulls[pr.number].state = "closed"  # a reviewer said no

    writes = len(fake.writes())
    out = run(cwd, env, code=1)  # a problem to report: the update waits for a human
    assert fake.open_pulls(path) == [] and len(fake.projects[path].pulls) == 1
    assert fake.writes()[writes:] == [] and "will not reopen" in out

    registry.push("team/web", "1.3.0")  # a newer tag is a new proposal
    run(cwd, env)
    [new] = fake.open_pulls(path)
    assert new.number == 2 and "1.3.0" in new.title
