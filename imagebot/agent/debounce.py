"""Gather pushed images into one targeted cycle.

A registry push arrives as a burst of notifications (one per manifest of a multi-arch image,
one per tag). The batch fires after `quiet` seconds without a new push, or `max_delay` after
its first push when pushes keep coming.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class Debouncer:
    def __init__(self, quiet: float, max_delay: float, clock: Callable[[], float] = time.monotonic):
        self.quiet = quiet
        self.max_delay = max(max_delay, quiet)
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._first = 0.0
        self._last = 0.0

    def add(self, images: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            if not self._pending:
                self._first = now
            self._pending.update(images)
            self._last = now

    def deadline(self) -> float | None:
        """When the pending batch is due (clock time), or None when nothing is pending."""
        with self._lock:
            if not self._pending:
                return None
            return min(self._last + self.quiet, self._first + self.max_delay)

    def take_due(self) -> frozenset[str] | None:
        """The batch, if due now (and forget it); else None."""
        deadline = self.deadline()
        if deadline is None or self._clock() < deadline:
            return None
        return self.take_all()

    def take_all(self) -> frozenset[str]:
        with self._lock:
            batch, self._pending = frozenset(self._pending), set()
            return batch
