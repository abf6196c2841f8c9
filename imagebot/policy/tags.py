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

_DOCKER_VERSION_RE = re.compile(r"(v?)([0-9]+(?:\.[0-9]+){0,3})(?:-([A-Za-z0-9][A-Za-z0-9._-]*))?", re.ASCII)
_PRERELEASE_RE = re.compile(r"(alpha|beta|rc|pre|preview|dev|snapshot)(?:[.-]?[0-9]+)*", re.ASCII | re.IGNORECASE)
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
    """A tag read as ``[v]<1–4 numeric parts>[-<rest>]``.

    `rest` is a prerelease when it looks like one (``rc.1``, ``beta2``, ``alpha``, ``dev``,
    ``snapshot``…); any other rest is a `variant` (``alpine``, ``slim-bookworm``, ``jdk17``).
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
        """The tag's reading, or None when it is not ``[v]<1–4 numbers>[-<rest>]``."""
        return _parse_docker_tag(tag)

    @classmethod
    def _parse(cls, tag: str) -> DockerTag | None:
        m = _DOCKER_VERSION_RE.fullmatch(tag)  # never matches a commit hash or a moving name
        if m is None:
            return None
        v, digits, rest = m.groups()
        numbers = tuple(map(int, digits.split(".")))
        if len(digits) > 19 and max(numbers) > _UINT64_MAX:  # as Masterminds: no part beyond uint64
            return None
        # tuple.__new__ skips NamedTuple's generated __new__: this runs for every tag of a registry.
        if rest and _PRERELEASE_RE.fullmatch(rest):
            return tuple.__new__(cls, (tag, bool(v), numbers, rest, "", (numbers, 0, _natural(rest))))
        return tuple.__new__(cls, (tag, bool(v), numbers, "", rest or "", (numbers, 1, ())))

    @property
    def precision(self) -> int:
        return len(self.numbers)

    def semver(self) -> Version:
        """The Masterminds version constraints are checked against (variant dropped, 4th part
        too). Cached, as the parse is: constraints check it for every same-shape tag."""
        found = _semvers.get(self.tag)
        if found is None:
            if len(_semvers) >= _CACHE_MAX:
                _semvers.clear()
            found = _semvers[self.tag] = self._semver()
        return found

    def _semver(self) -> Version:
        major, minor, patch = (*self.numbers, 0, 0)[:3]
        if not self.prerelease:
            return Version.release(major, minor, patch, self.tag)
        pre = re.sub(r"[^0-9A-Za-z.-]", "-", self.prerelease)
        pre = ".".join(p.lstrip("0") or "0" if p.isdigit() else p for p in pre.split(".") if p)
        return Version(major, minor, patch, pre, "", self.tag)


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
