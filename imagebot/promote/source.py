"""The promotion's candidate source: the values production's references may move to come from
staging — the value staging runs, tag and digest exactly, never a fresh registry lookup — once the
promotion's gates hold. `PromotionSource` has the shape of the fleet lane's seam
(`imagebot.lanes.CandidateSource`, beside its `RegistrySource`), so a lane (repository + base +
paths + delivery target + candidate source) can use it.

`decide` is a pure function of (pair, facts, now): the gates are table-tested with a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from imagebot.config.promotions import Promotion
from imagebot.deliver.forge.base import CommitStatus
from imagebot.discover.rewrite import new_value
from imagebot.errors import ImagebotError, ReferenceError_
from imagebot.model import Change, FieldKind, Occurrence, Plan, PolicySpec, Problem, Resolution, Target
from imagebot.promote import gates
from imagebot.promote.gates import Hold, Introduced, when
from imagebot.promote.pairing import Pair, Unpaired
from imagebot.reference import TagValue
from imagebot.resolve import TagSource


class History(Protocol):
    def introduced(self, occ: Occurrence, need_before: float) -> Introduced | None:
        """The staging commit that put `occ`'s value there (deepening history until it is known, or
        known to be older than `need_before`); None when no commit has it. Raises ImagebotError."""
        ...


class ChecksReader(Protocol):
    def checks(self, commit: str) -> Sequence[CommitStatus]:
        """The statuses / checks of a staging commit, newest first. Raises ImagebotError."""
        ...


#: Reads one workload from the staging cluster: (kind, namespace, name) -> the object, None when absent.
Workloads = Callable[[str, str, str], "dict | None"]


@dataclass(frozen=True)
class Facts:
    introduced: Introduced | None | ImagebotError
    checks: Sequence[CommitStatus] | ImagebotError | None  # None: not asked (checks: none, or an earlier gate holds)
    #: The staging workload as the cluster has it (healthy: true): the object, None (absent), or why it could not be read.
    live: dict | None | str = None


@dataclass(frozen=True)
class Decision:
    resolution: Resolution
    wake_at: float | None = None  # when a gate holding it opens by itself


def policy_of(promotion: Promotion) -> PolicySpec:
    return PolicySpec(f"promote:{promotion.name}", pin_digest=promotion.pin, source=f"promotions: {promotion.name}",
                      origin="promotion")


def _held(promotion: Promotion, occ: Occurrence, hold: Hold, problem: Problem | None = None) -> Decision:
    return Decision(Resolution(occ, None, f"promotion {promotion.name} held by {hold.gate}: {hold.reason}", problem), hold.until)


def target_of(promotion: Promotion, staging: Occurrence) -> Target | Hold:
    if not staging.tag:
        return Hold("value", f"staging's {staging.subject} has no tag to promote")
    if promotion.pin and not staging.digest:
        return Hold("digest", f"staging runs {staging.tag} without a digest: pin it there (pin-digest: true) or set pin: false")
    return Target(staging.tag, staging.digest if promotion.pin else None)


def _runs_already(promotion: Promotion, target: Target, prod: Occurrence) -> bool:
    return target.tag == prod.tag and (target.digest or None) == (prod.digest if promotion.pin else None)


def decide(promotion: Promotion, pair: Pair, facts: Facts | Callable[[], Facts], now: float) -> Decision:
    """Whether production's reference gets staging's value now, and if not, which gate holds it.
    `facts` may be a function: history and checks are then read only when the cheaper gates hold."""
    stg, prod = pair.staging, replace(pair.production, policy=policy_of(promotion))
    if stg.image != prod.image:
        return _held(promotion, prod, Hold("image", f"staging runs {stg.image}, production {prod.image}"))
    target = target_of(promotion, stg)
    if isinstance(target, Hold):
        return _held(promotion, prod, target)
    if _runs_already(promotion, target, prod):
        return Decision(Resolution(prod, target, f"production runs staging's {stg.tag} already"))
    hold = gates.rollback(stg.tag, prod.tag, promotion.allow_rollback)
    if hold:
        return _held(promotion, prod, hold)
    if callable(facts):
        facts = facts()
    if isinstance(facts.introduced, ImagebotError):
        e = facts.introduced
        return _held(promotion, prod, Hold("history", str(e)), Problem("promotion", str(e), prod.location, prod.subject, e.temporary))
    if facts.introduced is None:
        return _held(promotion, prod, Hold("history", f"no commit on staging introduces {stg.value!r} at {stg.location}"))
    intro = facts.introduced
    hold = gates.soak(intro, promotion.soak_seconds, now)
    if hold:
        return _held(promotion, prod, hold)
    passed: tuple[CommitStatus, ...] = ()
    if promotion.checks == "required":
        if isinstance(facts.checks, ImagebotError):
            e = facts.checks
            return _held(promotion, prod, Hold("checks", f"cannot read the checks of {intro.commit[:12]}: {e}"),
                         Problem("promotion", str(e), prod.location, prod.subject, e.temporary))
        hold = gates.checks(facts.checks or (), intro.commit)
        if hold:
            return _held(promotion, prod, hold)
        passed = gates.latest_checks(facts.checks or ())
    if promotion.healthy:
        if not (stg.workload and stg.container):
            return _held(promotion, prod, Hold("healthy", f"{stg.subject} is not a workload's container: nothing to watch in the cluster"))
        if isinstance(facts.live, str):
            return _held(promotion, prod, Hold("healthy", facts.live))
        hold = gates.healthy(facts.live, stg.workload, namespace_of(promotion, stg), stg.container, stg.tag, stg.digest)
        if hold:
            return _held(promotion, prod, hold)
    hold = gates.window(promotion.windows, now)
    if hold:
        return _held(promotion, prod, hold)
    return Decision(Resolution(prod, target, evidence(promotion, stg, intro, passed)))


def namespace_of(promotion: Promotion, stg: Occurrence) -> str:
    return stg.namespace or promotion.from_.namespace or "default"


def evidence(promotion: Promotion, stg: Occurrence, intro: Introduced, passed: Sequence[CommitStatus]) -> str:
    """What the pull request shows: when it reached staging, how long it soaked, the checks, the digest.
    Stable from cycle to cycle (no "soaked for N minutes"), so a pull request is not edited for nothing."""
    since = ("since " if intro.exact else "since at least ") + when(intro.time)
    checks = ", ".join(f"[{c.context}]({c.target_url})" if c.target_url else c.context for c in passed) or "not required"
    return (f"promoted from {promotion.from_.path or promotion.from_.branch} ({stg.location.file}): on staging {since} "
            f"(commit {intro.commit[:12]}), soaked {promotion.soak} by {when(intro.time + promotion.soak_seconds)}; checks passed: {checks}; "
            f"digest {stg.digest or 'not pinned'}")


@dataclass
class PromotionSource:
    """Candidates from staging: each paired production reference gets what staging runs, once the
    gates hold. The I/O (Git history, forge checks, clock) is behind small interfaces."""

    promotion: Promotion
    pairs: Sequence[Pair]
    unpaired: Sequence[Unpaired]
    history: History
    checks_reader: ChecksReader
    clock: Callable[[], float]
    workloads: Workloads | None = None  # the staging cluster (healthy: true); None outside a cluster
    wake_at: float | None = None
    kind = "promotion"

    def facts(self, pair: Pair, now: float) -> Facts:
        try:
            intro = self.history.introduced(pair.staging, now - self.promotion.soak_seconds)
        except ImagebotError as e:
            return Facts(e, None)
        if intro is None or now < intro.time + self.promotion.soak_seconds:
            return Facts(intro, None)
        checks: Sequence[CommitStatus] | ImagebotError | None = None
        if self.promotion.checks == "required":
            try:
                checks = tuple(self.checks_reader.checks(intro.commit))
            except ImagebotError as e:
                checks = e
        return Facts(intro, checks, self._live(pair) if self.promotion.healthy else None)

    def _live(self, pair: Pair) -> dict | None | str:
        stg = pair.staging
        if not (stg.workload and stg.container):
            return None
        if self.workloads is None:
            return "the agent cannot see the staging cluster (not running in one)"
        kind, _, name = stg.workload.partition("/")
        try:
            return self.workloads(kind, namespace_of(self.promotion, stg), name)
        except Exception as e:  # the cluster's client raises its own errors: the gate says so, the cycle goes on
            return f"cannot read {stg.workload} from the staging cluster: {e}"

    def resolve(self, occurrences: Sequence[Occurrence] = (), registry: TagSource | None = None,
                checkout: Path | None = None) -> tuple[Resolution, ...]:
        """Production's paired references (all of them, or those among `occurrences`); the registry is never asked."""
        now = self.clock()
        wanted = {(o.location, o.document) for o in occurrences} if occurrences else None
        out: list[Resolution] = []
        wakes: list[float] = []
        for p in self.pairs:
            if wanted is not None and (p.production.location, p.production.document) not in wanted:
                continue
            d = decide(self.promotion, p, lambda p=p: self.facts(p, now), now)
            out.append(d.resolution)
            if d.wake_at is not None:
                wakes.append(d.wake_at)
        for u in self.unpaired:  # two staging references claim it: say so rather than guess
            if u.ambiguous and (wanted is None or (u.occurrence.location, u.occurrence.document) in wanted):
                occ = replace(u.occurrence, policy=policy_of(self.promotion))
                out.append(_held(self.promotion, occ, Hold("pairing", u.reason)).resolution)
        self.wake_at = min(wakes) if wakes else None
        return tuple(out)

    def plan(self, resolutions: Sequence[Resolution], problems: Sequence[Problem] = ()) -> Plan:
        """Its plan: as `imagebot.plan.build`, but an unpinned tag field gets `tag@digest` too."""
        return build_plan(resolutions, problems)


def build_plan(resolutions: Sequence[Resolution], problems: Sequence[Problem] = ()) -> Plan:
    """Production's new values: a full reference gets tag@digest, a tag field `tag@digest` unless a digest field
    sits beside it (that one gets the digest), a name field is left as it is."""
    changes: list[Change] = []
    skipped: list[Resolution] = []
    unchanged: list[Resolution] = []
    digest_groups = {r.occurrence.group for r in resolutions if r.occurrence.field is FieldKind.DIGEST and r.occurrence.group}
    for r in resolutions:
        if r.target is None:
            skipped.append(r)
            continue
        try:
            change = _change(r, r.occurrence.group in digest_groups)
        except ReferenceError_ as e:
            p = Problem("reference", str(e), r.occurrence.location, r.occurrence.subject)
            skipped.append(Resolution(r.occurrence, None, p.message, p))
            continue
        (unchanged.append(r) if change is None else changes.append(change))
    return Plan(tuple(changes), tuple(skipped), tuple(unchanged), tuple(problems) + tuple(r.problem for r in skipped if r.problem))


def _ref(image: str, tag: str | None, digest: str | None) -> str:
    return image + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _change(r: Resolution, digest_beside: bool) -> Change | None:
    occ, target = r.occurrence, r.target
    assert target is not None
    if occ.field is FieldKind.IMAGE:
        new = new_value(occ, target.tag, target.digest)
    elif occ.field is FieldKind.TAG:
        new = TagValue.read(occ.value).text(target.tag, None if digest_beside else target.digest)
    elif occ.field is FieldKind.DIGEST and target.digest:
        new = target.digest
    else:
        return None
    if new == occ.value:
        return None
    return Change(occ, occ.value, new, _ref(occ.image, occ.tag, occ.digest), _ref(occ.image, target.tag, target.digest), r.reason)
