"""`promotions:` — propose what staging runs to production once it has soaked and passed its checks.

Each promotion names two environments of the repository: a folder (`path`, e.g. overlays/staging)
on `repository.branch`, or a whole branch (`branch`, e.g. staging). See docs/promotion.md.
"""

import re
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from imagebot.config.durations import parse_duration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Environment(_Model):
    """One side of a promotion: a folder on `repository.branch`, or a branch (its whole tree, within `repository.paths`)."""

    path: str | None = Field(None, description="A folder relative to the repository root, e.g. overlays/staging.")
    branch: str | None = Field(None, description="A branch, e.g. staging (the environment is that branch's tree).")
    namespace: str | None = Field(
        None, description="from: the cluster namespace of the staging workloads when their files do not say (the healthy gate).")

    @model_validator(mode="after")
    def _one(self) -> "Environment":
        if (self.path is None) == (self.branch is None):
            raise ValueError("give exactly one of path or branch")
        if self.path is not None:
            p = self.path.strip("/")
            if not p or self.path.startswith("/") or ".." in p.split("/"):
                raise ValueError(f"{self.path!r} must be a folder relative to the repository root, without '..'")
            object.__setattr__(self, "path", p)
        if self.branch is not None:
            from imagebot.config.schema import check_branch_name  # schema imports this module

            check_branch_name(self.branch)
        return self


_CRON_FIELD = re.compile(r"^[\w*,/\-]+$")


class Window(_Model):
    """A maintenance window: the minutes a cron expression matches (Renovate-style, e.g. `* 9-16 * * mon-fri` is
    9:00-16:59 on weekdays), in a time zone; or a blackout: a date or `FROM..TO` range (inclusive) never to promote in."""

    cron: str | None = Field(None, description="5 fields: minute hour day-of-month month day-of-week (names or numbers).")
    blackout: str | None = Field(None, description="YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (inclusive): no promotion on these days.")
    timezone: str = Field("UTC", description="An IANA time zone, e.g. Europe/Berlin.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from None
        return v

    @model_validator(mode="after")
    def _one(self) -> "Window":
        if (self.cron is None) == (self.blackout is None):
            raise ValueError("give exactly one of cron or blackout")
        if self.cron is not None:
            from imagebot.config.cron import parse_cron  # validates every field

            parse_cron(self.cron)
        if self.blackout is not None:
            self.days()
        return self

    def days(self) -> tuple[date, date]:
        """The blackout's first and last day."""
        assert self.blackout is not None
        first, _, last = self.blackout.partition("..")
        try:
            a, b = date.fromisoformat(first.strip()), date.fromisoformat((last or first).strip())
        except ValueError:
            raise ValueError(f"blackout {self.blackout!r}: use YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
        if b < a:
            raise ValueError(f"blackout {self.blackout!r} ends before it starts")
        return a, b


class PromotionDelivery(_Model):
    mode: Literal["pull-request", "commit"] = Field(
        "pull-request", description="pull-request (default: review is the point) or commit straight to the production branch.")
    branch_prefix: str | None = Field(None, description="Pull-request branches. Default: imagebot-promote-<name>/.")


class PathMap(_Model):
    """An explicit pairing: the staging file and the production file holding the same workload."""

    from_: str = Field(alias="from", description="A file in the staging environment (relative to its root).")
    to: str = Field(description="The file in the production environment (relative to its root).")


class Promotion(_Model):
    name: str = Field(description="A name for messages, branches and /status, e.g. production.")
    from_: Environment = Field(alias="from", description="Where candidates come from (staging).")
    to: Environment = Field(description="Where they are proposed (production).")
    soak: str = Field("0s", description="How long staging must have run the value, from the commit that put it there.")
    checks: Literal["required", "none"] = Field(
        "required", description="required: the staging commit's statuses/checks on the forge are all green (at least one).")
    windows: tuple[Window, ...] = Field((), description="When production may change (none: always), and blackout dates.")
    delivery: PromotionDelivery = PromotionDelivery()
    healthy: bool = Field(
        False, description="Also require the staging workload to run that value with its rollout complete (the agent reads "
        "the cluster it runs in; Deployment, StatefulSet, DaemonSet container references).")
    pin: bool = Field(True, description="Write production as tag@sha256 (staging's digest).")
    allow_rollback: bool = Field(False, alias="allow-rollback", description="Also promote an older value (staging rolled back).")
    paths: tuple[PathMap, ...] = Field(
        (), description="Explicit pairs of files when the workload identity (kind/namespace/name/container) does not match.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ValueError(f"{v!r}: use letters, digits, '.', '_' and '-'")
        return v

    @field_validator("soak")
    @classmethod
    def _soak(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def soak_seconds(self) -> float:
        return parse_duration(self.soak)

    @property
    def branch_prefix(self) -> str:
        return self.delivery.branch_prefix or f"imagebot-promote-{self.name}/"

    @model_validator(mode="after")
    def _distinct(self) -> "Promotion":
        if self.from_ == self.to:
            raise ValueError("from and to are the same environment")
        return self
