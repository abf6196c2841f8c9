"""Inline comment markers, parsed from the comment text alone (no YAML, no config).

Three forms, on the line of any YAML scalar:

- ``# imagebot: <policy>[; <option>=<value>]...`` — the policy inline, for a full reference.
  Options are those of the annotations (``tag-filter``, ``extract``, ``exclude``,
  ``prerelease``, ``pin-digest``); ``;`` separates them because a policy may contain spaces
  (``semver:>=1.0 <2``).
- ``# {"$imagebot": "<name>[:tag|:name|:digest]"}`` — a named policy from the config.
- ``# {"$imagepolicy": "<namespace>:<name>[:tag|:name|:digest]"}`` — Flux's setter marker,
  resolved against the config policy named ``<namespace>:<name>``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from imagebot.model import FieldKind

#: A line that may hold a marker: used to screen text before looking at YAML nodes.
CANDIDATE = re.compile(r"#.*(?:\bimagebot\s*:|\$imagebot\b|\$imagepolicy\b)")
_INLINE = re.compile(r"\s*imagebot\s*:(?P<spec>.*)")
_JSON = re.compile(r"\s*(?P<json>\{.*\})\s*")
_SUFFIX = {"tag": FieldKind.TAG, "name": FieldKind.NAME, "digest": FieldKind.DIGEST}
#: Options a marker or annotation may set, with whether they are yes/no flags.
OPTIONS = {"tag-filter": False, "extract": False, "exclude": False, "prerelease": True, "pin-digest": True}


class MarkerError(ValueError):
    """A comment that is meant as a marker but cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class InlineMarker:
    """``# imagebot: POLICY; option=value``."""

    policy: str
    options: dict[str, str | bool]


@dataclass(frozen=True)
class NamedMarker:
    """``{"$imagebot": ...}`` or ``{"$imagepolicy": ...}``: `name` is the config policy's key."""

    key: str  # "$imagebot" or "$imagepolicy"
    name: str
    field: FieldKind


Marker = InlineMarker | NamedMarker


def parse_flag(text: str, what: str) -> bool:
    """``true``/``false`` (any case) -> bool; anything else is a MarkerError naming `what`."""
    low = text.strip().lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    raise MarkerError(f"{what} must be true or false, not {text.strip()!r}")


def parse(comment: str) -> Marker | None:
    """The marker in a comment (text after ``#``), None if it holds none. Raises MarkerError.

    The marker may follow other comments on the line: ``# pinned by team X # imagebot: semver:*``,
    ``# renovate: datasource=docker # {"$imagebot": "app"}``; it runs to the end of the line."""
    parts = comment.split("#")
    for i, part in enumerate(parts):
        rest = "#".join(parts[i:])
        m = _INLINE.fullmatch(rest)
        if m:
            return _inline(m.group("spec"))
        if part.lstrip().startswith("{") and ("$imagebot" in rest or "$imagepolicy" in rest):
            return _named(rest)
    if "$imagebot" in comment or "$imagepolicy" in comment:
        return _named(comment)
    return None


def _inline(spec: str) -> InlineMarker:
    policy, *parts = [p.strip() for p in spec.split(";")]
    if not policy:
        raise MarkerError("the imagebot marker names no policy (write e.g. '# imagebot: semver:^1.4')")
    options: dict[str, str | bool] = {}
    for part in parts:
        if not part:
            continue
        key, eq, value = part.partition("=")
        key = key.strip()
        if key not in OPTIONS:
            raise MarkerError(f"unknown option {key!r} in the imagebot marker (known: {', '.join(OPTIONS)})")
        if OPTIONS[key]:
            options[key] = parse_flag(value, key) if eq else True
        elif not eq or not value.strip():
            raise MarkerError(f"option {key!r} in the imagebot marker needs a value ({key}=...)")
        else:
            options[key] = value.strip()
    return InlineMarker(policy, options)


def _named(comment: str) -> NamedMarker:
    m = _JSON.fullmatch(comment)
    try:
        data = json.loads(m.group("json")) if m else None
    except json.JSONDecodeError as exc:
        raise MarkerError(f"the marker is not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    if not isinstance(data, dict) or len(data) != 1:
        raise MarkerError('a marker is one JSON object with one key, e.g. {"$imagebot": "app:tag"}')
    key, value = next(iter(data.items()))
    if key not in ("$imagebot", "$imagepolicy"):
        raise MarkerError(f'unknown marker key {key!r} (use "$imagebot" or "$imagepolicy")')
    if not isinstance(value, str) or not value.strip():
        raise MarkerError(f"the {key} marker needs a policy name as a string")
    parts = value.strip().split(":")
    field = FieldKind.IMAGE
    if len(parts) > 1 and parts[-1] in _SUFFIX:
        field = _SUFFIX[parts.pop()]
    if key == "$imagepolicy" and (len(parts) != 2 or not all(parts)):
        raise MarkerError(f'a $imagepolicy marker reads "<namespace>:<name>[:tag|:name|:digest]", not {value!r}')
    if not all(parts):
        raise MarkerError(f"the {key} marker {value!r} has an empty part")
    return NamedMarker(key, ":".join(parts), field)
