"""`imagebot validate` on a tree big enough for discover's parsing worker (a spawned process):
the same problems, each once, and nothing else on stderr, with the worker and without."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import imagebot

GOOD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app-{i}:1.0.{i} # imagebot: semver:^1
"""


@pytest.fixture
def big_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "apps").mkdir(parents=True)
    for i in range(600):
        (tree / "apps" / f"w{i:04d}.yaml").write_text(GOOD.format(i=i))
    (tree / "apps" / "w0003.yaml").write_text("a: [1\nb: 2 # imagebot: semver:^1\n")  # in the worker's first chunk
    (tree / "apps" / "w0599.yaml").write_text("image: ghcr.io/org/x:1 # imagebot: semver:^(\n")
    (tmp_path / "imagebot.yaml").write_text(f"repository: {{url: {tmp_path / 'nowhere.git'}}}\n")
    return tree


@pytest.mark.parametrize("workers", ["1", "0"])
def test_validate_finds_the_same_with_and_without_the_worker(big_tree: Path, workers: str) -> None:
    res = imagebot("validate", "--path", str(big_tree), cwd=big_tree.parent, env={"IMAGEBOT_PARSE_WORKERS": workers})
    assert res.code == 1, res.err + res.out
    lines = res.err.splitlines()
    assert len(lines) == 2, res.err
    assert lines[0].startswith("apps/w0003.yaml:") and "not valid YAML" in lines[0], res.err
    assert lines[1].startswith("apps/w0599.yaml:1:"), res.err
    assert "599 image reference(s) with a policy in 600 file(s)" in res.out and "2 problem(s)" in res.out, res.out
