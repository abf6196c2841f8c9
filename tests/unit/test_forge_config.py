"""Which forge, project and API root a configuration means: providers, self-hosted hosts,
GitLab subgroups, ssh remotes, per-provider token and git user defaults."""

from __future__ import annotations

import pytest

from imagebot.config.schema import Config
from imagebot.deliver.forge import api_url, parse_remote, repository_path
from imagebot.errors import ConfigError


def cfg(url: str, **pr) -> Config:
    return Config.model_validate({"repository": {"url": url}, "delivery": {"mode": "pull-request", "pull_request": pr}})


@pytest.mark.parametrize(
    "url, scheme, host, path",
    [
        ("https://gitlab.example.com/group/sub/project.git", "https", "gitlab.example.com", "group/sub/project"),
        ("https://git.example.com:8443/group/project/", "https", "git.example.com:8443", "group/project"),
        ("http://127.0.0.1:3000/acme/deploy.git", "http", "127.0.0.1:3000", "acme/deploy"),
        ("git@gitlab.example.com:group/sub/project.git", "https", "gitlab.example.com", "group/sub/project"),
        ("ssh://git@gitea.example.com:2222/acme/deploy.git", "https", "gitea.example.com", "acme/deploy"),
        ("https://user:secret@github.com/acme/deploy", "https", "github.com", "acme/deploy"),
        ("/srv/git/deploy.git", "", "", "srv/git/deploy"),
    ],
)
def test_parse_remote(url, scheme, host, path):
    r = parse_remote(url)
    assert (r.scheme, r.host, r.path) == (scheme, host, path)


@pytest.mark.parametrize(
    "provider, url, project, api",
    [
        ("github", "https://github.com/acme/deploy.git", "acme/deploy", "https://api.github.com"),
        ("github", "git@github.example.com:acme/deploy.git", "acme/deploy", "https://github.example.com/api/v3"),
        ("gitlab", "https://gitlab.com/group/sub/project.git", "group/sub/project", "https://gitlab.com/api/v4"),
        ("gitlab", "https://git.corp.example:8443/platform/team/sub/deploy.git", "platform/team/sub/deploy", "https://git.corp.example:8443/api/v4"),
        ("gitlab", "git@git.corp.example:platform/deploy.git", "platform/deploy", "https://git.corp.example/api/v4"),
        ("gitea", "https://codeberg.org/acme/deploy.git", "acme/deploy", "https://codeberg.org/api/v1"),
        ("gitea", "http://127.0.0.1:3000/acme/deploy", "acme/deploy", "http://127.0.0.1:3000/api/v1"),
    ],
)
def test_project_and_api_from_the_url(provider, url, project, api):
    c = cfg(url, provider=provider)
    assert repository_path(c, url) == project and api_url(c, url) == api


def test_explicit_settings_win():
    url = "https://git.example.com/gitlab/group/project.git"  # GitLab under a relative URL root
    c = cfg(url, provider="gitlab", repository="group/project", api_url="https://git.example.com/gitlab/api/v4/")
    assert repository_path(c, url) == "group/project" and api_url(c, url) == "https://git.example.com/gitlab/api/v4"


def test_a_path_without_a_project_is_a_config_error():
    with pytest.raises(ConfigError, match="delivery.pull_request.repository"):
        repository_path(cfg("https://gitlab.example.com/lonely", provider="gitlab"), "https://gitlab.example.com/lonely")
    with pytest.raises(ConfigError, match="delivery.pull_request.api_url"):
        api_url(cfg("/srv/deploy.git", provider="gitea"), "/srv/deploy.git")


@pytest.mark.parametrize(
    "provider, token_env, git_user",
    [("github", "GITHUB_TOKEN", "x-access-token"), ("gitlab", "GITLAB_TOKEN", "oauth2"), ("gitea", "GITEA_TOKEN", "oauth2")],
)
def test_per_provider_defaults(provider, token_env, git_user):
    c = cfg("https://h/o/r", provider=provider)
    assert c.delivery.pull_request.token_env == token_env and c.delivery.git.username == git_user


def test_explicit_token_and_git_user_are_kept():
    c = Config.model_validate(
        {"repository": {"url": "https://h/o/r"},
         "delivery": {"mode": "pull-request", "git": {"username": "bot"}, "pull_request": {"provider": "gitlab", "token_file": "/t"}}}
    )
    assert c.delivery.git.username == "bot" and c.delivery.pull_request.token_env == "GITLAB_TOKEN"
    assert Config.model_validate({"repository": {"url": "https://h/o/r"}}).delivery.pull_request.token_env == "GITHUB_TOKEN"


def test_team_reviewers_on_gitlab_are_a_config_error(tmp_path):
    from imagebot.deliver import GitWorkspace, make_deliverer

    c = cfg("https://gitlab.example.com/g/p.git", provider="gitlab", team_reviewers=["platform"])
    with pytest.raises(ConfigError, match="team_reviewers: GitLab has no team reviewers"):
        make_deliverer(c, GitWorkspace(c, tmp_path))
