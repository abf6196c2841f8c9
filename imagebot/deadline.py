"""A cycle's deadline: the moment by which its work must end, and a way to end it early (SIGTERM).

Every step that waits on something outside the process (a git command, a registry request)
asks the cycle's :class:`Deadline` how long it may wait (:meth:`Deadline.cap`) and whether it
may start at all (:meth:`Deadline.check`). Past the deadline, or once cancelled, nothing new
starts: a cycle is abandoned between steps, before any push that had not begun, so nothing is
left half-delivered (an interrupted push is atomic on the remote; the local clone is reset
at the next cycle's start).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from imagebot.errors import ImagebotError

__all__ = ["Deadline", "DeadlineExceeded", "NO_DEADLINE"]


class DeadlineExceeded(ImagebotError):
    """The cycle ran out of time, or was cancelled (shutdown). The next cycle starts afresh."""

    temporary = True


class Deadline:
    """`seconds` from now (None: never), or sooner once `cancelled()` says so."""

    def __init__(self, seconds: float | None, *, cancelled: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.seconds = seconds
        self.at = math.inf if seconds is None else clock() + seconds
        self._cancelled = cancelled

    @property
    def cancelled(self) -> bool:
        return self._cancelled()

    def remaining(self) -> float:
        """Seconds left (0 when cancelled or past)."""
        if self._cancelled():
            return 0.0
        return max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def cap(self, timeout: float) -> float:
        """`timeout`, shortened to what is left of the deadline (never below a few milliseconds)."""
        return max(0.01, min(timeout, self.remaining()))

    def check(self, doing: str) -> None:
        """Raise DeadlineExceeded rather than start `doing` when no time is left."""
        if self._cancelled():
            raise DeadlineExceeded(f"not {doing}: shutting down")
        if self._clock() >= self.at:
            raise DeadlineExceeded(f"not {doing}: the cycle ran past its deadline ({self.seconds:g}s, "
                                   f"cycle_timeout); the next cycle starts afresh")


#: No deadline: for callers outside a cycle (tests, previews).
NO_DEADLINE = Deadline(None)
