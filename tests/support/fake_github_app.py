"""GitHub App authentication for the fake GitHub: `POST /app/installations/{id}/access_tokens`.

    app = GitHubAppIssuer(app_id=4242, installation_id=777)   # makes the App's RSA key pair
    gh.app = app                                              # FakeGitHub consults it
    app.private_key_pem                                       # what the App's owner downloads

Each request must carry ``Authorization: Bearer <JWT>`` that is VERIFIED as GitHub does: an
RS256 signature by the App's private key (checked with its public key), ``iss`` = the App ID,
``iat`` not in the future (60 s clock drift allowed) and ``exp`` in the future and at most
10 minutes ahead. A valid request gets a fresh installation token (``ghs_…``, 1 h); the fake
GitHub then accepts that token for the API (``token``/``Bearer``) and as the Git password.
Anything else gets GitHub's 401 and is recorded in `refused`.
"""

from __future__ import annotations

import datetime
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.git_http import basic_password

_ROUTE = re.compile(r"^/app/installations/(?P<id>\d+)/access_tokens$")
MAX_JWT_LIFETIME = 600  # GitHub: exp at most 10 minutes after now
CLOCK_DRIFT = 60


class GitHubAppIssuer:
    def __init__(self, app_id: int, installation_id: int, token_lifetime: int = 3600):
        self.app_id = app_id
        self.installation_id = installation_id
        self.token_lifetime = token_lifetime
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                 serialization.NoEncryption()).decode()
        self.public_key = key.public_key()
        self.verified_jwts: list[dict[str, Any]] = []  # the claims of every JWT accepted
        self.refused: list[str] = []
        self.tokens: dict[str, float] = {}  # installation token -> expiry (time.time())
        self._lock = threading.Lock()

    @staticmethod
    def handles(method: str, path: str) -> bool:
        return method == "POST" and _ROUTE.match(path) is not None

    def issue(self, method: str, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for `POST /app/installations/{id}/access_tokens`."""
        m = _ROUTE.match(path)
        assert m is not None and method == "POST"
        scheme, _, token = authorization.partition(" ")
        problem = None
        claims: dict[str, Any] = {}
        if scheme.lower() != "bearer" or not token:
            problem = "no Bearer JWT"
        else:
            try:
                claims = jwt.decode(token, self.public_key, algorithms=["RS256"], leeway=CLOCK_DRIFT,
                                    options={"require": ["iat", "exp", "iss"]})
            except jwt.PyJWTError as e:
                problem = f"JWT rejected: {type(e).__name__}: {e}"
        now = time.time()
        if problem is None and str(claims["iss"]) != str(self.app_id):
            problem = f"iss {claims['iss']!r} is not the App ID {self.app_id}"
        if problem is None and claims["exp"] - now > MAX_JWT_LIFETIME:
            problem = "exp is too far in the future (more than 10 minutes)"
        if problem is None and not claims["iat"] < claims["exp"]:
            problem = "iat is not before exp"
        if problem is not None:
            with self._lock:
                self.refused.append(problem)
            return 401, {"message": "A JSON web token could not be decoded",
                         "documentation_url": "https://docs.github.com/rest"}
        if int(m["id"]) != self.installation_id:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        issued = "ghs_" + secrets.token_hex(18)
        expires = now + self.token_lifetime
        with self._lock:
            self.verified_jwts.append(claims)
            self.tokens[issued] = expires
        when = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {"token": issued, "expires_at": when, "repository_selection": "all",
                     "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"}}

    def valid(self, token: str | None) -> bool:
        with self._lock:
            return token is not None and self.tokens.get(token, 0.0) > time.time()

    def api_authorized(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        return scheme.lower() in ("token", "bearer") and self.valid(token)

    def git_password(self, h: BaseHTTPRequestHandler, default: str) -> str:
        """The password git must send: the installation token it sent, if valid; else the fake's own."""
        password = basic_password(h)
        return password if password is not None and self.valid(password) else default
