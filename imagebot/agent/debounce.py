"""Gather pushed images into targeted cycles.

A registry push often arrives as a burst of notifications (one per tag, one per image of a
release). With `leading` (the default), the first push after a quiet spell is due at once: a
lone push, the usual case, costs no waiting. Pushes that follow within `quiet` seconds of the
previous one are gathered: that batch fires after `quiet` seconds without a new push, or
`max_delay` after its first push when pushes keep coming. So a burst costs at most two cycles,
the first of them started at once. Without `leading`, every batch waits for the quiet (one
cycle per burst, `quiet` later).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class Debouncer:
    def __init__(
        self, quiet: float, max_delay: float, clock: Callable[[], float] = time.monotonic, *, leading: bool = False
    ):
        self.quiet = quiet
        self.max_delay = max(max_delay, quiet)
        self.leading = leading
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._first = 0.0
        self._last = float("-inf")  # the last push: none yet
        self._due_at_once = False

    def add(self, images: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            if not self._pending:
                self._first = now
                self._due_at_once = self.leading and now - self._last >= self.quiet
            self._pending.update(images)
            self._last = now

    def deadline(self) -> float | None:
        """When the pending batch is due (clock time), or None when nothing is pending."""
        with self._lock:
            if not self._pending:
                return None
            if self._due_at_once:
                return self._first
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
