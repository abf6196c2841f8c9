"""discover's memory across the cycles of one process (the agent): unchanged files are neither
read nor parsed again.

What discover concludes about a file (the text screen, the occurrences and problems) is a
function of its repo-relative path, its bytes and the scan settings (config `policies`,
`parse_all`) only. So the cache keeps, per path, that conclusion together with two proofs of
"same bytes":

* the file's identity from one ``stat``: device, inode, size, mtime and ctime (nanoseconds).
  A rewrite changes ctime (userland cannot set it; ``touch -d`` or ``git checkout`` still moves
  it), a rename or a fresh checkout changes the inode. The one hole is two writes within one
  timestamp tick: so an identity is trusted only when the file's timestamps were already
  `racy_window` old when the scan that read it started (Git's "racy clean" rule); a younger file
  is read again next time.
* a digest of the bytes read: a file that is read again (racy, touched, checked out anew) with
  the same bytes is not parsed again.

Scan settings that change (another `policies` mapping, another root) empty the cache; paths
the walk no longer yields (deleted, renamed, excluded now) are dropped after each scan, so the
cache never answers for a file the walk did not find. One scan at a time (a lock guards it).

With a `path` (see :meth:`DiscoverCache.attach`), the cache also lives on disk
(:mod:`imagebot.discover.store`): a new process starts from what the last one stored, and each
scan that changed something writes it back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from imagebot import filebytes
from imagebot.discover import store
from imagebot.discover.charts import PENDING
from imagebot.model import Occurrence, Problem

log = logging.getLogger(__name__)

__all__ = ["CacheStats", "DiscoverCache", "FileResult", "Since"]


@dataclass(frozen=True)
class FileResult:
    """discover's conclusion about one file's bytes: `worth` parsing (the text screen), and once
    `parsed`, its occurrences and problems.

    `data` is kept for files worth parsing: a webhook-targeted scan searches them for the pushed
    images' names, and parses them, without reading the file again. None: not kept (a result
    loaded from disk); the file is read when they are needed (`CacheSession.with_data`).
    """

    worth: bool
    data: bytes | None = b""
    parsed: bool = False
    occurrences: tuple[Occurrence, ...] = ()
    problems: tuple[Problem, ...] = ()
    unmanaged: tuple[Occurrence, ...] = ()


@dataclass(frozen=True)
class CacheStats:
    """How the last scan got each file's result: `reused` (stat unchanged, not read), `reread`
    (read again, same bytes: nothing recomputed) or `evaluated` (new bytes, screened again);
    `parsed`: files parsed (new bytes that passed the screens)."""

    reused: int = 0
    reread: int = 0
    evaluated: int = 0
    parsed: int = 0


#: (an earlier Git revision, the paths whose bytes differ between it and the scanned one): see
#: `DiscoverCache.files_at`.
Since = tuple[Hashable, frozenset[str]]

#: (device, inode, size, mtime_ns, ctime_ns) from one stat: a plain tuple, compared for every
#: file of every cycle.
_Identity = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class _Entry:
    identity: _Identity
    trusted: bool  # timestamps older than the racy window when read: the identity proves the bytes
    digest: bytes
    result: FileResult


class DiscoverCache:
    """Per-file discover results kept across scans; create one per process and pass it to every
    :func:`imagebot.discover.scan` (via ``pipeline.run_cycle(discover_cache=...)``)."""

    def __init__(self, *, racy_window: float = 2.0, clock_ns: Callable[[], int] = time.time_ns,
                 path: Path | None = None):
        self._path = Path(path) if path is not None else None
        self._restored = False  # the store at `path` was looked at
        self._stored: tuple[str, dict[str, store.Stored], store.Pinned | None] | None = None
        self._read = False
        self._raw: dict | None = None  # the store as read, until decoded ({}: none usable)
        self._dirty = False  # something differs from the store at `path`
        self._racy_ns = int(racy_window * 1e9)
        self._clock_ns = clock_ns
        self._entries: dict[str, _Entry] = {}
        self._scope: tuple[str, Hashable] | None = None
        #: (walk key, the files the walk found) of the last scan told its Git revision.
        self._pinned: tuple[Hashable, tuple[str, ...]] | None = None
        self._lock = threading.Lock()
        #: The last finished scan's counts.
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def attach(self, path: Path) -> None:
        """Keep this cache on disk at `path` too (:mod:`imagebot.discover.store`), unless it has a
        store already: the first scan starts from it when this process has scanned nothing yet,
        and every scan that changed something writes it back."""
        with self._lock:
            if self._path is None:
                self._path = Path(path)

    @property
    def path(self) -> Path | None:
        return self._path

    def last_images(self) -> frozenset[str] | None:
        """The images the last scan found (this process's, else the store's): what the next scan of
        an unchanged checkout will find, known before the checkout is even fetched. A hint only
        (the pipeline starts their tag listings early); the scan's own answer is what counts.
        None when no scan is known (a new cache dir), as against a scan that found no image."""
        with self._lock:
            if self._entries:
                results = [e.result for e in self._entries.values()]
            elif self._path is not None and not self._read and self._raw is None and (
                    listed := store.read_images(self._path)) is not None:
                return frozenset(i for i in listed if not i.startswith(PENDING))  # the store is read later
            else:
                raw = self._read_raw()
                listed = store.images(raw) if raw is not None else None
                if listed is not None:  # the store names them: its entries are decoded later, by the scan
                    return frozenset(i for i in listed if not i.startswith(PENDING))
                loaded = self._read_store()
                if loaded is None and self._scope is None:
                    return None
                results = [e for e in loaded[1].values()] if loaded is not None else []
        return frozenset(o.image for r in results for o in r.occurrences if not o.image.startswith(PENDING))

    def _restore(self, scope: tuple[str, Hashable]) -> None:
        """Fill an empty cache from the store (once; under the lock)."""
        if self._path is None or self._restored:
            return
        self._restored = True
        loaded, self._stored = self._read_store(), None
        if self._scope is not None:  # this process has its own, newer knowledge
            self._dirty = True
            return
        if loaded is None or loaded[0] != store.scope_key(*scope):
            if loaded is not None:
                log.info("discover cache: %s was written for other scan settings; starting afresh", self._path)
            self._dirty = True  # missing, unusable or another scope: written after the scan
            return
        _, stored, pinned = loaded
        self._scope = scope
        self._entries = {rel: _Entry(e.identity, e.trusted, e.digest, FileResult(
            e.worth, None if e.worth else b"", e.parsed, e.occurrences, e.problems, e.unmanaged)) for rel, e in stored.items()}
        self._pinned = pinned  # type: ignore[assignment]

    def _read_raw(self) -> dict | None:
        """The store file as read (header checked, entries not decoded), once."""
        if self._raw is None and not self._read and self._path is not None:
            self._raw = store.read(self._path) or {}
        return self._raw or None

    def _read_store(self) -> tuple[str, dict[str, store.Stored], store.Pinned | None] | None:
        if not self._read and self._path is not None:
            raw, self._raw = self._read_raw(), None  # decoded once; the raw form is not kept
            self._read = True
            self._stored = store.decode(raw, self._path)
        return self._stored

    def _save(self) -> None:
        if self._path is None or not self._dirty or self._scope is None:
            return
        pinned = self._pinned
        if pinned is not None and not _storable(pinned[0]):
            pinned = None
        entries = {rel: store.Stored(e.identity, e.trusted, e.digest, e.result.worth, e.result.parsed,
                                     e.result.occurrences, e.result.problems, e.result.unmanaged)
                   for rel, e in self._entries.items()}
        store.save(self._path, store.scope_key(*self._scope), entries, pinned)  # type: ignore[arg-type]
        self._dirty = False

    @property
    def revision(self) -> Hashable:
        """The Git revision the last scan was told (see `files_at`), or None."""
        with self._lock:
            if self._scope is None and not self._restored:  # a new process: the one its store was told
                stored = self._read_store()
                return stored[2][0][0] if stored is not None and stored[2] is not None else None
            return self._pinned[0][0] if self._pinned is not None else None  # type: ignore[index]

    def files_at(
        self, root: os.PathLike[str] | str, settings: Hashable, walk_key: Hashable, since: Since | None = None
    ) -> tuple[str, ...] | None:
        """The files the last scan walked, if it had the same root, settings and `walk_key`.

        `walk_key` is (the Git revision the work tree was just reset to, `paths`, `exclude`): a
        clean checkout of one commit has the same files with the same bytes, so neither the walk
        nor a stat per file is needed to know them. The caller vouches that the work tree is
        exactly that commit (the pipeline scans right after a hard reset + clean).

        `since` (an earlier revision, the paths whose bytes differ between it and this one, no
        path added or removed): a scan at that earlier revision also knows the files; only the
        paths named are looked at again.
        """
        with self._lock:
            self._restore((os.fspath(root), settings))
            if self._scope != (os.fspath(root), settings) or self._pinned is None:
                return None
            if self._pinned[0] == walk_key or self._follows(walk_key, since):
                return self._pinned[1]
            return None

    def _follows(self, walk_key: Hashable, since: Since | None) -> bool:
        """The last scan was at `since`'s revision, with this scan's paths and exclude."""
        if since is None or self._pinned is None or not isinstance(walk_key, tuple):
            return False
        return self._pinned[0] == (since[0], *walk_key[1:])

    @contextmanager
    def session(
        self,
        root: os.PathLike[str] | str,
        settings: Hashable,
        walk_key: Hashable = None,
        files: tuple[str, ...] = (),
        since: Since | None = None,
    ) -> Iterator[CacheSession]:
        """One scan of `root` with `settings` (everything besides path and bytes a result depends
        on) over `files`; with a `walk_key` (and `since`: see `files_at`), remembered for the
        next scan."""
        with self._lock:
            scope = (os.fspath(root), settings)
            self._restore(scope)
            if scope != self._scope:
                self._entries = {}
                self._pinned = None
                self._scope = scope
                self._dirty = True
            stale: frozenset[str] = frozenset()
            pinned = walk_key is not None and self._pinned is not None and self._pinned == (walk_key, files)
            if not pinned and walk_key is not None and since is not None and self._follows(walk_key, since):
                pinned = self._pinned is not None and self._pinned[1] == files
                stale = since[1]
            s = CacheSession(self._entries, scope[0], self._clock_ns() - self._racy_ns, pinned, stale)
            before = self._pinned
            self._pinned = None  # until this scan has finished
            yield s
            gone = self._entries.keys() - s.seen
            for rel in gone:
                del self._entries[rel]
            if walk_key is not None:
                self._pinned = (walk_key, files)
            self.stats = CacheStats(s.reused, s.reread, s.evaluated, s.parsed)
            if gone or s.changed or self._pinned != before:
                self._dirty = True
            self._save()


class CacheSession:
    """The cache as one scan sees it; `result()` for each file the walk yields."""

    def __init__(
        self,
        entries: dict[str, _Entry],
        root: str,
        trust_before_ns: int,
        pinned: bool = False,
        stale: frozenset[str] = frozenset(),
    ):
        self._entries = entries
        self._root = root
        self._trust_before_ns = trust_before_ns
        #: The commit of the last scan, or one that differs from it only in the `stale` paths:
        #: every other remembered result holds; stale ones are read again whatever stat says.
        self._pinned = pinned
        self._stale = stale
        self.seen: set[str] = set()
        self.reused = self.reread = self.evaluated = self.parsed = 0
        #: An entry was added or replaced (new bytes, identity or trust).
        self.changed = False

    def result(self, rel: str, evaluate: Callable[[bytes], FileResult]) -> FileResult:
        """The result for `rel`: remembered, or `evaluate(bytes)`. Raises OSError when unreadable
        (nothing is remembered then: the next scan tries again)."""
        self.seen.add(rel)
        path = f"{self._root}/{rel}"
        entry = self._entries.get(rel)
        stale = rel in self._stale
        if self._pinned and entry is not None and not stale:
            self.reused += 1
            return entry.result
        try:
            st = os.stat(path)  # before reading: bytes read later are at least as new as this identity
            identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if entry is not None and entry.trusted and entry.identity == identity and not stale:
                self.reused += 1
                return entry.result
            data = filebytes.read(path)
        except OSError:
            if self._entries.pop(rel, None) is not None:
                self.changed = True
            raise
        digest = hashlib.blake2b(data, digest_size=20).digest()
        if entry is not None and entry.digest == digest:
            self.reread += 1
            result = entry.result
        else:
            self.evaluated += 1
            result = evaluate(data)
            self.changed = True
        trusted = max(st.st_mtime_ns, st.st_ctime_ns) < self._trust_before_ns
        if result.data is None:  # loaded without its bytes: these are they
            result = replace(result, data=data)
        if entry is None or (entry.identity, entry.trusted, entry.digest) != (identity, trusted, digest):
            self.changed = True
        self._entries[rel] = _Entry(identity, trusted, digest, result)
        return result

    def with_data(self, rel: str, result: FileResult, evaluate: Callable[[bytes], FileResult]) -> FileResult:
        """`result` (of `result()`, loaded from disk without its bytes) with the bytes of `rel`
        read now; if they are not the bytes it was found for, `evaluate(bytes)` afresh. Raises
        OSError when unreadable."""
        entry = self._entries[rel]
        try:
            st = os.stat(f"{self._root}/{rel}")
            data = filebytes.read(f"{self._root}/{rel}")
        except OSError:
            if self._entries.pop(rel, None) is not None:
                self.changed = True
            raise
        if hashlib.blake2b(data, digest_size=20).digest() == entry.digest:
            result = replace(result, data=data)
            self._entries[rel] = replace(entry, result=result)  # kept, as for a file read this process
            return result
        self.reused -= 1
        self.evaluated += 1
        self.changed = True
        result = evaluate(data)
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        trusted = max(st.st_mtime_ns, st.st_ctime_ns) < self._trust_before_ns
        self._entries[rel] = _Entry(identity, trusted, hashlib.blake2b(data, digest_size=20).digest(), result)
        return result

    def update(self, rel: str, result: FileResult) -> None:
        """Remember a fuller result (the parse) for the bytes `result()` just returned for `rel`."""
        self.parsed += 1
        self.changed = True
        self._entries[rel] = replace(self._entries[rel], result=result)


def _storable(walk_key: Hashable) -> bool:
    """A walk key the store can keep: (revision, paths, exclude) of strings."""
    return (isinstance(walk_key, tuple) and len(walk_key) == 3 and isinstance(walk_key[0], str)
            and all(isinstance(part, tuple) and all(isinstance(x, str) for x in part) for part in walk_key[1:]))
