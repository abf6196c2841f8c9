"""Promotion gates as a table: pairs + facts + a fake clock -> held (with the gate) or promoted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imagebot.config.cron import parse_cron
from imagebot.config.promotions import Promotion, Window
from imagebot.errors import DeliveryError
from imagebot.model import FieldKind, Location, Occurrence, PolicySpec
from imagebot.promote import gates
from imagebot.deliver.forge.base import CommitStatus
from imagebot.promote.gates import Introduced
from imagebot.promote.pairing import Pair, pair
from imagebot.promote.source import Facts, PromotionSource, build_plan, decide

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
IMG = "127.0.0.1:5000/app"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC).timestamp()  # a Monday, 10:00 UTC


def occ(file: str, value: str, *, tag: str | None, digest: str | None, workload: str = "Deployment/web", ns: str = "",
        field: FieldKind = FieldKind.IMAGE, image: str = IMG) -> Occurrence:
    return Occurrence(Location(file, 7, 16), 0, field, value, image, tag, digest, PolicySpec(""), "web", form="container",
                      workload=workload, namespace=ns, container="app", path="spec.template.spec.containers[0].image")


STG = occ("overlays/staging/web.yaml", f"{IMG}:1.2.0@{D2}", tag="1.2.0", digest=D2)
PROD = occ("overlays/production/web.yaml", f"{IMG}:1.1.0@{D1}", tag="1.1.0", digest=D1)


def promotion(**kw: object) -> Promotion:
    base = {"name": "production", "from": {"path": "overlays/staging"}, "to": {"path": "overlays/production"}, "soak": "1h"}
    return Promotion.model_validate({**base, **kw})


def check(context: str, state: str, url: str = "") -> CommitStatus:
    """A status as the forge adapters return it (the gates read those, nothing restated)."""
    return CommitStatus("a" * 40, context, state, "", url)  # type: ignore[arg-type]


GREEN = (check("ci/test", "success", "https://ci/1"),)
INTRO = Introduced("a" * 40, T0 - 2 * 3600)


@pytest.mark.parametrize(
    ("kw", "staging", "facts", "now", "gate"),
    [
        ({}, STG, Facts(INTRO, GREEN), T0, None),
        ({}, STG, Facts(Introduced("a" * 40, T0 - 600), GREEN), T0, "soak"),
        ({}, STG, Facts(INTRO, (check("ci/test", "failure", "https://ci/2"),)), T0, "checks"),
        ({}, STG, Facts(INTRO, (check("ci/test", "pending"),)), T0, "checks"),
        ({}, STG, Facts(INTRO, ()), T0, "checks"),
        ({}, STG, Facts(INTRO, DeliveryError("GitHub down", temporary=True)), T0, "checks"),
        ({"checks": "none"}, STG, Facts(INTRO, None), T0, None),
        # newest state per context wins (forges list newest first)
        ({}, STG, Facts(INTRO, (check("ci/test", "success"), check("ci/test", "failure"))), T0, None),
        ({"windows": [{"cron": "* 9-16 * * mon-fri", "timezone": "Europe/Berlin"}]}, STG, Facts(INTRO, GREEN), T0, None),
        ({"windows": [{"cron": "* 12-16 * * mon-fri", "timezone": "Europe/Berlin"}]}, STG, Facts(INTRO, GREEN), T0, "window"),
        ({"windows": [{"blackout": "2026-11-28..2026-12-01"}]}, STG, Facts(INTRO, GREEN), T0, "window"),
        ({}, occ("overlays/staging/web.yaml", f"{IMG}:1.0.0@{D2}", tag="1.0.0", digest=D2), Facts(INTRO, GREEN), T0, "rollback"),
        ({"allow-rollback": True}, occ("overlays/staging/web.yaml", f"{IMG}:1.0.0@{D2}", tag="1.0.0", digest=D2),
         Facts(INTRO, GREEN), T0, None),
        ({}, occ("overlays/staging/web.yaml", f"{IMG}:1.2.0", tag="1.2.0", digest=None), Facts(INTRO, GREEN), T0, "digest"),
        ({"pin": False}, occ("overlays/staging/web.yaml", f"{IMG}:1.2.0", tag="1.2.0", digest=None), Facts(INTRO, GREEN), T0, None),
        ({}, STG, Facts(None, None), T0, "history"),
    ],
)
def test_gates(kw: dict, staging: Occurrence, facts: Facts, now: float, gate: str | None) -> None:
    d = decide(promotion(**kw), Pair(staging, PROD, "Deployment/web container app"), facts, now)
    if gate is None:
        assert d.resolution.target is not None, d.resolution.reason
        assert d.resolution.target.tag == staging.tag and d.resolution.target.digest == (staging.digest if kw.get("pin", True) else None)
    else:
        assert d.resolution.target is None
        assert f"held by {gate}:" in d.resolution.reason


def test_soak_and_window_say_until_when_and_wake() -> None:
    d = decide(promotion(), Pair(STG, PROD, "x"), Facts(Introduced("a" * 40, T0 - 600), GREEN), T0)
    assert d.wake_at == T0 - 600 + 3600 and "until 2026-11-30 10:50:00Z" in d.resolution.reason
    d = decide(promotion(windows=[{"cron": "* 12-16 * * mon-fri", "timezone": "Europe/Berlin"}]), Pair(STG, PROD, "x"),
               Facts(INTRO, GREEN), T0)
    assert d.wake_at == datetime(2026, 11, 30, 11, 0, tzinfo=UTC).timestamp()  # 12:00 in Berlin (CET)
    assert "next opening 2026-11-30 11:00:00Z" in d.resolution.reason


def test_checks_failed_reason_has_link_and_evidence_lists_passed() -> None:
    d = decide(promotion(), Pair(STG, PROD, "x"), Facts(INTRO, (check("ci/e2e", "failure", "https://ci/9"),)), T0)
    assert "ci/e2e failure (https://ci/9)" in d.resolution.reason
    d = decide(promotion(), Pair(STG, PROD, "x"), Facts(INTRO, GREEN), T0)
    assert "[ci/test](https://ci/1)" in d.resolution.reason and D2 in d.resolution.reason and "soaked 1h by 2026-11-30 09:00:00Z" in d.resolution.reason


def test_already_promoted_is_unchanged() -> None:
    done = occ("overlays/production/web.yaml", STG.value, tag="1.2.0", digest=D2)
    d = decide(promotion(), Pair(STG, done, "x"), Facts(None, None), T0)
    plan = build_plan([d.resolution])
    assert not plan.changes and len(plan.unchanged) == 1


def test_plan_pins_full_reference_and_tag_field() -> None:
    d = decide(promotion(), Pair(STG, PROD, "x"), Facts(INTRO, GREEN), T0)
    (change,) = build_plan([d.resolution]).changes
    assert change.new == f"{IMG}:1.2.0@{D2}" and change.file == "overlays/production/web.yaml"
    tag = occ("overlays/production/kustomization.yaml", "1.1.0", tag="1.1.0", digest=None, workload="", field=FieldKind.TAG)
    d = decide(promotion(), Pair(STG, tag, "x"), Facts(INTRO, GREEN), T0)
    assert build_plan([d.resolution]).changes[0].new == f"1.2.0@{D2}"


class _History:
    def __init__(self, intro: Introduced | None):
        self.intro, self.asked = intro, 0

    def introduced(self, occ: Occurrence, need_before: float) -> Introduced | None:
        self.asked += 1
        return self.intro


class _Checks:
    def __init__(self, checks: tuple[CommitStatus, ...]):
        self.result, self.asked = checks, []

    def checks(self, commit: str) -> tuple[CommitStatus, ...]:
        self.asked.append(commit)
        return self.result


def test_source_with_fake_clock_holds_then_promotes() -> None:
    now = [T0]
    hist, chk = _History(Introduced("b" * 40, T0)), _Checks(GREEN)
    src = PromotionSource(promotion(), [Pair(STG, PROD, "x")], [], hist, chk, lambda: now[0])
    (r,) = src.resolve()
    assert r.target is None and "held by soak" in r.reason and src.wake_at == T0 + 3600
    assert chk.asked == []  # checks are not read while soaking
    now[0] = T0 + 3600
    (r,) = src.resolve()
    assert r.target is not None and chk.asked == ["b" * 40] and src.wake_at is None


def test_pairing_by_workload_namespace_fallback_and_paths() -> None:
    stg = occ("overlays/staging/web.yaml", "x", tag="1", digest=None, ns="staging")
    prod = occ("overlays/production/web.yaml", "y", tag="1", digest=None, ns="production")
    pairs, unpaired = pair([stg], "overlays/staging", [prod], "overlays/production")
    assert [p.staging for p in pairs] == [stg] and not unpaired
    other = occ("overlays/production/web.yaml", "y", tag="1", digest=None, workload="Deployment/api")
    pairs, unpaired = pair([stg], "overlays/staging", [other], "overlays/production")
    assert not pairs and unpaired[0].reason == "no staging reference for this workload"
    # non-workload references pair by file (relative to the environment) + path in the document, or a path map
    v1 = occ("envs/staging/values.yaml", "1", tag="1", digest=None, workload="", field=FieldKind.TAG)
    v2 = occ("envs/prod/values-prod.yaml", "1", tag="1", digest=None, workload="", field=FieldKind.TAG)
    assert not pair([v1], "envs/staging", [v2], "envs/prod")[0]
    assert pair([v1], "envs/staging", [v2], "envs/prod", {"values.yaml": "values-prod.yaml"})[0]
    # two staging references for one production reference: ambiguous, said so
    twin = occ("overlays/staging/web2.yaml", "x", tag="1", digest=None, ns="staging")
    _, unpaired = pair([stg, twin], "overlays/staging", [prod], "overlays/production")
    assert unpaired[0].ambiguous and "pair them with `paths:`" in unpaired[0].reason


@pytest.mark.parametrize(
    ("expr", "when", "inside"),
    [
        ("* 9-16 * * mon-fri", datetime(2026, 11, 30, 9, 0), True),
        ("* 9-16 * * mon-fri", datetime(2026, 11, 30, 17, 0), False),
        ("* 9-16 * * mon-fri", datetime(2026, 11, 29, 10, 0), False),  # Sunday
        ("*/15 * * * *", datetime(2026, 11, 29, 10, 30), True),
        ("*/15 * * * *", datetime(2026, 11, 29, 10, 31), False),
        ("* * 1 * sun", datetime(2026, 11, 29, 1, 0), True),  # both day fields restricted: either
        ("* * * dec 0", datetime(2026, 12, 6, 3, 3), True),
    ],
)
def test_cron(expr: str, when: datetime, inside: bool) -> None:
    assert parse_cron(expr).matches(when) is inside


@pytest.mark.parametrize("bad", ["* * *", "61 * * * *", "* 9-25 * * *", "* * * * funday", "*/0 * * * *"])
def test_cron_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cron(bad)


def test_window_validation() -> None:
    with pytest.raises(ValueError):
        Window(cron="* * * * *", timezone="Mars/Olympus")
    with pytest.raises(ValueError):
        Window(blackout="2026-12-24..2026-12-01")
    # blackout days are read in the window's time zone: 10:00 UTC on Nov 30 is already Dec 1 in Kiritimati (UTC+14)
    assert gates.window([Window(blackout="2026-12-01", timezone="Pacific/Kiritimati")], T0) is not None
    assert gates.window([Window(blackout="2026-12-01")], T0) is None


def test_an_opened_promotion_pull_request_is_a_promotion_proposed_notice() -> None:
    from imagebot.model import CycleResult, Delivery, Discovery, PullRequestAction, PullRequestOutcome, Rendered
    from imagebot.notify.derive import delivery_notices
    from imagebot.notify.notices import Kind

    d = decide(promotion(), Pair(STG, PROD, "x"), Facts(INTRO, GREEN), T0)
    plan = build_plan([d.resolution])
    url = "https://github.com/acme/gitops/pull/7"
    outcome = PullRequestOutcome(url, "imagebot-promote-production/app", PullRequestAction.OPENED, plan.changes, "c" * 40, 7)
    result = CycleResult(Discovery(()), (d.resolution,), plan, Rendered(()), Delivery("pull-request", outcomes=(outcome,)),
                         (), 0.0, 0.1)
    (n,) = delivery_notices(result, "https://github.com/acme/gitops.git", T0)
    assert n.kind is Kind.PROMOTION_PROPOSED and n.title.startswith("Promotion proposed: app 1.1.0@sha256:111") and n.links == (("pull request", url),)


class _NoRegistry:
    def __getattr__(self, name: str):
        raise AssertionError(f"a promotion asked the registry ({name})")


def test_both_sources_fit_one_seam() -> None:
    from dataclasses import replace as with_

    from pathlib import Path

    from imagebot.lanes import CandidateSource, RegistrySource
    from tests.support.memory_tags import InMemoryTags, made_up_digest

    sources: list[CandidateSource] = [RegistrySource(), PromotionSource(promotion(), [Pair(STG, PROD, "x")], [], _History(INTRO),
                                                                        _Checks(GREEN), lambda: T0)]
    managed = with_(PROD, policy=PolicySpec("semver:^1", pin_digest=True))
    (by_registry,) = sources[0].resolve([managed], InMemoryTags({IMG: ["1.1.0", "1.3.0"]}), Path("."))
    assert by_registry.target is not None and by_registry.target.tag == "1.3.0" and by_registry.target.digest == made_up_digest(IMG, "1.3.0")
    (promoted,) = sources[1].resolve([PROD], _NoRegistry(), Path("."))  # staging's value, never a registry lookup
    assert promoted.target is not None and (promoted.target.tag, promoted.target.digest) == ("1.2.0", D2)
    assert {s.kind for s in sources} == {"registries", "promotion"}


def test_a_held_promotion_is_told_once_per_gate_and_is_no_alert() -> None:
    from imagebot.model import CycleResult, Discovery, Plan, Rendered
    from imagebot.notify.derive import Tracker
    from imagebot.notify.notices import Kind

    def cycle(facts: Facts) -> CycleResult:
        d = decide(promotion(), Pair(STG, PROD, "x"), facts, T0)
        return CycleResult(Discovery(()), (d.resolution,), build_plan([d.resolution]), Rendered(()), None, (), 0.0, 0.1)

    t = Tracker()
    soaking = cycle(Facts(Introduced("a" * 40, T0 - 600), GREEN))
    (n,) = t.holds(soaking, "https://git.example/gitops.git")
    assert n.kind is Kind.PROMOTION_HELD and "held by soak" in n.title
    assert t.holds(cycle(Facts(Introduced("a" * 40, T0 - 900), GREEN)), "") == []  # still soaking: no news
    assert t.firing() == []
    (n,) = t.holds(cycle(Facts(INTRO, (check("ci/test", "failure"),))), "")  # another gate: news
    assert "held by checks" in n.title
    assert t.holds(CycleResult(Discovery(()), (), Plan(()), Rendered(()), None, (), 0.0, 0.1), "") == []
    assert t.open == {}  # promoted: forgotten


def test_a_lane_s_cycle_neither_forgets_nor_shares_another_lane_s_held_promotion() -> None:
    from dataclasses import replace

    from imagebot.model import CycleResult, Discovery, Plan, Rendered
    from imagebot.notify.derive import Tracker

    d = decide(promotion(), Pair(STG, PROD, "x"), Facts(Introduced("a" * 40, T0 - 600), GREEN), T0)
    soaking = CycleResult(Discovery(()), (d.resolution,), build_plan([d.resolution]), Rendered(()), None, (), 0.0, 0.1)
    t = Tracker()
    assert len(t.holds(replace(soaking, lane="apps"), "https://git/apps")) == 1
    assert len(t.holds(replace(soaking, lane="ops"), "https://git/ops")) == 1  # the same file:line in another repository
    nothing = CycleResult(Discovery(()), (), Plan(()), Rendered(()), None, (), 0.0, 0.1, lane="ops")
    assert t.holds(nothing, "https://git/ops") == []  # ops promoted ...
    assert t.holds(replace(soaking, lane="apps"), "https://git/apps") == []  # ... apps' hold is still known: no news


def test_history_and_checks_are_read_only_when_the_cheaper_gates_hold() -> None:
    done = occ("overlays/production/web.yaml", STG.value, tag="1.2.0", digest=D2)
    newer = occ("overlays/production/web.yaml", f"{IMG}:1.3.0@{D1}", tag="1.3.0", digest=D1)
    for production, expect in ((done, "already"), (newer, "held by rollback")):
        hist, chk = _History(INTRO), _Checks(GREEN)
        (r,) = PromotionSource(promotion(), [Pair(STG, production, "x")], [], hist, chk, lambda: T0).resolve()
        assert expect in r.reason and hist.asked == 0 and chk.asked == []


@pytest.mark.parametrize(
    ("workload", "live", "digest", "held"),
    [
        ("Deployment/web", {"metadata": {"generation": 2}, "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "app", "image": f"{IMG}:1.2.0@{D2}"}]}}}, "status": {"observedGeneration": 1, "updatedReplicas": 1,
                                                                         "availableReplicas": 1}}, D2, "generation 1/2 observed"),
        ("DaemonSet/agent", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{IMG}:1.2.0"}]}}},
                             "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}}, None, None),
        ("DaemonSet/agent", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{IMG}:1.1.0"}]}}},
                             "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}}, None, "not staging's 1.2.0"),
        ("CronJob/report", {}, None, "Deployments, StatefulSets and DaemonSets only"),
        ("StatefulSet/db", {"spec": {"template": {"spec": {"containers": [{"name": "other", "image": "x"}]}}}}, None, "no container app"),
    ],
)
def test_healthy_gate(workload: str, live: dict, digest: str | None, held: str | None) -> None:
    hold = gates.healthy(live, workload, "staging", "app", "1.2.0", digest)
    assert (hold is None) if held is None else (hold is not None and held in hold.reason)
