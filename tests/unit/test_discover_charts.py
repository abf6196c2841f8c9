"""discover.charts: chart versions in Flux OCIRepository / HelmRelease / HelmChart and Argo CD
Applications, what they name, and the problems a marker on one can meet."""

from __future__ import annotations

from pathlib import Path

from imagebot.config.schema import NamedPolicy
from imagebot.discover import charts, scan
from imagebot.discover.parsed import ParsedFile
from imagebot.discover.yamltree import compose
from imagebot.model import FieldKind, Location

M = "# imagebot: semver:*"

HELM_REPOSITORIES = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: jetstack
  namespace: flux-system
spec:
  url: https://charts.jetstack.io/
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: bjw-s
  namespace: flux-system
spec:
  type: oci
  url: oci://ghcr.io/bjw-s/helm
"""


def helmrelease(chart: str, version: str, source: str, namespace: str = "flux-system") -> str:
    return f"""\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {chart}
spec:
  chart:
    spec:
      chart: {chart}
      version: {version} {M}
      sourceRef:
        kind: HelmRepository
        name: {source}
        namespace: {namespace}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def by_file(root: Path, **kw):
    d = scan(root, **kw)
    return {o.location.file: o for o in d.occurrences}, d


def test_oci_repository_tag_and_its_digest_pin_are_one_chart(tmp_path: Path) -> None:
    write(tmp_path, {"ocirepository.yaml": f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: direwolf-operator
spec:
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
  ref:
    tag: "0.0.1-25011901255-SNAPSHOT" {M}
    digest: sha256:{"d" * 64}
  url: oci://ghcr.io/games-on-whales/charts/direwolf-operator
"""})
    d = scan(tmp_path)
    assert not d.problems
    tag, digest = sorted(d.occurrences, key=lambda o: o.location)
    assert (tag.field, digest.field) == (FieldKind.TAG, FieldKind.DIGEST)
    assert tag.kind == digest.kind == "chart"
    assert tag.image == digest.image == "ghcr.io/games-on-whales/charts/direwolf-operator"
    assert tag.tag == digest.tag == "0.0.1-25011901255-SNAPSHOT" and tag.digest == "sha256:" + "d" * 64
    assert tag.group == digest.group != ""
    assert tag.location == Location("ocirepository.yaml", 9, 10) and tag.subject == "OCIRepository/direwolf-operator chart"


def test_an_oci_repository_of_another_artifact_is_an_artifact_and_a_semver_range_is_left_alone(tmp_path: Path) -> None:
    write(tmp_path, {"flux.yaml": f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: flux-manifests
spec:
  ref:
    tag: v2.4.0 {M}
  url: oci://ghcr.io/fluxcd/flux-manifests
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: cert-manager
spec:
  ref:
    semver: "1.x" {M}
  url: oci://quay.io/jetstack/charts/cert-manager
"""})
    d = scan(tmp_path)
    (occ,) = d.occurrences
    assert (occ.kind, occ.image, occ.tag) == ("artifact", "ghcr.io/fluxcd/flux-manifests", "v2.4.0")
    (problem,) = d.problems  # a marker on a range is answered, the range never rewritten
    assert problem.location == Location("flux.yaml", 16, 13) and "'1.x' is not a pinned version" in problem.message


def test_an_oci_repository_a_helmrelease_takes_as_chartref_is_a_chart(tmp_path: Path) -> None:
    write(tmp_path, {"hr.yaml": f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: flux-instance
spec:
  ref:
    tag: 0.58.1 {M}
  url: oci://ghcr.io/controlplaneio-fluxcd/charts/flux-instance
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: flux-instance
spec:
  chartRef:
    kind: OCIRepository
    name: flux-instance
"""})
    (occ,) = scan(tmp_path).occurrences
    assert occ.kind == "chart"


def test_helmrelease_charts_resolve_through_helmrepository_objects_in_other_files(tmp_path: Path) -> None:
    write(tmp_path, {
        "repos/helm.yaml": HELM_REPOSITORIES,
        "apps/cert-manager.yaml": helmrelease("cert-manager", "v1.16.2", "jetstack"),
        "apps/bazarr.yaml": helmrelease("app-template", "3.6.0", "bjw-s"),
    })
    found, d = by_file(tmp_path)
    assert not d.problems
    http, oci = found["apps/cert-manager.yaml"], found["apps/bazarr.yaml"]
    assert (http.image, http.tag, http.field, http.kind) == ("https://charts.jetstack.io/cert-manager", "v1.16.2", FieldKind.TAG, "chart")
    assert (oci.image, oci.tag) == ("ghcr.io/bjw-s/helm/app-template", "3.6.0")
    assert http.subject == "HelmRelease/cert-manager chart cert-manager"


def test_a_helmrepository_that_is_nowhere_or_twice_is_a_problem_naming_it(tmp_path: Path) -> None:
    write(tmp_path, {
        "repos/helm.yaml": HELM_REPOSITORIES,
        "repos/again.yaml": HELM_REPOSITORIES.split("---")[0],
        "apps/a.yaml": helmrelease("cert-manager", "v1.16.2", "jetstack"),
        "apps/b.yaml": helmrelease("podinfo", "6.0.0", "podinfo", namespace="podinfo"),
    })
    d = scan(tmp_path)
    assert not d.occurrences
    messages = {p.location.file: p.message for p in d.problems if p.location}
    assert "defined more than once: repos/again.yaml:1, repos/helm.yaml:1" in messages["apps/a.yaml"]
    assert "HelmRepository podinfo/podinfo is not defined in the repository" in messages["apps/b.yaml"]


def test_helmchart_and_a_version_range_with_a_marker(tmp_path: Path) -> None:
    write(tmp_path, {"repos.yaml": HELM_REPOSITORIES, "chart.yaml": f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata:
  name: cert-manager
  namespace: flux-system
spec:
  chart: cert-manager
  version: ">=1.0.0" {M}
  sourceRef:
    kind: HelmRepository
    name: jetstack
"""})
    d = scan(tmp_path)
    assert not d.occurrences
    (problem,) = d.problems
    assert problem.location == Location("chart.yaml", 8, 12)
    assert "'>=1.0.0' is not a pinned version" in problem.message


def test_argo_cd_application_helm_sources(tmp_path: Path) -> None:
    write(tmp_path, {"app.yaml": f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: monitoring
spec:
  sources:
    - repoURL: https://prometheus-community.github.io/helm-charts
      chart: kube-prometheus-stack
      targetRevision: 67.5.0 {M}
    - repoURL: registry-1.docker.io/bitnamicharts
      chart: redis
      targetRevision: 20.1.0 {M}
    - repoURL: https://github.com/example/gitops.git
      path: values
      targetRevision: main
"""})
    d = scan(tmp_path)
    assert not d.problems
    assert [(o.image, o.tag, o.kind) for o in d.occurrences] == [
        ("https://prometheus-community.github.io/helm-charts/kube-prometheus-stack", "67.5.0", "chart"),
        ("docker.io/bitnamicharts/redis", "20.1.0", "chart"),
    ]
    # the inventory says where a policy comes from: an inline marker on a chart is a "marker", as on an image
    assert {(o.policy.policy, o.policy.origin) for o in d.occurrences} == {("semver:*", "marker")}


def test_a_named_marker_on_a_chart_version_takes_the_config_policy(tmp_path: Path) -> None:
    text = helmrelease("cert-manager", "v1.16.2", "jetstack").replace(M, '# {"$imagebot": "cert-manager"}')
    write(tmp_path, {"repos.yaml": HELM_REPOSITORIES, "hr.yaml": text})
    policies = {"cert-manager": NamedPolicy(image="https://charts.jetstack.io/cert-manager", policy="semver:~1.16")}
    (occ,) = scan(tmp_path, policies=policies).occurrences
    assert occ.policy.policy == "semver:~1.16" and occ.image == "https://charts.jetstack.io/cert-manager"
    assert occ.policy.origin == "policy"
    d = scan(tmp_path)
    assert "unknown policy 'cert-manager'" in d.problems[0].message


def test_references_lists_unmarked_charts_for_rules() -> None:
    text = helmrelease("cert-manager", "v1.16.2", "jetstack").replace(" " + M, "")
    pf = ParsedFile("hr.yaml", text, compose(text), {})
    (ref,) = charts.references(pf)
    assert (ref.kind, ref.version.value, ref.pinned) == ("chart", "v1.16.2", True)
    assert ref.image == charts.PENDING + "flux-system/jetstack/cert-manager"
    assert charts.find(pf, set()).occurrences == []  # no marker, no policy


def test_the_helmrepository_may_be_outside_the_scanned_paths_and_changes_are_seen(tmp_path: Path) -> None:
    write(tmp_path, {"infrastructure/repos.yaml": HELM_REPOSITORIES,
                     "apps/cert-manager.yaml": helmrelease("cert-manager", "v1.16.2", "jetstack")})
    (occ,) = scan(tmp_path, paths=["apps"]).occurrences
    assert occ.image == "https://charts.jetstack.io/cert-manager"
    write(tmp_path, {"infrastructure/repos.yaml": HELM_REPOSITORIES.replace("https://charts.jetstack.io/", "oci://quay.io/jetstack/charts")})
    (occ,) = scan(tmp_path, paths=["apps"]).occurrences
    assert occ.image == "quay.io/jetstack/charts/cert-manager"


def test_charts_without_a_version_or_a_source_are_listed_and_a_marker_on_them_is_answered(tmp_path: Path) -> None:
    """A HelmRelease without `version` (the source's newest is deployed) and a kustomize patch that
    sets only `version` (no chart, no sourceRef) are references too, never updated."""
    write(tmp_path, {
        "base/release.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n"
                             f"spec:\n  chart:\n    spec:\n      chart: podinfo {M}\n      sourceRef:\n"
                             "        kind: HelmRepository\n        name: podinfo\n",
        "production/patch.yaml": "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n"
                                 f"spec:\n  chart:\n    spec:\n      version: 6.5.0 {M}\n",
    })
    d = scan(tmp_path)
    assert not d.occurrences
    messages = {p.location.file: p.message for p in d.problems if p.location}
    assert "no version is written here" in messages["base/release.yaml"]
    assert "names no chart source (a kustomize patch?)" in messages["production/patch.yaml"]
    text = (tmp_path / "production/patch.yaml").read_text()
    (ref,) = charts.references(ParsedFile("patch.yaml", text, compose(text), {}))
    assert ref.pinned and not ref.updatable


def test_resolve_sources_keeps_unresolved_references_only_when_asked(tmp_path: Path) -> None:
    """For the inventory (references listed, not governed) an unresolvable chart stays listed."""
    text = helmrelease("podinfo", "6.0.0", "podinfo", namespace="podinfo")
    write(tmp_path, {"hr.yaml": text})
    found = charts.find(ParsedFile("hr.yaml", text, compose(text), {}), set()).occurrences
    kept, problems = charts.resolve_sources(tmp_path, found, lambda: ["hr.yaml"], keep_unresolved=True)
    assert kept == found and len(problems) == 1
    dropped, _ = charts.resolve_sources(tmp_path, found, lambda: ["hr.yaml"])
    assert dropped == []


def test_the_digest_pinned_beside_a_marked_chart_version_is_the_charts_alone(tmp_path: Path) -> None:
    """The chart reader claims every value it governs (Found.take), the digest beside the version
    too: a marker on the digest line is not read again as an image reference (two changes to one value)."""
    write(tmp_path, {"oci.yaml": f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: operator
spec:
  ref:
    tag: "0.0.1" {M}
    digest: sha256:{"d" * 64} # imagebot: digest
  url: oci://ghcr.io/org/charts/operator
"""})
    text = (tmp_path / "oci.yaml").read_text()
    found = charts.find(ParsedFile("oci.yaml", text, compose(text), {}), set())
    assert found.claimed == {(7, 10), (8, 13)}
    d = scan(tmp_path)
    assert not d.problems
    assert [(o.location.line, o.field, o.kind) for o in sorted(d.occurrences, key=lambda o: o.location)] == [
        (7, FieldKind.TAG, "artifact"), (8, FieldKind.DIGEST, "artifact")]
