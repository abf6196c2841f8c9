"""`notifications:` — where imagebot tells a team what changed and what is stuck."""

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EventKind = Literal[
    "delivered",
    "pull-request-opened",
    "pull-request-updated",
    "pull-request-closed",
    "problem-started",
    "problem-resolved",
    "drift-detected",
    "drift-resolved",
    "promotion-held",
    "promotion-proposed",
]
#: Every kind of notice (imagebot.notify.notices.Kind has the same values; a test holds them equal).
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
ServiceType = Literal["webhook", "slack", "teams", "discord", "googlechat", "alertmanager"]


class NotificationTarget(BaseModel):
    """One place notices go to. The URL of most services is itself a secret: give it by env or file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(None, description="A name for logs and metrics. Default: the type and position.")
    type: ServiceType = Field(description="webhook (imagebot's JSON, HMAC-signed), slack, teams, discord, googlechat, alertmanager.")
    url: str | None = Field(None, description="The endpoint. Prefer url_env / url_file: chat webhook URLs carry a token.")
    url_env: str | None = Field(None, description="Env var holding the endpoint URL.")
    url_file: str | None = Field(None, description="File holding the endpoint URL (e.g. a mounted Secret).")
    secret_env: str | None = Field(None, description="webhook: env var holding the HMAC secret (X-Imagebot-Signature).")
    secret_file: str | None = Field(None, description="webhook: file holding the HMAC secret.")
    events: tuple[EventKind, ...] = Field(EVENT_KINDS, description="The kinds of notice sent here. Default: all.")
    min_severity: Literal["info", "warning", "error"] = Field("info", alias="severity",
                                                             description="Send notices of at least this severity.")
    images: tuple[str, ...] = Field((), description="Only notices about these images (globs, e.g. ghcr.io/org/*). Default: all.")
    repositories: tuple[str, ...] = Field((), description="Only notices about these Git repositories (globs on the URL). Default: all.")
    timeout: float = Field(10.0, gt=0, le=60, description="Seconds for one request (connect and answer).")
    max_attempts: int = Field(4, ge=1, le=10, description="Tries per message (back-off between them) before it is dropped.")
    rate_limit: float = Field(1.0, gt=0, le=50, description="Messages per second to this target (sustained).")
    burst: int = Field(5, ge=1, le=100)

    @model_validator(mode="after")
    def _one_url(self) -> "NotificationTarget":
        given = [k for k in ("url", "url_env", "url_file") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of url, url_env, url_file (got {', '.join(given) or 'none'})")
        if (self.secret_env or self.secret_file) and self.type != "webhook":
            raise ValueError("secret_env / secret_file sign the generic webhook only (type: webhook)")
        return self

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v
