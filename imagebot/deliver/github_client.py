"""Connecting to GitHub (or GitHub Enterprise through `api_url`) with PyGithub, and its errors."""

from __future__ import annotations

from collections.abc import Callable

import github
import requests
from github import Auth, GithubException, GithubRetry

from imagebot.config.schema import Config, GitHubApp
from imagebot.deliver.credentials import read_secret
from imagebot.errors import ConfigError, DeliveryError
from imagebot.redact import redact
from imagebot.redact import register as redact_register

class _InstallationAuth(Auth.AppInstallationAuth):
    """PyGithub's App installation auth; each installation token is registered for redaction as it is read."""

    @property
    def token(self) -> str:
        value = super().token
        redact_register(value)
        return value


def app_auth(app: GitHubApp) -> Auth.AppInstallationAuth:
    """GitHub App authentication: JWTs (RS256, signed with the App's key) buy installation tokens.

    PyGithub asks for a new installation token when the current one is 20 s from expiry (1 h).
    """
    key = read_secret(app.private_key_env, app.private_key_file, "delivery.pull_request.app")
    if not key:
        where = f"file {app.private_key_file}" if app.private_key_file else f"env var {app.private_key_env}"
        raise ConfigError(f"delivery.pull_request.app: no private key ({where} is empty or unset)")
    if "PRIVATE KEY-----" not in key:
        raise ConfigError("delivery.pull_request.app: the private key is not PEM (download it from the App's settings)")
    return _InstallationAuth(Auth.AppAuth(app.app_id, key), app.installation_id)


def github_auth(cfg: Config) -> Auth.Auth:
    """How imagebot authenticates to the API: a GitHub App installation, else the token."""
    s = cfg.delivery.pull_request
    if s.app is not None:
        return app_auth(s.app)
    token = read_secret(s.token_env, s.token_file, "delivery.pull_request")
    if not token:
        where = f"file {s.token_file}" if s.token_file else f"env var {s.token_env}"
        raise ConfigError(f"delivery.pull_request: no API token ({where} is empty or unset)")
    return Auth.Token(token)


def connect(cfg: Config, auth: Auth.Auth | None = None, base_url: str | None = None) -> github.Github:
    """A PyGithub client for `base_url` (default: `api_url`, else github.com); `throttle: false`
    turns off its pauses between requests and writes."""
    s = cfg.delivery.pull_request
    pauses = {} if s.throttle else {"seconds_between_requests": 0, "seconds_between_writes": 0}
    url = (base_url or s.api_url or "https://api.github.com").rstrip("/")
    # Bounded: 30 s a request, at most 3 retries (PyGithub's default is 10, with long back-offs);
    # the reconciler starts no call past the cycle's deadline (forge.base.Deadlined).
    return github.Github(auth=auth or github_auth(cfg), base_url=url, timeout=30, retry=GithubRetry(total=3), **pauses)


def installation_token_source(cfg: Config) -> Callable[[], str]:
    """The App installation token for Git over HTTPS (user x-access-token), current at each call."""
    assert cfg.delivery.pull_request.app is not None
    auth = app_auth(cfg.delivery.pull_request.app)
    connect(cfg, auth)  # binds the auth to a requester for api_url

    def token() -> str:
        try:
            return auth.token
        except (GithubException, requests.RequestException) as e:
            raise api_error("creating a GitHub App installation token", e) from None

    return token


def api_error(action: str, e: Exception) -> DeliveryError:
    """A DeliveryError for a failed API call: temporary for 5xx, 429, rate limits and network trouble."""
    if isinstance(e, GithubException):
        message = e.data.get("message", "") if isinstance(e.data, dict) else str(e.data or "")
        errors = e.data.get("errors") if isinstance(e.data, dict) else None
        detail = f"{e.status} {message}" + (f" {errors}" if errors else "")
        temporary = e.status >= 500 or e.status == 429 or isinstance(e, github.RateLimitExceededException)
        if e.status == 401:
            detail += (" (the token was rejected: check delivery.pull_request.token_env / token_file, "
                       "or with an App its app_id, installation_id and private key)")
        return DeliveryError(f"GitHub: {action} failed: {redact(detail)}", temporary=temporary)
    if isinstance(e, requests.RequestException):
        return DeliveryError(f"GitHub: {action} failed: {redact(type(e).__name__)}: {redact(str(e))}", temporary=True)
    raise e
