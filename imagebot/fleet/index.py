"""Which lanes use which images, kept from each lane's last discovery: webhooks go only there."""

from __future__ import annotations

import threading
from collections.abc import Collection

from imagebot.model import CycleResult


class ImageIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images: dict[str, frozenset[str]] = {}  # lane -> images its last full discovery found

    def record(self, lane: str, result: CycleResult) -> None:
        """Remember a lane's images from a full (not targeted) cycle."""
        if result.images is not None:
            return
        images = frozenset(o.image for o in result.discovery.occurrences)
        with self._lock:
            self._images[lane] = images

    def lanes_for(self, images: Collection[str], lanes: Collection[str]) -> frozenset[str]:
        """Of `lanes`, those that use any of `images`, plus those not discovered yet (they may)."""
        wanted = set(images)
        with self._lock:
            return frozenset(n for n in lanes if n not in self._images or self._images[n] & wanted)

    def known(self, lane: str) -> frozenset[str] | None:
        with self._lock:
            return self._images.get(lane)
