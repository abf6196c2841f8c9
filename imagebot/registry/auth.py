"""The registry auth challenge: parse ``WWW-Authenticate``, fetch and cache bearer tokens.

A registry answers 401 with ``Bearer realm="…",service="…",scope="…"`` (a token service
issues a token for that scope, anonymously or with our credentials) or ``Basic realm="…"``.
Tokens are cached per (registry, scope) until shortly before they expire.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from imagebot import redact

_ITEM = re.compile(
    r'(?P<key>[A-Za-z_][\w-]*)\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s,]*))'
    r"|(?P<scheme>[A-Za-z][\w-]*)"
)
#: Tokens whose lifetime the token service does not state live 60 s (the distribution spec).
DEFAULT_TOKEN_LIFETIME = 60.0
#: Refresh a token this many seconds before it expires (at most a quarter of its lifetime).
EXPIRY_MARGIN = 5.0


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenges(header: str) -> list[Challenge]:
    """``Bearer realm="x",scope="a,b", Basic realm="y"`` -> two challenges (quoted commas kept).

    The header is a sequence of items: a bare word starts a new challenge (its scheme), a
    ``key=value`` adds a parameter to the current one.
    """
    out: list[Challenge] = []
    for m in _ITEM.finditer(header):
        if m.group("scheme"):
            out.append(Challenge(m.group("scheme").lower(), {}))
        elif out:
            value = m.group("quoted") if m.group("quoted") is not None else m.group("bare")
            out[-1].params[m.group("key").lower()] = re.sub(r"\\(.)", r"\1", value)
    return out


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # time.monotonic() when it stops being used (before it really expires)

    def valid(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.expires_at


def token_from_response(data: object, now: float | None = None) -> Token | None:
    """A token service's JSON answer -> Token (``token`` or ``access_token``, ``expires_in``)."""
    if not isinstance(data, dict):
        return None
    value = data.get("token") or data.get("access_token")
    if not isinstance(value, str) or not value:
        return None
    redact.register(value)
    try:
        lifetime = float(data.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    except (TypeError, ValueError):
        lifetime = DEFAULT_TOKEN_LIFETIME
    if lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    start = now if now is not None else time.monotonic()
    return Token(value, start + lifetime - min(EXPIRY_MARGIN, lifetime / 4))


class TokenCache:
    """Bearer tokens per scope; thread-safe. Expired tokens are never handed out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}

    def get(self, scope: str) -> Token | None:
        with self._lock:
            token = self._tokens.get(scope)
            if token is not None and not token.valid():
                del self._tokens[scope]
                return None
            return token

    def put(self, scope: str, token: Token) -> None:
        with self._lock:
            self._tokens[scope] = token

    def drop(self, scope: str) -> None:
        with self._lock:
            self._tokens.pop(scope, None)
