"""Config rules, Helm image maps found without markers, markers after other comments, and the
precedence marker > annotation > config policy > rule (> nothing: unmanaged, never changed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.config.load import load_text
from imagebot.discover import scan
from imagebot.discover.markers import InlineMarker, parse
from imagebot.errors import ConfigError
from imagebot.model import FieldKind


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def rules(text: str):
    return load_text("repository: {url: x}\nrules:\n" + text).rules


DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
{annotations}spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0{marker}
        - name: db
          image: docker.io/library/postgres:16.1
"""
VALUES = """controllers:
  main:
    containers:
      app:
        image:
          repository: ghcr.io/org/app
          tag: 1.0.0@sha256:cd63bbd0986c93e238eb8b9442604d249f0d4080099b389f822abe2062044417
redis:
  registry: docker.io
  repository: bitnami/redis
  tag: 7.2.4
  digest: ""
other:
  image: {name: quay.io/org/tool, tag: v2.1}
untagged:
  image:
    repository: mirror.gcr.io/coredns/coredns
"""


def test_no_rule_no_annotation_no_marker_nothing_is_governed(tmp_path: Path):
    root = write(tmp_path, {"apps/web.yaml": DEPLOY.format(annotations="", marker=""), "values.yaml": VALUES})
    found = scan(root, everything=True)
    assert found.occurrences == ()
    assert sorted((o.form, o.image) for o in found.unmanaged) == [
        ("container", "docker.io/library/postgres"), ("container", "ghcr.io/org/app"),
        ("image-map", "docker.io/bitnami/redis"), ("image-map", "ghcr.io/org/app"),
        ("image-map", "mirror.gcr.io/coredns/coredns"), ("image-map", "quay.io/org/tool"),
    ]
    assert scan(root).occurrences == () and scan(root).unmanaged == ()  # the default scan does not even look


def test_image_maps_are_paired_by_their_siblings(tmp_path: Path):
    root = write(tmp_path, {"values.yaml": VALUES})
    found = scan(root, rules=rules("  - policy: minor\n"))
    by = {(o.image, o.field): o for o in found.occurrences}
    app = by["ghcr.io/org/app", FieldKind.TAG]
    assert (app.location.line, app.form, app.policy.origin) == (7, "image-map", "rule")
    assert app.value == "1.0.0@sha256:cd63bbd0986c93e238eb8b9442604d249f0d4080099b389f822abe2062044417" and app.group
    assert app.tag.partition("@")[0] == "1.0.0"  # the pin inside the tag field: read by the policy stage (#12)
    redis = by["docker.io/bitnami/redis", FieldKind.TAG]
    assert (redis.location.line, redis.tag, redis.digest) == (11, "7.2.4", None)
    assert ("docker.io/bitnami/redis", FieldKind.DIGEST) not in by  # an empty digest field is not filled by `minor`
    assert by["quay.io/org/tool", FieldKind.TAG].value == "v2.1"
    assert not any(o.field is FieldKind.NAME for o in found.occurrences)  # the repository is never written
    # a map without a tag or digest is listed, never governed: a rule does not add a tag
    assert [(o.image, o.tag) for o in found.unmanaged] == [("mirror.gcr.io/coredns/coredns", None)]


def test_first_matching_rule_wins_and_ignore_stops(tmp_path: Path):
    root = write(tmp_path, {"apps/web.yaml": DEPLOY.format(annotations="", marker=""), "values.yaml": VALUES})
    found = scan(root, rules=rules(
        "  - match: {image: docker.io/library/postgres}\n    policy: ignore\n"
        "  - match: {image: 'ghcr.io/org/*', kind: container}\n    policy: 'semver:*'\n"
        "  - match: {path: 'values.yaml', image: '/^(ghcr|quay)\\.io//'}\n    policy: patch\n"
        "  - policy: major\n"
    ))
    got = {(o.location.file, o.image, o.field.value): (o.policy.policy, o.policy.source.split(" for ")[0]) for o in found.occurrences}
    assert got == {
        ("apps/web.yaml", "ghcr.io/org/app", "image"): ("semver:*", "config rule 2 (line 5)"),
        ("values.yaml", "ghcr.io/org/app", "tag"): ("patch", "config rule 3 (line 7)"),
        ("values.yaml", "quay.io/org/tool", "tag"): ("patch", "config rule 3 (line 7)"),
        ("values.yaml", "docker.io/bitnami/redis", "tag"): ("major", "config rule 4 (line 9)"),
    }
    assert "docker.io/library/postgres" in {o.image for o in found.unmanaged}


def test_rules_match_workload_namespace_and_container(tmp_path: Path):
    root = write(tmp_path, {"apps/web.yaml": DEPLOY.format(annotations="", marker="")})
    found = scan(root, rules=rules("  - match: {workload: 'Deployment/w*', namespace: shop, container: db}\n    policy: minor\n"))
    assert [(o.image, o.workload, o.namespace, o.container) for o in found.occurrences] == [
        ("docker.io/library/postgres", "Deployment/web", "shop", "db")]


def test_marker_wins_over_annotation_wins_over_rule(tmp_path: Path):
    annotations = "  annotations:\n    imagebot.io/policy: patch\n"
    root = write(tmp_path, {"apps/web.yaml": DEPLOY.format(annotations=annotations, marker=" # imagebot: semver:^1")})
    found = scan(root, rules=rules("  - policy: major\n"))
    got = {o.container: (o.policy.policy, o.policy.origin) for o in found.occurrences}
    assert got == {"app": ("semver:^1", "marker"), "db": ("patch", "annotation")}
    # without the annotation the rule governs db; the marker still governs app
    root2 = write(tmp_path / "b", {"apps/web.yaml": DEPLOY.format(annotations="", marker=" # imagebot: semver:^1")})
    got2 = {o.container or o.subject: (o.policy.policy, o.policy.origin) for o in scan(root2, rules=rules("  - policy: major\n")).occurrences}
    assert got2 == {"app": ("semver:^1", "marker"), "db": ("major", "rule")}


def test_a_marker_on_any_field_of_an_image_map_governs_the_map(tmp_path: Path):
    text = ("image:\n  repository: ghcr.io/atuinsh/atuin # imagebot: semver:*\n  tag: 18.19.0\n"
            "sidecar:\n  image:\n    repository: ghcr.io/org/side\n    tag: 1.0.0 # pinned by team X # imagebot: minor\n"
            "lonely:\n  image:\n    repository: ghcr.io/org/lonely # imagebot: minor\n")
    found = scan(write(tmp_path, {"values.yaml": text}), rules=rules("  - policy: major\n"))
    got = [(o.image, o.field, o.location.line, o.policy.policy, o.policy.origin) for o in found.occurrences]
    assert got == [("ghcr.io/atuinsh/atuin", FieldKind.TAG, 3, "semver:*", "marker"),
                   ("ghcr.io/org/side", FieldKind.TAG, 7, "minor", "marker")]
    # never a tag written into a repository field: the tag-less map's marker is refused with a hint
    (problem,) = found.problems
    assert problem.location.line == 10 and "no tag or digest" in problem.message and "add tag" in problem.message


def test_a_marker_on_a_repository_without_any_image_map_is_refused_with_a_hint(tmp_path: Path):
    found = scan(write(tmp_path, {"x.yaml": "source:\n  repository: ghcr.io/org/app # imagebot: minor\n  branch: main\n"}))
    (problem,) = found.problems
    assert found.occurrences == () and "`tag:`" in problem.message


@pytest.mark.parametrize("comment", [
    " pinned by team X # imagebot: semver:*",
    " renovate: datasource=docker depName=nginx # imagebot: semver:*",
])
def test_a_marker_after_another_comment_counts(tmp_path: Path, comment: str):
    assert parse(comment) == InlineMarker("semver:*", {})
    found = scan(write(tmp_path, {"x.yaml": f"image: nginx:1.0 #{comment}\n"}))
    assert [(o.value, o.policy.policy) for o in found.occurrences] == [("nginx:1.0", "semver:*")]


def test_bad_rule_patterns_and_policies_name_their_line():
    with pytest.raises(ConfigError) as err:
        rules("  - match: {image: '/[a/'}\n    policy: minor\n  - match: {kind: containers}\n    policy: minor\n"
              "  - policy: 'semver:>>1'\n")
    text = "\n".join(err.value.problems)
    assert "rules[0].match.image" in text and "(line 3)" in text
    assert "rules[1].match.kind" in text
    assert "rules[2].policy" in text and "(line 7)" in text


def test_validate_names_a_rule_that_matches_nothing_with_its_line(tmp_path: Path):
    from tests.support.cli import imagebot

    root = write(tmp_path / "repo", {"apps/web.yaml": DEPLOY.format(annotations="", marker="")})
    config = tmp_path / "imagebot.yaml"
    config.write_text(f"repository: {{url: {root}}}\nrules:\n"
                      "  - match: {image: 'ghcr.io/org/*'}\n    policy: minor\n"
                      "  - match: {image: 'quay.io/nothing/*'}\n    policy: minor\n")
    result = imagebot("validate", "-c", str(config), "--path", str(root), cwd=tmp_path)
    assert result.code == 1
    assert f"{config}:5: config rule 2 (line 5) matches no reference in the repository" in result.err
    assert "rule 1" not in result.err


def test_image_maps_in_argo_cd_value_objects_and_helmrelease_values(tmp_path: Path):
    argo = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web}
spec:
  sources:
    - repoURL: https://charts.example.com
      chart: web
      targetRevision: 1.2.3
      helm:
        valuesObject:
          image:
            repository: ghcr.io/org/web
            tag: 2.0.1
"""
    release = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app}
spec:
  values:
    controllers:
      app:
        containers:
          app:
            image: {repository: ghcr.io/org/app, tag: 1.4.0}
"""
    found = scan(write(tmp_path, {"argo.yaml": argo, "release.yaml": release}), rules=rules(
        "  - match: {kind: image-map}\n    policy: minor\n"))
    got = sorted((o.location.file, o.location.line, o.image, o.value) for o in found.occurrences)
    assert got == [("argo.yaml", 13, "ghcr.io/org/web", "2.0.1"), ("release.yaml", 10, "ghcr.io/org/app", "1.4.0")]


def test_with_rules_every_format_reads_a_file_once_and_precedence_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pass: each format runs once per file and lists what nothing governs as candidates
    beside what it governs; a candidate of an earlier format that a later one governs (a Keel
    annotation on a container the workload reader lists) or lists already is dropped."""
    import imagebot.discover as discover_pkg
    from imagebot.config.schema import Rule

    (tmp_path / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    keel.sh/policy: minor\n"
        "spec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: r.example/a:1.0.0\n"
        "        - name: b\n          image: r.example/b:1.0.0 # imagebot: semver:^1\n")
    calls: dict[str, int] = {}

    def counted(name, fmt):
        def run(pf, claimed):
            calls[name] = calls.get(name, 0) + 1
            return fmt(pf, claimed)
        return run

    monkeypatch.setattr(discover_pkg, "FORMATS", {n: counted(n, f) for n, f in discover_pkg.FORMATS.items()})
    d = scan(tmp_path, rules=[Rule.model_validate({"policy": "semver:*"})], compat_with=["keel"])
    assert calls and set(calls.values()) == {1}
    by_image = {o.image: o.policy for o in d.occurrences}
    assert by_image["r.example/b"].origin == "marker" and by_image["r.example/b"].policy == "semver:^1"
    assert "keel" in by_image["r.example/a"].source.lower() and not d.unmanaged
    assert len(d.occurrences) == 2
