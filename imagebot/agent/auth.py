"""Webhook authentication: a shared secret, compared in constant time.

- ``Authorization: Bearer <secret>`` for every kind;
- for ``generic``: ``X-Imagebot-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the secret>``;
- for ``ghcr``: GitHub's ``X-Hub-Signature-256`` (the same HMAC), as GitHub signs its webhooks;
- for ``dockerhub`` and ``quay``, which cannot send headers: ``?token=<secret>`` in the URL.

No secret configured means every webhook is refused: an agent never triggers on an
unauthenticated request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from imagebot.config.schema import Webhooks
from imagebot.errors import ConfigError
from imagebot.redact import register

SIGNATURE_HEADERS = {"generic": "X-Imagebot-Signature", "ghcr": "X-Hub-Signature-256"}
QUERY_TOKEN_KINDS = frozenset({"dockerhub", "quay"})


def load_secret(settings: Webhooks) -> bytes | None:
    """The shared secret from `token_file` (wins) or the `token_env` variable; registered for redaction."""
    if settings.token_file:
        try:
            text = Path(settings.token_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"agent.webhooks.token_file: cannot read {settings.token_file}: {e.strerror}") from None
    else:
        text = os.environ.get(settings.token_env, "").strip()
    if not text:
        return None
    register(text)
    return text.encode()


class WebhookAuth:
    def __init__(self, secret: bytes | None):
        self._secret = secret

    @property
    def enabled(self) -> bool:
        return bool(self._secret)

    def check(self, kind: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]) -> bool:
        if not self._secret:
            return False
        auth = headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), self._secret):
            return True
        header = SIGNATURE_HEADERS.get(kind)
        signature = headers.get(header) if header else None
        if signature:
            expected = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            return hmac.compare_digest(signature.strip().encode(), expected.encode())
        token = query.get("token")
        if kind in QUERY_TOKEN_KINDS and token:
            return hmac.compare_digest(token.encode(), self._secret)
        return False


def sign(secret: bytes, body: bytes) -> str:
    """The X-Imagebot-Signature value for `body` (for senders and tests)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
