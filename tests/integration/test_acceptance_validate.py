"""Acceptance: `imagebot validate` on a repository with several kinds of bad input at once.

Every problem is listed once, each naming its file:line, and where a policy was declared is
said once (it was printed twice: "(web.yaml:6 ...) (declared at web.yaml:6 ...)").
"""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import imagebot

BAD_FILTER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    imagebot.io/policy: "semver:^1"
    imagebot.io/tag-filter: "^(1"
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0
"""


def test_validate_lists_every_problem_once_with_its_place(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "apps").mkdir(parents=True)
    (tree / "apps" / "web.yaml").write_text(BAD_FILTER)
    (tree / "apps" / "values.yaml").write_text("a:\n  image: ghcr.io/org/app:1.0.0 # {\"$imagebot\": \"nosuch\"}\n")
    (tree / "apps" / "broken.yaml").write_text("a: [1\nb: 2\n")
    (tree / "apps" / "ok.yaml").write_text("image: ghcr.io/org/app:1.0.0 # imagebot: semver:^1\n")
    (tmp_path / "imagebot.yaml").write_text(f"repository: {{url: {tmp_path / 'nowhere.git'}}}\n")

    res = imagebot("validate", "--path", str(tree), cwd=tmp_path)

    assert res.code == 1, res.err + res.out
    lines = res.err.splitlines()
    assert len(lines) == 3, res.err
    (filter_line,) = [line for line in lines if "tag-filter" in line]
    assert filter_line.startswith("apps/web.yaml:13:")
    assert filter_line.count("apps/web.yaml:7 annotation imagebot.io/tag-filter") == 1, filter_line
    assert filter_line.count("apps/web.yaml:6 annotation imagebot.io/policy") == 1, filter_line
    assert any(line.startswith("apps/values.yaml:2:") and "nosuch" in line for line in lines), res.err
    assert any(line.startswith("apps/broken.yaml:") and "not valid YAML" in line for line in lines), res.err
    assert "2 image reference(s) with a policy" in res.out and "3 problem(s)" in res.out
