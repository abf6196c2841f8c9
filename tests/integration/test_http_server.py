"""The agent's HTTP server under abuse: floods, idle and half-sent connections, malformed
requests, replays. The real server (waitress) on a loopback port, the real agent loop, a recording
cycle function.
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from imagebot.agent.auth import WebhookAuth, timestamped_headers
from imagebot.redact import register
from tests.integration.test_webhook import SECRET, Running, _running, make_config


@pytest.fixture
def running() -> Iterator[Running]:
    yield from _running(make_config(webhooks={"debounce": "10ms", "rate_limit": 20, "burst": 20}, http={"idle_timeout": 30}))


def generic(image: str) -> bytes:
    return json.dumps({"image": image, "tag": "1.0.0"}).encode()


def test_five_signed_webhooks_all_accepted_during_a_flood_of_5000_unauthenticated_requests(running: Running) -> None:
    codes: dict[int, int] = {}
    lock = threading.Lock()

    def flood(n: int) -> None:
        with requests.Session() as s:
            for _ in range(n):
                r = s.post(f"{running.url}/hooks/generic", data=generic("ghcr.io/evil/x"),
                           headers={"Authorization": "Bearer guess"}, timeout=30)
                with lock:
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1

    flooders = [threading.Thread(target=flood, args=(625,)) for _ in range(8)]
    for t in flooders:
        t.start()
    signed = []
    time.sleep(0.3)  # the flood is on
    for i in range(5):
        body = generic(f"ghcr.io/org/app{i}")
        signed.append(requests.post(f"{running.url}/hooks/generic", data=body,
                                    headers=timestamped_headers(SECRET, body), timeout=30).status_code)
        time.sleep(0.1)
    for t in flooders:
        t.join(300)
    assert signed == [202] * 5
    assert sum(codes.values()) == 5000
    assert set(codes) <= {401, 429} and codes.get(429, 0) > 4000, codes  # the flood is limited on its own bucket
    assert running.agent.wait_cycles(2, 10)
    time.sleep(0.2)
    triggered = frozenset().union(*(c for c in running.recorder.calls[1:] if c))
    assert triggered == {f"ghcr.io/org/app{i}" for i in range(5)}


def test_1300_idle_and_half_sent_connections_do_not_grow_threads_and_the_agent_answers(running: Running) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    host, port = running.server.server_address[:2]
    before = threading.active_count()
    socks: list[socket.socket] = []
    try:
        for i in range(1300):
            s = socket.create_connection((host, port), timeout=5)
            if i % 2:  # half of them start a request and never finish it
                s.sendall(b"POST /hooks/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ima")
            socks.append(s)
        time.sleep(1.0)
        assert threading.active_count() <= before + 2, (before, threading.active_count())
        t0 = time.monotonic()
        assert requests.get(f"{running.url}/healthz", timeout=5).status_code == 200
        assert requests.get(f"{running.url}/metrics", timeout=5).status_code == 200
        body = generic("ghcr.io/org/live")
        assert requests.post(f"{running.url}/hooks/generic", data=body, headers=timestamped_headers(SECRET, body),
                             timeout=5).status_code == 202
        assert time.monotonic() - t0 < 3.0
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _raw(running: Running, request: bytes) -> bytes:
    host, port = running.server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_malformed_requests_get_400_and_the_server_goes_on(running: Running) -> None:
    auth = "Authorization: Bearer " + SECRET.decode()
    bad_length = _raw(running, f"POST /hooks/generic HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: abc\r\n\r\n{{}}".encode())
    assert bad_length.startswith(b"HTTP/1.1 400"), bad_length[:100]
    deep = b"[" * 100_000 + b"]" * 100_000
    r = requests.post(f"{running.url}/hooks/generic", data=deep, headers={"Authorization": "Bearer " + SECRET.decode()},
                      timeout=10)
    assert r.status_code == 400 and "nested too deeply" in r.text
    deep_obj = b'{"image": ' * 50_000 + b"1" + b"}" * 50_000
    assert requests.post(f"{running.url}/hooks/generic", data=deep_obj,
                         headers={"Authorization": "Bearer " + SECRET.decode()}, timeout=10).status_code == 400
    huge = requests.post(f"{running.url}/hooks/generic", data=b"x" * (2 << 20), timeout=10)
    assert huge.status_code == 413
    garbage = _raw(running, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.") and b" 400 " in garbage[:20] or garbage == b""
    assert requests.get(f"{running.url}/healthz", timeout=5).status_code == 200
    assert running.recorder.calls == [None]


def test_a_signed_generic_webhook_is_accepted_once(running: Running) -> None:
    body = generic("ghcr.io/org/once")
    headers = timestamped_headers(SECRET, body)
    first = requests.post(f"{running.url}/hooks/generic", data=body, headers=headers, timeout=5)
    again = requests.post(f"{running.url}/hooks/generic", data=body, headers=headers, timeout=5)
    assert (first.status_code, again.status_code) == (202, 401)
    assert 'result="replayed"} 1.0' in requests.get(f"{running.url}/metrics", timeout=5).text


def test_unit_replay_window_and_memory() -> None:
    clock = [1_000_000.0]
    auth = WebhookAuth(SECRET, replay_window=300, clock=lambda: clock[0])
    body = b'{"image": "a/b"}'
    h = timestamped_headers(SECRET, body, 1_000_000)
    assert auth.verify("generic", h, body, {}) == ""
    assert auth.verify("generic", h, body, {}) == "replayed"
    clock[0] += 301
    assert auth.verify("generic", h, body, {}) == "expired"
    assert auth.verify("generic", timestamped_headers(SECRET, body, int(clock[0])), body, {}) == ""
    assert auth.verify("internal", {"Authorization": "Bearer " + SECRET.decode()}, body, {}) == "unauthorized"


def test_many_concurrent_requests_are_all_answered(running: Running) -> None:
    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(lambda _: requests.get(f"{running.url}/healthz", timeout=30).status_code, range(500)))
    assert codes == [200] * 500


def test_a_webhook_only_listener_serves_hooks_and_nothing_internal() -> None:
    from imagebot.agent.http import AgentServer
    from imagebot.agent.loop import Agent
    from imagebot.report.metrics import Metrics
    from imagebot.throttle import TokenBucket
    from tests.integration.test_webhook import Recorder

    agent = Agent(make_config(), run_cycle=Recorder(), metrics=Metrics())
    server = AgentServer("127.0.0.1:0", agent, Metrics(), WebhookAuth(SECRET), TokenBucket(10, 10),
                         hooks_listen="127.0.0.1:0",
                         status=lambda: {"problems": ["fetch https://bot:status-secret-0451@git.example/x failed"]})
    server.start()
    try:
        hooks, main = server.hooks_url, server.url
        assert hooks != main
        body = generic("ghcr.io/org/app")
        assert requests.post(f"{hooks}/hooks/generic", data=body, headers=timestamped_headers(SECRET, body),
                             timeout=5).status_code == 202
        assert requests.get(f"{hooks}/healthz", timeout=5).status_code == 200
        for path in ("/metrics", "/status", "/readyz"):
            assert requests.get(f"{hooks}{path}", timeout=5).status_code == 404, path
            assert requests.get(f"{main}{path}", timeout=5).status_code == 200, path
        assert agent.debouncer.deadline() is not None  # the push was taken
        register("status-secret-0451")
        status = requests.get(f"{main}/status", timeout=5).text
        assert "status-secret-0451" not in status and "git.example" in status
    finally:
        server.shutdown()


def test_a_busy_webhook_port_is_a_clear_error_and_leaves_nothing_listening() -> None:
    from imagebot.agent.http import AgentServer
    from imagebot.agent.loop import Agent
    from imagebot.report.metrics import Metrics
    from imagebot.throttle import TokenBucket
    from tests.integration.test_webhook import Recorder

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        agent = Agent(make_config(), run_cycle=Recorder(), metrics=Metrics())
        before = threading.active_count()
        with pytest.raises(OSError):
            AgentServer("127.0.0.1:0", agent, Metrics(), WebhookAuth(SECRET), TokenBucket(1, 1),
                        hooks_listen=f"127.0.0.1:{busy.getsockname()[1]}")
        time.sleep(0.2)
        assert threading.active_count() <= before
