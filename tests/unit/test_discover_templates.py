"""Helm templates: skipped; reported only when they carry an imagebot policy or marker."""

from __future__ import annotations

from pathlib import Path

from imagebot.discover import scan

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""


def test_a_chart_template_is_no_problem_even_when_every_file_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "charts" / "app" / "templates").mkdir(parents=True)
    (tmp_path / "charts" / "app" / "templates" / "deployment.yaml").write_text(TEMPLATE)
    for parse_all in (False, True):
        found = scan(tmp_path, parse_all=parse_all)
        assert found.problems == () and found.occurrences == ()


def test_a_template_with_a_policy_is_reported_where_the_image_is_templated(tmp_path: Path) -> None:
    text = TEMPLATE.replace("  name: {{ .Release.Name }}\n", "  name: {{ .Release.Name }}\n  annotations:\n    imagebot.io/policy: minor\n")
    (tmp_path / "t.yaml").write_text(text)
    (problem,) = scan(tmp_path).problems
    assert problem.kind == "template" and problem.location.file == "t.yaml" and problem.location.line == 12
