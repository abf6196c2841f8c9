"""File names git could misread, end to end through `imagebot run --once` (commit mode): names
that look like pathspec magic, a name with a newline that would forge a commit trailer, and a
name near the 255-byte limit. Each is updated, in the one commit of the cycle, next to a plain
file; the commit message gains no line from a file name.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.cli import imagebot
from tests.support.gitrepo import git, log, make_remote, show
from tests.support.manifests import deployment

NAMES = [
    "apps/plain.yaml",
    ":/z.yaml",  # git reads ":/..." as "from the top of the tree"
    ":(exclude)x.yaml",  # ... and ":(exclude)" as "everything but"
    "apps/evil\nCo-authored-by: Mallory <mallory@evil.example>\n.yaml",
    "apps/" + "l" * 245 + ".yaml",  # 250 bytes: the longest names a file system allows
    "apps/*.yaml",  # a glob as a name
]


def test_every_file_name_is_updated_literally_and_cannot_forge_the_message(tmp_path: Path, registry) -> None:
    registry.push_tags("team/app", ["1.0.0", "1.1.0"])
    files = {name: deployment(f"w{i}", f"{registry.host}/team/app:1.0.0") for i, name in enumerate(NAMES)}
    remote = make_remote(tmp_path, files)
    (tmp_path / "imagebot.yaml").write_text(
        f"repository: {{url: {remote}}}\nregistries:\n  - host: {registry.host}\n    insecure: true\n"
        f"cache_dir: {tmp_path / 'cache'}\n"
    )
    res = imagebot("run", "--once", cwd=tmp_path)
    assert res.code == 0, res.err + res.out

    assert len(log(remote, "main")) == 2  # one commit for all
    for name in NAMES:
        assert show(remote, "main", name).decode() == files[name].replace(":1.0.0", ":1.1.0"), name
    changed = git(remote, "diff-tree", "--no-commit-id", "-r", "-z", "--name-only", "main").split("\0")
    assert sorted(n for n in changed if n) == sorted(NAMES)

    message = git(remote, "log", "-1", "--format=%B", "main")
    trailers = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True,
                              text=True, check=True).stdout
    assert "Co-authored-by" not in trailers, message
    assert not any(line.startswith("Co-authored-by") for line in message.splitlines()), message
    assert "evil\\nCo-authored-by" in message  # the name is there, escaped
