"""The agent's one HTTP server: /healthz, /readyz, /metrics and POST /hooks/<kind>.

stdlib ThreadingHTTPServer: a handful of endpoints needs no framework. A webhook is answered
as soon as it is authenticated and parsed (202); the targeted cycle runs in the agent's worker.
Request lines are logged without query strings (a Docker Hub / Quay token may ride there) and
no header is ever logged.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from imagebot.agent.auth import WebhookAuth
from imagebot.agent.loop import Agent
from imagebot.throttle import TokenBucket
from imagebot.agent.webhooks import PARSERS, BadPayload, parse
from imagebot.errors import UsageError
from imagebot.report.metrics import Metrics

log = logging.getLogger("imagebot.agent.http")

MAX_BODY = 1 << 20  # registry notifications are a few kB; refuse anything absurd


def parse_listen(listen: str) -> tuple[str, int]:
    """"0.0.0.0:8080" -> ("0.0.0.0", 8080); "[::]:8080" and ":8080" work too."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen {listen!r}: expected HOST:PORT, e.g. 0.0.0.0:8080")
    return host.strip("[]") or "0.0.0.0", int(port)


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listen: str, agent: Agent, metrics: Metrics, auth: WebhookAuth, limiter: TokenBucket):
        self.agent = agent
        self.metrics = metrics
        self.auth = auth
        self.limiter = limiter
        host, port = parse_listen(listen)
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="imagebot-http", daemon=True)
        t.start()
        return t


class _Handler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"
    server_version = "imagebot"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.command, urlsplit(self.path).path)

    def _send(self, status: int, body: bytes | str | dict[str, object], content_type: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        if isinstance(body, dict):
            body, content_type = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path
        if path == "/healthz":
            ok, why = self.server.agent.alive()
            self._send(200 if ok else 503, why + "\n")
        elif path == "/readyz":
            ok, why = self.server.agent.ready()
            self._send(200 if ok else 503, why + "\n")
        elif path == "/metrics":
            body, ctype = self.server.metrics.exposition()
            self._send(200, body, ctype)
        else:
            self._send(404, "not found\n")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "hooks" or parts[1] not in PARSERS:
            self._drain()
            self._send(404, f"not found; webhooks are POST /hooks/<{'|'.join(PARSERS)}>\n")
            return
        kind = parts[1]
        count = self.server.metrics.webhooks
        wait = self.server.limiter.try_take()
        if wait:
            self._drain()
            count.labels(kind, "rate-limited").inc()
            self._send(429, "too many requests\n", headers={"Retry-After": str(max(1, math.ceil(wait)))})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            count.labels(kind, "too-large").inc()
            self.close_connection = True
            self._send(413, "payload too large\n")
            return
        body = self.rfile.read(length) if length > 0 else b""
        query = dict(parse_qsl(url.query))
        if not self.server.auth.check(kind, self.headers, body, query):
            count.labels(kind, "unauthorized").inc()
            log.warning("webhook %s from %s refused: bad or missing credentials", kind, self.client_address[0],
                        extra={"fields": {"event": "webhook-refused", "kind": kind}})
            self._send(401, "unauthorized\n", headers={"WWW-Authenticate": 'Bearer realm="imagebot"'})
            return
        try:
            pushes = parse(kind, body)
        except BadPayload as e:
            count.labels(kind, "bad-payload").inc()
            self._send(400, f"bad {kind} payload: {e}\n")
            return
        images = sorted({p.image for p in pushes})
        if not images:
            count.labels(kind, "ignored").inc()
            self._send(200, {"triggered": []})
            return
        if not self.server.agent.can_write():
            # A follower (or a replica shutting down) cannot act on it: 503 makes registries that
            # retry (distribution, Harbor) send it again, through the Service, to the leader.
            count.labels(kind, "not-leader").inc()
            self._send(503, "not the leader; retry\n", headers={"Retry-After": "1"})
            return
        count.labels(kind, "accepted").inc()
        log.info("webhook %s: push of %s", kind, ", ".join(f"{p.image}:{p.tag}" if p.tag else p.image for p in pushes),
                 extra={"fields": {"event": "webhook", "kind": kind, "images": images}})
        self.server.agent.push(images)
        self._send(202, {"triggered": images})

    def _drain(self) -> None:
        """Read a small body we will not use so the connection stays usable; drop big ones."""
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= MAX_BODY:
            self.rfile.read(length)
        elif length:
            self.close_connection = True
