"""Notifications end to end: real cycles (docker-registry, a bare Git remote) and local HTTP
receivers standing in for each service, every payload checked against the service's schema."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import requests

from imagebot import pipeline
from imagebot.config.load import load
from imagebot.config.notifications import NotificationTarget
from imagebot.notify import from_config
from imagebot.notify.derive import Tracker
from imagebot.notify.dispatch import Dispatcher
from imagebot.notify.notices import Kind, Notice, Severity
from imagebot.notify.notifier import Notifier
from imagebot.notify.targets import Target
from tests.support.cli import imagebot, write_config
from tests.support.gitrepo import clone, commit_all, git, make_remote
from tests.support.manifests import deployment
from tests.support.receivers import Receiver
from tests.support.notify_payloads import validate

SERVICES = ("slack", "teams", "discord", "googlechat", "webhook", "alertmanager")
SECRET = "whsec-0123456789abcdef"


def world(tmp_path: Path, registry, *, broken: bool = True) -> tuple[Path, Path]:
    registry.push_tags("team/web", ["1.0.0", "1.1.0"])
    files = {"apps/web.yaml": deployment("web", f"{registry.host}/team/web:1.0.0")}
    if broken:  # a policy that cannot compile: a problem every cycle until someone fixes it
        files["apps/api.yaml"] = deployment("api", f"{registry.host}/team/api:1.0.0", policy="semver:>>1")
    remote = make_remote(tmp_path, files)
    return remote, tmp_path / "imagebot.yaml"


def notifications_yaml(receivers: dict[str, Receiver]) -> str:
    lines = ["notifications:"]
    for service, r in receivers.items():
        lines += [f"  - type: {service}", f"    url: {r.url}", "    max_attempts: 2", "    timeout: 5"]
        if service == "webhook":
            lines.append("    secret_env: HOOK_SECRET")
    return "\n".join(lines) + "\n"


def test_run_once_tells_every_service_in_its_own_format(tmp_path: Path, registry) -> None:
    remote, cfg_path = world(tmp_path, registry)
    with Receiver() as r0, Receiver() as r1, Receiver() as r2, Receiver() as r3, Receiver() as r4, Receiver() as r5:
        receivers = dict(zip(SERVICES, (r0, r1, r2, r3, r4, r5)))
        write_config(cfg_path, remote=remote, registry_host=registry.host, extra=notifications_yaml(receivers))
        res = imagebot("run", "--once", cwd=tmp_path, env={"HOOK_SECRET": SECRET})
        assert res.code == 1, res.err + res.out  # committed web, and the api problem
        for service, r in receivers.items():
            got = r.requests
            assert got, f"{service} received nothing"
            for req in got:
                validate(service, req.json())
                assert SECRET not in req.body.decode()
        # chat services: the commit and the problem, in one message per cycle
        for service in ("slack", "teams", "discord", "googlechat"):
            text = receivers[service].requests[0].body.decode()
            assert "web 1.0.0 → 1.1.0 committed to staging" in text, service
            assert "api" in text and "Deployment/api" in text, service
        # the generic webhook: documented schema, a signature that verifies
        hook = receivers["webhook"].requests[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
        assert hook.headers["x-imagebot-signature"] == expected
        kinds = [e["kind"] for e in hook.json()["events"]]
        assert kinds == ["delivered", "problem-started"]
        assert hook.json()["events"][0]["updates"][0]["new"] == "1.1.0"
        # Alertmanager: the problem as a firing alert, no delivery
        alerts = receivers["alertmanager"].requests[0].json()
        assert [a["labels"]["alertname"] for a in alerts] == ["ImagebotProblem"]

        # the next run (a CronJob's next tick): the problem is still there — nobody is told again,
        # but Alertmanager gets the firing alert re-sent, as it expects of a client
        before = {s: len(r.requests) for s, r in receivers.items()}
        res = imagebot("run", "--once", cwd=tmp_path, env={"HOOK_SECRET": SECRET})
        assert res.code == 1, res.err + res.out
        after = {s: len(r.requests) for s, r in receivers.items()}
        assert {s: after[s] - before[s] for s in SERVICES} == {
            "slack": 0, "teams": 0, "discord": 0, "googlechat": 0, "webhook": 0, "alertmanager": 1}


def test_a_problem_lasting_ten_cycles_is_announced_once_and_its_end_once(tmp_path: Path, registry) -> None:
    remote, cfg_path = world(tmp_path, registry)
    with Receiver() as hook:
        write_config(cfg_path, remote=remote, registry_host=registry.host,
                     extra=f"notifications:\n  - type: webhook\n    url: {hook.url}\n    events: [problem-started, problem-resolved]\n")
        cfg = load(str(cfg_path))
        notifier = from_config(cfg)
        assert notifier is not None
        try:
            for _ in range(10):
                pipeline.run_cycle(cfg, reporters=[notifier])
            assert notifier.flush(10)
            started = [e for r in hook.requests for e in r.json()["events"]]
            assert [e["kind"] for e in started] == ["problem-started"]
            assert started[0]["subject"].startswith("Deployment/api")

            # someone fixes it: the broken workload goes
            # (commit mode reads the delivery branch, where imagebot's own commits are)
            work = clone(remote, tmp_path / "work", branch="staging")
            (work / "apps" / "api.yaml").unlink()
            commit_all(work, "drop api")
            git(work, "push", "-q", "origin", "staging")
            for _ in range(3):
                pipeline.run_cycle(cfg, reporters=[notifier])
            assert notifier.flush(10)
            events = [e for r in hook.requests for e in r.json()["events"]]
            assert [e["kind"] for e in events] == ["problem-started", "problem-resolved"]
            assert events[0]["key"] == events[1]["key"]
        finally:
            notifier.close()


def _target(name: str, url: str, **kw) -> Target:
    return Target(name, NotificationTarget(type="webhook", url=url, **kw), url, None)


def test_failing_and_hanging_targets_delay_no_cycle_and_lose_no_other_message() -> None:
    with Receiver(status=500) as failing, Receiver(hang=30) as hanging, Receiver() as good:
        targets = [
            _target("failing", failing.url, max_attempts=3, timeout=2),
            _target("hanging", hanging.url, max_attempts=2, timeout=1),
            _target("good", good.url),
        ]
        outcomes: list[tuple[str, str]] = []
        notifier = Notifier(targets, Tracker(), "https://git.example/gitops.git",
                            dispatcher=Dispatcher(targets, lambda t, o: outcomes.append((t, o))))
        try:
            notice = Notice(Kind.DELIVERED, Severity.INFO, "web 1.0.0 → 1.1.0 committed to staging", at=time.time(), key="x")
            t0 = time.monotonic()
            for _ in range(5):  # five cycles' worth
                assert notifier.dispatch([notice], alerts_due=False) == 3
            assert time.monotonic() - t0 < 0.5  # enqueueing never waits for a target
            assert len(good.wait_for(5, timeout=10)) == 5  # every message to the healthy target arrived
            assert notifier.flush(60)
            assert len(failing.requests) == 5 * 3  # retried within bounds, then given up
            assert len(hanging.requests) == 5 * 2
            assert sorted(set(outcomes)) == [("failing", "failed"), ("good", "sent"), ("hanging", "failed")]
        finally:
            notifier.close()


def test_notify_test_sends_a_sample_to_each_target_and_says_which_failed(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"README.md": "x\n"})
    with Receiver() as slack, Receiver(status=404) as gone:
        (tmp_path / "imagebot.yaml").write_text(
            f"repository:\n  url: {remote}\nnotifications:\n"
            f"  - type: slack\n    url: {slack.url}\n"
            f"  - {{type: discord, url: '{gone.url}', name: old-channel}}\n"
            "  - {type: teams, url_env: TEAMS_URL}\n")
        res = imagebot("notify", "test", cwd=tmp_path)
        assert res.code == 1, res.err
        assert "sent    slack-0" in res.out
        assert "FAILED  old-channel: HTTP 404" in res.out
        assert "FAILED  notifications[2] (teams-2) url: env TEAMS_URL is not set" in res.out
        validate("slack", slack.requests[0].json())
        assert len(gone.requests) == 1  # a 404 is not retried


def test_the_agent_announces_its_commit_and_counts_what_it_sent(tmp_path: Path, registry, monkeypatch) -> None:
    from tests.integration.test_agent_e2e import AGENT, start_replica, wait_for
    from tests.support.registry import free_port

    monkeypatch.setenv("IMAGEBOT_WEBHOOK_TOKEN", "agent-token-0123456")
    remote, cfg_path = world(tmp_path, registry, broken=False)
    with Receiver() as hook:
        write_config(cfg_path, remote=remote, registry_host=registry.host,
                     extra=AGENT + f"notifications:\n  - type: webhook\n    name: team-hook\n    url: {hook.url}\n")
        replica = start_replica(cfg_path, free_port())
        try:
            assert replica.agent.wait_cycles(1, 30)
            got = hook.wait_for(1)
            assert [e["kind"] for e in got[0].json()["events"]] == ["delivered"]
            validate("webhook", got[0].json())
            assert wait_for(lambda: 'imagebot_notifications_total{result="sent",target="team-hook"} 1.0'
                            in requests.get(f"{replica.url}/metrics", timeout=5).text)
        finally:
            replica.stop()
