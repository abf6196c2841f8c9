"""Writing rendered edits into the work tree: each file atomically (temp file + rename).

apply computes the new bytes; deliver alone writes them. A file whose bytes are no longer the
ones apply started from is left alone and reported, so a half-applied or stale edit never lands.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from imagebot.model import FileEdit, Location, Problem


def _target(root: Path, rel: str) -> Path | None:
    """`root/rel`, or None when `rel` would leave the work tree (absolute, '..', or through a symlink)."""
    if rel.startswith("/") or ".." in rel.split("/"):
        return None
    path = root / rel
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return path


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader (or a crash) sees the old or the new file, never half.

    No fsync: the files written are the bot's own clone, hard-reset at the start of every
    cycle; what must survive a crash is the commit pushed to the remote, not this copy. (An
    fsync per file costs milliseconds on cloud disks, on the webhook path.)
    """
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    # The temporary name does not repeat the file's: a name near the 255-byte limit stays writable.
    fd, tmp = tempfile.mkstemp(prefix=".imagebot-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_edits(root: Path, edits: tuple[FileEdit, ...] | list[FileEdit]) -> tuple[list[str], list[Problem]]:
    """Write each edit whose file still holds `edit.before`. Returns (written paths, problems)."""
    written: list[str] = []
    problems: list[Problem] = []
    for edit in edits:
        if edit.before == edit.after:
            continue
        path = _target(root, edit.path)
        if path is None:
            problems.append(Problem("delivery", "path leaves the repository; not written", Location(edit.path)))
            continue
        try:
            current = path.read_bytes()
        except OSError as e:
            problems.append(Problem("delivery", f"cannot read: {e.strerror}", Location(edit.path)))
            continue
        if current != edit.before:
            problems.append(
                Problem("delivery", "the file changed since the edit was computed; not written", Location(edit.path), temporary=True)
            )
            continue
        try:
            write_atomically(path, edit.after)
        except OSError as e:
            problems.append(Problem("delivery", f"cannot write: {e.strerror}", Location(edit.path)))
            continue
        written.append(edit.path)
    return written, problems
