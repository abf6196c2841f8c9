"""A recording HTTP proxy on 127.0.0.1 in front of the registry.

Both tools are pointed at the proxy's port (it is the host written in every image reference),
so their registry requests are counted the same way, whatever each tool reports about itself.
Requests are counted by method and path kind (`GET tags`, `HEAD manifest`, `GET ping`, ...),
and tag listings also per repository (to check "each repository listed once per cycle").

    with CountingProxy("http://127.0.0.1:5000") as proxy:
        ... point a tool at proxy.host ...
        counts = proxy.take()   # counts since the last take(), then reset

A child process reads (and resets) the counters with GET http://<proxy.host>/__bench__/take.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

TAKE_PATH = "/__bench__/take"
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_REPO = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>tags/list|manifests|blobs)(?:/|$|\?)")


def path_kind(path: str) -> tuple[str, str | None]:
    """('tags', 'team/app') for /v2/team/app/tags/list; ('ping', None) for /v2/; ..."""
    bare = path.split("?", 1)[0]
    if bare in ("/v2", "/v2/"):
        return "ping", None
    m = _REPO.match(bare)
    if m:
        return {"tags/list": "tags", "manifests": "manifest", "blobs": "blob"}[m["kind"]], m["repo"]
    if "token" in bare or bare.startswith("/auth"):
        return "token", None
    if bare.startswith("/v2/_catalog"):
        return "catalog", None
    return "other", None


@dataclass
class Counts:
    """Requests by "METHOD kind", tag listings by repository, and non-2xx answers by status."""

    by_kind: Counter[str] = field(default_factory=Counter)
    tag_lists: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def kind(self, kind: str) -> int:
        return sum(n for k, n in self.by_kind.items() if k.split(" ", 1)[1] == kind)

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_kind": dict(sorted(self.by_kind.items())),
            "tag_listings": self.kind("tags"),
            "repositories_listed": len(self.tag_lists),
            "max_listings_of_one_repository": max(self.tag_lists.values(), default=0),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


class CountingProxy:
    def __init__(self, upstream: str, port: int = 0):
        up = urlsplit(upstream)
        self._up_host, self._up_port = up.hostname or "127.0.0.1", up.port or 80
        self._lock = threading.Lock()
        self._counts = Counts()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as clients expect from a registry

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _forward(self) -> None:
                if self.path == TAKE_PATH:  # the benchmark reads (and resets) the counters
                    data = json.dumps(proxy.take().as_json()).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    status, reason, resp_headers, data = proxy._upstream(self.command, self.path, body, headers)
                except (OSError, http.client.HTTPException) as e:
                    self.send_error(502, f"upstream: {e}")
                    return
                proxy._record(self.command, self.path, status)
                self.send_response_only(status, reason)
                for k, v in resp_headers:
                    if k.lower() not in _HOP_BY_HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                # Headers and body in one write: two small writes would meet Nagle's algorithm and
                # the client's delayed ACK (~40 ms per request), a delay that is not the tools'.
                self._headers_buffer.append(b"\r\n")
                self.wfile.write(b"".join(self._headers_buffer) + (data if self.command != "HEAD" else b""))
                self._headers_buffer = []

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-proxy", daemon=True)

    def _upstream(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed: retry once
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=60)
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.reason, resp.getheaders(), data
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _record(self, method: str, path: str, status: int) -> None:
        kind, repo = path_kind(path)
        with self._lock:
            self._counts.by_kind[f"{method} {kind}"] += 1
            if kind == "tags" and repo:
                self._counts.tag_lists[repo] += 1
            if status >= 300:
                self._counts.statuses[status] += 1

    def take(self) -> Counts:
        """The counts since the previous take() (or the start); the counters start again at zero."""
        with self._lock:
            counts, self._counts = self._counts, Counts()
        return counts

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
