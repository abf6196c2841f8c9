"""Commit messages (from a user template) and pull-request titles (templates too); bodies: pr_body.py.

Commit message template: Python ``str.format`` fields. A block of consecutive lines that uses a
per-change variable is repeated once per change (ordered by file and line); other lines are
written once. Per-change variables: {image} {old} {new} {old_ref} {new_ref} {file} {line}
{policy} {reason} {subject}. Message variables: {summary} {count} {images} {files} {branch}
{plan_id}. An unknown variable is a configuration error (`delivery.message_template`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from imagebot.deliver.pr_body import named as _counted
from imagebot.deliver.pr_body import NOUNS_BY_KIND, UPDATE_ORDER, render_body, update_type, validate_fields, version_of
from imagebot.errors import ConfigError
from imagebot.model import Change
from imagebot.redact import redact

CHANGE_VARIABLES = ("image", "old", "new", "old_ref", "new_ref", "file", "line", "policy", "reason", "subject")
MESSAGE_VARIABLES = ("summary", "count", "images", "files", "branch", "plan_id")
DEFAULT_TEMPLATE = "{summary}\n\n- {old_ref} -> {new_ref} ({file}:{line}, policy {policy})\n"



def _fields(line: str) -> set[str]:
    names = set()
    for _, name, _, _ in string.Formatter().parse(line):
        if name is not None:
            names.add(name)
    return names


def validate_template(template: str) -> None:
    """Raise ConfigError naming `delivery.message_template` when the template cannot render."""
    known = set(CHANGE_VARIABLES) | set(MESSAGE_VARIABLES)
    try:
        used = set().union(*(_fields(line) for line in template.splitlines() or [""]))
    except ValueError as e:
        raise ConfigError(f"delivery.message_template: {e} (write {{{{ and }}}} for literal braces)") from None
    bad = sorted(n for n in used if n not in known)
    if bad:
        raise ConfigError(
            f"delivery.message_template: unknown variable {', '.join('{' + b + '}' for b in bad)}; "
            f"known: {', '.join('{' + k + '}' for k in (*MESSAGE_VARIABLES, *CHANGE_VARIABLES))}"
        )
    if not template.strip():
        raise ConfigError("delivery.message_template: the template is empty")


def ordered(changes: Sequence[Change]) -> list[Change]:
    """By file, line and column (Location's order), then image, old and new."""
    return sorted(changes, key=_order_key)


def _order_key(c: Change) -> tuple[str, int, int, str, str, str]:
    loc = c.occurrence.location
    return (loc.file, loc.line, loc.column, c.occurrence.image, c.old, c.new)


def subject_name(change: Change) -> str:
    """The image as messages name it; a chart or artifact says so: 'chart ghcr.io/org/charts/app'."""
    kind = change.occurrence.kind
    return change.occurrence.image if kind == "image" else f"{NOUNS_BY_KIND.get(kind, (kind,))[0]} {change.occurrence.image}"


def summary(changes: Sequence[Change], where: str = "", prefix: str = "") -> str:
    """'Update ghcr.io/org/app to 1.2.0', 'Update chart ghcr.io/org/charts/app to 2.0.0', or
    'Update 3 images' / 'Update 2 images and 1 chart' (+ ' in FILE' when given), after `prefix`
    (`delivery.message_prefix`, e.g. 'chore(deps): ')."""
    named = sorted({subject_name(c) for c in changes})
    versions = sorted({version_of(c.new_ref) for c in changes})
    if len(named) == 1 and len(versions) == 1:
        return f"{prefix}Update {named[0]} to {versions[0]}"
    text = f"Update {_counted(changes)}" if len(named) > 1 else f"Update {named[0]}"
    return prefix + text + (f" in {where}" if where else "")


#: Each per-change variable and how to read it from a Change.
_CHANGE_GETTERS: dict[str, Any] = {
    "image": lambda c: c.occurrence.image,
    "old": lambda c: c.old,
    "new": lambda c: c.new,
    "old_ref": lambda c: c.old_ref,
    "new_ref": lambda c: c.new_ref,
    "file": lambda c: c.occurrence.location.file,
    "line": lambda c: c.occurrence.location.line,
    "policy": lambda c: c.occurrence.policy.policy,
    "reason": lambda c: c.reason,
    "subject": lambda c: c.occurrence.subject,
}
assert tuple(_CHANGE_GETTERS) == CHANGE_VARIABLES


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]")


def _one_line(value: object) -> object:
    """A value as it goes into a commit message: control characters escaped (``\\n``), so a file
    name, annotation or workload name with a newline cannot add lines (``Co-authored-by:``
    trailers) to the bot's message."""
    if not isinstance(value, str):
        return value
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)


def _group_values(changes: Sequence[Change], where: str, prefix: str, branch: str) -> dict[str, object]:
    """The variables commit messages and titles share."""
    return {
        "summary": summary(changes, where, prefix),
        "count": len(changes),
        "images": ", ".join(sorted({c.occurrence.image for c in changes})),
        "files": ", ".join(sorted({c.file for c in changes})),
        "branch": branch,
    }


def commit_message(
    template: str | None, changes: Sequence[Change], *, branch: str, plan_id: str, where: str = "", prefix: str = ""
) -> str:
    template = template or DEFAULT_TEMPLATE
    changes = ordered(changes)
    message_values = {k: _one_line(v) for k, v in {**_group_values(changes, where, prefix, branch), "plan_id": plan_id}.items()}
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        # One pass over the changes per block (linear), reading only the variables the block uses.
        if not block:
            return
        used = {_FIELD_BASE.match(name)[0] for line in block for name in _fields(line)}
        getters = [(k, get) for k, get in _CHANGE_GETTERS.items() if k in used]
        escaped: dict[object, object] = {}  # a value repeats across changes (file, policy, image)
        for c in changes:
            values = dict(message_values)
            for k, get in getters:
                v = get(c)
                e = escaped.get(v, escaped)
                if e is escaped:
                    e = escaped[v] = _one_line(v)
                values[k] = e
            out.extend(line.format_map(values) for line in block)
        block.clear()

    for line in template.splitlines():
        if _fields(line) & set(CHANGE_VARIABLES):
            block.append(line)
            continue
        flush()
        out.append(line.format(**message_values))
    flush()
    return redact("\n".join(out).strip() + "\n")


#: The variable a format field reads: "line" of "line", "old" of "old[0]" or "old.upper".
_FIELD_BASE = re.compile(r"[^.\[]*")


TITLE_VARIABLES = ("summary", "count", "images", "files", "branch", "base", "update_type")


def validate_title_template(template: str) -> None:
    validate_fields(template, TITLE_VARIABLES, "delivery.pull_request.title_template")


def pull_request_title(
    template: str | None, changes: Sequence[Change], *, where: str = "", branch: str = "", base: str = "", prefix: str = ""
) -> str:
    """The title: `template` (default '{summary}') on one line. {update_type} is the largest
    update in the group (major > minor > patch > prerelease > digest > tag)."""
    kinds = {update_type(c.old_ref, c.new_ref) for c in changes}
    values = {**_group_values(changes, where, prefix, branch), "base": base, "update_type": next((k for k in UPDATE_ORDER if k in kinds), "")}
    title = " ".join((template or "{summary}").format(**values).split())
    return redact(title)


def pull_request_body(changes: Sequence[Change], *, where: str = "", **options: Any) -> str:
    """The body of a group's pull request: pr_body.render_body's options (marker, labels,
    template, limit, forge, branch, base), with the group's summary."""
    return render_body(changes, summary=summary(changes, where), **options)
