"""The agent's one HTTP server: /healthz, /readyz, /metrics, /status, POST /hooks/<kind> and the
leader's POST /internal/push.

waitress serves it (pure Python, kept by the Pylons project): one event loop holds every
connection, and a fixed pool of worker threads runs only complete requests. So idle and
half-sent connections cost a socket, not a thread, and are closed after `idle_timeout`; headers
and bodies are parsed by waitress (a `Content-Length: abc` is its 400, a body over 1 MiB its
413) before this code sees them.

A webhook is authenticated first, then rate limited: requests that fail authentication draw on
their own small bucket (then get 429 without a log line), so a flood of them never spends the
budget of correctly signed webhooks. An accepted webhook is answered as soon as it is parsed
(202); the targeted cycle runs in the agent's worker - on this replica when it leads, else on the
leader, to which a follower hands the images (`/internal/push`, HMAC-signed with a timestamp)
before answering. Request lines are logged without query strings (a Docker Hub / Quay token may
ride there) and no header is ever logged.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer, create_server

from imagebot.agent.auth import EXPIRED, REPLAYED, WebhookAuth
from imagebot.agent.loop import Agent
from imagebot.agent.webhooks import PARSERS, BadPayload, parse
from imagebot.config.schema import HttpSettings
from imagebot.errors import UsageError
from imagebot.redact import redact
from imagebot.report.metrics import Metrics
from imagebot.throttle import TokenBucket

log = logging.getLogger("imagebot.agent.http")

MAX_BODY = 1 << 20  # registry notifications are a few kB; refuse anything absurd
REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}

Response = tuple[int, bytes, str, dict[str, str]]


def parse_listen(listen: str) -> tuple[str, int]:
    """"0.0.0.0:8080" -> ("0.0.0.0", 8080); "[::]:8080" and ":8080" work too."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen {listen!r}: expected HOST:PORT, e.g. 0.0.0.0:8080")
    return host.strip("[]") or "0.0.0.0", int(port)


class Headers(Mapping[str, str]):
    """The request headers from a WSGI environ, looked up case-insensitively."""

    def __init__(self, environ: Mapping[str, Any]):
        self._h = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        for k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(k):
                self._h[k.replace("_", "-").lower()] = str(environ[k])

    def __getitem__(self, key: str) -> str:
        return self._h[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self._h.get(key.lower(), default)

    def __iter__(self) -> Any:
        return iter(self._h)

    def __len__(self) -> int:
        return len(self._h)


def _url(address: tuple[str, int]) -> str:
    host, port = address[:2]
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"


def _reply(status: int, body: bytes | str | dict[str, object], content_type: str = "text/plain; charset=utf-8",
           headers: dict[str, str] | None = None) -> Response:
    if isinstance(body, dict):
        body, content_type = json.dumps(body).encode(), "application/json"
    elif isinstance(body, str):
        body = body.encode()
    return status, body, content_type, headers or {}


class AgentServer:
    """The agent's HTTP endpoints on a waitress server; `start()` serves in a thread, `shutdown()` stops."""

    def __init__(self, listen: str, agent: Agent, metrics: Metrics, auth: WebhookAuth, limiter: TokenBucket, *,
                 unauthenticated: TokenBucket | None = None, http: HttpSettings | None = None,
                 forward: Callable[[Iterable[str]], tuple[bool, str]] | None = None,
                 status: Callable[[], dict[str, Any]] | None = None, hooks_listen: str | None = None):
        self.agent = agent
        self.metrics = metrics
        self.auth = auth
        self.limiter = limiter
        self.unauthenticated = unauthenticated or TokenBucket(1.0, 10)
        self.forward = forward
        self.status = status
        settings = http or HttpSettings()
        host, port = parse_listen(listen)
        options = dict(
            threads=settings.threads, connection_limit=settings.connection_limit, channel_timeout=settings.idle_timeout,
            cleanup_interval=max(1, min(10, settings.idle_timeout // 2)),
            max_request_body_size=MAX_BODY, max_request_header_size=64 * 1024,
            asyncore_use_poll=True,  # select() stops at 1024 descriptors
            ident="imagebot", expose_tracebacks=False, clear_untrusted_proxy_headers=True,
        )
        self._map: dict[int, Any] = {}
        self._server = create_server(self._wsgi, map=self._map, host=host, port=port, **options)
        self.server_address = (self._server.effective_host, self._server.effective_port)
        self._listeners = [self._server]
        self.hooks_address: tuple[str, int] | None = None
        if hooks_listen:
            # A second listening socket on the same event loop and workers, serving webhooks only.
            h_host, h_port = parse_listen(hooks_listen)
            try:
                hooks = TcpWSGIServer(self._hooks_wsgi, map=self._map, dispatcher=self._server.task_dispatcher,
                                      adj=Adjustments(host=h_host, port=h_port, **options))
            except OSError:
                for channel in list(self._map.values()):
                    channel.close()
                self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
                raise
            self.hooks_address = (hooks.effective_host, hooks.effective_port)
            self._listeners.append(hooks)
        self._thread: threading.Thread | None = None
        for listener in self._listeners:
            listener.handle_accept = self._accept_many(listener)  # type: ignore[method-assign]
        self._connection_limit = settings.connection_limit

    ACCEPT_BATCH = 64

    def _accept_many(self, listener: Any) -> Callable[[], None]:
        """Accept every waiting connection (up to a batch), not one per turn of the event loop:
        after a burst of connections, a new request no longer waits behind the whole backlog."""
        accept_one = type(listener).handle_accept.__get__(listener)

        def accept() -> None:
            for _ in range(self.ACCEPT_BATCH):
                before = len(self._map)
                accept_one()
                if len(self._map) == before or len(self._map) >= self._connection_limit:
                    return

        return accept

    @property
    def url(self) -> str:
        return _url(self.server_address)

    @property
    def hooks_url(self) -> str:
        """The webhook-only listener's URL (the main one's when there is none)."""
        return _url(self.hooks_address or self.server_address)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._server.run, name="imagebot-http", daemon=True)
        self._thread.start()
        return self._thread

    def shutdown(self) -> None:
        """Close the listening socket and every connection, from the server's own loop; stop the workers."""
        def close_all() -> None:
            for channel in list(self._map.values()):
                try:
                    channel.close()
                except OSError:
                    pass

        try:
            self._server.trigger.pull_trigger(close_all)
        except OSError:
            close_all()
        if self._thread is not None:
            self._thread.join(10)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def server_close(self) -> None:
        """(Kept for callers of the stdlib server's API: shutdown() already closed everything.)"""

    # -- WSGI ---------------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        try:
            status, body, ctype, headers = self._route(method, path, environ)
        except Exception:  # a bug answers 500 and is logged; the server and its threads go on
            log.exception("%s %s failed", method, path)
            status, body, ctype, headers = _reply(500, "internal error\n")
        log.debug("%s %s -> %d", method, path, status)
        start_response(f"{status} {REASONS.get(status, '')}".rstrip(),
                       [("Content-Type", ctype), ("Content-Length", str(len(body))), *headers.items()])
        return [b"" if method == "HEAD" else body]

    def _hooks_wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The webhook listener: POST /hooks/<kind>, POST /internal/push and /healthz; nothing else."""
        path = environ.get("PATH_INFO", "/")
        if not (path.startswith("/hooks/") or path in ("/internal/push", "/healthz")):
            environ = {**environ, "PATH_INFO": "/not-on-this-port", "REQUEST_METHOD": "GET"}
        return self._wsgi(environ, start_response)

    def _route(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        if method in ("GET", "HEAD"):
            if path == "/healthz":
                ok, why = self.agent.alive()  # fails while a step is stuck (the watchdog)
                return _reply(200 if ok else 503, why + "\n")
            if path == "/readyz":
                ok, why = self.agent.ready()
                return _reply(200 if ok else 503, why + "\n")
            if path == "/metrics":
                body, ctype = self.metrics.exposition()
                return _reply(200, body, ctype)
            if path == "/status" and self.status is not None:
                # Problems quote registries and remotes: never a registered secret in the answer.
                text = redact(json.dumps(self.status(), indent=2, default=str))
                return _reply(200, text.encode() + b"\n", "application/json")
            return _reply(404, "not found\n")
        if method != "POST":
            return _reply(405, "method not allowed\n", headers={"Allow": "GET, HEAD, POST"})
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or -1) if environ.get("wsgi.input") else b""
        if path == "/internal/push":
            return self._internal(Headers(environ), body)
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "hooks" or parts[1] not in PARSERS:
            return _reply(404, f"not found; webhooks are POST /hooks/<{'|'.join(PARSERS)}>\n")
        return self._hook(parts[1], Headers(environ), body, dict(parse_qsl(environ.get("QUERY_STRING", ""))),
                          environ.get("REMOTE_ADDR", "?"))

    def _refused(self, kind: str, why: str, peer: str) -> Response:
        """401 for a request that failed authentication; 429 once such requests come too fast."""
        count = self.metrics.webhooks
        if self.unauthenticated.try_take():
            count.labels(kind, "unauthorized-rate-limited").inc()
            return _reply(429, "too many requests\n", headers={"Retry-After": "1"})
        count.labels(kind, why if why in (EXPIRED, REPLAYED) else "unauthorized").inc()
        log.warning("webhook %s from %s refused: %s", kind, peer,
                    "bad or missing credentials" if why not in (EXPIRED, REPLAYED) else f"signature {why}",
                    extra={"fields": {"event": "webhook-refused", "kind": kind, "reason": why}})
        return _reply(401, "unauthorized\n", headers={"WWW-Authenticate": 'Bearer realm="imagebot"'})

    def _hook(self, kind: str, headers: Headers, body: bytes, query: dict[str, str], peer: str) -> Response:
        count = self.metrics.webhooks
        why = self.auth.verify(kind, headers, body, query)
        if why:
            return self._refused(kind, why, peer)
        wait = self.limiter.try_take()
        if wait:
            count.labels(kind, "rate-limited").inc()
            return _reply(429, "too many requests\n", headers={"Retry-After": str(max(1, math.ceil(wait)))})
        try:
            pushes = parse(kind, body)
        except BadPayload as e:
            count.labels(kind, "bad-payload").inc()
            return _reply(400, f"bad {kind} payload: {e}\n")
        images = sorted({p.image for p in pushes})
        if not images:
            count.labels(kind, "ignored").inc()
            return _reply(200, {"triggered": []})
        described = ", ".join(f"{p.image}:{p.tag}" if p.tag else p.image for p in pushes)
        if not self.agent.can_write():
            # A follower hands the images to the leader and answers only once the leader took them;
            # with no leader to reach, 503 makes registries that retry send it again.
            ok, detail = self.forward(images) if self.forward is not None else (False, "no leader known")
            if not ok:
                count.labels(kind, "not-leader").inc()
                log.warning("webhook %s: push of %s not handed to a leader: %s", kind, described, detail,
                            extra={"fields": {"event": "webhook-not-forwarded", "kind": kind, "images": images}})
                return _reply(503, "not the leader; retry\n", headers={"Retry-After": "1"})
            count.labels(kind, "forwarded").inc()
            log.info("webhook %s: push of %s handed to the leader (%s)", kind, described, detail,
                     extra={"fields": {"event": "webhook-forwarded", "kind": kind, "images": images, "leader": detail}})
            return _reply(202, {"triggered": images, "forwarded_to": detail})
        count.labels(kind, "accepted").inc()
        log.info("webhook %s: push of %s", kind, described, extra={"fields": {"event": "webhook", "kind": kind, "images": images}})
        self.agent.push(images)
        return _reply(202, {"triggered": images})

    def _internal(self, headers: Headers, body: bytes) -> Response:
        """A follower hands over the images of a webhook it authenticated (only the leader takes them)."""
        why = self.auth.verify("internal", headers, body, {})
        if why:
            return self._refused("internal", why, "a replica")
        try:
            doc = json.loads(body)
            images = doc["images"] if isinstance(doc, dict) else None
            if not isinstance(images, list) or not images or not all(isinstance(i, str) and i for i in images):
                raise ValueError("'images' must be a non-empty list of strings")
        except (ValueError, KeyError, RecursionError) as e:
            return _reply(400, f"bad internal push: {e}\n")
        if not self.agent.can_write():
            return _reply(503, "not the leader\n", headers={"Retry-After": "1"})
        self.metrics.webhooks.labels("internal", "accepted").inc()
        log.info("push of %s handed over by a follower", ", ".join(images),
                 extra={"fields": {"event": "webhook-handed-over", "images": images}})
        self.agent.push(images)
        return _reply(202, {"triggered": sorted(set(images))})
