"""Notifications without a network: notices from cycle values, deduplication, filters, and each
service's payload checked against a JSON schema written from that service's documentation
(tests/support/notify_schemas/*.json cite their sources)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from imagebot.config.notifications import EVENT_KINDS, NotificationTarget
from imagebot.model import (
    Change, CycleResult, Delivery, Discovery, FieldKind, FileEdit, Landed, Location, Occurrence, Plan, PolicySpec,
    Problem, PullRequestAction, PullRequestOutcome, Rendered,
)
from imagebot.notify.derive import DriftFinding, Tracker, delivery_notices, public_url, updates
from imagebot.notify.notices import Kind, Notice, Severity, Update
from imagebot.notify.services import RENDERERS, discord, slack, webhook
from imagebot.notify.services.text import lines
from imagebot.notify.targets import Target, build
from tests.support.notify_payloads import validate

def occ(file: str = "apps/web.yaml", line: int = 7, image: str = "ghcr.io/org/web") -> Occurrence:
    return Occurrence(Location(file, line, 14), 0, FieldKind.IMAGE, f"{image}:1.4.2", image, "1.4.2", None,
                      PolicySpec("semver:^1"), "Deployment/web container web")


def change(file: str = "apps/web.yaml", line: int = 7, image: str = "ghcr.io/org/web", new: str = "1.5.0") -> Change:
    o = occ(file, line, image)
    return Change(o, f"{image}:1.4.2", f"{image}:{new}", f"{image}:1.4.2", f"{image}:{new}", "newest in ^1")


def result(*, changes=(), problems=(), delivery=None, images=None, dry_run=False, occurrences=()) -> CycleResult:
    edits = tuple(FileEdit(c.file, b"", b"", (c,)) for c in changes)
    return CycleResult(Discovery(tuple(occurrences)), (), Plan(tuple(changes)), Rendered(edits), delivery,
                       tuple(problems), 0.0, 0.1, dry_run=dry_run, images=images)


def target(type_: str = "webhook", **kw) -> Target:
    s = NotificationTarget(type=type_, url="http://127.0.0.1:9/hook", **kw)
    return Target(f"{type_}-0", s, s.url or "", kw.get("secret"))


def test_config_kinds_are_the_notice_kinds() -> None:
    assert tuple(k.value for k in Kind) == EVENT_KINDS


def test_a_commit_is_one_delivered_notice_with_updates_deduplicated() -> None:
    cs = (change("a.yaml", 3), change("b.yaml", 9), change("b.yaml", 9))
    sha = "c0ffee" * 6 + "abcd"
    d = Delivery("commit", branch="staging", commit=sha, pushed=True,
                 landed=tuple(Landed(c, "staging", sha) for c in cs))
    ns = delivery_notices(result(changes=cs, delivery=d), "https://git.example/org/gitops.git", 1000.0)
    assert [n.kind for n in ns] == [Kind.DELIVERED]
    n = ns[0]
    assert n.title == "web 1.4.2 → 1.5.0 committed to staging"
    assert n.updates == (Update("ghcr.io/org/web", "1.4.2", "1.5.0", ("a.yaml:3", "b.yaml:9")),)
    assert n.links == (("commit", f"https://git.example/org/gitops/commit/{d.commit}"),)


def test_nothing_is_announced_for_a_dry_run_or_what_did_not_land() -> None:
    cs = (change(),)
    assert delivery_notices(result(changes=cs, delivery=None, dry_run=True), "r", 0) == []
    unpushed = Delivery("commit", branch="staging", commit="abc", pushed=False)  # nothing in `landed`
    assert delivery_notices(result(changes=cs, delivery=unpushed), "r", 0) == []


def test_pull_requests_by_their_action_and_an_unchanged_one_is_no_news() -> None:
    c = change()
    outcomes = (
        PullRequestOutcome("https://f/pr/1", "imagebot/web", PullRequestAction.OPENED, (c,), "abc"),
        PullRequestOutcome("https://f/pr/2", "imagebot/api", PullRequestAction.UPDATED, (change(image="ghcr.io/org/api"),)),
        PullRequestOutcome("https://f/pr/3", "imagebot/db", PullRequestAction.UNCHANGED, (c,)),
        PullRequestOutcome("https://f/pr/4", "imagebot/old", PullRequestAction.CLOSED),
    )
    ns = delivery_notices(result(delivery=Delivery("pull-request", outcomes=outcomes)), "r", 0)
    assert [(n.kind, n.text) for n in ns] == [
        (Kind.PR_OPENED, "https://f/pr/1"), (Kind.PR_UPDATED, "https://f/pr/2"), (Kind.PR_CLOSED, "https://f/pr/4")]
    assert ns[0].title == "Pull request opened: web 1.4.2 → 1.5.0"


def test_a_persisting_problem_is_announced_once_and_its_end_once(tmp_path: Path) -> None:
    p = Problem("registry", "401 Unauthorized: registry refuses our credentials", Location("apps/api.yaml", 4), "api",
                temporary=True)
    clock = iter(range(100, 200)).__next__
    tracker = Tracker(tmp_path / "state.json", clock=clock)
    kinds = []
    for i in range(10):
        # the wording may change from cycle to cycle (a retry delay); it is the same problem
        q = Problem(p.kind, p.message + f" (retry in {i}s)", p.location, p.subject, p.temporary)
        kinds += [n.kind for n in tracker.problems(result(problems=[q]), "r")]
    assert kinds == [Kind.PROBLEM_STARTED]
    # a webhook-targeted cycle looked at one image only: it ends nothing
    assert tracker.problems(result(images=frozenset({"x"})), "r") == []
    # a new process (the next CronJob run) remembers it
    again = Tracker(tmp_path / "state.json", clock=clock)
    ended = again.problems(result(), "r")
    assert [n.kind for n in ended] == [Kind.PROBLEM_RESOLVED]
    assert ended[0].since == 100 and ended[0].key
    assert again.problems(result(), "r") == []


def test_a_corrupt_or_foreign_state_file_is_not_trusted(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    for text in ("{not json", '{"version": 99, "open": []}', '{"version": 1, "open": [{"nope": 1}]}', "[]"):
        state.write_text(text)
        assert Tracker(state).open == {}


def test_drift_detected_once_and_resolved_once() -> None:
    t = Tracker()
    f = DriftFinding("Deployment/prod/payments", "app", "ghcr.io/org/pay:1.3.0", "ghcr.io/org/pay:1.2.0")
    assert [n.kind for n in t.drifts([f], "r")] == [Kind.DRIFT_DETECTED]
    assert t.drifts([f], "r") == []
    assert [n.kind for n in t.drifts([], "r")] == [Kind.DRIFT_RESOLVED]
    assert "runs ghcr.io/org/pay:1.2.0, Git says ghcr.io/org/pay:1.3.0" in f.describe()


def test_a_lane_s_full_cycle_ends_only_its_own_problems() -> None:
    from dataclasses import replace

    t = Tracker()
    p = Problem("policy", "bad range", Location("apps/api.yaml", 4), "api")
    assert [n.kind for n in t.problems(replace(result(problems=[p]), lane="apps"), "https://git/apps")] == [
        Kind.PROBLEM_STARTED]
    assert t.problems(replace(result(), lane="ops"), "https://git/ops") == []  # ops is fine; apps' problem stays
    assert t.problems(replace(result(problems=[p]), lane="apps"), "https://git/apps") == []  # not announced again
    assert [n.kind for n in t.problems(replace(result(), lane="apps"), "https://git/apps")] == [Kind.PROBLEM_RESOLVED]


def test_two_lanes_with_a_problem_at_the_same_place_are_two_problems(tmp_path: Path) -> None:
    from dataclasses import replace

    t = Tracker(tmp_path / "state.json")
    p = Problem("policy", "bad range", Location("apps/api.yaml", 4), "api")
    apps = t.problems(replace(result(problems=[p]), lane="apps"), "https://git/apps")
    ops = t.problems(replace(result(problems=[p]), lane="ops"), "https://git/ops")
    assert [(n.kind, n.repository) for n in apps + ops] == [(Kind.PROBLEM_STARTED, "https://git/apps"),
                                                            (Kind.PROBLEM_STARTED, "https://git/ops")]
    assert apps[0].key != ops[0].key  # two alerts, not one
    assert all("repository https://git/" in "\n".join(lines(n)) for n in apps + ops)  # the message names its repository
    t = Tracker(tmp_path / "state.json")  # across a restart
    assert t.problems(replace(result(problems=[p]), lane="ops"), "https://git/ops") == []
    ended = t.problems(replace(result(), lane="apps"), "https://git/apps")
    assert [(n.kind, n.repository) for n in ended] == [(Kind.PROBLEM_RESOLVED, "https://git/apps")]
    assert t.problems(replace(result(problems=[p]), lane="ops"), "https://git/ops") == []  # ops' is still open, once


def test_alertmanager_re_sends_a_lane_s_open_problem_with_that_lane_s_repository() -> None:
    from dataclasses import replace

    from imagebot.notify.notifier import Notifier

    sent: list[str] = []

    class _Queue:
        def submit(self, target: Target, body: object) -> int:
            sent.append(json.dumps(body))
            return 1

    t = Tracker()
    n = Notifier([target("alertmanager")], t, "https://git/apps", dispatcher=_Queue(),  # type: ignore[arg-type]
                 lane_urls={"apps": "https://git/apps", "ops": "https://git/ops"})
    p = Problem("policy", "bad range", Location("apps/api.yaml", 4), "api")
    n.cycle_finished(replace(result(problems=[p]), lane="ops"))
    sent.clear()
    n.cycle_finished(replace(result(), lane="apps"))  # apps' cycle re-sends every firing alert: ops' is ops'
    (body,) = sent
    (alert,) = json.loads(body)
    assert alert["labels"]["repository"] == "https://git/ops"


def test_a_version_1_state_file_still_loads(tmp_path: Path) -> None:
    from dataclasses import replace

    from imagebot.notify.derive import problem_key

    p = Problem("policy", "bad range", Location("apps/api.yaml", 4), "api")
    entry = {"title": "api: bad range", "subject": "api", "location": "apps/api.yaml:4", "since": 5.0, "severity": "error"}
    one, fleet = tmp_path / "one.json", tmp_path / "fleet.json"
    one.write_text(json.dumps({"version": 1, "open": [{**entry, "key": "p:" + problem_key(p), "kind": "problem", "scope": ""}]}))
    fleet.write_text(json.dumps({"version": 1, "open": [{**entry, "key": "p:" + problem_key(p), "kind": "problem", "scope": "apps"}]}))
    assert Tracker(one).problems(result(problems=[p]), "r") == []  # one repository: its key is unchanged, still open
    t = Tracker(fleet)  # a lane's problem was keyed without its lane: told once more, and no false "resolved"
    assert [n.kind for n in t.problems(replace(result(problems=[p]), lane="apps"), "r")] == [Kind.PROBLEM_STARTED]
    state = fleet
    assert json.loads(state.read_text())["version"] == 2


def test_a_lane_s_clean_drift_check_does_not_resolve_another_lane_s_drift(tmp_path: Path) -> None:
    t = Tracker(tmp_path / "state.json")
    f = DriftFinding("Deployment/prod/web", "app", "nginx:1.25", "nginx:1.27")
    both = t.drifts([f], "https://git/apps", scope="apps") + t.drifts([f], "https://git/ops", scope="ops")
    assert [(n.kind, n.repository) for n in both] == [(Kind.DRIFT_DETECTED, "https://git/apps"),
                                                      (Kind.DRIFT_DETECTED, "https://git/ops")]
    ended = t.drifts([], "https://git/ops", scope="ops")  # ops is clean now: its drift ends, apps' stays open
    assert [(n.kind, n.repository) for n in ended] == [(Kind.DRIFT_RESOLVED, "https://git/ops")]
    t = Tracker(tmp_path / "state.json")  # the lane of each open drift survives a restart
    assert t.drifts([f], "https://git/apps", scope="apps") == []  # still open, not announced again
    assert [n.kind for n in t.drifts([], "https://git/apps", scope="apps")] == [Kind.DRIFT_RESOLVED]


@pytest.mark.parametrize("settings, notice, wanted", [
    ({"events": ["delivered"]}, Notice(Kind.PROBLEM_STARTED, Severity.ERROR, "x"), False),
    ({"events": ["problem-started"]}, Notice(Kind.PROBLEM_STARTED, Severity.ERROR, "x"), True),
    ({"severity": "warning"}, Notice(Kind.DELIVERED, Severity.INFO, "x"), False),
    ({"severity": "warning"}, Notice(Kind.PROBLEM_STARTED, Severity.ERROR, "x"), True),
    ({"images": ["ghcr.io/org/*"]}, Notice(Kind.DELIVERED, Severity.INFO, "x", images=("ghcr.io/org/web",)), True),
    ({"images": ["ghcr.io/org/*"]}, Notice(Kind.DELIVERED, Severity.INFO, "x", images=("docker.io/library/redis",)), False),
    ({"repositories": ["*/platform.git"]}, Notice(Kind.DELIVERED, Severity.INFO, "x", repository="https://h/apps.git"), False),
    ({"repositories": ["*/apps.git"]}, Notice(Kind.DELIVERED, Severity.INFO, "x", repository="https://h/apps.git"), True),
])
def test_target_filters(settings: dict, notice: Notice, wanted: bool) -> None:
    assert target(**settings).wants(notice) is wanted


def test_config_needs_exactly_one_url_and_signs_only_the_webhook() -> None:
    with pytest.raises(ValueError, match="exactly one of url"):
        NotificationTarget(type="slack")
    with pytest.raises(ValueError, match="exactly one of url"):
        NotificationTarget(type="slack", url="https://x", url_env="X")
    with pytest.raises(ValueError, match="sign the generic webhook only"):
        NotificationTarget(type="slack", url="https://x", secret_env="S")
    with pytest.raises(ValueError, match="not an http"):
        NotificationTarget(type="slack", url="hooks.slack.com/services/T/B/x")


def test_a_target_whose_url_cannot_be_read_is_left_out_with_a_reason(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOD_URL", "https://hooks.example/abc-secret-token")
    targets, errors = build([
        NotificationTarget(type="slack", url_env="GOOD_URL"),
        NotificationTarget(type="discord", url_env="MISSING_URL"),
        NotificationTarget(type="teams", url_file=str(tmp_path / "nope")),
    ])
    assert [t.name for t in targets] == ["slack-0"]
    assert errors[0] == "notifications[1] (discord-1) url: env MISSING_URL is not set"
    assert errors[1].startswith("notifications[2] (teams-2) url: cannot read")
    from imagebot.redact import redact
    assert "abc-secret-token" not in redact("posting to https://hooks.example/abc-secret-token failed")


def sample_notices() -> list[Notice]:
    ups = updates([change("apps/web.yaml", 7), change("apps/web-canary.yaml", 7),
                   change("apps/api.yaml", 12, "ghcr.io/org/api", "2.0.0")])
    return [
        Notice(Kind.DELIVERED, Severity.INFO, "2 image updates committed to staging", text="commit abc on staging",
               repository="https://git.example/org/gitops.git", updates=ups,
               links=(("commit", "https://git.example/org/gitops/commit/abc"),), at=1_700_000_000, key="c"),
        Notice(Kind.PR_OPENED, Severity.INFO, "Pull request for web 1.4.2 → 1.5.0",
               links=(("pull request", "https://git.example/org/gitops/pull/42"),), at=1_700_000_000, key="p"),
        Notice(Kind.PROBLEM_STARTED, Severity.ERROR, "api: registry refuses our credentials", text="apps/api.yaml:4: ...",
               location="apps/api.yaml:4", since=1_700_000_000, at=1_700_000_000, key="k1"),
        Notice(Kind.PROBLEM_RESOLVED, Severity.INFO, "resolved: api: registry refuses our credentials",
               since=1_699_000_000, at=1_700_000_000, key="k1"),
        Notice(Kind.DRIFT_DETECTED, Severity.WARNING, "drift: payments runs 1.2.0, Git says 1.3.0", since=1, at=2, key="d"),
    ]


@pytest.mark.parametrize("service", sorted(RENDERERS))
def test_each_service_payload_matches_its_documented_schema(service: str) -> None:
    bodies = RENDERERS[service](sample_notices())
    assert bodies
    for body in bodies:
        validate(service, body)


@pytest.mark.parametrize("service", sorted(RENDERERS))
def test_sixty_updates_stay_within_each_services_limits(service: str) -> None:
    many = [Notice(Kind.DELIVERED, Severity.INFO, f"app{i} 1.0.{i} → 1.1.0 committed to staging " + "x" * 300,
                   text="y" * 5000, updates=(Update(f"ghcr.io/org/app{i}", "1.0.0", "1.1.0", ("a.yaml:1",) * 5),),
                   at=1.0, key=str(i)) for i in range(60)]
    many += [Notice(Kind.PROBLEM_STARTED, Severity.ERROR, f"p{i}", since=1.0, at=1.0, key=f"p{i}") for i in range(3)]
    bodies = RENDERERS[service](many)
    for body in bodies:
        validate(service, body)
    if service == "discord":
        assert len(bodies) >= 7 and all(len(b["embeds"]) <= discord.MAX_EMBEDS for b in bodies)
    if service == "slack":
        assert len(bodies) >= 2 and all(len(b["blocks"]) <= slack.MAX_BLOCKS for b in bodies)


def test_alertmanager_gets_problems_and_drift_never_deliveries() -> None:
    from imagebot.notify.services import alertmanager
    alerts = alertmanager.render(sample_notices(), now=1_700_000_000)[0]
    assert [a["labels"]["alertname"] for a in alerts] == ["ImagebotProblem", "ImagebotProblem", "ImagebotDrift"]
    firing, resolved = alerts[0], alerts[1]
    assert firing["labels"]["key"] == resolved["labels"]["key"]  # the same alert, ended
    assert resolved["endsAt"] <= "2023-11-14T22:13:20Z" < firing["endsAt"]


def test_the_generic_webhook_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = json.dumps(webhook.render(sample_notices(), now=1_700_000_000)[0]).encode()
    sig = webhook.signature("s3cret-value", body)
    assert sig == "sha256=" + hmac.new(b"s3cret-value", body, hashlib.sha256).hexdigest()
    assert b"s3cret-value" not in body


def test_public_url_drops_credentials() -> None:
    assert public_url("https://x-access-token:ghp_abcdef123@github.com/org/repo.git") == "https://github.com/org/repo.git"
    assert public_url("git@github.com:org/repo.git") == "git@github.com:org/repo.git"
