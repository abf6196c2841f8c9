"""The patterns of config rules' `match`: a shell glob, or a regular expression between slashes.

``ghcr.io/home-operations/*`` is a glob (``*`` also crosses ``/``); ``/^ghcr\\.io/(a|b)/.*$/``
is a regular expression, searched in the text (as Renovate's ``matchPackageNames``). A literal
image name without wildcards is normalised (``postgres`` = ``docker.io/library/postgres``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from functools import lru_cache

from imagebot.errors import ReferenceError_
from imagebot.reference import parse_name

Matcher = Callable[[str], bool]
_GLOB_CHARS = set("*?[")


class PatternError(ValueError):
    """A pattern that cannot be compiled; the message says why."""


def is_regex(pattern: str) -> bool:
    return len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/")


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str, image: bool = False) -> Matcher:
    """A predicate for `pattern`. `image`: a literal (no glob, no regex) is normalised as an image
    name. Raises PatternError."""
    if not pattern:
        raise PatternError("empty pattern (leave the key out to match everything)")
    if is_regex(pattern):
        try:
            rx = re.compile(pattern[1:-1])
        except re.error as exc:
            raise PatternError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return lambda text: rx.search(text) is not None
    if _GLOB_CHARS & set(pattern):
        rx = re.compile(fnmatch.translate(pattern))
        return lambda text: rx.match(text) is not None
    literal = pattern
    if image:
        try:
            literal = parse_name(pattern).name
        except ReferenceError_ as exc:
            raise PatternError(f"{pattern!r} is not an image name: {exc}") from None
    return lambda text: text == literal
