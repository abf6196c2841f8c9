"""A small token service for registry token auth (the docker "Bearer realm=…" flow), for tests.

It issues ES256 JWTs the CNCF registry accepts: the signing certificate travels in the
``x5c`` header and the registry trusts it through ``auth.token.rootcertbundle``.

    tokens = TokenServer(tmp_path, users={"alice": ("pw", {"team/app": {"pull"}})},
                         anonymous={"public/app": {"pull"}})
    with tokens, RegistryServer(tmp_path, extra_config=tokens.registry_config()) as reg: ...

A grant is the intersection of the actions asked for and the actions allowed, as in the
distribution spec; a request for a scope the account may not have gets a token without it,
and the registry then answers ``insufficient_scope``.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.git_http import LoopbackServer

SERVICE = "imagebot-test-registry"
ISSUER = "imagebot-test-issuer"
Grants = dict[str, set[str]]  # repository -> actions


def _key_and_cert() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagebot test token issuer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


class TokenServer(LoopbackServer):
    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, tuple[str, Grants]] | None = None,
        anonymous: Grants | None = None,
        refresh_tokens: dict[str, Grants] | None = None,
        expires_in: int = 300,
    ):
        self.users = users or {}
        self.anonymous = anonymous or {}
        self.refresh_tokens = refresh_tokens or {}
        self.expires_in = expires_in
        self.requests: list[dict[str, str]] = []  # account, scope, grant_type of each token request
        self.counts: Counter[str] = Counter()
        self.issued: list[str] = []  # every token handed out (secrets tests look for them)
        self._key, self._cert = _key_and_cert()
        self.bundle = Path(workdir) / f"token-issuer-{uuid.uuid4().hex[:8]}.pem"
        self.bundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()
        super().__init__(_handler(self))
        self.realm = self.url + "/token"

    def registry_config(self) -> dict[str, object]:
        """The `auth:` section for RegistryServer(extra_config=...)."""
        return {"auth": {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER,
                                   "rootcertbundle": str(self.bundle)}}}

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.bundle.unlink(missing_ok=True)

    def seeding_auth(self, user: str, password: str) -> "BearerAuth":
        """A requests auth that answers the registry's Bearer challenges as `user` (to push test images)."""
        return BearerAuth(user, password)

    # -- issuing -----------------------------------------------------------------------------
    def grant(self, allowed: Grants, scopes: list[str]) -> list[dict[str, object]]:
        access = []
        for scope in scopes:
            for item in scope.split(" "):
                parts = item.split(":")
                if len(parts) < 3 or parts[0] != "repository":
                    continue
                repo, actions = ":".join(parts[1:-1]), set(parts[-1].split(","))
                granted = sorted(actions & allowed.get(repo, set()))
                access.append({"type": "repository", "name": repo, "actions": granted})
        return access

    def issue(self, subject: str, access: list[dict[str, object]]) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "iat": now, "nbf": now - 5,
                  "exp": now + self.expires_in, "jti": uuid.uuid4().hex, "access": access}
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": [self._x5c]})
        self.issued.append(token)
        return token


class BearerAuth(requests.auth.AuthBase):
    """Answers a 401 Bearer challenge once per request with a token for the challenged scope."""

    def __init__(self, user: str, password: str):
        self.user, self.password = user, password
        self.tokens: dict[str, str] = {}

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.register_hook("response", self._retry_with_token)
        return r

    def _retry_with_token(self, resp: requests.Response, **kw: object) -> requests.Response:
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code != 401 or not challenge.startswith("Bearer ") or resp.request.headers.get("Authorization"):
            return resp
        params = dict(part.split("=", 1) for part in _split_params(challenge[7:]))
        params = {k: v.strip('"') for k, v in params.items()}
        scope = params.get("scope", "")
        if scope not in self.tokens:
            t = requests.get(params["realm"], params={"service": params.get("service"), "scope": scope},
                             auth=(self.user, self.password), timeout=10)
            t.raise_for_status()
            self.tokens[scope] = t.json()["token"]
        resp.content  # release the connection
        again = resp.request.copy()
        again.headers["Authorization"] = f"Bearer {self.tokens[scope]}"
        again.deregister_hook("response", self._retry_with_token)
        return resp.connection.send(again, **kw)


def _split_params(text: str) -> list[str]:
    """Split k="v",k2="v2" on commas outside quotes."""
    out, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + ([cur.strip()] if cur.strip() else [])


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, doc: dict[str, object]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            scopes = query.get("scope", [])
            account, allowed = "", server.anonymous
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                entry = server.users.get(user)
                if entry is None or entry[0] != password:
                    server.counts["rejected"] += 1
                    self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                    return
                account, allowed = user, entry[1]
            server.counts["get"] += 1
            server.requests.append({"account": account, "scope": " ".join(scopes), "grant_type": ""})
            self._answer(200, {"token": server.issue(account, server.grant(allowed, scopes)),
                               "expires_in": server.expires_in})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            refresh = (form.get("refresh_token") or [""])[0]
            scopes = form.get("scope", [])
            if form.get("grant_type") != ["refresh_token"] or refresh not in server.refresh_tokens:
                server.counts["rejected"] += 1
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad refresh token"}]})
                return
            server.counts["post"] += 1
            server.requests.append({"account": "refresh", "scope": " ".join(scopes), "grant_type": "refresh_token"})
            self._answer(200, {"access_token": server.issue("refresh", server.grant(server.refresh_tokens[refresh],
                                                                                  scopes)),
                               "expires_in": server.expires_in})

    return Handler
