"""The agent's watchdog and shutdown, end to end.

* A wedged worker: /healthz fails once a step outlives `stuck_after`, the wedged leader stops
  renewing its Lease, the standby replica takes over and delivers the update; when the step
  returns, the wedged replica is alive again and, no longer leading, writes nothing.
* SIGTERM while a cycle waits on a silent Git remote: `imagebot run` kills the git command and
  exits 0 within a pod's grace period, long before the command's own timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.test_agent_e2e import AGENT, RecordingPipeline, start_replica, wait_for
from tests.integration.test_e2e_hangs import SilentServer
from tests.support.cli import ROOT, write_config
from tests.support.gitrepo import log, make_remote, show
from tests.support.kube import KubeServer, kube  # noqa: F401  (fixture)
from tests.support.manifests import deployment
from tests.support.registry import free_port



class WedgeablePipeline(RecordingPipeline):
    """The real pipeline; while `wedged` is set, a cycle hangs at its start until `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.wedged = threading.Event()
        self.release = threading.Event()
        self.in_wedge = threading.Event()

    def __call__(self, cfg: Any, **kw: Any) -> Any:
        if self.wedged.is_set():
            self.in_wedge.set()
            self.release.wait(60)  # a step that never returns (until the test lets it)
        return super().__call__(cfg, **kw)


def healthz(url: str) -> int:
    return requests.get(f"{url}/healthz", timeout=2).status_code


@pytest.mark.slow
def test_a_wedged_leader_fails_liveness_and_the_standby_takes_over(tmp_path: Path, registry, kube: KubeServer) -> None:
    registry.push_tags("team/app", ["1.0.0"])
    remote = make_remote(tmp_path, {"apps/web.yaml": deployment("web", f"{registry.host}/team/app:1.0.0")})
    cfg = write_config(tmp_path / "imagebot.yaml", remote=remote, registry_host=registry.host, extra=AGENT)
    wedging, healthy = WedgeablePipeline(), RecordingPipeline()
    a = start_replica(cfg, free_port(), kube_api=kube.api_client(), run_cycle=wedging)
    try:
        assert wait_for(lambda: a.agent.can_write() and a.agent.cycles >= 1)
        a.agent.stuck_after = 2.0  # instead of stuck_after x cycle_timeout (at least a minute)
        wedging.wedged.set()
        registry.push_tags("team/app", ["1.1.0"])
        a.agent.request_full_cycle()
        assert wedging.in_wedge.wait(10)
        b = start_replica(cfg, free_port(), kube_api=kube.api_client(), run_cycle=healthy)
        try:
            assert healthz(a.url) == 200  # not yet past stuck_after
            assert wait_for(lambda: healthz(a.url) == 503, 10)
            assert "stuck" in requests.get(f"{a.url}/healthz", timeout=2).text
            assert healthz(b.url) == 200
            # the wedged leader stops renewing; the standby takes the Lease and delivers
            assert wait_for(lambda: healthy.pushed(), 30), "the standby did not take over"
            assert not a.agent.can_write()
            assert b"team/app:1.1.0" in show(remote, "staging", "apps/web.yaml")
            before = log(remote, "staging")

            wedging.release.set()  # the step returns: alive again, and as a follower it writes nothing
            assert wait_for(lambda: healthz(a.url) == 200, 10)
            assert wait_for(lambda: len(wedging.results) >= 2, 20)
            assert not any(r.delivery is not None and r.delivery.pushed for r in wedging.results[1:])
            assert log(remote, "staging") == before
        finally:
            b.stop()
    finally:
        wedging.release.set()
        a.stop()


def test_sigterm_ends_a_cycle_waiting_on_a_silent_remote_within_the_grace_period(tmp_path: Path) -> None:
    port = free_port()
    with SilentServer() as silent:
        config = tmp_path / "imagebot.yaml"
        config.write_text(
            f"repository: {{url: 'http://127.0.0.1:{silent.port}/m.git'}}\ndelivery: {{git_timeout: 10m}}\n"
            f"cache_dir: {tmp_path / 'cache'}\nagent: {{drift_interval: null}}\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "imagebot", "run", "-c", str(config), "--listen", f"127.0.0.1:{port}",
             "--log-format", "json"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert wait_for(lambda: bool(silent.conns), 30), "git never reached the remote"
            time.sleep(0.5)  # the cycle is now waiting on the silent remote
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            elapsed = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert elapsed < 10, elapsed  # a pod's grace period is 30s; git's own timeout here is 10 minutes
    assert "shutting down" in err and '"msg": "agent stopped"' in err, err[-2000:]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"127.0.0.1:{silent.port}" not in ps  # no git left behind


@pytest.fixture(autouse=True)
def _quiet_kube_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEBOT_WEBHOOK_TOKEN", "watchdog-test-token-0123")


def test_liveness_follows_the_current_step_on_the_agents_clock() -> None:
    from imagebot.agent.loop import Agent
    from imagebot.config.schema import Config
    from imagebot.report.metrics import Metrics
    from tests.integration.test_webhook import empty_result

    now = [0.0]
    entered, leave = threading.Event(), threading.Event()

    def cycle(cfg: Any, **kw: Any) -> Any:
        entered.set()
        leave.wait(10)
        return empty_result(None)

    cfg = Config.model_validate({"repository": {"url": "/x"}, "interval": "1h", "cycle_timeout": "1m",
                                 "agent": {"drift_interval": None, "stuck_after": 2}})
    agent = Agent(cfg, run_cycle=cycle, metrics=Metrics(), clock=lambda: now[0])
    assert agent.stuck_after == 120
    assert agent.alive() == (True, "ok")  # not started yet: alive
    t = threading.Thread(target=agent.run)
    t.start()
    try:
        assert entered.wait(10)
        now[0] = 119.0
        assert agent.alive()[0]
        now[0] = 121.0
        ok, why = agent.alive()
        assert not ok and "stuck" in why
        leave.set()
        assert agent.wait_cycles(1, 10)
        assert agent.alive() == (True, "ok")  # recovered
    finally:
        leave.set()
        agent.stop()
        t.join(10)
    assert agent.alive()[0]  # stopped on purpose: not a failure
