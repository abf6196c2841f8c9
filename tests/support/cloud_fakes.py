"""Local stand-ins for the Google and Azure token sources, over real HTTP(S) on 127.0.0.1.

* :class:`FakeMetadataServer` — the GCE/GKE metadata server as google-auth uses it: the
  ``Metadata-Flavor: Google`` ping, the service account's info and its access ``token``
  (refused without the header, as the real one does). google-auth is pointed at it with
  ``GCE_METADATA_HOST`` / ``GCE_METADATA_IP``.
* :class:`FakeEntraID` — Microsoft Entra ID (AAD) for azure-identity's WorkloadIdentityCredential
  over HTTPS (the test CA): OpenID discovery, instance discovery, and the v2.0 token endpoint,
  which checks the client id, tenant, scope and that the client assertion is the federated
  token (the projected ServiceAccount token file's content).
* :class:`FakeACR` — an Azure Container Registry front: ``POST /oauth2/exchange`` trades a
  token the fake Entra ID issued for an ACR refresh token (a JWT with ``exp``); everything else
  is forwarded to a real registry behind it, whose htpasswd has user
  ``00000000-0000-0000-0000-000000000000`` with that refresh token as the password.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 that hands each request to `self.handle(h, method)`."""

    tls: ssl.SSLContext | None = None

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self._httpd: ThreadingHTTPServer | None = None
        self.port = 0

    def __enter__(self) -> Any:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer._dispatch(self, "GET")

            def do_POST(self) -> None:
                outer._dispatch(self, "POST")

            def do_HEAD(self) -> None:
                outer._dispatch(self, "HEAD")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        self.requests.append((method, h.path))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        status, payload, headers = self.handle(h, method, urlsplit(h.path), body)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode() if payload is not None else b""
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        if payload is not None and not isinstance(payload, bytes):
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(data)

    def handle(self, h: BaseHTTPRequestHandler, method: str, url: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


# --- Google -------------------------------------------------------------------------------------

class FakeMetadataServer(_Server):
    FLAVOR = {"Metadata-Flavor": "Google"}

    def __init__(self, email: str = "imagebot@test-project.iam.gserviceaccount.com", expires_in: int = 3599,
                 tokens: tuple[str, ...] = ()):
        super().__init__()
        self.email = email
        self.expires_in = expires_in
        self.tokens = list(tokens)  # the access tokens to hand out first (a registry can be told them ahead)
        self.issued: list[str] = []  # access tokens handed out, in order

    def token_requests(self) -> int:
        return sum(1 for _, p in self.requests if "/token" in urlsplit(p).path)

    def handle(self, h: BaseHTTPRequestHandler, method: str, url: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        if h.headers.get("Metadata-Flavor") != "Google":
            return 403, b"Missing Metadata-Flavor:Google header.", {}
        path = url.path
        if path in ("/", ""):
            return 200, b"", self.FLAVOR
        prefix = "/computeMetadata/v1/"
        if not path.startswith(prefix):
            return 404, b"not found", self.FLAVOR
        item = path[len(prefix):]
        if item == "project/project-id":
            return 200, b"test-project", {**self.FLAVOR, "Content-Type": "application/text"}
        if item == "universe/universe-domain":
            return 200, b"googleapis.com", {**self.FLAVOR, "Content-Type": "application/text"}
        if item in ("instance/service-accounts/default/", "instance/service-accounts/default"):
            info = {"aliases": ["default"], "email": self.email, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
            return 200, info, self.FLAVOR
        if item in ("instance/service-accounts/default/token", f"instance/service-accounts/{self.email}/token"):
            token = self.tokens.pop(0) if self.tokens else "ya29.fake-gke-workload-identity-" + secrets.token_urlsafe(16)
            self.issued.append(token)
            return 200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}, self.FLAVOR
        return 404, b"not found", self.FLAVOR

    def env(self) -> dict[str, str]:
        return {"GCE_METADATA_HOST": self.host, "GCE_METADATA_IP": self.host}


# --- Azure --------------------------------------------------------------------------------------

ACR_USER = "00000000-0000-0000-0000-000000000000"
ARM_SCOPE = "https://management.azure.com/.default"


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token (ACR refresh tokens are JWTs; imagebot reads `exp` only)."""
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(16)}"


class FakeEntraID(_Server):
    def __init__(self, tls: ssl.SSLContext, tenant: str, client_id: str, federated_token: str, expires_in: int = 3599):
        super().__init__()
        self.tls = tls
        self.tenant = tenant
        self.client_id = client_id
        self.federated_token = federated_token
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.refused: list[str] = []

    @property
    def authority(self) -> str:
        return f"https://{self.host}"

    def handle(self, h: BaseHTTPRequestHandler, method: str, url: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        base = f"https://{self.host}/{self.tenant}"
        if url.path.endswith("/discovery/instance"):
            return 200, {"tenant_discovery_endpoint": f"{base}/v2.0/.well-known/openid-configuration",
                         "metadata": [{"preferred_network": self.host, "preferred_cache": self.host,
                                       "aliases": [self.host]}]}, {}
        if url.path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            return 200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "issuer": f"{base}/v2.0", "jwks_uri": f"{base}/discovery/v2.0/keys",
                         "response_types_supported": ["code"], "subject_types_supported": ["pairwise"],
                         "id_token_signing_alg_values_supported": ["RS256"]}, {}
        if url.path == f"/{self.tenant}/oauth2/v2.0/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            problems = []
            if form.get("grant_type") != "client_credentials":
                problems.append(f"grant_type {form.get('grant_type')}")
            if form.get("client_id") != self.client_id:
                problems.append("client_id")
            if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                problems.append("client_assertion_type")
            if form.get("client_assertion") != self.federated_token:
                problems.append("client_assertion is not the federated token")
            if ARM_SCOPE not in form.get("scope", "").split():
                problems.append(f"scope {form.get('scope')}")
            if problems:
                self.refused.extend(problems)
                return 401, {"error": "invalid_client", "error_description": "; ".join(problems)}, {}
            token = "eyAAD." + secrets.token_urlsafe(24)
            self.issued.append(token)
            return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                         "access_token": token}, {}
        return 404, {"error": "not_found"}, {}


class FakeACR(_Server):
    def __init__(self, upstream: str, aad: FakeEntraID, refresh_lifetime: int = 10800):
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.aad = aad
        self.refresh_token = unsigned_jwt({"exp": int(time.time()) + refresh_lifetime, "grant_type": "refresh_token"})
        self.exchanges: list[dict[str, str]] = []

    def handle(self, h: BaseHTTPRequestHandler, method: str, url: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        if url.path == "/oauth2/exchange":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            self.exchanges.append(form)
            if (method != "POST" or form.get("grant_type") != "access_token" or form.get("service") != self.host
                    or form.get("access_token") not in self.aad.issued):
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad exchange"}]}, {}
            return 200, {"refresh_token": self.refresh_token}, {}
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP and k.lower() != "host"}
        resp = requests.request(method, self.upstream + h.path, headers=headers, data=body or None, timeout=10)
        out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
        return resp.status_code, resp.content, out


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
