"""discover's per-file results on disk, so that a new process (``imagebot plan``, ``run --once``
from CI with a kept cache directory, an agent after a restart) reuses what the last one found.

One JSON file per clone (``<cache_dir>/discover/<hash of the clone root>.json``): lanes sharing a
cache directory never evict each other (and beside it ``<hash>.images.json``, the images of that
scan: read before the checkout, see `images_path`). It holds, per file the last scan walked, the proofs of
"same bytes" (stat identity, trusted flag, digest: see :mod:`imagebot.discover.cache`) and the
result (text screen, occurrences, problems, unmanaged references) - not the bytes: a scan that
needs them (a parse, a webhook-targeted scan) reads the file. And the Git revision, paths and
exclude of the last scan with the files it walked, so that a scan at the same revision neither
walks nor stats.

JSON with an explicit codec, never pickle: a CI cache may be restored from an untrusted build,
and loading must not execute anything. Never trusted blindly: a file of another tool, format,
version of imagebot's code or scope (clone root and scan settings), or one that does not parse
or has the wrong shape, is ignored (and rewritten after the scan); an entry that does not
decode, or whose locations name another file, is dropped (the file is read and parsed again).
Writes are atomic (temp file + rename), and only when something changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebot.model import FieldKind, Location, Occurrence, PolicySpec, Problem
from imagebot.cachefile import code_fingerprint, load_cache_file, store_cache_file

log = logging.getLogger(__name__)

TOOL, KIND, FORMAT = "imagebot", "discover", 1
IMAGES_KIND = "discover-images"

_CODE: str | None = None


def code() -> str:
    """The fingerprint of imagebot's own code (every module of the package: what discover
    concludes depends on discover, the model, the config and reference parsing)."""
    global _CODE
    if _CODE is None:
        _CODE = code_fingerprint(f"{TOOL}/{KIND}/{FORMAT}")
    return _CODE


def scope_key(root: os.PathLike[str] | str, settings: Hashable) -> str:
    """A stable fingerprint of (clone root, scan settings): SHA-256 of their repr, which holds
    only strings, numbers, booleans, tuples and config models (no sets: no hash-seed order)."""
    return hashlib.sha256(repr((FORMAT, os.fspath(root), settings)).encode()).hexdigest()


@dataclass(frozen=True)
class Stored:
    """One file's entry as stored: (device, inode, size, mtime_ns, ctime_ns), trusted, the
    blake2b digest of its bytes, and the result's fields."""

    identity: tuple[int, int, int, int, int]
    trusted: bool
    digest: bytes
    worth: bool
    parsed: bool
    occurrences: tuple[Occurrence, ...]
    problems: tuple[Problem, ...]
    unmanaged: tuple[Occurrence, ...]


#: (walk key: (revision, paths, exclude), the files the walk found)
Pinned = tuple[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[str, ...]]


def load(path: Path) -> tuple[str, dict[str, Stored], Pinned | None] | None:
    """The scope (see `scope_key`), entries and pinned walk stored at `path`; None when there is
    no usable store (missing, damaged, foreign, another format or code): start afresh. The caller
    uses them only for the same scope."""
    return decode(read(path), path)


def read(path: Path) -> dict[str, Any] | None:
    """The store at `path` as read, its header checked (see `load`), its entries not yet decoded."""
    data = load_cache_file(path, KIND, FORMAT, code(), "entries", "discover cache")
    if data is None:
        return None
    if not isinstance(data.get("policies"), list):
        log.warning("discover cache: %s has no policy table; it will be rewritten", path)
        return None
    if not isinstance(data.get("scope"), str):
        log.warning("discover cache: %s has no scope; it will be rewritten", path)
        return None
    return data


def images_path(path: Path) -> Path:
    """The small file beside the store that lists the images of the stored scan: a new process
    reads it before its checkout, to start their tag listings, and reads (and decodes) the store
    itself while those run - at 10,000 files the store is ~8 MB of JSON."""
    return path.with_name(path.stem + ".images.json")


def read_images(path: Path) -> frozenset[str] | None:
    """The images listed beside the store at `path` (see `images_path`); None when that file is
    missing or unusable (another tool's, format or code, or not a list of strings): ask the store."""
    data = load_cache_file(images_path(path), IMAGES_KIND, FORMAT, code(), "scan", "discover cache")
    return images(data["scan"]) if data is not None else None


def images(data: dict[str, Any]) -> frozenset[str] | None:
    """The images the stored scan found, from a store `read` (without decoding its entries);
    None when it does not list them (written before it did: decode the entries)."""
    listed = data.get("images")
    if not isinstance(listed, list) or not all(type(i) is str for i in listed):
        return None
    return frozenset(listed)


def decode(data: dict[str, Any] | None, path: Path) -> tuple[str, dict[str, Stored], Pinned | None] | None:
    """The scope, entries and pinned walk of a store `read` from `path` (None: none usable)."""
    if data is None:
        return None
    specs: list[PolicySpec | None] = []
    for raw in data["policies"]:
        try:
            specs.append(_spec(raw))
        except (TypeError, ValueError):
            specs.append(None)  # the entries that use it are dropped
    entries: dict[str, Stored] = {}
    dropped = 0
    for rel, raw in data["entries"].items():
        try:
            entries[rel] = _entry(rel, raw, specs)
        except (TypeError, ValueError, IndexError):
            dropped += 1
    if dropped:
        log.warning("discover cache: %d damaged entr%s in %s; those files are read again", dropped,
                    "y" if dropped == 1 else "ies", path)
    return data["scope"], entries, _pinned(data.get("pinned"))


def save(path: Path, scope: str, entries: dict[str, Stored], pinned: Pinned | None) -> None:
    """Write the store atomically; a failure costs the next run's speed, never this cycle."""
    specs: dict[tuple[PolicySpec, str], int] = {}
    table: list[list[Any]] = []

    def spec_index(spec: PolicySpec) -> int:
        key = (spec, spec.origin)  # origin is not compared by PolicySpec's equality
        index = specs.get(key)
        if index is None:
            index = specs[key] = len(table)
            table.append([spec.policy, spec.tag_filter, spec.extract, spec.exclude, spec.prerelease, spec.pin_digest,
                          spec.source, spec.origin, spec.min_age])
        return index

    def occ(o: Occurrence) -> list[Any]:
        loc = o.location
        return [loc.line, loc.column, o.document, o.field.value, o.value, o.image, o.tag, o.digest, spec_index(o.policy),
                o.subject, o.form, o.workload, o.namespace, o.container, o.group, o.path, o.kind]

    def problem(p: Problem) -> list[Any]:
        loc = p.location
        return [p.kind, p.message, None if loc is None else [loc.line, loc.column], p.subject, p.temporary]

    out = {
        rel: [*e.identity, e.trusted, e.digest.hex(), e.worth, e.parsed, [occ(o) for o in e.occurrences],
              [problem(p) for p in e.problems], [occ(o) for o in e.unmanaged]]
        for rel, e in entries.items() if _own(rel, e)
    }
    listed = sorted({o.image for rel, e in entries.items() if rel in out for o in e.occurrences})
    store_cache_file(
        path, KIND, FORMAT, code(), "discover cache", scope=scope,
        pinned=None if pinned is None else [pinned[0][0], list(pinned[0][1]), list(pinned[0][2]), list(pinned[1])],
        policies=table, entries=out,
        # what the next run lists before its checkout, read without decoding the entries
        images=listed)
    store_cache_file(images_path(path), IMAGES_KIND, FORMAT, code(), "discover cache", scan={"images": listed})


def _own(rel: str, e: Stored) -> bool:
    """Every location of the entry is in its own file (the store keeps only the line and column);
    an entry that is not is left out (its file is parsed again next time)."""
    return all(o.location.file == rel for o in (*e.occurrences, *e.unmanaged)) and all(
        p.location is None or p.location.file == rel for p in e.problems)


# -- decoding: every value checked for its type; anything else raises TypeError / ValueError ----

def _str(x: object) -> str:
    if type(x) is not str:
        raise TypeError("not a string")
    return x


def _opt(x: object) -> str | None:
    return None if x is None else _str(x)


def _int(x: object) -> int:
    if type(x) is not int:
        raise TypeError("not an integer")
    return x


def _bool(x: object) -> bool:
    if type(x) is not bool:
        raise TypeError("not a boolean")
    return x


def _list(x: object, n: int | None = None) -> list[Any]:
    if type(x) is not list or (n is not None and len(x) != n):
        raise TypeError("not a list of the expected length")
    return x


_N = type(None)
#: The types a policy row may have (tag_filter, extract, exclude and min_age may be null).
_SPEC_ROWS = frozenset((str, a, b, c, bool, bool, str, str, d) for a in (str, _N) for b in (str, _N)
                       for c in (str, _N) for d in (str, _N))


def _spec(raw: object) -> PolicySpec:
    if type(raw) is not list or tuple(map(type, raw)) not in _SPEC_ROWS:
        raise TypeError("not a policy row")
    return PolicySpec(*raw)


_S, _I = str, int
#: The types an occurrence's row may have, field by field (tag and digest may be null): checked in
#: one lookup per row (a store of 10,000 files holds ~16,000 rows; one check per field was most of
#: a warm plan's discover stage).
_OCCURRENCE_ROWS = frozenset(
    (_I, _I, _I, _S, _S, _S, tag, digest, _I, _S, _S, _S, _S, _S, _S, _S, _S)
    for tag in (_S, type(None)) for digest in (_S, type(None)))


def _occurrence(rel: str, raw: object, specs: list[PolicySpec | None]) -> Occurrence:
    if type(raw) is not list or tuple(map(type, raw)) not in _OCCURRENCE_ROWS:
        raise TypeError("not an occurrence row")
    (line, column, document, field, value, image, tag, digest, spec, subject, form, workload, namespace, container,
     group, path, kind) = raw
    policy = specs[spec] if spec >= 0 else None
    if policy is None:
        raise ValueError("no such policy")
    return Occurrence(Location(rel, line, column), document, FieldKind(field), value, image, tag, digest, policy,
                      subject, form, workload, namespace, container, group, path, kind)


def _problem(rel: str, raw: object) -> Problem:
    kind, message, where, subject, temporary = _list(raw, 5)
    loc = None if where is None else Location(rel, *(_int(v) for v in _list(where, 2)))
    return Problem(_str(kind), _str(message), loc, _str(subject), _bool(temporary))


def _entry(rel: str, raw: object, specs: list[PolicySpec | None]) -> Stored:
    """One entry; its locations are the file's own (a result for one file never names another)."""
    dev, ino, size, mtime, ctime, trusted, digest, worth, parsed, occs, problems, unmanaged = _list(raw, 12)
    return Stored(
        (_int(dev), _int(ino), _int(size), _int(mtime), _int(ctime)), _bool(trusted), bytes.fromhex(_str(digest)),
        _bool(worth), _bool(parsed), tuple(_occurrence(rel, o, specs) for o in _list(occs)),
        tuple(_problem(rel, p) for p in _list(problems)), tuple(_occurrence(rel, o, specs) for o in _list(unmanaged)))


def _pinned(raw: object) -> Pinned | None:
    """The pinned walk, if every file in it is a plain repo-relative path (a store from an
    untrusted build must not lead a scan outside the clone); else None: the scan walks."""
    try:
        revision, paths, exclude, files = _list(raw, 4)
        pinned = ((_str(revision), tuple(map(_str, _list(paths))), tuple(map(_str, _list(exclude)))),
                  tuple(map(_str, _list(files))))
    except (TypeError, ValueError):
        return None
    return pinned if all(_inside(rel) for rel in pinned[1]) else None


def _inside(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and "\0" not in rel and all(p not in ("", ".", "..") for p in parts)
