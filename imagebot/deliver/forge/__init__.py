"""Forges: where pull requests live. `connect_forge(cfg, url)` returns the adapter for
`delivery.pull_request.provider` (GitHub, GitLab, Gitea/Forgejo); the reconciler
(imagebot.deliver.reconcile) uses only the `Forge` interface of `base`.

The project and the API root default to what the repository URL says, so a self-hosted
forge needs no more than its clone URL: ``https://git.example.com/group/sub/project.git``
-> GitLab project ``group/sub/project`` at ``https://git.example.com/api/v4``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from imagebot.config.schema import Config
from imagebot.deliver.credentials import read_secret
from imagebot.deliver.forge.base import BODY_LIMITS, CommitStatus, Forge, NewPullRequest, PullRequest
from imagebot.errors import ConfigError
from imagebot.redact import redact

_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?!//)(?P<path>.+)$")
API_ROOT = {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}
FORGE_NAME = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}


@dataclass(frozen=True)
class RemoteUrl:
    scheme: str  # "https" or "http" (the web side: an ssh remote's forge is on https)
    host: str  # host[:port] of the web side ("" for local paths)
    path: str  # the project's path, without slashes around it and without ".git"


def parse_remote(url: str) -> RemoteUrl:
    """'https://h:8443/group/sub/project.git' -> (https, h:8443, group/sub/project);
    'git@h:group/project.git' and 'ssh://git@h:2222/group/project' -> (https, h, group/project)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        scheme, path = parts.scheme, parts.path
    elif parts.scheme in ("ssh", "git", "git+ssh", "ssh+git"):
        scheme, host, path = "https", parts.hostname or "", parts.path
    elif (m := _SCP.match(url)) and not parts.scheme:
        scheme, host, path = "https", m["host"], m["path"]
    else:
        scheme, host, path = "", "", parts.path if parts.scheme == "file" else url
    path = path.strip("/").removesuffix(".git").strip("/")
    return RemoteUrl(scheme, host, path)


def repository_path(cfg: Config, url: str) -> str:
    """The project on the forge: `delivery.pull_request.repository`, else from the URL — the
    whole path on GitLab (subgroups), the last two parts (owner/name) on GitHub and Gitea."""
    s = cfg.delivery.pull_request
    if s.repository:
        return s.repository.strip("/")
    parts = [p for p in parse_remote(url).path.split("/") if p]
    if len(parts) < 2:
        raise ConfigError(f"delivery.pull_request.repository: cannot derive the project from {redact(url)}; set it")
    return "/".join(parts) if s.provider == "gitlab" else "/".join(parts[-2:])


def api_url(cfg: Config, url: str) -> str:
    """`delivery.pull_request.api_url`, else the forge's API root on the repository's host."""
    s = cfg.delivery.pull_request
    if s.api_url:
        return s.api_url.rstrip("/")
    remote = parse_remote(url)
    if s.provider == "github" and remote.host in ("github.com", "www.github.com", ""):
        return "https://api.github.com"
    if not remote.host:
        raise ConfigError(f"delivery.pull_request.api_url: cannot derive the {FORGE_NAME[s.provider]} API from {redact(url)}; set it")
    return f"{remote.scheme}://{remote.host}{API_ROOT[s.provider]}"


def api_token(cfg: Config) -> str:
    s = cfg.delivery.pull_request
    token = read_secret(s.token_env, s.token_file, "delivery.pull_request")
    if not token:
        where = f"file {s.token_file}" if s.token_file else f"env var {s.token_env}"
        raise ConfigError(f"delivery.pull_request: no API token ({where} is empty or unset)")
    return token


def connect_forge(cfg: Config, url: str) -> Forge:
    """The adapter for `delivery.pull_request.provider`; it makes no request until first used."""
    s = cfg.delivery.pull_request
    project = repository_path(cfg, url)
    if s.provider == "gitlab":
        from imagebot.deliver.forge.gitlab import GitLabForge, connect

        root, token = api_url(cfg, url), api_token(cfg)
        return GitLabForge(lambda: connect(root, token), project)
    if s.provider == "gitea":
        from imagebot.deliver.forge.gitea import GiteaForge

        return GiteaForge(api_url(cfg, url), api_token(cfg), project)
    from imagebot.deliver.forge.github import GitHubForge

    return GitHubForge(cfg, project, root=api_url(cfg, url))


__all__ = ["BODY_LIMITS", "CommitStatus", "Forge", "NewPullRequest", "PullRequest", "api_url", "connect_forge", "parse_remote", "repository_path"]
