"""The registry transport's Session reads the proxy / CA-bundle environment once per scheme and
host (requests would scan os.environ twice per request): the answer is requests' own, per host
(NO_PROXY decides per host), and what a request then uses."""

from __future__ import annotations

import requests

from imagebot.registry.transport import _Session

URLS = ["https://ghcr.io/v2/org/app/tags/list", "https://internal.example.com/v2/x/tags/list",
        "http://127.0.0.1:5000/v2/", "https://auth.docker.io/token?scope=repository:library/nginx:pull"]


def settings(session: requests.Session, url: str, verify: bool | str = True) -> dict:
    return session.merge_environment_settings(url, {}, True, verify, None)


def test_the_answer_is_requests_own_for_every_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com,127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp/ca.pem")
    ours, theirs = _Session(), requests.Session()
    for url in URLS:
        for verify in (True, False, "/my/ca.pem"):
            assert settings(ours, url, verify) == settings(theirs, url, verify), (url, verify)
    assert settings(ours, URLS[0])["proxies"].get("https") == "http://proxy.corp:3128"
    assert settings(ours, URLS[1])["proxies"] == {}  # NO_PROXY, decided for that host
    assert settings(ours, URLS[0])["verify"] == "/etc/corp/ca.pem"  # the env bundle, as requests does


def test_read_once_per_host_and_never_shared_by_reference(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    session = _Session()
    first = settings(session, URLS[0])
    first["proxies"]["https"] = "mutated by a caller"
    monkeypatch.delenv("HTTPS_PROXY")
    again = settings(session, URLS[0])
    assert again["proxies"]["https"] == "http://proxy.corp:3128"  # kept, and not the caller's copy
    assert settings(session, "https://other.example/v2/")["proxies"] == {}  # another host: read now


def test_explicit_proxies_are_passed_through(monkeypatch):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    session = _Session()
    got = session.merge_environment_settings(URLS[0], {"https": "http://explicit:1"}, True, True, None)
    assert got["proxies"]["https"] == "http://explicit:1"


# -- bodyless: what `request` sends, without building its empty settings ------------------------

import http.server  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402


@contextmanager
def _recording_server() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str]]]]]:
    """A local HTTP server answering /redirect with a 307 to /target (setting a cookie) and
    anything else with 200, recording (method, path, headers) of every request."""
    seen: list[tuple[str, str, dict[str, str]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            if self.path.startswith("/redirect"):
                self.send_response(307)
                self.send_header("Location", "/target")
                self.send_header("Set-Cookie", "lb=sticky-1; Path=/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _answer

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client closing a kept-alive connection is not this test's concern

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _session() -> _Session:
    from imagebot.registry.transport import USER_AGENT, _no_netrc
    s = _Session()
    s.auth = _no_netrc
    s.headers["User-Agent"] = USER_AGENT
    return s


def test_bodyless_sends_what_request_sends(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with _recording_server() as (base, seen):
        for method in ("GET", "HEAD"):
            headers = {"Authorization": "Bearer t0ken", "Accept": "application/vnd.oci.image.index.v1+json"}
            a, b = _session(), _session()
            ra = a.request(method, f"{base}/v2/x/tags/list?n=1000", headers=headers, timeout=5, verify=True, stream=True)
            rb = b.bodyless(method, f"{base}/v2/x/tags/list?n=1000", headers=headers, timeout=5, verify=True, stream=True)
            assert (ra.status_code, ra.content) == (rb.status_code, rb.content) == (200, b'{"ok": true}' if method == "GET" else b"")
            (ma, pa, ha), (mb, pb, hb) = seen[-2:]
            assert (ma, pa, ha) == (mb, pb, hb)
            assert hb["user-agent"].startswith("imagebot/") and hb["authorization"] == "Bearer t0ken"


def test_bodyless_follows_redirects_and_keeps_the_cookies_it_is_given(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with _recording_server() as (base, seen):
        a, b = _session(), _session()
        for s in (a, b):
            call = s.request if s is a else s.bodyless
            r = call("GET", f"{base}/redirect", headers={}, timeout=5, verify=True, stream=True)
            assert r.status_code == 200 and r.url == f"{base}/target"
            r2 = call("GET", f"{base}/again", headers={}, timeout=5, verify=True, stream=True)
            assert r2.status_code == 200
        # request and bodyless: the same four requests; the cookie the redirect set is sent back
        assert [(m, p, h) for m, p, h in seen[:3]] == [(m, p, h) for m, p, h in seen[3:]]
        assert seen[-1][2].get("cookie") == "lb=sticky-1"
