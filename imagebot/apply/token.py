"""Write a new scalar value as a YAML token in the style the old one was written in.

The rule (documented in docs/manifests.md):

- a double-quoted value stays double-quoted, a single-quoted one single-quoted;
- a plain value stays plain when the new text is a *safe plain string*: made of the characters
  image references use, and read back as a string by both YAML 1.2 (ruamel) and YAML 1.1
  (go-yaml / Kubernetes, where ``on``/``yes``/``0777``/``12:30`` are not strings). Otherwise
  the new value is written double-quoted (``1.20`` -> ``"1.20"``) so that its type does not
  change: quoting is the one extra byte we allow ourselves, because refusing would leave the
  image un-updated and a float tag is never what the user meant;
- values with control characters or line breaks are refused: an image reference never holds
  them, so their presence means something upstream went wrong.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ruamel.yaml.resolver import VersionedResolver

from imagebot.discover.yamltree import STR_TAG
from imagebot.errors import EditError

# Characters of references, tags and digests; the first one must not be a YAML indicator.
_SAFE_PLAIN = re.compile(r"[\w/][\w./@:+=~-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_RESOLVERS = (VersionedResolver(version=(1, 2)), VersionedResolver(version=(1, 1)))


#: ruamel's implicit resolvers of each version, by first character: what `resolve` reads (each
#: call of which first works out the version being parsed: most of its cost for one value).
_TABLES = tuple(r.versioned_resolver for r in _RESOLVERS)


def _reads_as_str(table: dict, value: str) -> bool:
    """`VersionedResolver.resolve(ScalarNode, value, (True, False))` is the str tag: the first
    implicit resolver for the value's first character (or for any) that matches decides."""
    for tag, regexp in (*table.get(value[0] if value else "", ()), *table.get(None, ())):
        if regexp.match(value):
            return str(tag) == STR_TAG
    return True  # no implicit type: the default scalar tag, str


@lru_cache(maxsize=1 << 16)  # a pure function of the value; a plan writes the same tags many times (10,000 files: ~6,000 distinct)
def plain_is_safe(value: str) -> bool:
    """True if `value` written unquoted reads back as this same string in YAML 1.1 and 1.2."""
    if not _SAFE_PLAIN.fullmatch(value) or value.endswith(":"):
        return False
    return all(_reads_as_str(table, value) for table in _TABLES)


@lru_cache(maxsize=1 << 16)  # pure too (a refusal raises, and is not kept); the render cache checks every hit with it
def render_token(value: str, style: str | None) -> str:
    """The YAML token for `value` in `style` (None = plain, "'" or '"'). Raises EditError."""
    if _CONTROL.search(value):
        raise EditError(f"the new value {value!r} contains a control character or line break")
    if style is None:
        if plain_is_safe(value):
            return value
        style = '"'
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise EditError(f"cannot write a {style!r} scalar")
