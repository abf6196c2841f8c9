"""Pull-request groups: which changes share a branch, and each group's share of the file edits.

A group's branch is deterministic — ``<prefix><group-key>`` — so a newer tag for the same
image (grouping `per-image`), file (`per-file`) or repository (`all`) lands on the same branch
and updates the same pull request instead of opening another.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from imagebot import apply
from imagebot.model import Change, FileEdit, Occurrence, Problem, Rendered


def group_key(occurrence: Occurrence, grouping: str) -> str:
    if grouping == "all":
        return "all"
    if grouping == "per-file":
        return occurrence.location.file
    return occurrence.image


def legacy_branch_name(prefix: str, key: str) -> str:
    """The branch name before issue #14: 'team/api' and 'team-api' both gave 'team-api' (a
    reconciler may adopt a pull request still open on such a branch)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key)
    slug = re.sub(r"\.{2,}", ".", slug).strip("-.")
    if slug.endswith(".lock"):
        slug += "-"
    return prefix + (slug or "group")


_READABLE = re.compile(r"[A-Za-z0-9._]+(?:/[A-Za-z0-9._]+)*")


def branch_name(prefix: str, key: str) -> str:
    """A valid, stable ref name for `key`, distinct for distinct keys: 'ghcr.io/org/app' ->
    'imagebot/ghcr.io-org-app'.

    Slashes are flattened, so one group's branch can never be a directory of another's. When
    the flat name could stand for another key too ('team/my-app' and 'team-my/app' both flatten
    to 'team-my-app'), a short hash of the key is appended: the name keeps its readable part,
    and two groups never share (and fight over) one branch.
    """
    plain = legacy_branch_name(prefix, key)
    if _READABLE.fullmatch(key) and plain == prefix + key.replace("/", "-"):
        return plain  # only slashes were flattened: the key can be read back from the name
    return f"{plain}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Group:
    key: str
    branch: str
    changes: tuple[Change, ...]
    edits: tuple[FileEdit, ...]


class CannotSplit(ValueError):
    pass


def split_edit(edit: FileEdit, keep: set[Change]) -> FileEdit:
    """The part of `edit` made by the changes in `keep` (edit.changes split between groups).

    Edits splice values in place, so lines correspond one to one; a changed line belongs to the
    change(s) located on it. Raises CannotSplit when a line carries changes of two groups.
    """
    mine = tuple(c for c in edit.changes if c in keep)
    if len(mine) == len(edit.changes):
        return edit
    before = edit.before.splitlines(keepends=True)
    after = edit.after.splitlines(keepends=True)
    if len(before) != len(after):
        raise CannotSplit(f"{edit.path}: the edit changes the number of lines")
    owners: dict[int, set[bool]] = {}
    for c in edit.changes:
        owners.setdefault(c.occurrence.location.line, set()).add(c in keep)
    lines = []
    for number, (old, new) in enumerate(zip(before, after), start=1):
        if old == new:
            lines.append(old)
            continue
        owner = owners.get(number)
        if owner is None or len(owner) != 1:
            raise CannotSplit(f"{edit.path}:{number}: the line holds changes of more than one pull request")
        lines.append(new if owner == {True} else old)
    return FileEdit(edit.path, edit.before, b"".join(lines), mine)


def groups_of(rendered: Rendered, grouping: str, prefix: str) -> tuple[list[Group], list[Problem]]:
    """The groups with something to change, ordered by branch, and the changes that cannot be split."""
    changes: dict[str, list[Change]] = {}
    for edit in rendered.edits:
        if edit.before == edit.after:
            continue
        for c in edit.changes:
            changes.setdefault(group_key(c.occurrence, grouping), []).append(c)
    groups, problems = [], []
    for key, members in changes.items():
        keep = set(members)
        edits = []
        for edit in rendered.edits:
            if edit.before == edit.after or not keep.intersection(edit.changes):
                continue
            try:
                edits.append(split_edit(edit, keep))
                continue
            except CannotSplit as e:
                why = str(e)
            # Changes of two groups share a line: let apply splice this group's alone.
            mine = [c for c in edit.changes if c in keep]
            after, applied, refused = apply.edit_file(edit.before, mine)
            if not refused and len(applied) == len(mine):
                edits.append(FileEdit(edit.path, edit.before, after, tuple(applied)))
                continue
            for c in mine:
                keep.discard(c)
                problems.append(Problem("delivery", f"not delivered: {why}", c.occurrence.location, c.occurrence.subject))
        kept = tuple(c for c in members if c in keep)
        if kept:
            groups.append(Group(key, branch_name(prefix, key), kept, tuple(edits)))
    return sorted(groups, key=lambda g: g.branch), problems
