"""Acceptance: one missing entry of `repository.paths` must not stop the others.

Found by using imagebot: with `paths: [apps/, nothere/]`, the scan returned only the problem
"repository.paths: 'nothere/' does not exist" and no occurrence at all, so nothing under
`apps/` was updated. Now each missing entry is its own problem and the rest is scanned.
"""

from __future__ import annotations

from pathlib import Path

from imagebot.discover import scan


def test_a_missing_path_is_reported_and_the_others_are_scanned(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "v.yaml").write_text("image: ghcr.io/org/app:1.0.0 # imagebot: semver:^1\n")
    found = scan(tmp_path, paths=["apps/", "nothere/"])
    assert [p.message for p in found.problems] == ["repository.paths: 'nothere/' does not exist in the repository"]
    assert [o.value for o in found.occurrences] == ["ghcr.io/org/app:1.0.0"]
