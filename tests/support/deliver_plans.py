"""Plans and rendered edits for delivery tests.

Delivery receives apply's output (`Rendered`); these helpers build the same values for image
lines in small manifests: `change(...)` describes one `image:` line, `render(root, changes)`
splices each change's new value into the file at its line, and refuses (like apply does) when
the line no longer holds the old value, e.g. because a human edited it.
"""

from __future__ import annotations

from pathlib import Path

from imagebot.model import Change, FieldKind, FileEdit, Location, Occurrence, Plan, PolicySpec, Refusal, Rendered


def manifest(name: str, ref: str) -> str:
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        f"metadata:\n  name: {name}\n"
        "spec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: {name}\n"
        f"          image: {ref}  # keep this comment\n"
    )


IMAGE_LINE = 10  # the line of `image:` in `manifest()`
IMAGE_COLUMN = 18


def change(file: str, image: str, old_tag: str, new_tag: str, *, policy: str = "semver:^1", line: int = IMAGE_LINE) -> Change:
    old, new = f"{image}:{old_tag}", f"{image}:{new_tag}"
    occ = Occurrence(
        location=Location(file, line, IMAGE_COLUMN),
        document=0,
        field=FieldKind.IMAGE,
        value=old,
        image=image,
        tag=old_tag,
        digest=None,
        policy=PolicySpec(policy),
        subject=f"Deployment/{Path(file).stem} container {Path(file).stem}",
    )
    return Change(occ, old, new, old, new, f"{new_tag} is the newest tag matching {policy}")


def plan(*changes: Change) -> Plan:
    return Plan(changes=tuple(changes))


def render(root: Path, plan_: Plan) -> Rendered:
    """Splice every change of `plan_` into the files under `root` (one FileEdit per file)."""
    by_file: dict[str, list[Change]] = {}
    for c in plan_.changes:
        by_file.setdefault(c.file, []).append(c)
    edits, refused = [], []
    for file, changes in sorted(by_file.items()):
        before = (root / file).read_bytes()
        lines = before.splitlines(keepends=True)
        done = []
        for c in changes:
            i = c.occurrence.location.line - 1
            col = c.occurrence.location.column - 1
            old = c.old.encode()
            if i >= len(lines) or lines[i][col : col + len(old)] != old:
                refused.append(Refusal(c, f"{c.file}:{i + 1} no longer holds {c.old}"))
                continue
            lines[i] = lines[i][:col] + c.new.encode() + lines[i][col + len(old) :]
            done.append(c)
        if done:
            edits.append(FileEdit(file, before, b"".join(lines), tuple(done)))
    return Rendered(tuple(edits), tuple(refused))
