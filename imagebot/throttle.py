"""A token bucket: `rate` tokens per second, at most `burst` saved up.

One implementation for both directions: outgoing registry requests wait for a token
(:meth:`TokenBucket.take`); incoming webhooks are refused when none is left
(:meth:`TokenBucket.try_take`, answered with 429 and Retry-After).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def take(self) -> float:
        """Take a token, waiting for it if need be (going into debt keeps the order fair).

        Returns the seconds waited."""
        with self._lock:
            self._refill()
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_take(self) -> float:
        """Take a token if one is there and return 0.0; else take none and return the seconds until one is."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate
