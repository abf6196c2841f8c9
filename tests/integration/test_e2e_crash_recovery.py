"""Crash recovery, end to end through `imagebot run --once`: SIGKILLs timed to git commands (the
bot and the git command it runs die together, as in an OOM kill), and lock files a dead git
left behind. After each, the next run converges: it exits 0, delivers the newest tag in exactly
one commit, and never reports "temporary" for a clone that cannot heal by itself.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from tests.support.cli import imagebot
from tests.support.gitrepo import git, log, make_remote, show
from tests.support.manifests import deployment

KILLS = 30

# A `git` first on PATH that, at its KILL_AT-th call in a run, starts the real git, lets it work
# for KILL_DELAY seconds, then SIGKILLs it and the imagebot process that ran it.
WRAPPER = """#!/bin/bash
n=$(( $(cat "$GIT_CALLS" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$GIT_CALLS"
echo "$n $1" >> "$GIT_CALLS.log"
if [ "$n" = "${KILL_AT:-0}" ]; then
  "$REAL_GIT" "$@" &
  child=$!
  sleep "$KILL_DELAY"
  kill -9 "$child" "$PPID" 2>/dev/null
  exit 137
fi
exec "$REAL_GIT" "$@"
"""


@pytest.fixture
def world(tmp_path: Path, registry):
    registry.push_tags("team/app", ["1.0.0"])
    remote = make_remote(tmp_path, {"apps/app.yaml": deployment("app", f"{registry.host}/team/app:1.0.0")})
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: {remote}}}\nregistries:\n  - host: {registry.host}\n    insecure: true\n"
        f"cache_dir: {tmp_path / 'cache'}\n"
    )
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "git").write_text(WRAPPER)
    (bindir / "git").chmod(0o755)
    return tmp_path, remote, registry, bindir


def _env(cwd: Path, bindir: Path, kill_at: int = 0, delay: float = 0.0) -> dict[str, str]:
    import os

    calls = cwd / "git-calls"
    calls.unlink(missing_ok=True)
    (cwd / "git-calls.log").unlink(missing_ok=True)  # each run's own numbering
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "REAL_GIT": shutil.which("git") or "git",
            "GIT_CALLS": str(calls), "KILL_AT": str(kill_at), "KILL_DELAY": f"{delay:.3f}"}


def _leave_a_leftover(cwd: Path) -> Path:
    """A file a crashed run left in the cached clone (a warm run whose clone is clean and whose
    remote did not move checks out nothing: with this, every run checks out, and can die doing so)."""
    (clone,) = (cwd / "cache" / "repos" / "git").glob("*-*[0-9a-f]")
    leftover = clone / ".imagebot-leftover.tmp"
    leftover.write_text("half a file\n")
    return leftover


def _converged(remote: Path, host: str, tag: str) -> None:
    assert f"{host}/team/app:{tag}".encode() in show(remote, "main", "apps/app.yaml")
    subjects = log(remote, "main")
    assert len(subjects) == len(set(subjects)), subjects  # no duplicate commit
    # every commit on main is complete: the file parses and names exactly one image
    assert show(remote, "main", "apps/app.yaml").count(b"team/app:") == 1


@pytest.mark.slow
def test_thirty_sigkills_timed_to_git_commands_then_every_next_run_converges(world) -> None:
    cwd, remote, registry, bindir = world
    rng = random.Random(14)
    # how many git commands a run with something to deliver makes
    registry.push_tags("team/app", ["1.0.1"])
    first = imagebot("run", "--once", cwd=cwd, env=_env(cwd, bindir))
    assert first.code == 0, first.err
    calls = int((cwd / "git-calls").read_text())
    assert calls >= 8, calls
    _converged(remote, registry.host, "1.0.1")
    _leave_a_leftover(cwd)
    assert imagebot("run", "--once", cwd=cwd, env=_env(cwd, bindir)).code == 0  # numbers the calls of a warm run

    killed_during: list[str] = []
    for i in range(KILLS):
        tag = f"1.{i + 1}.0"
        registry.push_tags("team/app", [tag])  # always something to commit and push
        _leave_a_leftover(cwd)
        # the commands that write the clone or the remote are each hit once for sure (at their number
        # in the last clean run, which made the calls the next one makes), the other kills anywhere
        write = ("checkout", "commit", "push")[i] if i < 3 else None
        last = [line.split() for line in (cwd / "git-calls.log").read_text().split("\n") if line.strip()]
        kill_at = next(int(n) for n, cmd, *_ in last if cmd == write) if write else rng.randint(1, calls)
        crashed = imagebot("run", "--once", cwd=cwd, env=_env(cwd, bindir, kill_at, rng.uniform(0, 0.03)))
        assert crashed.code in (-9, 0), crashed.err  # killed (or it finished before the kill)
        logged = (cwd / "git-calls.log").read_text().split("\n")
        killed_during.append(next((line.split()[1] for line in logged if line.startswith(f"{kill_at} ")), "-"))

        leftover = _leave_a_leftover(cwd)
        after = imagebot("run", "--once", cwd=cwd, env=_env(cwd, bindir))
        assert after.code == 0, f"kill #{i} at git call {kill_at} ({killed_during[-1]}): {after.err}"
        assert not leftover.exists()
        assert "temporary" not in after.err
        _converged(remote, registry.host, tag)
    # the kills hit the commands that write the clone, not only the reads
    assert {"commit", "checkout", "push"} <= set(killed_during), killed_during


@pytest.mark.parametrize("lock", [".git/index.lock", ".git/HEAD.lock", ".git/config.lock",
                                  ".git/refs/heads/main.lock", ".git/refs/remotes/origin/main.lock",
                                  ".git/shallow.lock", ".git/packed-refs.lock"])
def test_a_lock_file_left_by_a_dead_git_is_removed(world, lock: str) -> None:
    cwd, remote, registry, bindir = world
    assert imagebot("run", "--once", cwd=cwd).code == 0
    (clone,) = (cwd / "cache" / "repos" / "git").glob("*-*[0-9a-f]")
    target = clone / lock
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("")
    registry.push_tags("team/app", ["1.5.0"])
    res = imagebot("run", "--once", cwd=cwd)
    assert res.code == 0, res.err
    assert not target.exists()
    _converged(remote, registry.host, "1.5.0")
    assert git(remote, "rev-list", "--count", "main").strip() == "2"
