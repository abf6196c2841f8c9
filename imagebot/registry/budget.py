"""How politely we talk to one registry: concurrency, request rate, and giving up for the cycle.

Defaults: 10 requests/s (burst 20), 4 in flight; Docker Hub gets 2/s (burst 5), 2 in flight,
because its pull limits are per IP and shared with every other client on the node.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from collections.abc import Iterator

from imagebot.config.schema import RateLimit
from imagebot.registry.names import is_docker_hub
from imagebot.throttle import TokenBucket  # noqa: F401  (re-exported for the registry's users)

DEFAULT_RATE = RateLimit()
DOCKER_HUB_RATE = RateLimit(requests_per_second=2.0, burst=5, concurrency=2)


def default_rate(host: str) -> RateLimit:
    return DOCKER_HUB_RATE if is_docker_hub(host) else DEFAULT_RATE


class Budget:
    """Concurrency slots plus a token bucket, used around every request to one registry."""

    def __init__(self, limit: RateLimit):
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit.concurrency)
        self.bucket = TokenBucket(limit.requests_per_second, limit.burst)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0  # observed, for tests and benchmarks

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            self.bucket.take()
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                yield
            finally:
                with self._lock:
                    self.in_flight -= 1


class Breaker:
    """Skip a registry for the rest of the cycle once it keeps failing.

    `threshold` failures in a row (each after its own retries) open the breaker; so does a
    429 whose Retry-After reaches past the cycle. Any success closes the count again.
    """

    def __init__(self, threshold: int):
        self.threshold = threshold
        self._lock = threading.Lock()
        self._failures = 0
        self.reason: str | None = None
        self.retry_after: float | None = None

    def success(self) -> None:
        with self._lock:
            self._failures = 0

    def failure(self, why: str) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold and self.reason is None:
                self.reason = f"failed {self._failures} times in a row this cycle (last: {why})"

    def open(self, reason: str, retry_after: float | None = None) -> None:
        with self._lock:
            if self.reason is None:
                self.reason, self.retry_after = reason, retry_after

    def reset(self) -> None:
        with self._lock:
            self._failures, self.reason, self.retry_after = 0, None, None
