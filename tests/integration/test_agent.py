"""The agent's loop and process behaviour: jitter, readiness, the write gate, SIGTERM.

The loop tests use a recording cycle function; the SIGTERM test runs the real `imagebot run`
in a subprocess against a real Git remote.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from imagebot.agent.loop import Agent
from imagebot.config.schema import Config
from imagebot.errors import DeliveryError
from imagebot.report.metrics import Metrics
from tests.integration.test_webhook import Recorder, empty_result, make_config
from tests.support.cli import ROOT, write_config
from tests.support.gitrepo import make_remote
from tests.support.registry import free_port


def start(agent: Agent) -> threading.Thread:
    t = threading.Thread(target=agent.run)
    t.start()
    return t


@pytest.mark.parametrize("rand,expected", [(0.0, 3240.0), (0.5, 3600.0), (1.0, 3960.0)])
def test_interval_jitter_stays_within_the_configured_fraction(rand: float, expected: float) -> None:
    agent = Agent(make_config(), run_cycle=Recorder(), metrics=Metrics(), rand=lambda: rand)
    assert agent.next_interval() == pytest.approx(expected)


def test_full_cycles_repeat_on_the_interval() -> None:
    cfg = Config.model_validate({"repository": {"url": "/x"}, "interval": "10s", "agent": {"drift_interval": None}})
    recorder = Recorder()
    agent = Agent(cfg, run_cycle=recorder, metrics=Metrics())
    agent.interval = 0.05  # config refuses intervals under 10s (issue #14); the loop itself does not care
    t = start(agent)
    try:
        assert agent.wait_cycles(3, 10)
    finally:
        agent.stop()
        t.join(10)
    assert recorder.calls[:3] == [None, None, None]


def test_readiness_fails_only_after_cycles_failed_for_n_intervals() -> None:
    now = [0.0]
    failing = [True]

    def cycle(cfg: Config, **kw: Any) -> Any:
        if failing[0]:
            raise DeliveryError("the Git remote is unreachable", temporary=True)
        return empty_result(None)

    cfg = Config.model_validate({"repository": {"url": "/x"}, "interval": "1m", "agent": {"unready_after": 3}})
    agent = Agent(cfg, run_cycle=cycle, metrics=Metrics(), clock=lambda: now[0])
    agent._cycle(None)
    assert agent.ready()[0]
    now[0] = 179.0
    agent._cycle(None)
    assert agent.ready()[0]
    now[0] = 181.0
    ok, why = agent.ready()
    assert not ok and "failed for 181s" in why
    failing[0] = False
    agent._cycle(None)
    assert agent.ready() == (True, "ready")


def test_stop_closes_the_write_gate_for_the_cycle_in_flight() -> None:
    seen: list[bool] = []
    in_cycle, resume = threading.Event(), threading.Event()

    def cycle(cfg: Config, *, can_write: Any, **kw: Any) -> Any:
        seen.append(can_write())  # before the push...
        in_cycle.set()
        resume.wait(10)
        seen.append(can_write())  # ... and after SIGTERM arrived mid-cycle
        return empty_result(None)

    agent = Agent(make_config(), run_cycle=cycle, metrics=Metrics())
    t = start(agent)
    assert in_cycle.wait(10)
    agent.stop()
    resume.set()
    t.join(10)
    assert not t.is_alive()
    assert seen == [True, False]


def test_a_follower_runs_no_cycle_and_a_new_leader_catches_up_at_once() -> None:
    leading = [False]
    recorder = Recorder()
    agent = Agent(make_config(), run_cycle=recorder, metrics=Metrics(), is_leader=lambda: leading[0])
    t = start(agent)
    try:
        assert agent.wait_cycles(0, 10, skipped=1)  # the start-up full cycle
        agent.push(["ghcr.io/org/app"])
        assert agent.wait_cycles(0, 10, skipped=2)  # the targeted one
        assert recorder.calls == []
        leading[0] = True
        agent.leadership_changed(True)
        assert agent.wait_cycles(1, 10)
    finally:
        agent.stop()
        t.join(10)
    assert recorder.calls[0] is None


def test_sigterm_stops_imagebot_run_cleanly_with_exit_0(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"apps/web.yaml": "kind: ConfigMap\nmetadata:\n  name: x\n"})
    config = write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host="127.0.0.1:9")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagebot", "run", "-c", str(config), "--listen", f"127.0.0.1:{port}", "--log-format", "json"],
        cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("the agent did not come up: " + proc.stderr.read() if proc.poll() is not None else "timeout")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert '"msg": "agent stopped"' in err
    assert "SIGTERM" in err


def test_a_targeted_cycle_parses_only_files_that_can_refer_to_the_pushed_images(tmp_path: Path) -> None:
    """Seconds, not a full scan: a webhook's cycle screens files by the pushed repository's name.

    The screen must miss nothing: a named marker on a lone tag field (the image only in the
    config policy) is still found.
    """
    from imagebot import discover
    from imagebot.config.schema import NamedPolicy

    files = {
        "apps/web.yaml": 'kind: Pod\nmetadata:\n  name: web\n  annotations:\n    imagebot.io/policy: "semver:^1"\n'
                         "spec:\n  containers:\n    - name: app\n      image: ghcr.io/org/web:1.0.0\n",
        "apps/api.yaml": 'kind: Pod\nmetadata:\n  name: api\n  annotations:\n    imagebot.io/policy: "semver:^1"\n'
                         "spec:\n  containers:\n    - name: app\n      image: ghcr.io/org/api:1.0.0\n",
        "charts/values.yaml": 'image:\n  tag: 1.0.0 # {"$imagebot": "webpol:tag"}\n',
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    policies = {"webpol": NamedPolicy(image="ghcr.io/org/web", policy="semver:^1")}
    full = discover.scan(tmp_path, policies=policies)
    targeted = discover.scan(tmp_path, policies=policies, images={"ghcr.io/org/web"})
    assert full.files_parsed == 3
    assert targeted.files_parsed == 2  # api.yaml is not even parsed
    want = sorted(str(o.location) for o in full.occurrences if o.image == "ghcr.io/org/web")
    assert sorted(str(o.location) for o in targeted.occurrences if o.image == "ghcr.io/org/web") == want
    assert len(want) == 2


def test_an_idle_agent_sleeps_instead_of_spinning() -> None:
    """Between cycles the worker waits for the next deadline or a push, whatever is configured."""
    import time as _time

    calls = [0]

    def clock() -> float:
        calls[0] += 1
        return _time.monotonic()

    cfg = Config.model_validate({"repository": {"url": "/x"}, "interval": "1h"})  # drift on, but no cluster
    agent = Agent(cfg, run_cycle=Recorder(), metrics=Metrics(), clock=clock)
    t = start(agent)
    try:
        assert agent.wait_cycles(1, 10)
        before = calls[0]
        idle = threading.Event()
        idle.wait(0.3)
        assert calls[0] - before < 10, f"{calls[0] - before} loop turns in 0.3 s while idle"
    finally:
        agent.stop()
        t.join(10)
