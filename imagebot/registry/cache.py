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
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def store_json(path: Path, data: object) -> None:
    """Write `data` as compact JSON to `path` atomically (temp file + rename): a crash or a full
    disk leaves the previous file or none, never half of one. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, separators=(",", ":")))  # one C-encoded string: ~3x less CPU than json.dump
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


_PACKAGE = Path(__file__).resolve().parent.parent


def code_fingerprint(label: str, modules: Sequence[str] | None = None) -> str:
    """SHA-256 of `label` and the text of imagebot's own modules (paths relative to the package,
    e.g. "apply/splice.py"; None: every .py file of the package, in path order): a cache whose
    answers the code decides records it, and ignores entries another version of the code wrote.
    A module that cannot be read counts as "?" (the fingerprint still differs from the one with it)."""
    names = modules if modules is not None else sorted(
        p.relative_to(_PACKAGE).as_posix() for p in _PACKAGE.rglob("*.py"))
    h = hashlib.sha256(label.encode())
    for name in names:
        if modules is None:
            h.update(name.encode() + b"\0")
        try:
            h.update((_PACKAGE / name).read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


def load_cache_file(path: Path, kind: str, fmt: int, code: str, body: str, label: str) -> dict[str, Any] | None:
    """A cache file of imagebot's (`tool` "imagebot", `cache` `kind`, `format` `fmt`, written by the
    code whose fingerprint is `code`, with a JSON object under `body`), or None: missing, unreadable,
    not JSON, too deeply nested, another tool's, format or code (logged with `label`; the caller
    starts afresh and rewrites it). What is under `body` is the caller's to check, entry by entry."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as e:
        log.warning("%s: ignoring %s (%s); it will be rewritten", label, path, e)
        return None
    if (not isinstance(data, dict) or data.get("tool") != "imagebot" or data.get("cache") != kind
            or data.get("format") != fmt or not isinstance(data.get(body), dict)):
        log.warning("%s: %s is not imagebot's %s of this format; it will be rewritten", label, path, label)
        return None
    if data.get("code") != code:
        log.info("%s: written by another version of imagebot; starting afresh", label)
        return None
    return data
