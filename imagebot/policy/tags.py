"""What a Docker tag says about itself: version numbers, prerelease, variant, style.

Registries hold tags such as ``1.25.3-alpine``, ``v2.0.0-rc.10``, ``20.04``, ``3`` or a commit
hash. Masterminds semver sees ``-alpine`` as a prerelease and ``1.25`` as ``1.25.0``; a person
sees a variant that must not change and a two-part version line. This module gives the person's
reading, used when the current tag is known.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from imagebot.policy.semver import Version

#: Most numeric parts a version tag may have (``4.0.19.3001`` has 4; dates with a build have 5).
MAX_PARTS = 8
#: ``[v]<numbers>[<glued prerelease>][-<rest>]``. A glued prerelease is the PEP 440 / Python
#: spelling people read as one: ``3.13.0rc2``, ``1.0b1``, ``2.0a3``, ``1.0.dev4``.
_DOCKER_VERSION_RE = re.compile(
    rf"(v?)([0-9]+(?:\.[0-9]+){{0,{MAX_PARTS - 1}}})"
    r"((?:\.?(?i:alpha|beta|rc|pre|preview|dev)|a|b)(?:\.?[0-9]+)*)?"
    r"(?:-([A-Za-z0-9][A-Za-z0-9._-]*))?",
    re.ASCII,
)
_PRERELEASE = r"(?:alpha|beta|rc|pre|preview|dev|snapshot)(?:[.-]?[0-9]+)*"
_PRERELEASE_RE = re.compile(_PRERELEASE, re.ASCII | re.IGNORECASE)
#: A dashed prerelease followed by a variant: ``2.0.0-rc.1-alpine``.
_PRERELEASE_VARIANT_RE = re.compile(rf"({_PRERELEASE})-([A-Za-z][A-Za-z0-9._-]*)", re.ASCII | re.IGNORECASE)
_COMMIT_RE = re.compile(r"[0-9a-f]{7,40}", re.ASCII)
#: Moving names: never versions, whatever the policy.
KEYWORDS = frozenset({"latest", "main", "master", "stable", "edge", "nightly", "dev", "develop"})
_UINT64_MAX = 2**64 - 1
_RUN_RE = re.compile(r"[0-9]+|[A-Za-z]+", re.ASCII)


def is_commit_hash(tag: str) -> bool:
    """7–40 lower-case hex characters, not all digits (``a1b2c3d``), as CI systems tag builds."""
    return _COMMIT_RE.fullmatch(tag) is not None and not tag.isdigit()


def not_a_version(tag: str) -> str | None:
    """Why `tag` can never be a version (commit hash, moving name), or None."""
    if tag.lower() in KEYWORDS:
        return f"{tag!r} is a moving name, never a version"
    if is_commit_hash(tag):
        return "looks like a commit hash, never a version"
    return None


def _natural(text: str) -> tuple:
    """Order prerelease labels naturally: ``rc.2 < rc.10``, ``beta2 < beta10``."""
    return tuple((0, int(run), "") if run.isdigit() else (1, 0, run.lower()) for run in _RUN_RE.findall(text))


class DockerTag(NamedTuple):
    """A tag read as ``[v]<1–8 numeric parts>[<glued prerelease>][-<rest>]``.

    A prerelease is glued (``3.13.0rc2``, ``1.0b1``) or is the rest when the rest looks like
    one (``rc.1``, ``beta2``, ``alpha``, ``dev``, ``snapshot``…); a rest that starts with one
    and goes on after a dash (``rc.1-alpine``) is a prerelease and a variant; any other rest is
    a `variant` (``alpine``, ``slim-bookworm``, ``jdk17``): ``3.13.0rc2-slim`` is 3.13.0,
    prerelease ``rc2``, variant ``slim``. All numeric parts count (``4.0.19.3001``).
    `key` orders tags: numbers, then a release above its prereleases, prereleases naturally.
    (A tuple rather than a dataclass: it is built for every tag of a registry, and cheaply.)
    """

    tag: str
    v_prefix: bool
    numbers: tuple[int, ...]
    prerelease: str
    variant: str
    key: tuple

    @classmethod
    def parse(cls, tag: str) -> DockerTag | None:
        """The tag's reading, or None when it is not ``[v]<1–8 numbers>[<prerelease>][-<rest>]``."""
        return _parse_docker_tag(tag)

    @classmethod
    def _parse(cls, tag: str) -> DockerTag | None:
        m = _DOCKER_VERSION_RE.fullmatch(tag)  # never matches a moving name
        if m is None or (m.group(3) and is_commit_hash(tag)):  # `1234a56`: a hash, not 1234 alpha 56
            return None
        v, digits, glued, rest = m.groups()
        numbers = tuple(map(int, digits.split(".")))
        if len(digits) > 19 and max(numbers) > _UINT64_MAX:  # as Masterminds: no part beyond uint64
            return None
        pre, variant = (glued.lstrip("."), rest or "") if glued else ("", rest or "")
        if rest and not glued:
            if _PRERELEASE_RE.fullmatch(rest):
                pre, variant = rest, ""
            elif (both := _PRERELEASE_VARIANT_RE.fullmatch(rest)) is not None:
                pre, variant = both.group(1), both.group(2)
        # tuple.__new__ skips NamedTuple's generated __new__: this runs for every tag of a registry.
        if pre:
            return tuple.__new__(cls, (tag, bool(v), numbers, pre, variant, (numbers, 0, _natural(pre))))
        return tuple.__new__(cls, (tag, bool(v), numbers, "", variant, (numbers, 1, ())))

    @property
    def precision(self) -> int:
        return len(self.numbers)

    def semver(self) -> Version:
        """The Masterminds version constraints are checked against: the variant dropped, the
        parts after the third kept in the key (``1.2.3.9`` > ``1.2.3``). Cached, as the parse
        is: constraints check it for every same-shape tag."""
        found = _semvers.get(self.tag)
        if found is None:
            if len(_semvers) >= _CACHE_MAX:
                _semvers.clear()
            found = _semvers[self.tag] = self._semver()
        return found

    def _semver(self) -> Version:
        major, minor, patch = (*self.numbers, 0, 0)[:3]
        if not self.prerelease:
            version = Version.release(major, minor, patch, self.tag)
        else:
            pre = re.sub(r"[^0-9A-Za-z.-]", "-", self.prerelease)
            pre = ".".join(p.lstrip("0") or "0" if p.isdigit() else p for p in pre.split(".") if p)
            version = Version(major, minor, patch, pre, "", self.tag)
        extra = self.numbers[3:]
        while extra and not extra[-1]:
            extra = extra[:-1]
        if not extra:
            return version
        # 4 and more parts: 1.2.3.9 lies above 1.2.3 and below 1.2.4, so `<=1.2.3` rejects it
        # and `>1.2.3` takes it. Masterminds compares keys; the 4th field (2 > 1 release > 0
        # prerelease) puts it above every 3-part 1.2.3, the parts after it order the rest.
        key = (major, minor, patch, 2, extra, *version.key[3:])
        return tuple.__new__(Version, (*version[:6], key))


_CACHE_MAX = 1 << 18
_MISSING = object()
_parsed: dict[str, DockerTag | None] = {}
_semvers: dict[str, Version] = {}


def _parse_docker_tag(tag: str) -> DockerTag | None:
    """Cached: an agent sees the same tags every cycle, for every workload that uses the image.
    (A dict emptied when full: cheaper to fill than an LRU, and tags come in whole lists.)"""
    found = _parsed.get(tag, _MISSING)
    if found is _MISSING:
        if len(_parsed) >= _CACHE_MAX:
            _parsed.clear()
        found = _parsed[tag] = DockerTag._parse(tag)
    return found  # type: ignore[return-value]
