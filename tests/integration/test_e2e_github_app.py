"""GitHub App authentication end to end: `imagebot run --once` in pull-request mode as an App.

The fake GitHub verifies every App JWT (RS256 signature with the App's public key, iss = App ID,
iat/exp sane: tests/support/fake_github_app.py) before it issues an installation token; it
accepts only installation tokens it issued for the API and as the Git password. No personal
token exists anywhere in this test.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.support import gitrepo
from tests.support.cli import imagebot
from tests.support.fake_github import FakeGitHub
from tests.support.fake_github_app import GitHubAppIssuer
from tests.support.manifests import deployment

REPO = "acme/gitops"
APP_ID, INSTALLATION = 4242, 777


@pytest.fixture
def world(tmp_path: Path, registry):
    registry.push_tags("team/web", ["1.0.0", "1.1.0"])
    remote = gitrepo.make_remote(tmp_path, {"apps/web.yaml": deployment("web", f"{registry.host}/team/web:1.0.0")})
    app = GitHubAppIssuer(APP_ID, INSTALLATION)
    key_file = tmp_path / "secrets" / "app-private-key.pem"
    key_file.parent.mkdir()
    key_file.write_text(app.private_key_pem)
    # The fake's own token is never given to imagebot: only App installation tokens can work.
    with FakeGitHub(tmp_path / "fake", shared_path("github", "openapi-pr-subset.json"), "ghp_" + secrets.token_hex(18)) as gh:
        gh.app = app
        remote = gh.add_repo(REPO, remote).bare
        (tmp_path / "imagebot.yaml").write_text(
            f"repository: {{url: '{gh.git_url(REPO)}', branch: main}}\n"
            "delivery:\n  mode: pull-request\n  pull_request:\n"
            f"    api_url: {gh.api_url}\n    repository: {REPO}\n    throttle: false\n"
            f"    app: {{app_id: {APP_ID}, installation_id: {INSTALLATION}, private_key_file: '{key_file}'}}\n"
            f"registries: [{{host: '{registry.host}', insecure: true}}]\ncache_dir: {tmp_path / 'cache'}\n"
        )
        yield tmp_path, gh, app, remote, registry, key_file
        gh.assert_no_drift()


def test_run_once_as_a_github_app_opens_the_pull_request(world) -> None:
    cwd, gh, app, remote, registry, _key = world
    res = imagebot("run", "--once", cwd=cwd, env={"GITHUB_TOKEN": ""})
    assert res.code == 0, res.err + res.out
    assert not app.refused
    assert app.verified_jwts, "installation tokens were bought with verified JWTs"
    assert all(str(c["iss"]) == str(APP_ID) and c["exp"] - c["iat"] <= 660 for c in app.verified_jwts)
    [pull] = gh.open_pulls(REPO)
    assert "1.1.0" in pull.title
    # git pushed the branch with an installation token (the fake accepts no other password)
    assert gitrepo.show(remote, pull.head, "apps/web.yaml").decode() == deployment("web", f"{registry.host}/team/web:1.1.0")
    assert any("git-receive-pack" in r for r in gh.git_requests)
    for secret in (*app.tokens, app.private_key_pem.splitlines()[1]):
        assert secret not in res.out + res.err
    git_configs = list((cwd / "cache" / "repos").rglob(".git/config"))
    assert git_configs and not any(t in c.read_text() for c in git_configs for t in app.tokens)


def test_a_jwt_signed_with_another_key_is_refused_and_reported(world) -> None:
    cwd, gh, app, remote, registry, key_file = world
    key_file.write_text(GitHubAppIssuer(APP_ID, INSTALLATION).private_key_pem)  # not the App's key
    res = imagebot("run", "--once", cwd=cwd, env={"GITHUB_TOKEN": ""})
    assert res.code != 0
    assert app.refused and all("InvalidSignatureError" in r for r in app.refused)
    assert not app.tokens and gh.open_pulls(REPO) == []
    assert "GitHub: creating a GitHub App installation token failed: 401 A JSON web token could not be decoded" in res.err
    assert "app_id, installation_id and private key" in res.err
