"""Hangs end within their deadlines, end to end through `imagebot run --once`: a Git remote that
accepts TCP and never answers, and a pre-receive hook that sleeps. Each cycle ends within its
deadline with a temporary error naming the git command; nothing is half-pushed, and once the
remote behaves the next run delivers exactly one commit.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.cli import imagebot
from tests.support.gitrepo import log, make_remote, rev, show
from tests.support.manifests import deployment


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def __enter__(self) -> "SilentServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


def _config(tmp_path: Path, url: str, registry_host: str, git_timeout: str = "5s") -> None:
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: '{url}'}}\ndelivery: {{git_timeout: {git_timeout}}}\ncycle_timeout: 30s\n"
        f"registries:\n  - host: {registry_host}\n    insecure: true\ncache_dir: {tmp_path / 'cache'}\n"
    )


@pytest.mark.slow
def test_a_silent_git_remote_ends_the_cycle_within_its_deadline(tmp_path: Path, registry) -> None:
    with SilentServer() as silent:
        _config(tmp_path, f"http://127.0.0.1:{silent.port}/manifests.git", registry.host)
        t0 = time.monotonic()
        res = imagebot("run", "--once", cwd=tmp_path, timeout=120)
        elapsed = time.monotonic() - t0
        assert silent.conns, "git never connected"
    assert res.code == 3, res.err  # the cycle could not run
    assert "git ls-remote" in res.err and "did not finish within 5s" in res.err, res.err
    assert "a later run may succeed" in res.err, res.err
    assert elapsed < 35, elapsed  # 3 tries of 5s each (and their back-off), well inside cycle_timeout 30s


@pytest.fixture(params=["5s", "1h"], ids=["git_timeout", "cycle_timeout"])
def sleeping_hook_world(tmp_path: Path, registry, request):
    registry.push_tags("team/app", ["1.0.0", "1.1.0"])
    remote = make_remote(tmp_path, {"app.yaml": deployment("app", f"{registry.host}/team/app:1.0.0")})
    hook = remote / "hooks" / "pre-receive"
    # A sleep of its own length (GNU sleep takes fractions): the check below must not see another
    # process's `sleep 600` (a developer's shell, a CI step) as this hook's survivor.
    hook.write_text(f"#!/bin/sh\nsleep 600.{secrets.randbelow(10**6):06d}\n")
    hook.chmod(0o755)
    # git_timeout 5s: each push attempt is killed after 5s; 1h: the cycle's deadline (30s) kills it
    _config(tmp_path, str(remote), registry.host, git_timeout=request.param)
    return tmp_path, remote, hook


@pytest.mark.slow
def test_a_sleeping_pre_receive_hook_ends_the_cycle_and_nothing_is_half_pushed(sleeping_hook_world) -> None:
    cwd, remote, hook = sleeping_hook_world
    sleeper = hook.read_text().splitlines()[1]  # "sleep 600.NNNNNN"
    main_before = rev(remote, "main")
    t0 = time.monotonic()
    res = imagebot("run", "--once", cwd=cwd, timeout=120)
    elapsed = time.monotonic() - t0
    assert res.code == 3, res.err + res.out
    assert "a later run may succeed" in res.err, res.err
    assert "git push" in res.err and ("did not finish within" in res.err or "deadline" in res.err), res.err
    assert elapsed < 40, elapsed  # the cycle's deadline is 30s (CLI start-up and checkout on top)
    assert rev(remote, "main") == main_before  # nothing half-pushed

    # no hook process survives the kill
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert sleeper not in ps

    hook.unlink()
    res = imagebot("run", "--once", cwd=cwd, timeout=120)
    assert res.code == 0, res.err + res.out
    assert len(log(remote, "main")) == 2  # exactly one commit, no duplicate
    assert b"team/app:1.1.0" in show(remote, "main", "app.yaml")
