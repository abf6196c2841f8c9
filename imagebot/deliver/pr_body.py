"""The pull-request body, laid out for a reviewer who has ten seconds.

One table row per update (image, update type, ``old → new`` as tags, where, policy): the full
reference appears once, as the image name; the same update in two files is one row listing
both places. Release-notes and compare links come from the image's
``org.opencontainers.image.source`` label when it points to a known forge. The decision behind
each version (and what it rejected) sits in a collapsed ``<details>``. A closing line says what
closing the pull request does. A body longer than the forge takes is cut: the details go first,
then table rows, with a note saying so.

The body is a template (``delivery.pull_request.body_template``, ``str.format`` fields):
{intro} {table} {details} {closing} {summary} {count} {branch} {base}. The marker comment the
bot finds its pull requests by is always appended.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from imagebot.errors import ConfigError
from imagebot.model import Change
from imagebot.redact import redact

#: OCI annotation / label holding the URL of the image's source code.
SOURCE_LABEL = "org.opencontainers.image.source"
_SAFE_URL = re.compile(r"^https?://[^\s()<>\[\]|`]+$")
BODY_VARIABLES = ("intro", "table", "details", "closing", "summary", "count", "branch", "base")
DEFAULT_BODY = "{intro}\n\n{table}\n\n{details}\n\n{closing}"
NOUNS = {"github": "pull request", "gitlab": "merge request", "gitea": "pull request"}
FORGES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}
#: Source hosts whose release and compare pages imagebot knows how to link.
KNOWN_SOURCES = {"github.com": "github", "gitlab.com": "gitlab", "codeberg.org": "gitea", "gitea.com": "gitea"}
MAX_PLACES = 5  # places listed in one row; more are counted

_VERSION = re.compile(r"^[vV]?(\d+(?:\.\d+)*)(.*)$")
_PRERELEASE = re.compile(r"^[-._+]?(rc|alpha|beta|a|b|pre|preview|dev|snapshot|nightly)(\d+|[-._+]|$)", re.IGNORECASE)
UPDATE_ORDER = ("major", "minor", "patch", "prerelease", "digest", "tag")


def split_ref(ref: str) -> tuple[str, str, str]:
    """'reg/app:1.2@sha256:…' -> ('reg/app', '1.2', 'sha256:…'); missing parts are ''."""
    name, _, digest = ref.partition("@")
    head, _, last = name.rpartition("/")
    if ":" in last:
        last, _, tag = last.partition(":")
        return (f"{head}/{last}" if head else last), tag, digest
    return name, "", digest


def update_type(old_ref: str, new_ref: str) -> str:
    """major / minor / patch (the first version number that changed), prerelease (the new tag
    is one), digest (same tag, new build), or tag (tags that are not versions, or the same
    version in another variant)."""
    _, old, _ = split_ref(old_ref)
    _, new, _ = split_ref(new_ref)
    if old == new:
        return "digest"
    m_old, m_new = _VERSION.match(old), _VERSION.match(new)
    if not (m_old and m_new):
        return "tag"
    if _PRERELEASE.match(m_new[2]):
        return "prerelease"
    a = [int(x) for x in m_old[1].split(".")]
    b = [int(x) for x in m_new[1].split(".")]
    width = max(len(a), len(b))
    a, b = a + [0] * (width - len(a)), b + [0] * (width - len(b))
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return ("major", "minor")[i] if i < 2 else "patch"
    return "tag"  # the same numbers, another variant (1.0-alpine -> 1.0-bookworm)


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


def source_url(labels: Mapping[str, Mapping[str, str]] | None, change: Change) -> str | None:
    """The image's source URL from its OCI labels (looked up by new reference, then image)."""
    if not labels:
        return None
    found = labels.get(change.new_ref) or labels.get(change.occurrence.image) or {}
    url = found.get(SOURCE_LABEL, "").strip()
    return url if _SAFE_URL.match(url) else None


def source_links(source: str | None, old_tag: str, new_tag: str) -> tuple[str, str] | None:
    """(release notes, compare) URLs on the source's forge, when it is one imagebot knows."""
    if not source or not old_tag or not new_tag:
        return None
    parts = urlsplit(source)
    kind = KNOWN_SOURCES.get((parts.hostname or "").lower())
    path = parts.path.strip("/").removesuffix(".git")
    if kind is None or path.count("/") < 1:
        return None
    if kind == "github":  # github.com/owner/repo[/tree/...]: the repository is the first two parts
        path = "/".join(path.split("/")[:2])
    if kind == "gitlab":
        path = path.split("/-/")[0]
    root = f"https://{parts.hostname}/{path}"
    old, new = quote(old_tag, safe=""), quote(new_tag, safe="")
    dash = "/-" if kind == "gitlab" else ""
    notes = f"{root}{dash}/releases/{new}" if kind == "gitlab" else f"{root}/releases/tag/{new}"
    return notes, f"{root}{dash}/compare/{old}...{new}"


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(text: object) -> str:
    return "`" + _cell(text).replace("`", "'") + "`"


@dataclass(frozen=True)
class Row:
    """One update of one image: every place it is made."""

    image: str
    old_ref: str
    new_ref: str
    policy: str
    kind: str
    places: tuple[str, ...]
    reasons: tuple[str, ...]
    source: str | None

    @property
    def old(self) -> str:
        return version_of(self.old_ref)

    @property
    def new(self) -> str:
        return version_of(self.new_ref)

    def line(self) -> str:
        image = _code(self.image)
        if self.source:
            image = f"[{image}]({self.source})"
        change = f"{_code(self.old)} → {_code(self.new)}"
        links = source_links(self.source, split_ref(self.old_ref)[1], split_ref(self.new_ref)[1]) if self.kind != "digest" else None
        if links:
            change += f"<br>[release notes]({links[0]}) · [compare]({links[1]})"
        shown = [_code(p) for p in self.places[:MAX_PLACES]]
        if len(self.places) > MAX_PLACES:
            shown.append(f"and {len(self.places) - MAX_PLACES} more")
        return f"| {image} | {self.kind} | {change} | {'<br>'.join(shown)} | {_code(self.policy)} |"

    def why(self) -> str:
        reasons = "; ".join(dict.fromkeys(_cell(r) for r in self.reasons))
        return f"- {_code(self.image)} {_code(self.old)} → {_code(self.new)} ({_code(self.policy)}): {reasons}"


def rows_of(changes: Sequence[Change], labels: Mapping[str, Mapping[str, str]] | None = None) -> list[Row]:
    """The changes as rows: one per (image, old, new, policy), places deduplicated and sorted."""
    grouped: dict[tuple[str, str, str, str], list[Change]] = {}
    for c in changes:
        grouped.setdefault((c.occurrence.image, c.old_ref, c.new_ref, c.occurrence.policy.policy), []).append(c)
    rows = []
    for (image, old_ref, new_ref, policy), members in grouped.items():
        members.sort(key=lambda c: c.occurrence.location)
        places = tuple(dict.fromkeys(f"{c.file}:{c.occurrence.location.line}" for c in members))
        source = next((u for c in members if (u := source_url(labels, c))), None)
        rows.append(Row(image, old_ref, new_ref, policy, update_type(old_ref, new_ref), places, tuple(c.reason for c in members), source))
    return sorted(rows, key=lambda r: (UPDATE_ORDER.index(r.kind), r.image, r.places))


TABLE_HEAD = "| Image | Update | Change | Where | Policy |\n|---|---|---|---|---|"


def validate_body_template(template: str) -> None:
    validate_fields(template, BODY_VARIABLES, "delivery.pull_request.body_template")


def validate_fields(template: str, known: Sequence[str], field: str) -> None:
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise ConfigError(f"{field}: {e} (write {{{{ and }}}} for literal braces)") from None
    bad = sorted(n for n in used if n not in known)
    if bad:
        raise ConfigError(f"{field}: unknown variable {', '.join('{' + b + '}' for b in bad)}; known: {', '.join('{' + k + '}' for k in known)}")
    if not template.strip():
        raise ConfigError(f"{field}: the template is empty")


#: How a body calls what an occurrence names (Occurrence.kind), singular and plural.
NOUNS_BY_KIND = {"image": ("image", "images"), "chart": ("chart", "charts"), "artifact": ("artifact", "artifacts")}


def named(changes: Sequence[Change]) -> str:
    """'3 images', '1 chart', '2 images and 1 chart': distinct names per kind, images first."""
    names: dict[str, set[str]] = {}
    for c in changes:
        names.setdefault(c.occurrence.kind, set()).add(c.occurrence.image)
    parts = []
    for kind in sorted(names, key=lambda k: (k != "image", k)):
        one, many = NOUNS_BY_KIND.get(kind, (kind, kind + "s"))
        parts.append(f"{len(names[kind])} {one if len(names[kind]) == 1 else many}")
    return " and ".join(parts) or "0 images"


def render_body(
    changes: Sequence[Change],
    *,
    marker: str,
    summary: str,
    labels: Mapping[str, Mapping[str, str]] | None = None,
    template: str | None = None,
    limit: int = 65_536,
    forge: str = "github",
    branch: str = "",
    base: str = "",
) -> str:
    """The body; deterministic (an unchanged pull request is never edited) and at most `limit` characters."""
    rows = rows_of(changes, labels)
    noun = NOUNS.get(forge, "pull request")
    kinds = [k for k in UPDATE_ORDER if any(r.kind == k for r in rows)]
    counts = ", ".join(f"{sum(r.kind == k for r in rows)} {k}" for k in kinds)
    intro = f"imagebot proposes **{len(rows)} update{'s' * (len(rows) != 1)}** of {named(changes)}"
    intro += f" into `{_cell(base)}` ({counts})." if base else f" ({counts})."
    closing = (
        f"**Closing this {noun}** without merging tells imagebot not to propose this update again; a newer version opens a new one. "
        f"imagebot updates this {noun} when newer tags appear and closes it when it is no longer needed."
    )
    marker_line = f"<!-- imagebot:{marker} -->"

    def render(shown: int, details: bool) -> str:
        lines = [TABLE_HEAD, *(r.line() for r in rows[:shown])]
        notes = []
        if shown < len(rows):
            notes.append(f"{len(rows) - shown} more updates are not listed")
        if not details:
            notes.append("the reasons are left out")
        if notes:
            cut = f"_This body was cut to fit {FORGES.get(forge, forge)}'s limit of {limit:,} characters: {'; '.join(notes)}. The branch `{_cell(branch)}` holds every change._"
            lines += ["", cut]
        why = ""
        if details:
            why = "<details>\n<summary>Why these versions</summary>\n\n" + "\n".join(r.why() for r in rows[:shown]) + "\n\n</details>"
        values = {
            "intro": intro, "table": "\n".join(lines), "details": why, "closing": closing,
            "summary": summary, "count": len(rows), "branch": branch, "base": base,
        }
        text = (template or DEFAULT_BODY).format(**values)
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
        return redact(f"{text}\n\n{marker_line}\n")

    body = render(len(rows), True)
    if len(body) <= limit:
        return body
    low, high = 0, len(rows)  # the most rows that fit
    while low < high:
        mid = (low + high + 1) // 2
        if len(render(mid, False)) <= limit:
            low = mid
        else:
            high = mid - 1
    return render(low, False)[:limit]
