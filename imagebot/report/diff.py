"""Unified diffs of the edits a cycle makes (what `imagebot plan` prints)."""

from __future__ import annotations

from collections.abc import Sequence

from imagebot.model import FileEdit


def unified(edits: Sequence[FileEdit]) -> str:
    """A `git diff`-style unified diff of every edit, files in path order."""
    import difflib  # here, not at the top: `plan --no-diff` and `run` without edits never load it (start-up)

    parts: list[str] = []
    for edit in sorted(edits, key=lambda e: e.path):
        before = edit.before.decode("utf-8", "replace").splitlines(keepends=True)
        after = edit.after.decode("utf-8", "replace").splitlines(keepends=True)
        lines = list(difflib.unified_diff(before, after, f"a/{edit.path}", f"b/{edit.path}", n=3))
        for line in lines:
            parts.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(parts)
