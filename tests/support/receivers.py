"""Local HTTP receivers standing in for Slack, Teams, Discord, Google Chat, Alertmanager and a
generic webhook: each records every request; it can answer an error status or hang."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.git_http import LoopbackServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver(LoopbackServer):
    """`status` is answered to every POST; `hang` seconds are slept first (a target that hangs)."""

    def __init__(self, status: int = 200, hang: float = 0.0):
        self.status, self.hang = status, hang
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer._lock:
                    outer.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if outer.hang:
                    outer._released.wait(outer.hang)
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)
        self.url = f"{self.url}/hook"

    def __exit__(self, *exc: object) -> None:
        self._released.set()  # a hanging answer ends first, or shutdown would wait for it
        super().__exit__(*exc)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.02)
        with self._lock:
            return list(self.requests)
