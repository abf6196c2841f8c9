"""When a value reached staging, from real Git history — also in a shallow clone, deepened only as needed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from imagebot.model import FieldKind, Location, Occurrence, PolicySpec
from imagebot.promote.history import GitHistory
from tests.support import gitrepo

T = 1_800_000_000  # committer times of the seeded commits are T - days


class Clone:
    def __init__(self, root: Path):
        self.root = root

    def run(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True,
                              env={**os.environ, **gitrepo.GIT_ENV}).stdout.strip()


def _commit(work: Path, files: dict[str, str], days_ago: int) -> str:
    gitrepo.write_files(work, files)
    gitrepo.git(work, "add", "-A")
    when = f"@{T - days_ago * 86400} +0000"
    subprocess.run(["git", "commit", "-q", "-m", f"{days_ago} days ago"], cwd=work, check=True,
                   env={**os.environ, **gitrepo.GIT_ENV, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})
    return gitrepo.git(work, "rev-parse", "HEAD").strip()


def _occ(value: str) -> Occurrence:
    return Occurrence(Location("web.yaml", 2, 8), 0, FieldKind.IMAGE, value, "r/app", value.rsplit(":", 1)[1], None,
                      PolicySpec(""), "web")


def _world(tmp_path: Path) -> tuple[Clone, list[str]]:
    bare = gitrepo.make_remote(tmp_path, {"README": "x\n"})
    work = tmp_path / "remote.git.seed"
    shas = [
        _commit(work, {"web.yaml": "kind: Deployment\n- image: r/app:1.0\n"}, 5),
        _commit(work, {"web.yaml": "kind: Deployment\n- image: r/app:1.1\n"}, 3),
        _commit(work, {"other.yaml": "a: 1\n"}, 2),
        _commit(work, {"other.yaml": "a: 2\n"}, 1),
    ]
    gitrepo.git(work, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    clone.mkdir()
    c = Clone(clone)
    c.run("init", "-q")
    c.run("remote", "add", "origin", f"file://{bare}")
    c.run("fetch", "-q", "--depth=1", "origin", "+refs/heads/main:refs/remotes/origin/main")  # as the workspace does
    return c, shas


def test_shallow_clone_deepens_to_the_commit_that_introduced_the_value(tmp_path: Path) -> None:
    c, shas = _world(tmp_path)
    h = GitHistory(c, "main")
    found = h.introduced(_occ("r/app:1.1"), need_before=T - 2 * 86400 - 3600)  # older than the boundary (1 day ago)
    assert found is not None and found.commit == shas[1] and found.exact and found.time == T - 3 * 86400
    assert h.deepened >= 1


def test_shallow_boundary_old_enough_needs_no_deepening(tmp_path: Path) -> None:
    c, shas = _world(tmp_path)
    h = GitHistory(c, "main")
    found = h.introduced(_occ("r/app:1.1"), need_before=T - 86400 // 2)  # boundary (1 day ago) is old enough
    assert found is not None and found.commit == shas[3] and not found.exact and h.deepened == 0


def test_a_value_never_on_the_branch(tmp_path: Path) -> None:
    c, _ = _world(tmp_path)
    assert GitHistory(c, "main").introduced(_occ("r/app:9.9"), need_before=T) is None
