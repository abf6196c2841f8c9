"""Tag listings started early: while discover is still reading files, each image it finds has its
tags listed in the background, so that the resolve stage finds most listings done.

The listing itself is the registry client's (``RegistryClient.tags``), which answers once per
cycle per image: a listing in flight is waited for, a finished one (or its error) is reused. So a
prefetch asks nothing that resolve would not ask, and changes no answer: its outcome is whatever
the later call would have got. Errors are left to that later call (it raises or reports them for
the image concerned); here they are only counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)

__all__ = ["Prefetch"]


class Prefetch:
    """`add(image)` starts `fetch(image)` in a bounded pool, once per image; `close()` drops what
    has not started (the cycle ended early) without waiting for what runs (each call has its own
    deadline: the cycle's)."""

    def __init__(self, fetch: Callable[[str], object], *, workers: int = 8,
                 wanted: Callable[[str], bool] = lambda image: True):
        self._fetch, self._wanted = fetch, wanted
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="prefetch")
        self._started: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.failed = 0

    def add(self, image: str) -> None:
        with self._lock:
            if self._closed or image in self._started or not self._wanted(image):
                return
            self._started[image] = self._pool.submit(self._one, image)

    def _one(self, image: str) -> None:
        try:
            self._fetch(image)
        except Exception as e:  # the resolve stage asks again and reports it for this image
            with self._lock:
                self.failed += 1
            log.debug("prefetching the tags of %s: %s", image, e)

    def keep(self, images: Collection[str]) -> int:
        """Drop the queued listings of images not in `images` (those started from the last scan's
        images that this scan no longer found, e.g. after a registry moved): they would hold the
        pool's workers, and a dead host's retries, ahead of the listings resolve waits for. A
        listing already running finishes. Returns how many were dropped."""
        wanted = images if isinstance(images, (set, frozenset)) else frozenset(images)
        dropped = 0
        with self._lock:
            for image, future in list(self._started.items()):
                if image not in wanted and future.cancel():
                    del self._started[image]
                    dropped += 1
        if dropped:
            log.debug("prefetch: %d listing(s) of images no longer found dropped", dropped)
        return dropped

    @property
    def images(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._started)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
