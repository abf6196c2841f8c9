"""The update policies: compile a PolicySpec once, then choose among tags as often as needed.

Every policy is pure (no I/O, no clock except the regex time budget) and follows the same steps:

1. drop duplicates, cosign artefacts (``*.sig``, ``*.att``, ``*.sbom``) and ``exclude`` matches;
2. keep tags matching ``tag-filter``; with ``extract`` the policy ranks the extracted text;
3. rank what is left (semver / relative / alphabetical / numerical), best first;
4. never go below the current tag: when nothing newer qualifies, the current tag is the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from operator import itemgetter

from imagebot.errors import PolicyError
from imagebot.model import PolicySpec
from imagebot.policy.choice import Choice, Rejected, Rejections
from imagebot.policy.filters import (
    COSIGN_SUFFIXES,
    EXCLUDED,
    UNMATCHED,
    Deadline,
    Template,
    compile_pattern,
    memo,
    shown,
)
from imagebot.policy.semver import (
    PRERELEASE_FAILURE,
    Constraints,
    SemverError,
    parse_version,
)
from imagebot.policy.tags import DockerTag, not_a_version
from imagebot.policy.view import DockerIndex, TagView

_COSIGN = "cosign artefacts"
_COSIGN_REASON = "cosign signature/attestation/SBOM tag (always excluded)"
#: What Go's strconv.ParseFloat reads in tags that are numbers (no hex floats, inf or nan).
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
#: Verdicts of the relative policies ``minor`` and ``patch`` on a tag outside their range.
_OTHER_MAJOR = "another major version"
_OTHER_MINOR = "another minor version"
_KINDS = "semver:<constraint>, major, minor, patch, alphabetical[:asc|desc], numerical[:asc|desc], newest-build or digest"


def _always(reason: str) -> Callable[[str], str]:
    return lambda _value: reason


class _Tally:
    """The rejected tags of one decision, by category (the one-line summary counts them).

    A category is a list of tags (or a function that lists them, with their count) and a
    function that writes the reason for one of them from the text that was ranked. Reasons,
    and the lists given as functions, are written only when someone reads ``Choice.rejected``
    (see :class:`Rejections`): a decision over 100,000 tags needs the counts.
    """

    def __init__(self, listed: Sequence[str]):
        self.listed = listed  # every distinct tag, in the registry's order
        self.values: dict[str, str] = {}  # tag -> the text ranked, where it differs (extract)
        self._buckets: list[tuple[str, Sequence[str] | Callable[[], Sequence[str]], int | None, Callable[[str], str]]] = []

    def bucket(self, category: str, why: Callable[[str], str]) -> list[str]:
        """A list to append rejected tags to; `why(value)` writes the reason for one of them."""
        tags: list[str] = []
        self._buckets.append((category, tags, None, why))
        return tags

    def add(self, category: str, tags: Sequence[str], why: Callable[[str], str]) -> None:
        """Rejected `tags` (never changed afterwards); `why(value)` writes the reason for one."""
        self._buckets.append((category, tags, None, why))

    def add_later(self, category: str, count: int, tags: Callable[[], Sequence[str]], why: Callable[[str], str]) -> None:
        """`count` rejected tags, listed by `tags()` only when the reasons are read."""
        self._buckets.append((category, tags, count, why))

    def _counts(self) -> list[tuple[str, int]]:
        return [(category, len(tags) if count is None else count)  # type: ignore[arg-type]
                for category, tags, count, _ in self._buckets]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for category, n in self._counts():
            if n:
                counts[category] = counts.get(category, 0) + n
        if not counts:
            return ""
        # most first; equal counts in the order the categories came (as Counter.most_common)
        parts = ", ".join(f"{n} {what}" for what, n in sorted(counts.items(), key=itemgetter(1), reverse=True))
        return f"{sum(counts.values())} rejected ({parts})"

    def rejections(self) -> Rejections:
        return Rejections(sum(n for _, n in self._counts()), self._write)

    def _write(self) -> list[Rejected]:
        position = {tag: i for i, tag in enumerate(self.listed)}
        values = self.values
        found = [(position.get(tag, 0), tag, why) for _, tags, count, why in self._buckets
                 for tag in (tags if count is None else tags())]  # type: ignore[operator,union-attr]
        found.sort(key=itemgetter(0))
        return [Rejected(tag, why(values.get(tag, tag))) for _, tag, why in found]


class _SortedOut:
    """Steps 1 and 2 over one tag list (each tuple in the registry's order): the tags kept and,
    in step, the text each is ranked by; the cosign artefacts, the excluded, the unmatched and
    the timed out (tag -> message). Never changed once made: a :class:`TagView` shares it."""

    __slots__ = ("_asked", "_docker", "_judged", "cosign", "excluded", "kept", "timeouts", "unmatched", "values")

    def __init__(self, cosign: tuple[str, ...], kept: tuple[str, ...], values: tuple[str, ...],
                 excluded: tuple[str, ...] = (), unmatched: tuple[str, ...] = (), timeouts: dict[str, str] | None = None):
        self.cosign, self.kept, self.values = cosign, kept, values
        self.excluded, self.unmatched, self.timeouts = excluded, unmatched, timeouts or {}
        self._docker: DockerIndex | None = None
        self._asked = 0
        self._judged: dict[tuple, _Judged] = {}

    def values_of(self) -> dict[str, str]:
        return dict(zip(self.kept, self.values, strict=True))

    def docker(self) -> DockerIndex | None:
        """The Docker-tag readings of the ranked texts, indexed, from the second decision against
        a current version tag on: one decision alone is cheaper without (a single pass)."""
        index = self._docker
        if index is None:
            self._asked += 1
            if self._asked < 2:
                return None
            index = self._docker = DockerIndex(self.kept, self.values)
        return index

    def judged(self, key: tuple, make: Callable[[], _Judged]) -> _Judged:
        """A policy's verdicts on one group of :meth:`docker` (`key` names policy and group)."""
        found = self._judged.get(key)
        if found is None:
            found = self._judged.setdefault(key, make())
        return found


class _Judged:
    """One policy's verdict on each tag of a listing (None: in its range, else why not), made when
    a decision first needs it and kept for the other decisions about the listing that share the
    policy's range (see _SortedOut.judged). `judged(position, reading)`."""

    __slots__ = ("_known", "_verdict")

    def __init__(self, verdict: Callable[[DockerTag], str | None]):
        self._verdict = verdict
        self._known: dict[int, str | None] = {}

    def __call__(self, position: int, d: DockerTag) -> str | None:
        known = self._known
        if position in known:
            return known[position]
        verdict = known[position] = self._verdict(d)
        return verdict


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
        self._excluded = f"matches exclude {shown(self._exclude.pattern)}" if self._exclude is not None else ""
        self._patterns = (spec.tag_filter, spec.exclude, spec.extract)
        self._memo = memo(*self._patterns)
        self._unmatched = f"does not match tag-filter {shown(self._filter.pattern)}" if self._filter is not None else ""

    # -- step 1 and 2 ------------------------------------------------------------------------
    def choose(self, tags: Iterable[str], current: str | None) -> Choice:
        """`tags`: a list, or a :class:`TagView` shared with other decisions about the image
        (what depends on the list alone is then worked out once); the answer is the same."""
        view = TagView.of(tags)
        step = self._sorted_out(view)
        tally = _Tally(view.listed)
        self._tell(step, tally)
        current_value, note = self._reading(current) if current is not None else (None, "")
        choice = self._decide(step, current, current_value, tally, note)
        if step.timeouts or (current is not None and current_value is None and self._timed_out(current)):
            return replace(choice, timed_out=True)
        return choice

    def _timed_out(self, current: str) -> bool:
        """The current tag's reading ran out of time (a timeout is never remembered as an outcome)."""
        return not current.endswith(COSIGN_SUFFIXES) and current not in self._memo

    def _sorted_out(self, view: TagView) -> _SortedOut:
        """Steps 1 and 2 over `view`, shared by every policy with these patterns (unless a
        pattern ran out of time: that is tried again next time)."""
        known = view.known(self._patterns)
        if known is not None:
            return known  # type: ignore[return-value]
        if self._filter is None and self._exclude is None:  # the common case, kept fast
            step = _SortedOut(view.cosign, view.plain, view.plain)
        else:
            step = self._sort_out(view.listed, Deadline())
        return step if step.timeouts else view.keep(self._patterns, step)

    def _tell(self, step: _SortedOut, tally: _Tally) -> None:
        """The tags steps 1 and 2 rejected, into `tally`."""
        tally.add(_COSIGN, step.cosign, _always(_COSIGN_REASON))
        if step.excluded:
            tally.add("excluded", step.excluded, _always(self._excluded))
        if step.unmatched:
            tally.add("not matching tag-filter", step.unmatched, _always(self._unmatched))
        if step.timeouts:
            tally.add("timed out", tuple(step.timeouts), step.timeouts.__getitem__)  # rejected: the value is the tag
        if self._template is not None:
            tally.values = step.values_of()

    def _filtered(self, listed: list[str], tally: _Tally, deadline: Deadline) -> tuple[list[str], list[str]]:
        """Steps 1 and 2: the tags kept and, in step, the text each is ranked by (the tag, or
        what ``extract`` made of it); the others go to `tally`."""
        step = self._sort_out(listed, deadline)
        self._tell(step, tally)
        return list(step.kept), list(step.values)

    def _reading(self, current: str) -> tuple[str | None, str]:
        """The text the current tag is ranked by, or None and a note saying why it is not compared."""
        if current.endswith(COSIGN_SUFFIXES):
            reason = _COSIGN_REASON
        else:
            known = self._memo.get(current)
            if known is None:
                known = self._outcome(current, Deadline().search)
                if known.__class__ is not TimeoutError:
                    self._memo[current] = known  # type: ignore[assignment]
            if known.__class__ is str:
                return known, ""  # type: ignore[return-value]
            reason = self._excluded if known is EXCLUDED else self._unmatched if known is UNMATCHED else str(known)
        return None, f"current tag {current!r} is filtered out ({reason}), so it is not compared"

    def _sort_out(self, listed: Sequence[str], deadline: Deadline) -> _SortedOut:
        """Steps 1 and 2 over `listed`: what each tag's outcome under the patterns is."""
        search = deadline.search
        cosign: list[str] = []
        excluded: list[str] = []
        unmatched: list[str] = []
        timeouts: dict[str, str] = {}
        kept: list[str] = []
        values: list[str] = []
        memo = self._memo
        for tag in listed:
            if tag.endswith(COSIGN_SUFFIXES):
                cosign.append(tag)
                continue
            known = memo.get(tag)
            if known is None:
                known = self._outcome(tag, search)
                if known.__class__ is TimeoutError:
                    timeouts[tag] = str(known)
                    continue
                memo[tag] = known  # type: ignore[assignment]
            if known.__class__ is str:
                kept.append(tag)
                values.append(known)  # type: ignore[arg-type]
            elif known is EXCLUDED:
                excluded.append(tag)
            else:
                unmatched.append(tag)
        return _SortedOut(tuple(cosign), tuple(kept), tuple(values), tuple(excluded), tuple(unmatched), timeouts)

    def _outcome(self, tag: str, search: Callable[..., object]) -> str | tuple[str] | TimeoutError:
        """What the patterns make of `tag`: the text to rank, EXCLUDED, UNMATCHED or a timeout."""
        if self._exclude is not None:
            m = search(self._exclude, tag)
            if m.__class__ is TimeoutError:
                return TimeoutError(f"exclude: {m}")
            if m is not None:
                return EXCLUDED
        if self._filter is None:
            return tag
        m = search(self._filter, tag)
        if m is None:
            return UNMATCHED
        if m.__class__ is TimeoutError:
            return TimeoutError(f"tag-filter: {m}")
        return self._template.expand(m) if self._template is not None else tag  # type: ignore[arg-type]

    def _decide(
        self,
        step: _SortedOut,
        current: str | None,
        current_value: str | None,
        tally: _Tally,
        note: str,
    ) -> Choice:
        """Step 3: rank `step.values` (the text of each tag of `step.kept`, in step) and decide."""
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
        rejected = tally.rejections()
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
                # The current tag cannot be compared (filtered out) and nothing else qualifies:
                # hold it as written (a pin too: following its digest is the digest policy's job).
                return Choice(current, _join(why, summary, note, f"keeping {current}"), candidates, rejected, held=True)
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

    The loops below run once per tag of a registry (100,000 is not rare), so they only sort
    tags into lists; each category's reason is written on demand by the function beside it.
    """

    def __init__(self, spec: PolicySpec, constraints: Constraints | None, relative: str | None):
        super().__init__(spec, spec.policy)
        self.constraints = constraints
        self.relative = relative  # "major" | "minor" | "patch" | None

    def _decide(
        self,
        step: _SortedOut,
        current: str | None,
        current_value: str | None,
        tally: _Tally,
        note: str,
    ) -> Choice:
        cur = DockerTag.parse(current_value) if current_value is not None else None
        if cur is None:
            if current_value is not None:
                assert current is not None
                why = not_a_version(current_value) or "is not a version"
                return _hold(step.kept, tally, current, f"{why.removeprefix(repr(current_value) + ' ')}", note)
            if self.relative is not None:
                why = f"policy {self.relative!r} moves relative to the current version tag"
                why += ", and there is none" if current is None else ""
                reason = f"no current version tag for policy {self.relative!r} to move from"
                tally.add("no current version", step.kept, _always(reason))
                return Choice(None, _join(why, note), (), tally.rejections())
            # No current tag, or one the user's tag-filter / exclude rules out (their explicit
            # way off a moving tag): Masterminds, never below a current tag that is a version.
            floor = DockerTag.parse(current) if current is not None and self._template is None else None
            return self._masterminds(step.kept, step.values, current, tally, note, floor)
        return self._docker(step, current, cur, tally, note)

    def _masterminds(
        self, kept: Sequence[str], values: Sequence[str], current: str | None, tally: _Tally, note: str,
        floor: DockerTag | None,
    ) -> Choice:
        constraints = self.constraints
        assert constraints is not None
        include = self.spec.prerelease
        floor_key = floor.semver().key if floor is not None else None
        parse = DockerTag.parse

        def not_semver(value: str) -> str:
            return not_a_version(value) or f"not a semantic version ({parse_version(value)})"

        def failure(value: str) -> str:
            return str(constraints.first_failure(parse_version(value), include_prerelease=include))  # type: ignore[arg-type]

        not_versions = tally.bucket("not versions", not_semver)
        prereleases = tally.bucket("prereleases", failure)
        outside = tally.bucket("outside range", failure)
        older = tally.bucket("older", _always(f"older than the current tag {current} (never downgrade)"))
        failure_template = constraints.failure_template
        good: list[tuple[tuple, str]] = []
        for tag, value in zip(kept, values):
            v = parse_version(value)
            if v.__class__ is str:
                not_versions.append(tag)
                continue
            if floor_key is not None and (d := parse(value)) is not None and d.semver().key < floor_key:
                older.append(tag)
                continue
            template = failure_template(v, include)  # type: ignore[arg-type]
            if template is None:
                good.append((v.key, tag))  # type: ignore[union-attr]
            elif template is PRERELEASE_FAILURE:
                prereleases.append(tag)
            else:
                outside.append(tag)
        good.sort(key=itemgetter(0), reverse=True)  # stable: ties keep the registry's order
        return self._result([t for _, t in good], tally, current, False, True, note)

    def _docker(self, step: _SortedOut, current: str | None, cur: DockerTag, tally: _Tally, note: str) -> Choice:
        """Against a current version tag. Only the tags of its variant and precision that are
        not older than it are judged one by one (the list's index is shared by every decision
        about the list, and so are the verdicts of one range); the other categories are
        counted, and their tags listed only when the reasons are read."""
        assert current is not None
        parse = DockerTag.parse
        cur_key, cur_numbers, variant, precision = cur.key, cur.numbers, cur.variant, len(cur.numbers)
        on_track = bool(cur.prerelease)  # a current prerelease may move along its own track
        include = self.spec.prerelease
        outside_of = self._outside

        def other_variant(value: str) -> str:
            found = parse(value).variant  # type: ignore[union-attr]
            return f"variant {found or '(none)'!r} differs from the current {variant or '(none)'!r}"

        def other_precision(value: str) -> str:
            found = len(parse(value).numbers)  # type: ignore[union-attr]
            return f"{found}-part version; the current tag {current} has {precision} part(s)"

        def outside_reason(value: str) -> str:
            d = parse(value)
            assert d is not None
            return self._outside_reason(d, cur, include or (on_track and d.numbers == cur_numbers))

        older_reason = _always(f"older than the current tag {current} (never downgrade)")
        reasons = (_not_version_reason, other_variant, other_precision, older_reason, outside_reason)
        index = step.docker()
        if index is None:
            return self._docker_once(step, current, cur, tally, note, reasons)
        parsed, same_variant = index.parsed, index.variants.get(variant, 0)
        group = index.group(variant, precision)
        not_older = group.not_older(cur_key)
        tally.add("not versions", index.not_versions, _not_version_reason)
        tally.add_later("other variants", len(parsed) - same_variant,
                        lambda: [t for _, t, d in parsed if d.variant != variant], other_variant)
        tally.add_later("other precision", same_variant - len(group),
                        lambda: [t for _, t, d in parsed if d.variant == variant and len(d.numbers) != precision],
                        other_precision)
        # Older is checked before the range: cheaper, and the more useful reason.
        tally.add_later("older", len(group) - len(not_older), lambda: [t for _, t, d in group.entries if d.key < cur_key],
                        older_reason)
        prereleases = tally.bucket("prereleases", outside_reason)
        outside = tally.bucket("outside range", outside_reason)
        if on_track and not include:  # the range depends on each tag's numbers: judged for this decision
            judged: Callable[[int, DockerTag], str | None] = (
                lambda _, d: outside_of(d, cur_numbers, d.numbers == cur_numbers))
        else:  # the same range for every current tag of this shape: verdicts shared by the listing's decisions
            around = cur_numbers[:1] if self.relative == "minor" else cur_numbers[:2] if self.relative == "patch" else ()
            judged = step.judged((self, include, around), lambda: _Judged(lambda d: outside_of(d, cur_numbers, include)))
        good: list[tuple[tuple, bool, int, str]] = []
        v_prefix = cur.v_prefix
        for position, tag, d in not_older:
            verdict = judged(position, d)
            if verdict is None:
                good.append((d.key, d.v_prefix == v_prefix, -position, tag))
            elif verdict is PRERELEASE_FAILURE:
                prereleases.append(tag)
            else:
                outside.append(tag)
        good.sort(key=itemgetter(0, 1, 2), reverse=True)  # ties keep the registry's order
        return self._ranked(current, [t for _, _, _, t in good], bool(good) and good[0][0] > cur_key, tally, note)

    def _docker_once(
        self, step: _SortedOut, current: str, cur: DockerTag, tally: _Tally, note: str,
        reasons: tuple[Callable[[str], str], ...],
    ) -> Choice:
        """:meth:`_docker` in a single pass over the tags, without an index: cheaper for the only
        decision about a list (a plain list of tags, or the first one about a listing)."""
        parse = DockerTag.parse
        not_version, other_variant, other_precision, older_reason, outside_reason = reasons
        cur_key, cur_numbers, variant, precision = cur.key, cur.numbers, cur.variant, len(cur.numbers)
        on_track = bool(cur.prerelease)
        include = self.spec.prerelease
        outside_of = self._outside
        not_versions = tally.bucket("not versions", not_version)
        other_variants = tally.bucket("other variants", other_variant)
        other_precisions = tally.bucket("other precision", other_precision)
        older = tally.bucket("older", older_reason)
        prereleases = tally.bucket("prereleases", outside_reason)
        outside = tally.bucket("outside range", outside_reason)
        good: list[tuple[tuple, bool, str]] = []
        for tag, value in zip(step.kept, step.values, strict=True):
            d = parse(value)
            if d is None:
                not_versions.append(tag)
            elif d.variant != variant:
                other_variants.append(tag)
            elif len(d.numbers) != precision:
                other_precisions.append(tag)
            elif d.key < cur_key:
                older.append(tag)
            else:
                verdict = outside_of(d, cur_numbers, include or (on_track and d.numbers == cur_numbers))
                if verdict is None:
                    good.append((d.key, d.v_prefix == cur.v_prefix, tag))
                elif verdict is PRERELEASE_FAILURE:
                    prereleases.append(tag)
                else:
                    outside.append(tag)
        good.sort(key=itemgetter(0, 1), reverse=True)  # stable: ties keep the registry's order
        return self._ranked(current, [t for _, _, t in good], bool(good) and good[0][0] > cur_key, tally, note)

    def _ranked(self, current: str, ranked: list[str], newer: bool, tally: _Tally, note: str) -> Choice:
        if not newer and current in ranked:  # the current tag stands for its equals (`v1.3.0` == `1.3.0`)
            ranked.remove(current)
            ranked.insert(0, current)
        return self._result(ranked, tally, current, True, newer, note)

    def _outside(self, d: DockerTag, cur_numbers: tuple[int, ...], include_pre: bool) -> str | None:
        """None when the policy's range allows `d`, else why not: a constraint's failure
        template (:data:`PRERELEASE_FAILURE` among them) or one of the relative policies'
        verdicts; :meth:`_outside_reason` writes it out."""
        if self.constraints is not None:
            return self.constraints.failure_template(d.semver(), include_prerelease=include_pre)
        if d.prerelease and not include_pre:
            return PRERELEASE_FAILURE
        if self.relative == "minor" and d.numbers[0] != cur_numbers[0]:
            return _OTHER_MAJOR
        if self.relative == "patch" and d.numbers[:2] != cur_numbers[:2]:
            return _OTHER_MINOR
        return None

    def _outside_reason(self, d: DockerTag, cur: DockerTag, include_pre: bool) -> str:
        """The reason for a tag :meth:`_outside` rejected, in words."""
        verdict = self._outside(d, cur.numbers, include_pre)
        if verdict is PRERELEASE_FAILURE:
            return f"prerelease of another version than the current {cur.tag} (set prerelease to allow)"
        if verdict is _OTHER_MAJOR:
            return f"{d.tag} is not below {cur.semver().next_major()} (policy minor keeps major {cur.numbers[0]})"
        if verdict is _OTHER_MINOR:
            want = ".".join(map(str, cur.numbers[:2]))
            return f"{d.tag} is not below {cur.semver().next_minor()} (policy patch keeps {want})"
        assert verdict is not None
        return verdict.replace('"{v}"', d.tag, 1)


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
        self,
        step: _SortedOut,
        current: str | None,
        current_value: str | None,
        tally: _Tally,
        note: str,
    ) -> Choice:
        cur_key = self._key(current_value) if current_value is not None else None
        if current_value is not None and cur_key is None:
            assert current is not None
            return _hold(step.kept, tally, current, "is not a number", note)
        descending = self.descending
        not_numbers = tally.bucket("not numbers", lambda value: f"{value!r} is not a number")
        older = tally.bucket("older", _always(f"sorts before the current tag {current} (never downgrade)"))
        good: list[tuple[str | float, str]] = []
        for tag, value in zip(step.kept, step.values):
            key = self._key(value)
            if key is None:
                not_numbers.append(tag)
            elif cur_key is not None and _better(cur_key, key, descending):
                older.append(tag)
            else:
                good.append((key, tag))
        if self.kind == "numerical":
            sign = -1 if descending else 1
            good.sort(key=lambda item: sign * item[0], reverse=True)  # type: ignore[operator]
        else:
            good.sort(key=itemgetter(0), reverse=not descending)
        ranked = [t for _, t in good]
        newer = bool(good) and (cur_key is None or _better(good[0][0], cur_key, descending))
        if not newer and current in ranked:
            ranked.remove(current)
            ranked.insert(0, current)
        return self._result(ranked, tally, current, cur_key is not None, newer, note)


def _not_version_reason(value: str) -> str:
    return not_a_version(value) or "not a version tag ([v]1-8 numbers[prerelease][-suffix])"


def _hold(kept: Sequence[str], tally: _Tally, current: str, why: str, note: str) -> Choice:
    """The current tag cannot be ordered against the candidates: keep it, say why, change
    nothing. Never a choice made as if there were no current tag — that could go down."""
    reason = f"the current tag {current} {why}, so it cannot be ordered against the tags: kept {current}"
    hint = f"to follow the digest {current} points to, use policy digest; to leave it, a tag-filter it does not match"
    tally.add("not comparable", kept, _always(f"cannot be ordered against the current tag {current}"))
    return Choice(current, _join(reason, tally.summary(), note, hint), (), tally.rejections(), held=True)


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
            return Choice(None, why, (), _all_rejected(listed, "no current tag to follow"))
        others = [t for t in listed if t != current]
        rejected = _all_rejected(others, f"the digest policy keeps the current tag {current}")
        if current not in listed:
            return Choice(None, f"the current tag {current} is not in the registry any more", (), rejected)
        return Choice(current, f"{current}: following the digest it points to (policy digest)", (current,), rejected)


def _all_rejected(tags: list[str], reason: str) -> Rejections:
    return Rejections(len(tags), lambda: [Rejected(t, reason) for t in tags])


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
    if kind == "newest-build" and not colon:  # registered here; lives in its own module
        from imagebot.policy.newest_build import NewestBuildPolicy
        return NewestBuildPolicy(spec)  # type: ignore[return-value]
    raise PolicyError(f"unknown policy {spec.policy!r}: expected {_KINDS}{where}")
