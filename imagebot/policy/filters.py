"""Tag filters: ``tag-filter`` (with ``extract``) and ``exclude``, bounded in time.

Flux semantics: the filter is searched, not anchored (``^`` and ``$`` are up to the user), and
``extract`` is Go's ``Regexp.ExpandString`` template (``$1``, ``$name``, ``${name}``, ``$$``)
over the filter's groups; the policy ranks the extracted text and the original tag is written.

Patterns come from users' annotations, so they run on the ``regex`` engine with a timeout: a
catastrophic pattern such as ``(a+)+$`` costs at most :data:`MATCH_TIMEOUT` per tag and
:data:`TOTAL_TIMEOUT` per evaluation, never a hung cycle.
"""

from __future__ import annotations

import re as _stdlib_re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagebot.errors import PolicyError

if TYPE_CHECKING:
    import regex

#: Seconds one pattern may spend on one tag.
MATCH_TIMEOUT = 0.05
#: Seconds all pattern matching of one `choose` call may spend; later tags are then rejected.
TOTAL_TIMEOUT = 1.0
#: Signatures, attestations and SBOMs that cosign pushes as tags next to the image.
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")

_TEMPLATE_RE = _stdlib_re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))", _stdlib_re.ASCII)


def shown(text: str) -> str:
    """A pattern or template quoted as the user wrote it: repr() would double every backslash
    (``'^1\\\\.'`` for ``^1\\.``); only text with unprintable characters needs escapes."""
    return f"'{text}'" if text.isprintable() else repr(text)


def compile_pattern(pattern: str, option: str, source: str = "") -> regex.Pattern:
    """Compile a user's pattern, or raise PolicyError naming the option, pattern and problem."""
    import regex  # loaded by the first pattern (25 ms): most configs have none

    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error as e:
        where = f" ({source})" if source else ""
        pos = f" at position {e.pos}" if e.pos is not None else ""
        raise PolicyError(f"invalid {option} regular expression {shown(pattern)}{pos}: {e.msg}{where}") from None


@dataclass(frozen=True)
class Template:
    """An ``extract`` template checked against the filter's groups at load time.

    `parts` is the template split once into literal text and group references, so expanding
    it for every tag of a registry is a join, not a re-parse.
    """

    text: str
    parts: tuple[tuple[bool, str | int], ...]  # (is a group reference, literal text or group)

    @classmethod
    def compile(cls, text: str, pattern: regex.Pattern, source: str = "") -> Template:
        names = set(pattern.groupindex)
        where = f" ({source})" if source else ""
        parts: list[tuple[bool, str | int]] = []
        last = 0
        for m in _TEMPLATE_RE.finditer(text):
            parts.append((False, text[last : m.start()]))
            last = m.end()
            if m.group(0) == "$$":
                parts.append((False, "$"))
                continue
            ref = m.group(1) or m.group(2)  # Go's ExpandString: the longest \w+ after $ names the group
            if ref.isdigit():
                if int(ref) > pattern.groups:
                    raise PolicyError(
                        f"extract template {text!r} uses ${ref} but the tag-filter {shown(pattern.pattern)} "
                        f"has {pattern.groups} group(s){where}"
                    )
                parts.append((True, int(ref)))
            elif ref in names:
                parts.append((True, ref))
            else:
                known = ", ".join(sorted(names)) or "none"
                raise PolicyError(
                    f"extract template {text!r} uses ${{{ref}}} but the tag-filter {shown(pattern.pattern)} "
                    f"has no group named {ref!r} (named groups: {known}){where}"
                )
        parts.append((False, text[last:]))
        if not any(is_group for is_group, _ in parts):
            raise PolicyError(
                f"extract template {text!r} uses no group of the tag-filter; write $1, $name or ${{name}}{where}"
            )
        return cls(text, tuple(p for p in parts if p[0] or p[1]))

    def expand(self, match: regex.Match) -> str:
        """The template with each group reference replaced by what the group matched ("" if nothing)."""
        if len(self.parts) == 1:
            return match.group(self.parts[0][1]) or ""
        return "".join((match.group(value) or "") if is_group else value for is_group, value in self.parts)  # type: ignore[misc]


class Deadline:
    """The time budget of one evaluation, shared by every pattern search in it."""

    def __init__(self, total: float = TOTAL_TIMEOUT):
        self._end = time.monotonic() + total
        self.exhausted = False

    def search(self, pattern: regex.Pattern, tag: str) -> regex.Match | None | TimeoutError:
        """The match, None, or a TimeoutError value when this tag or the whole budget ran out."""
        if self.exhausted:
            return TimeoutError(f"pattern matching stopped: the {TOTAL_TIMEOUT:g}s budget was spent")
        left = self._end - time.monotonic()
        if left <= 0:
            self.exhausted = True
            return TimeoutError(f"pattern matching stopped: the {TOTAL_TIMEOUT:g}s budget was spent")
        try:
            return pattern.search(tag, timeout=min(MATCH_TIMEOUT, left))
        except TimeoutError:
            return TimeoutError(
                f"{shown(pattern.pattern)} took longer than {MATCH_TIMEOUT * 1000:g}ms on this tag (catastrophic pattern?)"
            )


#: What a pattern made of a tag, other than the text to rank: these two are final, a timeout is not.
EXCLUDED = ("excluded",)
UNMATCHED = ("not matching tag-filter",)
_MEMO_MAX = 1 << 18
_memos: dict[tuple[str | None, str | None, str | None], dict[str, str | tuple[str]]] = {}


def memo(tag_filter: str | None, exclude: str | None, extract: str | None) -> dict[str, str | tuple[str]]:
    """Each tag's outcome under these patterns: the text to rank, EXCLUDED or UNMATCHED.

    Shared by every policy with the same patterns and kept across cycles, as the version parse
    caches are: an agent meets the same tags every cycle, and a search under a time budget costs
    a few microseconds a tag. (Emptied when full; timeouts are never stored.)
    """
    key = (tag_filter, exclude, extract)
    found = _memos.get(key)
    if found is None or len(found) >= _MEMO_MAX:
        if len(_memos) >= 256:
            _memos.clear()
        found = _memos[key] = {}
    return found

