"""A follower's hand-over to the leader: signed, answered, and honest about failure."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from imagebot.agent.auth import WebhookAuth
from imagebot.agent.forward import LeaderForwarder
from tests.support.git_http import LoopbackServer

SECRET = b"forward-secret"


class _Leader(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]] = []
    status = 202

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((dict(self.headers), body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_hand_over_is_signed_and_verifiable_by_the_leader_and_failures_are_reported() -> None:
    results: list[str] = []
    with LoopbackServer(_Leader) as leader:
        address = leader.host
        forward = LeaderForwarder(WebhookAuth(SECRET), lambda: address, own_address="10.0.0.9:8080",
                                  on_result=results.append)
        assert forward(["ghcr.io/o/b", "ghcr.io/o/a", "ghcr.io/o/a"]) == (True, address)
        headers, body = _Leader.got[-1]
        sent = json.loads(body)
        assert sent["images"] == ["ghcr.io/o/a", "ghcr.io/o/b"]
        assert len(sent["nonce"]) == 32  # two hand-overs of the same images in one second are not replays
        leader_auth = WebhookAuth(SECRET)
        assert leader_auth.verify("internal", {k.title(): v for k, v in headers.items()}, body, {}) == ""
        assert leader_auth.verify("internal", {k.title(): v for k, v in headers.items()}, body, {}) == "replayed"
        _Leader.status = 503
        ok, why = forward(["ghcr.io/o/a"])
        assert not ok and "503" in why
    ok, why = LeaderForwarder(WebhookAuth(SECRET), lambda: address, on_result=results.append)(["x/y"])
    assert not ok and "unreachable" in why
    assert LeaderForwarder(WebhookAuth(SECRET), lambda: "")(["x/y"]) == (False, "no leader address known")
    assert not LeaderForwarder(WebhookAuth(SECRET), lambda: "a:1", own_address="a:1")(["x/y"])[0]
    assert LeaderForwarder(WebhookAuth(None), lambda: "a:1")(["x/y"]) == (False, "no webhook secret")
    assert results == ["ok", "refused", "unreachable"]
