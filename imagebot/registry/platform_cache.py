"""What a manifest digest says — its platforms, labels and build time — kept on disk across runs.

A digest names content, so its answers never change: the platform check of a tag costs a
manifest GET and a config-blob GET the first time and nothing after, in this process or the
next one (`imagebot plan` twice, `run --once` in CI with a persisted cache directory).

One file per repository (``<dir>/<sha256(image)[:40]>.json``) holds

- ``tags``: tag -> [digest, unix time the registry last said so]. Trusted without asking
  again for ``tag_digest_ttl`` seconds (a registry setting) by the platform and label checks
  only; a digest written into a file is always asked for (RegistryClient.digest, a HEAD).
- ``digests``: manifest digest -> facts: ``platforms`` (os/arch[/variant] it provides; for an
  index read from the index itself, for an image from its config blob) and, once a config blob
  was read, ``config`` (platform, labels, created).

The directory carries a ``CACHEDIR.json`` marker naming the tool and the format. A directory
with another marker (an older format, another tool) has its entry files removed and is rebuilt;
a file that does not parse, names another image (another registry host) or holds anything but
the expected shapes is ignored and rewritten — never trusted. What a cycle learnt is written
when the next cycle starts and when the client closes (one write per repository that learnt
something), atomically (temp file + rename): a crash or a full disk leaves the previous file or
none, and a cache that cannot be written costs speed, never the cycle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebot.cachefile import store_json
from imagebot.registry.manifests import ImageConfig, Platform

log = logging.getLogger(__name__)

TOOL = "imagebot"
KIND = "manifest-facts"
FORMAT = 1
MARKER = "CACHEDIR.json"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ENTRY = re.compile(r"^[0-9a-f]{40}\.json$")
#: Tags remembered per repository before the oldest-checked half is dropped (a bound, not a knob).
MAX_TAGS = 5_000
#: Digests remembered per repository, likewise.
MAX_DIGESTS = 5_000
KINDS = frozenset({"image", "chart", "artifact"})


@dataclass(frozen=True)
class Facts:
    """What is known of one manifest digest."""

    platforms: tuple[Platform, ...] | None = None  # None: not known yet
    config: ImageConfig | None = None
    kind: str | None = None  # "image", "chart", "artifact" (registry.manifests.artifact_kind); None: not known


class _Corrupt(ValueError):
    """An entry file with the wrong shape: ignored and rewritten."""


def _platforms_from(raw: Any) -> tuple[Platform, ...]:
    if not isinstance(raw, list):
        raise _Corrupt("platforms is not a list")
    try:
        return tuple(Platform.parse(p) for p in raw if isinstance(p, str))
    except ValueError as e:
        raise _Corrupt(str(e)) from None


def _config_from(raw: Any) -> ImageConfig:
    if not isinstance(raw, dict):
        raise _Corrupt("config is not an object")
    labels, created, platform = raw.get("labels", {}), raw.get("created"), raw.get("platform")
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise _Corrupt("labels are not strings")
    if created is not None and not isinstance(created, str):
        raise _Corrupt("created is not a string")
    if not isinstance(platform, str):
        raise _Corrupt("config platform is not a string")
    parts = platform.split("/")
    if len(parts) < 2:
        raise _Corrupt("config platform is not os/arch")
    return ImageConfig(Platform(parts[0], parts[1], parts[2] if len(parts) > 2 else None), dict(labels), created)


class _Repo:
    """One repository's entries, as loaded (or empty), and whether they changed since."""

    __slots__ = ("tags", "digests", "lock")

    def __init__(self) -> None:
        self.tags: dict[str, tuple[str, float]] = {}
        self.digests: dict[str, Facts] = {}
        self.lock = threading.Lock()

    @classmethod
    def parse(cls, data: Any, image: str) -> "_Repo":
        if not isinstance(data, dict) or data.get("tool") != TOOL or data.get("format") != FORMAT:
            raise _Corrupt("not an imagebot manifest-facts file of this format")
        if data.get("image") != image:
            raise _Corrupt(f"written for {str(data.get('image'))[:200]!r}, not {image!r}")
        tags, digests = data.get("tags"), data.get("digests")
        if not isinstance(tags, dict) or not isinstance(digests, dict):
            raise _Corrupt("tags or digests is not an object")
        repo = cls()
        for tag, entry in tags.items():
            if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                    or not _DIGEST.match(entry[0]) or not isinstance(entry[1], (int, float))):
                raise _Corrupt(f"tag {str(tag)[:100]!r}: not [digest, time]")
            repo.tags[str(tag)] = (entry[0], float(entry[1]))
        for digest, facts in digests.items():
            if not isinstance(digest, str) or not _DIGEST.match(digest) or not isinstance(facts, dict):
                raise _Corrupt(f"digest {str(digest)[:100]!r}: not a digest with facts")
            platforms = _platforms_from(facts["platforms"]) if "platforms" in facts else None
            config = _config_from(facts["config"]) if "config" in facts else None
            kind = facts.get("kind")
            if kind is not None and kind not in KINDS:
                raise _Corrupt(f"digest {digest[:19]}: unknown kind {str(kind)[:40]!r}")
            repo.digests[digest] = Facts(platforms, config, kind)
        return repo

    def as_json(self, image: str) -> dict[str, Any]:
        digests: dict[str, Any] = {}
        for digest, facts in self.digests.items():
            entry: dict[str, Any] = {}
            if facts.platforms is not None:
                entry["platforms"] = [str(p) for p in facts.platforms]
            if facts.config is not None:
                c = facts.config
                entry["config"] = {"platform": str(c.platform), "labels": c.labels,
                                   **({"created": c.created} if c.created is not None else {})}
            if facts.kind is not None:
                entry["kind"] = facts.kind
            digests[digest] = entry
        return {"tool": TOOL, "format": FORMAT, "image": image,
                "tags": {t: [d, round(at, 3)] for t, (d, at) in self.tags.items()}, "digests": digests}


class ManifestFacts:
    """Thread-safe facts by manifest digest and remembered tag digests; on disk when given a directory."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory is not None else None
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.Lock()
        self._checked_dir = False
        self._dirty: set[str] = set()
        self.rebuilt: list[str] = []  # why entries were dropped (tests and logs)

    # -- reading ---------------------------------------------------------------------------
    def tag_digest(self, image: str, tag: str, max_age: float, now: float | None = None) -> str | None:
        """The digest `image:tag` had when last asked, if that was at most `max_age` seconds ago."""
        repo = self._repo(image)
        with repo.lock:
            entry = repo.tags.get(tag)
        if entry is None:
            return None
        digest, at = entry
        age = (now if now is not None else time.time()) - at
        return digest if 0 <= age <= max_age else None

    def knows_tag(self, image: str, tag: str) -> bool:
        repo = self._repo(image)
        with repo.lock:
            return tag in repo.tags

    def facts(self, image: str, digest: str) -> Facts:
        repo = self._repo(image)
        with repo.lock:
            return repo.digests.get(digest) or Facts()

    # -- writing ---------------------------------------------------------------------------
    def remember_tag(self, image: str, tag: str, digest: str, now: float | None = None) -> None:
        if not _DIGEST.match(digest):
            return
        repo = self._repo(image)
        with repo.lock:
            repo.tags[tag] = (digest, now if now is not None else time.time())
            if len(repo.tags) > MAX_TAGS:
                for old, _ in sorted(repo.tags.items(), key=lambda kv: kv[1][1])[: MAX_TAGS // 2]:
                    del repo.tags[old]
            self._save(image, repo)

    def remember(self, image: str, digest: str, *, platforms: Iterable[Platform] | None = None,
                 config: ImageConfig | None = None, kind: str | None = None) -> None:
        """Add what was learnt of `digest` (platforms, its config, what it is) to what is known."""
        if not _DIGEST.match(digest):
            return
        repo = self._repo(image)
        with repo.lock:
            old = repo.digests.get(digest) or Facts()
            repo.digests[digest] = Facts(tuple(platforms) if platforms is not None else old.platforms,
                                         config if config is not None else old.config,
                                         kind if kind is not None else old.kind)
            if len(repo.digests) > MAX_DIGESTS:
                for stale in list(repo.digests)[: MAX_DIGESTS // 2]:
                    del repo.digests[stale]
            self._save(image, repo)

    # -- disk ------------------------------------------------------------------------------
    def _path(self, image: str) -> Path:
        assert self.directory is not None
        return self.directory / (hashlib.sha256(image.encode()).hexdigest()[:40] + ".json")

    def preload(self, image: str) -> None:
        """Read the repository's file now (a tag listing's thread does, so that the decisions,
        which ask these facts, find them in memory). A head start only: it never raises."""
        try:
            self._repo(image)
        except Exception:  # the decisions read it again, and report what is wrong for their image
            log.debug("manifest cache: reading the facts of %s ahead failed", image, exc_info=True)

    def _repo(self, image: str) -> _Repo:
        with self._lock:
            repo = self._repos.get(image)
            if repo is not None:
                return repo
            if self.directory is not None:
                self._check_directory()
        loaded = self._load(image)  # outside the lock: threads read their repositories' files side by side
        with self._lock:
            return self._repos.setdefault(image, loaded)  # a second reader's copy is dropped, unused

    def _load(self, image: str) -> _Repo:
        """The repository's file, or empty when absent or not to be trusted."""
        if self.directory is None:
            return _Repo()
        path = self._path(image)
        try:
            return _Repo.parse(json.loads(path.read_bytes()), image)
        except FileNotFoundError:
            return _Repo()
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
            why = f"{path.name}: {e}"
            self.rebuilt.append(why)
            log.warning("manifest cache: ignoring %s; it will be rewritten", why)
            return _Repo()

    def _check_directory(self) -> None:
        """(under self._lock, once) Is the directory ours, in this format? Else clear our entries."""
        if self._checked_dir or self.directory is None:
            return
        self._checked_dir = True
        marker = self.directory / MARKER
        want = {"tool": TOOL, "cache": KIND, "format": FORMAT}
        try:
            found = json.loads(marker.read_bytes())
        except FileNotFoundError:
            found = None
        except (OSError, ValueError, RecursionError) as e:
            found = f"unreadable marker ({type(e).__name__})"
        if found == want:
            return
        try:
            entries = [p for p in self.directory.iterdir() if _ENTRY.match(p.name)] if self.directory.is_dir() else []
        except OSError:
            entries = []
        if entries or found is not None:
            why = f"{self.directory}: marker {found!r} is not {want!r}; dropping {len(entries)} entr(ies)"
            self.rebuilt.append(why)
            log.warning("manifest cache: %s", why)
        for p in entries:
            try:
                p.unlink()
            except OSError:
                pass
        self._write(marker, want)

    def _save(self, image: str, repo: _Repo) -> None:
        """(under repo.lock) Mark the repository's file for the next flush."""
        if self.directory is not None:
            with self._lock:
                self._dirty.add(image)

    def flush(self) -> None:
        """Write the files of the repositories that learnt something since the last flush
        (RegistryClient calls it at each new cycle and at close)."""
        with self._lock:
            dirty, self._dirty = sorted(self._dirty), set()
            repos = [(image, self._repos[image]) for image in dirty if image in self._repos]
        for image, repo in repos:
            with repo.lock:
                data = repo.as_json(image)
            self._write(self._path(image), data)

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        try:
            store_json(path, data)
        except OSError as e:  # a cache that cannot be written must not fail the cycle
            log.warning("manifest cache: cannot write %s: %s", path, e)
