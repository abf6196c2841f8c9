"""compat: Argo CD Image Updater and Keel configuration read as it is (opt-in with `compat:`).

Sources of the examples (found with the search tool):
- ARGO_MULTI: argoproj-labs/argocd-image-updater docs/configuration/images.md, "Multiple images in
  the same Helm chart" (fooalias/baralias, helm.image-name/image-tag foo.image/foo.tag); the
  Application around the annotations is ours, with the parameters Argo CD would hold.
- ARGO_LATEST: the same page, "Always deploy the latest build" (update-strategy latest, allow-tags
  regexp:^v1.0.0-[0-9a-zA-Z]+$); ignore-tags "latest, master" from docs/basics/update-strategies.md.
- ARGO_DEX: the same page, "Specifying Helm parameter names" (dex=quay.io/dexidp/dex).
- KEEL_WD: Keel's docs "Enabling automated updates" (keel.sh, examples; Deployment wd,
  karolisr/webhook-demo:0.0.8 with the labels keel.sh/policy: major, keel.sh/trigger: poll);
  policy semantics from keel-hq/keel internal/policy/{policy,semver,glob}.go.
"""

from __future__ import annotations

import re

import pytest

from imagebot.discover import scan_file
from imagebot.discover.compat import compat_source, glob_regex
from imagebot.discover.compat_argocd import parse_image_list
from imagebot.discover.compat_keel import translate
from imagebot.model import FieldKind

ARGO_MULTI = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: multi
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: fooalias=foo/bar, baralias=bar/foo
    argocd-image-updater.argoproj.io/fooalias.helm.image-name: foo.image
    argocd-image-updater.argoproj.io/fooalias.helm.image-tag: foo.tag
    argocd-image-updater.argoproj.io/baralias.helm.image-name: bar.image
    argocd-image-updater.argoproj.io/baralias.helm.image-tag: bar.tag
spec:
  project: default
  source:
    repoURL: https://charts.example.com
    chart: multi
    targetRevision: 1.0.0
    helm:
      parameters:
        - name: foo.image
          value: foo/bar
        - name: foo.tag
          value: "1.2.0"   # the tag Argo CD renders
      valuesObject:
        bar:
          image: bar/foo
          tag: 2.0.1
  destination:
    server: https://kubernetes.default.svc
    namespace: multi
"""

ARGO_LATEST = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: yourtool
  annotations:
    argocd-image-updater.argoproj.io/image-list: yourtool=yourorg/yourimage
    argocd-image-updater.argoproj.io/yourtool.update-strategy: latest
    argocd-image-updater.argoproj.io/yourtool.allow-tags: regexp:^v1.0.0-[0-9a-zA-Z]+$
    argocd-image-updater.argoproj.io/yourtool.ignore-tags: latest, master
spec:
  source:
    repoURL: https://github.com/yourorg/deploy
    path: yourtool
    kustomize:
      images:
        - yourorg/yourimage:v1.0.0-a5fb3d3
"""

ARGO_DEX = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: dex
  annotations:
    argocd-image-updater.argoproj.io/image-list: dex=quay.io/dexidp/dex
    argocd-image-updater.argoproj.io/dex.helm.image-name: dex.image.name
    argocd-image-updater.argoproj.io/dex.helm.image-tag: dex.image.tag
spec:
  source:
    chart: dex
    helm:
      parameters:
        - name: dex.image.name
          value: quay.io/dexidp/dex
"""

KEEL_WD = """\
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: 
  name: wd
  namespace: default
  labels: 
      name: "wd"
      keel.sh/policy: major
      keel.sh/trigger: poll      
  annotations:
      # keel.sh/pollSchedule: "@every 10m"
spec:
  replicas: 1
  template:
    metadata:
      name: wd
      labels:
        app: wd        
    spec:
      containers:                    
        - image: karolisr/webhook-demo:0.0.8
          imagePullPolicy: Always            
          name: wd
"""

BOTH = frozenset({"argocd-image-updater", "keel"})


def test_nothing_is_read_without_opting_in() -> None:
    for text in (ARGO_MULTI, KEEL_WD):
        found = scan_file("x.yaml", text.encode())
        assert not found.occurrences and not found.problems


def test_argocd_helm_parameters_and_values_object() -> None:
    found = scan_file("apps/multi.yaml", ARGO_MULTI.encode(), tools=BOTH)
    assert not found.problems, found.problems
    by_image = {o.image: o for o in found.occurrences}
    foo, bar = by_image["docker.io/foo/bar"], by_image["docker.io/bar/foo"]
    assert (foo.field, foo.value, foo.tag, foo.location.line) == (FieldKind.TAG, "1.2.0", "1.2.0", 23)
    assert foo.path == "spec.source.helm.parameters[1].value"
    assert (bar.field, bar.value, bar.path) == (FieldKind.TAG, "2.0.1", "spec.source.helm.valuesObject.bar.tag")
    assert foo.policy.policy == "semver:*"  # no constraint: the highest version (semver is the default)
    assert compat_source(foo.policy) == "compat:argocd-image-updater"
    assert "apps/multi.yaml:7 annotation argocd-image-updater.argoproj.io/image-list" in foo.policy.source


def test_argocd_latest_strategy_allow_and_ignore_tags_on_a_kustomize_image() -> None:
    found = scan_file("apps/yourtool.yaml", ARGO_LATEST.encode(), tools=BOTH)
    assert not found.problems
    (occ,) = found.occurrences
    assert (occ.field, occ.value, occ.tag) == (FieldKind.IMAGE, "yourorg/yourimage:v1.0.0-a5fb3d3", "v1.0.0-a5fb3d3")
    spec = occ.policy
    assert spec.policy == "newest-build"  # `latest` is the old name of newest-build
    assert spec.tag_filter == "^v1.0.0-[0-9a-zA-Z]+$"
    assert re.search(spec.exclude, "latest") and re.search(spec.exclude, "master") and not re.search(spec.exclude, "v1.0.0-ab")


def test_argocd_image_without_a_written_value_is_reported() -> None:
    found = scan_file("apps/dex.yaml", ARGO_DEX.encode(), tools=BOTH)
    assert not found.occurrences
    (p,) = found.problems
    assert p.kind == "compat" and "helm parameter 'dex.image.tag'" in p.message and p.location.line == 6


@pytest.mark.parametrize(("text", "expected"), [
    ("nginx", [("", "nginx", "")]),
    ("nginx:~1.26", [("", "nginx", "~1.26")]),
    ("dex=quay.io/dexidp/dex", [("dex", "quay.io/dexidp/dex", "")]),
    ("w=127.0.0.1:5000/org/w:stable, a=127.0.0.1:5000/org/a", [("w", "127.0.0.1:5000/org/w", "stable"), ("a", "127.0.0.1:5000/org/a", "")]),
    ("some/image:2.x-0", [("", "some/image", "2.x-0")]),
])
def test_image_list(text, expected) -> None:
    assert [(e.alias, e.image, e.constraint) for e in parse_image_list(text)] == expected


def test_keel_labels_as_in_keels_own_example() -> None:
    found = scan_file("wd.yaml", KEEL_WD.encode(), tools=BOTH)
    assert not found.problems
    (occ,) = found.occurrences
    assert (occ.image, occ.tag, occ.policy.policy) == ("docker.io/karolisr/webhook-demo", "0.0.8", "major")
    assert occ.subject == "Deployment/wd container wd"
    assert compat_source(occ.policy) == "compat:keel"


@pytest.mark.parametrize(("keel", "policy", "prerelease", "tag_filter"), [
    ("major", "major", False, None),
    ("minor", "minor", False, None),
    ("patch", "patch", False, None),
    ("all", "major", True, None),
    ("force", "digest", False, None),
    ("glob:build-*", "newest-build", False, "^build\\-.*$"),
    ("regexp:^v[0-9]+$", "newest-build", False, "^v[0-9]+$"),
])
def test_keel_policies(keel, policy, prerelease, tag_filter) -> None:
    spec = translate(keel, "w.yaml:3 keel.sh/policy")
    assert (spec.policy, spec.prerelease, spec.tag_filter) == (policy, prerelease, tag_filter)


def test_keel_never_and_unknown() -> None:
    assert translate("never", "x") is None
    assert "unknown Keel policy 'sometimes'" in translate("sometimes", "x")
    text = KEEL_WD.replace("keel.sh/policy: major", "keel.sh/policy: sometimes")
    (p,) = scan_file("wd.yaml", text.encode(), tools=BOTH).problems
    assert p.location.line == 9


def test_an_imagebot_annotation_wins_over_keel() -> None:
    text = KEEL_WD.replace("  annotations:\n", "  annotations:\n      imagebot.io/policy: patch\n")
    (occ,) = scan_file("wd.yaml", text.encode(), tools=BOTH).occurrences
    assert occ.policy.policy == "patch" and compat_source(occ.policy) is None


@pytest.mark.parametrize(("glob", "classes", "yes", "no"), [
    ("*", True, ["latest", "1.0"], []),
    ("master", True, ["master"], ["master2", "xmaster"]),
    ("v1.?", True, ["v1.2"], ["v1.22", "v1x2"]),
    ("sha-[0-9a-f]*", True, ["sha-0abc"], ["sha-xyz"]),
    ("build-*", False, ["build-1", "build-"], ["xbuild-1"]),
    ("v1.?", False, ["v1.?"], ["v1.2"]),
])
def test_globs(glob, classes, yes, no) -> None:
    rx = re.compile(glob_regex(glob, classes=classes))
    assert all(rx.search(t) for t in yes) and not any(rx.search(t) for t in no)


def test_inventory_names_the_compatibility_source(tmp_path) -> None:
    """`imagebot inventory` says a reference is governed through another tool's configuration."""
    from imagebot.discover import scan
    from imagebot.discover.inventory import entries

    (tmp_path / "wd.yaml").write_text(KEEL_WD)
    found = scan(tmp_path, compat_with=BOTH, everything=True)
    sources = {e.source for e in entries(found) if e.policy is not None}
    assert sources == {"compat:keel"}
