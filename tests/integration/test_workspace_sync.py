"""checkout() makes the cached clone exactly the remote's commit, with as few git commands as that needs.

A warm checkout whose remote did not move asks ``git status`` whether anything differs and skips
the checkout and the clean when nothing does; a fresh clone skips the clean. Whatever a crashed
or meddling earlier run left in the work tree (modified, deleted, staged, untracked, ignored
files, a local commit, another branch) is still gone afterwards.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from imagebot.config.schema import Config
from imagebot.deliver import GitWorkspace
from tests.support import gitrepo

FILES = {
    "apps/web/deploy.yaml": "image: ghcr.io/org/web:1.0.0\n",
    "apps/api/deploy.yaml": "image: ghcr.io/org/api:2.0.0\n",
    ".gitignore": "*.tmp\nbuild/\n",
}


def config(remote: Path) -> Config:
    return Config.model_validate({"repository": {"url": str(remote), "branch": "main"},
                                  "delivery": {"mode": "commit", "branch": "main"}})


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return gitrepo.make_remote(tmp_path, FILES)


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The git subcommands the workspace runs, in order."""
    ran: list[str] = []
    real = GitWorkspace._exec

    def recording(self: GitWorkspace, args: list[str], env: dict[str, str]):
        ran.append(args[0])
        return real(self, args, env)

    monkeypatch.setattr(GitWorkspace, "_exec", recording)
    return ran


def assert_is_the_remote(root: Path, remote: Path) -> None:
    assert gitrepo.git(root, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    assert gitrepo.git(root, "rev-parse", "HEAD").strip() == gitrepo.rev(remote, "main")
    assert gitrepo.git(root, "symbolic-ref", "--short", "HEAD").strip() == "main"
    tree = sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.relative_to(root).parts)
    assert tree == [".gitignore", "apps", "apps/api", "apps/api/deploy.yaml", "apps/web", "apps/web/deploy.yaml"]
    for rel, text in FILES.items():
        assert (root / rel).read_text() == text
        assert not (root / rel).stat().st_mode & stat.S_IXUSR


def test_a_fresh_clone_is_checked_out_without_a_clean(tmp_path: Path, remote: Path, commands: list[str]) -> None:
    ws = GitWorkspace(config(remote), tmp_path / "cache")
    root = ws.checkout()
    assert ws.head() == gitrepo.rev(remote, "main")
    assert commands == ["init", "remote", "ls-remote", "fetch", "checkout", "rev-parse"]
    assert_is_the_remote(root, remote)


def test_leftovers_in_a_directory_that_lost_its_clone_are_cleaned(tmp_path: Path, remote: Path, commands: list[str]) -> None:
    """Not fresh: the directory held files before `git init` (its .git was deleted), so they are cleaned."""
    ws = GitWorkspace(config(remote), tmp_path / "cache")
    root = ws.checkout()
    shutil.rmtree(root / ".git")
    gitrepo.write_files(root, {"stray.yaml": "image: evil:1\n", "apps/web/deploy.yaml": "image: ghcr.io/org/web:6.6.6\n"})
    commands.clear()
    assert GitWorkspace(config(remote), tmp_path / "cache").checkout() == root
    assert "clean" in commands
    assert_is_the_remote(root, remote)


def test_an_unmoved_clean_clone_runs_neither_checkout_nor_clean(tmp_path: Path, remote: Path, commands: list[str]) -> None:
    GitWorkspace(config(remote), tmp_path / "cache").checkout()
    commands.clear()
    ws = GitWorkspace(config(remote), tmp_path / "cache")
    root = ws.checkout()
    assert ws.head() == gitrepo.rev(remote, "main")
    assert commands == ["remote", "ls-remote", "for-each-ref", "status"]
    assert_is_the_remote(root, remote)


def _modify_in_place_same_size(root: Path) -> None:
    p = root / "apps/web/deploy.yaml"
    st = p.stat()
    with open(p, "r+b") as f:  # same inode, same size, same second: only the content tells
        f.write(b"image: ghcr.io/org/web:6.6.6\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))


LEFTOVERS: dict[str, Callable[[Path], None]] = {
    "modified in place": _modify_in_place_same_size,
    "replaced": lambda root: (root / "apps/web/deploy.yaml").write_text("image: ghcr.io/org/web:9.0.0-longer\n"),
    "deleted": lambda root: (root / "apps/api/deploy.yaml").unlink(),
    "untracked": lambda root: gitrepo.write_files(root, {"apps/new/deploy.yaml": "image: evil:1\n", "stray.yaml": "x: 1\n"}),
    "ignored": lambda root: gitrepo.write_files(root, {"apps/web/.imagebot-x.tmp": "half\n", "build/out.yaml": "image: evil:1\n"}),
    "staged": lambda root: (gitrepo.write_files(root, {"apps/web/deploy.yaml": "image: ghcr.io/org/web:6.6.6\n"}),
                            gitrepo.git(root, "add", "apps/web/deploy.yaml"),
                            gitrepo.write_files(root, {"apps/web/deploy.yaml": FILES["apps/web/deploy.yaml"]})),
    "executable": lambda root: (root / "apps/web/deploy.yaml").chmod(0o755),
    "local commit": lambda root: (gitrepo.write_files(root, {"apps/web/deploy.yaml": "image: ghcr.io/org/web:6.6.6\n"}),
                                  gitrepo.git(root, "commit", "-q", "-am", "never pushed")),
    "other branch": lambda root: gitrepo.git(root, "checkout", "-q", "-b", "imagebot/pr"),
    "detached": lambda root: gitrepo.git(root, "checkout", "-q", "--detach"),
}


@pytest.mark.parametrize("leftover", sorted(LEFTOVERS))
def test_whatever_an_earlier_run_left_is_gone_after_a_warm_checkout(tmp_path: Path, remote: Path, commands: list[str],
                                                                     leftover: str) -> None:
    root = GitWorkspace(config(remote), tmp_path / "cache").checkout()
    LEFTOVERS[leftover](root)
    commands.clear()
    ws = GitWorkspace(config(remote), tmp_path / "cache")
    assert ws.checkout() == root
    assert ws.head() == gitrepo.rev(remote, "main")
    assert commands[:4] == ["remote", "ls-remote", "for-each-ref", "status"]  # the remote did not move
    assert "checkout" in commands
    assert_is_the_remote(root, remote)
    commands.clear()
    GitWorkspace(config(remote), tmp_path / "cache").checkout()
    assert commands == ["remote", "ls-remote", "for-each-ref", "status"]  # and now it is clean


def test_head_follows_a_commit_made_after_a_warm_checkout(tmp_path: Path, remote: Path) -> None:
    GitWorkspace(config(remote), tmp_path / "cache").checkout()
    ws = GitWorkspace(config(remote), tmp_path / "cache")
    root = ws.checkout()
    before = ws.head()
    (root / "apps/web/deploy.yaml").write_text("image: ghcr.io/org/web:1.1.0\n")
    sha = ws.commit(["apps/web/deploy.yaml"], "bump")
    assert sha and sha != before and ws.head() == sha == gitrepo.git(root, "rev-parse", "HEAD").strip()
    ws.run("checkout", "-q", "--detach", before)
    assert ws.head() == before
