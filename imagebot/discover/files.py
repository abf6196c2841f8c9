"""Which files discover reads, and the cheap text screen that decides which ones it parses.

Parsing YAML costs milliseconds per file; a byte search costs microseconds. A file can only
hold a reference imagebot acts on if its text mentions imagebot (annotations ``imagebot.io/``,
markers ``# imagebot:`` and ``$imagebot``) or Flux's ``$imagepolicy``, or if it is a
kustomization file and config policies exist (they match ``images:`` entries by name). Every
other file is skipped unparsed, so a 10,000-file repository scans in well under a second or two.
"""

from __future__ import annotations

import fnmatch
import os
import pathlib
from collections.abc import Iterator, Sequence

from imagebot.discover.kustomize import is_kustomization

SUFFIXES = (".yaml", ".yml")
_TOKENS = (b"imagebot", b"$imagepolicy")


def is_manifest_name(name: str) -> bool:
    return name.endswith(SUFFIXES) or name == "Kustomization"


def excluded(rel: str, patterns: Sequence[str]) -> bool:
    """A glob matches the path, or one of its parent folders (``vendor/*``, ``charts``)."""
    if not patterns:
        return False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(p, pat) for pat in patterns for p in prefixes)


def missing(root: pathlib.Path, paths: Sequence[str]) -> list[str]:
    """The entries of `paths` that do not exist in the checkout."""
    return [p for p in paths if p and not (root / p).exists()]


def outside(root: pathlib.Path, paths: Sequence[str]) -> list[str]:
    """The entries of `paths` that lead out of the checkout through a symbolic link (the entry
    itself or a folder on the way): never followed, never read."""
    top = root.resolve()
    out = []
    for p in paths:
        if not p or not (root / p).exists():
            continue
        try:
            (root / p).resolve().relative_to(top)
        except ValueError:
            out.append(p)
    return out


def walk(root: pathlib.Path, paths: Sequence[str], exclude: Sequence[str]) -> Iterator[str]:
    """Repo-relative POSIX paths of candidate manifest files, sorted, each once.

    `.git` folders and symbolic links are skipped (a link could lead out of the checkout).
    A missing entry of `paths`, or one leading out of the checkout (see :func:`missing`,
    :func:`outside`), is skipped; the others are still walked.
    """
    seen: set[str] = set()
    leaving = set(outside(root, paths))
    for start in paths or ("",):
        base = root / start if start else root
        if not base.exists() or start in leaving:
            continue
        if base.is_file():
            rel = pathlib.PurePath(start).as_posix()
            if rel not in seen and not base.is_symlink() and not excluded(rel, exclude):
                seen.add(rel)
                yield rel
            continue
        for rel in _tree(root, base, exclude):
            if rel not in seen:
                seen.add(rel)
                yield rel


def _tree(root: pathlib.Path, base: pathlib.Path, exclude: Sequence[str]) -> Iterator[str]:
    # os.scandir, not os.walk + os.path.islink: an entry's type comes with the directory listing,
    # so a 10,000-file checkout costs no system call per file (the agent walks it every cycle).
    found: list[str] = []
    reldir = os.path.relpath(base, root)
    pending = [(str(base), "" if reldir == "." else pathlib.PurePath(reldir).as_posix())]
    while pending:
        dirpath, reldir = pending.pop()
        try:
            with os.scandir(dirpath) as it:
                entries = list(it)
        except OSError:
            continue  # unreadable folder: skipped, as os.walk does
        for entry in entries:
            name = entry.name
            rel = f"{reldir}/{name}" if reldir else name
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if name != ".git" and not excluded(rel, exclude):
                        pending.append((entry.path, rel))
                    continue
            except OSError:
                continue
            if is_manifest_name(name) and not excluded(rel, exclude):
                found.append(rel)
    yield from sorted(found)


def worth_parsing(rel: str, data: bytes, has_policies: bool) -> bool:
    """The text screen: can this file hold a reference imagebot acts on?"""
    if any(t in data for t in _TOKENS):
        return True
    return has_policies and is_kustomization(rel)


#: Bytes one of which a file holding any image or chart reference contains (the screen when every
#: reference is wanted: config rules, `imagebot inventory`).
REFERENCE_TOKENS = (b"image", b"repository", b"chart", b"OCIRepository", b"targetRevision")


def mentions_references(rel: str, data: bytes) -> bool:
    """The text screen when every reference is wanted: can this file hold any reference?"""
    return is_kustomization(rel) or any(t in data for t in REFERENCE_TOKENS)
