"""Cache files of imagebot's own: written atomically, tagged with the tool, the kind of cache,
its format and a fingerprint of the code whose answers they keep, and read back only when all of
these match. Standard library only, at the bottom of the layers: discover, the policy decisions,
apply and the registry client keep their files through it (and loading it loads nothing else).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["code_fingerprint", "load_cache_file", "store_cache_file", "store_json"]


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


_PACKAGE = Path(__file__).resolve().parent


@functools.cache
def _module_digest(package: Path, name: str) -> bytes:
    """SHA-256 of one module's text ("?" when it cannot be read), once per process."""
    try:
        return hashlib.sha256((package / name).read_bytes()).digest()
    except OSError:
        return b"?"


@functools.cache
def _package_modules(package: Path) -> tuple[str, ...]:
    """Every .py file of the package, relative to it, in path order (one walk per process)."""
    names = []
    for root, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = Path(root).relative_to(package)
        names.extend((rel / f).as_posix() for f in files if f.endswith(".py"))
    return tuple(sorted(names))


def code_fingerprint(label: str, modules: Sequence[str] | None = None) -> str:
    """SHA-256 of `label` and the text of imagebot's own modules (paths relative to the package,
    e.g. "apply/splice.py"; None: every .py file of the package, in path order): a cache whose
    answers the code decides records it, and ignores entries another version of the code wrote.
    A module that cannot be read counts as "?" (the fingerprint still differs from the one with it).
    Each module is read and digested once per process, however many caches ask."""
    whole = modules is None
    h = hashlib.sha256(label.encode())
    for name in _package_modules(_PACKAGE) if whole else modules:
        if whole:
            h.update(name.encode() + b"\0")
        h.update(_module_digest(_PACKAGE, name))
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


def store_cache_file(path: Path, kind: str, fmt: int, code: str, label: str, **body: object) -> None:
    """Write a cache file `load_cache_file` reads back: the header (tool "imagebot", `kind`,
    `fmt`, the code's fingerprint) and `body`'s keys, atomically. A file that cannot be written
    costs the next run's speed, never this one: logged with `label`, not raised."""
    try:
        store_json(path, {"tool": "imagebot", "cache": kind, "format": fmt, "code": code, **body})
    except OSError as e:
        log.warning("%s: cannot write %s: %s", label, path, e)
