"""The cached clone lists the remote's branches whatever their depth (branch names have slashes)."""

from __future__ import annotations

from pathlib import Path

from imagebot.config import load_text
from imagebot.deliver import GitWorkspace
from tests.support import gitrepo


def test_remote_branches_with_slashes_are_listed(tmp_path: Path) -> None:
    remote = gitrepo.make_remote(tmp_path, {"a.yaml": "a: 1\n"})
    work = gitrepo.clone(remote, tmp_path / "human")
    for branch in ("imagebot/apps/web.yaml", "imagebot/x", "feature/deep/er"):
        gitrepo.git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    cfg = load_text(f"repository: {{url: {remote}}}\ndelivery: {{mode: pull-request}}\n")
    ws = GitWorkspace(cfg, tmp_path / "cache")
    ws.checkout()

    mine = ws.remote_branches("imagebot/")
    assert sorted(mine) == ["imagebot/apps/web.yaml", "imagebot/x"]
    everything = ws.remote_branches("")  # the base and the bot's branches are what the clone fetches
    assert {"main", "imagebot/apps/web.yaml", "imagebot/x"} <= set(everything) and "HEAD" not in everything


def test_a_huge_commit_fits_no_argument_limit(tmp_path: Path) -> None:
    """Thousands of changes: the message (>128 KiB) and the paths must not go through argv."""
    files = {f"apps/team-{i // 100}/svc-{i}.yaml": f"image: app:{i}\n" for i in range(2500)}
    remote = gitrepo.make_remote(tmp_path, files)
    cfg = load_text(f"repository: {{url: {remote}}}\n")
    ws = GitWorkspace(cfg, tmp_path / "cache")
    root = ws.checkout()
    for path in files:
        (root / path).write_text((root / path).read_text().replace("app:", "app:1."))
    message = "Update 2500 images\n\n" + "".join(f"- registry.example.com/team/app-{i}:1.0.0 -> 1.1.0 ({p})\n"
                                                 for i, p in enumerate(files))
    assert len(message.encode()) > 131072
    sha = ws.commit(sorted(files), message)
    assert sha and gitrepo.git(root, "log", "-1", "--format=%B").strip() == message.strip()
    assert gitrepo.git(root, "status", "--porcelain") == ""
