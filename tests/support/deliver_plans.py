"""Plans and rendered edits for delivery tests.

Delivery receives apply's output (`Rendered`). `manifest()` writes a small Deployment,
`change(...)` describes the change of its `image:` value as discover and plan would, and
`render()` runs the real apply stage, which refuses a change whose value a human edited.
"""

from __future__ import annotations

from pathlib import Path

from imagebot import apply
from imagebot.model import Change, FieldKind, Location, Occurrence, Plan, PolicySpec, Rendered


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


def change(
    file: str, image: str, old_tag: str, new_tag: str, *, policy: str = "semver:^1", line: int = IMAGE_LINE, column: int = IMAGE_COLUMN
) -> Change:
    old, new = f"{image}:{old_tag}", f"{image}:{new_tag}"
    occ = Occurrence(
        location=Location(file, line, column),
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
    """What the pipeline does before delivery: the real apply stage on the files under `root`."""
    return apply.render(root, plan_.changes)
