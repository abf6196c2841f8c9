"""The update policies: compile a PolicySpec once, then choose among tags as often as needed.

Every policy is pure (no I/O, no clock except the regex time budget) and follows the same steps:

1. drop duplicates, cosign artefacts (``*.sig``, ``*.att``, ``*.sbom``) and ``exclude`` matches;
2. keep tags matching ``tag-filter``; with ``extract`` the policy ranks the extracted text;
3. rank what is left (semver / relative / alphabetical / numerical), best first;
4. never go below the current tag: when nothing newer qualifies, the current tag is the answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from imagebot.errors import PolicyError
from imagebot.model import PolicySpec
from imagebot.policy.choice import Choice, Rejected
from imagebot.policy.filters import COSIGN_SUFFIXES, Deadline, Template, compile_pattern, shown
from imagebot.policy.semver import Constraints, SemverError, Version, parse_version
from imagebot.policy.tags import DockerTag, not_a_version

_COSIGN_SUFFIXES = COSIGN_SUFFIXES
_COSIGN_REJECTION = ("cosign artefacts", "cosign signature/attestation/SBOM tag (always excluded)")
#: What Go's strconv.ParseFloat reads in tags that are numbers (no hex floats, inf or nan).
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_KINDS = "semver:<constraint>, major, minor, patch, alphabetical[:asc|desc], numerical[:asc|desc] or digest"


@dataclass
class _Tally:
    """Rejections, with a category each for the one-line summary."""

    rejected: list[Rejected] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    #: Each tag's position in the input, to report rejections in the registry's order.
    order: dict[str, int] = field(default_factory=dict)

    def add(self, tag: str, category: str, reason: str) -> None:
        self.rejected.append(Rejected(tag, reason))
        self.categories.append(category)

    def in_order(self) -> tuple[Rejected, ...]:
        rejected = self.rejected
        ranks = [self.order.get(r.tag, 0) for r in rejected]
        positions = sorted(range(len(ranks)), key=ranks.__getitem__)  # a few sorted runs: linear
        return tuple(rejected[i] for i in positions)

    def summary(self) -> str:
        if not self.categories:
            return ""
        parts = ", ".join(f"{n} {what}" for what, n in Counter(self.categories).most_common())
        return f"{len(self.rejected)} rejected ({parts})"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


class _Policy:
    """Shared filtering, current-tag handling and the final decision."""

    def __init__(self, spec: PolicySpec, label: str):
        self.spec = spec
        self.needs_digest = spec.pin_digest
        self.label = label
        src = spec.source
        self._filter = compile_pattern(spec.tag_filter, "tag-filter", src) if spec.tag_filter is not None else None
        self._exclude = compile_pattern(spec.exclude, "exclude", src) if spec.exclude else None
        self._template: Template | None = None
        if spec.extract:
            if self._filter is None:
                raise PolicyError(f"extract {spec.extract!r} needs a tag-filter with groups to extract from" + _at(src))
            self._template = Template.compile(spec.extract, self._filter, src)

    # -- step 1 and 2 ------------------------------------------------------------------------
    def _value(self, tag: str, deadline: Deadline) -> str | tuple[str, str]:
        """The text to rank for `tag`, or (category, reason) when the tag is filtered out."""
        if tag.endswith(_COSIGN_SUFFIXES):
            return _COSIGN_REJECTION
        if self._exclude is not None:
            m = deadline.search(self._exclude, tag)
            if isinstance(m, TimeoutError):
                return ("timed out", f"exclude: {m}")
            if m is not None:
                return ("excluded", f"matches exclude {shown(self._exclude.pattern)}")
        if self._filter is None:
            return tag
        m = deadline.search(self._filter, tag)
        if isinstance(m, TimeoutError):
            return ("timed out", f"tag-filter: {m}")
        if m is None:
            return ("not matching tag-filter", f"does not match tag-filter {shown(self._filter.pattern)}")
        return self._template.expand(m) if self._template is not None else tag

    def choose(self, tags: Iterable[str], current: str | None) -> Choice:
        deadline = Deadline()
        tally = _Tally()
        kept: list[tuple[str, str]] = []
        order = tally.order  # also the set of tags seen: a tag listed twice is one tag
        plain = self._filter is None and self._exclude is None
        for tag in tags:
            if tag in order:
                continue
            order[tag] = len(order)
            if plain and not tag.endswith(_COSIGN_SUFFIXES):  # the common case, kept fast
                kept.append((tag, tag))
                continue
            value = self._value(tag, deadline)
            if isinstance(value, tuple):
                tally.add(tag, *value)
            else:
                kept.append((tag, value))
        current_value = None
        note = ""
        if current is not None:
            value = self._value(current, Deadline())
            if isinstance(value, tuple):
                note = f"current tag {current!r} is filtered out ({value[1]}), so it is not compared"
            else:
                current_value = value
        return self._decide(kept, current, current_value, tally, note)

    def _decide(
        self, kept: list[tuple[str, str]], current: str | None, current_value: str | None, tally: _Tally, note: str
    ) -> Choice:
        raise NotImplementedError

    # -- step 4 --------------------------------------------------------------------------------
    def _result(
        self,
        ranked: Sequence[str],
        tally: _Tally,
        current: str | None,
        current_ranked: bool,
        newer: bool,
        note: str = "",
    ) -> Choice:
        """`ranked`: qualifying tags best first; `newer`: whether ranked[0] beats the current tag.

        `current_ranked` says whether the current tag could be compared at all.
        """
        candidates = tuple(ranked)
        rejected = tally.in_order()
        summary = tally.summary()
        n = len(candidates)
        if current is not None and current_ranked and not newer:
            if n == 0 or candidates == (current,):
                why = f"nothing newer than {current} is allowed by {self.label}"
            else:
                why = f"{current} is already the newest of {n} tag(s) allowed by {self.label}"
            return Choice(current, _join(why, summary, note), candidates, rejected)
        if not candidates:
            why = f"no tag is allowed by {self.label}" + ("" if rejected else " (no tags to choose from)")
            if current is not None:
                # The current tag cannot be compared (not a version, filtered out): keep it.
                return Choice(current, _join(why, summary, note, f"keeping {current}"), candidates, rejected)
            return Choice(None, _join(why, summary, note), candidates, rejected)
        best = candidates[0]
        versus = f", newer than {current}" if current is not None and current_ranked else ""
        why = f"{best}: best of {n} tag(s) allowed by {self.label}{versus}"
        return Choice(best, _join(why, summary, note), candidates, rejected)


def _at(source: str) -> str:
    return f" ({source})" if source else ""


class SemverPolicy(_Policy):
    """``semver:<constraint>`` (Masterminds) and the relative ``major``/``minor``/``patch``.

    Without a current version tag: Masterminds exactly (lenient versions, constraint, its
    prerelease rule, highest wins, ties keep the registry's order). With one: Docker tag
    semantics (variant must match, precision kept, prerelease tracks, never downgrade, ties
    keep the current style).
    """

    def __init__(self, spec: PolicySpec, constraints: Constraints | None, relative: str | None):
        super().__init__(spec, spec.policy)
        self.constraints = constraints
        self.relative = relative  # "major" | "minor" | "patch" | None

    def _decide(
        self, kept: list[tuple[str, str]], current: str | None, current_value: str | None, tally: _Tally, note: str
    ) -> Choice:
        cur = DockerTag.parse(current_value) if current_value is not None else None
        if cur is None:
            if current_value is not None:
                why = not_a_version(current_value) or "is not a version"
                note = _join(note, f"current tag {current!r} {why.removeprefix(repr(current_value) + ' ')}")
            if self.relative is not None:
                why = f"policy {self.relative!r} moves relative to the current version tag"
                why += ", and there is none" if current is None else ""
                for tag, _ in kept:
                    tally.add(tag, "no current version", f"no current version tag for policy {self.relative!r} to move from")
                return Choice(None, _join(why, note), (), tally.in_order())
            return self._masterminds(kept, current, tally, note)
        return self._docker(kept, current, cur, tally, note)

    def _masterminds(self, kept: list[tuple[str, str]], current: str | None, tally: _Tally, note: str) -> Choice:
        assert self.constraints is not None
        good: list[tuple[Version, str]] = []
        include = self.spec.prerelease
        first_failure = self.constraints.first_failure
        for tag, value in kept:
            v = parse_version(value)
            if v.__class__ is str:
                tally.add(tag, "not versions", not_a_version(value) or f"not a semantic version ({v})")
                continue
            failure = first_failure(v, include_prerelease=include)  # type: ignore[arg-type]
            if failure is None:
                good.append((v, tag))  # type: ignore[arg-type]
                continue
            category = "prereleases" if v.pre and "prerelease version" in failure else "outside range"
            tally.add(tag, category, failure)
        good.sort(key=lambda item: item[0].key, reverse=True)
        return self._result([t for _, t in good], tally, current, False, True, note)

    def _docker(
        self, kept: list[tuple[str, str]], current: str | None, cur: DockerTag, tally: _Tally, note: str
    ) -> Choice:
        assert current is not None
        cur_key = cur.key
        good: list[tuple[tuple, bool, str]] = []
        for tag, value in kept:
            d = DockerTag.parse(value)
            if d is None:
                tally.add(tag, "not versions", not_a_version(value) or "not a version tag ([v]1-4 numbers[-suffix])")
                continue
            if d.variant != cur.variant:
                tally.add(
                    tag, "other variants", f"variant {d.variant or '(none)'!r} differs from the current {cur.variant or '(none)'!r}"
                )
                continue
            if d.precision != cur.precision:
                tally.add(
                    tag,
                    "other precision",
                    f"{d.precision}-part version; the current tag {current} has {cur.precision} part(s)",
                )
                continue
            key = d.key
            if key < cur_key:  # checked before the range: cheaper, and the more useful reason
                tally.add(tag, "older", f"older than the current tag {current} (never downgrade)")
                continue
            in_track = bool(cur.prerelease) and d.numbers == cur.numbers
            reason = self._outside(d, cur, self.spec.prerelease or in_track)
            if reason is not None:
                tally.add(tag, reason[0], reason[1])
                continue
            good.append((key, d.v_prefix == cur.v_prefix, tag))
        good.sort(key=lambda item: (item[0], item[1]), reverse=True)
        ranked = [t for _, _, t in good]
        newer = bool(good) and good[0][0] > cur_key
        if not newer and current in ranked:  # the current tag stands for its equals (`v1.3.0` == `1.3.0`)
            ranked.remove(current)
            ranked.insert(0, current)
        return self._result(ranked, tally, current, True, newer, note)

    def _outside(self, d: DockerTag, cur: DockerTag, include_pre: bool) -> tuple[str, str] | None:
        """(category, reason) when the policy's range excludes `d`, else None."""
        if self.constraints is not None:
            v = d.semver()
            failure = self.constraints.first_failure(v, include_prerelease=include_pre)
            if failure is None:
                return None
            if "prerelease version" in failure:
                return ("prereleases", f"prerelease of another version than the current {cur.tag} (set prerelease to allow)")
            return ("outside range", failure.replace(f'"{v}"', d.tag, 1))
        if d.prerelease and not include_pre:
            return ("prereleases", f"prerelease of another version than the current {cur.tag} (set prerelease to allow)")
        if self.relative == "minor" and d.numbers[0] != cur.numbers[0]:
            limit = cur.semver().next_major()
            return ("outside range", f"{d.tag} is not below {limit} (policy minor keeps major {cur.numbers[0]})")
        if self.relative == "patch" and d.numbers[:2] != cur.numbers[:2]:
            limit = cur.semver().next_minor()
            want = ".".join(map(str, cur.numbers[:2]))
            return ("outside range", f"{d.tag} is not below {limit} (policy patch keeps {want})")
        return None


class OrderPolicy(_Policy):
    """``alphabetical`` and ``numerical``: the greatest text or number (or least with ``desc``)."""

    def __init__(self, spec: PolicySpec, kind: str, descending: bool):
        super().__init__(spec, spec.policy)
        self.kind = kind
        self.descending = descending

    def _key(self, value: str) -> str | float | None:
        if self.kind == "alphabetical":
            return value
        return float(value) if _NUMBER_RE.fullmatch(value) else None

    def _decide(
        self, kept: list[tuple[str, str]], current: str | None, current_value: str | None, tally: _Tally, note: str
    ) -> Choice:
        cur_key = self._key(current_value) if current_value is not None else None
        if current_value is not None and cur_key is None:
            note = _join(note, f"current tag {current!r} is not a number, so it is not compared")
        sign = -1 if self.descending else 1
        good: list[tuple[str | float, str]] = []
        for tag, value in kept:
            key = self._key(value)
            if key is None:
                tally.add(tag, "not numbers", f"{value!r} is not a number")
                continue
            if cur_key is not None and _better(cur_key, key, self.descending):
                tally.add(tag, "older", f"sorts before the current tag {current} (never downgrade)")
                continue
            good.append((key, tag))
        if self.kind == "numerical":
            good.sort(key=lambda item: sign * item[0], reverse=True)  # type: ignore[operator]
        else:
            good.sort(key=lambda item: item[0], reverse=not self.descending)
        ranked = [t for _, t in good]
        newer = bool(good) and (cur_key is None or _better(good[0][0], cur_key, self.descending))
        if not newer and current in ranked:
            ranked.remove(current)
            ranked.insert(0, current)
        return self._result(ranked, tally, current, cur_key is not None, newer, note)


def _better(a: str | float, b: str | float, descending: bool) -> bool:
    return a < b if descending else a > b  # type: ignore[operator]


class DigestPolicy(_Policy):
    """``digest``: keep the current tag and follow the digest it points to."""

    def __init__(self, spec: PolicySpec):
        super().__init__(spec, spec.policy)
        self.needs_digest = True

    def choose(self, tags: Iterable[str], current: str | None) -> Choice:
        listed = list(dict.fromkeys(tags))
        if current is None:
            why = "the digest policy follows the current tag's digest, and there is no current tag"
            return Choice(None, why, (), tuple(Rejected(t, "no current tag to follow") for t in listed))
        others = tuple(Rejected(t, f"the digest policy keeps the current tag {current}") for t in listed if t != current)
        if current not in listed:
            return Choice(None, f"the current tag {current} is not in the registry any more", (), others)
        return Choice(current, f"{current}: following the digest it points to (policy digest)", (current,), others)


def compile_spec(spec: PolicySpec) -> SemverPolicy | OrderPolicy | DigestPolicy:
    """Compile a policy once; raises PolicyError pointing at the bad part (policy, regex, template)."""
    text = spec.policy.strip()
    kind, colon, arg = text.partition(":")
    kind = kind.strip().lower()
    where = _at(spec.source)
    if not text:
        raise PolicyError(f"empty policy: expected {_KINDS}{where}")
    if kind == "semver":
        if not arg.strip():
            raise PolicyError(f"policy {spec.policy!r}: a constraint is needed after 'semver:', e.g. semver:^1.2{where}")
        try:
            constraints = Constraints.parse(arg, include_prerelease=spec.prerelease)
        except SemverError as e:
            raise PolicyError(f"policy {spec.policy!r}: invalid semver constraint {arg!r}: {e}{where}") from None
        return SemverPolicy(spec, constraints, None)
    if kind in ("major", "minor", "patch"):
        if colon:
            raise PolicyError(f"policy {spec.policy!r}: {kind!r} takes no argument (found {arg!r}){where}")
        return SemverPolicy(spec, None, kind)
    if kind in ("alphabetical", "numerical"):
        order = arg.strip().lower() if colon else "asc"
        if order not in ("asc", "desc"):
            raise PolicyError(f"policy {spec.policy!r}: invalid order {arg!r}, expected asc or desc{where}")
        return OrderPolicy(spec, kind, order == "desc")
    if kind == "digest":
        if colon:
            raise PolicyError(f"policy {spec.policy!r}: 'digest' takes no argument (found {arg!r}){where}")
        if spec.tag_filter is not None or spec.extract:
            raise PolicyError(f"policy 'digest' keeps the current tag; tag-filter and extract do not apply{where}")
        return DigestPolicy(spec)
    raise PolicyError(f"unknown policy {spec.policy!r}: expected {_KINDS}{where}")
