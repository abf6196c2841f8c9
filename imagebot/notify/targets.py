"""Configured targets made ready to send to: URL and secret read (and hidden from all output),
the per-target filter applied to notices."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imagebot.config.notifications import NotificationTarget
from imagebot.notify.notices import Notice, Severity
from imagebot.redact import register


@dataclass(frozen=True)
class Target:
    name: str
    settings: NotificationTarget
    url: str
    secret: str | None

    @property
    def type(self) -> str:
        return self.settings.type

    def wants(self, n: Notice) -> bool:
        s = self.settings
        if n.kind.value not in s.events:
            return False
        if n.severity.rank < Severity(s.min_severity).rank:
            return False
        if s.images and not any(fnmatch.fnmatchcase(i, g) for i in n.images for g in s.images):
            return False
        if s.repositories and not any(fnmatch.fnmatchcase(n.repository, g) for g in s.repositories):
            return False
        return True


def _read(value: str | None, env: str | None, file: str | None, what: str) -> str | None:
    if value:
        return value
    if env:
        v = os.environ.get(env, "").strip()
        if not v:
            raise ValueError(f"{what}: env {env} is not set")
        return v
    if file:
        try:
            v = Path(file).read_text().strip()
        except OSError as e:
            raise ValueError(f"{what}: cannot read {file}: {e.strerror or e}") from None
        if not v:
            raise ValueError(f"{what}: {file} is empty")
        return v
    return None


def build(settings: Sequence[NotificationTarget]) -> tuple[list[Target], list[str]]:
    """Targets ready to use, and one error per target that cannot be (it is left out, never fatal)."""
    targets: list[Target] = []
    errors: list[str] = []
    for i, s in enumerate(settings):
        name = s.name or f"{s.type}-{i}"
        try:
            url = _read(s.url, s.url_env, s.url_file, f"notifications[{i}] ({name}) url")
            secret = _read(None, s.secret_env, s.secret_file, f"notifications[{i}] ({name}) secret")
        except ValueError as e:
            errors.append(str(e))
            continue
        assert url is not None
        register(url)  # a chat webhook URL is a credential: never in a log line
        register(secret)
        targets.append(Target(name, s, url, secret))
    return targets, errors
