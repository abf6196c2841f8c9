"""An HTTP proxy in front of the test registry that pages tag lists and injects faults.

The Debian docker-registry lists all tags in one answer, and never misbehaves on cue. This
proxy (http.server on 127.0.0.1) forwards every request to the real registry, and can:

* page ``/v2/<repo>/tags/list`` with ``n``/``last`` and a ``Link: <…>; rel="next"`` header
  (``page_size``; ``next_origin`` puts another origin into the link, to test that it is refused);
* answer matching requests with a fault, each a given number of times
  (:meth:`RegistryProxy.inject`): ``429`` (with Retry-After), ``500``/``502``/``503``,
  ``timeout`` (no answer for ``delay`` seconds), ``slow`` (forward after ``delay``), ``reset`` (TCP RST), ``cut`` (connection closed
  mid-body), ``truncated`` (a complete answer whose JSON is cut short), ``html`` (a login page
  with Content-Type text/html), ``many`` (a synthetic list of ``count`` tags);
* play a hostile registry: ``drip`` (a complete answer whose body comes one byte every
  ``delay`` seconds), ``deep`` (a tag list nested ``count`` deep), ``huge`` (an endless body of
  ``count`` bytes, without Content-Length), ``redirect`` (a 307 to ``target`` + the same path: a
  blob on a CDN), ``notlist`` (an index whose ``manifests`` is an
  object), ``baddigest`` (the real answer under a Docker-Content-Digest header that does not
  match it);
* count requests by kind, for budget assertions.

    with RegistryProxy(reg.url) as proxy:
        proxy.inject("503", path="/tags/list", times=2)
        client = RegistryClient([RegistrySettings(host=proxy.host, insecure=True)])
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support.git_http import LoopbackServer

_TAGS = re.compile(r"^/v2/(?P<repo>.+)/tags/list$")
OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "server", "date"}


@dataclass
class Fault:
    action: str
    path: str = ""  # a regular expression searched in the request path
    times: int = 1
    retry_after: str | None = None
    count: int = 0  # tags, for "many"
    delay: float = 2.0  # seconds, for "timeout"
    method: str | None = None
    target: str = ""  # an origin, for "redirect"


class RegistryProxy(LoopbackServer):
    def __init__(self, upstream: str, *, page_size: int | None = None):
        self.upstream = upstream.rstrip("/")
        self.page_size = page_size
        #: Put this origin (e.g. "http://127.0.0.1:1") into next links instead of our own.
        self.next_origin: str | None = None
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # "tags", "manifest", "blob", "ping", "other"
        self.paths: list[tuple[str, str]] = []
        #: (method, path, the Authorization header or None) of every request, in order.
        self.authorizations: list[tuple[str, str, str | None]] = []
        #: When set, every answer sets this cookie (a load balancer's sticky session), and `cookies`
        #: records the Cookie header of each request (None: none sent).
        self.sticky: str = ""
        self.cookies: list[str | None] = []
        self.stopping = threading.Event()
        self._session = requests.Session()
        self._session.trust_env = False  # it talks to the registry directly, whatever $HTTP_PROXY says
        super().__init__(_handler(self))

    def inject(self, action: str, *, path: str = "", times: int = 1, **kw: Any) -> Fault:
        fault = Fault(action, path, times, **kw)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.times > 0 and re.search(f.path, path) and (f.method is None or f.method == method):
                    f.times -= 1
                    return f
        return None

    def _record(self, method: str, path: str) -> None:
        kind = ("tags" if "/tags/list" in path else "manifest" if "/manifests/" in path
                else "blob" if "/blobs/" in path else "ping" if path.rstrip("/") == "/v2" else "other")
        with self._lock:
            self.counts[kind] += 1
            self.paths.append((method, path))

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        super().__exit__()
        self._session.close()


@functools.lru_cache(maxsize=4)
def _many(count: int) -> tuple[list[str], dict[str, int]]:
    """`count` distinct tags and their positions (built once: pages of a huge list stay cheap)."""
    tags = [f"1.{i // 1000}.{i % 1000}" for i in range(count)]
    return tags, {t: i for i, t in enumerate(tags)}


def _handler(proxy: RegistryProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body are separate writes: without this, Nagle + delayed ACK add 40 ms each
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_HEAD(self) -> None:
            self._handle()

        # -- plumbing ----------------------------------------------------------------------
        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, *,
                  length: int | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if proxy.sticky:
                self.send_header("Set-Cookie", f"{proxy.sticky}; Path=/; HttpOnly")
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()

        def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            if parts.scheme:  # asked as an HTTP proxy (the request line holds the whole URL)
                self.path = parts.path + (f"?{parts.query}" if parts.query else "")
            proxy._record(self.command, parts.path)
            with proxy._lock:
                proxy.authorizations.append((self.command, parts.path, self.headers.get("Authorization")))
                if proxy.sticky:
                    proxy.cookies.append(self.headers.get("Cookie"))
            fault = proxy._take_fault(self.command, parts.path)
            if fault is not None and fault.action == "slow":
                proxy.stopping.wait(fault.delay)
                fault = None
            if fault is not None and fault.action == "baddigest":
                self._forward({"Docker-Content-Digest": "sha256:" + "0" * 64})
                return
            if fault is not None and fault.action != "many":
                self._fault(fault, parts.path)
                return
            m = _TAGS.match(parts.path)
            if m and self.command == "GET" and (proxy.page_size or fault is not None):
                self._tags(m.group("repo"), parse_qs(parts.query), fault)
                return
            self._forward()

        def _upstream(self, path: str) -> requests.Response:
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")}
            return proxy._session.request(self.command, proxy.upstream + path, headers=headers,
                                          allow_redirects=False, timeout=10)

        def _forward(self, override: dict[str, str] | None = None) -> None:
            r = self._upstream(self.path)
            headers = {k: v for k, v in r.headers.items() if k.lower() not in _HOP}
            headers.update(override or {})
            self._send(r.status_code, r.content, headers,
                       length=int(r.headers.get("Content-Length", len(r.content))) if self.command == "HEAD" else None)

        def _tags(self, repo: str, query: dict[str, list[str]], fault: Fault | None) -> None:
            index: dict[str, int] | None = None
            if fault is not None:  # "many"
                all_tags, index = _many(fault.count)
            else:
                r = self._upstream(f"/v2/{repo}/tags/list")
                if r.status_code != 200:
                    self._send(r.status_code, r.content, {k: v for k, v in r.headers.items() if k.lower() not in _HOP})
                    return
                all_tags = sorted(r.json().get("tags") or [])
            start = 0
            if "last" in query:
                last = query["last"][0]
                if index is not None:
                    start = index.get(last, len(all_tags) - 1) + 1
                else:
                    start = next((i + 1 for i, t in enumerate(all_tags) if t == last), len(all_tags))
            size = proxy.page_size or len(all_tags) or 1  # without page_size: one page, like registry 2.8
            if proxy.page_size and "n" in query:
                size = min(size, int(query["n"][0]))
            page = all_tags[start:start + size]
            headers = {}
            if start + size < len(all_tags):
                n = size
                origin = proxy.next_origin or ""
                headers["Link"] = f'<{origin}/v2/{repo}/tags/list?n={n}&last={page[-1]}>; rel="next"'
            self._json(200, {"name": repo, "tags": page}, headers)

        def _fault(self, f: Fault, path: str) -> None:
            a = f.action
            if a == "429":
                self._json(429, {"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]},
                           {"Retry-After": f.retry_after} if f.retry_after is not None else {})
            elif a in ("500", "502", "503"):
                self._json(int(a), {"errors": [{"code": "UNAVAILABLE", "message": "injected"}]},
                           {"Retry-After": f.retry_after} if f.retry_after is not None else {})
            elif a == "redirect":
                self._send(307, b"", {"Location": f.target.rstrip("/") + self.path})
            elif a == "timeout":
                proxy.stopping.wait(f.delay)
                self.close_connection = True
            elif a == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif a == "cut":
                body = b'{"name": "x", "tags": ["1.0.0", "1.1'
                self._send(200, body, {"Content-Type": "application/json"}, length=len(body) + 100)
                self.close_connection = True
            elif a == "truncated":
                self._send(200, b'{"name": "x", "tags": ["1.0.0", "1.1', {"Content-Type": "application/json"})
            elif a == "drip":
                body = json.dumps({"name": "x", "tags": ["1.0.0", "9.9.9"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    if proxy.stopping.wait(f.delay):
                        break
                    try:
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                    except OSError:
                        break
                self.close_connection = True
            elif a == "deep":
                self._send(200, b'{"name": "x", "tags": ' + b"[" * f.count + b"]" * f.count + b"}",
                           {"Content-Type": "application/json"})
            elif a == "huge":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                piece = b'"1.0.0", ' * 7000
                try:
                    self.wfile.write(b'{"name": "x", "tags": [')
                    for _ in range(f.count // len(piece)):
                        if proxy.stopping.is_set():
                            break
                        self.wfile.write(piece)
                except OSError:
                    pass
                self.close_connection = True
            elif a == "notlist":
                body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX_TYPE, "manifests": {"not": "a list"}}).encode()
                self._send(200, body, {"Content-Type": OCI_INDEX_TYPE,
                                       "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest()})
            elif a == "html":
                self._send(200, b"<html><body>Please log in</body></html>", {"Content-Type": "text/html; charset=utf-8"})
            else:  # pragma: no cover - a typo in a test
                raise ValueError(f"unknown fault {a!r}")

    return Handler
