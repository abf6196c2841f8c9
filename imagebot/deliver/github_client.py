"""Connecting to GitHub (or GitHub Enterprise through `api_url`) with PyGithub, and its errors."""

from __future__ import annotations

import github
import requests
from github import Auth, GithubException

from imagebot.config.schema import Config
from imagebot.deliver.credentials import read_secret
from imagebot.errors import ConfigError, DeliveryError
from imagebot.redact import redact

def connect(cfg: Config, base_url: str | None = None) -> github.Github:
    """A PyGithub client for `base_url` (default: `api_url`, else github.com); `throttle: false`
    turns off its pauses between requests and writes."""
    s = cfg.delivery.pull_request
    token = read_secret(s.token_env, s.token_file, "delivery.pull_request")
    if not token:
        where = f"file {s.token_file}" if s.token_file else f"env var {s.token_env}"
        raise ConfigError(f"delivery.pull_request: no API token ({where} is empty or unset)")
    pauses = {} if s.throttle else {"seconds_between_requests": 0, "seconds_between_writes": 0}
    return github.Github(auth=Auth.Token(token), base_url=(base_url or s.api_url or "https://api.github.com").rstrip("/"), timeout=30, **pauses)


def api_error(action: str, e: Exception) -> DeliveryError:
    """A DeliveryError for a failed API call: temporary for 5xx, 429, rate limits and network trouble."""
    if isinstance(e, GithubException):
        message = e.data.get("message", "") if isinstance(e.data, dict) else str(e.data or "")
        errors = e.data.get("errors") if isinstance(e.data, dict) else None
        detail = f"{e.status} {message}" + (f" {errors}" if errors else "")
        temporary = e.status >= 500 or e.status == 429 or isinstance(e, github.RateLimitExceededException)
        if e.status == 401:
            detail += " (the token was rejected: check delivery.pull_request.token_env / token_file)"
        return DeliveryError(f"GitHub: {action} failed: {redact(detail)}", temporary=temporary)
    if isinstance(e, requests.RequestException):
        return DeliveryError(f"GitHub: {action} failed: {redact(type(e).__name__)}: {redact(str(e))}", temporary=True)
    raise e
