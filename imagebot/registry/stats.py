"""Counts of registry requests by (registry, kind, status).

Tests assert the request budget with it ("N workloads on M repositories -> M listings"),
metrics export it and benchmarks print it. Kinds: ``ping``, ``tags``, ``manifest``,
``blob``, ``token``. Status is the HTTP status code, or a word for a request that got no
answer (``timeout``, ``connection``, ``tls``). Statuses are kept as strings ("200") so
that snapshots sort; :meth:`RequestStats.count` accepts either form.
"""

from __future__ import annotations

import threading
from collections import Counter

StatsKey = tuple[str, str, str]


class RequestStats:
    """Thread-safe request counter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[StatsKey] = Counter()

    def record(self, registry: str, kind: str, status: int | str) -> None:
        with self._lock:
            self._counts[(registry, kind, str(status))] += 1

    def count(self, registry: str | None = None, kind: str | None = None, status: int | str | None = None) -> int:
        """The number of requests matching every given field (None matches anything)."""
        want = None if status is None else str(status)
        with self._lock:
            items = list(self._counts.items())
        return sum(
            n
            for (r, k, s), n in items
            if (registry is None or r == registry) and (kind is None or k == kind) and (want is None or s == want)
        )

    def snapshot(self) -> dict[StatsKey, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"RequestStats({dict(sorted(self.snapshot().items(), key=str))})"
