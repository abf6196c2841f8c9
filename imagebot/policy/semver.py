"""Masterminds/semver v3 versions and constraints, reproduced exactly.

Flux and Argo CD Image Updater evaluate ``semver`` policies with github.com/Masterminds/semver
v3, so a policy written for them must mean the same here: the lenient version parser
(``NewVersion``: 1–3 parts, ``v`` prefix, leading zeros), the constraint language (``^ ~ x-ranges
|| , hyphen ranges``), every operator's treatment of partial versions, the prerelease rule (a
prerelease version matches only if a comparator in the same AND group has a prerelease, or
prereleases are included explicitly) and the failure messages of ``Validate``.

The Go regular expressions are translated with two care points: Go's ``$`` is Python's ``\\Z``
and Go's ``\\s`` is ``[\\t\\n\\f\\r ]``.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

_UINT64_MAX = 2**64 - 1
_S = r"[\t\n\f\r ]"  # Go's \s

_LOOSE_VERSION_RE = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_LEADING_ZERO_RE = re.compile(r"(?:^|\.)0[0-9]+(?:\.|$)")
_NUM = frozenset("0123456789")
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789")

_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CONSTRAINT_RE = re.compile(rf"^{_S}*({_OPS}){_S}*({_CV}){_S}*\Z")
_RANGE_RE = re.compile(rf"{_S}*({_CV}){_S}+-{_S}+({_CV}){_S}*")
_FIND_RE = re.compile(rf"({_OPS}){_S}*({_CV})")
_VALID_RE = re.compile(rf"^({_S}*({_OPS}){_S}*({_CV}){_S}*)((?:{_S}+|,{_S}*)({_OPS}){_S}*({_CV}){_S}*)*\Z")
#: Constraints are short; a cap keeps the backtracking engine linear on hostile input.
_CONSTRAINT_LENGTH_MAX = 1024


class SemverError(ValueError):
    """A version or constraint that Masterminds/semver rejects; the message is its error text."""


def _only(text: str, chars: frozenset[str]) -> bool:
    return all(c in chars for c in text)


def _validate_prerelease(pre: str) -> None:
    for part in pre.split("."):
        if part == "":
            raise SemverError("invalid prerelease string")
        if _only(part, _NUM):
            if len(part) > 1 and part[0] == "0":
                raise SemverError("version segment starts with 0")
        elif not _only(part, _ALLOWED):
            raise SemverError("invalid prerelease string")


def _validate_metadata(meta: str) -> None:
    for part in meta.split("."):
        if part == "" or not _only(part, _ALLOWED):
            raise SemverError("invalid metadata string")


def _uint(text: str) -> int:
    value = int(text)
    if value > _UINT64_MAX:
        raise SemverError(f'error parsing version segment: strconv.ParseUint: parsing "{text}": value out of range')
    return value


def _pre_part_key(part: str) -> tuple[int, int | str]:
    """Go's comparePrePart as a sort key: numbers (that fit uint64) sort before strings."""
    if part.isdigit() and part.isascii() and int(part) <= _UINT64_MAX:
        return (0, int(part))
    return (1, part)


class Version(namedtuple("_VersionFields", "major minor patch pre metadata original key")):
    """A Masterminds version, immutable. Comparisons follow Masterminds' Compare: they ignore
    `metadata` and `original` (`key` is the precomputed sort key).

    A tuple rather than a dataclass: registries list tens of thousands of tags and creating
    tuples is several times cheaper.
    """

    __slots__ = ()

    def __new__(cls, major: int, minor: int, patch: int, pre: str = "", metadata: str = "", original: str = ""):
        if pre:
            key: tuple = (major, minor, patch, 0, tuple(_pre_part_key(p) for p in pre.split(".")))
        else:
            key = (major, minor, patch, 1, ())
        return tuple.__new__(cls, (major, minor, patch, pre, metadata, original, key))

    @classmethod
    def release(cls, major: int, minor: int, patch: int, original: str, metadata: str = "") -> Version:
        """A version without prerelease, as most tags are: built without ``__new__``'s work."""
        return tuple.__new__(cls, (major, minor, patch, "", metadata, original, (major, minor, patch, 1, ())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: Version) -> bool:  # type: ignore[override]
        return self.key < other.key

    def __le__(self, other: Version) -> bool:  # type: ignore[override]
        return self.key <= other.key

    def __gt__(self, other: Version) -> bool:  # type: ignore[override]
        return self.key > other.key

    def __ge__(self, other: Version) -> bool:  # type: ignore[override]
        return self.key >= other.key

    @classmethod
    def parse(cls, text: str) -> Version:
        """``NewVersion`` (coercing): 1–3 numeric parts, optional ``v``, leading zeros allowed."""
        version = parse_version(text)
        if isinstance(version, str):
            raise SemverError(version)
        return version

    @classmethod
    def _parse(cls, text: str) -> Version | str:
        """The version, or the error message (cheaper than raising for the many tags that fail)."""
        m = _LOOSE_VERSION_RE.fullmatch(text)
        if m is None:
            return "invalid semantic version"
        major, minor, patch, _, pre, _, _, meta, _ = m.groups()
        # The pattern admits only [0-9A-Za-z-] identifiers, so of validatePrerelease and
        # validateMetadata only the leading-zero rule for numeric prerelease parts is left.
        if pre and _LEADING_ZERO_RE.search(pre):
            return "version segment starts with 0"
        if len(major) > 19 or len(minor or "") > 20 or len(patch or "") > 20:
            try:
                _uint(major), _uint((minor or ".0")[1:]), _uint((patch or ".0")[1:])
            except SemverError as e:
                return str(e)
        ma, mi, pa = int(major), int(minor[1:]) if minor else 0, int(patch[1:]) if patch else 0
        if pre:
            return cls(ma, mi, pa, pre, meta or "", text)
        return cls.release(ma, mi, pa, text, meta or "")

    @classmethod
    def parse_strict(cls, text: str) -> Version:
        """``StrictNewVersion``: exactly three parts, no ``v``, no leading zeros."""
        if text == "":
            raise SemverError("version string empty")
        parts = text.split(".", 2)
        if len(parts) != 3:
            raise SemverError("invalid semantic version")
        meta = pre = ""
        if "+" in parts[2]:
            parts[2], meta = parts[2].split("+", 1)
            _validate_metadata(meta)
        if "-" in parts[2]:
            parts[2], pre = parts[2].split("-", 1)
            _validate_prerelease(pre)
        for p in parts:
            if not _only(p, _NUM) or p == "":
                raise SemverError("invalid characters in version")
            if len(p) > 1 and p[0] == "0":
                raise SemverError("version segment starts with 0")
        return cls(_uint(parts[0]), _uint(parts[1]), _uint(parts[2]), pre, meta, text)

    def compare(self, other: Version) -> int:
        a, b = self.key, other.key
        return (a > b) - (a < b)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += f"-{self.pre}"
        if self.metadata:
            text += f"+{self.metadata}"
        return text

    def _bumped(self, major: int, minor: int, patch: int) -> Version:
        bare = Version(major, minor, patch)
        prefix = "v" if self.original.startswith("v") else ""
        return Version(major, minor, patch, "", "", prefix + str(bare))

    def next_patch(self) -> Version:
        """``IncPatch``: a prerelease becomes its release; a release gets the next patch."""
        return self._bumped(self.major, self.minor, self.patch if self.pre else self.patch + 1)

    def next_minor(self) -> Version:
        return self._bumped(self.major, self.minor + 1, 0)

    def next_major(self) -> Version:
        return self._bumped(self.major + 1, 0, 0)


_CACHE_MAX = 1 << 18
_parsed: dict[str, Version | str] = {}


def parse_version(text: str) -> Version | str:
    """``NewVersion`` returning the error message instead of raising, for hot loops.

    Cached: an agent sees the same tags every cycle, for every workload that uses the image.
    (A dict emptied when full: cheaper to fill than an LRU, and tags come in whole lists.)
    """
    found = _parsed.get(text)
    if found is None:
        if len(_parsed) >= _CACHE_MAX:
            _parsed.clear()
        found = _parsed[text] = Version._parse(text)
    return found


def _q(value: object) -> str:
    """Go's %q for the ASCII strings Masterminds quotes (versions and constraints never hold
    quotes or backslashes, but escape them if they do)."""
    text = str(value)
    if '"' in text or "\\" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _is_x(text: str) -> bool:
    return text in ("x", "X", "*")


#: Masterminds' failure messages, with the version as ``{v}`` and the comparator as ``{o}``.
#: A comparator fills in ``{o}`` once; ``{v}`` is filled only when a message is read, so
#: checking a registry's 100,000 tags builds no strings.
PRERELEASE_FAILURE = '"{v}" is a prerelease version and the constraint is only looking for release versions'


class _Messages(NamedTuple):
    equal: str = '"{v}" is equal to {o}'
    not_greater: str = '"{v}" is less than or equal to {o}'
    not_less: str = '"{v}" is greater than or equal to {o}'
    less: str = '"{v}" is less than {o}'
    greater: str = '"{v}" is greater than {o}'
    major: str = '"{v}" does not have same major version as {o}'
    major_minor: str = '"{v}" does not have same major and minor version as {o}'
    not_equal: str = '"{v}" is not equal to {o}'
    minor_zero_major: str = (
        '"{v}" does not have same minor version as {o}. '
        "Expected minor versions to match when constraint major version is 0"
    )
    minor: str = '"{v}" does not have same minor version as {o}'
    zero_major_minor: str = (
        '"{v}" does not equal {o}. Expect version and constraint to equal when major and minor versions are 0'
    )

    def about(self, quoted: str) -> _Messages:
        """The messages of one comparator (constraint syntax never holds ``{v}``)."""
        return _Messages(*(text.replace("{o}", quoted) for text in self))


_MESSAGES = _Messages()


def fill(template: str, v: Version) -> str:
    """A failure template with the version written in."""
    return template.replace("{v}", str(v), 1)


@dataclass(frozen=True)
class Comparator:
    """One operator and version of a constraint (Masterminds' internal ``constraint``)."""

    op: str
    orig: str
    con: Version
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False
    #: This comparator's check (one of the methods below, chosen by `op`) and its messages.
    failure: Callable[[Version, bool], str | None] = field(init=False, repr=False, compare=False)
    m: _Messages = field(init=False, repr=False, compare=False)

    def __str__(self) -> str:
        return self.op + self.orig

    def __post_init__(self) -> None:
        object.__setattr__(self, "failure", _CHECKS[self.op].__get__(self))
        object.__setattr__(self, "m", _MESSAGES.about(_q(self.orig)))

    def check(self, v: Version, include_pre: bool) -> str | None:
        """None when `v` satisfies this comparator, else Masterminds' failure message."""
        template = self.failure_template(v, include_pre)
        return None if template is None else fill(template, v)

    def failure_template(self, v: Version, include_pre: bool) -> str | None:
        """None when `v` satisfies this comparator, else the message with ``{v}`` unfilled."""
        if v.pre and not include_pre:
            return PRERELEASE_FAILURE
        return self.failure(v, include_pre)

    # Each returns None (satisfied) or a failure template; `v.pre` is already allowed.
    def _not_equal(self, v: Version, include_pre: bool) -> str | None:
        c = self.con
        equal = self.m.equal
        if self.dirty:
            if c.major != v.major:
                return None
            if c.minor != v.minor and not self.minor_dirty:
                return None
            if self.minor_dirty:
                return equal
            if c.patch != v.patch and not self.patch_dirty:
                return None
            if self.patch_dirty:
                if (v.pre or c.pre) and _compare_prerelease(v.pre, c.pre) != 0:
                    return None
                return equal
        return equal if v.key == c.key else None

    def _greater(self, v: Version, include_pre: bool) -> str | None:
        c = self.con
        fail = self.m.not_greater
        if not self.dirty:
            return None if v.key > c.key else fail
        if v.major > c.major:
            return None
        if v.major < c.major or self.minor_dirty:
            return fail
        if self.patch_dirty:
            return None if v.minor > c.minor else fail
        return None if v.key > c.key else fail

    def _less(self, v: Version, include_pre: bool) -> str | None:
        return None if v.key < self.con.key else self.m.not_less

    def _greater_equal(self, v: Version, include_pre: bool) -> str | None:
        return None if v.key >= self.con.key else self.m.less

    def _less_equal(self, v: Version, include_pre: bool) -> str | None:
        c = self.con
        fail = self.m.greater
        if not self.dirty:
            return None if v.key <= c.key else fail
        if v.major > c.major:
            return fail
        if v.major == c.major and v.minor > c.minor and not self.minor_dirty:
            return fail
        return None

    def _tilde(self, v: Version, include_pre: bool) -> str | None:
        c = self.con
        if v.key < c.key:
            return self.m.less
        if (c.major, c.minor, c.patch) == (0, 0, 0) and not self.minor_dirty and not self.patch_dirty:
            return None  # ~0.0.0 / ~* accept everything from 0.0.0 up
        if v.major != c.major:
            return self.m.major
        if v.minor != c.minor and not self.minor_dirty:
            return self.m.major_minor
        return None

    def _tilde_or_equal(self, v: Version, include_pre: bool) -> str | None:
        if self.dirty:
            return self._tilde(v, include_pre)
        return None if v.key == self.con.key else self.m.not_equal

    def _caret(self, v: Version, include_pre: bool) -> str | None:
        c = self.con
        if v.key < c.key:
            return self.m.less
        if c.major > 0 or self.minor_dirty:
            return None if v.major == c.major else self.m.major
        if v.major > 0:
            return self.m.major
        if c.minor > 0 or self.patch_dirty:
            return None if v.minor == c.minor else self.m.minor_zero_major
        if v.minor > 0:
            return self.m.minor
        return None if c.patch == v.patch else self.m.zero_major_minor


_CHECKS = {
    "": Comparator._tilde_or_equal,
    "=": Comparator._tilde_or_equal,
    "!=": Comparator._not_equal,
    ">": Comparator._greater,
    "<": Comparator._less,
    ">=": Comparator._greater_equal,
    "=>": Comparator._greater_equal,
    "<=": Comparator._less_equal,
    "=<": Comparator._less_equal,
    "~": Comparator._tilde,
    "~>": Comparator._tilde,
    "^": Comparator._caret,
}


def _compare_prerelease(a: str, b: str) -> int:
    ka = tuple(_pre_part_key(p) for p in a.split(".")) if a else ()
    kb = tuple(_pre_part_key(p) for p in b.split(".")) if b else ()
    return (ka > kb) - (ka < kb)


def parse_comparator(text: str) -> Comparator:
    """Masterminds' internal ``parseConstraint``: one operator and (partial) version.

    The empty string means "any" (``>=0.0.0``); NewConstraint itself never passes it here.
    """
    if text == "":
        return Comparator("", "", Version(0, 0, 0), dirty=True)
    m = _CONSTRAINT_RE.match(text)
    if m is None:
        raise SemverError(f"improper constraint: {text}")
    op, orig = m.group(1), m.group(2)
    major, minor, patch, pre = m.group(3), m.group(4) or "", m.group(5) or "", m.group(6) or ""
    ver, dirty, minor_dirty, patch_dirty = orig, False, False, False
    if _is_x(major) or major == "":
        ver, dirty = f"0.0.0{pre}", True
    elif _is_x(minor[1:]) or minor == "":
        ver, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif _is_x(patch[1:]) or patch == "":
        ver, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    try:
        con = Version.parse(ver)
    except SemverError:
        raise SemverError("constraint parser error") from None
    return Comparator(op, orig, con, dirty, minor_dirty, patch_dirty)


def _rewrite_ranges(text: str) -> str:
    """Hyphen ranges ``1 - 2`` become ``>= 1, <= 2 `` (Masterminds ``rewriteRange``)."""
    out = text
    for m in _RANGE_RE.finditer(text):
        out = out.replace(m.group(0), f">= {m.group(1)}, <= {m.group(11)} ", 1)
    return out


@dataclass(frozen=True)
class Constraints:
    """``NewConstraint``: OR groups of AND-ed comparators."""

    groups: tuple[tuple[Comparator, ...], ...]
    contains_pre: tuple[bool, ...]
    include_prerelease: bool = False

    @classmethod
    def parse(cls, text: str, *, include_prerelease: bool = False) -> Constraints:
        if len(text) > _CONSTRAINT_LENGTH_MAX:
            raise SemverError(f"improper constraint: longer than {_CONSTRAINT_LENGTH_MAX} characters")
        groups: list[tuple[Comparator, ...]] = []
        has_pre: list[bool] = []
        for part in _rewrite_ranges(text).split("||"):
            if not _VALID_RE.match(part):
                raise SemverError(f"improper constraint: {part}")
            found = [m.group(0) for m in _FIND_RE.finditer(part)] or [part]
            comparators = tuple(parse_comparator(s) for s in found)
            groups.append(comparators)
            has_pre.append(any(c.con.pre for c in comparators))
        return cls(tuple(groups), tuple(has_pre), include_prerelease)

    def check(self, v: Version, *, include_prerelease: bool | None = None) -> bool:
        """``Check``. `include_prerelease` overrides the value given at parse time."""
        base = self.include_prerelease if include_prerelease is None else include_prerelease
        return any(
            all(c.failure_template(v, base or pre) is None for c in group)
            for group, pre in zip(self.groups, self.contains_pre, strict=True)
        )

    def first_failure(self, v: Version, *, include_prerelease: bool | None = None) -> str | None:
        """None when `v` matches, else the first message ``Validate`` would give, in one pass."""
        template = self.failure_template(v, include_prerelease)
        return None if template is None else fill(template, v)

    def failure_template(self, v: Version, include_prerelease: bool | None = None) -> str | None:
        """As :meth:`first_failure` with ``{v}`` left unfilled (see :func:`fill`): the check of
        every tag of a registry needs only whether, and which message, not its text."""
        base = self.include_prerelease if include_prerelease is None else include_prerelease
        if len(self.groups) == 1:  # the common case, kept fast
            include = base or self.contains_pre[0]
            for c in self.groups[0]:
                template = c.failure_template(v, include)
                if template is not None:
                    return template
            return None
        first: str | None = None
        for group, pre in zip(self.groups, self.contains_pre, strict=True):
            include = base or pre
            for c in group:
                template = c.failure_template(v, include)
                if template is not None:
                    first = first or template
                    break
            else:
                return None
        return first

    def __str__(self) -> str:
        return " || ".join(" ".join(str(c) for c in group) for group in self.groups)
