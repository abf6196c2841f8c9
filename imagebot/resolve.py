"""resolve: occurrences + a tag source -> one Resolution per occurrence (a target or a skip reason).

Tag lists are fetched once per repository per cycle, however many occurrences use it, and
different repositories are listed concurrently. Trouble with one image (a registry down, a bad
policy) becomes that image's skip reason; it never aborts the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from operator import attrgetter
from typing import Protocol, Self, TypeVar

from imagebot.config.durations import parse_duration
from imagebot.errors import ImagebotError, PolicyError
from imagebot.model import (
    FieldKind,
    Occurrence,
    PolicySpec,
    Problem,
    Resolution,
    Target,
)
from imagebot.decisions import DecisionMemo, policy_key, tags_digest
from imagebot.policy import Choice, Policy, compile_spec
from imagebot.policy.view import TagView

log = logging.getLogger(__name__)
T = TypeVar("T")


class TagListing(Protocol):
    tags: tuple[str, ...]
    stale_age: float | None


class TagSource(Protocol):
    """Where tags and digests come from (imagebot.registry.RegistryClient in production)."""

    def tags(self, image: str) -> TagListing: ...

    def digest(self, image: str, tag: str) -> str: ...

    def missing_platforms(self, image: str, tag: str) -> tuple[str, ...]:
        """The required platforms (config) that `image:tag` does not provide; () when all are there."""
        ...


@dataclass(frozen=True)
class _Listed:
    tags: tuple[str, ...] = ()
    stale_age: float | None = None
    error: ImagebotError | None = None


def resolve(
    occurrences: Sequence[Occurrence], source: TagSource, *, workers: int = 8, now: Callable[[], float] = time.time,
    kept: DecisionMemo | None = None,
) -> tuple[Resolution, ...]:
    """Decide a target for every occurrence. A NAME field shares its image's listing; plan
    leaves it alone unless a named policy points it at another image.

    Registry work is batched: tag lists first (concurrently, once per repository), then the
    policies choose (once per distinct image, policy and current tag); the platform check and
    digest each choice needs start as soon as it is made (concurrently with the decisions still
    to come, once per image and tag).
    """
    candidates = list(occurrences)
    policies: dict[PolicySpec, Policy] = {}
    bad: dict[PolicySpec, PolicyError] = {}
    compiled = _compiled_each((o.policy for o in candidates), policies, bad)  # None: invalid (in `bad`)

    wanted = sorted({o.image for o, p in zip(candidates, compiled, strict=True) if p is not None})
    listings = _list_all(wanted, source, workers)
    chooser = _Chooser(policies, listings, getattr(source, "created", None), now, kept)
    platforms = _Memo(source.missing_platforms, getattr(source, "missing_platforms_known", None))
    digests = _Memo(source.digest)

    # Each decision's registry work (the platform check and digest of the chosen tag, which
    # `_decide` will almost always ask) starts as soon as the decision is made, concurrently
    # with the decisions still to make; `_decide` below then finds the answers in the memos.
    choices: list[Choice | None] = [None] * len(candidates)  # each occurrence's, for `_decide` below
    with _Ahead(workers) as ahead:
        for i, (occ, policy) in enumerate(zip(candidates, compiled, strict=True)):
            if policy is None or listings[occ.image].error is not None:
                continue
            choice = choices[i] = chooser(occ, policy)
            if choice.held or not choice.chosen:
                continue
            if choice.chosen != occ.tag:
                ahead.ask(platforms, occ.image, choice.chosen)
            if _needs_digest(occ, policy):
                ahead.ask(digests, occ.image, choice.chosen)

    if kept is not None:
        kept.save()
    out: list[Resolution] = []
    for occ, policy, made in zip(candidates, compiled, choices, strict=True):
        if policy is None:
            error = bad[occ.policy]
            problem = Problem("policy", str(error), occ.location, occ.subject)
            out.append(Resolution(occ, None, f"invalid policy: {error}", problem))
            continue
        try:
            choose = (lambda o, c=made: c) if made is not None else (lambda o, p=policy: chooser(o, p))
            out.append(_decide(occ, policy, listings[occ.image], choose, digests, platforms))
        except Exception as e:  # isolation: one image's surprise never ends the cycle
            log.exception("resolving %s failed", occ.subject)
            problem = Problem("internal", str(_unexpected(f"resolving {occ.image}", e)), occ.location, occ.subject)
            out.append(Resolution(occ, None, problem.message, problem))
    return tuple(out)


def _unexpected(what: str, e: Exception) -> ImagebotError:
    """An exception nobody foresaw, as an error naming what was being done (a bug: report it)."""
    return ImagebotError(f"{what}: unexpected {type(e).__name__}: {str(e)[:200]} (please report this)", temporary=False)


def _needs_digest(occ: Occurrence, policy: Policy) -> bool:
    """The policy follows digests, or the reference already pins one (a new tag under an old
    digest would be a wrong pin), or the field is a digest."""
    return policy.needs_digest or bool(occ.digest) or occ.field is FieldKind.DIGEST


class _Chooser:
    """policy.choose, once per (policy, image, current tag): many workloads share all three.
    The policy is the compiled one, shared by every declaration of the same policy (see
    `_compiled_each`), wherever it was written. Every decision about an image reads one
    :class:`TagView` of its listing, so what depends on the tags alone is worked out once."""

    def __init__(self, policies: dict[PolicySpec, Policy], listings: dict[str, _Listed], created: Callable | None = None,
                 now: Callable[[], float] = time.time, kept: DecisionMemo | None = None):
        self._policies, self._listings, self._now = policies, listings, now
        self._created = created  # (image, tag) -> build time, for policies that need it (newest-build)
        #: by (id of the compiled policy, image, current tag): a policy's hash reads all its fields,
        #: and the compiled policies live as long as this chooser (`policies`)
        self._memo: dict[tuple[int, str, str | None], Choice] = {}
        self._views: dict[str, TagView] = {}
        self._kept = kept  # decisions of earlier runs, on disk
        self._digests: dict[str, str] = {}
        self._sets: dict[str, frozenset[str]] = {}
        self._keys: dict[int, str | None] = {}  # policy_key by id of the compiled policy

    def __call__(self, occ: Occurrence, policy: Policy | None = None) -> Choice:
        """`policy`: occ.policy compiled, when the caller has it at hand (saves a lookup)."""
        if policy is None:
            policy = self._policies[occ.policy]
        key = (id(policy), occ.image, occ.tag)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._choose(occ, policy)
        return found

    def _choose(self, occ: Occurrence, policy: Policy) -> Choice:
        if self._kept is None or getattr(policy, "needs_created", False):
            return self._decide(occ, policy)
        # one key per compiled policy (declarations that differ only in where they were written share it)
        key = self._keys[id(policy)] if id(policy) in self._keys else self._keys.setdefault(id(policy), policy_key(occ.policy))
        if key is None:  # depends on the clock or on build times: decided every time
            return self._decide(occ, policy)
        listed = self._sets.get(occ.image)
        if listed is None:
            tags = self._listings[occ.image].tags
            listed = self._sets[occ.image] = frozenset(tags)
            self._digests[occ.image] = tags_digest(tags)
        digest = self._digests[occ.image]
        choice = self._kept.get(occ.image, listed, digest, key, occ.tag)
        if choice is None:
            choice = self._decide(occ, policy)
            self._kept.put(occ.image, digest, key, occ.tag, choice)
        return choice

    def _decide(self, occ: Occurrence, policy: Policy) -> Choice:
        tags = self._views.get(occ.image)
        if tags is None:
            tags = self._views[occ.image] = TagView(self._listings[occ.image].tags)
        try:
            if getattr(policy, "needs_created", False) and self._created is not None:
                created, image = self._created, occ.image
                choice = policy.choose(tags, occ.tag, created=lambda tag: created(image, tag))  # type: ignore[call-arg]
            else:
                choice = policy.choose(tags, occ.tag)
        except Exception as e:  # one image's tags broke the policy: its problem, never the cycle's
            log.exception("choosing a tag of %s failed", occ.image)
            choice = Choice(None, f"no decision: {_unexpected('choosing a tag', e)}")
        if occ.policy.min_age:
            choice = old_enough(choice, occ, parse_duration(occ.policy.min_age), self._created, self._now())
        return choice


#: How many candidates to look at (one config blob each) when the best ones are younger than min-age.
MIN_AGE_FALLBACKS = 5


def old_enough(choice: Choice, occ: Occurrence, min_age: float, created: Callable | None, now: float) -> Choice:
    """`min-age`: the best candidate built at least `min_age` seconds ago (the image config's `created`);
    the current tag, held with the reason, while every newer one is younger."""
    if choice.held or choice.chosen is None or choice.chosen == occ.tag:
        return choice
    if created is None:
        return Choice(occ.tag, "held by min-age: this tag source cannot say when images were built", held=True)
    young: list[str] = []
    ranked = [choice.chosen] + [t for t in choice.candidates if t != choice.chosen]
    for tag in ranked[:MIN_AGE_FALLBACKS]:
        if tag == occ.tag:
            break
        try:
            built = created(occ.image, tag)
        except ImagebotError as e:
            young.append(f"build time of {tag} unknown ({e})")
            continue
        if built is None:
            young.append(f"{tag} states no build time")
            continue
        age = now - built.timestamp()
        if age >= min_age:
            return replace(choice, chosen=tag, reason=choice.reason if not young else
                           f"{tag}: newest tag built at least {_span(min_age)} ago ({'; '.join(young)})")
        until = datetime.fromtimestamp(built.timestamp() + min_age, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        young.append(f"{tag} was built {_span(age)} ago, min-age {_span(min_age)}: not before {until}")
    return Choice(occ.tag, "held by min-age: " + "; ".join(young), held=True)


def _span(seconds: float) -> str:
    s = max(0, int(seconds))
    return "".join(f"{n}{u}" for n, u in ((s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")) if n) or "0s"


#: The fields that make a policy's meaning: those its equality compares, but where it was declared.
_MEANING = tuple(f.name for f in fields(PolicySpec) if f.compare and f.name != "source")


_meaning = attrgetter(*_MEANING)  # `replace(spec, source="")`, cheaper


def _compiled_each(specs: Iterable[PolicySpec], good: dict[PolicySpec, Policy],
                   bad: dict[PolicySpec, PolicyError]) -> list[Policy | None]:
    """Each spec's compiled policy (None: invalid, its error in `bad`), filling `good` and `bad`.
    Specs that differ only in `source` (where they were declared: every workload's annotation has
    its own) share one compiled policy, so their decisions are shared too; an invalid one is
    compiled per source, for its message. A spec object that several occurrences share (a config
    rule's, a store row's) is looked at once (by identity: a spec's hash reads all its fields)."""
    by_meaning: dict[tuple, Policy] = {}
    by_id: dict[int, Policy | None] = {}
    keep: list[PolicySpec] = []  # the specs by_id names stay alive, so no id is reused meanwhile
    out: list[Policy | None] = []
    for spec in specs:
        found = by_id.get(id(spec), _UNSEEN)
        if found is _UNSEEN:
            found = by_id[id(spec)] = _compile_one(spec, good, bad, by_meaning)
            keep.append(spec)
        out.append(found)  # type: ignore[arg-type]
    return out


_UNSEEN = object()


def _compile_one(spec: PolicySpec, good: dict[PolicySpec, Policy], bad: dict[PolicySpec, PolicyError],
                 by_meaning: dict[tuple, Policy]) -> Policy | None:
    meaning = _meaning(spec)
    found = by_meaning.get(meaning)
    if found is not None:  # compiled already (its min-age too is valid): one hash of the meaning, not five of the spec
        good[spec] = found
        return found
    if spec in good:
        return good[spec]
    if spec in bad:
        return None
    if spec.min_age:
        try:
            parse_duration(spec.min_age)
        except ValueError as e:
            bad[spec] = PolicyError(f"min-age: {e}" + (f" ({spec.source})" if spec.source else ""))
            return None
    try:
        good[spec] = by_meaning[meaning] = compile_spec(spec)
    except PolicyError as e:
        bad[spec] = e
        return None
    return good[spec]


def _list_all(images: Sequence[str], source: TagSource, workers: int) -> dict[str, _Listed]:
    def one(image: str) -> _Listed:
        try:
            listing = source.tags(image)
            return _Listed(tuple(listing.tags), listing.stale_age)
        except ImagebotError as e:
            log.warning("cannot list tags of %s: %s", image, e)
            return _Listed(error=e)
        except Exception as e:  # a bug or an input nobody foresaw: this image's problem, not the cycle's
            log.exception("listing tags of %s failed", image)
            return _Listed(error=_unexpected(f"listing tags of {image}", e))

    if len(images) <= 1 or workers <= 1:
        return {image: one(image) for image in images}
    with ThreadPoolExecutor(max_workers=min(workers, len(images)), thread_name_prefix="resolve") as pool:
        return dict(zip(images, pool.map(one, images)))


class _Memo:
    """A registry call made once per (image, tag) per cycle; its result or its error is kept.
    `known(image, tag)`: the answer when the source has it without a request, else None."""

    def __init__(self, fn: Callable[[str, str], T], known: Callable[[str, str], T | None] | None = None):
        self._fn, self._known = fn, known
        self._memo: dict[tuple[str, str], T | ImagebotError] = {}
        self._lock = threading.Lock()

    def answered(self, image: str, tag: str) -> bool:
        """True when the answer for (image, tag) is kept, or the source knows it without a
        request (it is then kept): nothing to ask ahead."""
        key = (image, tag)
        with self._lock:
            if key in self._memo:
                return True
        if self._known is None:
            return False
        try:
            value = self._known(image, tag)
        except Exception:  # a shortcut only: the call itself asks, and reports its trouble for this image
            log.debug("%s of %s:%s without a request failed", getattr(self._known, "__name__", "lookup"),
                      image, tag, exc_info=True)
            return False
        if value is None:
            return False
        with self._lock:
            self._memo.setdefault(key, value)
        return True

    def __call__(self, image: str, tag: str) -> T:
        key = (image, tag)
        if not self.answered(image, tag):
            try:
                value: T | ImagebotError = self._fn(image, tag)
            except ImagebotError as e:
                value = e
            except Exception as e:  # a bug or an input nobody foresaw: this image's problem only
                log.exception("%s of %s:%s failed", getattr(self._fn, "__name__", "lookup"), image, tag)
                value = _unexpected(f"{getattr(self._fn, '__name__', 'lookup')} of {image}:{tag}", e)
            with self._lock:
                self._memo.setdefault(key, value)
        value = self._memo[key]
        if isinstance(value, ImagebotError):
            raise value
        return value


class _Ahead:
    """Registry lookups started ahead of need, on a pool, each (memo, image, tag) once; leaving
    the `with` block waits for all of them (the memo is then complete: a later call for the
    same key never repeats the request). Errors stay in the memo for the decision that needs it."""

    def __init__(self, workers: int):
        self._workers = workers
        self._asked: set[tuple[int, str, str]] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []

    def ask(self, memo: _Memo, image: str, tag: str) -> None:
        key = (id(memo), image, tag)
        if key in self._asked:
            return
        self._asked.add(key)
        if memo.answered(image, tag):  # e.g. platforms remembered by digest: no request, no thread
            return
        if self._workers <= 1:
            _quietly(memo, image, tag)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="resolve")
        self._futures.append(self._pool.submit(_quietly, memo, image, tag))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)
            for future in self._futures:
                if not future.cancelled():
                    future.result()  # _quietly raises nothing but a bug of its own: surface it


def _quietly(memo: _Memo, image: str, tag: str) -> None:
    try:
        memo(image, tag)
    except ImagebotError:
        pass  # kept in the memo; the decision that needs it reports it


def _decide(
    occ: Occurrence,
    policy: Policy,
    listed: _Listed,
    choose: Callable[[Occurrence], Choice],
    digest_of: Callable[[str, str], str],
    platforms_of: Callable[[str, str], tuple[str, ...]],
) -> Resolution:
    if listed.error is not None:
        e = listed.error
        problem = Problem("registry", str(e), occ.location, f"{occ.subject} ({occ.image})", temporary=e.temporary)
        return Resolution(occ, None, f"registry: {e}", problem)
    if occ.field is FieldKind.DIGEST and not occ.tag:
        problem = Problem("policy", "a digest field needs a tag to follow (no tag field or tag in the reference)", occ.location, occ.subject)
        return Resolution(occ, None, problem.message, problem)

    choice = choose(occ)
    if choice.chosen is None or choice.held:  # held: the current tag could not be ordered; keep all
        return Resolution(occ, None, choice.reason, stale_age=listed.stale_age)
    chosen, reason = choice.chosen, choice.reason
    if chosen != occ.tag:
        try:
            chosen, reason = _covering_platforms(occ, choice, platforms_of)
        except ImagebotError as e:
            problem = Problem("registry", f"platforms of {occ.image}:{chosen}: {e}", occ.location, occ.subject, temporary=e.temporary)
            return Resolution(occ, None, problem.message, problem, listed.stale_age)
        if chosen is None:
            return Resolution(occ, None, reason, stale_age=listed.stale_age)
    if listed.stale_age is not None and occ.tag and chosen != occ.tag and chosen not in listed.tags:
        # Defensive: a cached list must never move an image to a tag it does not contain.
        return Resolution(occ, None, "stale tag list does not contain the chosen tag", stale_age=listed.stale_age)

    # A digest is needed when the policy follows digests, or the reference already pins one
    # (changing the tag under an old digest would leave a wrong pin).
    digest = None
    if chosen == occ.tag and occ.digest and chosen not in listed.tags:
        # The deployed tag was deleted from the registry and nothing newer qualifies: keep its
        # pin as written; there is no tag left to look the digest up by.
        digest = occ.digest
    elif policy.needs_digest or occ.digest or occ.field is FieldKind.DIGEST:
        try:
            digest = digest_of(occ.image, chosen)
        except ImagebotError as e:  # the registry's message names "digest of image:tag"
            problem = Problem("registry", str(e), occ.location, occ.subject, temporary=e.temporary)
            return Resolution(occ, None, problem.message, problem, listed.stale_age)
    return Resolution(occ, Target(chosen, digest), reason, stale_age=listed.stale_age)


#: How many candidates to try when the best one lacks a required platform (one manifest GET each).
PLATFORM_FALLBACKS = 5


def _covering_platforms(
    occ: Occurrence, choice: Choice, platforms_of: Callable[[str, str], tuple[str, ...]]
) -> tuple[str | None, str]:
    """The best candidate newer than the current tag that provides every required platform.

    A tag built for fewer platforms than the workload runs on would break the rollout, so it is
    passed over for the next best; the current tag stays when none of the first few qualify.
    """
    lacking: list[str] = []
    ranked = [choice.chosen] + [t for t in choice.candidates if t != choice.chosen]
    for tag in ranked[:PLATFORM_FALLBACKS]:
        if tag == occ.tag:
            break
        missing = platforms_of(occ.image, tag)
        if not missing:
            if not lacking:
                return tag, choice.reason
            return tag, f"{tag}: newest tag with every required platform ({'; '.join(lacking)})"
        lacking.append(f"{tag} lacks {', '.join(missing)}")
    why = "; ".join(lacking) or "no candidate"
    if occ.tag:
        return occ.tag, f"kept {occ.tag}: newer tags lack required platforms ({why})"
    return None, f"no tag provides every required platform ({why})"
