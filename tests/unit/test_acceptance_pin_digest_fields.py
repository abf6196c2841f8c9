"""Acceptance: pin-digest (or the digest policy) on split fields that have no digest field.

Found by using imagebot: a kustomization entry with only ``newTag`` under ``semver:^1;
pin-digest`` had its tag moved and the digest silently dropped, while the plan and the commit
message claimed ``1.1.0@sha256:...``. imagebot never adds a field, so the entry is reported
(naming what to add) and left as it is - the user asked for a pinned reference, not a bare tag.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.config.schema import NamedPolicy
from imagebot.discover import scan
from imagebot.model import FieldKind

POLICIES = {
    "pinned": NamedPolicy(image="ghcr.io/org/app", policy="semver:^1", **{"pin-digest": True}),
    "follow": NamedPolicy(image="ghcr.io/org/app", policy="digest"),
    "plain": NamedPolicy(image="ghcr.io/org/app", policy="semver:^1"),
}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("values.yaml", 'image:\n  repository: ghcr.io/org/app # {"$imagebot": "pinned:name"}\n  tag: 1.0.0 # {"$imagebot": "pinned:tag"}\n'),
        ("values.yaml", 'image:\n  tag: 1.0.0 # {"$imagebot": "follow:tag"}\n'),
        ("kustomization.yaml", "images:\n  - name: ghcr.io/org/app\n    newTag: 1.0.0 # imagebot: semver:^1; pin-digest\n"),
        ("kustomization.yaml", 'images:\n  - name: ghcr.io/org/app\n    newTag: 1.0.0 # {"$imagebot": "pinned:tag"}\n'),
    ],
)
def test_a_digest_that_cannot_be_written_is_reported(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    found = scan(tmp_path, policies=POLICIES)
    assert [o for o in found.occurrences if o.field is not FieldKind.NAME] == []
    (problem,) = found.problems
    assert "digest" in problem.message and "no digest field" in problem.message, problem
    assert problem.location is not None and problem.location.file == name and problem.location.line >= 2


def test_kustomization_with_config_policy_and_no_digest_field_is_reported(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("images:\n  - name: ghcr.io/org/app\n    newTag: 1.0.0\n")
    found = scan(tmp_path, policies={"pinned": POLICIES["pinned"]})
    assert found.occurrences == ()
    (problem,) = found.problems
    assert "no digest field" in problem.message and str(problem.location) == "kustomization.yaml:2"


def test_with_a_digest_field_or_without_pinning_nothing_is_reported(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text(
        'a:\n  tag: 1.0.0 # {"$imagebot": "pinned:tag"}\n  digest: "" # {"$imagebot": "pinned:digest"}\n'
        'b:\n  tag: 1.0.0 # {"$imagebot": "plain:tag"}\n'
        "c: ghcr.io/org/app:1.0.0 # imagebot: semver:^1; pin-digest\n"
    )
    found = scan(tmp_path, policies=POLICIES)
    assert found.problems == ()
    assert len(found.occurrences) == 4
