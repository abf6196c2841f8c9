"""Acceptance: an imagebot annotation on a kind imagebot does not read is reported.

Found by using imagebot: `imagebot.io/policy` on a ConfigMap (or a HelmRelease, a Knative
Service...) silently did nothing - no update, no problem, `imagebot validate` said all was
well. Such annotations are now a problem naming the file, line and what to do instead.
"""

from __future__ import annotations

from pathlib import Path

from imagebot.discover import scan

DOCS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  annotations:
    team: web
    imagebot.io/policy: "semver:^1"
    imagebot.io/tag-filter: "^1"
data:
  image: ghcr.io/org/app:1.0.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    imagebot.io/policy: "semver:^1"
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
  annotations: {team: web}
"""


def test_policy_annotation_on_a_configmap_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(DOCS)
    found = scan(tmp_path)
    assert [o.subject for o in found.occurrences] == ["Deployment/web container app"]
    (problem,) = found.problems
    assert str(problem.location) == "all.yaml:7"
    assert problem.subject == "ConfigMap/cm"
    assert "ConfigMap" in problem.message and "# imagebot:" in problem.message, problem.message


def test_a_marker_on_the_value_is_the_way_and_is_not_reported(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        "kind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  image: ghcr.io/org/app:1.0.0 # imagebot: semver:^1\n")
    found = scan(tmp_path)
    assert found.problems == () and len(found.occurrences) == 1
