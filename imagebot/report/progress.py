"""Progress of the cycle in flight: repositories looked up so far, out of how many.

:class:`ResolveProgress` stands between resolve and the registry client: each tag listing it
passes through counts one repository as resolved, and reporters that care (metrics, logs) are
told as it goes. Everything else is the client's own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence
from typing import Any

log = logging.getLogger(__name__)


class ResolveProgress:
    def __init__(self, source: Any, images: Collection[str], reporters: Sequence[object] = ()):
        self._source = source
        self.total = len(images)
        self.resolved = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._reporters = tuple(r for r in reporters if hasattr(r, "cycle_progress"))
        for r in reporters:
            started = getattr(r, "cycle_started", None)
            if started is not None:
                _quietly(started, self.total)

    def tags(self, image: str) -> Any:
        try:
            return self._source.tags(image)
        finally:
            with self._lock:
                if image not in self._seen:
                    self._seen.add(image)
                    self.resolved += 1
                done = self.resolved
            for r in self._reporters:
                _quietly(r.cycle_progress, done, self.total)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def _quietly(fn: Any, *args: Any) -> None:
    """A reporter's trouble never stops the cycle (it is logged where the reporter logs)."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - progress is advisory
        log.exception("progress reporter failed")
