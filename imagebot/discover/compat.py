"""What the compatibility readers share: the sources they are named by, and glob patterns.

A reference governed by another tool's configuration (Argo CD Image Updater annotations, Keel
annotations) carries a PolicySpec whose `source` starts with ``compat:<tool>``, so that
``validate`` and ``inventory`` can say where its policy came from. The readers run only when
the config opts in (``compat: [argocd-image-updater, keel]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from imagebot.model import PolicySpec

ARGOCD = "argocd-image-updater"
KEEL = "keel"
#: compat name -> the bytes a file must contain for that reader to find anything in it.
TOKENS: dict[str, bytes] = {ARGOCD: b"argocd-image-updater.argoproj.io", KEEL: b"keel.sh/"}
PREFIX = "compat:"
#: PolicySpec.origin of a policy read from that tool (what `imagebot inventory` shows as its source).
ARGOCD_ORIGIN = PREFIX + ARGOCD
KEEL_ORIGIN = PREFIX + KEEL


def source(tool: str, where: str) -> str:
    """The PolicySpec.source of a policy read from `tool`'s configuration at `where`."""
    return f"{PREFIX}{tool} {where}"


def compat_source(spec: PolicySpec) -> str | None:
    """``compat:keel`` / ``compat:argocd-image-updater`` when `spec` was read from another tool's
    configuration; None for imagebot's own policies."""
    if not spec.source.startswith(PREFIX):
        return None
    return spec.source.split(" ", 1)[0]


def glob_regex(pattern: str, *, classes: bool) -> str:
    """A glob over a whole tag as an anchored regular expression.

    ``*`` matches any run of characters (tags have no ``/``). With `classes` (Go's
    filepath.Match, used by Argo CD Image Updater's ignore-tags), ``?`` is one character and
    ``[...]`` a character class; without (ryanuber/go-glob, used by Keel), only ``*`` is special.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif classes and c == "?":
            out.append(".")
        elif classes and c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            out.append("[" + pattern[i + 1 : end] + "]")  # Go's [^...] negates, as a regex class does
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "^" + "".join(out) + "$"


def governed(specs: Iterable[PolicySpec]) -> dict[str, int]:
    """How many references each compatibility source governs: {"compat:keel": 3, ...}."""
    counts: dict[str, int] = {}
    for spec in specs:
        name = compat_source(spec)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))
