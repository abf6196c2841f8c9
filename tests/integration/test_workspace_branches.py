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
