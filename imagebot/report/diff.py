"""Unified diffs of the edits a cycle makes (what `imagebot plan` prints)."""

from __future__ import annotations

from collections.abc import Sequence

from imagebot.model import FileEdit

#: Context lines around each change, as `git diff` and `difflib.unified_diff` give by default.
CONTEXT = 3


def unified(edits: Sequence[FileEdit]) -> str:
    """A `git diff`-style unified diff of every edit, files in path order."""
    parts: list[str] = []
    for edit in sorted(edits, key=lambda e: e.path):
        before = edit.before.decode("utf-8", "replace").splitlines(keepends=True)
        after = edit.after.decode("utf-8", "replace").splitlines(keepends=True)
        lines = _in_place(before, after, f"a/{edit.path}", f"b/{edit.path}")
        if lines is None:
            import difflib  # here, not at the top: `plan --no-diff` and `run` without edits never load it (start-up)

            lines = list(difflib.unified_diff(before, after, f"a/{edit.path}", f"b/{edit.path}", n=CONTEXT))
        for line in lines:
            parts.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(parts)


def _in_place(before: list[str], after: list[str], from_file: str, to_file: str) -> list[str] | None:
    """The unified diff of an edit that replaced whole lines in place (as a value's new text does),
    written without difflib's matcher (its cost grew with every file: ~0.5 s of a cold `plan --json`
    at (10,000, 1,000)); None when difflib must decide.

    It answers only where difflib's alignment is the line-for-line one, so the text is the same:
    the same number of lines, and no changed line's old text found among the new lines nor its new
    text among the old ones (a line that moved could then be matched elsewhere).
    tests/unit/test_report_diff.py compares both on generated files and on the real-world corpus."""
    if len(before) != len(after):
        return None
    changed = [i for i, (old, new) in enumerate(zip(before, after)) if old != new]
    if not changed:
        return []
    old_lines, new_lines = set(before), set(after)
    if any(before[i] in new_lines or after[i] in old_lines for i in changed):
        return None
    out = [f"--- {from_file}\n", f"+++ {to_file}\n"]
    n, size = CONTEXT, len(before)
    group = [changed[0]]
    for i in changed[1:]:
        if i - group[-1] - 1 > 2 * n:  # more unchanged lines between them than two contexts: a new hunk
            out += _hunk(before, after, group, n, size)
            group = [i]
        else:
            group.append(i)
    out += _hunk(before, after, group, n, size)
    return out


def _hunk(before: list[str], after: list[str], changed: list[int], n: int, size: int) -> list[str]:
    start, stop = max(0, changed[0] - n), min(size, changed[-1] + 1 + n)
    span = _range(start, stop)
    out = [f"@@ -{span} +{span} @@\n"]
    i = start
    while i < stop:
        if before[i] == after[i]:
            out.append(" " + before[i])
            i += 1
            continue
        j = i
        while j < stop and before[j] != after[j]:  # a run of changed lines: all old, then all new
            j += 1
        out += ["-" + line for line in before[i:j]]
        out += ["+" + line for line in after[i:j]]
        i = j
    return out


def _range(start: int, stop: int) -> str:
    """A hunk's line range as `difflib.unified_diff` writes it."""
    beginning, length = start + 1, stop - start
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"
