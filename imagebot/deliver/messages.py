"""Commit messages (from a user template) and pull-request titles and bodies.

Commit message template: Python ``str.format`` fields. A block of consecutive lines that uses a
per-change variable is repeated once per change (ordered by file and line); other lines are
written once. Per-change variables: {image} {old} {new} {old_ref} {new_ref} {file} {line}
{policy} {reason} {subject}. Message variables: {summary} {count} {images} {files} {branch}
{plan_id}. An unknown variable is a configuration error (`delivery.message_template`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

from imagebot.errors import ConfigError
from imagebot.model import Change
from imagebot.redact import redact

CHANGE_VARIABLES = ("image", "old", "new", "old_ref", "new_ref", "file", "line", "policy", "reason", "subject")
MESSAGE_VARIABLES = ("summary", "count", "images", "files", "branch", "plan_id")
DEFAULT_TEMPLATE = "{summary}\n\n- {old_ref} -> {new_ref} ({file}:{line}, policy {policy})\n"

#: OCI annotation / label holding the URL of the image's source code.
SOURCE_LABEL = "org.opencontainers.image.source"
_SAFE_URL = re.compile(r"^https?://[^\s()<>\[\]|`]+$")


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
    return sorted(changes, key=lambda c: (c.occurrence.location, c.occurrence.image, c.old, c.new))


def version_of(ref: str) -> str:
    """The tag and short digest of an image reference: 'ghcr.io/o/app:1.2' -> '1.2',
    'ghcr.io/o/app:1.2@sha256:abcdef012345…' -> '1.2@sha256:abcdef012345'. The digest is kept
    because a digest-only update (policy `digest`, a rebuilt tag) is a different proposal: a
    pull request closed for one build must not look like the same update as the next build."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    short = digest[:19]
    if ":" in last:
        tag = last.rsplit(":", 1)[1]
        return f"{tag}@{short}" if digest else tag
    return short if digest else ref


#: How messages call what an occurrence names (Occurrence.kind), singular and plural.
_NOUNS = {"image": ("image", "images"), "chart": ("chart", "charts"), "artifact": ("artifact", "artifacts")}


#: What a pull request updates, by Occurrence.kind, in this order.
_BODY_PHRASES = {"image": "container images", "chart": "Helm charts", "artifact": "OCI artifacts"}


def subject_name(change: Change) -> str:
    """The image as messages name it; a chart or artifact says so: 'chart ghcr.io/org/charts/app'."""
    kind = change.occurrence.kind
    return change.occurrence.image if kind == "image" else f"{_NOUNS.get(kind, (kind,))[0]} {change.occurrence.image}"


def _counted(changes: Sequence[Change]) -> str:
    """'3 images', '2 charts', '2 images and 1 chart': distinct names per kind."""
    names: dict[str, set[str]] = {}
    for c in changes:
        names.setdefault(c.occurrence.kind, set()).add(c.occurrence.image)
    parts = []
    for kind in sorted(names, key=lambda k: (k != "image", k)):
        one, many = _NOUNS.get(kind, (kind, kind + "s"))
        parts.append(f"{len(names[kind])} {one if len(names[kind]) == 1 else many}")
    return " and ".join(parts)


def summary(changes: Sequence[Change], where: str = "") -> str:
    """'Update ghcr.io/org/app to 1.2.0', 'Update chart ghcr.io/org/charts/app to 2.0.0', or
    'Update 3 images' / 'Update 2 images and 1 chart' (+ ' in FILE' when given)."""
    named = sorted({subject_name(c) for c in changes})
    versions = sorted({version_of(c.new_ref) for c in changes})
    if len(named) == 1 and len(versions) == 1:
        return f"Update {named[0]} to {versions[0]}"
    text = f"Update {_counted(changes)}" if len(named) > 1 else f"Update {named[0]}"
    return text + (f" in {where}" if where else "")


def _change_values(c: Change) -> dict[str, object]:
    return {
        "image": c.occurrence.image,
        "old": c.old,
        "new": c.new,
        "old_ref": c.old_ref,
        "new_ref": c.new_ref,
        "file": c.file,
        "line": c.occurrence.location.line,
        "policy": c.occurrence.policy.policy,
        "reason": c.reason,
        "subject": c.occurrence.subject,
    }


def commit_message(template: str | None, changes: Sequence[Change], *, branch: str, plan_id: str, where: str = "") -> str:
    template = template or DEFAULT_TEMPLATE
    changes = ordered(changes)
    message_values: dict[str, object] = {
        "summary": summary(changes, where),
        "count": len(changes),
        "images": ", ".join(sorted({c.occurrence.image for c in changes})),
        "files": ", ".join(sorted({c.file for c in changes})),
        "branch": branch,
        "plan_id": plan_id,
    }
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        for c in changes:
            values = {**message_values, **_change_values(c)}
            out.extend(line.format(**values) for line in block)
        block.clear()

    for line in template.splitlines():
        if _fields(line) & set(CHANGE_VARIABLES):
            block.append(line)
            continue
        flush()
        out.append(line.format(**message_values))
    flush()
    return redact("\n".join(out).strip() + "\n")


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def source_url(labels: Mapping[str, Mapping[str, str]] | None, change: Change) -> str | None:
    """The image's source URL from its OCI labels (looked up by new reference, then image)."""
    if not labels:
        return None
    found = labels.get(change.new_ref) or labels.get(change.occurrence.image) or {}
    url = found.get(SOURCE_LABEL, "").strip()
    return url if _SAFE_URL.match(url) else None


def pull_request_body(changes: Sequence[Change], *, marker: str, labels: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """A Markdown table of the changes; deterministic, so an unchanged PR is never edited."""
    kinds = {c.occurrence.kind for c in changes}
    what = " and ".join(phrase for kind, phrase in _BODY_PHRASES.items() if kind in kinds) or _BODY_PHRASES["image"]
    rows = [
        f"This pull request was opened by imagebot to update {what}.",
        "",
        "| Image | File | Change | Policy | Why |",
        "|---|---|---|---|---|",
    ]
    for c in ordered(changes):
        image = _cell(subject_name(c))
        url = source_url(labels, c)
        if url:
            image = f"[{image}]({url})"
        rows.append(
            f"| {image} | `{_cell(c.occurrence.location)}` | `{_cell(c.old)}` → `{_cell(c.new)}` "
            f"| `{_cell(c.occurrence.policy.policy)}` | {_cell(c.reason)} |"
        )
    rows += ["", "imagebot updates this pull request when newer tags appear and closes it when it is no longer needed.", ""]
    rows.append(f"<!-- imagebot:{marker} -->")
    return redact("\n".join(rows) + "\n")
