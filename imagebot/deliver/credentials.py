"""Secrets delivery needs: the HTTPS token for Git, the forge API token, SSH key paths.

Every secret is registered for redaction the moment it is read. The Git token never reaches
`.git/config` or a command line: it travels to git in the environment as an
``http.extraHeader`` set through ``GIT_CONFIG_COUNT`` / ``GIT_CONFIG_KEY_n`` (git >= 2.31),
which git keeps out of its traces and error messages.
"""

from __future__ import annotations

import base64
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from imagebot import redact
from imagebot.config.schema import Config
from imagebot.errors import ConfigError


def read_secret(env_name: str | None, file_name: str | None, what: str) -> str | None:
    """The secret from `file_name` (stripped) or else env var `env_name`; registered for redaction."""
    value: str | None = None
    if file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{what}: cannot read token file {file_name}: {e.strerror}") from None
    elif env_name:
        value = os.environ.get(env_name) or None
    if value:
        redact.register(value)
    return value


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(url without user:password@, user, password). A password in the URL is registered for redaction."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    if password:
        redact.register(password)
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), user or None, password or None


@dataclass(frozen=True)
class GitCredentials:
    """How git authenticates to the remote: an HTTPS token, or an SSH key with known_hosts.

    `token_source` gives a token that changes over time (a GitHub App installation token), asked
    for before every git command; it is used when there is no fixed `token`.
    """

    username: str = "x-access-token"
    token: str | None = field(default=None, repr=False)
    ssh_key_file: str | None = None
    known_hosts_file: str | None = None
    token_source: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    def config_entries(self) -> list[tuple[str, str]]:
        """git configuration passed through the environment for every command."""
        entries = [("credential.helper", "")]
        token = self.token or (self.token_source() if self.token_source else None)
        if token:
            basic = base64.b64encode(f"{self.username}:{token}".encode()).decode()
            redact.register(basic)
            entries.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        return entries

    def env(self) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
        if self.ssh_key_file or self.known_hosts_file:
            cmd = ["ssh", "-o", "BatchMode=yes"]
            if self.ssh_key_file:
                cmd += ["-i", self.ssh_key_file, "-o", "IdentitiesOnly=yes"]
            if self.known_hosts_file:
                cmd += ["-o", f"UserKnownHostsFile={self.known_hosts_file}", "-o", "StrictHostKeyChecking=yes"]
            env["GIT_SSH_COMMAND"] = shlex.join(cmd)
        return env


def git_credentials(cfg: Config) -> tuple[str, GitCredentials]:
    """The remote URL to store (credentials stripped) and the credentials to use with it.

    The token comes from `delivery.git` (file, then env); in pull-request mode without one, the
    forge API token is used for HTTPS too (a GitHub token works for both), or, with a GitHub App
    (`delivery.pull_request.app`), its installation token, renewed as it nears expiry.
    """
    auth = cfg.delivery.git
    url, url_user, url_password = split_url_credentials(cfg.repository.url)
    token = read_secret(auth.token_env, auth.token_file, "delivery.git")
    if token is None and url_password:
        token = url_password
    token_source = None
    if token is None and cfg.delivery.mode == "pull-request" and url.startswith(("http://", "https://")):
        pr = cfg.delivery.pull_request
        if pr.app is None:
            token = read_secret(pr.token_env, pr.token_file, "delivery.pull_request")
        else:
            # Imported here: PyGithub is needed for an App only, and github_client imports this module.
            from imagebot.deliver.github_client import installation_token_source

            token_source = installation_token_source(cfg)
    for name, path in (("ssh_key_file", auth.ssh_key_file), ("known_hosts_file", auth.known_hosts_file)):
        if path and not Path(path).is_file():
            raise ConfigError(f"delivery.git.{name}: {path} is not a readable file")
    creds = GitCredentials(
        username=url_user or auth.username,
        token=token,
        ssh_key_file=auth.ssh_key_file,
        known_hosts_file=auth.known_hosts_file,
        token_source=token_source,
    )
    return url, creds
