"""With lanes sharded over replicas, a webhook reaches one replica: it runs the lanes it holds and
hands the images to every other replica holding a lane (`/internal/push`, signed as a follower's
hand-over to the leader is). Each receiver runs only its own lanes that use the image, and never
hands them on again, so a push costs at most one hand-over per other replica.

The holders' addresses come from the lane Leases (the `imagebot.io/leader-address` annotation each
holder writes there). Hand-overs go from a background thread: the registry's webhook is answered
without waiting for them; one that fails is logged and counted, and that lane picks the tag up
at its next interval round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from imagebot.agent.auth import WebhookAuth
from imagebot.agent.forward import LeaderForwarder

log = logging.getLogger("imagebot.agent.fanout")


class LaneFanOut:
    def __init__(self, auth: WebhookAuth, holders: Callable[[], Iterable[str]], own_address: str = "",
                 on_result: Callable[[str], None] | None = None):
        self.auth = auth
        self._holders = holders
        self.own_address = own_address
        self._on_result = on_result
        self.threads: list[threading.Thread] = []  # the last call's (tests wait on them)

    def targets(self) -> list[str]:
        return sorted({a for a in self._holders() if a and a != self.own_address})

    def __call__(self, images: Iterable[str]) -> None:
        images = sorted(set(images))
        self.threads = [threading.Thread(target=self._hand_over, args=(address, images), daemon=True,
                                         name="imagebot-fanout") for address in self.targets()]
        for t in self.threads:
            t.start()

    def _hand_over(self, address: str, images: list[str]) -> None:
        ok, detail = LeaderForwarder(self.auth, lambda: address, self.own_address, self._on_result)(images)
        if ok:
            log.info("push of %s handed to %s (lanes it holds)", ", ".join(images), address,
                     extra={"fields": {"event": "webhook-fanned-out", "images": images, "to": address}})
        else:
            log.warning("push of %s not handed to %s: %s; its lanes catch up at their next round",
                        ", ".join(images), address, detail,
                        extra={"fields": {"event": "webhook-not-fanned-out", "images": images, "to": address}})
