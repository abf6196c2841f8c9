"""Real Git repositories for tests: a bare remote seeded with files, and helpers to read it back."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Human",
    "GIT_AUTHOR_EMAIL": "human@example.com",
    "GIT_COMMITTER_NAME": "Test Human",
    "GIT_COMMITTER_EMAIL": "human@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path | str, *args: str, check: bool = True) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=check, capture_output=True, text=True)
    return out.stdout


def make_remote(root: Path, files: dict[str, str | bytes], branch: str = "main", name: str = "remote.git") -> Path:
    """A bare repository whose `branch` holds `files` in one commit. Returns its path."""
    bare = root / name
    work = root / (name + ".seed")
    git(root, "init", "-q", "--bare", "-b", branch, str(bare))
    git(root, "init", "-q", "-b", branch, str(work))
    write_files(work, files)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "initial manifests")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", branch)
    return bare


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_bytes(content.encode())


def clone(remote: Path, dest: Path, branch: str | None = None) -> Path:
    args = ["clone", "-q"] + (["-b", branch] if branch else []) + [str(remote), str(dest)]
    git(dest.parent, *args)
    return dest


def commit_all(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").strip()


def rev(remote: Path, ref: str) -> str:
    return git(remote, "rev-parse", ref).strip()


def log(remote: Path, ref: str) -> list[str]:
    """Commit subjects on `ref`, newest first."""
    return git(remote, "log", "--format=%s", ref).splitlines()


def show(remote: Path, ref: str, path: str) -> bytes:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=remote, env=env, check=True, capture_output=True).stdout


def diff(remote: Path, a: str, b: str) -> str:
    return git(remote, "diff", a, b)


def branches(remote: Path) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
