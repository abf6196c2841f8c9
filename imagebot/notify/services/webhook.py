"""The generic JSON webhook: imagebot's own documented schema (docs/notifications.md).

Body: ``{"version": 1, "source": "imagebot", "sent_at": ISO-8601, "events": [...]}``, each
event with its kind, severity, title, text, repository, subject, location, updates, links,
since and key. Signed when a secret is set: ``X-Imagebot-Signature: sha256=<hex HMAC-SHA256 of
the body bytes>``; ``sent_at`` is inside the signed body, so a receiver can refuse replays, and
``X-Imagebot-Timestamp`` repeats it as Unix seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Any

from imagebot.model import utc_iso
from imagebot.notify.notices import Notice

VERSION = 1
MAX_EVENTS = 100


def _iso(t: float | None) -> str | None:
    return None if t is None else utc_iso(t)


def event(n: Notice) -> dict[str, Any]:
    return {
        "kind": n.kind.value,
        "severity": n.severity.value,
        "title": n.title,
        "text": n.text,
        "repository": n.repository,
        "subject": n.subject,
        "location": n.location,
        "images": list(n.images),
        "updates": [{"image": u.image, "old": u.old, "new": u.new, "files": list(u.files)} for u in n.updates],
        "links": [{"label": label, "url": url} for label, url in n.links],
        "since": _iso(n.since),
        "at": _iso(n.at),
        "key": n.key,
    }


def render(notices: Sequence[Notice], now: float | None = None) -> list[dict[str, Any]]:
    sent = _iso(time.time() if now is None else now)
    return [{"version": VERSION, "source": "imagebot", "sent_at": sent,
             "events": [event(n) for n in notices[i:i + MAX_EVENTS]]}
            for i in range(0, len(notices), MAX_EVENTS)]


def signature(secret: str, body: bytes) -> str:
    """The value of X-Imagebot-Signature: ``sha256=`` + hex HMAC-SHA256(secret, body)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
