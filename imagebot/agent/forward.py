"""A follower hands an accepted webhook to the leader, so no push waits for the next interval.

Every replica sits behind the webhook Service, and registries (Docker Hub, GitHub) do not retry:
a follower that authenticated and parsed a webhook posts its images to the leader's
``/internal/push`` (HMAC with a timestamp, the webhook secret as key) and answers 202 only once
the leader took them. The leader's address comes from the Lease it holds (the
``imagebot.io/leader-address`` annotation it writes there).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import requests

from imagebot.agent.auth import WebhookAuth

TIMEOUT = (2.0, 5.0)  # connect, read: the registry waits for our answer meanwhile


class LeaderForwarder:
    def __init__(self, auth: WebhookAuth, leader_address: Callable[[], str], own_address: str = "",
                 on_result: Callable[[str], None] | None = None):
        self.auth = auth
        self._leader = leader_address
        self.own_address = own_address
        self._on_result = on_result

    def __call__(self, images: Iterable[str]) -> tuple[bool, str]:
        """(handed over, the leader's address or why not)."""
        address = self._leader()
        if not address or not self.auth.enabled:
            return self._done(False, "no leader address known" if self.auth.enabled else "no webhook secret", "no-leader")
        if address == self.own_address:
            return self._done(False, "this replica is named leader but does not lead (yet)", "no-leader")
        body = json.dumps({"images": sorted(set(images))}).encode()
        headers = {"Content-Type": "application/json", **self.auth.signed_headers(body)}
        try:
            with requests.Session() as session:  # one per call: the server's worker threads call this at once
                session.trust_env = False  # replica to replica: never through an HTTP proxy
                r = session.post(f"http://{address}/internal/push", data=body, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as e:
            return self._done(False, f"leader {address} unreachable: {type(e).__name__}", "unreachable")
        if r.status_code != 202:
            return self._done(False, f"leader {address} answered {r.status_code}", "refused")
        return self._done(True, address, "ok")

    def _done(self, ok: bool, detail: str, result: str) -> tuple[bool, str]:
        if self._on_result is not None:
            self._on_result(result)
        return ok, detail
