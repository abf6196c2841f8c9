"""Git credentials: where the token goes (the environment) and where it never goes."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

import pytest

from imagebot.config.schema import Config
from imagebot.deliver.credentials import git_credentials, split_url_credentials
from imagebot.errors import ConfigError
from imagebot.redact import redact


def cfg(url: str = "https://github.com/acme/deploy.git", mode: str = "commit", **git) -> Config:
    return Config.model_validate({"repository": {"url": url}, "delivery": {"mode": mode, "git": git}})


def test_token_from_file_goes_to_an_extra_header_only(tmp_path: Path):
    (tmp_path / "token").write_text("tok-from-file-123\n")
    url, creds = git_credentials(cfg(token_file=str(tmp_path / "token")))
    assert url == "https://github.com/acme/deploy.git"
    [(helper, empty), (key, value)] = creds.config_entries()
    assert (helper, empty, key) == ("credential.helper", "", "http.extraHeader")
    assert value == "Authorization: Basic " + base64.b64encode(b"x-access-token:tok-from-file-123").decode()
    assert redact(value) == "Authorization: Basic ***" and redact("tok-from-file-123") == "***"
    assert "tok-from-file" not in repr(creds)


def test_token_in_the_url_is_moved_out_of_it(monkeypatch: pytest.MonkeyPatch):
    url, creds = git_credentials(cfg("https://bot:url-token-456@git.example.com/acme/deploy.git"))
    assert url == "https://git.example.com/acme/deploy.git"
    assert creds.username == "bot" and creds.token == "url-token-456"
    assert redact("https://bot:url-token-456@x") == "https://bot:***@x"
    assert split_url_credentials("git@github.com:acme/deploy.git") == ("git@github.com:acme/deploy.git", None, None)


def test_pull_request_token_is_used_for_https_git(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITHUB_TOKEN", "gh-token-789")
    _, creds = git_credentials(cfg(mode="pull-request"))
    assert creds.token == "gh-token-789"
    _, creds = git_credentials(cfg(mode="commit"))
    assert creds.token is None


def test_ssh_key_and_known_hosts(tmp_path: Path):
    key, hosts = tmp_path / "id ed25519", tmp_path / "known_hosts"
    key.write_text("k")
    hosts.write_text("h")
    _, creds = git_credentials(cfg("git@github.com:acme/deploy.git", ssh_key_file=str(key), known_hosts_file=str(hosts)))
    assert shlex.split(creds.env()["GIT_SSH_COMMAND"]) == [
        "ssh", "-o", "BatchMode=yes", "-i", str(key), "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={hosts}", "-o", "StrictHostKeyChecking=yes",
    ]
    with pytest.raises(ConfigError, match="delivery.git.ssh_key_file"):
        git_credentials(cfg("git@github.com:a/b.git", ssh_key_file=str(tmp_path / "missing")))


def test_unreadable_token_file_names_the_field(tmp_path: Path):
    with pytest.raises(ConfigError, match="delivery.git: cannot read token file"):
        git_credentials(cfg(token_file=str(tmp_path / "nope")))
