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

_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
#: Tokens whose lifetime the token service does not state live 60 s (the distribution spec).
DEFAULT_TOKEN_LIFETIME = 60.0
#: Refresh a token this many seconds before it expires.
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
    """``Bearer realm="x",scope="a,b", Basic realm="y"`` -> two challenges (quoted commas kept)."""
    out: list[Challenge] = []
    pos = 0
    scheme_re = re.compile(r"\s*,?\s*([A-Za-z][\w-]*)(?:\s+|$)")
    while pos < len(header):
        m = scheme_re.match(header, pos)
        if not m:
            break
        scheme, pos = m.group(1).lower(), m.end()
        params: dict[str, str] = {}
        while True:
            pm = _PARAM.match(header, pos)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = pm.end()
            sep = re.match(r"\s*,\s*", header[pos:])
            if not sep:
                break
            # a comma followed by a new scheme name ends this challenge
            if re.match(r"[A-Za-z][\w-]*(?:\s+[A-Za-z_][\w-]*\s*=|\s*$)", header[pos + sep.end():]) and not _PARAM.match(
                header, pos + sep.end()
            ):
                break
            pos += sep.end()
        out.append(Challenge(scheme, params))
    return out


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # time.monotonic()

    def valid(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.expires_at - EXPIRY_MARGIN


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
    return Token(value, (now if now is not None else time.monotonic()) + lifetime)


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

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)
