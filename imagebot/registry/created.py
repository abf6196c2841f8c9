"""When an image was built: the ``created`` time of its config blob, for the ``newest-build`` policy.

A tag's config blob never changes for one manifest digest, so the answer is kept per
(image, manifest digest) for the life of the process: a later cycle costs one ``HEAD`` per tag
(the digest, which may have moved) and no blob download unless the tag now points elsewhere.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Protocol

from imagebot.registry.manifests import ImageConfig

#: Entries kept before the oldest half is dropped (a bound, not a tuning knob).
MAX_ENTRIES = 50_000


class _Source(Protocol):
    def digest(self, image: str, tag: str) -> str: ...

    def image_config(self, image: str, tag: str) -> ImageConfig: ...


def parse_created(text: str | None) -> datetime | None:
    """An RFC 3339 time as images state it (``2024-05-01T10:00:00.123456789Z``) -> aware UTC
    datetime; None when absent or unreadable. Fractions beyond microseconds are cut."""
    if not text or not isinstance(text, str):
        return None
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    date, sep, rest = s.partition("T")
    if sep and "." in rest:  # Go writes nanoseconds; Python reads at most six digits
        head, _, frac = rest.partition(".")
        digits = "".join(c for c in frac if c.isdigit())
        zone = frac[len(digits):]
        s = f"{date}T{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        value = datetime.fromisoformat(s)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.year <= 1:  # Go's zero time: "no date" (reproducible builds write 1970 instead)
        return None
    return value.astimezone(UTC)


class CreatedTimes:
    """Build times by manifest digest, shared by every cycle of one process (thread-safe)."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self._known: dict[tuple[str, str], datetime | None] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self.fetched = 0  # config blobs read (tests and metrics look at it)

    def created(self, source: _Source, image: str, tag: str) -> datetime | None:
        """The build time of `image:tag`, or None when its config states none.

        Raises the registry's error (it says whether a retry can help)."""
        digest = source.digest(image, tag)
        key = (image, digest)
        with self._lock:
            if key in self._known:
                return self._known[key]
        value = parse_created(source.image_config(image, tag).created)
        with self._lock:
            self.fetched += 1
            if len(self._known) >= self._max:
                for old in list(self._known)[: self._max // 2]:
                    del self._known[old]
            self._known[key] = value
        return value
