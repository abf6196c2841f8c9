"""Acceptance: an error in a policy option names the annotation that holds the bad option.

Found by using imagebot on a repository: a bad `imagebot.io/tag-filter` was reported as
"(apps/web.yaml:6 annotation imagebot.io/policy)" - the line and key of the *policy*
annotation, so the user looked at the wrong line. docs/policies.md promises the option's own
annotation (e.g. "apps/web.yaml:7 annotation imagebot.io/extract").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.discover import scan
from imagebot.errors import PolicyError
from imagebot.policy import compile_spec

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    imagebot.io/policy: "semver:^1"
    imagebot.io/{option}: "{value}"
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0
"""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("tag-filter", "^(1", "invalid tag-filter regular expression"),
        ("exclude", "[a-", "invalid exclude regular expression"),
        ("extract", "$ver", "extract"),
    ],
)
def test_bad_option_names_its_own_annotation_line(tmp_path: Path, option: str, value: str, message: str) -> None:
    (tmp_path / "web.yaml").write_text(WORKLOAD.format(option=option, value=value))
    found = scan(tmp_path)
    assert not found.problems
    (occ,) = found.occurrences
    with pytest.raises(PolicyError, match=message) as err:
        compile_spec(occ.policy)
    assert f"web.yaml:7 annotation imagebot.io/{option}" in str(err.value)


def test_container_option_names_the_container_annotation(tmp_path: Path) -> None:
    text = WORKLOAD.replace('imagebot.io/{option}: "{value}"', 'imagebot.io/tag-filter.app: "^(v"')
    (tmp_path / "web.yaml").write_text(text)
    (occ,) = scan(tmp_path).occurrences
    with pytest.raises(PolicyError) as err:
        compile_spec(occ.policy)
    assert "web.yaml:7 annotation imagebot.io/tag-filter.app" in str(err.value)


def test_bad_policy_string_still_names_the_policy_annotation(tmp_path: Path) -> None:
    text = WORKLOAD.replace('"semver:^1"', '"newest"').format(option="prerelease", value="true")
    (tmp_path / "web.yaml").write_text(text)
    (occ,) = scan(tmp_path).occurrences
    with pytest.raises(PolicyError, match="unknown policy 'newest'") as err:
        compile_spec(occ.policy)
    assert "web.yaml:6 annotation imagebot.io/policy" in str(err.value)
