"""The last good tag list of each repository, on disk, for stale-on-error.

When a registry fails, the resolve stage may still decide from the list it saw last time
(the report shows its age). Files hold only the image name, the tags and the time they were
fetched — never credentials. Writes are atomic (temp file + rename), so a crash leaves the
previous list intact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from imagebot.cachefile import store_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedTags:
    tags: tuple[str, ...]
    fetched_at: float  # Unix time

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.fetched_at)


class TagCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _path(self, image: str) -> Path:
        return self.directory / (hashlib.sha256(image.encode()).hexdigest()[:40] + ".json")

    def load(self, image: str) -> CachedTags | None:
        """The last good list; fetched when the file says or, if later, when it was last confirmed
        (its mtime: `store` of the same list only touches the file)."""
        path = self._path(image)
        try:
            with path.open("rb") as f:
                confirmed = os.fstat(f.fileno()).st_mtime
                data = json.loads(f.read())
            if data.get("image") != image or not isinstance(data.get("tags"), list):
                return None
            return CachedTags(tuple(str(t) for t in data["tags"]), max(float(data["fetched_at"]), confirmed))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as e:
            log.warning("ignoring unreadable tag cache %s: %s", path, e)
            return None

    def store(self, image: str, tags: tuple[str, ...], fetched_at: float | None = None) -> None:
        """Keep `tags` as the last good list. The same list as kept already is confirmed by touching
        the file (a read and a utime instead of a write and a rename: most listings do not change)."""
        path = self._path(image)
        if fetched_at is None and self._confirm(path, image, tags):
            return
        when = fetched_at if fetched_at is not None else time.time()
        try:
            store_json(path, {"image": image, "fetched_at": when, "tags": list(tags)})
            os.utime(path, (when, when))  # the mtime is when the list was last confirmed (see load)
        except OSError as e:  # a cache that cannot be written must not fail the cycle
            log.warning("cannot write tag cache %s: %s", path, e)

    @staticmethod
    def _confirm(path: Path, image: str, tags: tuple[str, ...]) -> bool:
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict) or data.get("image") != image or data.get("tags") != list(tags):
                return False
            os.utime(path)
            return True
        except (OSError, ValueError, RecursionError):
            return False
