"""Serve bare Git repositories over smart HTTP with the real `git http-backend` (CGI).

`serve_git(handler, project_root, path_info, token)` answers one request of a
BaseHTTPRequestHandler: it checks HTTP Basic auth (any user name, password == token), runs
git-http-backend with the CGI environment and relays its answer. Pushes run the bare
repositories' hooks, so a test can race the client from a `pre-receive` hook.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, whether sent with Content-Length or chunked (git uses both)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def basic_password(handler: BaseHTTPRequestHandler) -> str | None:
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("Basic "):
        return None
    try:
        return base64.b64decode(auth[6:]).decode().partition(":")[2]
    except ValueError:
        return None


def serve_git(handler: BaseHTTPRequestHandler, project_root: Path, path_info: str, token: str | None, log: list[str]) -> None:
    path, _, query = path_info.partition("?")
    log.append(f"{handler.command} {path}")
    if token is not None and basic_password(handler) != token:
        handler.send_response(401)
        handler.send_header("WWW-Authenticate", 'Basic realm="fake-git"')
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    body = read_body(handler)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "REMOTE_USER": "test-user",
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": handler.command,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
    }
    if handler.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = handler.headers["Content-Encoding"]
    if handler.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = handler.headers["Git-Protocol"]
    out = subprocess.run([HTTP_BACKEND], input=body, env=env, capture_output=True, check=False).stdout
    head, _, payload = out.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = out.partition(b"\n\n")
    status = 200
    headers = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers.append((name, value.strip()))
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def start_loopback(handle: Callable[[BaseHTTPRequestHandler], None]) -> ThreadingHTTPServer:
    """An HTTP/1.1 server on a free 127.0.0.1 port answering every request with `handle`, in a
    daemon thread; stop it with `stop_loopback`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _any(self) -> None:
            handle(self)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_loopback(server: ThreadingHTTPServer | None) -> None:
    assert server is not None
    server.shutdown()
    server.server_close()


class LoopbackServer:
    """An http.server with its own handler class on a free 127.0.0.1 port, served in a thread
    for a `with` block (`start_loopback` is the same for one handle function)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class LoopbackService:
    """Base of the fake servers: `with fake:` serves `self._handle` on a free loopback port."""

    _server: ThreadingHTTPServer | None = None
    port = 0

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._server = start_loopback(self._handle)
        self.port = self._server.server_address[1]
        return self

    def __exit__(self, *exc: object) -> None:
        stop_loopback(self._server)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class GitHttpServer:
    """Bare repositories under `project_root` over smart HTTP on a loopback port (token-checked).

        with GitHttpServer(tmp_path / "repos", token="t") as srv:
            srv.url("deploy.git")  # http://127.0.0.1:PORT/deploy.git
    """

    def __init__(self, project_root: Path, token: str | None = None):
        self.project_root = project_root
        self.token = token
        self.requests: list[str] = []
        self.headers: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> GitHttpServer:
        def handle(h: BaseHTTPRequestHandler) -> None:
            self.headers.extend(f"{k}: {v}" for k, v in h.headers.items())
            serve_git(h, self.project_root, h.path, self.token, self.requests)

        self._server = start_loopback(handle)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_loopback(self._server)

    def url(self, name: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"
