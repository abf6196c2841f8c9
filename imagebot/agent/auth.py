"""Webhook authentication: a shared secret, compared in constant time.

- ``Authorization: Bearer <secret>`` for every kind;
- for ``generic`` (and the leader's ``/internal/push``): ``X-Imagebot-Timestamp: <unix seconds>`` and
  ``X-Imagebot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed by the secret>``,
  accepted within `replay_window` of the timestamp and each signature once (a captured request
  cannot be replayed);
- for ``ghcr``: GitHub's ``X-Hub-Signature-256`` (the same HMAC), as GitHub signs its webhooks;
- for ``dockerhub`` and ``quay``, which cannot send headers: ``?token=<secret>`` in the URL.

No secret configured means every webhook is refused: an agent never triggers on an
unauthenticated request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

from imagebot.config.schema import Webhooks
from imagebot.errors import ConfigError
from imagebot.redact import register

SIGNATURE_HEADERS = {"ghcr": "X-Hub-Signature-256"}
TIMESTAMPED_KINDS = frozenset({"generic", "internal"})
SIGNATURE, TIMESTAMP = "X-Imagebot-Signature", "X-Imagebot-Timestamp"
QUERY_TOKEN_KINDS = frozenset({"dockerhub", "quay"})
MAX_REMEMBERED = 65536  # signatures seen within the replay window (only valid ones are remembered)

#: verify()'s answers besides "" (authenticated).
UNAUTHORIZED, EXPIRED, REPLAYED = "unauthorized", "expired", "replayed"


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
    def __init__(self, secret: bytes | None, *, replay_window: float = 300.0, clock: Callable[[], float] = time.time):
        self._secret = secret
        self.replay_window = replay_window
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # signature -> when it may be forgotten
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._secret)

    def check(self, kind: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]) -> bool:
        return self.verify(kind, headers, body, query) == ""

    def verify(self, kind: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]) -> str:
        """"" when the request is authentic; else why not: "unauthorized", "expired" or "replayed"."""
        if not self._secret:
            return UNAUTHORIZED
        auth = headers.get("Authorization") or ""
        if kind != "internal" and auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), self._secret):
            return ""
        if kind in TIMESTAMPED_KINDS:
            return self._timestamped(headers, body)
        return "" if self._static(kind, headers, body, query) else UNAUTHORIZED

    def _timestamped(self, headers: Mapping[str, str], body: bytes) -> str:
        signature, stamp = (headers.get(SIGNATURE) or "").strip(), (headers.get(TIMESTAMP) or "").strip()
        if not signature or not stamp.isdigit() or len(stamp) > 12:
            return UNAUTHORIZED
        assert self._secret is not None
        if not hmac.compare_digest(signature.encode(), sign_timestamped(self._secret, body, int(stamp)).encode()):
            return UNAUTHORIZED
        now = self._clock()
        if abs(now - int(stamp)) > self.replay_window:
            return EXPIRED
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if signature in self._seen:
                return REPLAYED
            self._seen[signature] = int(stamp) + self.replay_window
            if len(self._seen) > MAX_REMEMBERED:
                self._seen.popitem(last=False)
        return ""

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """Headers that authenticate `body` to another replica's /internal/push."""
        assert self._secret is not None
        return timestamped_headers(self._secret, body, int(self._clock()))

    def _static(self, kind: str, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]) -> bool:
        assert self._secret is not None
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
    """A body-only signature (GitHub's X-Hub-Signature-256), for senders and tests."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign_timestamped(secret: bytes, body: bytes, timestamp: int) -> str:
    """The X-Imagebot-Signature value: HMAC-SHA256 of "<timestamp>." + body."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def timestamped_headers(secret: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """X-Imagebot-Timestamp and X-Imagebot-Signature for a `generic` webhook (senders, tests)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP: str(ts), SIGNATURE: sign_timestamped(secret, body, ts)}
